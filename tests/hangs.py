"""Shared by tests that open FIFOs, devices and endless streams: fail instead of hanging."""

from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def within(seconds: int):
    """SIGALRM interrupts a blocking open or read after ``seconds``: a TimeoutError names the hang."""
    def timeout(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
