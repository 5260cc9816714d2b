"""Mirroring the training records into TensorBoard (``--tensorboard DIR``; the ``tensorboard`` extra).

``metrics.jsonl`` stays the record of truth; this writes the same numbers, every evaluation, as TensorBoard
scalars (``tensorboard --logdir DIR`` shows them). Imported only when asked for.
"""

from __future__ import annotations

import os
from typing import Any

from .config import ConfigError


class TensorBoardMirror:
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
