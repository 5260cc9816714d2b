"""Dynamic evaluation (Krause et al. 2018): the model keeps learning from the text it has already scored.

The held-out text is read in segments of ``segment_length`` tokens with the recurrent state carried. Each
segment is scored first (its NLL is what the report counts), then the model takes one gradient step on it,
so later segments are predicted by weights adapted to the document's vocabulary and style. The update:

    rms   (Krause's "RMS with decay"): g is the gradient of the segment's mean NLL; s <- beta s + (1 - beta) g^2
          (bias-corrected), then  theta <- theta - lr g / (sqrt(s) + eps) + decay (theta_trained - theta)
    sgd   theta <- theta - lr g + decay (theta_trained - theta)

The decay pulls every weight back toward the trained one, so adaptation stays local to the recent text.
Every report says which protocol produced it ("dynamic, rms, lr=..., decay=..., segment=..."). The model
passed in is never modified: the updates go to a copy (``adapted_copy`` returns it, with the carried state,
for generation in the document's own voice: ``LanguageModel.generate(..., adapt_to=...)``).

``streams`` = 1 reads the text sequentially, as Krause does: the adaptation at each point depends on all the
text before it. The default, 16, reads 16 contiguous parts side by side (each after a warm-up of the text
before it, as the static pass does), one shared set of weights learning from all of them at every step: 16
times fewer sequential steps for a little less local adaptation (on Tiny Shakespeare's held-out text: 6.5 %
lower bits/char instead of 8.1 %, at about 3x the static pass's time instead of 10x; docs/benchmarks.md).
Adapting to a document for generation (``adapted_copy``) always reads it sequentially.

``learn_fraction`` = 0.75 (the default) learns from three segments in four: every fourth is scored with the
weights as they are and no graph, so it costs a forward pass where the others cost a forward and a backward one
(the backward about 1.7x the forward here). On Tiny Shakespeare's held-out text that keeps 6.0 % of the 6.5 % a
reading that learns from every segment gains, at about 2.4x the static pass's time instead of 3x
(docs/benchmarks.md). 1 is Krause's protocol; every report names the fraction when it is below 1.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from ..config import ConfigError
from ..model import RecurrentLanguageModel, State, detach_state, device_of
from .measures import LossReport
from .static import split_rows, windows

METHODS = ("rms", "sgd")


@dataclass(frozen=True)
class DynamicEvaluation:
    """How dynamic evaluation adapts. The defaults were tuned on the first quarter of Tiny Shakespeare's held-out
    text for a 4-minute default model (docs/benchmarks.md); ``tune`` (``eval --tune-on``) chooses for a model of yours."""

    learning_rate: float = 3e-3
    decay: float = 1e-2
    segment_length: int = 50
    method: str = "rms"
    beta: float = 0.99  # rms: how slowly the running mean of squared gradients forgets
    epsilon: float = 1e-6  # rms: added to the root mean square, so a zero gradient moves nothing
    # Contiguous parts of the text read side by side, each with its own carried state (and a warm-up of the text
    # before it, read but not scored), all adapting one set of weights with their summed gradient: 1 is
    # Krause's sequential reading; more read as many times faster (a step learns from every part's segment).
    streams: int = 16
    warmup: int = 256
    # The share of segments learned from, spread evenly (0.75: three in four); the others are only scored.
    learn_fraction: float = 0.75

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"dynamic evaluation's method must be one of {', '.join(METHODS)}, got {self.method!r}", "method")
        if not (math.isfinite(self.learning_rate) and self.learning_rate >= 0):
            raise ConfigError(f"dynamic evaluation's learning rate must be a finite number >= 0, got {self.learning_rate!r}",
                              "learning_rate")
        if not (math.isfinite(self.decay) and 0 <= self.decay < 1):
            raise ConfigError(f"dynamic evaluation's decay must be in [0, 1), got {self.decay!r}", "decay")
        if self.segment_length < 1:
            raise ConfigError(f"dynamic evaluation's segment length must be at least 1, got {self.segment_length!r}", "segment_length")
        if not 0 <= self.beta < 1 or not self.epsilon > 0:
            raise ConfigError("dynamic evaluation's beta must be in [0, 1) and epsilon > 0", "beta")
        if self.streams < 1 or self.warmup < 0:
            raise ConfigError(f"dynamic evaluation reads at least 1 stream with a warm-up >= 0, got {self.streams} and "
                              f"{self.warmup}", "streams")
        if not (math.isfinite(self.learn_fraction) and 0 < self.learn_fraction <= 1):
            raise ConfigError(f"dynamic evaluation's learn fraction must be in (0, 1], got {self.learn_fraction!r} "
                              "(a learning rate of 0 scores without learning)", "learn_fraction")

    @property
    def protocol(self) -> str:
        streams = f", streams={self.streams}" if self.streams > 1 else ""
        learning = f", learning from {self.learn_fraction:.0%} of segments" if self.learn_fraction < 1 else ""
        return (f"dynamic, {self.method}, lr={self.learning_rate:g}, decay={self.decay:g}, segment={self.segment_length}"
                f"{streams}{learning}")

    def learns_from(self, segment: int) -> bool:
        """Whether the segment of this index (0, 1, ...) is learned from: a fraction f learns from segment i when
        floor((i + 1) f) passes an integer, so the learned segments are spread evenly (0.75: all but 0, 4, 8, ...)."""
        return math.floor((segment + 1) * self.learn_fraction + 1e-9) > math.floor(segment * self.learn_fraction + 1e-9)


class _Adapter:
    """The copy being adapted, the trained weights it decays toward, and the optimiser.

    Krause's RMS update with bias correction is Adam without momentum: with beta1 = 0, Adam's first moment is the
    gradient itself and its correction 1, so  theta <- theta - lr g / (sqrt(s / (1 - beta^t)) + eps)  with
    s <- beta s + (1 - beta) g^2, exactly as above. ``torch.optim.Adam(fused=True)`` does it in one pass over the
    weights (the multi-tensor ``torch._foreach_*`` version took five: 370 against 225 us a step for a 1x384 model).
    """

    def __init__(self, model: RecurrentLanguageModel, settings: DynamicEvaluation) -> None:
        self.settings = settings
        self.model = copy.deepcopy(model)
        self.model.eval()  # no dropout: the adaptation is to the text, not to noise
        self.parameters = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.trained = [parameter.detach().clone() for parameter in self.parameters]
        if settings.method == "rms":
            # The fused kernel exists for CPU and CUDA tensors; elsewhere Adam's multi-tensor path does the same update.
            fused = all(parameter.device.type in ("cpu", "cuda") for parameter in self.parameters)
            self.optimizer = torch.optim.Adam(self.parameters, lr=settings.learning_rate, betas=(0.0, settings.beta),
                                              eps=settings.epsilon, fused=fused or None)
        else:
            self.optimizer = torch.optim.SGD(self.parameters, lr=settings.learning_rate, foreach=True)

    def step(self) -> None:
        """One update of every parameter from its gradient, the decay toward the trained weights, then the
        gradients cleared. A parameter without a gradient (an adaptive softmax's cluster no target fell in) is
        left as it is."""
        self.optimizer.step()
        if self.settings.decay:  # theta + decay (theta_trained - theta), one multi-tensor operation
            chosen = [index for index, parameter in enumerate(self.parameters) if parameter.grad is not None]
            with torch.no_grad():
                torch._foreach_lerp_([self.parameters[index] for index in chosen], [self.trained[index] for index in chosen],
                                     self.settings.decay)
        self.optimizer.zero_grad(set_to_none=True)


def _warm_up(model: RecurrentLanguageModel, array: np.ndarray, rows: list, device: torch.device) -> State:
    """The state [L, B, H] of each row after its warm-up (the text before its part, read but not scored), read
    with the trained weights before any update and without a graph: a part's first window then learns from its
    own tokens only, and the warm-up costs a forward pass, not a forward and a backward one. Rows with warm-ups of
    the same length (all but the first, mostly) are read together."""
    state = model.init_state(len(rows), device)
    lengths = sorted({row.start - row.first for row in rows} - {0})
    with torch.no_grad():
        for length in lengths:
            chosen = [index for index, row in enumerate(rows) if row.start - row.first == length]
            inputs = torch.from_numpy(np.stack([np.asarray(array[rows[index].first : rows[index].start]) for index in chosen])).to(device)
            index = torch.tensor(chosen, device=device)
            _, after = model(inputs.long(), tuple(part.index_select(1, index) for part in state))  # [n, length]
            state = tuple(part.index_copy(1, index, new) for part, new in zip(state, after))
    return detach_state(state)


def _read(adapter: _Adapter, array: np.ndarray, streams: int) -> tuple[float, int, State]:
    """Score then adapt, window by window, ``streams`` parts of the text side by side (the full pass's own split:
    contiguous parts, each after a warm-up of the text before it; ``static.split_rows``), one set of weights
    learning from all of them: (total NLL in nats, tokens scored, the state after the text's last window)."""
    model, device, settings = adapter.model, device_of(adapter.model), adapter.settings
    rows = split_rows(len(array) - 1, streams, settings.warmup)
    state = _warm_up(model, array, rows, device)
    rows = [replace(row, first=row.start) for row in rows]  # their warm-ups are read
    total, count = 0.0, 0
    for segment, (_, inputs, targets, scored) in enumerate(windows(array, rows, settings.segment_length)):
        learn = settings.learning_rate > 0 and settings.learns_from(segment)
        with torch.set_grad_enabled(learn):  # a segment only scored needs no graph: a forward pass, not two passes
            # [B, T]: each target's NLL (an adaptive softmax computes it without the whole distribution)
            losses, next_state = model(torch.from_numpy(inputs).to(device), state, torch.from_numpy(targets).to(device))
            mask = torch.from_numpy(scored).to(device)  # [B, T]: False only where a row has ended (padding)
            scored_losses = losses[mask] if not scored.all() else losses.flatten()
            total += float(scored_losses.detach().double().sum())
            count += scored_losses.numel()
            if learn and scored_losses.numel():
                scored_losses.mean().backward()  # padding is never learned from
                adapter.step()
        state = detach_state(next_state)
    return total, count, state


def dynamic_evaluate(model: RecurrentLanguageModel, tokens: Sequence[int] | np.ndarray, settings: DynamicEvaluation | None = None,
                     unknown: int = 0, characters: int | None = None, bytes: int | None = None) -> LossReport:
    """Mean NLL (nats/token) of ``tokens[1:]`` under dynamic evaluation; ``model`` itself is left unchanged."""
    settings = settings or DynamicEvaluation()
    array = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    if len(array) < 2:
        raise ValueError(f"evaluation needs at least 2 tokens, got {len(array)}")
    total, count, _ = _read(_Adapter(model, settings), array, settings.streams)
    return LossReport(nats=total / count, tokens=count, unknown=unknown, characters=characters, bytes=bytes, protocol=settings.protocol)


def adapted_copy(model: RecurrentLanguageModel, tokens: Sequence[int] | np.ndarray,
                 settings: DynamicEvaluation | None = None) -> tuple[RecurrentLanguageModel, State, LossReport]:
    """A copy of ``model`` that has read ``tokens`` with dynamic evaluation's updates, the state after them (to
    generate the text's continuation from), and the report of that reading. The document is read sequentially
    and learned from in every segment, whatever ``settings.streams`` and ``learn_fraction`` say (the protocol
    names the reading done): its end state is the one to continue from, and a document is short."""
    settings = replace(settings or DynamicEvaluation(), streams=1, learn_fraction=1.0)
    array = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    if len(array) < 2:
        raise ValueError(f"adapting to a text needs at least 2 tokens, got {len(array)}")
    adapter = _Adapter(model, settings)
    total, count, state = _read(adapter, array, streams=1)  # sequential: the state after the whole text
    # The state after the text's last token: the last segment's input stopped one token short of it.
    with torch.inference_mode():
        _, state = adapter.model(torch.tensor([[int(array[-1])]], device=device_of(adapter.model)), state)
    for parameter in adapter.parameters:
        parameter.requires_grad_(False)
    return adapter.model, detach_state(state), LossReport(nats=total / count, tokens=count, protocol=settings.protocol)


def tune(model: RecurrentLanguageModel, tokens: Sequence[int] | np.ndarray, learning_rates: Sequence[float] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
         decays: Sequence[float] = (0.0, 1e-3, 1e-2), method: str = "rms", segment_length: int = 50,
         streams: int = 1, learn_fraction: float = DynamicEvaluation.learn_fraction) -> tuple[DynamicEvaluation, list[dict]]:
    """The learning rate and decay that score ``tokens`` (a validation text) best; with every setting tried."""
    tried = []
    for learning_rate in learning_rates:
        for decay in decays:
            settings = DynamicEvaluation(learning_rate=learning_rate, decay=decay, method=method, segment_length=segment_length,
                                         streams=streams, learn_fraction=learn_fraction)
            tried.append({"learning_rate": learning_rate, "decay": decay, "nats": dynamic_evaluate(model, tokens, settings).nats})
    best = min(tried, key=lambda entry: entry["nats"])
    return DynamicEvaluation(learning_rate=best["learning_rate"], decay=best["decay"], method=method, segment_length=segment_length,
                             streams=streams, learn_fraction=learn_fraction), tried
