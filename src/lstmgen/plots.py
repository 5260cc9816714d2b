"""Loss-curve plot of a run's metrics (needs the optional matplotlib extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def plot_loss_curve(history: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Draw training and validation loss (nats/token) against steps into a PNG."""
    if not history:
        return None
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
