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
from .choosers import greedy, multinomial
from .healing import HealedDecoder, Healing, heal_prompt
from .processors import apply_processors, build_processors, needs_history
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

    def add(self, row: int, token: int, last: bool) -> tuple[str, str, str | None]:
        """Feed a sample's token: (its piece, the newly released text, the finish reason or None).

        At the end-of-document id (document mode) the sample stops, releasing any text held back.
        """
        if token == self.end:
            text, self.pending[row], self.done[row] = self.pending[row], "", True
            return "", text, FINISH_STOP
        piece = self.decoders[row].feed(token)
        if not self.stops:
            self.done[row] = last
            return piece, piece, FINISH_LENGTH if last else None
        text = self.pending[row] + piece
        hits = [i for i in (text.find(stop) for stop in self.stops) if i >= 0]
        if hits:  # released up to the first stop string, which is cut off with everything after it
            released, kept, reason = text[: min(hits)], "", FINISH_STOP
        elif last:  # the budget is spent: release what was held back for a stop string that never came
            released, kept, reason = text, "", FINISH_LENGTH
        else:
            held = _held_back(text, self.stops)
            released, kept, reason = text[: len(text) - held], text[len(text) - held :], None
        self.pending[row] = kept
        self.done[row] = reason is not None
        return piece, released, reason


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
    if config.num_beams > 1:
        raise ValueError("decode samples; beam search (num_beams > 1) runs through lstmgen.decoding.beam_search")
    batch = config.num_samples
    if config.max_tokens == 0:
        return
    stepper = Stepper(model, tokenizer.never_generated, fast)
    processors = build_processors(config)
    healing = None
    if config.token_healing:  # a subword prompt's last token taken back; the first step must extend it
        prompt_ids, healing = heal_prompt(tokenizer, prompt_ids)
    logits = stepper.prefill(prompt_ids, batch)  # [B, V]
    history = None
    if needs_history(processors):  # [B, capacity >= P + step], filled as tokens are chosen
        # Grown by doubling, not sized by max_tokens up front: a length of 10**9 must not allocate 8 GB at once.
        capacity = len(prompt_ids) + min(config.max_tokens, HISTORY_START)
        history = torch.empty(batch, capacity, dtype=torch.long, device=stepper.device)
        history[:, : len(prompt_ids)] = torch.as_tensor(list(prompt_ids), dtype=torch.long)
    texts = _Texts(tokenizer, prompt_ids, batch, config.stop, prompt_text, healing)
    tokens = torch.empty(0, dtype=torch.long)  # the previous step's choice, fed at the start of the next step
    for step in range(config.max_tokens):
        with stepper.inference:  # entered once per step, and left before the record goes to the caller
            if step:
                logits = stepper.step(tokens)  # [B] -> [B, V]
            seen = None if history is None else history[:, : len(prompt_ids) + step]
            constrained = healing.constrain(logits) if healing is not None and not step else logits
            processed = apply_processors(constrained.float(), processors, seen)
            tokens = greedy(processed) if config.greedy else multinomial(processed, generator)  # [B]
            if history is not None:
                if len(prompt_ids) + step == history.shape[1]:
                    grown = len(prompt_ids) + min(config.max_tokens, 2 * (history.shape[1] - len(prompt_ids)))
                    history = torch.cat([history, history.new_empty(batch, grown - history.shape[1])], dim=1)
                history[:, len(prompt_ids) + step] = tokens
            chosen_logprobs = top = None
            if logprobs is not None:
                log_p = torch.log_softmax(logits.double(), dim=-1)  # [B, V]: the model's distribution
                chosen_logprobs = log_p.gather(-1, tokens[:, None])[:, 0].tolist()
                if logprobs > 0:
                    values, ids = log_p.topk(min(logprobs, log_p.shape[-1]), dim=-1)
                    top = [tuple(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]
            chosen = tokens.tolist()
        last = step + 1 == config.max_tokens
        together = texts.add_all(chosen, last)
        if together is not None:
            yield DecodeStep(tokens=tuple(chosen), pieces=together, texts=together,
                             logprobs=None if chosen_logprobs is None else tuple(chosen_logprobs),
                             top_logprobs=None if top is None else tuple(top),
                             finish_reasons=(FINISH_LENGTH if last else None,) * batch, logits=logits if keep_logits else None)
            continue
        ids, pieces, released, reasons = [], [], [], []
        for row, token in enumerate(chosen):
            if texts.done[row]:
                ids.append(None), pieces.append(""), released.append(""), reasons.append(None)
                continue
            piece, text, reason = texts.add(row, token, last)
            ids.append(token), pieces.append(piece), released.append(text), reasons.append(reason)
        finished_before = [token is None for token in ids]
        yield DecodeStep(
            tokens=tuple(ids), pieces=tuple(pieces), texts=tuple(released),
            logprobs=None if chosen_logprobs is None else tuple(None if f else v for f, v in zip(finished_before, chosen_logprobs)),
            top_logprobs=None if top is None else tuple(None if f else t for f, t in zip(finished_before, top)),
            finish_reasons=tuple(reasons), logits=logits if keep_logits else None,
        )
        if all(texts.done):
            return
