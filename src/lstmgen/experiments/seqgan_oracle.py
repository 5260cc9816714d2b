"""The SeqGAN synthetic benchmark (Yu et al. 2017, Table 1), with the temperature curves that make it honest.

1. Port the frozen oracle and check the port: its NLL on its own samples (about 5.75 nats/token).
2. Sample train_size training and test_size held-out sequences of length 20 from the oracle.
3. Train one generator (embedding 32, hidden 32) through the SeqGAN schedule: the MLE generator is the
   checkpoint at the end of MLE pre-training (``mle/``), the early-stopped MLE generator the epoch with
   the best NLL-test (``mle-best/``), the SeqGAN generator the end of the adversarial rounds (``last/``).
4. Report for Random (the untrained generator), MLE, MLE early-stopped and SeqGAN: NLL-oracle (mean per-token
   NLL under the oracle of the generator's samples, mean +- standard error over sequences) and NLL-test
   (the generator's NLL on the held-out oracle samples), and both for a sweep of sampling temperatures.
5. Say where the SeqGAN point lies relative to the MLE curves: NLL-test of the curve, linearly
   interpolated at SeqGAN's NLL-oracle, minus SeqGAN's NLL-test (positive = SeqGAN below the curve).
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
from ..gan.config import GanConfig, gan_preset
from ..gan.oracle import load_oracle, oracle_tokenizer
from ..gan.sequences import sample_sequences, sequence_nll
from ..gan.trainer import SeqGANTrainer, new_generator
from ..metrics import mean_and_error
from ..model import RecurrentLanguageModel
from .arguments import add_common_arguments, common_changes

PAPER_TABLE = {"random": 10.310, "mle": 9.038, "seqgan": 8.736}


@dataclass(frozen=True)
class OracleBenchmarkConfig:
    oracle_path: str  # the oracle's weights, oracle_params.npz
    preset: str = "oracle-2h"
    gan_overrides: dict[str, Any] = field(default_factory=dict)
    train_size: int = 10_000
    test_size: int = 10_000
    embedding_size: int = 32
    hidden_size: int = 32
    eval_samples: int = 2_000  # samples per NLL-oracle estimate during training
    eval_test_size: int = 2_000  # held-out sequences for NLL-test during training (all of them for the reported figures)
    final_samples: int = 10_000  # samples per reported NLL-oracle
    temperatures: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35)  # down to where early-stopped MLE meets SeqGAN
    sweep_samples: int = 10_000
    seed: int = 1234
    threads: int = 0

    def gan_config(self) -> GanConfig:
        return gan_preset(self.preset, **self.gan_overrides)


QUICK = dict(preset="quick", train_size=1_000, test_size=1_000, eval_samples=300, eval_test_size=1_000, final_samples=1_000,
             temperatures=(0.8, 1.0, 1.25), sweep_samples=500)


def add_arguments(parser: argparse.ArgumentParser, oracle_default: str | None = None) -> None:
    add_common_arguments(parser, "runs/seqgan-oracle")
    parser.add_argument("--oracle", default=oracle_default, required=oracle_default is None, metavar="NPZ",
                        help="the oracle's weights (oracle_params.npz; see docs/gan.md)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")


def from_arguments(args: argparse.Namespace) -> OracleBenchmarkConfig:
    return OracleBenchmarkConfig(oracle_path=args.oracle, **common_changes(args, QUICK))


def _evaluation(oracle: RecurrentLanguageModel, test: torch.Tensor, samples: int, start_token: int, seed: int) -> Callable:
    def evaluate(model: RecurrentLanguageModel) -> dict[str, float]:
        return measure(model, oracle, test, samples, start_token, seed)
    return evaluate


def measure(model: RecurrentLanguageModel, oracle: RecurrentLanguageModel, test: torch.Tensor, samples: int,
            start_token: int = 0, seed: int = 0, temperature: float = 1.0) -> dict[str, float]:
    """NLL-oracle (mean, s.e.) of ``samples`` sequences drawn at ``temperature``; NLL-test at that temperature."""
    generator = torch.Generator().manual_seed(seed)
    drawn = sample_sequences(model, samples, test.shape[1], start_token, temperature, generator)
    nll_oracle, error = mean_and_error(sequence_nll(oracle, drawn, start_token))
    nll_test = float(sequence_nll(model, test, start_token, temperature).mean())
    return {"nll_oracle": nll_oracle, "nll_oracle_se": error, "nll_test": nll_test}


def curve_gap(curve: list[dict[str, float]], point: dict[str, float]) -> float | None:
    """Curve NLL-test interpolated at the point's NLL-oracle minus the point's NLL-test (> 0: point below the
    curve, i.e. better on both axes than any temperature of that model); None outside the curve's range."""
    xs = np.array([p["nll_oracle"] for p in curve])
    ys = np.array([p["nll_test"] for p in curve])
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    if not xs[0] <= point["nll_oracle"] <= xs[-1]:
        return None
    return float(np.interp(point["nll_oracle"], xs, ys) - point["nll_test"])


def run_oracle_benchmark(config: OracleBenchmarkConfig, out_dir: str | Path, resume: bool = False,
                         log: Callable[[str], None] = print, progress: bool | None = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gan = config.gan_config()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    oracle = load_oracle(config.oracle_path)
    data_path = out_dir / "oracle_data.npz"
    if resume and data_path.exists():
        with np.load(data_path) as saved:
            train, test = torch.from_numpy(saved["train"]), torch.from_numpy(saved["test"])
    else:
        generator = torch.Generator().manual_seed(config.seed)
        train = sample_sequences(oracle, config.train_size, gan.sequence_length, gan.start_token, 1.0, generator)
        test = sample_sequences(oracle, config.test_size, gan.sequence_length, gan.start_token, 1.0, generator)
        np.savez_compressed(data_path, train=train.numpy(), test=test.numpy())
    port_check = mean_and_error(sequence_nll(oracle, train, gan.start_token))
    log(f"oracle NLL on its own {len(train):,} samples: {port_check[0]:.4f} +- {port_check[1]:.4f} nats/token (expect ~5.75)")
    timings["data"] = time.perf_counter() - started

    evaluate = _evaluation(oracle, test[: config.eval_test_size], config.eval_samples, gan.start_token, config.seed + 1)
    run_dir = out_dir / "run"
    if resume and (run_dir / "last").exists():
        trainer = SeqGANTrainer.resume(run_dir, train, config=gan, evaluate=evaluate, log=log, progress=progress, threads=config.threads)
    else:
        torch.manual_seed(config.seed)
        untrained = new_generator(oracle.config.vocab_size, config.embedding_size, config.hidden_size, gan)
        trainer = SeqGANTrainer(untrained, oracle_tokenizer(oracle.config.vocab_size), train, gan, run_dir,
                                evaluate=evaluate, log=log, progress=progress, threads=config.threads)
        torch.save(untrained.state_dict(), out_dir / "untrained.pt")
    result = trainer.run()
    timings.update({f"train_{phase}": seconds for phase, seconds in result.phase_seconds.items()})
    cpu_timings = {f"train_{phase}": round(seconds, 1) for phase, seconds in result.phase_cpu_seconds.items()}
    if result.phase != "done":
        return {"status": "interrupted", "phase": result.phase, "timings": timings}

    started = time.perf_counter()
    random_model = RecurrentLanguageModel(ModelConfig(vocab_size=oracle.config.vocab_size, embedding_size=config.embedding_size,
                                                      hidden_size=config.hidden_size))
    random_model.load_state_dict(torch.load(out_dir / "untrained.pt", weights_only=True))
    models = {
        "random": random_model,
        "mle": load_checkpoint(run_dir / "mle").model,
        "mle_early_stopped": load_checkpoint(run_dir / "mle-best").model,
        "seqgan": load_checkpoint(run_dir / "last").model,
    }
    table = {name: measure(model, oracle, test, config.final_samples, gan.start_token, config.seed + 2)
             for name, model in models.items()}
    timings["final_table"] = time.perf_counter() - started
    started = time.perf_counter()
    curves = {name: [{"temperature": t, **measure(models[name], oracle, test, config.sweep_samples, gan.start_token,
                                                 config.seed + 3, t)} for t in config.temperatures]
              for name in ("mle", "mle_early_stopped", "seqgan")}
    timings["temperature_sweep"] = time.perf_counter() - started
    position = {f"vs_{name}_curve": curve_gap(curves[name], table["seqgan"]) for name in ("mle", "mle_early_stopped")}
    best_epoch = min((r for r in result.history if r["phase"] == "mle" and "nll_test" in r), key=lambda r: r["nll_test"])
    report = {
        "status": "done",
        "settings": {**{k: v for k, v in dataclasses.asdict(config).items() if k != "gan_overrides"},
                     "gan": gan.to_dict()},
        "oracle_self_nll": {"mean": port_check[0], "se": port_check[1], "samples": len(train)},
        "table": table,
        "paper_table": PAPER_TABLE,
        "mle_early_stopped_epoch": best_epoch["unit"],
        "curves": curves,
        "seqgan_position": position,
        "timings_seconds": {k: round(v, 1) for k, v in timings.items()},
        "total_seconds": round(sum(timings.values()), 1),
        "training_cpu_seconds": cpu_timings,
    }
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(markdown_report(report), encoding="utf-8")
    plot_curves(report, out_dir / "temperature_curves.png")
    return report


def describe_position(gap: float | None, curve: str) -> str:
    if gap is None:
        return f"SeqGAN's NLL-oracle lies outside the range of the {curve} temperature curve"
    side = "below (better than)" if gap > 0 else "above (worse than)"
    return f"SeqGAN lies {side} the {curve} temperature curve by {abs(gap):.3f} nats of NLL-test at equal NLL-oracle"


def markdown_report(report: dict[str, Any]) -> str:
    lines = ["| generator | NLL-oracle (mean ± s.e.) | NLL-test | paper NLL-oracle |", "| --- | --- | --- | --- |"]
    for name, row in report["table"].items():
        paper = report["paper_table"].get(name)
        lines.append(f"| {name} | {row['nll_oracle']:.3f} ± {row['nll_oracle_se']:.3f} | {row['nll_test']:.3f} | "
                     f"{paper if paper is not None else '—'} |")
    lines += ["", "| temperature | " + " | ".join(f"{n} NLL-oracle | {n} NLL-test" for n in report["curves"]) + " |",
              "| --- |" + " --- | --- |" * len(report["curves"])]
    temperatures = [p["temperature"] for p in next(iter(report["curves"].values()))]
    for i, t in enumerate(temperatures):
        cells = " | ".join(f"{c[i]['nll_oracle']:.3f} | {c[i]['nll_test']:.3f}" for c in report["curves"].values())
        lines.append(f"| {t} | {cells} |")
    lines += ["", *(f"- {describe_position(gap, name.removeprefix('vs_').removesuffix('_curve').replace('_', ' '))}"
                    for name, gap in report["seqgan_position"].items())]
    return "\n".join(lines) + "\n"


def plot_curves(report: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    for name, curve in report["curves"].items():
        xs, ys = [p["nll_oracle"] for p in curve], [p["nll_test"] for p in curve]
        axes.plot(xs, ys, marker="o", label=f"{name} (temperature sweep)")
        for p in curve:
            axes.annotate(f"{p['temperature']:g}", (p["nll_oracle"], p["nll_test"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for name, marker in (("mle", "s"), ("seqgan", "*")):
        row = report["table"][name]
        axes.scatter([row["nll_oracle"]], [row["nll_test"]], marker=marker, s=120, zorder=5, label=f"{name} at T=1")
    axes.set_xlabel("NLL-oracle (nats/token, lower = samples more oracle-like)")
    axes.set_ylabel("NLL-test (nats/token, lower = covers held-out data)")
    axes.set_title("SeqGAN oracle benchmark: temperature curves")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
