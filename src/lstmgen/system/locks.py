"""File locks: the one place lstmgen asks the operating system to lock a file.

Two uses, one mechanism (an exclusive ``flock`` on a file that is created if missing and never deleted:
deleting a lock file lets two processes lock two different files of one name):

* ``try_lock_exclusive`` never waits: the run lock (``system.run_directory.RunLock``) must refuse a second
  training process at once, naming the holder;
* ``exclusive_lock`` waits its turn: preparing a token store that several processes (torchrun ranks, or
  machines sharing a disk) would otherwise write together.

The kernel releases an flock when its process ends, however it ends (SIGKILL included), so a crash never
leaves a stale lock. flock works across processes of one machine and on network file systems that map it to
POSIX locks (NFSv4, Lustre with flock enabled).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


def open_lock_file(path: str | os.PathLike) -> int:
    """A descriptor of the lock file ``path`` (created if needed, readable and writable, closed on exec)."""
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)


def try_lock_exclusive(descriptor: int) -> bool:
    """Take an exclusive lock on the open file without waiting; False when another process holds it."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed), waiting for it: one process at a time, across
    machines sharing a disk."""
    descriptor = open_lock_file(Path(path))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
