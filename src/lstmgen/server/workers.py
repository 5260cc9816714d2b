"""Generation off the event loop: a few worker threads, a bounded waiting line, and cancellation.

Generation is CPU-bound torch code, so it runs on worker threads (torch releases the GIL inside its
kernels) while the event loop keeps answering. Each generation runs start to finish on one thread,
because torch's inference mode is per thread. A worker hands each step's text to the event loop
through an asyncio queue; the request's handler reads it from there. When the client goes away the
handler cancels the job and the worker stops at its next step.

At most ``workers`` generations run at once and ``queue_size`` more may wait for a worker; past that
``submit`` raises ``Busy`` (the app answers 429), so a flood of requests cannot pile up without bound.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

Run = Callable[[], Iterator[Any]]  # starts one generation: yields one record per step (lstmgen.decoding.DecodeStep)
Step = tuple[int, Any]  # (which run, one of its records)

_DONE = object()


class Busy(Exception):
    """Every worker is busy and the waiting line is full."""


class GenerationJob:
    """One admitted request. Its steps arrive in order through ``batches``; ``cancel`` stops the worker.

    The worker appends steps to a list and wakes the event loop only when the loop has taken everything
    before, so a fast generation costs one wake-up per read, not one per token.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready = asyncio.Event()
        self._lock = threading.Lock()
        self._items: list[object] = []
        self._wake_scheduled = False
        self._cancelled = threading.Event()
        self._on_cancel: list[Callable[[], Any]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def on_cancel(self, hook: Callable[[], Any]) -> None:
        """Call ``hook`` when the job is cancelled (the batching engine's groups leave their rows)."""
        self._on_cancel.append(hook)

    def cancel(self) -> None:
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        for hook in self._on_cancel:
            hook()

    def emit(self, item: object) -> None:
        """Called from the worker thread."""
        with self._lock:
            self._items.append(item)
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the event loop has closed (server shutting down): nobody is listening
            self.cancel()

    async def batches(self) -> AsyncIterator[list[Step]]:
        """Yield the steps produced since the last read (one or more), until the generation ends.

        Steps that piled up while the reader was busy are handed over together, so a slow client costs
        fewer, larger writes rather than a growing backlog of tiny ones.
        """
        while True:
            await self._ready.wait()
            self._ready.clear()
            with self._lock:
                items, self._items = self._items, []
                self._wake_scheduled = False
            steps: list[Step] = []
            for item in items:
                if item is _DONE:
                    if steps:
                        yield steps
                    return
                if isinstance(item, BaseException):
                    raise item
                steps.append(item)  # type: ignore[arg-type]
            if steps:
                yield steps


class GenerationPool:
    """Runs generations on ``workers`` threads with at most ``queue_size`` more waiting."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lstmgen-generate")
        self._lock = threading.Lock()
        self._jobs: weakref.WeakSet[GenerationJob] = weakref.WeakSet()
        self._closed = False
        self.counts = {"running": 0, "waiting": 0, "completed": 0, "cancelled": 0, "failed": 0, "rejected": 0, "steps": 0}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"workers": self.workers, "capacity": self.capacity, **self.counts}

    def submit(self, runs: Sequence[Run]) -> GenerationJob:
        """Admit a request whose generations are ``runs`` (run one after another), or raise ``Busy``."""
        with self._lock:
            if self._closed or self.counts["running"] + self.counts["waiting"] >= self.capacity:
                self.counts["rejected"] += 1
                raise Busy(f"all {self.workers} generation workers are busy and {self.capacity - self.workers} requests are waiting")
            self.counts["waiting"] += 1
        job = GenerationJob(asyncio.get_running_loop())
        self._jobs.add(job)
        self._executor.submit(self._work, job, list(runs))
        return job

    def _work(self, job: GenerationJob, runs: list[Run]) -> None:
        with self._lock:
            self.counts["waiting"] -= 1
            self.counts["running"] += 1
        outcome = "completed"
        steps = 0
        try:
            for index, run in enumerate(runs):
                if job.cancelled:
                    break
                iterator = run()  # made here, so the whole generation runs on this thread
                try:
                    for record in iterator:
                        if job.cancelled:
                            break
                        steps += 1
                        job.emit((index, record))
                finally:
                    close = getattr(iterator, "close", None)  # a generator: run its cleanup on this thread
                    if close is not None:
                        close()
            if job.cancelled:
                outcome = "cancelled"
        except Exception as error:  # reported to the handler, which answers with an error
            outcome = "failed"
            job.emit(error)
        finally:
            job.emit(_DONE)
            with self._lock:
                self.counts["running"] -= 1
                self.counts[outcome] += 1
                self.counts["steps"] += steps

    def shutdown(self) -> None:
        """Cancel every job and stop taking new ones (workers finish their current step)."""
        with self._lock:
            self._closed = True
        for job in list(self._jobs):
            job.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
