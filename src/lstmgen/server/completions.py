"""One completion request, from its checked settings to OpenAI's response shapes, built on the decoding records.

A request has one or more prompts (text, or token ids checked against the vocabulary) and ``n`` samples
each: choice ``i`` is sample ``i % n`` of prompt ``i // n``. With ``best_of`` > n, ``best_of`` candidates
are generated per prompt (together, in one batch) and the ``n`` with the highest mean log-probability per
generated token (under the model's own distribution, as ``logprobs`` reports it) are returned, best first;
``usage`` counts the tokens of every candidate, as OpenAI's does. The generation of each prompt yields ``DecodeStep`` records (or, for beam search, one
``BeamResult`` at the end); ``Completion.add`` files them into the choices. Everything a response says
comes from the records: the text released so far, the number of generated tokens (usage), the finish
reason, and OpenAI's ``logprobs`` (``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset``) for
the tokens whose text has been released. Nothing is re-encoded.

Before anything runs, the request is checked against the server's limits (counts first, then the
prompts' lengths, without tokenizing more of a huge prompt than it takes to know it is too long). Every
value GenerationConfig accepts computes (the processors keep extreme temperatures and penalties finite),
so the settings have no bounds here beyond GenerationConfig's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator

from ..config import ConfigError, GenerationConfig
from ..decoding import FINISH_LENGTH, DecodeStep, SampleGroup, check_logit_bias
from ..decoding.constraints import check_constraint
from ..language_model import LanguageModel
from ..tokenizers import LabelError, TokenizerError, label_id
from ..tokenizers.registry import is_prefix_stable
from .adaptation import Adaptation
from .limits import ServerLimits
from .schemas import CONFIG_NAMES, REQUEST_NAMES, APIError, CompletionRequest

SHORT_DOCUMENT = 1_000  # characters of an adapt_to text tokenized on the event loop to check it holds 2 tokens

# Tokenizers for which a prefix of a text tokenizes into the text's own first tokens, except that the
# cut may split the last one in two: what lets a long prompt be measured from its start.


@dataclass(frozen=True)
class BeamResult:
    """Beam search's continuations of one prompt, known only at the end."""

    texts: tuple[str, ...]
    token_counts: tuple[int, ...]
    finish_reasons: tuple[str, ...]


@dataclass(frozen=True)
class Echo:
    """A prompt echoed before its continuation, with its tokens scored when logprobs are asked (on the worker)."""

    text: str
    scores: tuple = ()  # lstmgen.language_model.TokenScore per prompt token


@dataclass
class _Token:
    text: str
    logprob: float | None
    top: tuple[tuple[int, float], ...] | None
    offset: int  # where its text starts in the choice's text (echoed prompt included)


@dataclass
class Choice:
    text: str = ""  # released so far (with the echoed prompt first)
    tokens: int = 0  # generated tokens
    finish_reason: str | None = None
    entries: list[_Token] = field(default_factory=list)  # log-probability entries, echoed prompt first
    sent: int = 0  # entries already sent in a streamed chunk
    length: int = 0  # characters of every token fed so far (released or held back)
    logprob_total: float = 0.0  # sum of the generated tokens' log-probabilities (when computed): best_of ranks by its mean

    @property
    def mean_logprob(self) -> float:
        return self.logprob_total / self.tokens if self.tokens else 0.0


class Completion:
    """What one request asked for, checked and tokenized, and its choices as they arrive."""

    def __init__(self, request: CompletionRequest, model: LanguageModel, limits: ServerLimits) -> None:
        self.request = request
        self.model = model
        self.prompts = request.prompts
        self.n = request.n or 1
        self.samples = max(self.n, request.best_of or 1)  # generated per prompt: best_of candidates, of which n are returned
        self.logprobs = request.logprobs
        # best_of ranks by log-probability: computed for every token even when the response shows none.
        self.decode_logprobs = 0 if self.logprobs is None and self.samples > self.n else self.logprobs
        self.config = self._config(limits)  # checks the counts first, before tokenizing anything
        self._check_adapt_to(limits)
        self.adaptation: Adaptation | None = None  # the reading an adapt_to request's weights came from, once done
        self.prompt_tokens = sum(self._check_prompt(prompt, limits) for prompt in self.prompts)
        self.candidates = [Choice() for _ in range(len(self.prompts) * self.samples)]

    @property
    def choices(self) -> list[Choice]:
        """The choices answered: every candidate, or with best_of the n best of each prompt's (by mean log-probability)."""
        if self.samples == self.n:
            return self.candidates
        chosen = []
        for start in range(0, len(self.candidates), self.samples):
            group = self.candidates[start : start + self.samples]
            chosen += sorted(group, key=lambda choice: choice.mean_logprob, reverse=True)[: self.n]
        return chosen

    # ----- checks --------------------------------------------------------------------------------
    def _check_adapt_to(self, limits: ServerLimits) -> None:
        """The document's size against the server's bound (it is read on a worker, and only there tokenized)."""
        text = self.request.adapt_to
        if text is None:
            return
        if not limits.max_adapt_chars:
            raise APIError(400, "adapt_to is disabled on this server (it was started with --max-adapt-chars 0)", "adapt_to")
        if len(text) > limits.max_adapt_chars:
            raise APIError(400, f"adapt_to is {len(text):,} characters long, more than this server's limit of "
                           f"{limits.max_adapt_chars:,} (--max-adapt-chars); send the part of the document nearest the prompt",
                           "adapt_to")
        # At least 2 tokens: a short text is tokenized here (cheap); a long one can only fall short with a word
        # tokenizer and a huge unbroken word, found on the worker (the same 400, or an error event in a stream).
        if len(text) < SHORT_DOCUMENT and len(self.model.tokenizer.encode(text, unknown="replace")) < 2:
            raise APIError(400, "adapt_to must hold at least 2 tokens of text to adapt to", "adapt_to")

    def _check_prompt(self, prompt: str | list[int], limits: ServerLimits) -> int:
        if not isinstance(prompt, str):
            return self._check_token_prompt(prompt, limits)
        if self._surely_longer(prompt, limits.max_prompt_tokens):
            raise APIError(400, f"prompt is longer than this server's limit of {limits.max_prompt_tokens} tokens",
                           "prompt", code="context_length_exceeded")
        try:
            ids = self.model.tokenizer.encode(prompt, unknown=self.request.unknown)
        except TokenizerError as error:
            symbols = self.model.tokenizer.unknown_symbols(prompt)
            if not symbols:
                raise APIError(400, f"prompt: {error}", "prompt") from None
            listed = ", ".join(f"{symbol!r} (x{count})" for symbol, count in symbols.most_common(20))
            raise APIError(400, f"prompt holds symbols the model's vocabulary lacks: {listed}. Remove them, or set "
                           "\"unknown\" to \"skip\" (drop them) or \"replace\" (use the unknown symbol)", "prompt") from None
        if prompt and len(ids) == 0:
            raise APIError(400, "prompt holds no symbol the model knows once unknown ones are skipped", "prompt")
        if len(ids) > limits.max_prompt_tokens:
            raise APIError(400, f"prompt is {len(ids)} tokens long, more than this server's limit of {limits.max_prompt_tokens}",
                           "prompt", code="context_length_exceeded")
        return len(ids)

    def _check_token_prompt(self, ids: list[int], limits: ServerLimits) -> int:
        vocab = self.model.tokenizer.vocab_size
        outside = [token for token in ids if not 0 <= token < vocab]
        if outside:
            raise APIError(400, f"prompt holds token ids outside this model's vocabulary of {vocab} (ids 0 to {vocab - 1}): "
                           f"{outside[:10]}", "prompt")
        if len(ids) > limits.max_prompt_tokens:
            raise APIError(400, f"prompt is {len(ids)} tokens long, more than this server's limit of {limits.max_prompt_tokens}",
                           "prompt", code="context_length_exceeded")
        return len(ids)

    def _surely_longer(self, prompt: str, limit: int) -> bool:
        """True once a prefix of ``prompt`` shows it holds more than ``limit`` tokens.

        Prefixes grow fourfold from ``limit + 2`` characters (at least that many tokens of character or
        byte text), so a megabyte prompt is refused after tokenizing a few times the limit's worth of text
        rather than all of it. A cut splits at most one token in two, hence ``limit + 1``. Unknown symbols
        are counted as the unknown token here (a word cut in half may be one); the real policy applies later.
        """
        tokenizer = self.model.tokenizer
        if not is_prefix_stable(getattr(tokenizer, "kind", "")):
            return False
        policy = "replace" if self.request.unknown == "error" else self.request.unknown
        size = limit + 2
        while size < len(prompt):
            if len(tokenizer.encode(prompt[:size], unknown=policy)) > limit + 1:
                return True
            size *= 4
        return False

    def _config(self, limits: ServerLimits) -> GenerationConfig:
        request = self.request
        max_tokens = limits.default_max_tokens if request.max_tokens is None else request.max_tokens
        if max_tokens > limits.max_tokens:
            raise APIError(400, f"max_tokens is {max_tokens}, more than this server's limit of {limits.max_tokens}", "max_tokens")
        if self.n > limits.max_n:
            raise APIError(400, f"n is {self.n}, more than this server's limit of {limits.max_n}", "n")
        if not self.prompts or len(self.prompts) > limits.max_prompts:
            raise APIError(400, f"prompt must be a string, a list of token ids, or a list of 1 to {limits.max_prompts} strings "
                           "or token-id lists", "prompt")
        if self.samples > limits.max_n:
            raise APIError(400, f"best_of is {self.samples}, more than this server's limit of {limits.max_n}", "best_of")
        if len(self.prompts) * self.samples > limits.max_choices:
            raise APIError(400, f"{len(self.prompts)} prompts x {'best_of' if self.samples > self.n else 'n'}={self.samples} is more "
                           f"than this server's limit of {limits.max_choices} choices per request",
                           "best_of" if self.samples > self.n else "n")
        if (request.num_beams or 1) > limits.max_n:
            raise APIError(400, f"num_beams is {request.num_beams}, more than this server's limit of {limits.max_n}", "num_beams")
        if len(request.stops) > limits.max_stop:
            raise APIError(400, f"stop holds {len(request.stops)} strings; at most {limits.max_stop} are allowed", "stop")
        values: dict[str, Any] = {CONFIG_NAMES[name]: getattr(request, name) for name in CONFIG_NAMES
                                  if getattr(request, name) is not None}
        values.update(max_tokens=max_tokens, num_samples=self.samples, stop=tuple(request.stops))
        for name in ("must_include", "bad_words"):
            words = [values[name]] if isinstance(values.get(name), str) else values.get(name) or []
            if len(words) > limits.max_stop:
                raise APIError(400, f"{name} holds {len(words)} words; at most {limits.max_stop} are allowed", name)
        try:
            config = GenerationConfig(**values)
            check_logit_bias(config.logit_bias, self.model.tokenizer.vocab_size)
            check_constraint(self.model.tokenizer, config)  # a pattern that cannot compile or be spelt: a 400 now
        except ConfigError as error:  # the error names its field; answer with the request's name for it
            raise APIError(400, str(error), REQUEST_NAMES.get(error.field, error.field)) from None
        if config.label is not None:
            try:
                label_id(self.model.tokenizer, config.label)
            except LabelError as error:  # unknown to this model: the message lists the labels it knows
                raise APIError(400, str(error), "label") from None
        return config

    # ----- generation ----------------------------------------------------------------------------
    @property
    def batched(self) -> bool:
        """Whether the batching engine runs this request: sampling, without a prompt to score (echo with logprobs)
        and with the served weights. Beam search, scored echoes and adapt_to run on a worker thread of their own."""
        return (self.config.num_beams == 1 and not (self.request.echo and self.logprobs is not None)
                and self.request.adapt_to is None)

    def groups(self) -> list[SampleGroup]:
        """One SampleGroup per prompt, for the engine (``batched`` requests)."""
        return [self.model.sample_group(prompt, self.config, unknown=self.request.unknown, logprobs=self.decode_logprobs)
                for prompt in self.prompts]

    def echoes(self) -> list[tuple[int, Echo]]:
        """The echoed prompts' records, sent before anything generated (``batched`` requests: nothing to score)."""
        return [(index, Echo(self._text(prompt))) for index, prompt in enumerate(self.prompts)] if self.request.echo else []

    def _text(self, prompt: str | list[int]) -> str:
        return prompt if isinstance(prompt, str) else self.model.tokenizer.decode(prompt)

    def runs(self, adapt: Callable[[str], tuple[LanguageModel, Adaptation]] | None = None) -> list:
        """One generation per prompt; each yields DecodeStep records (beam search: one BeamResult). With ``adapt_to``,
        ``adapt`` (``AdaptedModels.adapted``) gives the adapted model on the worker, and the first run yields its
        ``Adaptation`` record first."""
        if self.request.adapt_to is not None and adapt is None:
            raise ValueError("a request with adapt_to needs the server's adapted models (AdaptedModels.adapted)")
        return [partial(self._run, prompt, adapt, index == 0) for index, prompt in enumerate(self.prompts)]

    def _adapted(self, adapt: Callable[[str], tuple[LanguageModel, Adaptation]]) -> tuple[LanguageModel, Adaptation]:
        try:
            return adapt(self.request.adapt_to)
        except ValueError as error:  # a document of fewer than 2 tokens: known only once tokenized, here on the worker
            raise APIError(400, f"adapt_to: {error}", "adapt_to") from None

    def _run(self, prompt: str | list[int], adapt: Callable[[str], tuple[LanguageModel, Adaptation]] | None = None,
             first: bool = True) -> Iterator[Adaptation | Echo | DecodeStep | BeamResult]:
        model = self.model
        if adapt is not None and self.request.adapt_to is not None:  # read here, on the worker thread (kept for the next prompt)
            model, adaptation = self._adapted(adapt)
            if first:
                yield adaptation
        if self.request.echo:  # scored here, on the worker thread, not on the event loop
            scores = model.score(prompt, top=self.logprobs or 0, unknown=self.request.unknown) if self.logprobs is not None else []
            yield Echo(self._text(prompt), tuple(scores))
        if self.config.num_beams > 1:
            found = model.beam_search(prompt, self.config, unknown=self.request.unknown)
            missing = self.config.num_samples - len(found)  # fewer only if fewer distinct continuations exist
            yield BeamResult(tuple(h.text for h in found) + ("",) * missing, tuple(len(h.token_ids) for h in found) + (0,) * missing,
                             tuple(h.finish_reason for h in found) + (FINISH_LENGTH,) * missing)
            return
        yield from model.decode(prompt, self.config, unknown=self.request.unknown, logprobs=self.decode_logprobs)

    def add(self, steps: list[tuple[int, Echo | DecodeStep | BeamResult]]) -> dict[int, str]:
        """File new records; return the newly released text by choice index (choices with nothing new left out)."""
        new: dict[int, str] = {}
        for prompt_index, record in steps:
            if isinstance(record, Adaptation):
                self.adaptation = record
                continue
            for sample in range(self.samples):
                index = prompt_index * self.samples + sample
                choice = self.candidates[index]
                if isinstance(record, Echo):  # each choice starts with its prompt (the first token has no log-probability)
                    offset = 0
                    for token in record.scores:
                        choice.entries.append(_Token(token.text, token.logprob, token.top, offset))
                        offset += len(token.text)
                    text = record.text
                    choice.length += len(text)
                elif isinstance(record, BeamResult):
                    text, choice.tokens, choice.finish_reason = record.texts[sample], record.token_counts[sample], record.finish_reasons[sample]
                elif record.tokens[sample] is None:
                    continue  # this sample has finished
                else:
                    text = record.texts[sample]
                    choice.tokens += 1
                    choice.finish_reason = record.finish_reasons[sample] or choice.finish_reason
                    if record.logprobs is not None:
                        choice.logprob_total += record.logprobs[sample]
                        choice.entries.append(_Token(record.pieces[sample], record.logprobs[sample],
                                                     record.top_logprobs[sample] if record.top_logprobs else None, choice.length))
                    choice.length += len(record.pieces[sample])
                if text:
                    choice.text += text
                    new[index] = new.get(index, "") + text
        return new

    # ----- responses -----------------------------------------------------------------------------
    def finish_reason(self, index: int) -> str:
        return self.choices[index].finish_reason or FINISH_LENGTH  # max_tokens 0: nothing was generated

    def _decode_top(self, top: tuple[tuple[int, float], ...] | None) -> dict[str, float] | None:
        if top is None:
            return None
        return {self.model.tokenizer.token_text(token): _json_number(value) for token, value in top}

    def logprobs_of(self, index: int, final: bool) -> dict[str, Any] | None:
        """OpenAI's logprobs object for the entries not sent yet whose text is released (all that remain when final)."""
        if self.logprobs is None:
            return None
        choice = self.choices[index]
        released = len(choice.text)
        chosen = []
        for entry in choice.entries[choice.sent :]:
            visible = entry.offset < released if final else entry.offset + len(entry.text) <= released
            if not visible:
                break
            chosen.append(entry)
        if final:
            choice.sent = len(choice.entries)  # the rest made up a stop string: never shown
        else:
            choice.sent += len(chosen)
        return {"tokens": [e.text for e in chosen], "token_logprobs": [_json_number(e.logprob) for e in chosen],
                "top_logprobs": [self._decode_top(e.top) for e in chosen] if self.logprobs else None,
                "text_offset": [e.offset for e in chosen]}

    def usage(self) -> dict[str, int]:
        completion = sum(choice.tokens for choice in self.candidates)  # every best_of candidate counts
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion, "total_tokens": self.prompt_tokens + completion}


def _json_number(value: float | None) -> float | None:
    """JSON has no infinities: a token the model can never generate (log-probability -inf) is sent as null.

    It happens when ``echo`` scores a prompt whose unknown symbols ``unknown: "replace"`` turned into the
    unknown token, which the model never generates.
    """
    return value if value is None or math.isfinite(value) else None
