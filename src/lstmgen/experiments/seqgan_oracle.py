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

Every phase is resumable (``resume=True``): finished runs and sweeps are read back, an interrupted run goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..config import ModelConfig
from ..gan.config import GAN_PRESETS, GanConfig, gan_preset
from ..gan.curve import TEMPERATURES, at_temperature, compare, format_spread, plot_panels, sweep
from ..gan.diagnostics import discriminator_diagnostics
from ..gan.oracle import load_oracle, oracle_tokenizer
from ..gan.sequences import sample_sequences, sequence_nll
from ..gan.trainer import SeqGANTrainer, new_generator
from ..metrics import mean_and_error
from ..model import RecurrentLanguageModel
from .arguments import add_common_arguments, common_changes, integers

PAPER_TABLE = {"random": 10.310, "mle": 9.038, "seqgan": 8.736}
# What the literature's SeqGAN figures on this benchmark are worth (docs/gan.md): the paper's 8.736 is probably the
# best of ~800 evaluations chosen on the oracle (best_score in the authors' MLE_SeqGAN/sequence_gan.py).
LITERATURE = {"paper MLE": 9.038, "paper SeqGAN (best of many evaluations, chosen on the oracle)": 8.736,
              "this code's log, best round of one seed (chosen on the oracle)": 8.68}
Pause = Callable[[str], None]  # called before each phase with its name (e.g. to wait while a machine is busy)


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
    parser.add_argument("--variants", type=_names, metavar="PRESET,...",
                        help=f"GAN presets to run from the MLE generator (default dense-oracle; known: {', '.join(GAN_PRESETS)})")
    parser.add_argument("--seeds", type=integers, metavar="S,...", help="seeds of every variant (default 88,89,90)")
    parser.add_argument("--resume", action="store_true", help="continue the protocol in --out where it stopped")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in GAN_PRESETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown GAN preset(s) {', '.join(unknown) or text!r}; known: {', '.join(GAN_PRESETS)}")
    return names


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


class _Clock:
    """Wall and CPU seconds per phase of the protocol."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def timed(self, name: str, work: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return work()
        finally:
            self.wall[name] = round(self.wall.get(name, 0.0) + time.perf_counter() - wall, 1)
            self.cpu[name] = round(self.cpu.get(name, 0.0) + time.process_time() - cpu, 1)


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


def _train(trainer_factory: Callable[[], SeqGANTrainer], run_dir: Path, resume: bool, resumed: Callable[[], SeqGANTrainer]):
    """Run (or go on with, or read back) one trainer run: returns (trainer or None, finished?)."""
    if resume and (run_dir / "last").exists():
        finished = load_checkpoint(run_dir, prefer="last").extra.get("phase") == "done"
        if finished:
            return None, True
        trainer = resumed()
    else:
        trainer = trainer_factory()
    return trainer, trainer.run().phase == "done"


def run_oracle_benchmark(config: OracleBenchmarkConfig, out_dir: str | Path, resume: bool = False,
                         log: Callable[[str], None] = print, progress: bool | None = None,
                         pause: Pause | None = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    wait = pause or (lambda phase: None)
    oracle = load_oracle(config.oracle_path)
    data = clock.timed("data", lambda: _data(config, oracle, out_dir, resume, log))
    train, validation, test = data["train"], data["validation"], data["test"]
    monitor_test = test[: config.eval_test_size]

    def evaluate(model: RecurrentLanguageModel) -> dict[str, float]:  # during training: monitoring, and mle-best's choice
        return {**measure(model, oracle, monitor_test, config.eval_samples, 0, config.seed + 1),
                "nll_validation": float(sequence_nll(model, validation).mean())}

    common = dict(evaluate=evaluate, log=log, progress=progress, threads=config.threads)
    mle_gan, mle_dir = config.mle_config(), out_dir / "mle"

    def new_mle() -> SeqGANTrainer:
        torch.manual_seed(config.seed)
        untrained = new_generator(oracle.config.vocab_size, config.embedding_size, config.hidden_size, mle_gan)
        torch.save(untrained.state_dict(), out_dir / "untrained.pt")
        return SeqGANTrainer(untrained, oracle_tokenizer(oracle.config.vocab_size), train, mle_gan, mle_dir, **common)

    wait("mle")
    _, finished = clock.timed("mle", lambda: _train(new_mle, mle_dir, resume,
                                                   lambda: SeqGANTrainer.resume(mle_dir, train, config=mle_gan, **common)))
    if not finished:
        return {"status": "interrupted", "phase": "mle", "timings_seconds": clock.wall}

    runs: dict[str, dict[int, Path]] = {}
    for variant in config.variants:
        for seed in config.seeds:
            gan, run_dir = config.variant_config(variant, seed), out_dir / variant / f"seed-{seed}"
            runs.setdefault(variant, {})[seed] = run_dir

            def new_run(gan=gan, run_dir=run_dir) -> SeqGANTrainer:
                start = load_checkpoint(mle_dir / "mle")
                return SeqGANTrainer(start.model, start.tokenizer, train, gan, run_dir, **common)

            wait(f"{variant} seed {seed}")
            trainer, finished = clock.timed(f"train {variant}", lambda: _train(
                new_run, run_dir, resume, lambda gan=gan, run_dir=run_dir: SeqGANTrainer.resume(run_dir, train, config=gan, **common)))
            if not finished:
                return {"status": "interrupted", "phase": f"{variant} seed {seed}", "timings_seconds": clock.wall}
            if trainer is not None and trainer.config.trains_discriminator:  # the final D, as the run ends
                generated = sample_sequences(trainer.generator, config.diagnostic_samples, 20, 0, 1.0, torch.Generator().manual_seed(seed))
                diagnostics = discriminator_diagnostics(trainer.discriminator, generated, train[: config.diagnostic_samples],
                                                        validation[: config.diagnostic_samples],
                                                        lambda s: -sequence_nll(oracle, s) * s.shape[1])
                (run_dir / "discriminator.json").write_text(json.dumps(diagnostics, indent=2) + "\n", encoding="utf-8")

    judge = oracle_judge(oracle)

    def swept(name: str, model_path: Path | None, temperatures, samples: int) -> list[dict[str, Any]]:
        path = out_dir / "sweeps" / f"{name}.json"
        if resume and path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        model = load_checkpoint(model_path).model if model_path is not None else _untrained(config, oracle, out_dir)
        curve = sweep(model, test, judge, temperatures, samples, config.seed + 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(curve, indent=2) + "\n", encoding="utf-8")
        return curve

    wait("sweeps")
    curves = clock.timed("sweep mle", lambda: {
        "random": swept("random", None, (1.0,), config.sweep_samples),
        "mle": swept("mle", mle_dir / "mle", config.temperatures, config.sweep_samples),
        "mle_early_stopped": swept("mle_early_stopped", mle_dir / "mle-best", config.temperatures, config.sweep_samples)})
    gan_curves = {variant: {seed: clock.timed(f"sweep {variant}", lambda v=variant, s=seed, p=path: swept(
        f"{v}-seed-{s}", p / "last", config.gan_temperatures, config.gan_sweep_samples)) for seed, path in seeds.items()}
        for variant, seeds in runs.items()}
    positions = {variant: {reference: compare(curves[reference], list(seeds.values()), "nll_oracle", "nll_oracle")
                           for reference in ("mle", "mle_early_stopped")}
                 for variant, seeds in gan_curves.items()}
    diagnostics = {variant: {seed: json.loads((path / "discriminator.json").read_text(encoding="utf-8"))
                             for seed, path in seeds.items() if (path / "discriminator.json").exists()}
                   for variant, seeds in runs.items()}
    mle_history = load_checkpoint(mle_dir / "mle").metrics
    best = min((r for r in mle_history if r.get("phase") == "mle" and "nll_validation" in r), key=lambda r: r["nll_validation"])
    report = {
        "status": "done",
        "settings": {**{k: v for k, v in dataclasses.asdict(config).items() if k != "gan_overrides"},
                     "mle_gan": mle_gan.to_dict(), "variants_gan": {v: config.variant_config(v, config.seeds[0]).to_dict()
                                                                     for v in config.variants}},
        "mle_early_stopped_epoch": best["unit"],
        "curves": curves,
        "gan_curves": gan_curves,
        "positions": positions,
        "discriminator": diagnostics,
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
