"""What every tokenizer is: the protocol, its errors and the unknown-symbol policies.

Every tokenizer maps text to a NumPy array of token ids and back. Character and word tokenizers reserve
id 0 for an unknown symbol, which training text never contains; held-out text with symbols the
vocabulary lacks is scored through it (``unknown="replace"``). The byte tokenizer and the subword ones
(byte-level: any text encodes) have no unknowns.

A prompt with unknown symbols is an error by default (``unknown="error"``, listing the symbols); the
caller may choose ``"skip"`` (drop them) or ``"replace"`` (map them to the unknown symbol) instead.

**Documents.** A tokenizer made for document mode (``documents=True``) has one more id, the last:
``end_of_document``, which the token store puts after every document. It has no text; generation stops
there, and a prompt starts after it (the model then knows it writes the beginning of a document).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Iterable, Protocol

import numpy as np

UNKNOWN_POLICIES = ("error", "skip", "replace")
UNKNOWN_TOKEN = "<unk>"
END_OF_DOCUMENT = "<|endoftext|>"  # how the end-of-document id is named where it must be shown


class TokenizerError(ValueError):
    """Text cannot be tokenized as asked (unknown symbols, a bad tokenizer file, ...)."""


class StreamDecoder(Protocol):
    def feed(self, token_id: int) -> str:
        """Return the text this token adds (may be empty while a multi-byte character is incomplete)."""


class Tokenizer(Protocol):
    kind: str
    never_generated: tuple[int, ...]  # ids that are not text and must not be sampled
    unknown_id: int | None  # the id symbols outside the vocabulary are encoded as (None: nothing is unknown)
    end_of_document: int | None  # the id that ends a document (document mode), or None
    lowercase: bool

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, unknown: str = "error") -> np.ndarray: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def token_text(self, token_id: int) -> str: ...

    def unknown_symbols(self, text: str) -> Counter: ...

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        """A decoder for what follows ``context`` (the prompt's ids; ``context_text``: the text they came
        from, where known: a tokenizer that restores spaces by rule adds none after text ending in one)."""

    def to_dict(self) -> dict[str, Any]: ...


def check_policy(unknown: str) -> None:
    if unknown not in UNKNOWN_POLICIES:
        raise TokenizerError(f"unknown-symbol policy must be one of {', '.join(UNKNOWN_POLICIES)}, got {unknown!r}")


def unknown_error(symbols: Counter, kind: str) -> TokenizerError:
    listed = ", ".join(f"{s!r} (x{n})" for s, n in symbols.most_common(20))
    more = "" if len(symbols) <= 20 else f" and {len(symbols) - 20} more"
    return TokenizerError(
        f"the text contains {kind}s the model's vocabulary lacks: {listed}{more}. "
        "Remove them, or choose a policy: skip them (--unknown skip) or replace them with the "
        "unknown symbol (--unknown replace)."
    )


BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")  # how music corpora separate pieces (document mode "blank-lines")


def unknown_in_pieces(text: str, end_of_document: int | None, count: Callable[[str], Counter]) -> Counter:
    """``count`` the unknown symbols of each blank-line-separated piece, as ``encode_pieces`` encodes them (the
    blank lines themselves are end-of-document ids, never unknown). Without an end-of-document id, the whole text."""
    if end_of_document is None or BLANK_LINES.search(text) is None:
        return count(text)
    return sum((count(piece) for piece in BLANK_LINES.split(text)), Counter())


def encode_pieces(text: str, end_of_document: int | None, encode: Callable[[str], np.ndarray]) -> np.ndarray:
    """``encode`` each piece of a text whose pieces are separated by blank lines, with the end-of-document id
    between them, as the token store writes a corpus in blank-lines document mode (so held-out text and
    prompts read as training did). Without an end-of-document id, the text is encoded whole."""
    if end_of_document is None or BLANK_LINES.search(text) is None:
        return encode(text)
    parts: list[np.ndarray] = []
    for index, piece in enumerate(BLANK_LINES.split(text)):
        if index:
            parts.append(np.array([end_of_document], dtype=np.int64))
        parts.append(encode(piece))
    return np.concatenate(parts)


class FunctionDecoder:
    """A StreamDecoder from a function of the token id."""

    def __init__(self, function: Callable[[int], str]) -> None:
        self._function = function

    def feed(self, token_id: int) -> str:
        return self._function(int(token_id))
