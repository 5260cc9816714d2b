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
import threading
from typing import Any, Sequence

from ..decoding import DecodeStep, SampleGroup
from ..decoding.engine import BatchEngine, Ticket
from ..language_model import LanguageModel
from .workers import _DONE, Busy, GenerationJob


class _Request:
    """One request's groups in the engine: the job ends when the last of them has finished."""

    def __init__(self, job: GenerationJob, count: int, counts: dict[str, int]) -> None:
        self.job = job
        self.remaining = count
        self.tickets: list[Ticket] = []
        self.failed = False
        self.counts = counts  # the engine thread's request counters

    def emit(self, index: int, record: DecodeStep) -> None:  # on the engine's thread
        self.counts["steps"] += 1
        self.job.emit((index, record))

    def finish(self, error: BaseException | None) -> None:  # on the engine's thread
        if error is not None and not self.failed:
            self.failed = True
            self.job.emit(error)
            for ticket in self.tickets:  # the request has failed: its other prompts stop too
                ticket.cancel()
        self.remaining -= 1
        if self.remaining == 0:
            self.counts["running"] -= 1
            self.counts["failed" if self.failed else "cancelled" if self.job.cancelled else "completed"] += 1
            self.job.emit(_DONE)


class EngineThread:
    """Runs one ``BatchEngine`` on a thread of its own; ``submit`` is called from the event loop."""

    def __init__(self, model: LanguageModel, max_streams: int, prefill_tokens: int, queue_size: int) -> None:
        self.engine = BatchEngine(model.decoding_model, model.tokenizer, max_streams, prefill_tokens)
        self.queue_size = queue_size
        self._condition = threading.Condition()
        self._incoming: list[tuple[_Request, int, SampleGroup]] = []
        self._closed = False
        # Requests, counted as the workers count theirs (/health adds the two): running = admitted, not yet done.
        self.counts = {"running": 0, "completed": 0, "cancelled": 0, "failed": 0, "rejected": 0, "steps": 0, "failed_steps": 0}
        self._thread = threading.Thread(target=self._loop, name="lstmgen-engine", daemon=True)
        self._thread.start()

    def submit(self, groups: Sequence[SampleGroup], first: Sequence[tuple[int, Any]] = ()) -> GenerationJob:
        """Queue a request's groups (group ``i`` yields records ``(i, DecodeStep)``); ``first`` records go out before
        any (an echoed prompt). Returns the job the handler reads; raises ``Busy`` when the waiting line is full.
        Called on the event loop."""
        job = GenerationJob(asyncio.get_running_loop())
        with self._condition:
            waiting = len(self._incoming) + len(self.engine.waiting)
            if self._closed or waiting + len(groups) > self.queue_size + self.engine.max_streams - self.engine.rows:
                self.counts["rejected"] += 1
                raise Busy(f"{self.engine.rows} streams are generating and {waiting} prompts are waiting to join them")
            self.counts["running"] += 1
            for item in first:
                job.emit(item)
            request = _Request(job, len(groups), self.counts)
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
            try:
                engine.run_once()
            except Exception as error:  # a step failed for everyone (a bug): fail every request, start afresh
                self.counts["failed_steps"] += 1
                self._fail_all(error)
        self._fail_all(RuntimeError("the server is shutting down"))

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
