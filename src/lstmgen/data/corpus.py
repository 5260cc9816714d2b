"""Reading training text: files, directories, globs, stdin, named corpora and the embedded default.

A named corpus is downloaded once into a cache directory (``$LSTMGEN_CACHE`` or ``~/.cache/lstmgen``)
from the first of its mirrors that serves it, and checked against its SHA-256 (lstmgen.data.downloads);
offline, the error says how to pass a local copy instead. A corpus that comes with an official split
(WikiText-2: a zip archive of train, valid and test files) names it: as a training corpus it means its train
split, and training validates on its valid split (``validation_sources``); ``split_source`` gives any split. With no
corpus named, the embedded default is the Python documentation text that ships in the standard library
(``pydoc_data.topics``, about 465,000 characters of English), so everything works offline.
"""

from __future__ import annotations

import codecs
import glob as globbing
import io
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator, Sequence

from ..system import durable
from ..system.untrusted import describe_kind, open_regular
from .downloads import DownloadError, download_checked, extract_member

DEFAULT_CORPUS = "pydoc"
BLOCK_BYTES = 4 << 20  # bytes read at a time when streaming a corpus


# Text encodings whose incremental decoder keeps no state between blocks, so a file read in blocks decodes
# otherwise than read whole (found by stress/fuzz_inputs.py).
UNSTREAMABLE_ENCODINGS = ("punycode",)


class CorpusError(ValueError):
    """The corpus cannot be read; the message names the file and says how to fix it."""


OFFICIAL_SPLITS = ("train", "valid", "test")  # the names WikiText's files use


@dataclass(frozen=True)
class NamedCorpus:
    """A corpus fetched by name: one text file, or a zip archive holding an official split."""

    name: str
    urls: tuple[str, ...]  # mirrors, tried in order (one URL as a string is accepted)
    sha256: str  # of the file downloaded: the text, or the archive
    filename: str  # its name in the cache directory
    description: str
    splits: tuple[tuple[str, str], ...] = ()  # (split, exact member name in the archive); empty: a single text file

    def __post_init__(self) -> None:
        if isinstance(self.urls, str):
            object.__setattr__(self, "urls", (self.urls,))

    @property
    def url(self) -> str:
        return self.urls[0]

    def member(self, split: str) -> str:
        members = dict(self.splits)
        if split not in members:
            raise CorpusError(f"the {self.name} corpus has no {split!r} split; it has {', '.join(members) or 'none'}")
        return members[split]


WIKITEXT_MIRROR = "https://wikitext.smerity.com"  # Stephen Merity's own host for the WikiText archives
# llama.cpp's CI data keeps the raw archive only (its scripts/get-wikitext-2.sh fetches it from here).
LLAMA_CPP_CI_DATA = "https://huggingface.co/datasets/ggml-org/ci/resolve/main"


def _wikitext_splits(directory: str, suffix: str) -> tuple[tuple[str, str], ...]:
    return tuple((split, f"{directory}/wiki.{split}.{suffix}") for split in OFFICIAL_SPLITS)


NAMED_CORPORA: dict[str, NamedCorpus] = {corpus.name: corpus for corpus in (
    NamedCorpus("tinyshakespeare", "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", "tinyshakespeare.txt",
                "Tiny Shakespeare, the char-rnn corpus (1,115,394 characters, 65 distinct)"),
    NamedCorpus("nietzsche", "https://s3.amazonaws.com/text-datasets/nietzsche.txt",
                "dea01ca2da603db6736fd856c585d073ccf3dca68efe4a59c5e73242cdf0b028", "nietzsche.txt",
                "Nietzsche in English, the Keras text-generation corpus (600,901 characters)"),
    NamedCorpus("wikitext2", (f"{WIKITEXT_MIRROR}/wikitext-2-v1.zip",),
                "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c", "wikitext-2-v1.zip",
                "WikiText-2 (Merity et al. 2016), the tokenized release with <unk>: official train / valid / test split",
                _wikitext_splits("wikitext-2", "tokens")),
    NamedCorpus("wikitext2-raw", (f"{WIKITEXT_MIRROR}/wikitext-2-raw-v1.zip", f"{LLAMA_CPP_CI_DATA}/wikitext-2-raw-v1.zip"),
                "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11", "wikitext-2-raw-v1.zip",
                "WikiText-2 raw (Merity et al. 2016), the untokenized text: official train / valid / test split",
                _wikitext_splits("wikitext-2-raw", "raw")),
)}


# Read from the installed music21 package (the music extra), never downloaded: lstmgen.music.corpora.
MUSIC_CORPORA = ("abc-folk", "bach-chorales")


def _music_corpus(name: str) -> str:
    from ..music import MusicError
    from ..music.corpora import music_corpus_text

    try:
        return music_corpus_text(name, cache_directory())
    except MusicError as error:
        raise CorpusError(f"the {name} corpus: {error}") from None


def _music_files(paths: list[Path]) -> list[tuple[str, str]]:
    """(name, text) of the music files among ``paths`` (ABC tunes in normal form, MIDI as events text)."""
    from ..music import MusicError
    from ..music.corpora import music_files_text

    try:
        return music_files_text(paths)
    except MusicError as error:
        raise CorpusError(str(error)) from None


def _split_music(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(text files, music files) of ``paths``, by suffix (lstmgen.music.corpora.MUSIC_SUFFIXES)."""
    from ..music.corpora import is_music_file  # light: no music package is imported until a piece is read

    return [p for p in paths if not is_music_file(p)], [p for p in paths if is_music_file(p)]


@dataclass(frozen=True)
class Corpus:
    text: str
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.text)


def cache_directory() -> Path:
    return Path(os.environ.get("LSTMGEN_CACHE") or Path.home() / ".cache" / "lstmgen")


def default_corpus_text() -> str:
    """The embedded default corpus: Python's own documentation topics, in a fixed order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name].strip() for name in sorted(topics)) + "\n"


def fetch_named_corpus(name: str, timeout: float = 30.0) -> Path:
    """Return the cached file of a named corpus (its text, or its archive), downloading and checking it first if needed."""
    if name not in NAMED_CORPORA:
        raise CorpusError(f"no named corpus {name!r}; known: {', '.join(NAMED_CORPORA)}")
    spec = NAMED_CORPORA[name]
    target = cache_directory() / spec.filename
    if target.exists():
        if durable.file_sha256(target) == spec.sha256:
            return target
        target.unlink()  # a corrupt or foreign cached copy: fetch it again
    try:
        # Streamed to a temporary file beside the target, fsynced, renamed only once its SHA-256 matches: a crash or a
        # wrong download never leaves a file under the cached name.
        return download_checked(spec.urls, spec.sha256, target, timeout)
    except DownloadError as error:
        raise CorpusError(_offline_advice(spec, target, str(error))) from None


def _offline_advice(spec: NamedCorpus, target: Path, failures: str) -> str:
    mirrors = "its mirror" if len(spec.urls) == 1 else f"any of its {len(spec.urls)} mirrors"
    if not spec.splits:
        return (f"could not download the {spec.name} corpus from {mirrors} ({failures}). If you are offline, get the file "
                f"another way and pass its path instead (lstmgen train path/to/{spec.filename}), or place it at {target}.")
    files = {split: PurePosixPath(member).name for split, member in spec.splits}
    return (f"could not download the {spec.name} corpus from {mirrors} ({failures}). If you are offline, get {spec.filename} "
            f"another way and place it at {target} (or set LSTMGEN_CACHE to the directory that holds it): it is checked by "
            f"SHA-256 and its official split used. Or pass the unpacked files themselves: lstmgen train DIR/{files['train']} "
            f"--val DIR/{files['valid']}, then lstmgen eval RUN DIR/{files['test']}.")


def has_official_split(source: str) -> bool:
    """Whether ``source`` names a corpus that comes with an official train / valid / test split (and no file of that name exists)."""
    return source in NAMED_CORPORA and bool(NAMED_CORPORA[source].splits) and not Path(source).exists()


def corpora_with_official_splits() -> list[str]:
    return [name for name, spec in NAMED_CORPORA.items() if spec.splits]


def split_source(name: str, split: str, timeout: float = 30.0) -> Source:
    """One official split (train, valid or test) of a named corpus, extracted from its checked archive into the cache."""
    spec = NAMED_CORPORA[name]
    member = spec.member(split)
    archive = fetch_named_corpus(name, timeout)
    try:
        path = extract_member(archive, member, cache_directory() / spec.name)
    except DownloadError as error:
        raise CorpusError(str(error)) from None
    return Source(f"{name}:{split}", path=path)


def validation_sources(corpus: Sequence[str], val: str | None = None, encoding: str = "utf-8",
                       test_fraction: float = 0.0) -> list[Source]:
    """The validation text of a training run: ``val``'s file, or the official valid split of the named corpora in
    ``corpus`` that have one (then neither ``val`` nor a test fraction cut from the training text may be asked for)."""
    official = [source for source in corpus if has_official_split(source)]
    if official and val is not None:
        raise CorpusError(f"{official[0]} comes with an official validation split, used for validation; drop --val")
    if official and test_fraction > 0:
        raise CorpusError(f"{official[0]} comes with an official test split; drop --test-fraction and score the test split "
                          f"with: lstmgen eval RUN {official[0]} --split test")
    if val is not None:
        return resolve_sources([val], encoding=encoding)
    return [split_source(name, "valid") for name in official]


def check_encoding(encoding: str, errors: str = "strict") -> bool:
    """Refuse what is not a text encoding or an error handler; return whether the encoding writes NUL bytes
    for plain text (UTF-16 and UTF-32 do), in which case a NUL byte does not mark a binary file."""
    try:
        sample = "a\n".encode(encoding)  # LookupError for codecs that are not text encodings (base64, zlib, rot13)
        name = codecs.lookup(encoding).name
    except (LookupError, UnicodeError, ValueError, TypeError):
        raise CorpusError(f"unknown text encoding {encoding!r}; pass one Python knows, such as utf-8, latin-1 or utf-16") from None
    if name in UNSTREAMABLE_ENCODINGS:
        raise CorpusError(f"{encoding!r} is an encoding of domain names whose decoder cannot read a file in blocks (each block "
                          "would decode differently); decode the file to UTF-8 first")
    try:
        codecs.lookup_error(errors)
        b"\xff".decode("utf-8", errors)  # handlers made for encoding only (xmlcharrefreplace) raise TypeError here
    except UnicodeDecodeError:
        pass  # strict
    except (LookupError, TypeError, ValueError):
        raise CorpusError(f"unknown encoding error handler {errors!r} (or one that cannot decode); use strict, replace "
                          "or ignore") from None
    return b"\x00" in sample


def _binary_error(source: str) -> CorpusError:
    return CorpusError(f"{source} looks like a binary file (it contains NUL bytes), not text; if it is text in UTF-16 or "
                       "UTF-32, pass --encoding")


def _invalid_bytes(source: str, encoding: str, offset: int, error: UnicodeError) -> CorpusError:
    if isinstance(error, UnicodeDecodeError):
        return CorpusError(
            f"{source}: invalid {encoding} at byte offset {offset + error.start} ({error.reason}). Pass the right "
            "--encoding (for example latin-1), or --encoding-errors replace to replace invalid bytes.")
    return CorpusError(f"{source} cannot be decoded as {encoding} ({error}); pass the right --encoding")


def decode_bytes(data: bytes, source: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Decode a file's bytes, with errors that name the file and the byte offset."""
    nul_is_text = check_encoding(encoding, errors)
    if not data:
        raise CorpusError(f"{source} is empty: a corpus needs some text")
    if b"\x00" in data[:65536] and not nul_is_text:
        raise _binary_error(source)
    try:
        return data.decode(encoding, errors=errors)
    except UnicodeError as error:  # UnicodeDecodeError, and the bare UnicodeError of utf-16 without a BOM, idna, ...
        raise _invalid_bytes(source, encoding, 0, error) from error


def _expand(source: str, pattern: str) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob(pattern) if p.is_file())
        if not files and pattern == "*.txt":  # no text: a directory of music files (.abc, .mid, ...) reads as music
            from ..music.corpora import is_music_file

            files = sorted(p for p in path.rglob("*") if p.is_file() and is_music_file(p))
        if not files:
            raise CorpusError(f"directory {source} holds no files matching {pattern!r}; change --glob")
        return files
    if path.is_file():
        return [path]
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise CorpusError(f"{source} is {describe_kind(mode)}, not a regular file: lstmgen reads corpora from regular files "
                          "(a pipe or device could block or never end); to stream text, pipe it to standard input (-)")
    if any(ch in source for ch in "*?["):
        files = sorted(Path(p) for p in globbing.glob(source, recursive=True) if Path(p).is_file())
        if not files:
            raise CorpusError(f"no files match {source!r}")
        return files
    known = ", ".join([*NAMED_CORPORA, *MUSIC_CORPORA])
    raise CorpusError(f"{source!r} is neither a file, a directory, a glob nor a named corpus ({known})")


def read_corpus(
    sources: Sequence[str] = (),
    encoding: str = "utf-8",
    errors: str = "strict",
    pattern: str = "*.txt",
    stdin=None,
) -> Corpus:
    """Read and join (with newlines) the texts named by ``sources``.

    Each source is ``-`` (standard input), a file, a directory (read recursively, files matching
    ``pattern``), a glob, or a named corpus. No source means the embedded default corpus.
    """
    if not sources:
        return Corpus(default_corpus_text(), (DEFAULT_CORPUS,))
    texts: list[str] = []
    names: list[str] = []
    for source in sources:
        if source == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = b"".join(_checked_blocks(stream, "standard input", check_encoding(encoding, errors)))
            texts.append(decode_bytes(data, "standard input", encoding, errors))
            names.append("-")
        elif source == DEFAULT_CORPUS and not Path(source).exists():
            texts.append(default_corpus_text())
            names.append(DEFAULT_CORPUS)
        elif has_official_split(source):  # as a training text: its train split
            path = split_source(source, "train").path
            texts.append(decode_bytes(_read_file(path), str(path), "utf-8", errors))
            names.append(f"{source}:train")
        elif source in NAMED_CORPORA and not Path(source).exists():
            path = fetch_named_corpus(source)
            texts.append(decode_bytes(_read_file(path), str(path), "utf-8", errors))
            names.append(source)
        elif source in MUSIC_CORPORA and not Path(source).exists():
            texts.append(_music_corpus(source))
            names.append(source)
        else:
            text_files, music_files = _split_music(_expand(source, pattern))
            for path in text_files:
                texts.append(decode_bytes(_read_file(path), str(path), encoding, errors))
                names.append(str(path))
            for name, text in _music_files(music_files) if music_files else ():
                texts.append(text)
                names.append(name)
    text = "\n".join(texts)
    if not text.strip():
        raise CorpusError(f"the corpus ({', '.join(names)}) holds only whitespace")
    return Corpus(text, tuple(names))


def _read_file(path: Path) -> bytes:
    with open_regular(path, CorpusError, what="corpus file") as handle:
        return handle.read()


def _checked_blocks(stream: BinaryIO, name: str, nul_is_text: bool, block: int = BLOCK_BYTES) -> Iterator[bytes]:
    """A stream's blocks, refusing the stream at the first block that holds a NUL byte: a stream has no end
    to wait for, so ``lstmgen train - < /dev/zero`` (or text followed by zeros) must stop at once instead of
    filling the memory or the disk. (A file is judged by its first 64 KiB: its size is known.)"""
    while True:
        data = stream.read(block)
        if not data:
            return
        if not nul_is_text and b"\x00" in data:
            raise _binary_error(name)
        yield data


# ----- streaming: the corpus read in blocks, never held whole -----------------------------------------
@dataclass(frozen=True)
class Source:
    """One text of a corpus: a file on disk, or bytes held in memory (the embedded default, a string)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    encoding: str = "utf-8"

    def open(self) -> BinaryIO:
        if self.path is None:
            return io.BytesIO(self.data)
        return open_regular(self.path, CorpusError, what="corpus file")  # a FIFO swapped in since resolve_sources cannot block

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data)


def resolve_sources(sources: Sequence[str] = (), pattern: str = "*.txt", encoding: str = "utf-8", stdin: BinaryIO | None = None,
                    spool_dir: str | os.PathLike | None = None) -> list[Source]:
    """The texts ``sources`` name (as read_corpus reads them), without reading them.

    Standard input can be read only once, so it is copied to a file in ``spool_dir`` (block by block).
    """
    if not sources:
        return [Source(DEFAULT_CORPUS, data=default_corpus_text().encode("utf-8"))]
    resolved: list[Source] = []
    for source in sources:
        if source == "-":
            if spool_dir is None:
                raise CorpusError("reading a corpus from standard input needs a directory to spool it to")
            target = Path(spool_dir) / "stdin.txt"
            target.parent.mkdir(parents=True, exist_ok=True)
            nul_is_text = check_encoding(encoding)
            try:
                with open(target, "wb") as handle:
                    for data in _checked_blocks(stdin if stdin is not None else sys.stdin.buffer, "standard input", nul_is_text):
                        handle.write(data)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            resolved.append(Source("-", path=target, encoding=encoding))
        elif source == DEFAULT_CORPUS and not Path(source).exists():
            resolved.append(Source(DEFAULT_CORPUS, data=default_corpus_text().encode("utf-8")))
        elif has_official_split(source):  # its train split; its valid split is the validation text (validation_sources)
            resolved.append(split_source(source, "train"))
        elif source in NAMED_CORPORA and not Path(source).exists():
            resolved.append(Source(source, path=fetch_named_corpus(source)))
        elif source in MUSIC_CORPORA and not Path(source).exists():
            resolved.append(Source(source, data=_music_corpus(source).encode("utf-8")))
        else:
            text_files, music_files = _split_music(_expand(source, pattern))
            resolved.extend(Source(str(path), path=path, encoding=encoding) for path in text_files)
            resolved.extend(Source(name, data=text.encode("utf-8")) for name, text in (_music_files(music_files) if music_files else ()))
    return resolved


def text_source(text: str, name: str = "<text>") -> Source:
    return Source(name, data=text.encode("utf-8", errors="surrogatepass"))


def _incremental_decoder(encoding: str, errors: str, head: bytes) -> codecs.IncrementalDecoder:
    """The incremental decoder that decodes a stream starting with ``head`` as ``bytes.decode`` decodes it whole.

    UTF-16 and UTF-32 look for a byte order mark. Without one, ``bytes.decode`` takes the machine's byte
    order, but their incremental decoders raise "stream does not start with BOM" instead; so a file
    without a mark is decoded here in the machine's order too, and reads the same in every reader.
    """
    name = codecs.lookup(encoding).name
    marks = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}
    if name in marks and not head.startswith(marks[name]):
        encoding = f"{name}-{'le' if sys.byteorder == 'little' else 'be'}"
    return codecs.getincrementaldecoder(encoding)(errors=errors)


def iter_blocks(source: Source, errors: str = "strict", block: int = BLOCK_BYTES) -> Iterator[tuple[bytes, str]]:
    """(raw bytes, decoded text) of a source, block by block, with the checks of ``decode_bytes``:
    empty and binary (NUL) files are refused, and invalid bytes are reported at their offset in the file."""
    nul_is_text = check_encoding(source.encoding, errors)
    offset = 0
    with source.open() as handle:
        data = handle.read(max(block, 4))  # at least enough to see a byte order mark
        decoder = _incremental_decoder(source.encoding, errors, data)
        while data:
            if offset < 65536 and b"\x00" in data[: 65536 - offset] and not nul_is_text:  # the first 64 KiB, as decode_bytes
                raise _binary_error(source.name)
            try:
                text = decoder.decode(data)
            except UnicodeError as error:
                raise _invalid_bytes(source.name, source.encoding, offset, error) from error
            offset += len(data)
            yield data, text
            data = handle.read(block)
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeError as error:
            raise CorpusError(f"{source.name}: the file ends inside a {source.encoding} character (byte offset {offset}); "
                              "pass --encoding-errors replace to replace it") from error
        if tail:
            yield b"", tail
    if offset == 0:
        raise CorpusError(f"{source.name} is empty: a corpus needs some text")
