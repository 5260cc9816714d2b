"""Tokenizers: character, word, byte and (with the ``subword`` extra) byte-level BPE and unigram, behind one
small protocol with a JSON round-trip.

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

import codecs
import itertools
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


def _check_policy(unknown: str) -> None:
    if unknown not in UNKNOWN_POLICIES:
        raise TokenizerError(f"unknown-symbol policy must be one of {', '.join(UNKNOWN_POLICIES)}, got {unknown!r}")


def _unknown_error(symbols: Counter, kind: str) -> TokenizerError:
    listed = ", ".join(f"{s!r} (x{n})" for s, n in symbols.most_common(20))
    more = "" if len(symbols) <= 20 else f" and {len(symbols) - 20} more"
    return TokenizerError(
        f"the text contains {kind}s the model's vocabulary lacks: {listed}{more}. "
        "Remove them, or choose a policy: skip them (--unknown skip) or replace them with the "
        "unknown symbol (--unknown replace)."
    )


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
        if lowercase:
            text = text.lower()
        return cls(set(text), lowercase=lowercase)

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
        _check_policy(unknown)
        ids, known = self._lookup(text)
        if not known.all():
            if unknown == "error":
                raise _unknown_error(self.unknown_symbols(text), "character")
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
        return _FunctionDecoder(lambda token_id: self.token_text(token_id))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "characters": "".join(self.characters),
                "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CharTokenizer":
        return cls(list(data["characters"]), lowercase=bool(data.get("lowercase", False)),
                   documents=bool(data.get("end_of_document", False)))


class ByteTokenizer:
    """UTF-8 bytes: 256 symbols, so any text encodes and nothing is ever unknown."""

    kind = "byte"
    lowercase = False
    never_generated = ()
    unknown_id = None

    def __init__(self, documents: bool = False) -> None:
        self.end_of_document = 256 if documents else None

    @property
    def vocab_size(self) -> int:
        return 256 + (self.end_of_document is not None)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        _check_policy(unknown)
        return np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8).astype(np.int64)

    def unknown_symbols(self, text: str) -> Counter:
        return Counter()

    def token_text(self, token_id: int) -> str:
        return "" if token_id == self.end_of_document else bytes([token_id]).decode("utf-8", errors="replace")

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(int(i) for i in ids if i != self.end_of_document).decode("utf-8", errors="replace")

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        # An incremental decoder holds back the first bytes of a multi-byte character until it is whole.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return _FunctionDecoder(lambda token_id: "" if token_id == self.end_of_document else decoder.decode(bytes([token_id])))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ByteTokenizer":
        return cls(documents=bool(data.get("end_of_document", False)))


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
        _check_policy(unknown)
        tokens = self._tokens(text)
        ids = np.fromiter(map(self._index.get, tokens, itertools.repeat(0)), dtype=np.int64, count=len(tokens))
        if len(ids) and not ids.all():
            if unknown == "error":
                raise _unknown_error(self.unknown_symbols(text), "word")
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

        return _FunctionDecoder(feed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "words": self.words, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WordTokenizer":
        return cls(data["words"], lowercase=bool(data.get("lowercase", False)), documents=bool(data.get("end_of_document", False)))


class _FunctionDecoder:
    def __init__(self, function: Callable[[int], str]) -> None:
        self._function = function

    def feed(self, token_id: int) -> str:
        return self._function(int(token_id))


def _subword(kind: str):
    from .subword import SubwordTokenizer  # needs the `tokenizers` package (the subword extra): imported only when used

    return SubwordTokenizer


# kind -> the class that rebuilds it from its JSON (subword classes are looked up on first use).
TOKENIZERS: dict[str, Callable[[str], type]] = {
    "char": lambda kind: CharTokenizer, "word": lambda kind: WordTokenizer, "byte": lambda kind: ByteTokenizer,
    "bpe": _subword, "unigram": _subword,
}
SUBWORD_KINDS = ("bpe", "unigram")


def fit_vocabulary(kind: str, pieces: Iterable[str], lowercase: bool = False, min_frequency: int = 1, vocab_size: int = 4096,
                   documents: bool = False) -> Tokenizer:
    """Build a ``kind`` tokenizer's vocabulary from the training text, given piece by piece (the pieces must
    not split a word: cut them at whitespace). Streaming: the text is never held whole."""
    if kind not in TOKENIZERS:
        raise TokenizerError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {kind!r}")
    if kind == "byte":
        if lowercase:
            raise TokenizerError("the byte tokenizer does not lower-case; lower-case the corpus or use --tokenizer char")
        for _ in pieces:  # nothing to learn, but the caller's iterator may check the text as it goes
            pass
        return ByteTokenizer(documents=documents)
    if kind in SUBWORD_KINDS:
        return _subword(kind).train(kind, pieces, vocab_size=vocab_size, min_frequency=min_frequency, lowercase=lowercase,
                                    documents=documents)
    counts: Counter = Counter()
    seen = np.zeros(0, dtype=bool)  # char: which code points occur
    for text in pieces:
        if lowercase:
            text = text.lower()
        if kind == "char":
            points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
            if len(points):
                present = np.bincount(points, minlength=len(seen)).astype(bool)
                present[: len(seen)] |= seen
                seen = present
        else:
            counts.update(WordTokenizer.split(text))
    if kind == "char":
        return CharTokenizer((chr(point) for point in np.flatnonzero(seen)), lowercase=lowercase, documents=documents)
    return WordTokenizer.from_counts(counts, lowercase, min_frequency, documents=documents)


def fit_tokenizer(kind: str, text: str, lowercase: bool = False, min_frequency: int = 1, vocab_size: int = 4096) -> Tokenizer:
    """Build the vocabulary of a ``kind`` tokenizer from a training text."""
    return fit_vocabulary(kind, [text], lowercase=lowercase, min_frequency=min_frequency, vocab_size=vocab_size)


# to_dict() fields by kind and the type each must have: checked before building, so that malformed JSON is a
# TokenizerError here rather than a TypeError later, in encoding or generation.
_FIELDS = {
    "char": {"characters": str, "lowercase": bool, "end_of_document": bool},
    "word": {"words": list, "lowercase": bool, "end_of_document": bool},
    "byte": {"end_of_document": bool},
    # subword kinds wrap the Hugging Face tokenizer's own JSON, which its parser checks
    "bpe": {"tokenizer": dict, "lowercase": bool, "end_of_document": bool},
    "unigram": {"tokenizer": dict, "lowercase": bool, "end_of_document": bool},
}


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``to_dict()`` JSON; malformed JSON is a TokenizerError saying what is wrong."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in TOKENIZERS:
        raise TokenizerError(f"tokenizer.json names an unknown tokenizer kind {kind!r}; known: {', '.join(TOKENIZERS)}")
    for name, kind_of in _FIELDS.get(kind, {}).items():
        if name in data and not isinstance(data[name], kind_of):
            raise TokenizerError(f"'{name}' must be of type {kind_of.__name__}, got {type(data[name]).__name__}")
    words = data.get("words") if kind == "word" else None
    if words is not None and (not all(isinstance(word, str) and word for word in words) or len(set(words)) != len(words)):
        raise TokenizerError("'words' must be distinct, non-empty strings")
    try:
        return TOKENIZERS[kind](kind).from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, TokenizerError):
            raise
        raise TokenizerError(f"tokenizer.json for a {kind} tokenizer is malformed: {error}") from error
