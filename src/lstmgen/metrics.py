"""Units for language-model losses, and what they mean.

Cross-entropy from PyTorch is in nats (natural log) per token. Bits per token = nats / ln 2 (for a
character model, bits per character: the figure char-rnn papers report). Perplexity = e^nats: the
effective number of equally likely choices the model hesitates between at each token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


def perplexity(nats: float) -> float:
    return math.exp(nats) if nats < 700 else math.inf


@dataclass(frozen=True)
class ColdStart:
    """The cold-start measure (see lstmgen.evaluation): how much a fresh state costs on held-out segments.

    ``fresh_nats``: mean NLL of the scored tokens of each segment read from a fresh state (as generation
    reads a prompt); ``context_nats``: the same tokens' mean NLL with all the text before them.
    """

    fresh_nats: float
    context_nats: float
    segments: int
    segment_tokens: int  # K: the first token of a segment is given, the next K - 1 are scored

    @property
    def ratio(self) -> float:
        """fresh / context: 1.0 when a fresh state costs nothing; the larger, the worse a typed prompt fares."""
        return self.fresh_nats / self.context_nats if self.context_nats > 0 else math.inf

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "ratio": self.ratio}

    def describe(self) -> str:
        return (f"cold start: {self.fresh_nats:.4f} nats/token from a fresh state vs {self.context_nats:.4f} in context "
                f"(x{self.ratio:.3f}; {self.segments} segments of {self.segment_tokens} tokens)")


@dataclass(frozen=True)
class LossReport:
    """A held-out loss with all its units; ``unknown`` counts tokens scored through the unknown symbol."""

    nats: float
    tokens: int
    unknown: int = 0
    cold_start: ColdStart | None = None

    @property
    def bits(self) -> float:
        return nats_to_bits(self.nats)

    @property
    def perplexity(self) -> float:
        return perplexity(self.nats)

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"nats": self.nats, "tokens": self.tokens, "unknown": self.unknown, "bits": self.bits,
                                  "perplexity": self.perplexity}
        if self.cold_start is not None:
            values["cold_start"] = self.cold_start.to_dict()
        return values

    def describe(self, unit: str = "token") -> str:
        text = f"{self.nats:.4f} nats/{unit}, {self.bits:.4f} bits/{unit}, perplexity {self.perplexity:.3f} ({self.tokens:,} tokens"
        if self.unknown:
            text += f"; {self.unknown} unknown, scored as the unknown symbol"
        text += ")"
        if self.cold_start is not None:
            text += f"; {self.cold_start.describe()}"
        return text
