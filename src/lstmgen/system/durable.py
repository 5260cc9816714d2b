"""Writes that survive a crash: each file flushed and fsynced, renamed into place, its directory fsynced.

A rename is atomic, but without fsync it is not durable: after a power cut the new name may point at a
file whose data never reached the disk, or the rename itself may be lost. So every write here follows
the same order: write to a name nobody reads yet, flush, ``fsync`` the file, rename it over the real
name, ``fsync`` the directory (which is what makes the rename itself durable). A killed process leaves
either the old file or the new one, never half of one.

``swap_directory`` does the same for a whole directory written beside its target (a checkpoint, a token
store). POSIX has no portable atomic exchange of two directories, so it takes two renames: the old
directory is moved aside to ``.NAME.old``, then the new one takes its name. A crash between them leaves
no ``NAME`` at all, but two complete directories, and ``lstmgen.training.recovery`` puts the right one back.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in blocks of 1 MiB (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sync_file(path: str | os.PathLike) -> None:
    """fsync a file already written and closed (by a library that takes a path, such as safetensors)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_directory(path: str | os.PathLike) -> None:
    """fsync a directory, so that the names created, renamed or removed in it are on disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:  # some platforms (Windows) cannot open a directory: nothing more can be done there
        return
    try:
        os.fsync(descriptor)
    except OSError as error:  # some file systems refuse fsync on directories (EINVAL): their renames are what they are
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(descriptor)


def write_file(path: str | os.PathLike, data: bytes) -> None:
    """Write a new file in a directory nobody reads yet (a staging directory), flushed and fsynced."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_file_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsynced, renamed over it, the directory fsynced."""
    with replacing(path) as handle:
        handle.write(data)


class Abandon(Exception):
    """Raised inside ``replacing`` to drop what was written (the target is left as it was); ``replacing`` swallows it."""


@contextlib.contextmanager
def replacing(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into, streamed: a temporary file beside it, renamed over it
    (fsynced, then the directory) when the block ends. An error, or ``Abandon``, deletes it and leaves ``path`` as
    it was (``Abandon`` is not re-raised: the caller decided not to keep the content)."""
    target = Path(path)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=suffix, delete=False)
    try:
        with handle:
            yield handle  # type: ignore[misc]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except Abandon:
        Path(handle.name).unlink(missing_ok=True)
        return
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    sync_directory(target.parent)


def retired_name(target: Path) -> Path:
    """Where ``swap_directory`` moves the directory it replaces: ``.NAME.old`` beside it."""
    return target.with_name(f".{target.name}.old")


def staging_directory(target: Path) -> Path:
    """A new, empty directory beside ``target`` to write its replacement in: ``.NAME.XXXXXXXX``."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


def leftovers(target: Path) -> list[Path]:
    """The staging directories (``.NAME.XXXXXXXX``, tempfile's eight characters) and ``.NAME.old`` a crash
    may have left beside ``target``: only names this module makes, so nothing else is ever touched."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:old|[a-z0-9_]{{8}})")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    return sorted(path for path in entries if pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink())


def swap_directory(staging: Path, target: Path) -> None:
    """Put the complete directory ``staging`` in place of ``target`` (which may not exist), durably.

    Both directories stay complete at every moment; if the second rename fails, the first is undone.
    """
    sync_directory(staging)
    retired = None
    if target.exists():
        retired = retired_name(target)
        if retired.exists():
            shutil.rmtree(retired)
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        if retired is not None and not target.exists():
            os.replace(retired, target)
        raise
    sync_directory(target.parent)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
