"""The symbols tokenizer: any whitespace-separated token sequence (events, notes, log records), id 0 ``<unk>``.

Every run of non-whitespace characters is one token; line breaks are tokens too (they carry layout), other
whitespace only separates. Decoding joins tokens with single spaces and starts a new line after each line
break, so ``decode(encode(text))`` is the text with its whitespace normalised.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import (
    UNKNOWN_TOKEN,
    FunctionDecoder,
    StreamDecoder,
    TokenizerError,
    check_policy,
    encode_pieces,
    unknown_error,
    unknown_in_pieces,
)

_SYMBOL_PATTERN = re.compile(r"\n|[^\s]+")


class SymbolsTokenizer:
    """Whitespace-separated symbols as tokens; symbols rarer than ``min_frequency`` become ``<unk>`` (id 0)."""

    kind = "symbols"
    never_generated: tuple[int, ...] = ()  # <unk> stands for real (rare) symbols of the training text
    unknown_id = 0
    what = "symbol"  # how unknown-symbol errors name a token
    pattern = _SYMBOL_PATTERN

    def __init__(self, symbols: Iterable[str], lowercase: bool = False, documents: bool = False) -> None:
        self.lowercase = lowercase
        self.symbols = [s for s in symbols if s != UNKNOWN_TOKEN]
        if any(not isinstance(s, str) or not s or (s != "\n" and _SYMBOL_PATTERN.fullmatch(s) is None) for s in self.symbols):
            raise TokenizerError("a symbol vocabulary must hold non-empty strings without whitespace (or a line break)")
        if len(set(self.symbols)) != len(self.symbols):
            raise TokenizerError("the symbols of a vocabulary must be distinct")
        self._index = {s: i + 1 for i, s in enumerate(self.symbols)}
        self.end_of_document = len(self.symbols) + 1 if documents else None

    @classmethod
    def split(cls, text: str) -> list[str]:
        return cls.pattern.findall(text)

    @classmethod
    def learn(cls, pieces: Iterable[str], lowercase: bool = False, min_frequency: int = 1, documents: bool = False) -> "SymbolsTokenizer":
        """The vocabulary of the text, given piece by piece (the pieces must not split a symbol)."""
        counts: Counter = Counter()
        for text in pieces:
            counts.update(cls.split(text.lower() if lowercase else text))
        if counts and max(counts.values()) < min_frequency:
            raise TokenizerError(f"no symbol occurs {min_frequency:,} times in the training text, so the vocabulary would be empty: "
                                 "lower --min-frequency")
        # Most frequent first; ties broken by the symbol so the vocabulary is deterministic.
        symbols = sorted((s for s, n in counts.items() if n >= min_frequency), key=lambda s: (-counts[s], s))
        return cls(symbols, lowercase=lowercase, documents=documents)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols) + 1 + (self.end_of_document is not None)

    def _tokens(self, text: str) -> list[str]:
        return self.split(text.lower() if self.lowercase else text)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """The tokens of ``text``; in document mode a blank line (between two pieces) is the end-of-document id."""
        check_policy(unknown)
        return encode_pieces(text, self.end_of_document, lambda piece: self._encode(piece, unknown))

    def _encode(self, text: str, unknown: str) -> np.ndarray:
        tokens = self._tokens(text)
        ids = np.fromiter(map(self._index.get, tokens, itertools.repeat(0)), dtype=np.int64, count=len(tokens))
        if len(ids) and not ids.all():
            if unknown == "error":
                raise unknown_error(self.unknown_symbols(text), self.what)
            if unknown == "skip":
                ids = ids[ids != 0]
        return ids

    def unknown_symbols(self, text: str) -> Counter:
        return unknown_in_pieces(text, self.end_of_document, lambda piece: Counter(t for t in self._tokens(piece) if t not in self._index))

    def token_text(self, token_id: int) -> str:
        if token_id == self.end_of_document:
            return ""
        return UNKNOWN_TOKEN if token_id == 0 else self.symbols[token_id - 1]

    def decode(self, ids: Iterable[int]) -> str:
        decoder = self.stream_decoder()
        return "".join(decoder.feed(int(i)) for i in ids)

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        # A space goes before every symbol but the first of a line; ``fresh``: nothing written on this line yet.
        fresh = [True]
        for token_id in context:
            text = self.token_text(int(token_id))
            fresh[0] = text in ("", "\n")
        if context_text is not None and context_text[-1:].isspace():
            fresh[0] = True  # the prompt already ends in the separating space or line break

        def feed(token_id: int) -> str:
            text = self.token_text(token_id)
            if not text or text == "\n":
                fresh[0] = True
                return text
            piece = text if fresh[0] else " " + text
            fresh[0] = False
            return piece

        return FunctionDecoder(feed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "symbols": self.symbols, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SymbolsTokenizer":
        return cls(data["symbols"], lowercase=bool(data.get("lowercase", False)), documents=bool(data.get("end_of_document", False)))
