"""Measures: units for language-model losses, entropies, the diversity of generated text, statistics.

Cross-entropy from PyTorch is in nats (natural log) per token. Bits per token = nats / ln 2 (for a
character model, bits per character: the figure char-rnn papers report). Perplexity = e^nats: the
effective number of equally likely choices the model hesitates between at each token.

Diversity of generated text (the temperature sweep, the GAN reports), on lower-cased words:
distinct-n = distinct word n-grams / all word n-grams (Li et al. 2016); repetition = the share of a
text's word 3-grams that already occurred earlier in it; known words = the share of complete generated
words found in a vocabulary (the others are invented).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch

LN2 = math.log(2)


def nats_to_bits(nats: float) -> float:
    return nats / LN2


def perplexity(nats: float) -> float:
    return math.exp(nats) if nats < 700 else math.inf


@dataclass(frozen=True)
class ColdStart:
    """The cold-start measure (see lstmgen.evaluation.static): how much a fresh state costs on held-out segments.

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
    """A held-out loss with all its units; ``unknown`` counts tokens scored through the unknown symbol.

    ``characters`` and ``bytes`` (UTF-8) are those of the text the scored tokens spell (all but the first
    token's): bits per character = total NLL / characters / ln 2, the one scale on which models with
    different tokenizers compare (a character model's bits per token are its bits per character).
    """

    nats: float
    tokens: int
    unknown: int = 0
    cold_start: ColdStart | None = None
    characters: int | None = None
    bytes: int | None = None
    # Which protocol produced the figure: "static" (a full pass, state carried, weights fixed: evaluation.static)
    # or "dynamic, rms, lr=..., decay=..., segment=..." (the weights adapt as they read: evaluation.dynamic).
    protocol: str = "static"

    @property
    def total_nats(self) -> float:
        return self.nats * self.tokens

    @property
    def bits_per_character(self) -> float | None:
        return nats_to_bits(self.total_nats / self.characters) if self.characters else None

    @property
    def bits_per_byte(self) -> float | None:
        return nats_to_bits(self.total_nats / self.bytes) if self.bytes else None

    @property
    def bits(self) -> float:
        return nats_to_bits(self.nats)

    @property
    def perplexity(self) -> float:
        return perplexity(self.nats)

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"protocol": self.protocol, "nats": self.nats, "tokens": self.tokens, "unknown": self.unknown, "bits": self.bits,
                                  "perplexity": self.perplexity, "characters": self.characters, "bytes": self.bytes,
                                  "bits_per_character": self.bits_per_character, "bits_per_byte": self.bits_per_byte}
        if self.cold_start is not None:
            values["cold_start"] = self.cold_start.to_dict()
        return values

    def describe(self, unit: str = "token") -> str:
        text = f"{self.nats:.4f} nats/{unit}, {self.bits:.4f} bits/{unit}, perplexity {self.perplexity:.3f} ({self.tokens:,} tokens"
        if self.unknown:
            text += f"; {self.unknown} unknown, scored as the unknown symbol"
        text += ")"
        if self.bits_per_character is not None and unit != "char":
            text += f"; {self.bits_per_character:.4f} bits/char, {self.bits_per_byte:.4f} bits/byte"
        if self.cold_start is not None:
            text += f"; {self.cold_start.describe()}"
        return f"{text} [{self.protocol}]"


def word_level_tokens(text: str) -> int:
    """The tokens published word-level perplexities on WikiText are per: each line's whitespace-separated words plus
    one end-of-line token (pytorch/examples' word_language_model and AWD-LSTM read ``line.split() + ['<eos>']``).
    exp(total nats / this) is then a word-level perplexity whatever the model's tokenizer (a character model's too)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":  # a final line break ends the last line; it opens no new one
        lines.pop()
    return sum(len(line.split()) + 1 for line in lines)


# ----- entropy ----------------------------------------------------------------------------------------
def entropy_bits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy in bits of softmax(logits / T) per row, [..., V] -> [...]; T = 0 gives the greedy one-hot's 0.

    -inf logits (tokens that are never generated) contribute nothing.
    """
    if temperature == 0:
        return torch.zeros(logits.shape[:-1], dtype=torch.float64, device=logits.device)
    log_p = torch.log_softmax(logits.double() / temperature, dim=-1)
    terms = torch.where(torch.isneginf(log_p), torch.zeros_like(log_p), log_p.exp() * log_p)
    return -terms.sum(dim=-1) / LN2


# ----- statistics -------------------------------------------------------------------------------------
def mean_and_error(values: torch.Tensor | np.ndarray | Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n)); NaN error for n < 2."""
    array = np.asarray(values, dtype=np.float64)
    if len(array) < 2:
        return float(array.mean()), math.nan
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array)))


# ----- diversity of generated text --------------------------------------------------------------------
WORD = re.compile(r"\w+")


def words(text: str, complete_only: bool = False) -> list[str]:
    """Lower-cased words of ``text``; ``complete_only`` drops a last word the text may have cut short."""
    found = WORD.findall(text.lower())
    if complete_only and found and text and (text[-1].isalnum() or text[-1] == "_"):
        found = found[:-1]
    return found


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct word n-grams / all word n-grams, pooled over the texts (None when there are none)."""
    grams = [gram for text in texts for gram in _ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else None


def repetition_rate(texts: Iterable[str], n: int = 3) -> float | None:
    """Share of word n-grams that repeat an n-gram seen earlier in the same text (None when there are none)."""
    repeats = total = 0
    for text in texts:
        seen: set[tuple[str, ...]] = set()
        for gram in _ngrams(words(text), n):
            repeats += gram in seen
            total += 1
            seen.add(gram)
    return repeats / total if total else None


def known_word_share(texts: Iterable[str], vocabulary: set[str] | None) -> tuple[float | None, list[str]]:
    """Share of complete generated words found in ``vocabulary``, and the invented ones (most frequent first)."""
    if vocabulary is None:
        return None, []
    generated = [word for text in texts for word in words(text, complete_only=True)]
    if not generated:
        return None, []
    invented = Counter(word for word in generated if word not in vocabulary)
    return 1 - sum(invented.values()) / len(generated), [word for word, _ in invented.most_common(20)]


def text_measures(texts: Sequence[str], vocabulary: set[str] | None) -> dict[str, Any]:
    """distinct-1/2/3, repetition, the known-word share and the invented words of a set of texts."""
    share, invented = known_word_share(texts, vocabulary)
    return {
        "distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
        "repetition": repetition_rate(texts), "known_words": share, "invented": invented,
    }
