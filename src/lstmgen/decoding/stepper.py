"""The one place a model is stepped token by token: prefill a prompt once, then one recurrent step per token.

    stepper = Stepper(model, suppress=tokenizer.never_generated)
    logits = stepper.prefill(prompt_ids, batch_size=4)   # [4, V]: the prompt once, its state copied to 4 streams
    logits = stepper.step(tokens)                         # tokens [4] -> logits [4, V] for the next token

Generation, beam search, next-token candidates, the temperature sweep's scoring, the server and SeqGAN's
sampling and rollouts all run on it. It owns what stepping needs:

* **the path**: LSTM models step through ``FastLSTMDecoder`` and Mogrifier LSTM models through
  ``FastMogrifierDecoder`` (hand-stepped, preallocated, fused: ``FAST_DECODERS``); other cells through
  ``model.forward`` one token at a time. Both give the same logits to float rounding, so
  a seeded sampler draws the same tokens through either (tested);
* **the mode**: every call runs in torch's inference mode (no autograd bookkeeping: a third of the cost of
  a one-token step of a small LSTM), the model in eval mode (no dropout) and without oneDNN (its one-token
  LSTM calls cost milliseconds on a CPU; a prompt of many tokens is read with it, at 2-3x the plain kernel's
  speed), and restores all of it afterwards, so a generation suspended
  between tokens leaves nothing switched for its caller. The logits and states it returns are inference
  tensors: read them or copy them; tokens drawn from them are ordinary tensors SeqGAN can train on;
* **the precision** of the weights each step reads (``lstmgen.decoding.projections``: fp32, fp16, bf16, int8). At
  fp32 the prompt is read by ``model.forward``; at a reduced precision it is stepped token by token through
  the same reduced weights as the generated tokens (faster, and one set of weights for the whole
  generation), except when ``observe`` scores it (``model.forward``, fp32);
* **suppressed ids** (``SuppressTokens``, e.g. the unknown symbol): -inf in every logits row it returns
  (for the LSTM path a -inf output bias, free per step);
* **streams**: ``prefill`` copies one prompt's state to every stream or reads one prompt per stream;
  ``append`` adds streams after the current ones (the batching engine); ``step`` may feed fewer streams
  than it holds (the leading ones continue, the rest are dropped);
  ``select`` reorders or repeats them (beam search); ``state``/``load_state`` read and seed the carried
  state (rollouts continue from the state after a prefix).

The logits returned by ``step`` may be a buffer the next step overwrites: copy them to keep them.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator, Sequence

import torch

from ..model import RecurrentLanguageModel, State, device_of
from .fast_lstm import FastLSTMDecoder, LSTMStreams, supports_fast_decoding
from .fast_mogrifier import FastMogrifierDecoder, supports_mogrifier_decoding
from .processors import SuppressTokens
from .projections import PrecisionError, decoding_precision

# The hand-stepped decoders: (whether it steps a model, the decoder). A model none of them steps decodes through
# model.forward.
FAST_DECODERS: tuple[tuple[Callable[[torch.nn.Module], bool], type[LSTMStreams]], ...] = (
    (supports_fast_decoding, FastLSTMDecoder), (supports_mogrifier_decoding, FastMogrifierDecoder))


def fast_decoder(model: torch.nn.Module) -> type[LSTMStreams] | None:
    """The hand-stepped decoder class for ``model``, or None when it decodes through ``model.forward``."""
    return next((decoder for supports, decoder in FAST_DECODERS if supports(model)), None)


def has_fast_path(model: torch.nn.Module) -> bool:
    """Whether ``model`` decodes through a hand-stepped decoder (and so at a reduced precision too)."""
    return fast_decoder(model) is not None


PREFILL_CHUNK = 1024  # prompt tokens per model.forward call: bounds the prefill logits [B, C, V]
PREFILL_LOGITS = 1 << 22  # and at most this many logits per call (16 MiB of float32), whatever the vocabulary


def prefill_chunk(rows: int, vocab_size: int) -> int:
    """Prompt tokens per forward call: PREFILL_CHUNK, fewer for large vocabularies (a 10 MB prompt on a word model
    would otherwise build [1, 1024, 50,000] logits per call; prefill keeps only the last position's)."""
    return max(1, min(PREFILL_CHUNK, PREFILL_LOGITS // max(1, rows * vocab_size)))

# Prefill sees each chunk's logits [B, C, V] (suppressed ids at -inf) and the offset of its first position.
LogitsObserver = Callable[[torch.Tensor, int], None]


@contextlib.contextmanager
def without_onednn() -> Iterator[None]:
    """oneDNN off inside: its one-token LSTM calls cost milliseconds each on a CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's flag setter warns about Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@contextlib.contextmanager
def with_onednn(enabled: bool) -> Iterator[None]:
    """oneDNN back on inside when ``enabled``: a prompt of many tokens reads at 2-3x the plain kernel's speed through
    it (2,000 tokens of a 2x512 LSTM: 221 against 572 ms on two threads, docs/benchmarks.md), where one token pays
    its set-up."""
    if not enabled:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=True):
            yield


@contextlib.contextmanager
def stepping_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode, inference mode, no oneDNN; the model's previous mode is restored however the call ends."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), without_onednn():
            yield
    finally:
        model.train(was_training)


class Stepper:
    """Steps one model for a batch of streams, one token per stream per call; see the module docstring."""

    def __init__(self, model: RecurrentLanguageModel, suppress: Sequence[int] = (), fast: bool | None = None) -> None:
        self.model = model
        self.device = device_of(model)
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        self.suppress = SuppressTokens(suppress, vocab)
        self._decoder_class = fast_decoder(model)
        self.fast = self._decoder_class is not None if fast is None else bool(fast)
        if self.fast and self._decoder_class is None:
            raise ValueError("the hand-stepped path steps LSTM and Mogrifier LSTM models only; use fast=False (model.forward)")
        precision = decoding_precision(model)  # the weights' precision, chosen once (projections.at_decoding_precision)
        if precision != "fp32":
            if not self.fast:
                raise PrecisionError(f"{precision} decoding steps LSTM and Mogrifier LSTM models through the hand-stepped path; "
                                     "this model decodes through model.forward: use fp32")
        self.precision = precision
        self.batch_size = 0
        self._state: State | None = None  # the reference path's state, or the fast path's until its decoder exists
        self._decoder: LSTMStreams | None = None
        # One reusable inference-mode context for this stepper (one generation, one thread): a loop that steps
        # once per token enters it once per step (``with stepper.inference:``) around the step and the choice of
        # the next token, and leaves it before handing anything to its caller.
        self.inference = torch.inference_mode()

    # ----- the prompt --------------------------------------------------------------------------------
    def prefill(self, ids: Sequence[int] | torch.Tensor, batch_size: int = 1, state: State | None = None,
                observe: LogitsObserver | None = None) -> torch.Tensor:
        """Read a prompt once and return the next-token logits of every stream, [batch_size, V].

        ``ids`` is one prompt [P] (its state is copied to ``batch_size`` streams) or one per stream [B, P].
        ``state`` continues from a carried state instead of the fresh one. ``observe`` sees the logits of
        every prompt position, chunk by chunk (for scoring a text without holding [P, V] at once).
        """
        tokens = torch.as_tensor(ids, dtype=torch.long, device=self.device)
        if tokens.ndim == 1:
            tokens = tokens[None]  # [1, P]
        if tokens.ndim != 2 or tokens.shape[1] == 0:
            raise ValueError("generation needs a prompt of at least one token")
        rows = tokens.shape[0]
        if rows != 1 and rows != batch_size:
            raise ValueError(f"{rows} prompts for {batch_size} streams: give one prompt, or one per stream")
        if self.fast and self.precision != "fp32" and observe is None:
            return self._prefill_stepped(tokens, batch_size, state)
        with stepping_mode(self.model), with_onednn(tokens.shape[1] > 1):
            state = state if state is not None else self.model.init_state(rows, self.device)
            # Anything with the model contract may be stepped; only a model that says its vocabulary size gets smaller chunks.
            chunk = prefill_chunk(rows, getattr(getattr(self.model, "config", None), "vocab_size", 1))
            for start in range(0, tokens.shape[1], chunk):
                logits, state = self.model(tokens[:, start : start + chunk], state)  # [rows, C, V]
                if observe is not None:
                    observe(self._suppressed(logits), start)
            last = logits[:, -1]  # [rows, V]
            if rows != batch_size:  # one prompt for every stream: the same start for each
                state = tuple(s.expand(-1, batch_size, -1).contiguous() for s in state)
                last = last.expand(batch_size, -1)
        self.load_state(state)
        return self._suppressed(last)

    def _prefill_stepped(self, tokens: torch.Tensor, batch_size: int, state: State | None) -> torch.Tensor:
        """The prompt [rows, P] stepped token by token through the reduced-precision weights.

        A prompt's recurrence is sequential whatever reads it, so ``model.forward`` reads every recurrent
        weight once per prompt token as the decoder does, but in fp32: at reduced precision the decoder
        is faster (int8 reads a quarter of the bytes), and the whole generation then runs on one set of
        weights, so the state a step continues from is the one those weights would have carried.
        """
        rows = tokens.shape[0]
        with stepping_mode(self.model):
            self.load_state(state if state is not None else self.model.init_state(rows, self.device))
            for position in range(tokens.shape[1] - 1):  # the state only: no logits before the last position
                self.step(tokens[:, position], logits=False)
            last = self.step(tokens[:, -1]).clone()  # [rows, V] (the step's is a buffer of this decoder)
            if rows != batch_size:  # one prompt for every stream: the same start for each
                self.load_state(tuple(s.expand(-1, batch_size, -1).contiguous() for s in self.state()))
                last = last.expand(batch_size, -1)
        return last  # suppressed ids are already -inf (the decoder's output bias)

    # ----- one token per stream ----------------------------------------------------------------------
    def step(self, tokens: torch.Tensor, logits: bool = True) -> torch.Tensor | None:
        """Feed tokens [n] to the leading n streams (the others are dropped) -> next-token logits [n, V].

        ``logits=False`` asks only for the new state: the hand-stepped path then skips the output layer and
        returns None (the reference path computes the logits anyway and returns them)."""
        n = tokens.shape[0]
        if n > self.batch_size:
            raise ValueError(f"{n} tokens for {self.batch_size} streams: a step feeds at most one token per stream")
        self.batch_size = n
        if self.fast:
            if self._decoder is not None and torch.is_inference_mode_enabled():  # the per-token loop: nothing else to do
                return self._decoder.step(tokens, logits)  # suppressed ids already -inf (output bias)
            with torch.inference_mode():  # the decoder's buffers are inference tensors: made and changed only here
                if self._decoder is None:  # built at the first step, so it never delays the first token
                    self._decoder = self._decoder_class(self.model, self._state[0].shape[1], banned=self.suppress.ids)
                    self._decoder.load_state(self._state)
                    self._state = None
                return self._decoder.step(tokens, logits)
        state = self._state if n == self._state[0].shape[1] else tuple(s[:, :n] for s in self._state)
        with stepping_mode(self.model):
            logits, self._state = self.model(tokens[:, None], state)  # one step: [n, 1] -> [n, 1, V]
        return self._suppressed(logits[:, -1])

    def select(self, rows: torch.Tensor) -> None:
        """Keep the streams ``rows`` [k] (reordered, repeated or dropped) as the leading k streams."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        if self._decoder is not None:
            with torch.inference_mode():
                self._decoder.select(rows)
        else:
            self._state = tuple(s.index_select(1, rows) for s in self._state)
        self.batch_size = len(rows)

    def append(self, state: State, capacity: int = 0) -> int:
        """Add streams continuing from ``state`` (a tuple of [L, k, H] tensors) after the current ones -> the first new row.

        The batching engine's way in: the streams already stepping keep their rows. ``capacity`` is the most
        streams the hand-stepped decoder should hold without being rebuilt (its buffers are allocated once).
        """
        added = state[0].shape[1]
        if not self.fast:
            old = self.state() if self._state is not None and self.batch_size else None
            self._state = tuple(s.detach() for s in state) if old is None else tuple(
                torch.cat([o, s.detach()], dim=1) for o, s in zip(old, state))
            start, self.batch_size = self.batch_size, self.batch_size + added
            return start
        with torch.inference_mode():
            decoder = self._decoder
            if decoder is None or decoder.batch_size < self.batch_size + added:
                kept = (decoder.state() if decoder is not None else self._state) if self.batch_size else None
                self._state = None
                size = max(capacity, self.batch_size + added, 2 * decoder.batch_size if decoder is not None else 0)
                decoder = self._decoder = self._decoder_class(self.model, size, banned=self.suppress.ids)
                decoder.rows = 0
                if kept is not None:
                    decoder.append(kept)
            decoder.rows = self.batch_size
            start = decoder.append(state)
        self.batch_size += added
        return start

    @property
    def capacity(self) -> int:
        """Streams the hand-stepped decoder holds without being rebuilt (0: none built)."""
        return self._decoder.batch_size if self._decoder is not None else 0

    def shrink(self) -> None:
        """Let the hand-stepped decoder go, keeping the streams' state: the next step builds one of their size.

        A decoder far larger than its streams steps them slower (one stream of a 2x512 model on one thread:
        about 300 us in a decoder of 1-4 rows, 380 us in one of 256), so the batching engine shrinks it when a
        crowd has left."""
        if self._decoder is not None:
            with torch.inference_mode():
                self._state = self._decoder.state() if self.batch_size else None
            self._decoder = None

    def state(self) -> State:
        """The carried state of the current streams, a tuple of [L, n, H] tensors (copies for the fast path)."""
        if self._decoder is not None:
            with torch.inference_mode():
                return self._decoder.state()
        return tuple(s[:, : self.batch_size] for s in self._state)

    def load_state(self, state: State) -> None:
        """Continue from ``state`` (a tuple of [L, n, H] tensors): n streams, as after a prefill."""
        rows = state[0].shape[1]
        if self._decoder is not None and rows <= self._decoder.batch_size:
            with torch.inference_mode():
                self._decoder.load_state(state)
        else:
            self._decoder = None  # (re)built at the next step for this many streams
            self._state = tuple(s.detach() for s in state)
        self.batch_size = rows

    def _suppressed(self, logits: torch.Tensor) -> torch.Tensor:
        return self.suppress(logits) if self.suppress else logits
