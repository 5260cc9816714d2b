"""Reading files that anyone may have made: a downloaded checkpoint, a corpus, a token store.

Before any parser runs, three things have hung or crashed lstmgen on such files:

* the path is not a regular file: ``open`` of a FIFO (named pipe) waits for a writer forever, a symbolic
  link to ``/dev/zero`` or ``/dev/urandom`` never ends, a socket or directory fails with an obscure error;
* the file is far larger than anything lstmgen writes there (a sparse terabyte called ``config.json``);
* the bytes are hostile to the parser: deeply nested JSON exhausts Python's recursion limit, and invalid
  UTF-8 raises a codec error that names neither the file nor a fix.

``open_regular`` opens without blocking (``O_NONBLOCK``: a FIFO opens at once instead of waiting for a
writer) and then checks the open descriptor itself with ``fstat``, so nothing can swap the file between a
check and the open. Symbolic links are followed, but only to regular files. Every function raises the
caller's own error class (``CheckpointError``, ``CorpusError``, ...) with a message naming the file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

ErrorClass = type[Exception]

# What each kind of non-regular file is called in messages, by the stat test that recognises it.
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def describe_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a character device', ... for a stat mode that is not a regular file's."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike, error: ErrorClass, limit: int | None = None, what: str = "file") -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file (at most ``limit`` bytes), else raise ``error``."""
    path = Path(path)
    try:
        # O_NONBLOCK (POSIX): a FIFO opens at once; Windows has no FIFOs in the file system, nor the flag.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{path} ({what}) does not exist") from None
    except OSError as problem:
        raise error(f"{path} ({what}) cannot be opened: {problem.strerror or problem}") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise error(f"{path} ({what}) is {describe_kind(status.st_mode)}, not a regular file; lstmgen reads only "
                        "regular files here (a pipe or device could block or never end)")
        if limit is not None and status.st_size > limit:
            raise error(f"{path} ({what}) holds {status.st_size:,} bytes, more than the {limit:,} such a file may hold; "
                        "it is not one lstmgen wrote")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: str | os.PathLike, error: ErrorClass, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (checked again while reading: the file may grow)."""
    with open_regular(path, error, limit, what) as handle:
        try:
            data = handle.read() if limit is None else handle.read(limit + 1)
        except OSError as problem:
            raise error(f"{path} ({what}) cannot be read: {problem.strerror or problem}") from None
    if limit is not None and len(data) > limit:
        raise error(f"{path} ({what}) grew past the {limit:,} bytes such a file may hold while it was read")
    return data


def decode_utf8(data: bytes, source: str, error: ErrorClass) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{source} is not valid UTF-8 (byte offset {problem.start}: {problem.reason}); the file is corrupt: "
                    "restore it from a copy or write it again") from None


def parse_json(data: bytes | str, source: str, error: ErrorClass) -> Any:
    """Parse JSON (bytes are decoded as UTF-8), turning every way it can be broken into ``error`` naming ``source``."""
    text = decode_utf8(data, source, error) if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except RecursionError:  # the C scanner recurses once per nesting level
        raise error(f"{source} nests JSON too deeply to be read (a corrupt or hostile file); restore it from a copy") from None
    except ValueError as problem:  # JSONDecodeError, and integers longer than Python converts
        raise error(f"{source} is not valid JSON ({problem}); restore it from a copy or write it again") from None


def read_json(path: str | os.PathLike, error: ErrorClass, limit: int, what: str = "file") -> Any:
    return parse_json(read_regular(path, error, limit, what), f"{path} ({what})", error)
