"""Logits processors: small pure logits -> logits transforms, in a documented order.

The stepper's logits [B, V] come with the ids that are never generated already at -inf (``SuppressTokens``:
the character tokenizer's unknown symbol, which is not text). The sampling processors then run in
this order:

    1. repetition penalty  tokens already in the text (prompt included) become less likely (CTRL's rule)
    2. no-repeat n-gram    tokens that would repeat an n-gram already in the text are forbidden
    3. presence/frequency  OpenAI's penalties: logit[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty,
                           c[j] = how often token j was generated so far (the prompt is not counted)
    4. logit bias          OpenAI's logit_bias: logit[j] += bias[j] for the ids given
    5. temperature         logits / T, so softmax gives p_i^(1/T) / sum_j p_j^(1/T) (the classic reweighting)
    6. top-k               keep the k most likely tokens
    7. top-p               keep the smallest set of most likely tokens whose probability reaches p
    8. min-p               keep the tokens at least min_p times as likely as the most likely one

The penalties and the bias come first because they change what the model prefers (OpenAI applies its
penalties and bias to the logits before sampling, as here); temperature then reshapes that
distribution, and the truncations cut its tail last, so top-p and min-p measure the probabilities that
are actually sampled from. Each processor is validated when built, against its GenerationConfig field's bounds (the message says what is allowed),
never edits its input, and always keeps at least one token. Temperature 0 means greedy decoding: the
penalties still apply, the reshaping and truncations are skipped (they cannot change the most likely
token), and the most likely token is taken.

Every processor is called as ``processor(logits, history)``: ``history`` [B, L] holds the token ids so far
(prompt and generated); only the penalties read it, the others accept it and ignore it. A processor with
``generated_only`` (OpenAI's penalties) is given only the generated part of each row: ``apply_processors``
cuts the first ``prompt_length`` ids off. Every row is its own sample: counts and masks never mix rows.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from ..config import ConfigError, GenerationConfig, check_value


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


class SuppressTokens:
    """Ids that are never generated (not text, e.g. the unknown symbol) get -inf.

    The stepper applies it to every step's logits; the hand-stepped LSTM folds it into a -inf output bias,
    so there it costs nothing per step. It may empty a row only if every id is suppressed, which the
    constructor refuses when it knows the vocabulary size.
    """

    needs_history = False

    def __init__(self, ids: Sequence[int], vocab_size: int | None = None) -> None:
        self.ids = tuple(sorted({int(i) for i in ids}))
        if vocab_size is not None:
            if any(not 0 <= i < vocab_size for i in self.ids):
                raise ConfigError(f"suppressed token ids must be in [0, {vocab_size}), got {list(self.ids)}")
            if len(self.ids) >= vocab_size:
                raise ConfigError("every token id is suppressed: nothing could ever be generated")
        self._index: dict[torch.device, torch.Tensor] = {}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if not self.ids:
            return logits
        index = self._index.get(logits.device)
        if index is None:
            index = self._index[logits.device] = torch.tensor(self.ids, dtype=torch.long, device=logits.device)
        return logits.index_fill(-1, index, float("-inf"))


class Temperature:
    """Divide the logits by T: T < 1 sharpens the distribution (predictable), T > 1 flattens it (surprising).

    The row's largest logit is subtracted first (softmax does not change), so even a tiny T cannot overflow:
    the best token's logit becomes 0 and the others fall towards -inf, the greedy limit. A T that rounds to
    zero in the logits' precision is that limit itself, and one beyond their range the uniform limit (every
    token that can be generated equally likely), so any positive finite T computes.
    """

    needs_history = False

    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ConfigError(f"a temperature processor needs temperature > 0 (use 0 for greedy), got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        shifted = logits - logits.amax(dim=-1, keepdim=True)  # [B, V], the best at 0
        limits = torch.finfo(logits.dtype)
        if self.temperature < limits.tiny:  # T rounds to 0 in the logits' precision: the greedy limit itself
            return shifted.masked_fill(shifted < 0, float("-inf"))
        if self.temperature > limits.max:  # T is infinite there (and -inf / inf NaN): the uniform limit itself
            return shifted.masked_fill(torch.isfinite(shifted), 0.0)
        return shifted / self.temperature


class TopK:
    """Keep the k highest logits of each row; the rest become -inf."""

    needs_history = False

    def __init__(self, k: int) -> None:
        self.k = int(check_value(GenerationConfig, "top_k", k))

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        k = min(self.k, logits.shape[-1])
        threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # [B, 1]: the k-th largest
        return logits.masked_fill(logits < threshold, float("-inf"))


class TopP:
    """Nucleus sampling: keep the fewest most-likely tokens whose total probability reaches p.

    p = 1 keeps every token exactly (float32 cumulative sums can round to 1 before the last tokens with
    probability, so it is not computed at all).
    """

    needs_history = False

    def __init__(self, p: float) -> None:
        self.p = float(check_value(GenerationConfig, "top_p", p))

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if self.p >= 1.0:
            return logits
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
        self.min_p = float(check_value(GenerationConfig, "min_p", min_p))

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if self.min_p <= 0.0:
            return logits
        # p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p); the best token always passes.
        threshold = logits.max(dim=-1, keepdim=True).values + torch.log(torch.tensor(self.min_p, dtype=logits.dtype))
        return logits.masked_fill(logits < threshold, float("-inf"))


class RepetitionPenalty:
    """CTRL's penalty (Keskar et al. 2019): a token already in the text has its logit divided by the
    penalty when positive and multiplied by it when negative, so > 1 discourages repeats, < 1 favours them.

    On a character model nearly every symbol has occurred, so this mostly flattens the distribution;
    it suits word models better. The penalised logits are computed in float64 and kept within the logits'
    range (a penalty of 1e-300 would make them infinite, and the probabilities NaN); -inf stays -inf.
    """

    needs_history = True

    def __init__(self, penalty: float) -> None:
        self.penalty = float(check_value(GenerationConfig, "repetition_penalty", penalty))

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if history is None or history.shape[-1] == 0:
            return logits
        seen = logits.gather(-1, history).double()  # [B, L]
        penalised = torch.where(seen > 0, seen / self.penalty, seen * self.penalty)
        limit = torch.finfo(logits.dtype).max / 4  # room for softmax's subtraction of the largest
        penalised = torch.where(torch.isneginf(seen), seen, penalised.clamp(-limit, limit))
        return logits.scatter(-1, history, penalised.to(logits.dtype))


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


class PresenceFrequencyPenalty:
    """OpenAI's presence and frequency penalties, exactly as its API reference states them:

        logit[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty

    where c[j] is how many times token j was generated so far in this row (the prompt is not counted:
    ``apply_processors`` hands it only the generated ids). Positive values discourage repeats, negative
    ones favour them; -inf (a forbidden token) stays -inf.
    """

    needs_history = True
    generated_only = True

    def __init__(self, presence_penalty: float = 0.0, frequency_penalty: float = 0.0) -> None:
        self.presence = float(check_value(GenerationConfig, "presence_penalty", presence_penalty))
        self.frequency = float(check_value(GenerationConfig, "frequency_penalty", frequency_penalty))

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if history is None or history.shape[-1] == 0:
            return logits
        counts = torch.zeros(logits.shape, dtype=logits.dtype, device=logits.device)  # [B, V]: c[j] per row
        counts.scatter_add_(-1, history, torch.ones(history.shape, dtype=logits.dtype, device=logits.device))
        return logits - counts * self.frequency - (counts > 0).to(logits.dtype) * self.presence


def check_logit_bias(bias: dict[int, float] | None, vocab_size: int) -> None:
    """Refuse a logit_bias naming an id outside the vocabulary [0, vocab_size), naming the ids."""
    outside = [token for token in (bias or {}) if not 0 <= token < vocab_size]
    if outside:
        raise ConfigError(f"logit_bias names token ids outside this model's vocabulary of {vocab_size} "
                          f"(ids 0 to {vocab_size - 1}): {outside[:10]}", "logit_bias")


class LogitBias:
    """OpenAI's logit_bias: add bias[j] to the logit of each token id j given (the same for every row).

    -100 all but bans a token and +100 all but forces it; a forbidden token (-inf) stays forbidden.
    Ids beyond the logits' vocabulary are refused when the processor meets them.
    """

    needs_history = False

    def __init__(self, bias: dict[int, float]) -> None:
        checked = GenerationConfig(logit_bias=bias).logit_bias or {}  # the config's bounds and id checks
        self.ids = tuple(checked)
        self.values = tuple(checked.values())
        self._tensors: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if not self.ids:
            return logits
        key = (logits.device, logits.dtype)
        if key not in self._tensors:
            check_logit_bias(dict(zip(self.ids, self.values)), logits.shape[-1])
            self._tensors[key] = (torch.tensor(self.ids, dtype=torch.long, device=logits.device),
                                  torch.tensor(self.values, dtype=logits.dtype, device=logits.device))
        index, values = self._tensors[key]
        biased = logits.clone()
        biased[:, index] += values  # [B, len(ids)] += [len(ids)]
        return biased


def build_processors(config: GenerationConfig) -> list[LogitsProcessor]:
    """The sampling processors a configuration asks for, in the documented order.

    Greedy decoding and beam search keep only the penalties and the bias: the reshaping and truncations
    cannot change the argmax, and beam search ranks by the model's own probabilities (so changed).
    """
    processors: list[LogitsProcessor] = []
    if config.repetition_penalty != 1.0:
        processors.append(RepetitionPenalty(config.repetition_penalty))
    if config.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGram(config.no_repeat_ngram_size))
    if config.presence_penalty or config.frequency_penalty:
        processors.append(PresenceFrequencyPenalty(config.presence_penalty, config.frequency_penalty))
    if config.logit_bias:
        processors.append(LogitBias(config.logit_bias))
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


ROW_PROCESSORS = (Temperature, TopK, TopP, MinP)  # each row's result depends on its own logits and the settings alone


def needs_history(processors: Sequence[LogitsProcessor]) -> bool:
    return any(p.needs_history for p in processors)


def apply_processors(
    logits: torch.Tensor, processors: Sequence[LogitsProcessor], history: torch.Tensor | None = None, prompt_length: int = 0
) -> torch.Tensor:
    """Run the processors in order; ``history`` [B, L] holds each row's prompt (its first ``prompt_length``
    ids) and then its generated ids, of which ``generated_only`` processors see only the latter."""
    generated = None if history is None else history[:, prompt_length:]
    for processor in processors:
        logits = processor(logits, generated if getattr(processor, "generated_only", False) else history)
    return logits
