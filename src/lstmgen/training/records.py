"""A run's records: ``metrics.jsonl`` (one JSON line per evaluation, the record of truth), its TensorBoard
mirror (``--tensorboard DIR``; the ``tensorboard`` extra) and the loss-curve plot (``loss.png``; the ``plots``
extra: without matplotlib no plot is drawn).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..config import ConfigError
from ..system.run_directory import METRICS


def append_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Add one evaluation's record to the run's ``metrics.jsonl``."""
    with open(Path(run_dir) / METRICS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


class TensorBoardMirror:
    """The same numbers as ``metrics.jsonl``, every evaluation, as TensorBoard scalars (``tensorboard --logdir DIR``)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'lstmgen[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(directory))

    def record(self, record: dict[str, Any]) -> None:
        """Every number of an evaluation record, at its step."""
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def plot_loss_curve(history: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Draw training and validation loss (nats/token) against steps into a PNG; None without matplotlib or records.
    Records without a step and a training loss (none that lstmgen train writes) are left out."""
    history = [r for r in history if isinstance(r.get("step"), int) and isinstance(r.get("train_loss"), (int, float))]
    if not history:
        return None
    try:
        import matplotlib
    except ImportError:  # matplotlib is an optional extra
        return None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(steps, [r["train_loss"] for r in history], label="train (mean since last eval)")
    if any("val_nats" in r for r in history):
        points = [(r["step"], r["val_nats"]) for r in history if "val_nats" in r]
        axes.plot(*zip(*points), marker="o", label="validation (full pass)")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats/token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
