"""What the SeqGAN trainer's ``trainer_state.pt`` must hold before it touches it (``SeqGANTrainer.state_dict``
writes it: change them together). Passed to ``load_checkpoint(..., state_check=check_gan_state)``; built from
the Trainer's ``StateChecker`` (``training.state``), so both report problems alike.
"""

from __future__ import annotations

from typing import Any

import torch

from ..checkpoint import CheckpointError
from ..config import ModelConfig, TrainConfig
from ..training.state import StateChecker, is_number


def check_gan_state(state: Any, config: ModelConfig, source: str, train_config: TrainConfig | None = None) -> None:
    """Raise CheckpointError unless ``state`` holds what ``SeqGANTrainer.load_state_dict`` reads (the shapes of its
    discriminator are its own business; ``config`` and ``train_config`` are part of the check's signature)."""
    check = StateChecker(state, source, CheckpointError)
    check.entry("phase", str)
    check.integer("completed")
    check.entry("discriminator", dict)
    check.entry("rollout", dict)
    for name in ("mle_optimizer", "pg_optimizer", "d_optimizer"):
        check.optimizer(check.entry(name, dict), repr(name))
    check.generator_state(check.entry("rng", torch.Tensor), "'rng'", size=None)
    check.generator_state(check.entry("torch_rng", torch.Tensor), "'torch_rng'")
    check.json_text("phase_seconds", lambda value: isinstance(value, dict), "JSON of a dictionary")
    check.json_text("phase_cpu_seconds", lambda value: isinstance(value, dict), "JSON of a dictionary")
    # best_nll_validation is absent in runs saved before mle-best was chosen on validation sequences
    check.json_text("best_nll_validation", lambda value: value is None or is_number(value), "JSON of null or a number",
                    required=False)
    check.json_text("baseline", is_number, "JSON of a number", required=False)  # the dense method's reward baseline
    check.json_text("d_steps_kept", lambda value: isinstance(value, list), "JSON of a list", required=False)
