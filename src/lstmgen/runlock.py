"""One training process per run directory: an exclusive lock on ``RUN/.lock`` held for the whole run.

Without it, two ``lstmgen train --out RUN`` (or two ``--resume RUN``, or an ``--overwrite`` while a run is
live) all exit 0 and write over each other's checkpoints and metrics. ``hold_run_lock`` takes an
exclusive, non-blocking ``flock`` on ``RUN/.lock`` and writes the holder's process id and host name into
it; a second taker fails at once with ``RunLockError`` ("RUN is in use by process N on HOST").

The kernel releases an flock when its process ends, however it ends (SIGKILL included), so a crashed run
never leaves a stale lock; the pid left in the file is only ever read while the lock is held by someone.
The file itself is kept (deleting a lock file lets two processes lock two different files of one name).
flock works across processes of one machine, and on network file systems that map it to POSIX locks
(NFSv4, Lustre with flock enabled).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"


class RunLockError(ValueError):
    """The run directory is in use by another process (a ValueError, so the CLI prints it as one line)."""


class RunLock:
    """The lock of one run directory; ``acquire`` it (non-blocking) and ``release`` it, or use ``hold_run_lock``."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> None:
        if self.held:
            raise RunLockError(f"{self.run_dir}: this lock is already held by this object")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", errors="replace").split()
            os.close(descriptor)
            who = f"process {holder[0]}" + (f" on {holder[1]}" if len(holder) > 1 else "") if holder else "another process"
            raise RunLockError(f"{self.run_dir} is in use by {who}: one training process at a time may write a run directory; "
                               "wait for it to finish (or stop it), or choose another --out") from None
        except BaseException:
            os.close(descriptor)
            raise
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is None:
            return
        descriptor, self._descriptor = self._descriptor, None
        try:
            os.ftruncate(descriptor, 0)  # no pid of a finished process is left to mislead anyone
        finally:
            os.close(descriptor)  # closing the last descriptor releases the flock

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exception: object) -> None:
        self.release()


@contextlib.contextmanager
def hold_run_lock(run_dir: str | os.PathLike) -> Iterator[RunLock]:
    """Hold the lock of ``run_dir`` for the ``with`` block; raise RunLockError at once if another process holds it."""
    with RunLock(run_dir) as lock:
        yield lock
