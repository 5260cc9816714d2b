"""A user's corpus as GAN sequences: fixed-length windows that start where generation starts.

``lstmgen generate`` starts every text from a fresh state after a line break (or, for a model trained on
documents, after an end of document): ``decoding.encode_prompt`` of an empty prompt. So the real sequences a
GAN compares its samples with are the T tokens that follow each line break of the corpus, and the generator
samples T tokens from a fresh state after the same start token:

    tokens   ... e n d \\n T h e   s u n ...          one window per line start, inputs [start, y_1 .. y_T-1]
                        ^ start  y_1 ........ y_T

The corpus is tokenized with the checkpoint's tokenizer (symbols it lacks are an error that lists them, as in
fine-tuning), then split contiguously into train / validation / test (the last fractions, as training splits
a corpus), and every region keeps the windows that lie wholly inside it.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..config import ConfigError
from ..data.batches import split_bounds
from ..decoding import encode_prompt
from ..system import durable
from ..system.untrusted import read_regular
from ..tokenizers import Tokenizer

REGIONS = ("train", "validation", "test")
MINIMUM_SEQUENCES = {"train": 8, "validation": 2, "test": 2}  # fewer cannot train or measure anything


@dataclass(frozen=True)
class TextSequences:
    train: torch.Tensor  # [N, T] token ids
    validation: torch.Tensor
    test: torch.Tensor
    start_token: int
    corpus_sha256: str
    corpus_tokens: int

    def region(self, name: str) -> torch.Tensor:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]


def start_token_of(tokenizer: Tokenizer) -> int:
    """The one token generation starts from after a fresh state (a line break, or the end of document)."""
    try:
        ids = encode_prompt(tokenizer, "")
    except ValueError:
        raise ConfigError("the model's vocabulary has no line break, and GAN sequences start after one (as generation "
                          "does); train the model on text with line breaks") from None
    if len(ids) != 1:
        raise ConfigError(f"the model's empty prompt is {len(ids)} tokens, not one; GAN sequences need a single start token")
    return int(ids[0])


def windows_after(ids: np.ndarray, start_token: int, length: int, bounds: tuple[int, int]) -> np.ndarray:
    """The ``length`` tokens after every ``start_token`` in ids[bounds[0]:bounds[1]] that fit there -> [N, length]."""
    first, end = bounds
    positions = np.flatnonzero(ids[first:end] == start_token) + first
    positions = positions[positions + length < end]  # window ids[p + 1 .. p + length] inside the region
    if len(positions) == 0:
        return np.zeros((0, length), dtype=np.int64)
    return ids[positions[:, None] + 1 + np.arange(length)]


def corpus_sequences(text: str, tokenizer: Tokenizer, length: int, unknown: str = "error", validation_fraction: float = 0.1,
                     test_fraction: float = 0.1) -> TextSequences:
    """Tokenize ``text`` with the model's tokenizer and cut it into the windows of every region (module docstring)."""
    if length < 1:
        raise ConfigError(f"sequence_length must be at least 1, got {length}")
    ids = tokenizer.encode(text, unknown=unknown)  # TokenizerError listing the symbols the vocabulary lacks
    start = start_token_of(tokenizer)
    bounds = split_bounds(len(ids), validation_fraction, test_fraction)
    regions = dict(zip(REGIONS, (bounds["train"], bounds["val"], bounds["test"])))
    windows = {name: windows_after(ids, start, length, span) for name, span in regions.items()}
    short = [f"{name} ({len(windows[name])} of at least {MINIMUM_SEQUENCES[name]})" for name in REGIONS
             if len(windows[name]) < MINIMUM_SEQUENCES[name]]
    if short:
        starts = int((ids == start).sum())
        what = "line breaks" if tokenizer.end_of_document is None else "ends of document"
        raise ConfigError(
            f"sequence_length {length} is beyond this corpus: {len(ids):,} tokens with {starts:,} {what}, and too few "
            f"{length}-token windows after them in {', '.join(short)}. Give a shorter sequence length "
            "(--sequence-length), or more text.")
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return TextSequences(*(torch.from_numpy(windows[name].astype(np.int64)) for name in REGIONS), start_token=start,
                         corpus_sha256=digest, corpus_tokens=len(ids))


def decode_words(sequences: torch.Tensor, tokenizer: Tokenizer) -> list[list[str]]:
    """Each sequence [N, T] as text split on white space: the units BLEU counts, whatever the tokenizer."""
    return [tokenizer.decode(row).split() for row in sequences.tolist()]


def decode_texts(sequences: torch.Tensor, tokenizer: Tokenizer) -> list[str]:
    return [tokenizer.decode(row) for row in sequences.tolist()]


def sequences_to_bytes(data: TextSequences) -> bytes:
    """The windows and their provenance as an .npz archive (no pickled objects: every entry is a plain array)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, train=data.train.numpy(), validation=data.validation.numpy(), test=data.test.numpy(),
                        start_token=np.array(data.start_token), corpus_tokens=np.array(data.corpus_tokens),
                        corpus_sha256=np.array(data.corpus_sha256))
    return buffer.getvalue()


def sequences_from_bytes(raw: bytes, source: str, error: type[Exception] = ConfigError) -> TextSequences:
    """Read what ``sequences_to_bytes`` wrote, checking every entry (``error`` names ``source`` for the first problem):
    never unpickled, three 2-D integer regions of one width with at least MINIMUM_SEQUENCES windows each,
    non-negative ids and counts, a SHA-256 hex digest."""
    def fail(problem: str) -> None:
        raise error(f"{source} {problem}; the file is corrupt or from another program: start the run again "
                    "(lstmgen gan train ... --overwrite)")

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as saved:
            missing = [name for name in (*REGIONS, "start_token", "corpus_tokens", "corpus_sha256") if name not in saved.files]
            if missing:
                fail(f"has no {', '.join(missing)}")
            arrays = {name: saved[name] for name in (*REGIONS, "start_token", "corpus_tokens", "corpus_sha256")}
    except error:
        raise
    except (ValueError, OSError, EOFError, KeyError, MemoryError, zipfile.BadZipFile, zlib.error) as problem:
        fail(f"is not a readable .npz archive ({type(problem).__name__}: {problem})")
    widths = set()
    for name in REGIONS:
        array = arrays[name]
        if array.ndim != 2 or array.dtype.kind not in "iu" or array.shape[1] < 1:
            fail(f"has a {name} entry of {array.dtype} {list(array.shape)}, not windows of token ids [N, T]")
        if len(array) < MINIMUM_SEQUENCES[name]:
            fail(f"has {len(array)} {name} windows, fewer than the {MINIMUM_SEQUENCES[name]} a run needs")
        if array.size and int(array.min()) < 0:
            fail(f"has a negative token id in its {name} windows")
        widths.add(array.shape[1])
    if len(widths) != 1:
        fail(f"has windows of different lengths {sorted(widths)} in its regions")
    counts = {name: arrays[name] for name in ("start_token", "corpus_tokens")}
    for name, value in counts.items():
        if value.ndim != 0 or value.dtype.kind not in "iu" or int(value) < 0:
            fail(f"has a {name} entry that is not a non-negative integer")
    digest = arrays["corpus_sha256"]
    if digest.ndim != 0 or digest.dtype.kind != "U" or not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
        fail("has a corpus_sha256 entry that is not a SHA-256 hex digest")
    return TextSequences(*(torch.from_numpy(arrays[name].astype(np.int64)) for name in REGIONS), start_token=int(counts["start_token"]),
                         corpus_sha256=str(digest), corpus_tokens=int(counts["corpus_tokens"]))


def save_sequences(path, data: TextSequences) -> str:
    """Write the windows to ``path`` atomically (a crash leaves the old file or the new one); returns its SHA-256."""
    raw = sequences_to_bytes(data)
    durable.write_file_atomically(path, raw)
    return hashlib.sha256(raw).hexdigest()


def load_sequences(path, error: type[Exception] = ConfigError) -> TextSequences:
    """Read and check a file ``save_sequences`` wrote (a regular file, never unpickled)."""
    return sequences_from_bytes(read_regular(path, error, what="the GAN run's windows"), str(path), error)


def sequence_shapes(data: TextSequences) -> Sequence[str]:
    return [f"{name} {len(data.region(name)):,}" for name in REGIONS]
