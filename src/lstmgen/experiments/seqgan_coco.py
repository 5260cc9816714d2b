"""Real text: word-level MLE and SeqGAN on the Image COCO captions of the Texygen benchmark, scored by BLEU.

Captions are split on white space, as the files come (lower-cased; a full stop stays on its word), and
padded with ``<eos>`` to a fixed length: every caption of at most ``max_words`` words is kept, longer
ones (0.6% at 20 words) are dropped from training. Id 0 (``<unk>``) is the start token, id 1 ``<eos>``;
a generated sequence is cut at its first ``<eos>``. BLEU-2..5 scores each generated caption against all
of test.txt, self-BLEU-2..5 each against the other generated captions (see bleu.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint
from ..gan.bleu import bleu, self_bleu
from ..gan.config import gan_preset
from ..gan.sequences import sample_sequences, sequence_nll
from ..gan.trainer import SeqGANTrainer, new_generator
from ..model import RecurrentLanguageModel
from ..tokenizers import WordTokenizer
from .arguments import add_common_arguments, common_changes

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
    preset: str = "oracle-2h"
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    max_words: int = 20
    embedding_size: int = 32  # Texygen's SeqGAN generator: 32 / 32 on every data set
    hidden_size: int = 32
    samples: int = 1000  # generated captions per BLEU / self-BLEU figure
    references: int | None = None  # None = all of test.txt
    mle_temperatures: tuple[float, ...] = (0.8, 1.0, 1.2)
    seed: int = 1234
    threads: int = 0


QUICK = dict(preset="quick", samples=100, references=1000, mle_temperatures=(1.0,),
             gan_overrides={"pretrain_epochs": 2, "rounds": 2, "eval_interval": 1})


def add_arguments(parser: argparse.ArgumentParser, data_default: str | None = None) -> None:
    add_common_arguments(parser, "runs/seqgan-coco")
    parser.add_argument("--data", default=data_default, required=data_default is None, metavar="DIR",
                        help="directory with train.txt and test.txt (one caption per line)")
    parser.add_argument("--samples", type=int, help="generated captions per BLEU figure")


def from_arguments(args: argparse.Namespace) -> CocoBenchmarkConfig:
    changes = common_changes(args, QUICK)
    if args.samples is not None:
        changes["samples"] = args.samples
    return CocoBenchmarkConfig(data_dir=args.data, **changes)


def run_coco_benchmark(config: CocoBenchmarkConfig, out_dir: str | Path, log: Callable[[str], None] = print,
                       progress: bool | None = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    data_dir = Path(config.data_dir)
    length = config.max_words + 1
    gan = gan_preset(config.preset, sequence_length=length, **config.gan_overrides)
    train_captions, test_captions = read_captions(data_dir / "train.txt"), read_captions(data_dir / "test.txt")
    references = test_captions[: config.references] if config.references else test_captions
    tokenizer = caption_tokenizer(train_captions)
    train = encode_captions(train_captions, tokenizer, length)
    test = encode_captions(test_captions, tokenizer, length)  # for NLL-test: test captions with known words only
    log(f"{len(train):,} training captions of <= {config.max_words} words, vocabulary {tokenizer.vocab_size:,}; "
        f"{len(test):,} test captions with known words; {len(references):,} BLEU references")

    def evaluate(model: RecurrentLanguageModel) -> dict[str, float]:
        return {"nll_test": float(sequence_nll(model, test, START).mean())}

    torch.manual_seed(config.seed)
    model = new_generator(tokenizer.vocab_size, config.embedding_size, config.hidden_size, gan)
    trainer = SeqGANTrainer(model, tokenizer, train, gan, out_dir / "run", evaluate=evaluate, log=log,
                            progress=progress, threads=config.threads)
    result = trainer.run()
    timings = {f"train_{k}": round(v, 1) for k, v in result.phase_seconds.items()}
    if result.phase != "done":
        return {"status": "interrupted", "phase": result.phase, "rows": [], "timings_seconds": timings}
    models = {"mle": load_checkpoint(out_dir / "run" / "mle").model, "seqgan": load_checkpoint(out_dir / "run" / "last").model}
    settings = [("mle", t) for t in config.mle_temperatures] + [("seqgan", 1.0)]
    rows, examples = [], {}
    started = time.perf_counter()
    for name, temperature in settings:
        generator = torch.Generator().manual_seed(config.seed + 7)
        drawn = sample_sequences(models[name], config.samples, length, START, temperature, generator)
        captions = decode_captions(drawn, tokenizer)
        rows.append({"generator": name, "temperature": temperature, "samples": len(captions),
                     "nll_test": float(sequence_nll(models[name], test, START, temperature).mean()),
                     **bleu(captions, references), **self_bleu(captions)})
        examples[f"{name}@{temperature}"] = [" ".join(c) for c in captions[:5]]
        log(json.dumps(rows[-1]))
    timings["bleu"] = round(time.perf_counter() - started, 1)
    report = {
        "status": "done",
        "training_cpu_seconds": {k: round(v, 1) for k, v in result.phase_cpu_seconds.items()},
        "settings": {**{k: v for k, v in dataclasses.asdict(config).items() if k != "gan_overrides"}, "gan": gan.to_dict()},
        "data": {"train_captions": len(train), "vocabulary": tokenizer.vocab_size, "references": len(references)},
        "rows": rows, "texygen": TEXYGEN, "examples": examples, "timings_seconds": timings,
    }
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
