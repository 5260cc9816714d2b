"""The word tokenizer: words and punctuation marks as tokens, rare words as ``<unk>`` (id 0), spaces restored by rule."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import UNKNOWN_TOKEN, FunctionDecoder, StreamDecoder, TokenizerError, check_policy, unknown_error

# Words (with inner apostrophes), single punctuation marks, and newlines (kept: they carry layout).
_WORD_PATTERN = re.compile(r"\n|\w+(?:'\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}%'\n")
_NO_SPACE_AFTER = set("([{\n")


class WordTokenizer:
    """Words and punctuation marks as tokens; words rarer than ``min_frequency`` become ``<unk>`` (id 0)."""

    kind = "word"
    never_generated = ()  # <unk> stands for real (rare) words in the training text
    unknown_id = 0

    def __init__(self, words: Iterable[str], lowercase: bool = False, documents: bool = False) -> None:
        self.lowercase = lowercase
        self.words = [w for w in words if w != UNKNOWN_TOKEN]
        self._index = {w: i + 1 for i, w in enumerate(self.words)}
        self.end_of_document = len(self.words) + 1 if documents else None

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD_PATTERN.findall(text)

    @classmethod
    def fit(cls, text: str, lowercase: bool = False, min_frequency: int = 1) -> "WordTokenizer":
        if lowercase:
            text = text.lower()
        return cls.from_counts(Counter(cls.split(text)), lowercase, min_frequency)

    @classmethod
    def learn(cls, pieces: Iterable[str], lowercase: bool = False, min_frequency: int = 1,
              documents: bool = False) -> "WordTokenizer":
        """The vocabulary of the text, given piece by piece (the pieces must not split a word)."""
        counts: Counter = Counter()
        for text in pieces:
            counts.update(cls.split(text.lower() if lowercase else text))
        if counts and max(counts.values()) < min_frequency:
            raise TokenizerError(f"no word occurs {min_frequency:,} times in the training text (the most frequent occurs "
                                 f"{max(counts.values()):,} times), so the vocabulary would be empty: lower --min-frequency")
        return cls.from_counts(counts, lowercase, min_frequency, documents=documents)

    @classmethod
    def from_counts(cls, counts: Counter, lowercase: bool = False, min_frequency: int = 1, documents: bool = False) -> "WordTokenizer":
        """The vocabulary from word counts: words seen at least ``min_frequency`` times."""
        # Most frequent first; ties broken alphabetically so the vocabulary is deterministic.
        words = sorted((w for w, n in counts.items() if n >= min_frequency), key=lambda w: (-counts[w], w))
        return cls(words, lowercase=lowercase, documents=documents)

    @property
    def vocab_size(self) -> int:
        return len(self.words) + 1 + (self.end_of_document is not None)

    def _tokens(self, text: str) -> list[str]:
        return self.split(text.lower() if self.lowercase else text)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        check_policy(unknown)
        tokens = self._tokens(text)
        ids = np.fromiter(map(self._index.get, tokens, itertools.repeat(0)), dtype=np.int64, count=len(tokens))
        if len(ids) and not ids.all():
            if unknown == "error":
                raise unknown_error(self.unknown_symbols(text), "word")
            if unknown == "skip":
                ids = ids[ids != 0]
        return ids

    def unknown_symbols(self, text: str) -> Counter:
        return Counter(t for t in self._tokens(text) if t not in self._index)

    def token_text(self, token_id: int) -> str:
        if token_id == self.end_of_document:
            return ""
        return UNKNOWN_TOKEN if token_id == 0 else self.words[token_id - 1]

    @staticmethod
    def _separator(previous: str | None, current: str) -> str:
        if previous is None or not current or previous[-1] in _NO_SPACE_AFTER or current[0] in _NO_SPACE_BEFORE:
            return ""
        return " "

    def decode(self, ids: Iterable[int]) -> str:
        decoder = self.stream_decoder()
        return "".join(decoder.feed(int(i)) for i in ids)

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        previous: list[str | None] = [None]
        for token_id in context:
            previous[0] = self.token_text(int(token_id)) or None  # after an end of document: a fresh start
        if context_text and context_text[-1].isspace():
            previous[0] = None  # the prompt "a " already holds the space before the next word

        def feed(token_id: int) -> str:
            text = self.token_text(token_id)
            piece = self._separator(previous[0], text) + text
            previous[0] = text or None
            return piece

        return FunctionDecoder(feed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "words": self.words, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WordTokenizer":
        return cls(data["words"], lowercase=bool(data.get("lowercase", False)), documents=bool(data.get("end_of_document", False)))
