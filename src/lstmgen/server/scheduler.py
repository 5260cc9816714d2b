"""The batching engine on its own thread: every sampled request of the server is stepped in one batch.

The event loop builds a request's ``SampleGroup``s (one per prompt) and hands them to ``EngineThread.submit``,
which only appends them to a list under a lock and wakes the engine's thread, so the loop never waits for
the engine. That thread runs ``BatchEngine.run_once`` while anything is live or waiting: each call steps every
live stream together, lets new prompts in (read a slice at a time, so a long one cannot stall the others)
and lets finished or cancelled ones go. Records reach the request's handler through its ``GenerationJob``,
as they did from the per-request workers; cancelling the job (the client went away) cancels its groups,
which leave at the next step and free their rows.

At most ``queue_size`` groups wait to join (past that ``submit`` raises ``Busy``: the app answers 429); at
most ``max_streams`` streams are live at once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any, Sequence

import torch

from ..decoding import DecodeStep, SampleGroup
from ..decoding.engine import BatchEngine, Ticket
from ..language_model import LanguageModel
from ..system.runtime import available_cores
from .workers import _DONE, Busy, GenerationJob, wake

WAKE_INTERVAL = 0.02  # seconds between two wakes of a stream's reader (its first tokens: at once)
SWITCH_INTERVAL = 0.0005  # seconds a thread may keep the GIL while another waits for it (see EngineThread)
FEW_STREAMS = 4  # up to this many live streams, the engine steps on one torch thread (as generation_threads does)


class _Request:
    """One request's groups in the engine: the job ends when the last of them has finished."""

    def __init__(self, job: GenerationJob, count: int, counts: dict[str, int], scheduler: "EngineThread") -> None:
        self.job = job
        self.scheduler = scheduler
        self.wakes = scheduler._wakes
        self.started = False
        self.remaining = count
        self.tickets: list[Ticket] = []
        self.failed = False
        self.counts = counts  # the engine thread's request counters

    def emit(self, index: int, record: DecodeStep) -> None:  # on the engine's thread
        self.counts["steps"] += 1
        if self.job.add((index, record)):
            self.wakes.append(self.job)  # woken after the step, with every other job that has news
            if not self.started:
                self.started = True
                self.scheduler._urgent = True  # its first tokens: woken at once (time to first token)

    def finish(self, error: BaseException | None) -> None:  # on the engine's thread
        if error is not None and not self.failed:
            self.failed = True
            self.job.emit(error)
            for ticket in self.tickets:  # the request has failed: its other prompts stop too
                ticket.cancel()
        self.remaining -= 1
        if self.remaining == 0:
            with self.scheduler._condition:  # "running" is counted up on the event loop, under the same lock
                self.counts["running"] -= 1
                self.counts["failed" if self.failed else "cancelled" if self.job.cancelled else "completed"] += 1
            self.job.emit(_DONE)


class EngineThread:
    """Runs one ``BatchEngine`` on a thread of its own; ``submit`` is called from the event loop."""

    def __init__(self, model: LanguageModel, max_streams: int, prefill_tokens: int, queue_size: int, threads: int = 0) -> None:
        self.engine = BatchEngine(model.decoding_model, model.tokenizer, max_streams, prefill_tokens)
        # torch threads: fixed when given; else one while a few streams step (a one-row step is too small to split)
        # and every core for a batch (64 rows of a 2x512 model split well).
        self.threads = threads
        self._threads_now = 0
        self.queue_size = queue_size
        self._condition = threading.Condition()
        self._incoming: list[tuple[_Request, int, SampleGroup]] = []
        self._closed = False
        self._wakes: list[GenerationJob] = []  # jobs with records their readers have not been woken for (engine thread)
        self._urgent = False  # one of them holds a request's first tokens
        self._last_wake = 0.0
        self._event_loop: asyncio.AbstractEventLoop | None = None
        # Requests, counted as the workers count theirs (/health adds the two): running = admitted, not yet done.
        self.counts = {"running": 0, "completed": 0, "cancelled": 0, "failed": 0, "rejected": 0, "steps": 0, "failed_steps": 0}
        # The engine's Python (choosing, records) and the event loop's (chunks) take turns holding the GIL. A thread
        # waiting for it asks the holder to let go only after the switch interval (CPython's default: 5 ms, a whole
        # step of 64 streams), so the engine waited through every burst of chunks; 0.5 ms hands it over sooner.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._loop, name="lstmgen-engine", daemon=True)
        self._thread.start()

    def submit(self, groups: Sequence[SampleGroup], first: Sequence[tuple[int, Any]] = ()) -> GenerationJob:
        """Queue a request's groups (group ``i`` yields records ``(i, DecodeStep)``); ``first`` records go out before
        any (an echoed prompt). Returns the job the handler reads; raises ``Busy`` when the waiting line is full.
        Called on the event loop."""
        job = GenerationJob(asyncio.get_running_loop())
        self._event_loop = job._loop
        with self._condition:
            waiting = len(self._incoming) + len(self.engine.waiting)
            if self._closed or waiting + len(groups) > self.queue_size + self.engine.max_streams - self.engine.rows:
                self.counts["rejected"] += 1
                raise Busy(f"{self.engine.rows} streams are generating and {waiting} prompts are waiting to join them")
            self.counts["running"] += 1
            for item in first:
                job.emit(item)
            request = _Request(job, len(groups), self.counts, self)
            job.on_cancel(lambda: [ticket.cancel() for ticket in request.tickets])
            self._incoming.extend((request, index, group) for index, group in enumerate(groups))
            self._condition.notify()
        return job

    def stats(self) -> dict[str, Any]:
        """The engine's counters: live streams (the batch size), groups live and waiting, steps per second, tokens."""
        return {**self.engine.stats(), "queue_size": self.queue_size, "failed_steps": self.counts["failed_steps"]}

    def request_counts(self) -> dict[str, int]:
        """Requests run, cancelled, failed and refused, as ``GenerationPool.stats`` counts its own."""
        waiting = len(self._incoming) + len(self.engine.waiting)
        return {**{name: value for name, value in self.counts.items() if name != "failed_steps"}, "waiting": waiting}

    def shutdown(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout=5)

    # ----- the engine's thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            engine = self.engine
            if not engine.busy:
                self._wake_readers(force=True)  # nothing more is coming soon: hand over what is pending
            with self._condition:
                while not self._incoming and not engine.busy and not self._closed:
                    self._condition.wait()
                if self._closed:
                    break
                incoming, self._incoming = self._incoming, []
            for request, index, group in incoming:
                self._add(request, index, group)
            if not engine.busy:
                continue
            self._set_threads(engine.rows + sum(ticket.group.size for ticket in list(engine.waiting)[:1]))
            try:
                engine.run_once()
            except Exception as error:  # a step failed for everyone (a bug): fail every request, start afresh
                self.counts["failed_steps"] += 1
                self._fail_all(error)
            self._wake_readers()
        self._fail_all(RuntimeError("the server is shutting down"))
        self._wake_readers(force=True)

    def _set_threads(self, streams: int) -> None:
        wanted = self.threads or (1 if streams <= FEW_STREAMS else available_cores())
        if wanted != self._threads_now:
            torch.set_num_threads(wanted)
            self._threads_now = wanted

    def _wake_readers(self, force: bool = False) -> None:
        """Wake the readers with news: at once for a request's first tokens, else at most every WAKE_INTERVAL seconds.

        Every wake costs the event loop a chunk per stream (JSON, the middleware, a socket write: about as much
        Python as a step of the engine spends per stream), so a reader woken every ~20 ms gets the tokens of
        every step since in one chunk: far fewer writes at a delay no reader sees."""
        if not self._wakes or self._event_loop is None:
            return
        now = time.monotonic()
        if force or self._urgent or now - self._last_wake >= WAKE_INTERVAL:
            wake(self._event_loop, self._wakes)
            self._wakes.clear()
            self._urgent = False
            self._last_wake = now

    def _add(self, request: _Request, index: int, group: SampleGroup) -> None:
        def emit(record: DecodeStep) -> None:
            request.emit(index, record)

        if request.job.cancelled:
            request.finish(None)
            return
        try:
            ticket = self.engine.add(group, emit, request.finish)
        except ValueError as error:
            request.finish(error)
            return
        request.tickets.append(ticket)
        if request.job.cancelled:  # cancelled while it was being added: its hook may have missed this ticket
            ticket.cancel()

    def _fail_all(self, error: BaseException) -> None:
        engine = self.engine
        tickets = list(engine.live) + list(engine.waiting)
        engine.live.clear()
        engine.waiting.clear()
        self.engine = BatchEngine(engine.model, engine.tokenizer, engine.max_streams, engine.prefill_tokens)
        for ticket in tickets:
            if not ticket.ended:
                ticket.ended = True
                if ticket.finish is not None:
                    ticket.finish(error)
