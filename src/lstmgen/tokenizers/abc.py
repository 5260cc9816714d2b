"""The ABC tokenizer, folk-rnn style (Sturm et al. 2016): one token per musical unit of ABC notation.

A note with its accidental, octave marks and duration (``^f'2``, ``_B,/2``, ``z3``) is one token; so is a
bar line or repeat (``|``, ``|:``, ``:|``, ``::``, ``|]``, ``[1``, ``:|2``), a tuplet (``(3``), a chord
bracket, a broken rhythm (``>``), a tie, a slur, a decoration (``~``, ``!trill!``), a chord symbol
(``"Am"``), an inline field (``[K:D]``) and a whole header line (``M:6/8``, ``K:G``, ``L:1/8``). Line breaks
are tokens; spaces and ``%`` comments are dropped (they change beaming and nothing else). Decoding writes
each header field on its own line and joins body tokens without spaces, which re-reads as the same tokens:
``decode(encode(tune))`` is the tune in a normal form that ABC readers (music21, abc2midi) accept.

Symbols outside the vocabulary are ``<unk>`` (id 0); characters no ABC token explains are unknown too.
"""

from __future__ import annotations

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

# One alternative per kind of token, tried in order at each position (the first that matches wins).
_FIELD = r"(?m:^[A-Za-z]:(?![|:])[^\n%]*)"  # a header (or body) field line: the whole line is one token
_TOKEN_PATTERN = re.compile("|".join([
    r"(?P<field>" + _FIELD + r")",
    r"(?P<comment>(?m:^%[^\n]*\n?)|%[^\n]*)",  # a whole-line comment goes with its line break
    r"(?P<newline>\n)",
    r"(?P<space>[ \t\r]+)",
    r"(?P<inline>\[[A-Za-z]:[^\]\n]*\])",  # [K:D], [M:3/4]
    r"(?P<bar>:*\|+\]?:*[0-9]*(?:[,-][0-9]+)*|\[\|:*|::+|\[[0-9]+(?:[,-][0-9]+)*)",  # | || |] |: :| :: [| |1 :|2 [1
    r"(?P<note>(?:\^\^|\^|__|_|=)?[A-Ga-g](?:,+|'+)?[0-9]*(?:/+[0-9]*)?)",
    r"(?P<rest>[zxZX][0-9]*(?:/+[0-9]*)?)",
    r"(?P<tuplet>\([0-9](?::[0-9]*){0,2})",
    r"(?P<chord_end>\][0-9]*(?:/+[0-9]*)?)",  # a chord's closing bracket carries the chord's duration: [DFA]2
    r"(?P<chord_symbol>\"[^\"\n]*\")",
    r"(?P<decoration>![^!\n]+!|\+[^+\n]+\+)",
    r"(?P<mark>[\[\](){}<>\-~.HIJKLMNOPQRSTUVWYhijklmnopqrstuvwy\\$&*#;@`?])",
]))
_FIELD_TOKEN = re.compile(r"[A-Za-z]:(?![|:])")
_SKIPPED = ("comment", "space")


def lex(text: str) -> list[str | None]:
    """The ABC tokens of ``text``; ``None`` for each character no token explains."""
    tokens: list[str | None] = []
    position = 0
    while position < len(text):
        match = _TOKEN_PATTERN.match(text, position)
        if match is None:
            tokens.append(None)
            position += 1
            continue
        if match.lastgroup == "field":
            tokens.append(match.group().rstrip())
            if text.startswith("\n", match.end()):  # the field's own line break: decoding writes it back
                position = match.end() + 1
                continue
        elif match.lastgroup not in _SKIPPED:
            tokens.append(match.group())
        position = match.end()
    return tokens


def _unexplained(text: str) -> Counter:
    """The characters of ``text`` no ABC token explains."""
    found: Counter = Counter()
    position = 0
    while position < len(text):
        match = _TOKEN_PATTERN.match(text, position)
        if match is None:
            found[text[position]] += 1
            position += 1
        else:
            position = match.end()
    return found


def is_field(token: str) -> bool:
    return _FIELD_TOKEN.match(token) is not None


class AbcTokenizer:
    """ABC notation as folk-rnn tokens; tokens rarer than ``min_frequency`` (and unexplained characters) are ``<unk>`` (id 0)."""

    kind = "abc"
    never_generated: tuple[int, ...] = (0,)
    unknown_id = 0

    def __init__(self, tokens: Iterable[str], lowercase: bool = False, documents: bool = False) -> None:
        self.lowercase = lowercase
        self.tokens = [t for t in tokens if t != UNKNOWN_TOKEN]
        if any(not isinstance(t, str) or not t for t in self.tokens) or len(set(self.tokens)) != len(self.tokens):
            raise TokenizerError("an ABC vocabulary must hold distinct, non-empty tokens")
        self._index = {t: i + 1 for i, t in enumerate(self.tokens)}
        self.end_of_document = len(self.tokens) + 1 if documents else None

    @classmethod
    def learn(cls, pieces: Iterable[str], lowercase: bool = False, min_frequency: int = 1, documents: bool = False) -> "AbcTokenizer":
        if lowercase:
            raise TokenizerError("ABC notation is case-sensitive (C and c are notes an octave apart): drop --lowercase")
        counts: Counter = Counter()
        for text in pieces:
            counts.update(token for token in lex(text) if token is not None)
        if counts and max(counts.values()) < min_frequency:
            raise TokenizerError(f"no ABC token occurs {min_frequency:,} times in the training text: lower --min-frequency")
        tokens = sorted((t for t, n in counts.items() if n >= min_frequency), key=lambda t: (-counts[t], t))
        return cls(tokens, lowercase=lowercase, documents=documents)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens) + 1 + (self.end_of_document is not None)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """The tokens of ``text``; in document mode a blank line (between two tunes) is the end-of-document id."""
        check_policy(unknown)
        return encode_pieces(text, self.end_of_document, lambda piece: self._encode(piece, unknown))

    def _encode(self, text: str, unknown: str) -> np.ndarray:
        ids = np.array([self._index.get(token, 0) if token is not None else 0 for token in lex(text)], dtype=np.int64)
        if len(ids) and not ids.all():
            if unknown == "error":
                raise unknown_error(self.unknown_symbols(text), "ABC token")
            if unknown == "skip":
                ids = ids[ids != 0]
        return ids

    def unknown_symbols(self, text: str) -> Counter:
        return unknown_in_pieces(text, self.end_of_document, self._unknown_symbols)

    def _unknown_symbols(self, text: str) -> Counter:
        found = Counter(t for t in lex(text) if t is not None and t not in self._index)
        found.update(_unexplained(text))
        return found

    def token_text(self, token_id: int) -> str:
        if token_id == self.end_of_document:
            return ""
        return UNKNOWN_TOKEN if token_id == 0 else self.tokens[token_id - 1]

    def decode(self, ids: Iterable[int]) -> str:
        decoder = self.stream_decoder()
        return "".join(decoder.feed(int(i)) for i in ids)

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        # A field token stands for a whole line: it must start one. ``line_start``: the text so far ends a line.
        line_start = [True]
        for token_id in context:
            text = self.token_text(int(token_id))
            line_start[0] = text == "" or text == "\n" or is_field(text)
        if context_text is not None:
            line_start[0] = context_text == "" or context_text.endswith("\n")

        def feed(token_id: int) -> str:
            text = self.token_text(token_id)
            if text == "" or text == "\n":
                line_start[0] = True
                return text
            if is_field(text):
                piece = ("" if line_start[0] else "\n") + text + "\n"
                line_start[0] = True
                return piece
            line_start[0] = False
            return text

        return FunctionDecoder(feed)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "tokens": self.tokens, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AbcTokenizer":
        return cls(data["tokens"], lowercase=bool(data.get("lowercase", False)), documents=bool(data.get("end_of_document", False)))
