"""How a long run talks to its user: log lines, the progress bar, and Ctrl-C. Shared by training and SeqGAN."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Callable, Iterator

from tqdm import tqdm

Log = Callable[[str], None]


def default_log(line: str) -> None:
    """A log line on stderr that does not break a progress bar."""
    tqdm.write(line, file=sys.stderr)


def show_progress(progress: bool | None) -> bool:
    """None = a progress bar only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def progress_bar(total: int | None, initial: int, enabled: bool, unit: str = "step") -> tqdm:
    return tqdm(total=total, initial=initial, disable=not enabled, unit=unit, file=sys.stderr, dynamic_ncols=True)


@contextlib.contextmanager
def graceful_interrupts(flag: threading.Event) -> Iterator[None]:
    """Turn the first Ctrl-C / SIGTERM into a request to stop after the current step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
