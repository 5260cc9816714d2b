"""Sampling: small pure logits -> logits transforms, and the choice of the next token.

Processors run in this order on the logits [B, V] of each step (ids the tokenizer never generates are
already -inf):

    1. repetition penalty  tokens already in the text (prompt included) become less likely (CTRL's rule)
    2. no-repeat n-gram    tokens that would repeat an n-gram already in the text are forbidden
    3. temperature         logits / T, so softmax gives p_i^(1/T) / sum_j p_j^(1/T) (the classic reweighting)
    4. top-k               keep the k most likely tokens
    5. top-p               keep the smallest set of most likely tokens whose probability reaches p
    6. min-p               keep the tokens at least min_p times as likely as the most likely one

The penalties come first because they change what the model prefers; temperature then reshapes that
distribution, and the truncations cut its tail last, so top-p and min-p measure the probabilities that
are actually sampled from. Each processor is validated when built (the message says what is allowed),
never edits its input, and always keeps at least one token. Temperature 0 means greedy decoding: the
penalties still apply, the reshaping and truncations are skipped (they cannot change the most likely
token), and the most likely token is taken.

Every processor is called as ``processor(logits, history)``: ``history`` [B, L] holds the token ids so far
(prompt and generated); only the penalties read it, the others accept it and ignore it.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch
import torch.nn.functional as F

from .config import ConfigError, GenerationConfig


class LogitsProcessor(Protocol):
    needs_history: bool

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor: ...


def _keep_one(original: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """Never drop every token of a row: where ``drop`` [B, V] would, keep the row's best original logit."""
    emptied = drop.all(dim=-1, keepdim=True)  # [B, 1]
    if not bool(emptied.any()):
        return drop
    best = torch.zeros_like(drop).scatter(-1, original.argmax(dim=-1, keepdim=True), True)
    return drop & ~(emptied & best)


class Temperature:
    """Divide the logits by T: T < 1 sharpens the distribution (predictable), T > 1 flattens it (surprising)."""

    needs_history = False

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ConfigError(f"a temperature processor needs temperature > 0 (use 0 for greedy), got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        return logits / self.temperature


class TopK:
    """Keep the k highest logits of each row; the rest become -inf."""

    needs_history = False

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ConfigError(f"top_k must be at least 1, got {k}")
        self.k = int(k)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        k = min(self.k, logits.shape[-1])
        threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # [B, 1]: the k-th largest
        return logits.masked_fill(logits < threshold, float("-inf"))


class TopP:
    """Nucleus sampling: keep the fewest most-likely tokens whose total probability reaches p."""

    needs_history = False

    def __init__(self, p: float) -> None:
        if not 0.0 < p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1], got {p}")
        self.p = float(p)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probabilities = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens before it already reach p; the first token is always kept.
        drop_sorted = (probabilities.cumsum(dim=-1) - probabilities) >= self.p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))


class MinP:
    """Keep the tokens whose probability is at least ``min_p`` times that of the most likely token."""

    needs_history = False

    def __init__(self, min_p: float) -> None:
        if not 0.0 <= min_p <= 1.0:
            raise ConfigError(f"min_p must be in [0, 1], got {min_p}")
        self.min_p = float(min_p)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        # p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p); the best token always passes.
        threshold = logits.max(dim=-1, keepdim=True).values + torch.log(torch.tensor(self.min_p, dtype=logits.dtype))
        return logits.masked_fill(logits < threshold, float("-inf"))


class RepetitionPenalty:
    """CTRL's penalty (Keskar et al. 2019): a token already in the text has its logit divided by the
    penalty when positive and multiplied by it when negative, so > 1 discourages repeats, < 1 favours them.

    On a character model nearly every symbol has occurred, so this mostly flattens the distribution;
    it suits word models better.
    """

    needs_history = True

    def __init__(self, penalty: float) -> None:
        if not penalty > 0:
            raise ConfigError(f"repetition_penalty must be positive (1 = none, > 1 discourages repeats), got {penalty}")
        self.penalty = float(penalty)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if history is None or history.shape[-1] == 0:
            return logits
        seen = logits.gather(-1, history)  # [B, L]
        penalised = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return logits.scatter(-1, history, penalised)


class NoRepeatNGram:
    """Forbid any token that would complete an n-gram already present in the text (prompt included).

    If that would forbid every remaining token of a row, the row keeps its most likely token.
    """

    needs_history = True

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ConfigError(f"no_repeat_ngram_size must be at least 1 (0 turns it off), got {size}")
        self.size = int(size)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        n = self.size
        if history is None or history.shape[-1] < n:
            return logits
        windows = history.unfold(-1, n, 1)  # [B, W, n]: every n-gram in the text
        # An n-gram matters if its first n-1 tokens equal the last n-1 tokens of the text.
        prefix = history[:, history.shape[-1] - (n - 1) :].unsqueeze(1)  # [B, 1, n-1]
        matches = (windows[:, :, : n - 1] == prefix).all(dim=-1)  # [B, W]
        counts = torch.zeros(logits.shape, dtype=torch.int32, device=logits.device)
        counts.scatter_add_(-1, windows[:, :, -1], matches.to(torch.int32))
        drop = _keep_one(logits, (counts > 0) | torch.isneginf(logits))
        return logits.masked_fill(drop, float("-inf"))


def build_processors(config: GenerationConfig) -> list[LogitsProcessor]:
    """The processors a configuration asks for, in the documented order.

    Greedy decoding keeps only the penalties: the reshaping and truncations cannot change the argmax.
    """
    processors: list[LogitsProcessor] = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGram(config.no_repeat_ngram_size))
    if config.greedy or config.num_beams > 1:
        return processors
    if config.temperature != 1.0:
        processors.append(Temperature(config.temperature))
    if config.top_k is not None:
        processors.append(TopK(config.top_k))
    if config.top_p is not None and config.top_p < 1.0:
        processors.append(TopP(config.top_p))
    if config.min_p is not None and config.min_p > 0.0:
        processors.append(MinP(config.min_p))
    return processors


def needs_history(processors: Sequence[LogitsProcessor]) -> bool:
    return any(p.needs_history for p in processors)


def apply_processors(
    logits: torch.Tensor, processors: Sequence[LogitsProcessor], history: torch.Tensor | None = None
) -> torch.Tensor:
    for processor in processors:
        logits = processor(logits, history)
    return logits


def choose_tokens(
    logits: torch.Tensor,
    config: GenerationConfig,
    processors: Sequence[LogitsProcessor],
    generator: torch.Generator | None = None,
    history: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pick one token per row of logits [B, V] -> [B] (``history`` [B, L]: the ids so far, for the penalties)."""
    logits = apply_processors(logits.float(), processors, history)
    if config.greedy:
        return logits.argmax(dim=-1)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


SAMPLER_BLOCK = 128  # ids per block of sample_categorical: ~sqrt(V) for V = 5,000-20,000


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None, block: int = SAMPLER_BLOCK) -> torch.Tensor:
    """One exact draw per row of logits [N, V] -> [N], from softmax(logits): for many rows and a large vocabulary.

    ``torch.multinomial`` is exact too but slow there on a CPU (about 3 s for 19,456 rows x 5,000 ids, the
    SeqGAN rollout batch); this two-level inverse-CDF draw takes about a sixth of that.

    Two uniform draws are replaced by one: u ~ U(0, total mass) selects the block whose cumulative mass
    first exceeds u, and the remainder of u inside that block selects the id, so every id is drawn with
    probability exactly weight / total (up to float rounding).
    """
    rows, vocab = logits.shape
    weights = (logits.float() - logits.float().amax(dim=-1, keepdim=True)).exp()  # [N, V], max weight 1
    pad = (-vocab) % block
    if pad:
        weights = F.pad(weights, (0, pad))
    weights = weights.view(rows, -1, block)  # [N, nb, block]
    block_mass = weights.sum(dim=-1)  # [N, nb]
    cumulative = block_mass.cumsum(dim=-1)
    u = torch.rand(rows, 1, generator=generator, device=logits.device) * cumulative[:, -1:]  # [N, 1]
    chosen = torch.searchsorted(cumulative, u).clamp_(max=block_mass.shape[1] - 1)  # [N, 1]
    remainder = u - (cumulative.gather(1, chosen) - block_mass.gather(1, chosen))
    inside = weights.gather(1, chosen[:, :, None].expand(-1, 1, block)).squeeze(1)  # [N, block]
    offset = torch.searchsorted(inside.cumsum(dim=-1), remainder).clamp_(max=block - 1)
    tokens = (chosen * block + offset).squeeze(1)
    # Float rounding can land u in a zero-weight pad slot at the very end; fall back to the last real id.
    return tokens.clamp_(max=vocab - 1)


def reweight(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """The textbook temperature formula on probabilities: p^(1/T) renormalised (the Keras example's)."""
    powered = probabilities.double() ** (1.0 / temperature)
    return powered / powered.sum(dim=-1, keepdim=True)


def entropy_bits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Entropy in bits of softmax(logits / T) per row, [..., V] -> [...]; T = 0 gives the greedy one-hot's 0.

    -inf logits (tokens that are never generated) contribute nothing.
    """
    if temperature == 0:
        return torch.zeros(logits.shape[:-1], dtype=torch.float64, device=logits.device)
    log_p = torch.log_softmax(logits.double() / temperature, dim=-1)
    terms = torch.where(torch.isneginf(log_p), torch.zeros_like(log_p), log_p.exp() * log_p)
    return -terms.sum(dim=-1) / torch.log(torch.tensor(2.0, dtype=torch.float64))
