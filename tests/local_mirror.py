"""A mirror on loopback for the download tests: a real HTTP file server in a thread serving a directory, and
small WikiText-like zip archives (the real archives' checksums cannot be reproduced, so tests give the corpus
spec their own URLs and checksum)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import lstmgen.data.corpus as corpus_module
from lstmgen.data.corpus import OFFICIAL_SPLITS, NamedCorpus

LOOPBACK = "127.0.0.1"

# Word-level text in WikiText's shape (headings, <unk>, spaced punctuation); each split its own text.
LINES = {
    "train": " = Valkyria Chronicles = \n the game began development in 2010 , carrying over a large portion of the work . \n"
             " the <unk> of the series is a tactical role @-@ playing game . \n",
    "valid": " = Robert Boulter = \n robert boulter is an english film , television and theatre actor . \n",
    "test": " = Tower Building = \n the tower building of the little rock arsenal is a building in little rock . \n",
}
REPEATS = {"train": 40, "valid": 6, "test": 5}


def split_texts() -> dict[str, str]:
    return {split: LINES[split] * REPEATS[split] for split in OFFICIAL_SPLITS}


def wikitext_zip(path: Path, texts: dict[str, str] | None = None, directory: str = "wikitext-2", suffix: str = "tokens",
                 extra: dict[str, str] | None = None) -> str:
    """Write a zip laid out as the WikiText-2 archive (a folder, then wiki.train.tokens ...); return its SHA-256."""
    texts = split_texts() if texts is None else texts
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{directory}/", "")
        for split, text in texts.items():
            archive.writestr(f"{directory}/wiki.{split}.{suffix}", text)
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def use_fake_corpus(monkeypatch, cache: Path, urls: list[str], sha256: str, name: str = "wikitext2",
                    directory: str = "wikitext-2", suffix: str = "tokens") -> NamedCorpus:
    """Point the named corpus ``name`` at ``urls`` and ``sha256``, with ``cache`` as the cache directory."""
    monkeypatch.setenv("LSTMGEN_CACHE", str(cache))
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):  # loopback is reached directly
        monkeypatch.delenv(variable, raising=False)
    spec = NamedCorpus(name, tuple(urls), sha256, f"{name}.zip", "a small stand-in for WikiText-2",
                       tuple((split, f"{directory}/wiki.{split}.{suffix}") for split in OFFICIAL_SPLITS))
    monkeypatch.setitem(corpus_module.NAMED_CORPORA, name, spec)
    return spec


class Mirror:
    """A loopback HTTP server serving the files of ``root``; ``requests`` lists the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root, self.requests = root, []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the name http.server calls)
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Mirror":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def closed_port() -> str:
    """A loopback URL nothing listens on (a port bound, then closed): a connection there is refused at once."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    return f"http://{LOOPBACK}:{port}"
