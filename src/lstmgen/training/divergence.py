"""Keeping a diverging run out of its checkpoints: the policy a trainer applies at every step.

A learning rate too high, a bad batch or an overflow gives a NaN or infinite loss, then NaN gradients,
and one optimizer step later every weight is NaN; the next evaluation scores NaN, and since the first
evaluation of a run always counts as an improvement, such a model could be saved as ``best/``. The
policy here, for one step:

1. the loss and the gradient norm are checked before the optimizer steps (``is_finite_step``);
2. if either is not finite, the step is skipped: the weights and optimizer state go back to the last
   good state the guard remembered (``remember``, after each evaluation that scored a finite loss),
   and the learning rate is scaled by ``factor`` (halved) from then on;
3. after ``max_failures`` such steps without a good evaluation in between, training stops with
   ``DivergenceError``, a message that says what to change; the checkpoints hold the last good model.

``is_improvement`` is the rule for saving ``best/``: a non-finite validation loss is never an improvement.
``lstmgen.checkpoint.save_checkpoint`` refuses non-finite weights as a last line of defence.

Cost: one copy of the weights and the optimizer state per ``remember`` (memory: about three times the
weights with Adam), and the finiteness of two numbers per step.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

Number = float | torch.Tensor


class DivergenceError(ValueError):
    """Training diverged and the guard's retries did not help (a ValueError: the CLI prints it as one line)."""


def _finite(value: Number | None) -> bool:
    if value is None:
        return True
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all())
    return math.isfinite(value)


def is_finite_step(loss: Number, gradient_norm: Number | None = None) -> bool:
    """Whether a step may be applied: its loss and (when given) the total gradient norm are finite.

    ``torch.nn.utils.clip_grad_norm_`` returns that norm (NaN or inf when any gradient is), so the check
    costs nothing more than the clipping the trainer does anyway.
    """
    return _finite(loss) and _finite(gradient_norm)


def is_improvement(nats: float | None, best: dict[str, Any] | None) -> bool:
    """Whether a validation loss improves on the best record: finite, and lower (or the first finite one)."""
    if nats is None or not math.isfinite(nats):
        return False
    previous = (best or {}).get("val_nats")
    return previous is None or not math.isfinite(previous) or nats < previous


class DivergenceGuard:
    """Skip non-finite steps, go back to the last good state, halve the learning rate, stop after K failures.

    The trainer multiplies its scheduled learning rate by ``learning_rate_scale``, and keeps
    ``state_dict()`` in its trainer state so a resumed run continues with the same scale.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, max_failures: int = 5,
                 factor: float = 0.5) -> None:
        if max_failures < 1 or not 0 < factor <= 1:
            raise ValueError(f"max_failures must be >= 1 and factor in (0, 1], got {max_failures} and {factor}")
        self.model, self.optimizer = model, optimizer
        self.max_failures, self.factor = max_failures, factor
        self.learning_rate_scale = 1.0
        self.failures = 0  # since the last remembered good state
        self.total_failures = 0
        self._weights: dict[str, torch.Tensor] = {}
        self._optimizer_state: dict[str, Any] = {}
        self.remember()

    def remember(self) -> None:
        """The current weights and optimizer state are good (an evaluation scored them): keep a copy."""
        self._weights = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
        self._optimizer_state = copy.deepcopy(self.optimizer.state_dict())  # its tensors are the live ones: copy them
        self.failures = 0

    def restore(self) -> None:
        """Put the remembered weights and optimizer state back (copies: the memory stays good for the next time)."""
        self.model.load_state_dict(self._weights)
        self.optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))

    def check(self, loss: Number, gradient_norm: Number | None = None, step: int | None = None) -> bool:
        """True if the step may be applied. Otherwise the step is to be skipped: the last good state is back in
        the model and optimizer, the learning rate scale is lowered, and the caller must also reset any state it
        carries (a recurrent state computed in this step may hold NaN). Raises DivergenceError after
        ``max_failures`` failures since the last ``remember``."""
        if is_finite_step(loss, gradient_norm):
            return True
        self.failures += 1
        self.total_failures += 1
        self.learning_rate_scale *= self.factor
        self.restore()
        if self.failures >= self.max_failures:
            where = f" (the last at step {step})" if step is not None else ""
            raise DivergenceError(
                f"training diverged: {self.failures} steps since the last good evaluation gave a non-finite loss or "
                f"gradient{where}, although each went back to the last good weights and halved the learning rate (now "
                f"x{self.learning_rate_scale:g}). The checkpoints hold the last good model. Lower --learning-rate, raise "
                "--warmup-steps or set --grad-clip, then resume or start the run again."
            )
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"learning_rate_scale": self.learning_rate_scale, "failures": self.failures, "total_failures": self.total_failures}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learning_rate_scale = float(state.get("learning_rate_scale", 1.0))
        self.failures = int(state.get("failures", 0))
        self.total_failures = int(state.get("total_failures", 0))
