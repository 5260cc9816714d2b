"""The protocol every GAN benchmark here follows: MLE once, GAN variants x seeds from it, every model swept over
temperature, every GAN run placed on the MLE curves (lstmgen.gan.curve), the final discriminators diagnosed.

    OUT/mle/mle, OUT/mle/mle-best        the MLE generator at its end, and at its lowest NLL on the validation sequences
    OUT/VARIANT/seed-S/last              each GAN run's final generator (no selection)
    OUT/VARIANT/seed-S/discriminator.json   its final discriminator's diagnostics
    OUT/sweeps/NAME.json                 each model's temperature sweep

Every phase is resumable: finished runs and sweeps are read back, an interrupted run goes on. The oracle benchmark
and COCO give it their data, their judge (the quality measure of samples) and their reports.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint
from ..gan.config import GanConfig
from ..gan.curve import Judge, compare, sweep
from ..gan.diagnostics import LogLikelihood, discriminator_diagnostics
from ..gan.sequences import sample_sequences
from ..gan.trainer import Evaluation, SeqGANTrainer
from ..model import RecurrentLanguageModel
from ..system.run_directory import LAST
from ..tokenizers import Tokenizer

Pause = Callable[[str], None]  # called before each phase with its name (e.g. to wait while a machine is busy)


class Clock:
    """Wall and CPU seconds per phase."""

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


@dataclass
class Protocol:
    out_dir: Path
    train: torch.Tensor  # [N, T] real sequences: MLE's data and D's positives
    validation: torch.Tensor  # never trained on: mle-best's choice, D's held-out positives
    test: torch.Tensor  # only ever measured
    tokenizer: Tokenizer
    untrained: Callable[[], RecurrentLanguageModel]  # the MLE generator before training (seeded)
    mle_config: GanConfig
    variants: dict[str, Callable[[int], GanConfig]]  # variant name -> its GanConfig for a seed
    seeds: Sequence[int]
    evaluate: Evaluation  # during training (monitoring; its nll_validation chooses mle-best)
    judge: Judge  # the quality of samples, for the sweeps
    quality: str  # the judge's key the curve matches on (nll_oracle, bleu5)
    quality_nats: str  # the judge's key in nats for Caccia's scalar (nll_oracle, lm_score)
    judge_log_likelihood: LogLikelihood  # for the discriminator's rank correlation
    temperatures: Sequence[float]
    sweep_samples: int
    gan_temperatures: Sequence[float]
    gan_sweep_samples: int
    diagnostic_samples: int
    seed: int = 0
    start_token: int = 0
    threads: int = 0
    resume: bool = False
    log: Callable[[str], None] = print
    progress: bool | None = None
    pause: Pause | None = None
    clock: Clock = field(default_factory=Clock)

    @property
    def mle_dir(self) -> Path:
        return self.out_dir / "mle"

    def _common(self) -> dict[str, Any]:
        return dict(evaluate=self.evaluate, log=self.log, progress=self.progress, threads=self.threads)

    def _wait(self, phase: str) -> None:
        if self.pause is not None:
            self.pause(phase)

    def _run(self, run_dir: Path, config: GanConfig, start: Callable[[], RecurrentLanguageModel]) -> tuple[SeqGANTrainer | None, bool]:
        """Run (or go on with, or read back) one trainer run: (the trainer, or None when it had finished before; done?)."""
        if self.resume and (run_dir / LAST).exists():
            if load_checkpoint(run_dir, prefer=LAST).extra.get("phase") == "done":
                return None, True
            trainer = SeqGANTrainer.resume(run_dir, self.train, config=config, **self._common())
        else:
            trainer = SeqGANTrainer(start(), self.tokenizer, self.train, config, run_dir, **self._common())
        return trainer, trainer.run().phase == "done"

    def _diagnose(self, trainer: SeqGANTrainer, run_dir: Path, seed: int) -> None:
        generated = sample_sequences(trainer.generator, self.diagnostic_samples, self.test.shape[1], self.start_token, 1.0,
                                     torch.Generator().manual_seed(seed))
        diagnostics = discriminator_diagnostics(trainer.discriminator, generated, self.train[: self.diagnostic_samples],
                                                self.validation[: self.diagnostic_samples], self.judge_log_likelihood)
        (run_dir / "discriminator.json").write_text(json.dumps(diagnostics, indent=2) + "\n", encoding="utf-8")

    def sweep_of(self, name: str, model: Callable[[], RecurrentLanguageModel], temperatures, samples: int) -> list[dict[str, Any]]:
        path = self.out_dir / "sweeps" / f"{name}.json"
        if self.resume and path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        curve = sweep(model(), self.test, self.judge, temperatures, samples, self.seed + 3, self.start_token)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(curve, indent=2) + "\n", encoding="utf-8")
        return curve

    def run(self) -> dict[str, Any]:
        """Every phase in turn; {"status": "interrupted", ...} when one stopped, else the results."""
        self._wait("mle")
        _, finished = self.clock.timed("mle", lambda: self._run(self.mle_dir, self.mle_config, self.untrained))
        if not finished:
            return {"status": "interrupted", "phase": "mle", "timings_seconds": self.clock.wall}
        runs: dict[str, dict[int, Path]] = {}
        for variant, config_for in self.variants.items():
            for seed in self.seeds:
                run_dir = runs.setdefault(variant, {}).setdefault(seed, self.out_dir / variant / f"seed-{seed}")
                self._wait(f"{variant} seed {seed}")
                trainer, finished = self.clock.timed(f"train {variant}", lambda c=config_for(seed), d=run_dir: self._run(
                    d, c, lambda: load_checkpoint(self.mle_dir / "mle").model))
                if not finished:
                    return {"status": "interrupted", "phase": f"{variant} seed {seed}", "timings_seconds": self.clock.wall}
                config = config_for(seed)
                if config.trains_discriminator and not (run_dir / "discriminator.json").exists():
                    # A run read back as finished may have stopped before its diagnostics: its last/ holds the final D.
                    trainer = trainer or SeqGANTrainer.resume(run_dir, self.train, config=config, **self._common())
                    self.clock.timed("diagnostics", lambda t=trainer, d=run_dir, s=seed: self._diagnose(t, d, s))
        self._wait("sweeps")
        curves = self.clock.timed("sweep mle", lambda: {
            name: self.sweep_of(name, lambda n=name: load_checkpoint(self.mle_dir / n).model, self.temperatures, self.sweep_samples)
            for name in ("mle", "mle-best")})
        curves["mle_early_stopped"] = curves.pop("mle-best")
        gan_curves = {variant: {seed: self.clock.timed(f"sweep {variant}", lambda v=variant, s=seed, d=run_dir: self.sweep_of(
            f"{v}-seed-{s}", lambda: load_checkpoint(d, prefer=LAST).model, self.gan_temperatures, self.gan_sweep_samples))
            for seed, run_dir in seeds.items()} for variant, seeds in runs.items()}
        positions = {variant: {reference: compare(curves[reference], list(seeds.values()), self.quality, self.quality_nats)
                               for reference in ("mle", "mle_early_stopped")}
                     for variant, seeds in gan_curves.items()}
        diagnostics = {variant: {seed: json.loads((path / "discriminator.json").read_text(encoding="utf-8"))
                                 for seed, path in seeds.items() if (path / "discriminator.json").exists()}
                       for variant, seeds in runs.items()}
        history = load_checkpoint(self.mle_dir / "mle").metrics
        chosen = [r for r in history if r.get("phase") == "mle" and "nll_validation" in r]
        best = min(chosen, key=lambda r: r["nll_validation"])["unit"] if chosen else None
        return {"status": "done", "mle_early_stopped_epoch": best, "curves": curves, "gan_curves": gan_curves,
                "positions": positions, "discriminator": diagnostics, "timings_seconds": self.clock.wall,
                "cpu_seconds": self.clock.cpu}
