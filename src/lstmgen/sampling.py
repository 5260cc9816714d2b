"""Sampling: small pure logits -> logits transforms, and the choice of the next token.

Processors run in this order on the logits [B, V] of each step:

    1. temperature  logits / T, so softmax gives p_i^(1/T) / sum_j p_j^(1/T) (the classic reweighting)
    2. top-k        keep the k most likely tokens
    3. top-p        keep the smallest set of most likely tokens whose probability reaches p

Each is validated when built, never edits its input, and always keeps at least one token. Temperature
0 means greedy decoding: the processors are skipped and the most likely token is taken.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .config import ConfigError, GenerationConfig

LogitsProcessor = Callable[[torch.Tensor], torch.Tensor]


class Temperature:
    """Divide the logits by T: T < 1 sharpens the distribution (predictable), T > 1 flattens it (surprising)."""

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ConfigError(f"a temperature processor needs temperature > 0 (use 0 for greedy), got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature


class TopK:
    """Keep the k highest logits of each row; the rest become -inf."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ConfigError(f"top_k must be at least 1, got {k}")
        self.k = int(k)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        k = min(self.k, logits.shape[-1])
        threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # [B, 1]: the k-th largest
        return logits.masked_fill(logits < threshold, float("-inf"))


class TopP:
    """Nucleus sampling: keep the fewest most-likely tokens whose total probability reaches p."""

    def __init__(self, p: float) -> None:
        if not 0.0 < p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {p}")
        self.p = float(p)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach p; the first token is always kept.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= self.p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))


def build_processors(config: GenerationConfig) -> list[LogitsProcessor]:
    """The processors a configuration asks for, in the documented order (none when greedy)."""
    if config.greedy:
        return []
    processors: list[LogitsProcessor] = []
    if config.temperature != 1.0:
        processors.append(Temperature(config.temperature))
    if config.top_k is not None:
        processors.append(TopK(config.top_k))
    if config.top_p is not None and config.top_p < 1.0:
        processors.append(TopP(config.top_p))
    return processors


def apply_processors(logits: torch.Tensor, processors: Sequence[LogitsProcessor]) -> torch.Tensor:
    for processor in processors:
        logits = processor(logits)
    return logits


def choose_tokens(
    logits: torch.Tensor,
    config: GenerationConfig,
    processors: Sequence[LogitsProcessor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row of logits [B, V] -> [B]."""
    if config.greedy:
        return logits.argmax(dim=-1)
    probabilities = apply_processors(logits.float(), processors).softmax(dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def reweight(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """The textbook temperature formula on probabilities: p^(1/T) renormalised (the Keras example's)."""
    powered = probabilities.double() ** (1.0 / temperature)
    return powered / powered.sum(dim=-1, keepdim=True)
