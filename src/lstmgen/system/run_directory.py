"""A run directory: the names of what ``lstmgen train`` (and ``lstmgen gan train``) write in it, and its lock.

    RUN/
      best/            the checkpoint with the best validation loss so far (what ``LanguageModel.load(RUN)`` reads)
      last/            the checkpoint of the last evaluation (what ``--resume`` continues from)
      metrics.jsonl    one JSON record per evaluation (every checkpoint also carries a copy of the history)
      loss.png         the training and validation loss curves
      data/            the token store the run prepared from its corpus (absent when it trained on a prepared one)
      .lock            held by the one process that writes the run (below)

Every module that reads or writes these names imports them from here: the checkpoint loader (which picks
``best/`` or ``last/`` of a run), the trainer, crash recovery, the GAN runs and the server. The module sits in
``system/``, the lowest stage, because the checkpoint loader and the server (which never import training)
read these names too; repairing a run after a crash needs checkpoints, so it is ``training/recovery.py``.

**The lock.** One training process per run directory: an exclusive lock on ``RUN/.lock`` held for the whole run.

Without it, two ``lstmgen train --out RUN`` (or two ``--resume RUN``, or an ``--overwrite`` while a run is
live) all exit 0 and write over each other's checkpoints and metrics. ``hold_run_lock`` takes an
exclusive, non-blocking lock on ``RUN/.lock`` (``system.locks``: flock, or msvcrt on Windows) and writes the holder's process id and host name into
it; a second taker fails at once with ``RunLockError`` ("RUN is in use by process N on HOST").

The kernel releases an flock when its process ends, however it ends (SIGKILL included), so a crashed run
never leaves a stale lock; the pid left in the file is only ever read while the lock is held by someone.
The file itself is kept (deleting a lock file lets two processes lock two different files of one name).
flock works across processes of one machine, and on network file systems that map it to POSIX locks
(NFSv4, Lustre with flock enabled).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path
from typing import Iterator

from .locks import open_lock_file, read_text, try_lock_exclusive, write_text

BEST = "best"
LAST = "last"
CHECKPOINTS = (LAST, BEST)  # the checkpoints of a run, in the order a crash recovery looks at them
METRICS = "metrics.jsonl"
LOSS_PLOT = "loss.png"
STORE = "data"  # the token store of a run prepared from a corpus
LOCK_NAME = ".lock"


def checkpoint_order(prefer: str) -> tuple[str, str]:
    """The checkpoints of a run to try, ``prefer`` (best or last) first."""
    if prefer not in (BEST, LAST):
        raise ValueError(f"prefer must be {BEST!r} or {LAST!r}, got {prefer!r}")
    return (BEST, LAST) if prefer == BEST else (LAST, BEST)


def is_checkpoint_name(name: str) -> bool:
    """Whether ``name`` is that of a run's checkpoint directory (best/ or last/)."""
    return name in CHECKPOINTS


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds a training run (a checkpoint or a metrics record of one)."""
    return any((path / name).exists() for name in (LAST, BEST, METRICS))


def has_checkpoint(path: Path) -> bool:
    """Whether the run ``path`` has a checkpoint to resume or load (the name alone: a dangling link counts)."""
    return any(os.path.lexists(path / name) for name in CHECKPOINTS)


def clear_run(path: Path) -> None:
    """Remove what a run wrote in ``path`` (its checkpoints, token store, metrics and plot), for --overwrite."""
    for name in (LAST, BEST, STORE):
        if (path / name).exists():
            shutil.rmtree(path / name)
    for name in (METRICS, LOSS_PLOT):
        (path / name).unlink(missing_ok=True)


def looks_like_run(path: Path) -> bool:
    """Whether ``path`` holds what a training run writes before its first checkpoint."""
    return (path / STORE).is_dir() or (path / METRICS).exists()


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
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RunLockError(f"{self.run_dir} is a file, not a run directory: choose another --out")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunLockError(f"cannot create the run directory {self.run_dir}: {error.strerror or error}; choose another --out") from None
        descriptor = open_lock_file(self.path)
        try:
            locked = try_lock_exclusive(descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        if not locked:
            try:
                holder = read_text(descriptor).split()
            except OSError:
                holder = []
            os.close(descriptor)
            who = f"process {holder[0]}" + (f" on {holder[1]}" if len(holder) > 1 else "") if holder else "another process"
            raise RunLockError(f"{self.run_dir} is in use by {who}: one training process at a time may write a run directory; "
                               "wait for it to finish (or stop it), or choose another --out") from None
        write_text(descriptor, f"{os.getpid()} {socket.gethostname()}\n")
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
