"""File locks: the one place lstmgen asks the operating system to lock a file.

Two uses, one mechanism (an exclusive lock on a file that is created if missing and never deleted: deleting
a lock file lets two processes lock two different files of one name):

* ``try_lock_exclusive`` never waits: the run lock (``system.run_directory.RunLock``) must refuse a second
  training process at once, naming the holder;
* ``exclusive_lock`` waits its turn: preparing a token store that several processes (torchrun ranks, or
  machines sharing a disk) would otherwise write together.

The platform's own locks, which its kernel releases when the holding process ends, however it ends (SIGKILL
included), so a crash never leaves a stale lock:

* POSIX (Linux, macOS): ``fcntl.flock`` on the whole file; it works across the processes of one machine and on
  network file systems that map it to POSIX locks (NFSv4, Lustre with flock enabled);
* Windows: ``msvcrt.locking`` on one byte far past the file's contents (``LOCKED_BYTE``), so the holder's
  process id, written at the start of the file, stays readable to whoever is refused (Windows locks are
  mandatory: a locked byte cannot be read).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCKED_BYTE = 1 << 30  # Windows: the offset of the byte that is locked (past anything written in the file)
POLL_SECONDS = 0.1  # Windows: how often a waiting exclusive_lock tries again (msvcrt's own wait gives up after 10 s)


def open_lock_file(path: str | os.PathLike) -> int:
    """A descriptor of the lock file ``path`` (created if needed, readable and writable, closed on exec)."""
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0), 0o644)


def try_lock_exclusive(descriptor: int) -> bool:
    """Take an exclusive lock on the open file without waiting; False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    os.lseek(descriptor, LOCKED_BYTE, os.SEEK_SET)
    try:
        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def unlock(descriptor: int) -> None:
    """Release a lock taken on the open file (closing the descriptor releases it too)."""
    if fcntl is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return
    os.lseek(descriptor, LOCKED_BYTE, os.SEEK_SET)
    msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)


def read_text(descriptor: int, limit: int = 200) -> str:
    """The start of the open lock file (what its holder wrote), as text."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, limit).decode("utf-8", errors="replace")


def write_text(descriptor: int, text: str) -> None:
    """Replace what the open lock file says (the holder's process id and host)."""
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, text.encode("utf-8"))


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed), waiting for it: one process at a time, across
    machines sharing a disk."""
    descriptor = open_lock_file(Path(path))
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        else:
            while not try_lock_exclusive(descriptor):
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            unlock(descriptor)
    finally:
        os.close(descriptor)
