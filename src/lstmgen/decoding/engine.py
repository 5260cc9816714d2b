"""The batching engine: many prompts' samples stepped together, joining and leaving at token boundaries.

    engine = BatchEngine(lm.decoding_model, lm.tokenizer, max_streams=256)
    ticket = engine.add(group, emit=records.append)   # group: a SampleGroup (one prompt, n samples, its settings)
    while engine.busy:
        engine.run_once()                              # one token for every live stream; prompts read between steps

An LSTM's whole context per stream is its state, two [L, H] tensors, so 64 streams cost little more per step
than one (the step reads every weight once whatever the batch: on 2 cores a 2x512 model steps 1 stream in
0.37 ms and 64 in 3.5 ms). This is continuous batching as vLLM and TGI do it for transformers, without a KV
cache to page. Each ``run_once``:

1. **steps** every live stream at once through one ``Stepper`` (the hand-stepped LSTM for LSTM models, at the
   model's decoding precision): the tokens chosen last time [B] -> logits [B, V];
2. **chooses**: each group draws from its own rows only, with its own processors, generator, stop strings,
   healing and log-probabilities (``SampleGroup.choose``), and its record goes to its ``emit``;
3. **reads prompts**: a short prompt (``SHORT_PROMPT`` tokens at most, what chat turns and completions mostly
   send) joins at once, from a fresh state, and is read *in the batch*: its rows are fed its prompt's tokens,
   one per step, beside everyone's generated ones, and draw their first token from the step that read the
   last. A row more in the step costs almost nothing, where reading it apart cost a step of its own per token
   (a one-row step reads every weight as a 64-row one does: with 64 clients those steps took a tenth of the
   engine's time). Longer prompts are read in slices of ``PREFILL_SLICE`` tokens through ``model.forward``,
   at most ``prefill_tokens`` tokens per call, so a long prompt cannot stall the streams already generating;
   such a group joins when its prompt is read (its state goes into the rows after the live ones) and draws
   its first token at once, so it steps with everyone at the next call;
4. **lets go**: groups that finished, or whose ticket was cancelled, leave; the rows behind them move up.

Exactness: a group's draws depend only on its own rows' logits, and a long prompt is always cut into the same
slices, so a seeded request gets the same tokens alone or among others, as far as the matrix library computes
a row the same whatever the number of rows beside it. Intel's MKL does for 16 rows or more but not below (a
lone stream runs a matrix-vector product, which sums in another order), so a seeded request alone and under
load agree to float rounding (1e-7 of a logit), which changes a drawn token only where two candidates tie to
that precision (tested: the same texts for 64 seeded requests alone and together).

Long prompts are read with the full-precision weights (``model.forward``) whatever the decoding precision;
short ones, and the generated tokens, step through the decoding precision's. Beam search keeps its own path (``beam_search``): its
beams reorder rows every step.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..model import RecurrentLanguageModel, State
from ..tokenizers import Tokenizer
from .generation import DecodeStep, SampleGroup, choose_together
from .stepper import Stepper

SHORT_PROMPT = 16  # prompts of at most this many tokens join at once and are read in the batch, a token per step
PREFILL_SLICE = 64  # prompt tokens per model.forward call: a slice is always cut at the same places (exactness)
PREFILL_TOKENS = 128  # prompt tokens read per run_once at most (a 2x512 model reads 64 in about 9 ms on 2 cores)
MAX_STREAMS = 256  # rows stepped together at most
FEW_ROWS = 4  # down to this many live streams, a decoder built for more is rebuilt for them (Stepper.shrink)


@dataclass(eq=False)
class Ticket:
    """One group in the engine: waiting for its prompt to be read, then live until it finishes or is cancelled.

    ``emit`` gets each step's ``DecodeStep``; ``finish`` is called once at the end with None, or with the error
    that stopped this group (the other groups go on). Both run on the engine's thread. ``cancel`` may be called
    from any thread: the group leaves at the next step.
    """

    group: SampleGroup
    emit: Callable[[DecodeStep], None]
    finish: Callable[[BaseException | None], None] | None = None
    cancelled: bool = False
    prompt: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))  # [P]
    position: int = 0  # prompt tokens read so far (a short prompt: fed to the batch so far)
    state: State | None = None  # the state after the tokens read so far, [L, 1, H] each
    start: int = 0  # its first row while live
    error: BaseException | None = None  # what stopped it, when something did
    ended: bool = False  # finish has been called

    def cancel(self) -> None:
        self.cancelled = True


class BatchEngine:
    """Steps the samples of many prompts together; see the module docstring. Not thread-safe: one thread drives it."""

    def __init__(self, model: RecurrentLanguageModel, tokenizer: Tokenizer, max_streams: int = MAX_STREAMS,
                 prefill_tokens: int = PREFILL_TOKENS, fast: bool | None = None) -> None:
        if max_streams < 1 or prefill_tokens < 1:
            raise ValueError(f"max_streams and prefill_tokens must be at least 1, got {max_streams} and {prefill_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_streams = max_streams
        self.prefill_tokens = prefill_tokens
        self.stepper = Stepper(model, tokenizer.never_generated, fast)
        self.device = self.stepper.device
        self.waiting: collections.deque[Ticket] = collections.deque()  # first come, first joined
        self.live: list[Ticket] = []  # in row order
        self.rows = 0  # live streams: the stepper's leading rows
        self.fed = torch.empty(0, dtype=torch.long, device=self.device)  # [rows]: each row's token for the next step
        self.counts = {"steps": 0, "tokens": 0, "prompt_tokens": 0, "joined": 0, "finished": 0, "cancelled": 0, "failed": 0}
        self._step_times: collections.deque[float] = collections.deque(maxlen=256)  # monotonic times of recent steps

    # ----- what the engine holds ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self.live or self.waiting)

    def add(self, group: SampleGroup, emit: Callable[[DecodeStep], None],
            finish: Callable[[BaseException | None], None] | None = None) -> Ticket:
        """Queue a group; its prompt is read and its streams join at the next ``run_once`` calls."""
        if group.size > self.max_streams:
            raise ValueError(f"{group.size} samples do not fit an engine of {self.max_streams} streams")
        ticket = Ticket(group, emit, finish, prompt=torch.as_tensor(group.prompt_ids, dtype=torch.long, device=self.device))
        if not len(ticket.prompt):
            raise ValueError("generation needs a prompt of at least one token")
        if group.done:  # max_tokens 0: nothing to generate
            self._end(ticket, None)
            return ticket
        self.waiting.append(ticket)
        return ticket

    def steps_per_second(self) -> float:
        """Steps in the last second (0 when idle)."""
        now = time.monotonic()
        return float(sum(1 for t in list(self._step_times) if now - t <= 1.0))  # a copy: the engine's thread appends

    def stats(self) -> dict[str, float | int]:
        return {"live_streams": self.rows, "live_groups": len(self.live), "waiting_groups": len(self.waiting),
                "max_streams": self.max_streams, "steps_per_second": self.steps_per_second(), **self.counts}

    # ----- one token for every live stream ------------------------------------------------------------
    def run_once(self) -> None:
        """Step every live stream once, read some of the waiting prompts, let finished groups go."""
        with torch.inference_mode():
            if self.live:
                logits = self.stepper.step(self.fed)  # [B] -> [B, V] (a buffer the next step overwrites)
                self.counts["steps"] += 1
                self.counts["tokens"] += self.rows
                self._step_times.append(time.monotonic())
                self._choose_all(logits)
            self._read_prompts()
            self._let_go()

    def _choose_all(self, logits: torch.Tensor) -> None:
        """Every live group's tokens from logits [B, V]: groups with the same ``batch_key`` together (one processor
        call and one draw for all their rows), the others one by one."""
        together: dict[tuple, list[Ticket]] = {}
        for ticket in self.live:
            if ticket.cancelled or ticket.error is not None:
                continue
            if ticket.position < len(ticket.prompt):  # still reading its prompt in the batch: feed the next token
                self.fed[ticket.start : ticket.start + ticket.group.size] = ticket.prompt[ticket.position]
                ticket.position += 1
                continue
            key = ticket.group.batch_key
            if key is None:
                self._choose_one(ticket, logits)
            else:
                together.setdefault(key, []).append(ticket)
        for tickets in together.values():
            if len(tickets) == 1:
                self._choose_one(tickets[0], logits)
                continue
            rows = sum(ticket.group.size for ticket in tickets)
            index = None
            if rows == self.rows:  # every live row, in order (the usual case: one kind of request)
                mine = logits
            else:
                index = torch.tensor([row for ticket in tickets for row in range(ticket.start, ticket.start + ticket.group.size)],
                                     device=logits.device)
                mine = logits.index_select(0, index)  # [rows, V]
            try:
                tokens = choose_together([ticket.group for ticket in tickets], mine)  # [rows]
            except Exception:  # a NaN row (a broken model): one by one, so only the groups with NaN rows fail (the
                # others' generators have moved on, so they draw other tokens than alone: only after such a failure)
                for ticket in tickets:
                    self._choose_one(ticket, logits)
                continue
            if index is None:
                self.fed = tokens
            else:
                self.fed.index_copy_(0, index, tokens)
            for ticket in tickets:
                self._emit(ticket)

    def _choose_one(self, ticket: Ticket, logits: torch.Tensor) -> None:
        """A group's tokens from its own rows of logits [B, V], chosen alone."""
        tokens = self._choose(ticket, logits[ticket.start : ticket.start + ticket.group.size])
        if tokens is not None:
            self.fed[ticket.start : ticket.start + ticket.group.size] = tokens

    def _choose(self, ticket: Ticket, logits: torch.Tensor) -> torch.Tensor | None:
        """The group's tokens [n] from its logits [n, V], its record emitted; None when it failed (it leaves)."""
        try:
            tokens = ticket.group.choose(logits)
        except Exception as error:  # this group fails alone (a NaN row); the others go on
            ticket.error = error  # it leaves with the finished ones
            return None
        self._emit(ticket)
        return tokens

    def _emit(self, ticket: Ticket) -> None:
        """Hand the step's record to the group's reader."""
        try:
            ticket.emit(ticket.group.record())
        except Exception as error:  # a failing emit: this group fails alone
            ticket.error = error

    def _read_prompts(self) -> None:
        """Read up to ``prefill_tokens`` prompt tokens of the waiting groups, first come first; join those done."""
        budget = self.prefill_tokens
        while self.waiting and budget > 0:
            ticket = self.waiting[0]
            if ticket.cancelled:
                self.waiting.popleft()
                self._end(ticket, None)
                continue
            if self.rows + ticket.group.size > self.max_streams:
                break  # the first in line waits for rows; the ones behind it wait their turn
            if len(ticket.prompt) <= SHORT_PROMPT:
                self.waiting.popleft()
                self._join_reading(ticket)
                continue
            end = min(len(ticket.prompt), ticket.position + PREFILL_SLICE)
            try:
                logits = self._read_slice(ticket, end)
            except Exception as error:
                self.waiting.popleft()
                self._end(ticket, error)
                continue
            budget -= end - ticket.position
            self.counts["prompt_tokens"] += end - ticket.position
            ticket.position = end
            if end == len(ticket.prompt):
                self.waiting.popleft()
                self._join(ticket, logits)

    def _join_reading(self, ticket: Ticket) -> None:
        """A short prompt's group joins from a fresh state, its rows fed the prompt's first token at the next step
        (and the rest one per step after it, in ``_choose_all``): it draws its first tokens from the step that
        reads the prompt's last."""
        size = ticket.group.size
        try:
            state = self.model.init_state(size, self.device)  # [L, n, H]
        except Exception as error:  # a broken model: this request fails, the live ones go on
            self._end(ticket, error)
            return
        self._admit(ticket, state)
        self.counts["prompt_tokens"] += len(ticket.prompt)
        ticket.position = 1
        self.fed = torch.cat([self.fed, ticket.prompt[:1].expand(size)])

    def _read_slice(self, ticket: Ticket, end: int) -> torch.Tensor:
        """Read the prompt from ``ticket.position`` to ``end``: the next-token logits [1, V] at its last position."""
        # oneDNN stays as it is here (on by default): it reads a slice of tokens at about twice the plain kernel's speed.
        logits, ticket.state = self.model(ticket.prompt[None, ticket.position : end], ticket.state)  # [1, S, V]
        return logits[:, -1]

    def _join(self, ticket: Ticket, logits: torch.Tensor) -> None:
        """Give the group its rows (after the live ones) and draw its first tokens from the prompt's logits."""
        size = ticket.group.size
        state = tuple(s.expand(-1, size, -1).contiguous() for s in ticket.state)  # [L, n, H]: one start per sample
        ticket.state = None
        self._admit(ticket, state)
        first = self.stepper.suppress(logits.expand(size, -1))  # [n, V], the ids never generated at -inf
        tokens = self._choose(ticket, first)
        self.fed = torch.cat([self.fed, tokens if tokens is not None else self.fed.new_zeros(size)])  # a failed group's rows leave

    def _admit(self, ticket: Ticket, state: State) -> None:
        """Give the group rows after the live ones, starting from ``state`` ([L, n, H] each)."""
        size = ticket.group.size
        # Room for twice the streams (at most max_streams), so a growing crowd rebuilds the decoder only a few times.
        ticket.start = self.stepper.append(state, capacity=min(self.max_streams, 2 * (self.rows + size)))
        self.rows += size
        self.live.append(ticket)
        self.counts["joined"] += 1

    def _let_go(self) -> None:
        """Finished and cancelled groups leave; the rows of the others move up, in order."""
        leaving = [ticket for ticket in self.live if ticket.cancelled or ticket.group.done or ticket.error is not None]
        if not leaving:
            return
        kept, rows = [], []
        for ticket in self.live:
            if ticket.cancelled or ticket.group.done or ticket.error is not None:
                continue
            rows.extend(range(ticket.start, ticket.start + ticket.group.size))
            kept.append(ticket)
        kept_rows = torch.tensor(rows, dtype=torch.long, device=self.device)  # [kept rows] (none: empty)
        self.stepper.select(kept_rows)
        self.fed = self.fed.index_select(0, kept_rows)
        start = 0
        for ticket in kept:
            ticket.start = start
            start += ticket.group.size
        self.live, self.rows = kept, start
        if self.rows <= FEW_ROWS < self.stepper.capacity:
            self.stepper.shrink()  # a crowd has left: the few streams that stay step faster in a decoder of their size
        for ticket in leaving:
            self._end(ticket, ticket.error)

    def _end(self, ticket: Ticket, error: BaseException | None) -> None:
        if ticket.ended:
            return
        ticket.ended = True
        self.counts["failed" if error is not None else "cancelled" if ticket.cancelled else "finished"] += 1
        if ticket.finish is not None:
            ticket.finish(error)
