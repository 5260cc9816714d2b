"""Generation as an iterator of per-step records: prefill the prompt once, then one token per step.

``decode`` yields a ``DecodeStep`` per step for every sample together: the token each sample chose, the
text that token decodes to, the text released to the reader (stop strings are held back until they
prove not to be one, and cut off when they are), the log-probability of the token under the model and,
when asked, of the likeliest alternatives, and the finish reason on the step a sample finishes
("stop": it reached a stop string or, in document mode, the end of a document; "length": it used its whole
token budget). Everything else (the CLI's
printing, ``LanguageModel.stream``, the server's chunks, usage and ``logprobs``) reads these records.

Log-probabilities are those of the model's own next-token distribution over the tokens it can generate
(suppressed ids excluded, before the sampling processors), the distribution OpenAI's ``logprobs`` report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from ..config import GenerationConfig
from ..model import RecurrentLanguageModel
from ..tokenizers import Tokenizer, label_id
from .choosers import greedy, multinomial, multinomial_spans
from .constraints import build_constraint
from .healing import HealedDecoder, Healing, heal_prompt
from .processors import ROW_PROCESSORS, apply_processors, build_processors, needs_history
from .stepper import Stepper

FINISH_STOP = "stop"
FINISH_LENGTH = "length"


@dataclass(frozen=True)
class DecodeStep:
    """One step of every sample. A sample that has finished has token None, empty texts and no log-probability."""

    tokens: tuple[int | None, ...]  # the token each sample chose
    pieces: tuple[str, ...]  # the text each chosen token decodes to ("" while a multi-byte character is incomplete)
    texts: tuple[str, ...]  # the text released to the reader this step (after stop-string hold-back)
    logprobs: tuple[float | None, ...] | None  # log p(token) under the model, when asked
    top_logprobs: tuple[tuple[tuple[int, float], ...] | None, ...] | None  # the likeliest (id, log p), when asked
    finish_reasons: tuple[str | None, ...]  # set on the step a sample finishes
    logits: torch.Tensor | None = None  # [B, V] the model's logits the tokens were drawn from, when asked (a buffer)


HISTORY_START = 1024  # generated tokens the first history holds (then it doubles as needed)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def encode_prompt(tokenizer: Tokenizer, prompt: str, unknown: str = "error", label: str | None = None) -> list[int]:
    """Token ids of a prompt under the ``unknown`` policy (error, skip, replace).

    Generation needs at least one token to start from: an empty prompt starts from a line break, the
    start a fresh state knows best in text (every line of the corpus follows one). A model trained on
    documents reads every prompt after an end of document: it writes the beginning of a document. A
    ``label`` (a model trained on labelled documents, tokenizers.labels) is read between the two, as every
    document of its corpus was: [end of document, label, prompt...]; a label the model lacks is a LabelError.
    """
    if label is not None:
        start = [tokenizer.end_of_document, label_id(tokenizer, label)]
        return start + (tokenizer.encode(prompt, unknown=unknown).tolist() if prompt else [])
    if tokenizer.end_of_document is not None:
        return [tokenizer.end_of_document] + (tokenizer.encode(prompt, unknown=unknown).tolist() if prompt else [])
    if not prompt:
        ids = tokenizer.encode("\n", unknown="skip").tolist()
        if not ids:
            raise ValueError("this model's vocabulary has no line break to start an empty prompt from; give a prompt")
        return ids
    ids = tokenizer.encode(prompt, unknown=unknown).tolist()
    if not ids:
        raise ValueError("the prompt holds no known symbols once unknown ones are skipped")
    return ids


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _Texts:
    """The text of every sample, decoded incrementally, with stop strings applied.

    Only the text not yet released is kept (the tail that could still grow into a stop string): released
    text can never hold the start of a stop (that start would have been held back), so the search for stops
    reads the held-back tail and the new piece, and a generation of any length costs the same per token.
    """

    def __init__(self, tokenizer: Tokenizer, prompt_ids: Sequence[int], batch: int, stops: Sequence[str],
                 prompt_text: str | None = None, healing: Healing | None = None) -> None:
        self.decoders = [tokenizer.stream_decoder(prompt_ids, prompt_text) for _ in range(batch)]
        if healing is not None:  # the first token repeats the prompt's removed last token: left out of the text
            self.decoders = [HealedDecoder(decoder, healing.text) for decoder in self.decoders]
        self.end = tokenizer.end_of_document  # a sample stops at it (document mode); None otherwise
        self.stops = stops
        self.pending = [""] * batch  # text decoded but held back, per sample
        self.done = [False] * batch

    def add_all(self, tokens: list[int], last: bool) -> tuple[str, ...] | None:
        """Every sample's piece for its token, when nothing can end a sample early (no stop strings, no end of
        document: a sample's released text is its piece, and all finish together): one pass over the rows
        instead of a call and four appends per row. None where ``add`` is needed."""
        if self.stops or self.end is not None:
            return None
        pieces = tuple(decoder.feed(token) for decoder, token in zip(self.decoders, tokens))
        if last:
            self.done = [True] * len(self.done)
        return pieces

    def add(self, row: int, token: int, last: bool, complete: bool = False) -> tuple[str, str, str | None]:
        """Feed a sample's token: (its piece, the newly released text, the finish reason or None).

        At the end-of-document id (document mode) the sample stops, releasing any text held back; so it does where
        ``complete`` (its constraint's match can grow no longer).
        """
        if token == self.end:
            text, self.pending[row], self.done[row] = self.pending[row], "", True
            return "", text, FINISH_STOP
        piece = self.decoders[row].feed(token)
        if not self.stops:
            self.done[row] = last or complete
            return piece, piece, FINISH_STOP if complete else FINISH_LENGTH if last else None
        text = self.pending[row] + piece
        hits = [i for i in (text.find(stop) for stop in self.stops) if i >= 0]
        if hits:  # released up to the first stop string, which is cut off with everything after it
            released, kept, reason = text[: min(hits)], "", FINISH_STOP
        elif complete:  # the constraint's match is whole and can grow no longer
            released, kept, reason = text, "", FINISH_STOP
        elif last:  # the budget is spent: release what was held back for a stop string that never came
            released, kept, reason = text, "", FINISH_LENGTH
        else:
            held = _held_back(text, self.stops)
            released, kept, reason = text[: len(text) - held], text[len(text) - held :], None
        self.pending[row] = kept
        self.done[row] = reason is not None
        return piece, released, reason


class SampleGroup:
    """One prompt's samples as they are decoded: their processors, generator, history, token healing and texts.

    Whatever steps the model hands each step's logits to ``choose`` and gets the step's record from ``record``:

        group = SampleGroup(tokenizer, prompt_ids, config, generator)
        logits = stepper.prefill(group.prompt_ids, group.size)  # [n, V]
        while not group.done:
            tokens = group.choose(logits)                      # [n]: drawn by the group's own processors and generator
            record = group.record()                            # the DecodeStep of that choice
            logits = stepper.step(tokens)

    ``decode`` drives one group on its own stepper; the batching engine (``engine.py``) drives many groups on one
    stepper, each choosing from its own rows only, so a group draws the same tokens from the same logits
    whoever else is in the batch. ``choose`` does the tensor work (call it in inference mode); ``record`` only
    Python work. Finished samples keep their rows until the whole group is done (their tokens are ignored), so
    the group's draws never depend on when one of its samples stopped.

    The config's constraints (regex, line_starts, must_include, bad_words: ``constraints.py``) live here too: each
    sample's automaton state, the mask applied after token healing and before the processors, and the "stop" of a
    sample whose match can grow no longer.
    """

    def __init__(self, tokenizer: Tokenizer, prompt_ids: Sequence[int], config: GenerationConfig,
                 generator: torch.Generator | None = None, logprobs: int | None = None, keep_logits: bool = False,
                 prompt_text: str | None = None, device: torch.device | str = "cpu") -> None:
        if config.num_beams > 1:
            raise ValueError("decode samples; beam search (num_beams > 1) runs through lstmgen.decoding.beam_search")
        self.config = config
        self.size = config.num_samples  # streams (rows) this group needs
        self.generator = generator
        self.logprobs = logprobs
        self.keep_logits = keep_logits
        self.processors = build_processors(config)
        self.healing = None
        if config.token_healing:  # a subword prompt's last token taken back; the first step must extend it
            prompt_ids, self.healing = heal_prompt(tokenizer, prompt_ids)
        self.prompt_ids = list(prompt_ids)
        self.history = None
        if needs_history(self.processors):  # [n, capacity >= P + step], filled as tokens are chosen
            # Grown by doubling, not sized by max_tokens up front: a length of 10**9 must not allocate 8 GB at once.
            capacity = len(self.prompt_ids) + min(config.max_tokens, HISTORY_START)
            self.history = torch.empty(self.size, capacity, dtype=torch.long, device=device)
            self.history[:, : len(self.prompt_ids)] = torch.as_tensor(self.prompt_ids, dtype=torch.long)
        self.texts = _Texts(tokenizer, self.prompt_ids, self.size, config.stop, prompt_text, self.healing)
        self.constraint = build_constraint(tokenizer, config, self.size, self.prompt_ids, prompt_text, self.healing)
        self.steps = 0  # steps recorded
        self.done = config.max_tokens == 0
        # What ``choose`` found, for ``record``: plain Python values, read once the tensor work is done.
        self._chosen: list[int] = []
        self._chosen_logprobs: list[float] | None = None
        self._top: list | None = None
        self._logits: torch.Tensor | None = None
        self._batch_key = self._key()

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """This step's tokens [n] from the model's logits [n, V] for this group's rows (the logits are not changed)."""
        config, step, prompt_length = self.config, self.steps, len(self.prompt_ids)
        seen = None if self.history is None else self.history[:, : prompt_length + step]
        constrained = self.healing.constrain(logits) if self.healing is not None and not step else logits
        if self.constraint is not None:  # before the processors, so top-k/p and min-p choose among the allowed tokens
            constrained = self.constraint.mask(constrained, step, self.texts.done)
        processed = apply_processors(constrained.float(), self.processors, seen, prompt_length)
        tokens = greedy(processed) if config.greedy else multinomial(processed, self.generator)  # [n]
        self.take(tokens, logits, tokens.tolist())
        return tokens

    @property
    def batch_key(self) -> tuple | None:
        """Groups with equal keys may choose their tokens together (``choose_together``): the same processors, none
        of them reading the history, no constraint, no token healing left to apply, the same size and so the same
        draw (greedy, or ``multinomial``'s race or inverse CDF, picked by size). None: this group chooses alone."""
        return self._batch_key if self.steps or self.healing is None else None

    def _key(self) -> tuple | None:
        if self.constraint is not None or self.history is not None or not all(type(p) in ROW_PROCESSORS for p in self.processors):
            return None
        # The size decides the draw (multinomial's race or inverse CDF), so groups of one size draw alike.
        return (self.config.greedy, self.size, tuple((type(p), tuple(sorted(vars(p).items()))) for p in self.processors))

    def take(self, tokens: torch.Tensor, logits: torch.Tensor, chosen: list[int]) -> None:
        """What follows a draw: the history, log-probabilities and constraint state of ``tokens`` [n] (``chosen``:
        the same as Python ints) drawn from the model's ``logits`` [n, V]; ``record`` reads them."""
        config, step, prompt_length = self.config, self.steps, len(self.prompt_ids)
        if self.history is not None:
            history = self.history
            if prompt_length + step == history.shape[1]:
                grown = prompt_length + min(config.max_tokens, 2 * (history.shape[1] - prompt_length))
                self.history = history = torch.cat([history, history.new_empty(self.size, grown - history.shape[1])], dim=1)
            history[:, prompt_length + step] = tokens
        self._chosen_logprobs = self._top = None
        if self.logprobs is not None:
            log_p = torch.log_softmax(logits.double(), dim=-1)  # [n, V]: the model's distribution
            self._chosen_logprobs = log_p.gather(-1, tokens[:, None])[:, 0].tolist()
            if self.logprobs > 0:
                values, ids = log_p.topk(min(self.logprobs, log_p.shape[-1]), dim=-1)
                self._top = [tuple(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]
        self._chosen = chosen
        if self.constraint is not None:
            self.constraint.advance(self._chosen)
        self._logits = logits if self.keep_logits else None

    def record(self) -> DecodeStep:
        """The record of the step ``choose`` just drew: texts, stop strings, finish reasons; sets ``done``."""
        chosen, chosen_logprobs, top = self._chosen, self._chosen_logprobs, self._top
        self.steps += 1
        last = self.steps == self.config.max_tokens
        texts = self.texts
        # Samples whose constraint's match can grow no longer (None: none): they finish here, so each is fed alone.
        complete = None if self.constraint is None else self.constraint.finished(self.steps)
        together = texts.add_all(chosen, last) if complete is None and (self.constraint is None or not any(texts.done)) else None
        if together is not None:
            self.done = last
            return DecodeStep(tokens=tuple(chosen), pieces=together, texts=together,
                              logprobs=None if chosen_logprobs is None else tuple(chosen_logprobs),
                              top_logprobs=None if top is None else tuple(top),
                              finish_reasons=(FINISH_LENGTH if last else None,) * self.size, logits=self._logits)
        ids, pieces, released, reasons = [], [], [], []
        for row, token in enumerate(chosen):
            if texts.done[row]:
                ids.append(None), pieces.append(""), released.append(""), reasons.append(None)
                continue
            piece, text, reason = texts.add(row, token, last, complete is not None and complete[row])
            ids.append(token), pieces.append(piece), released.append(text), reasons.append(reason)
        finished_before = [token is None for token in ids]
        self.done = all(texts.done)
        return DecodeStep(
            tokens=tuple(ids), pieces=tuple(pieces), texts=tuple(released),
            logprobs=None if chosen_logprobs is None else tuple(None if f else v for f, v in zip(finished_before, chosen_logprobs)),
            top_logprobs=None if top is None else tuple(None if f else t for f, t in zip(finished_before, top)),
            finish_reasons=tuple(reasons), logits=self._logits,
        )


def choose_together(groups: Sequence[SampleGroup], logits: torch.Tensor) -> torch.Tensor:
    """Each group's tokens for this step, drawn together: ``logits`` [R, V] holds the groups' rows in order, and
    the groups share a ``batch_key`` (the same processors, no history, no constraint).

    One call of each processor, one softmax and one draw for every row (``multinomial_spans``: each group's
    random numbers from its own generator), then each group's own bookkeeping (``take``): a group gets the
    tokens its ``choose`` would have drawn from its rows alone, at a fraction of the cost of one call per group
    (the batching engine's 64 one-sample requests: most of a step's Python). Returns the tokens of every row [R].
    """
    first = groups[0]
    processed = apply_processors(logits.float(), first.processors)  # row-wise: a row's result ignores the others
    spans, start = [], 0
    for group in groups:
        spans.append((start, start + group.size, group.generator))
        start += group.size
    tokens = greedy(processed) if first.config.greedy else multinomial_spans(processed, spans)  # [R]
    chosen = tokens.tolist()
    for group, (start, end, _) in zip(groups, spans):
        if group.logprobs is not None or group.keep_logits:
            group.take(tokens[start:end], logits[start:end], chosen[start:end])
        else:  # nothing of theirs reads the tensors (no history here): no slices to make
            group.take(tokens, logits, chosen[start:end])
    return tokens


def decode(
    model: RecurrentLanguageModel,
    tokenizer: Tokenizer,
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    generator: torch.Generator | None = None,
    logprobs: int | None = None,
    keep_logits: bool = False,
    fast: bool | None = None,
    prompt_text: str | None = None,
) -> Iterator[DecodeStep]:
    """Sample ``config.num_samples`` continuations of a non-empty prompt together, one record per step.

    ``logprobs`` None computes no log-probabilities; 0 the chosen tokens'; k > 0 also the k likeliest
    tokens'. ``keep_logits`` adds the logits each step drew from (the temperature sweep's entropy).
    ``fast`` picks the stepping path (None: the hand-stepped LSTM for LSTM models); both draw the same tokens.
    The weights each step reads are those of ``model`` (a reduced precision: ``projections.at_decoding_precision``).
    ``prompt_text``, the text the prompt's ids came from, where known, lets a word tokenizer add no space
    after a prompt that ends in one.
    """
    stepper = Stepper(model, tokenizer.never_generated, fast)
    group = SampleGroup(tokenizer, prompt_ids, config, generator, logprobs, keep_logits, prompt_text, stepper.device)
    if group.done:
        return
    logits = stepper.prefill(group.prompt_ids, group.size)  # [n, V]
    tokens = None  # the previous step's choice, fed at the start of the next step
    while True:
        with stepper.inference:  # entered once per step, and left before the record goes to the caller
            if tokens is not None:
                logits = stepper.step(tokens)  # [n] -> [n, V]
            tokens = group.choose(logits)
        yield group.record()
        if group.done:
            return
