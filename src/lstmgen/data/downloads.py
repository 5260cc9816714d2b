"""Downloads for the named corpora: mirrors tried in order, every file checked by SHA-256, and members of a
zip archive taken out by their exact names.

Nothing half-written ever lies under a cached name: a download streams into a temporary file beside its
target while it is hashed, is fsynced, and is renamed into place only when its SHA-256 is the expected one
(else it is deleted). Archive members are looked up by exact name and written to a file name chosen here
(the member's last path component, checked), never to a path the archive spells, so no member can climb out
of the cache (``../``) or overwrite another file; each extracted file is checked against the CRC-32 and size
the (checked) archive records for it, again on every later use.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Sequence

from ..system import durable

MAX_DOWNLOAD_BYTES = 2 << 30  # a mirror that sends more than this is refused (a corpus archive is far smaller)
MAX_MEMBER_BYTES = 2 << 30  # the same bound for one member taken out of an archive
BLOCK_BYTES = 1 << 20


class DownloadError(ValueError):
    """No mirror gave the file with the expected checksum, or an archive lacks a member; the message says how to fix it."""


def download_checked(urls: Sequence[str], sha256: str, target: Path, timeout: float = 30.0) -> Path:
    """``target``, downloaded from the first of ``urls`` that serves bytes with this SHA-256.

    A mirror that cannot be reached or serves other bytes is passed over for the next; when none serves the
    file, the DownloadError lists what each one did (a checksum mismatch names its mirror and the SHA-256 it
    sent). A wrong download is deleted, never cached.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls:
        try:
            actual = _download_to(url, sha256, target, timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:  # ValueError: a bad URL, too much data
            failures.append(f"{url}: {error if isinstance(error, urllib.error.HTTPError) else getattr(error, 'reason', None) or error}")
            continue
        if actual == sha256:
            return target
        failures.append(f"{url}: the download has SHA-256 {actual}, expected {sha256} (deleted, not saved)")
    raise DownloadError("; ".join(failures) or "no mirror is known")


def _download_to(url: str, sha256: str, target: Path, timeout: float) -> str:
    """Stream ``url`` into a temporary file beside ``target``, hashing it; rename it to ``target`` when its SHA-256 is
    ``sha256``, else delete it. Returns the SHA-256 of what the mirror sent."""
    digest, size = hashlib.sha256(), 0
    with durable.replacing(target, suffix=".download") as handle, urllib.request.urlopen(url, timeout=timeout) as response:
        for block in iter(lambda: response.read(BLOCK_BYTES), b""):
            size += len(block)
            if size > MAX_DOWNLOAD_BYTES:
                raise ValueError(f"the mirror sent more than {MAX_DOWNLOAD_BYTES >> 20} MiB; refused")
            digest.update(block)
            handle.write(block)
        if digest.hexdigest() != sha256:
            raise durable.Abandon  # deleted, never renamed into the cache
    return digest.hexdigest()


def member_file_name(member: str) -> str:
    """The file name an archive member is extracted to: its last path component, refused if it could name a directory."""
    name = PurePosixPath(member).name
    if not name or name in (".", "..") or "\\" in name or "\x00" in name:
        raise DownloadError(f"archive member {member!r} has no usable file name")
    return name


def extract_member(archive: Path, member: str, directory: Path) -> Path:
    """The member ``member`` (an exact name) of the zip ``archive``, as a file in ``directory``.

    A file already there is kept when its size and CRC-32 are those the archive records for the member;
    otherwise the member is written afresh (temporary file, fsync, rename).
    """
    target = directory / member_file_name(member)
    try:
        with zipfile.ZipFile(archive) as opened:
            names = opened.namelist()
            if names.count(member) != 1:
                found = "is missing" if member not in names else "appears more than once"
                raise DownloadError(f"the archive {archive} is not the expected one: member {member!r} {found}; delete it and "
                                    "fetch the corpus again")
            info = opened.getinfo(member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise DownloadError(f"member {member!r} of {archive} claims {info.file_size:,} bytes; refused")
            if target.is_file() and target.stat().st_size == info.file_size and _crc32(target) == info.CRC:
                return target
            directory.mkdir(parents=True, exist_ok=True)
            with durable.replacing(target) as handle, opened.open(info) as source:  # zipfile checks the CRC-32 as it reads
                written = 0
                for block in iter(lambda: source.read(BLOCK_BYTES), b""):
                    written += len(block)
                    if written > info.file_size:
                        raise DownloadError(f"member {member!r} of {archive} is longer than it claims; refused")
                    handle.write(block)
            return target
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise DownloadError(f"{archive} cannot be read as a zip archive ({error}); delete it and fetch the corpus again") from None


def _crc32(path: Path) -> int:
    value = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
            value = zlib.crc32(block, value)
    return value
