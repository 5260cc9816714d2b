"""The character tokenizer: one token per Unicode character, id 0 the unknown symbol."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import UNKNOWN_TOKEN, FunctionDecoder, StreamDecoder, TokenizerError, check_policy, unknown_error


class CharTokenizer:
    """One token per Unicode character; id 0 is the unknown symbol, ids 1.. the corpus's characters."""

    kind = "char"
    never_generated = (0,)  # the unknown symbol never occurs in training text
    unknown_id = 0

    def __init__(self, characters: Iterable[str], lowercase: bool = False, documents: bool = False) -> None:
        chars = sorted(set(characters))
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise TokenizerError("a character vocabulary must hold single characters")
        self.lowercase = lowercase
        self.characters = chars
        self.end_of_document = len(chars) + 1 if documents else None
        # Encoding is one vectorised lookup: code point -> id, 0 (unknown) for every code point not in the
        # vocabulary; the table's last slot (past the largest code point) stands for all larger ones.
        points = np.array([ord(c) for c in chars], dtype=np.int64)
        self._table = np.zeros((int(points.max()) + 2) if len(points) else 1, dtype=np.int32)
        self._table[points] = np.arange(1, len(points) + 1, dtype=np.int32)

    @classmethod
    def fit(cls, text: str, lowercase: bool = False) -> "CharTokenizer":
        return cls.learn([text], lowercase=lowercase)

    @classmethod
    def learn(cls, pieces: Iterable[str], lowercase: bool = False, documents: bool = False) -> "CharTokenizer":
        """The characters that occur in the text, given piece by piece (streaming: never held whole)."""
        seen = np.zeros(0, dtype=bool)  # which code points occur
        for text in pieces:
            if lowercase:
                text = text.lower()
            points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
            if len(points):
                present = np.bincount(points, minlength=len(seen)).astype(bool)
                present[: len(seen)] |= seen
                seen = present
        return cls((chr(point) for point in np.flatnonzero(seen)), lowercase=lowercase, documents=documents)

    @property
    def vocab_size(self) -> int:
        return len(self.characters) + 1 + (self.end_of_document is not None)

    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        if self.lowercase:
            text = text.lower()
        # surrogatepass: a lone surrogate (legal in a Python string, not in UTF-8) is an unknown character, not a crash.
        points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
        ids = self._table[np.minimum(points, len(self._table) - 1)]
        return ids, ids != 0

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        check_policy(unknown)
        ids, known = self._lookup(text)
        if not known.all():
            if unknown == "error":
                raise unknown_error(self.unknown_symbols(text), "character")
            if unknown == "skip":
                ids = ids[known]
            else:
                ids = np.where(known, ids, 0)
        return ids.astype(np.int64)

    def unknown_symbols(self, text: str) -> Counter:
        _, known = self._lookup(text)
        if known.all():
            return Counter()
        normalised = text.lower() if self.lowercase else text
        return Counter(c for c, k in zip(normalised, known) if not k)

    def token_text(self, token_id: int) -> str:
        if token_id == self.end_of_document:
            return ""
        return UNKNOWN_TOKEN if token_id == 0 else self.characters[token_id - 1]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.token_text(int(i)) for i in ids)

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        return FunctionDecoder(lambda token_id: self.token_text(token_id))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "characters": "".join(self.characters),
                "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CharTokenizer":
        return cls(list(data["characters"]), lowercase=bool(data.get("lowercase", False)),
                   documents=bool(data.get("end_of_document", False)))
