"""One table of tokenizer kinds: how each is fitted on a corpus, rebuilt from its JSON, and what it supports.

Every caller that must treat kinds differently reads a column of ``KINDS`` instead of naming kinds:
``fit_vocabulary`` (the token store), ``tokenizer_from_dict`` (checkpoints and stores), token healing
(``decoding.healing``) and the budget-aware plan (``training.pipeline``, which gives vocabularies of words
and pieces the word recipe). ``config.TOKENIZER_KINDS`` lists the same names for the flags, without
importing this module (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .abc import AbcTokenizer
from .base import Tokenizer, TokenizerError
from .byte import ByteTokenizer
from .char import CharTokenizer
from .labels import LabelledTokenizer, check_labels
from .symbols import SymbolsTokenizer
from .word import WordTokenizer


def _midi_class() -> type:
    from .midi import MidiTokenizer  # needs miditok and symusic (the music extra): imported only when used

    return MidiTokenizer


def _subword_class() -> type:
    from .subword import SubwordTokenizer  # needs the `tokenizers` package (the subword extra): imported only when used

    return SubwordTokenizer


@dataclass(frozen=True)
class Fitting:
    """What a kind may learn its vocabulary with (each kind reads the options it has)."""

    kind: str
    lowercase: bool = False
    min_frequency: int = 1
    vocab_size: int = 4096
    documents: bool = False


@dataclass(frozen=True)
class TokenizerKind:
    tokenizer_class: Callable[[], type]  # the class (looked up on first use: subwords need an extra)
    fit: Callable[[Iterable[str], Fitting], Tokenizer]  # learn the vocabulary from the text, piece by piece
    fields: dict[str, type]  # to_dict() fields and the type each must have, checked before building
    healing: bool = False  # a token may run past the end of a prompt: token healing applies (decoding.healing)
    pieces: bool = False  # a vocabulary of words or word pieces, not of characters or bytes (the plan's word recipe)
    # Cutting a text splits at most one token in two, so a prefix's token count bounds the whole's (the
    # server counts a huge prompt's tokens on prefixes); false where a learned merge can span the cut.
    prefix_stable: bool = True
    # The document mode a corpus gets when none is asked for: music is read one piece per document (pieces are
    # separated by blank lines), so generation stops at the end of a piece.
    documents: str = ""


def _subword_fit(pieces: Iterable[str], how: Fitting) -> Tokenizer:
    return _subword_class().train(how.kind, pieces, vocab_size=how.vocab_size, min_frequency=how.min_frequency,
                                  lowercase=how.lowercase, documents=how.documents)


# The subword kinds wrap the Hugging Face tokenizer's own JSON, which its parser checks.
_SUBWORD_FIELDS = {"tokenizer": dict, "lowercase": bool, "end_of_document": bool}

KINDS: dict[str, TokenizerKind] = {
    "char": TokenizerKind(lambda: CharTokenizer, lambda pieces, how: CharTokenizer.learn(pieces, how.lowercase, how.documents),
                          {"characters": str, "lowercase": bool, "end_of_document": bool}),
    "word": TokenizerKind(lambda: WordTokenizer,
                          lambda pieces, how: WordTokenizer.learn(pieces, how.lowercase, how.min_frequency, how.documents),
                          {"words": list, "lowercase": bool, "end_of_document": bool}, pieces=True),
    "byte": TokenizerKind(lambda: ByteTokenizer, lambda pieces, how: ByteTokenizer.learn(pieces, how.lowercase, how.documents),
                          {"end_of_document": bool}),
    "symbols": TokenizerKind(lambda: SymbolsTokenizer,
                             lambda pieces, how: SymbolsTokenizer.learn(pieces, how.lowercase, how.min_frequency, how.documents),
                             {"symbols": list, "lowercase": bool, "end_of_document": bool}, pieces=True),
    "abc": TokenizerKind(lambda: AbcTokenizer, lambda pieces, how: AbcTokenizer.learn(pieces, how.lowercase, how.min_frequency, how.documents),
                         # A cut inside a chord symbol or decoration ("Am|) reads its pieces as several tokens: not prefix-stable.
                         {"tokens": list, "lowercase": bool, "end_of_document": bool}, prefix_stable=False, documents="blank-lines"),
    "midi": TokenizerKind(_midi_class, lambda pieces, how: _midi_class().learn(pieces, how.lowercase, documents=how.documents),
                          {"scheme": str, "miditok": dict, "end_of_document": bool}, pieces=True, documents="blank-lines"),
    "bpe": TokenizerKind(_subword_class, _subword_fit, _SUBWORD_FIELDS, healing=True, pieces=True, prefix_stable=False),
    "unigram": TokenizerKind(_subword_class, _subword_fit, _SUBWORD_FIELDS, healing=True, pieces=True,
                             prefix_stable=False),
}
TOKENIZERS = tuple(KINDS)
SUBWORD_KINDS = tuple(kind for kind, entry in KINDS.items() if entry.tokenizer_class is _subword_class)


def kind_of(kind: str) -> TokenizerKind:
    if kind not in KINDS:
        raise TokenizerError(f"tokenizer must be one of {', '.join(KINDS)}, got {kind!r}")
    return KINDS[kind]


def supports_healing(kind: str) -> bool:
    return kind in KINDS and KINDS[kind].healing


def default_documents(kind: str) -> str:
    """The document mode a corpus read for ``kind`` gets when none is asked for ("" = none)."""
    return KINDS[kind].documents if kind in KINDS else ""


def is_prefix_stable(kind: str) -> bool:
    return kind in KINDS and KINDS[kind].prefix_stable


def has_word_pieces(kind: str) -> bool:
    return kind in KINDS and KINDS[kind].pieces


def fit_vocabulary(kind: str, pieces: Iterable[str], lowercase: bool = False, min_frequency: int = 1, vocab_size: int = 4096,
                   documents: bool = False) -> Tokenizer:
    """Build a ``kind`` tokenizer's vocabulary from the training text, given piece by piece (the pieces must
    not split a word: cut them at whitespace). Streaming: the text is never held whole."""
    entry = kind_of(kind)
    return entry.fit(pieces, Fitting(kind, lowercase, min_frequency, vocab_size, documents))


def fit_tokenizer(kind: str, text: str, lowercase: bool = False, min_frequency: int = 1, vocab_size: int = 4096) -> Tokenizer:
    """Build the vocabulary of a ``kind`` tokenizer from a training text."""
    return fit_vocabulary(kind, [text], lowercase=lowercase, min_frequency=min_frequency, vocab_size=vocab_size)


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``to_dict()`` JSON; malformed JSON is a TokenizerError saying what is wrong.

    A ``labels`` key (a labelled corpus's tokenizer) wraps the kind's tokenizer in a LabelledTokenizer."""
    if isinstance(data, dict) and "labels" in data:
        labels = check_labels(data["labels"])
        return LabelledTokenizer(tokenizer_from_dict({key: value for key, value in data.items() if key != "labels"}), labels)
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:
        raise TokenizerError(f"tokenizer.json names an unknown tokenizer kind {kind!r}; known: {', '.join(KINDS)}")
    entry = KINDS[kind]
    for name, kind_of_field in entry.fields.items():
        if name in data and not isinstance(data[name], kind_of_field):
            raise TokenizerError(f"'{name}' must be of type {kind_of_field.__name__}, got {type(data[name]).__name__}")
    words = data.get("words") if kind == "word" else None
    if words is not None and (not all(isinstance(word, str) and word for word in words) or len(set(words)) != len(words)):
        raise TokenizerError("'words' must be distinct, non-empty strings")
    try:
        return entry.tokenizer_class().from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, TokenizerError):
            raise
        raise TokenizerError(f"tokenizer.json for a {kind} tokenizer is malformed: {error}") from error
