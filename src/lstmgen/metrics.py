"""Units for language-model losses, and what they mean.

Cross-entropy from PyTorch is in nats (natural log) per token. Bits per token = nats / ln 2 (for a
character model, bits per character: the figure char-rnn papers report). Perplexity = e^nats: the
effective number of equally likely choices the model hesitates between at each token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


def perplexity(nats: float) -> float:
    return math.exp(nats) if nats < 700 else math.inf


@dataclass(frozen=True)
class LossReport:
    """A held-out loss with all its units; ``unknown`` counts tokens scored through the unknown symbol."""

    nats: float
    tokens: int
    unknown: int = 0

    @property
    def bits(self) -> float:
        return nats_to_bits(self.nats)

    @property
    def perplexity(self) -> float:
        return perplexity(self.nats)

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "bits": self.bits, "perplexity": self.perplexity}

    def describe(self, unit: str = "token") -> str:
        text = f"{self.nats:.4f} nats/{unit}, {self.bits:.4f} bits/{unit}, perplexity {self.perplexity:.3f} ({self.tokens:,} tokens"
        if self.unknown:
            text += f"; {self.unknown} unknown, scored as the unknown symbol"
        return text + ")"
