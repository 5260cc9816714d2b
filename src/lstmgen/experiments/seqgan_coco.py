"""Real text: word-level MLE and SeqGAN on the Image COCO captions of the Texygen benchmark, scored by BLEU.

Captions are split on white space, as the files come (lower-cased; a full stop stays on its word), and
padded with ``<eos>`` to a fixed length: every caption of at most ``max_words`` words is kept, longer
ones (0.6% at 20 words) are dropped from training. Id 0 (``<unk>``) is the start token, id 1 ``<eos>``;
a generated sequence is cut at its first ``<eos>``. BLEU-2 and BLEU-5 score each generated caption against all
of test.txt, self-BLEU-2 and -5 each against the other generated captions (see bleu.py). The runs follow
``experiments.protocol``: MLE once (the last ``validation_captions`` of train.txt held out to choose mle-best),
the GAN variants x seeds from it, every model swept over temperature and placed on the MLE curve at matched BLEU-5.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint
from ..evaluation.bleu import bleu, self_bleu
from ..gan.config import GanConfig, gan_preset
from ..gan.curve import TEMPERATURES, format_spread, plot_panels
from ..gan.language_scores import lm_score
from ..gan.sequences import sample_sequences, sequence_nll
from ..gan.trainer import new_generator
from ..model import RecurrentLanguageModel
from ..system.run_directory import LAST
from ..tokenizers import WordTokenizer
from .arguments import add_common_arguments, common_changes, integers, preset_names
from .protocol import Pause, Protocol

START, EOS = 0, 1
TEXYGEN = {
    "mle": {"bleu2": .731, "bleu3": .497, "bleu4": .305, "bleu5": .189,
            "self_bleu2": .916, "self_bleu3": .769, "self_bleu4": .583, "self_bleu5": .408},
    "seqgan": {"bleu2": .745, "bleu3": .498, "bleu4": .294, "bleu5": .180,
               "self_bleu2": .950, "self_bleu3": .840, "self_bleu4": .670, "self_bleu5": .489},
}


def read_captions(path: str | Path) -> list[list[str]]:
    return [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def caption_tokenizer(captions: Sequence[Sequence[str]]) -> WordTokenizer:
    counts = Counter(word for caption in captions for word in caption)
    return WordTokenizer(["<eos>"] + sorted(counts, key=lambda w: (-counts[w], w)))


def encode_captions(captions: Sequence[Sequence[str]], tokenizer: WordTokenizer, length: int) -> torch.Tensor:
    """Captions of at most length - 1 words with only known words -> [N, length], <eos>-padded."""
    index = {word: i + 1 for i, word in enumerate(tokenizer.words)}
    rows = [[index[w] for w in caption] for caption in captions
            if len(caption) < length and all(w in index for w in caption)]
    encoded = torch.full((len(rows), length), EOS, dtype=torch.long)
    for row, ids in enumerate(rows):
        encoded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return encoded


def decode_captions(sequences: torch.Tensor, tokenizer: WordTokenizer) -> list[list[str]]:
    captions = []
    for row in sequences.tolist():
        words = []
        for token in row:
            if token == EOS:
                break
            words.append(tokenizer.token_text(token))
        captions.append(words)
    return captions


@dataclass(frozen=True)
class CocoBenchmarkConfig:
    data_dir: str  # holds train.txt and test.txt
    preset: str = "oracle-2h"  # the MLE schedule (Texygen's generator: MLE at Adam 0.01, batch 64)
    variants: tuple[str, ...] = ("oracle-2h",)  # GAN presets run from the MLE generator for every seed
    seeds: tuple[int, ...] = (88, 89, 90)
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    max_words: int = 20
    embedding_size: int = 32  # Texygen's SeqGAN generator: 32 / 32 on every data set
    hidden_size: int = 32
    validation_captions: int = 500  # the last of train.txt, held out from training: mle-best's choice, D's unseen real
    samples: int = 1000  # generated captions per BLEU / self-BLEU figure
    references: int | None = None  # None = all of test.txt
    temperatures: tuple[float, ...] = TEMPERATURES
    gan_temperatures: tuple[float, ...] = (0.6, 0.8, 1.0, 1.2, 1.4)
    diagnostic_samples: int = 1000
    seed: int = 1234
    threads: int = 0

    def mle_config(self, length: int) -> GanConfig:
        return gan_preset(self.preset, **{**self.gan_overrides, "sequence_length": length, "rounds": 0, "pretrain_d_steps": 0})

    def variant_config(self, variant: str, seed: int, length: int) -> GanConfig:
        return gan_preset(variant, **{**self.gan_overrides, "sequence_length": length, "pretrain_epochs": 0, "seed": seed})


QUICK = dict(preset="quick", variants=("quick", "quick-dense"), seeds=(1, 2), samples=60, references=500, temperatures=(0.8, 1.0),
             gan_temperatures=(1.0,), diagnostic_samples=100, validation_captions=200,
             gan_overrides={"pretrain_epochs": 2, "rounds": 2, "eval_interval": 1})


def add_arguments(parser: argparse.ArgumentParser, data_default: str | None = None) -> None:
    add_common_arguments(parser, "runs/seqgan-coco")
    parser.add_argument("--data", default=data_default, required=data_default is None, metavar="DIR",
                        help="directory with train.txt and test.txt (one caption per line)")
    parser.add_argument("--samples", type=int, help="generated captions per BLEU figure")
    parser.add_argument("--variants", type=preset_names, metavar="PRESET,...", help="GAN presets (default oracle-2h: SeqGAN)")
    parser.add_argument("--seeds", type=integers, metavar="S,...", help="seeds of every variant (default 88,89,90)")
    parser.add_argument("--resume", action="store_true", help="continue the protocol in --out where it stopped")


def from_arguments(args: argparse.Namespace) -> CocoBenchmarkConfig:
    changes = common_changes(args, QUICK)
    for name in ("samples", "variants", "seeds"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    return CocoBenchmarkConfig(data_dir=args.data, **changes)


def caption_judge(tokenizer: WordTokenizer, references: Sequence[Sequence[str]], judge_model: Callable[[], RecurrentLanguageModel]):
    """BLEU-5 against the references, self-BLEU-5, and the MLE model's LM score of the samples (cut at <eos> for BLEU)."""
    from ..evaluation.bleu import ReferenceIndex

    index = ReferenceIndex(references, 5)

    def judge(samples: torch.Tensor) -> dict[str, float]:
        captions = decode_captions(samples, tokenizer)
        return {**bleu(captions, references, (2, 5), index), **self_bleu(captions, (2, 5)),
                "lm_score": lm_score(judge_model(), samples, START)}
    return judge


def run_coco_benchmark(config: CocoBenchmarkConfig, out_dir: str | Path, resume: bool = False, log: Callable[[str], None] = print,
                       progress: bool | None = None, pause: Pause | None = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(config.data_dir)
    length = config.max_words + 1
    train_captions, test_captions = read_captions(data_dir / "train.txt"), read_captions(data_dir / "test.txt")
    if config.validation_captions >= len(train_captions):
        raise ValueError(f"validation_captions ({config.validation_captions}) must leave training captions (of {len(train_captions)})")
    train_captions, validation_captions = (train_captions[: len(train_captions) - config.validation_captions],
                                           train_captions[len(train_captions) - config.validation_captions :])
    references = test_captions[: config.references] if config.references else test_captions
    tokenizer = caption_tokenizer(train_captions)
    train, validation = encode_captions(train_captions, tokenizer, length), encode_captions(validation_captions, tokenizer, length)
    test = encode_captions(test_captions, tokenizer, length)  # for NLL-test: test captions with known words only
    log(f"{len(train):,} training captions of <= {config.max_words} words, vocabulary {tokenizer.vocab_size:,}; "
        f"{len(validation):,} validation and {len(test):,} test captions with known words; {len(references):,} BLEU references")

    def evaluate(model: RecurrentLanguageModel) -> dict[str, float]:
        return {"nll_validation": float(sequence_nll(model, validation, START).mean())}

    def untrained() -> RecurrentLanguageModel:
        torch.manual_seed(config.seed)
        return new_generator(tokenizer.vocab_size, config.embedding_size, config.hidden_size, config.mle_config(length))

    mle_model: list[RecurrentLanguageModel] = []  # loaded once the MLE run exists: the LM score's judge

    def judge_model() -> RecurrentLanguageModel:
        if not mle_model:
            mle_model.append(load_checkpoint(out_dir / "mle" / "mle").model)
        return mle_model[0]

    protocol = Protocol(
        out_dir=out_dir, train=train, validation=validation, test=test, tokenizer=tokenizer, untrained=untrained,
        mle_config=config.mle_config(length),
        variants={variant: (lambda seed, v=variant: config.variant_config(v, seed, length)) for variant in config.variants},
        seeds=config.seeds, evaluate=evaluate, judge=caption_judge(tokenizer, references, judge_model), quality="bleu5",
        quality_nats="lm_score", judge_log_likelihood=lambda s: -sequence_nll(judge_model(), s, START) * s.shape[1],
        temperatures=config.temperatures, sweep_samples=config.samples, gan_temperatures=config.gan_temperatures,
        gan_sweep_samples=config.samples, diagnostic_samples=config.diagnostic_samples, seed=config.seed, start_token=START,
        threads=config.threads, resume=resume, log=log, progress=progress, pause=pause)
    results = protocol.run()
    if results["status"] != "done":
        return results
    examples = {name: [" ".join(c) for c in decode_captions(
        sample_sequences(load_checkpoint(path).model, 5, length, START, 1.0, torch.Generator().manual_seed(config.seed + 7)), tokenizer)]
        for name, path in (("mle", out_dir / "mle" / "mle"),
                           *((f"{v} seed {config.seeds[0]}", out_dir / v / f"seed-{config.seeds[0]}" / LAST) for v in config.variants))}
    report = {
        **results,
        "settings": {**{k: v for k, v in dataclasses.asdict(config).items() if k != "gan_overrides"}, "gan_overrides": config.gan_overrides},
        "data": {"train_captions": len(train), "validation_captions": len(validation), "vocabulary": tokenizer.vocab_size,
                 "references": len(references)},
        "texygen": TEXYGEN, "examples": examples,
    }
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(markdown_report(report), encoding="utf-8")
    curves = {**{n: c for n, c in results["curves"].items()},
              **{f"{v} seed {s}": c for v, seeds in results["gan_curves"].items() for s, c in seeds.items()}}
    plot_panels([{"curves": curves, "x": "bleu5", "y": "nll_test", "x_label": "BLEU-5 against test.txt (higher = better)",
                  "y_label": "NLL-test (nats/token)"},
                 {"curves": curves, "x": "bleu5", "y": "self_bleu5", "x_label": "BLEU-5 against test.txt",
                  "y_label": "self-BLEU-5 (lower = more diverse)"}], str(out_dir / "temperature_curves.png"), "COCO captions")
    return report


def markdown_report(report: dict[str, Any]) -> str:
    curves = {**report["curves"], **{f"{v} seed {s}": c for v, seeds in report["gan_curves"].items() for s, c in seeds.items()}}
    lines = ["| generator | T | NLL-test | entropy | BLEU-2 | BLEU-5 | self-BLEU-2 | self-BLEU-5 | LM score |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, curve in curves.items():
        for p in curve:
            lines.append(f"| {name} | {p['temperature']:g} | {p['nll_test']:.3f} | {p['entropy']:.3f} | {p['bleu2']:.3f} | "
                         f"{p['bleu5']:.3f} | {p['self_bleu2']:.3f} | {p['self_bleu5']:.3f} | {p['lm_score']:.3f} |")
    lines += ["", "| variant | against | BLEU-5 at T=1 | delta NLL-test at matched BLEU-5 | T* | Caccia min(LM score + NLL-test) | verdict |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for variant, against in report["positions"].items():
        for reference, position in against.items():
            summary = position["summary"]
            lines.append(f"| {variant} | {reference} | {format_spread(summary['bleu5'])} | {format_spread(summary['delta_nll_test'])} | "
                         f"{format_spread(summary['matched_temperature'], 2)} | {format_spread(summary['caccia'])} | {position['verdict']} |")
    return "\n".join(lines) + "\n"
