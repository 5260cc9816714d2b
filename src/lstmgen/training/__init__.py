"""The training path, top to bottom: from ``lstmgen train`` to a run directory of checkpoints.

    pipeline.py     ``train()``: corpus -> token store -> plan -> Trainer -> run directory; resume, the run lock,
                    torchrun's ranks. Start reading here.
    presets.py      the named settings (default, cpu-4min, keras-nietzsche, tf-tutorial, ...)
    budget.py       the budget-aware default: width, learning rate, dropout from the time budget and a probe
    trainer.py      the loop: batch -> loss -> backward -> clip -> step -> schedule -> evaluate -> checkpoint
    optimizers.py   the optimizer and its parameter groups (weight decay on matrices only)
    precision.py    the arithmetic training runs in (fp32, bf16, fp16 with loss scaling): train --precision
    distributed.py  torch.distributed under torchrun: the world, stream sharding, gathers
    divergence.py   a non-finite loss or gradient never reaches the weights
    state.py        what the Trainer's trainer_state.pt must hold (checked before it is read)
    recovery.py     repairs what a crash left in a run directory (names in ``system.run_directory``)
    records.py      metrics.jsonl, its TensorBoard mirror, the loss plot

The server and the generation path never import this package. Its two public names are imported on first
use (PEP 562): ``lstmgen train --help`` reads the presets without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"train": "pipeline", "PRESETS": "presets"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lstmgen.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
