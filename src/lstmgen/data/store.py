"""The token store: a corpus tokenized once into a file that training memory-maps, whatever its size.

    DATA_DIR/tokens.bin      every token, in order, as the smallest unsigned integers that hold the vocabulary
    DATA_DIR/tokenizer.json  the vocabulary, fitted on the training part only
    DATA_DIR/meta.json       dtype, token count, the train / val / test regions, each source's size and SHA-256,
                             the tokens' SHA-256, characters and bytes per region, the lstmgen version

``prepare`` reads the sources block by block and never holds the corpus as one string, in three passes:
(1) hash and count the characters of every source, which fixes the split (the last ``val_fraction`` of
the characters is validation, as before); (2) count the vocabulary of the training part; (3) encode each
region and append it to tokens.bin. Memory stays that of a few blocks (4 MiB each) however large the corpus.
``TokenStore.open`` memory-maps tokens.bin read-only: training and validation slice their windows from the
map, so nothing copies the whole stream. The store is written to a temporary directory and renamed into
place, so a crash never leaves half of one.

**Labelled documents** (``labelled=``, lstmgen.data.labelled): each document is written as ``<label> text <eod>``,
region by region; the last ``val_fraction`` (then ``test_fraction``) of each label's characters is held out, so every
label is in every region; meta.json counts the documents per label and region (``labels``), and the tokenizer
carries the label set (lstmgen.tokenizers.labels).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..system import durable
from ..tokenizers import LabelledTokenizer, Tokenizer, TokenizerError, fit_vocabulary, labels_of, tokenizer_from_dict
from ..version import __version__
from .batches import REGIONS, split_bounds
from .corpus import BLOCK_BYTES, NAMED_CORPORA, CorpusError, Source, iter_blocks
from .documents import DocumentSplitter, separator_pattern
from .labelled import LabelledCorpus

FORMAT = "lstmgen-token-store"
FORMAT_VERSION = 1
DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32}
SEPARATOR = "\n"  # between sources, as read_corpus joins them
Progress = Callable[[int], None]  # called with the bytes read since the last call


class StoreError(ValueError):
    """A token store is missing, truncated, foreign or does not match; the message says which file and why."""


def smallest_dtype(vocab_size: int) -> str:
    """The smallest unsigned integer type that holds ids 0 .. vocab_size - 1."""
    for name, dtype in DTYPES.items():
        if vocab_size - 1 <= np.iinfo(dtype).max:
            return name
    raise StoreError(f"a vocabulary of {vocab_size:,} symbols does not fit 32-bit token ids")


def _texts(sources: Sequence[Source], errors: str, progress: Progress | None) -> Iterator[tuple[bytes, str]]:
    """(raw bytes, text) of every source in turn, block by block; a line break joins one source to the next."""
    for index, source in enumerate(sources):
        if index:
            yield b"", SEPARATOR
        for data, text in iter_blocks(source, errors):
            if progress is not None:
                progress(len(data))
            yield data, text


Bounds = dict[str, tuple[int, int]]  # region -> [start, end) in characters of one stream of sources


def _pieces(sources: Sequence[Source], errors: str, bounds: Bounds, progress: Progress | None) -> Iterator[tuple[str, str]]:
    """(region, text) pieces of the joined sources, each cut after a whitespace so no piece splits a word,
    and never crossing a region boundary (each region is tokenized on its own)."""
    position, carry = 0, ""  # characters of the stream before the block; text held back from the last block
    for _, text in _texts(sources, errors, progress):
        text = carry + text
        start = position - len(carry)
        position += len(text) - len(carry)
        # Hold back what follows the last whitespace: it may be the start of a word that continues in the next block.
        cut = max(text.rfind(" "), text.rfind("\n")) + 1
        carry = text[cut:] if 0 < cut < len(text) else ""
        yield from _by_region(text[: len(text) - len(carry)], start, bounds)
    if carry:
        yield from _by_region(carry, position - len(carry), bounds)


def _by_region(text: str, start: int, bounds: Bounds) -> Iterator[tuple[str, str]]:
    while text:
        region, (_, end) = next((name, span) for name, span in bounds.items() if span[0] <= start < span[1])
        piece, text = text[: end - start], text[end - start :]
        yield region, piece
        start += len(piece)


def _hash_and_count(sources: Sequence[Source], errors: str, progress: Progress | None) -> tuple[list[dict[str, Any]], int]:
    """Pass 1: each source's size and SHA-256, and the characters of the joined text (which fix the split)."""
    records, characters = [], max(len(sources) - 1, 0)  # the line breaks that join them
    for source in sources:
        digest, size = hashlib.sha256(), 0
        for data, text in iter_blocks(source, errors):
            digest.update(data)
            size += len(data)
            characters += len(text)
            if progress is not None:
                progress(len(data))
        records.append({"name": source.name, "encoding": source.encoding, "bytes": size, "sha256": digest.hexdigest()})
    return records, characters


def _segments(sources: Sequence[Source], errors: str, bounds: Bounds, documents: str,
              progress: Progress | None) -> Iterator[tuple[str, str | None]]:
    """(region, text) of a stream of sources, with (region, None) after each document in document mode.

    The stream's last region ends with the text, so its last document is complete; every earlier region was
    cut by the split, so its last document gets no end-of-document mark.
    """
    if not documents:
        yield from _pieces(sources, errors, bounds, progress)
        return
    splitter, current = None, None
    for region, piece in _pieces(sources, errors, bounds, progress):
        if region != current:
            if splitter is not None:
                yield from ((current, part) for part in splitter.finish(complete=False))
            splitter, current = DocumentSplitter(documents), region
        yield from ((region, part) for part in splitter.feed(piece))
    if splitter is not None:
        yield from ((current, part) for part in splitter.finish(complete=True))


@dataclass(frozen=True)
class Label:
    """A label read before its document (labelled corpora): the store writes the label's id."""

    name: str


Segment = tuple[str, "str | Label | None"]  # (region, text | a document's label | None: the end of a document)


class LabelledSplit:
    """Where each labelled document goes: the last ``val_fraction`` (then ``test_fraction``) of each label's characters
    is held out, so every label is in every region even when the corpus is ordered by label (a directory per label)."""

    def __init__(self, corpus: LabelledCorpus, val_fraction: float, test_fraction: float) -> None:
        self.corpus, self.val_fraction, self.test_fraction = corpus, val_fraction, test_fraction
        self.totals: Counter = Counter()
        for document in corpus.documents():
            self.totals[document.label] += len(document.text)
        if not self.totals:
            raise CorpusError(f"the labelled corpus ({', '.join(corpus.sources)}) holds no document with text")
        self.labels = tuple(sorted(self.totals))

    def segments(self, regions: Sequence[str] = REGIONS, progress: Progress | None = None) -> Iterator[Segment]:
        """(region, Label), (region, text), (region, None) per document, region by region (regions are contiguous)."""
        for wanted in regions:
            seen: Counter = Counter()
            for document in self.corpus.documents():
                share = seen[document.label] / self.totals[document.label]
                seen[document.label] += len(document.text)
                region = ("train" if share < 1 - self.val_fraction - self.test_fraction
                          else "val" if share < 1 - self.test_fraction else "test")
                if region != wanted:
                    continue
                if progress is not None and wanted == "train":
                    progress(len(document.text))
                yield region, Label(document.label)
                yield region, document.text
                yield region, None


def _whole_documents(sources: Sequence[Source], errors: str, bounds: Bounds, documents: str) -> Bounds:
    """The split moved back to the start of the document each boundary falls in, so held-out text is whole
    documents (whole pieces of music, never half a tune). A boundary with no document start before it stays."""
    pattern = separator_pattern(documents)
    cuts = [bounds["train"][1], bounds["val"][1]]
    found = [0, 0]  # the last document start at or before each cut
    position, carry = 0, ""
    for _, text in _texts(sources, errors, None):
        text, start = carry + text, position - len(carry)
        position += len(text) - len(carry)
        for match in pattern.finditer(text):
            end = start + match.end()
            found = [max(f, end) if end <= cut else f for f, cut in zip(found, cuts)]
        carry = text[-256:]  # a separator that spans two blocks is found in the next round
    length = bounds["test"][1]
    train, val = (f if 0 < f and cut < length else cut for f, cut in zip(found, cuts))
    val = max(train, val)
    return {"train": (0, train), "val": (train, val), "test": (val, length)}


def prepare(
    sources: Sequence[Source],
    out_dir: str | os.PathLike,
    tokenizer: str | Tokenizer = "char",
    lowercase: bool = False,
    min_frequency: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    encoding_errors: str = "strict",
    val_sources: Sequence[Source] = (),
    reuse: bool = False,
    vocab_size: int = 4096,
    documents: str = "",
    unknown: str = "replace",
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    labelled: LabelledCorpus | None = None,
) -> "TokenStore":
    """Tokenize ``sources`` into a token store at ``out_dir`` (replacing one there) and open it.

    ``tokenizer`` is a kind to fit on the training part (``vocab_size``: the subword kinds' vocabulary), or a
    tokenizer to use as it is (fine-tuning a model on new text): then symbols of the training text it lacks
    are an error listing them, or, with ``unknown`` "replace" or "skip", the unknown symbol or nothing.
    ``documents`` turns on document mode (lstmgen.data.documents). ``val_sources``, when given, are the
    validation text instead of the end of ``sources`` (whose ``val_fraction`` is then 0). ``reuse`` keeps a
    store already at ``out_dir`` that was prepared from the same sources (sizes and SHA-256) with the same settings.
    ``labelled`` (then ``sources`` may be empty) reads labelled documents instead (lstmgen.data.labelled): each is
    stored as ``<label> text <end of document>`` and the tokenizer carries the label set (tokenizers.labels).
    """
    if labelled is not None:
        if documents:
            raise CorpusError("labelled records are whole documents already; drop --documents")
        if val_sources:
            raise CorpusError("--val with labelled data is not supported: the split holds out the end of each label's documents "
                              "(--val-fraction)")
        sources = labelled.files()
    if not sources:
        raise CorpusError("no sources to prepare")
    if val_sources:
        val_fraction = 0.0
    given = None if isinstance(tokenizer, str) else tokenizer
    if given is not None and labelled is not None and not labels_of(given):
        raise TokenizerError("this model was trained without labels; fine-tune it on labelled data by training a new model")
    if given is not None and documents and given.end_of_document is None:
        raise TokenizerError("document mode needs a tokenizer with an end-of-document symbol; this model was trained "
                             "without --documents, so fine-tune it without --documents (or train a new model)")
    target = Path(out_dir)
    started = time.perf_counter()
    hashes, characters = _hash_and_count(sources, encoding_errors, progress)
    val_hashes, val_characters = _hash_and_count(val_sources, encoding_errors, progress) if val_sources else ([], 0)
    settings = {"kind": tokenizer if given is None else given.kind, "lowercase": lowercase if given is None else given.lowercase,
                "min_frequency": min_frequency, "vocab_size": vocab_size, "documents": documents, "val_fraction": val_fraction,
                "test_fraction": test_fraction, "encoding_errors": encoding_errors,
                "given_tokenizer": None if given is None else hashlib.sha256(json.dumps(given.to_dict(), sort_keys=True).encode()).hexdigest(),
                "unknown": unknown if given is not None else None}
    if labelled is not None:  # only then: unlabelled stores keep the settings they had, so they are still reused
        settings["labelled"] = {"format": labelled.format, "text_field": labelled.text_field, "label_field": labelled.label_field}
    if reuse and is_store(target):
        try:
            existing = TokenStore.open(target)
        except StoreError:
            existing = None
        if existing is not None and existing.meta.get("settings") == settings and existing.matches(hashes, val_hashes):
            return existing
    split = LabelledSplit(labelled, val_fraction, test_fraction) if labelled is not None else None
    bounds = split_bounds(characters, val_fraction, test_fraction)
    if split is not None:
        characters = sum(split.totals.values())
        bounds = split_bounds(characters, val_fraction, test_fraction)  # only checked for size: documents go by label
    elif documents:
        bounds = _whole_documents(sources, encoding_errors, bounds, documents)
    if bounds["train"][1] < 2:
        raise CorpusError(f"the corpus has {characters} characters, too few to train on after the validation/test split")
    if val_fraction > 0 and bounds["val"][1] - bounds["val"][0] < 2:
        raise CorpusError(f"the corpus has {characters} characters: too few for a validation split of {val_fraction:.0%}")
    streams = [(sources, bounds)] + ([(val_sources, {"val": (0, val_characters)})] if val_sources else [])

    def stream_segments(stream, stream_bounds, regions=REGIONS) -> Iterator[Segment]:
        if split is not None:
            return split.segments(regions, progress)
        return _segments(stream, encoding_errors, stream_bounds, documents, progress)
    # Pass 2: the vocabulary, from the training part only, so held-out text is scored honestly (or, for a given
    # tokenizer, the training text's symbols it lacks).
    seen = {"text": False}
    missing: Counter = Counter()

    def training_text() -> Iterator[str]:
        for region, part in stream_segments(sources, bounds, regions=("train",)):
            if region == "train" and isinstance(part, str):
                seen["text"] = seen["text"] or bool(part.strip())
                if given is not None and given.unknown_id is not None:
                    missing.update(given.unknown_symbols(part))
                yield part

    if given is None:
        fitted = fit_vocabulary(tokenizer, training_text(), lowercase, min_frequency, vocab_size,
                                documents=bool(documents) or split is not None)
        if split is not None:
            fitted = LabelledTokenizer(fitted, split.labels)
    else:
        for _ in training_text():
            pass
        fitted = given
        if split is not None:
            for label in split.labels:
                given.label_id(label)  # a label the model lacks: a LabelError listing the ones it knows
        if missing and unknown == "error":
            listed = ", ".join(f"{symbol!r} (x{count})" for symbol, count in missing.most_common(20))
            raise TokenizerError(f"the new corpus holds symbols the model's vocabulary lacks: {listed}"
                                 f"{'' if len(missing) <= 20 else f' and {len(missing) - 20} more'}. Remove them, or choose "
                                 "--unknown replace (train on the unknown symbol) or --unknown skip (drop them)")
    if not seen["text"]:
        raise CorpusError(f"the corpus ({', '.join(s.name for s in sources)}) holds only whitespace")
    dtype = smallest_dtype(fitted.vocab_size)
    # Pass 3: encode each region and append it to tokens.bin, hashing what is written.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    end_of_document = np.array([fitted.end_of_document or 0], dtype=np.int64)
    try:
        digest = hashlib.sha256()
        spans: dict[str, list[int]] = {}
        counts = {key: {name: 0 for name in REGIONS} for key in ("characters", "bytes", "unknown", "documents")}
        label_counts: dict[str, dict[str, int]] = {label: {name: 0 for name in REGIONS} for label in (split.labels if split else ())}
        position = 0
        with open(staging / "tokens.bin", "wb") as handle:
            for stream, stream_bounds in streams:
                for region, piece in stream_segments(stream, stream_bounds):
                    if isinstance(piece, Label):  # a labelled document's label, read before its text
                        ids = np.array([fitted.label_id(piece.name)], dtype=np.int64)
                        label_counts[piece.name][region] += 1
                    elif piece is None:  # the end of a document
                        ids = end_of_document
                        counts["documents"][region] += 1
                    else:
                        policy = unknown if (given is not None and region == "train") else "replace"
                        ids = fitted.encode(piece, unknown=policy)  # held-out symbols the vocabulary lacks: its unknown id
                        if region != "train" and fitted.unknown_id is not None:
                            counts["unknown"][region] += int((ids == fitted.unknown_id).sum())
                        counts["characters"][region] += len(piece)
                        counts["bytes"][region] += len(piece) if piece.isascii() else len(piece.encode("utf-8", errors="surrogatepass"))
                    block = ids.astype(DTYPES[dtype]).tobytes()
                    handle.write(block)
                    digest.update(block)
                    span = spans.setdefault(region, [position, position])  # regions are contiguous in the stream
                    position += len(ids)
                    span[1] = position
            handle.flush()
            os.fsync(handle.fileno())
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "lstmgen_version": __version__,
            "dtype": dtype, "tokens": position, "sha256": digest.hexdigest(),
            "regions": {name: spans.get(name, [position, position]) for name in REGIONS}, **counts,
            "vocab_size": fitted.vocab_size, "settings": settings, "sources": hashes, "val_sources": val_hashes,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if split is not None:
            meta["labels"] = label_counts  # documents per label and region
        _write_json(staging / "tokenizer.json", fitted.to_dict())
        _write_json(staging / "meta.json", meta)
        durable.swap_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if log is not None:
        megabytes = sum(h["bytes"] for h in hashes + val_hashes) / 1e6
        log(f"prepared {position:,} tokens ({fitted.kind}, vocabulary {fitted.vocab_size:,}, {dtype}) from "
            f"{megabytes:,.1f} MB in {meta['seconds']:.1f} s into {target}")
    return TokenStore.open(target)


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def is_store(path: str | os.PathLike) -> bool:
    return (Path(path) / "meta.json").is_file() and (Path(path) / "tokens.bin").is_file()


class TokenStore:
    """A prepared token store, memory-mapped read-only: ``train``, ``val`` and ``test`` are views of the map."""

    def __init__(self, path: Path, meta: dict[str, Any], tokenizer: Tokenizer, tokens: np.ndarray,
                 spans: dict[str, tuple[int, int]]) -> None:
        self.path, self.meta, self.tokenizer, self.tokens, self.spans = path, meta, tokenizer, tokens, spans

    @classmethod
    def open(cls, path: str | os.PathLike) -> "TokenStore":
        directory = Path(path)
        meta_path, tokens_path = directory / "meta.json", directory / "tokens.bin"
        if not meta_path.is_file() or not tokens_path.is_file():
            raise StoreError(f"{directory} is not a token store: it needs meta.json and tokens.bin (lstmgen prepare writes them)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise StoreError(f"{meta_path} is unreadable or not valid JSON: {error}") from error
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise StoreError(f"{meta_path} is not an lstmgen token store (no format {FORMAT!r})")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(f"{meta_path} has format version {version!r}; this lstmgen reads up to {FORMAT_VERSION}: upgrade it")
        dtype, count, regions = meta.get("dtype"), meta.get("tokens"), meta.get("regions")
        if dtype not in DTYPES or not isinstance(count, int) or count < 0 or not isinstance(regions, dict):
            raise StoreError(f"{meta_path} is malformed: it needs a dtype ({', '.join(DTYPES)}), a token count and regions")
        try:
            spans = {name: (int(regions[name][0]), int(regions[name][1])) for name in REGIONS}
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise StoreError(f"{meta_path} has malformed regions ({error}): expected train, val and test as [start, end]") from error
        if any(not 0 <= a <= b <= count for a, b in spans.values()):
            raise StoreError(f"{meta_path}: regions {spans} do not lie within the {count:,} tokens")
        expected = count * np.dtype(DTYPES[dtype]).itemsize
        actual = tokens_path.stat().st_size
        if actual != expected:
            raise StoreError(f"{tokens_path} holds {actual:,} bytes but meta.json describes {count:,} {dtype} tokens "
                             f"({expected:,} bytes): the store is truncated or from another corpus; prepare it again")
        try:
            tokenizer = tokenizer_from_dict(json.loads((directory / "tokenizer.json").read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError, TokenizerError) as error:
            raise StoreError(f"{directory}/tokenizer.json is missing or malformed: {error}") from error
        if count and tokenizer.vocab_size - 1 > np.iinfo(DTYPES[dtype]).max:
            raise StoreError(f"{directory}: the tokenizer's {tokenizer.vocab_size:,} ids do not fit {dtype}")
        tokens = np.memmap(tokens_path, dtype=DTYPES[dtype], mode="r", shape=(count,)) if count else np.zeros(0, dtype=DTYPES[dtype])
        return cls(directory, meta, tokenizer, tokens, spans)

    def region(self, name: str) -> np.ndarray:
        start, end = self.spans[name]
        return self.tokens[start:end]

    @property
    def train(self) -> np.ndarray:
        return self.region("train")

    @property
    def val(self) -> np.ndarray:
        return self.region("val")

    @property
    def test(self) -> np.ndarray:
        return self.region("test")

    def verify(self) -> None:
        """Hash tokens.bin and compare with meta.json: a corrupt or swapped store fails here, not mid-run."""
        digest = hashlib.sha256()
        with open(self.path / "tokens.bin", "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
                digest.update(block)
        if digest.hexdigest() != self.sha256:
            raise StoreError(f"{self.path}/tokens.bin does not match the SHA-256 in its meta.json: the store is corrupt; "
                             "prepare it again")

    @property
    def sha256(self) -> str:
        return str(self.meta.get("sha256", ""))

    def matches(self, sources: Sequence[dict[str, Any]], val_sources: Sequence[dict[str, Any]] = ()) -> bool:
        """Whether this store was prepared from sources (and validation sources) of these sizes and hashes."""
        def key(records):
            return [(record.get("bytes"), record.get("sha256")) for record in records]
        return key(self.meta.get("sources", [])) == key(sources) and key(self.meta.get("val_sources", [])) == key(val_sources)

    def info(self) -> dict[str, Any]:
        """What the trainer records about its data."""
        meta = self.meta
        return {"store": str(self.path), "store_sha256": self.sha256, "sources": [s["name"] for s in meta.get("sources", [])],
                "source_hashes": meta.get("sources", []), "train_tokens": len(self.train), "val_tokens": len(self.val),
                "test_tokens": len(self.test), "val_unknown": int(meta.get("unknown", {}).get("val", 0)),
                "characters": meta.get("characters", {}), "bytes": meta.get("bytes", {}), "validation": self.validation()}

    def validation(self) -> str:
        """Which text the validation region holds, in words: the split every validation figure is on."""
        names = [str(source.get("name")) for source in self.meta.get("val_sources", [])]
        if not names:
            return f"the last {self.meta.get('settings', {}).get('val_fraction', 0):.0%} of the corpus"
        return " + ".join(_describe_split(name) for name in names)


def _describe_split(name: str) -> str:
    """'wikitext2:valid' -> 'wikitext2 valid (official split)'; a file's name as it is."""
    corpus, _, split = name.rpartition(":")
    spec = NAMED_CORPORA.get(corpus)
    return f"{corpus} {split} (official split)" if spec is not None and split in dict(spec.splits) else name
