"""The SeqGAN synthetic oracle benchmark (Yu et al. 2017, Table 1) as a protocol: every GAN run on the MLE curve.

1. Port the frozen oracle and check it (its NLL on its own samples is about 5.75 nats/token); sample
   train_size training, validation_size validation and test_size test sequences of length 20 from it.
2. Train one MLE generator (embedding 32, hidden 32) with the MLE schedule of ``preset`` (the paper's 120
   epochs): ``mle/mle`` is its end, ``mle/mle-best`` the epoch with the lowest NLL on the *validation*
   sequences (early stopping; never chosen on the test sequences or the oracle).
3. From ``mle/mle``, one adversarial run per variant (a GAN preset: ``dense-oracle``, ``oracle-2h``, ...) and seed,
   each its final checkpoint: no selection at all.
4. Sweep every model over temperatures: NLL-oracle (quality) against NLL-test (coverage), and entropy
   (lstmgen.gan.curve); place every GAN run on the MLE curve (delta NLL-test at matched NLL-oracle, T*, Caccia's
   min over T of NLL-oracle + NLL-test), mean ± sd over seeds; the discriminator's diagnostics (accuracy on
   held-out real sequences, rank correlation of its reward with the oracle's log-likelihood).

The phases are ``experiments.protocol``'s (resumable: finished runs and sweeps are read back, an interrupted run
goes on); this module gives it the oracle's data, its judge (NLL-oracle) and the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import ModelConfig
from ..evaluation.measures import mean_and_error
from ..gan.config import GAN_PRESETS, GanConfig, gan_preset
from ..gan.curve import TEMPERATURES, at_temperature, format_spread, plot_panels
from ..gan.oracle import load_oracle, oracle_tokenizer
from ..gan.sequences import sample_sequences, sequence_nll
from ..gan.trainer import new_generator
from ..model import RecurrentLanguageModel
from .arguments import add_common_arguments, common_changes, integers, preset_names
from .protocol import Clock, Pause, Protocol

PAPER_TABLE = {"random": 10.310, "mle": 9.038, "seqgan": 8.736}
# What the literature's SeqGAN figures on this benchmark are worth (docs/gan.md): the paper's 8.736 is probably the
# best of ~800 evaluations chosen on the oracle (best_score in the authors' MLE_SeqGAN/sequence_gan.py).
LITERATURE = {"paper MLE": 9.038, "paper SeqGAN (best of many evaluations, chosen on the oracle)": 8.736,
              "this code's log, best round of one seed (chosen on the oracle)": 8.68}


@dataclass(frozen=True)
class OracleBenchmarkConfig:
    oracle_path: str  # the oracle's weights, oracle_params.npz
    preset: str = "oracle-2h"  # the MLE schedule (pretrain_epochs, rates, batch); its adversarial part is not used
    variants: tuple[str, ...] = ("dense-oracle",)  # GAN presets, each run from the MLE generator for every seed
    seeds: tuple[int, ...] = (88, 89, 90)
    gan_overrides: dict[str, Any] = field(default_factory=dict)  # applied to the MLE schedule and every variant
    train_size: int = 10_000
    validation_size: int = 2_000
    test_size: int = 10_000
    embedding_size: int = 32
    hidden_size: int = 32
    eval_samples: int = 2_000  # samples per NLL-oracle estimate during training (monitoring only)
    eval_test_size: int = 2_000  # test sequences for NLL-test during training (monitoring only)
    temperatures: tuple[float, ...] = TEMPERATURES  # the MLE sweeps
    sweep_samples: int = 10_000
    gan_temperatures: tuple[float, ...] = (0.6, 0.8, 1.0, 1.2, 1.4)  # each GAN run's own sweep
    gan_sweep_samples: int = 5_000
    diagnostic_samples: int = 2_000
    seed: int = 1234  # of the data
    threads: int = 0

    def mle_config(self) -> GanConfig:
        return gan_preset(self.preset, **{**self.gan_overrides, "rounds": 0, "pretrain_d_steps": 0})

    def variant_config(self, variant: str, seed: int) -> GanConfig:
        return gan_preset(variant, **{**self.gan_overrides, "pretrain_epochs": 0, "seed": seed})


QUICK = dict(preset="quick", variants=("quick", "quick-dense"), seeds=(1, 2), train_size=1_000, validation_size=300,
             test_size=1_000, eval_samples=300, eval_test_size=300, temperatures=(0.8, 1.0, 1.25), sweep_samples=500,
             gan_temperatures=(0.8, 1.0, 1.25), gan_sweep_samples=300, diagnostic_samples=300)


def add_arguments(parser: argparse.ArgumentParser, oracle_default: str | None = None) -> None:
    add_common_arguments(parser, "runs/seqgan-oracle")
    parser.add_argument("--oracle", default=oracle_default, required=oracle_default is None, metavar="NPZ",
                        help="the oracle's weights (oracle_params.npz; see docs/gan.md)")
    parser.add_argument("--variants", type=preset_names, metavar="PRESET,...",
                        help=f"GAN presets to run from the MLE generator (default dense-oracle; known: {', '.join(GAN_PRESETS)})")
    parser.add_argument("--seeds", type=integers, metavar="S,...", help="seeds of every variant (default 88,89,90)")
    parser.add_argument("--resume", action="store_true", help="continue the protocol in --out where it stopped")


def from_arguments(args: argparse.Namespace) -> OracleBenchmarkConfig:
    changes = common_changes(args, QUICK)
    if args.variants:
        changes["variants"] = args.variants
    if args.seeds:
        changes["seeds"] = args.seeds
    return OracleBenchmarkConfig(oracle_path=args.oracle, **changes)


def measure(model: RecurrentLanguageModel, oracle: RecurrentLanguageModel, test: torch.Tensor, samples: int,
            start_token: int = 0, seed: int = 0, temperature: float = 1.0) -> dict[str, float]:
    """NLL-oracle (mean, s.e.) of ``samples`` sequences drawn at ``temperature``; NLL-test at that temperature."""
    generator = torch.Generator().manual_seed(seed)
    drawn = sample_sequences(model, samples, test.shape[1], start_token, temperature, generator)
    nll_oracle, error = mean_and_error(sequence_nll(oracle, drawn, start_token))
    nll_test = float(sequence_nll(model, test, start_token, temperature).mean())
    return {"nll_oracle": nll_oracle, "nll_oracle_se": error, "nll_test": nll_test}


def oracle_judge(oracle: RecurrentLanguageModel, start_token: int = 0):
    """The benchmark's quality measure for the curve: NLL-oracle (mean, s.e.) of the samples."""
    def judge(samples: torch.Tensor) -> dict[str, float]:
        mean, error = mean_and_error(sequence_nll(oracle, samples, start_token))
        return {"nll_oracle": mean, "nll_oracle_se": error}
    return judge


def _data(config: OracleBenchmarkConfig, oracle: RecurrentLanguageModel, out_dir: Path, resume: bool, log) -> dict[str, torch.Tensor]:
    path = out_dir / "oracle_data.npz"
    if resume and path.exists():
        with np.load(path) as saved:
            return {name: torch.from_numpy(saved[name]) for name in ("train", "validation", "test")}
    generator = torch.Generator().manual_seed(config.seed)
    data = {name: sample_sequences(oracle, size, 20, 0, 1.0, generator)
            for name, size in (("train", config.train_size), ("test", config.test_size), ("validation", config.validation_size))}
    np.savez_compressed(path, **{name: tensor.numpy() for name, tensor in data.items()})
    check = mean_and_error(sequence_nll(oracle, data["train"]))
    log(f"oracle NLL on its own {len(data['train']):,} samples: {check[0]:.4f} +- {check[1]:.4f} nats/token (expect ~5.75)")
    return data


def run_oracle_benchmark(config: OracleBenchmarkConfig, out_dir: str | Path, resume: bool = False,
                         log: Callable[[str], None] = print, progress: bool | None = None,
                         pause: Pause | None = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    oracle = load_oracle(config.oracle_path)
    data = clock.timed("data", lambda: _data(config, oracle, out_dir, resume, log))
    train, validation, test = data["train"], data["validation"], data["test"]
    monitor_test = test[: config.eval_test_size]

    def evaluate(model: RecurrentLanguageModel) -> dict[str, float]:  # during training: monitoring, and mle-best's choice
        return {**measure(model, oracle, monitor_test, config.eval_samples, 0, config.seed + 1),
                "nll_validation": float(sequence_nll(model, validation).mean())}

    def untrained() -> RecurrentLanguageModel:
        torch.manual_seed(config.seed)
        model = new_generator(oracle.config.vocab_size, config.embedding_size, config.hidden_size, config.mle_config())
        torch.save(model.state_dict(), out_dir / "untrained.pt")
        return model

    protocol = Protocol(
        out_dir=out_dir, train=train, validation=validation, test=test, tokenizer=oracle_tokenizer(oracle.config.vocab_size),
        untrained=untrained, mle_config=config.mle_config(),
        variants={variant: (lambda seed, v=variant: config.variant_config(v, seed)) for variant in config.variants},
        seeds=config.seeds, evaluate=evaluate, judge=oracle_judge(oracle), quality="nll_oracle", quality_nats="nll_oracle",
        judge_log_likelihood=lambda sequences: -sequence_nll(oracle, sequences) * sequences.shape[1],
        temperatures=config.temperatures, sweep_samples=config.sweep_samples, gan_temperatures=config.gan_temperatures,
        gan_sweep_samples=config.gan_sweep_samples, diagnostic_samples=config.diagnostic_samples, seed=config.seed,
        threads=config.threads, resume=resume, log=log, progress=progress, pause=pause, clock=clock)
    results = protocol.run()
    if results["status"] != "done":
        return results
    random_curve = clock.timed("sweep mle", lambda: protocol.sweep_of("random", lambda: _untrained(config, oracle, out_dir), (1.0,),
                                                                       config.sweep_samples))
    results["curves"] = {"random": random_curve, **results["curves"]}
    report = {
        **results,
        "settings": {**{k: v for k, v in dataclasses.asdict(config).items() if k != "gan_overrides"},
                     "gan_overrides": config.gan_overrides, "mle_gan": config.mle_config().to_dict(),
                     "variants_gan": {v: config.variant_config(v, config.seeds[0]).to_dict() for v in config.variants}},
        "paper_table": PAPER_TABLE,
        "literature": LITERATURE,
        "timings_seconds": clock.wall,
        "cpu_seconds": clock.cpu,
        "total_seconds": round(sum(clock.wall.values()), 1),
    }
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(markdown_report(report), encoding="utf-8")
    plot_oracle_curves(report, out_dir / "temperature_curves.png")
    return report


def _untrained(config: OracleBenchmarkConfig, oracle: RecurrentLanguageModel, out_dir: Path) -> RecurrentLanguageModel:
    model = RecurrentLanguageModel(ModelConfig(vocab_size=oracle.config.vocab_size, embedding_size=config.embedding_size,
                                               hidden_size=config.hidden_size))
    model.load_state_dict(torch.load(out_dir / "untrained.pt", weights_only=True))
    return model


def markdown_report(report: dict[str, Any]) -> str:
    """The tables of results.md: every model at T = 1, the sweeps, each variant's place on the MLE curves."""
    curves, gan_curves = report["curves"], report["gan_curves"]
    lines = ["| generator | NLL-oracle (mean ± s.e.) | NLL-test | entropy | paper NLL-oracle |", "| --- | --- | --- | --- | --- |"]
    for name, curve in curves.items():
        one = at_temperature(curve)
        paper = report["paper_table"].get(name)
        lines.append(f"| {name} | {one['nll_oracle']:.3f} ± {one['nll_oracle_se']:.3f} | {one['nll_test']:.3f} | "
                     f"{one['entropy']:.3f} | {paper if paper is not None else '—'} |")
    for variant, seeds in gan_curves.items():
        for seed, curve in seeds.items():
            one = at_temperature(curve)
            lines.append(f"| {variant} seed {seed} | {one['nll_oracle']:.3f} ± {one['nll_oracle_se']:.3f} | {one['nll_test']:.3f} | "
                         f"{one['entropy']:.3f} | — |")
    lines += ["", "NLL-oracle / NLL-test over temperature:", ""]
    named = {name: curve for name, curve in curves.items() if len(curve) > 1}
    named.update({f"{variant} seed {seed}": curve for variant, seeds in gan_curves.items() for seed, curve in seeds.items()})
    temperatures = sorted({p["temperature"] for curve in named.values() for p in curve})
    lines += ["| T | " + " | ".join(named) + " |", "| --- |" + " --- |" * len(named)]
    for t in temperatures:
        cells = []
        for curve in named.values():
            point = next((p for p in curve if abs(p["temperature"] - t) < 1e-9), None)
            cells.append(f"{point['nll_oracle']:.3f} / {point['nll_test']:.3f}" if point else "")
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += ["", "Each variant against each MLE curve (mean ± sd over seeds; delta > 0 = dominated by cooling):", "",
              "| variant | against | NLL-oracle at T=1 | NLL-test at T=1 | entropy | delta NLL-test at matched NLL-oracle | "
              "T* | Caccia min(NLL-oracle + NLL-test) | MLE's Caccia | verdict |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for variant, against in report["positions"].items():
        for reference, position in against.items():
            summary = position["summary"]
            lines.append(f"| {variant} | {reference} | {format_spread(summary['nll_oracle'])} | {format_spread(summary['nll_test'])} | "
                         f"{format_spread(summary['entropy'])} | {format_spread(summary['delta_nll_test'])} | "
                         f"{format_spread(summary['matched_temperature'], 2)} | {format_spread(summary['caccia'])} | "
                         f"{position['reference_caccia']['caccia']:.3f} (T={position['reference_caccia']['caccia_temperature']:g}) | "
                         f"{position['verdict']} |")
    if any(report["discriminator"].values()):
        lines += ["", "The final discriminators (accuracy on generated / training / held-out real sequences; Spearman of "
                  "P(real) with the oracle's log-likelihood over generated sequences):", "",
                  "| variant | seed | generated | training | held-out real | Spearman |", "| --- | --- | --- | --- | --- | --- |"]
        for variant, seeds in report["discriminator"].items():
            for seed, d in seeds.items():
                lines.append(f"| {variant} | {seed} | {d['accuracy_generated']:.3f} | {d['accuracy_training']:.3f} | "
                             f"{d['accuracy_held_out']:.3f} | {d['spearman_reward_vs_judge']:+.3f} |")
    lines += ["", "Literature figures (NLL-oracle at T = 1) and what they are worth: "
              + "; ".join(f"{name}: {value}" for name, value in report["literature"].items())]
    return "\n".join(lines) + "\n"


def plot_oracle_curves(report: dict[str, Any], path: Path) -> str | None:
    curves = {name: curve for name, curve in report["curves"].items() if len(curve) > 1}
    for variant, seeds in report["gan_curves"].items():
        curves.update({f"{variant} seed {seed}": curve for seed, curve in seeds.items()})
    return plot_panels([{"curves": curves, "x": "nll_oracle", "y": "nll_test",
                         "x_label": "NLL-oracle (nats/token; lower = samples more oracle-like)",
                         "y_label": "NLL-test (nats/token; lower = covers held-out data)"}],
                       str(path), "Oracle benchmark: every model swept over temperature (star = T 1)")
