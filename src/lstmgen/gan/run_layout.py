"""A ``gan train`` run directory: the names of what it holds, beside those of any run (``system.run_directory``).

    RUN/
      data.npz         the corpus cut into the GAN's windows (train and validation), written first
      gan_run.json     the seeds, the preset and what the run started from
      mle/             the starting model as the first seed saw it (after MLE pre-training, where the preset has it)
      last/            the first seed's generator (so ``lstmgen generate RUN`` loads it), resumable
      seeds/N/last/    every other seed's generator
      report.json, report.md, curves.png    ``lstmgen gan report``
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from ..system.run_directory import LAST

DATA_FILE = "data.npz"
RUN_FILE = "gan_run.json"
MLE = "mle"
SEEDS = "seeds"
REPORT_FILES = ("report.json", "report.md", "curves.png")


def seed_run_directory(out_dir: Path, seeds: Sequence[int], seed: int) -> Path:
    """The first seed's run is the run directory itself (so ``lstmgen generate RUN`` loads it); the others are below."""
    return out_dir if seed == seeds[0] else out_dir / SEEDS / str(seed)


def run_directories(out_dir: str | os.PathLike) -> list[Path]:
    """Every seed's run directory of a ``gan train`` run, the first first."""
    out_dir = Path(out_dir)
    others = sorted((p for p in (out_dir / SEEDS).glob("*") if (p / LAST).exists()), key=lambda p: int(p.name)) \
        if (out_dir / SEEDS).exists() else []
    return [out_dir, *others]


def holds_gan_run(out_dir: Path) -> bool:
    return any((out_dir / name).exists() for name in (LAST, MLE, DATA_FILE))


def clear_gan_run(out_dir: Path) -> None:
    """Remove what a ``gan train`` run wrote in ``out_dir``, for --overwrite."""
    for name in (LAST, MLE, SEEDS):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in (DATA_FILE, RUN_FILE, *REPORT_FILES):
        (out_dir / name).unlink(missing_ok=True)
