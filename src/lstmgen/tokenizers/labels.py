"""Labels (control codes, as in CTRL): one id per label after any tokenizer's own vocabulary.

    lstmgen train poems.jsonl --labels jsonl          # {"text": ..., "label": "poe"} per line
    lstmgen generate runs/latest --label poe

A labelled corpus is read in document mode, and each document is stored as ``<label> text... <eod>``;
so the model reads every document after [end of document, label], and a prompt generated under a label
is read after the same two ids (``decoding.generation.encode_prompt``). The label ids have no text: they
are never generated (``never_generated``), decode to nothing, and no text encodes to them. The label set
is saved in tokenizer.json (``"labels": [...]`` beside the base tokenizer's own fields), so a checkpoint
names its labels itself; a tokenizer.json without the key is an unlabelled tokenizer, as before.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from .base import FunctionDecoder, StreamDecoder, Tokenizer, TokenizerError


class LabelError(TokenizerError):
    """A label the model does not know (the message lists the ones it does), or a malformed label set."""


def check_labels(labels: Sequence[Any]) -> tuple[str, ...]:
    """The labels as a tuple, after checking they are distinct, non-empty strings without line breaks."""
    if not isinstance(labels, (list, tuple)) or not labels:
        raise LabelError("'labels' must be a non-empty list of label names")
    for label in labels:
        if not isinstance(label, str) or not label.strip() or "\n" in label:
            raise LabelError(f"a label must be a non-empty string on one line, got {label!r}")
    if len(set(labels)) != len(labels):
        repeated = sorted(label for label, count in Counter(labels).items() if count > 1)
        raise LabelError(f"labels must be distinct; repeated: {', '.join(map(repr, repeated))}")
    return tuple(labels)


def describe_labels(labels: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(label) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


class LabelledTokenizer:
    """A tokenizer (``base``) with one extra id per label: ``base.vocab_size + i`` for ``labels[i]``.

    Everything about text is the base tokenizer's (encode, decode, its kind, its end of document); label ids
    decode to nothing and are never generated. Attributes a kind has of its own (``words``, ``token_bytes``,
    ...) are the base's.
    """

    def __init__(self, base: Tokenizer, labels: Sequence[str]) -> None:
        if isinstance(base, LabelledTokenizer):
            base = base.base
        if base.end_of_document is None:
            raise LabelError("labels need a tokenizer in document mode (with an end-of-document id)")
        self.base = base
        self.labels = check_labels(list(labels))
        self.first_label = base.vocab_size
        self._ids = {label: self.first_label + index for index, label in enumerate(self.labels)}
        self.never_generated = tuple(base.never_generated) + tuple(self._ids.values())

    # What the protocol reads as attributes, the base's.
    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def unknown_id(self) -> int | None:
        return self.base.unknown_id

    @property
    def end_of_document(self) -> int | None:
        return self.base.end_of_document

    @property
    def lowercase(self) -> bool:
        return self.base.lowercase

    @property
    def vocab_size(self) -> int:
        return self.first_label + len(self.labels)

    def __getattr__(self, name: str) -> Any:  # a kind's own attributes (words, characters, ...): the base's
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def is_label(self, token_id: int) -> bool:
        return self.first_label <= int(token_id) < self.vocab_size

    def label_id(self, label: str) -> int:
        """The id of ``label``; a label this model was not trained with is a LabelError listing the known ones."""
        if label not in self._ids:
            raise LabelError(f"unknown label {label!r}; this model knows {len(self.labels)} labels: {describe_labels(self.labels)}")
        return self._ids[label]

    def label_of(self, token_id: int) -> str:
        return self.labels[int(token_id) - self.first_label]

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        return self.base.encode(text, unknown=unknown)  # text never encodes to a label id: they lie past the base's ids

    def unknown_symbols(self, text: str) -> Counter:
        return self.base.unknown_symbols(text)

    def token_text(self, token_id: int) -> str:
        return "" if self.is_label(token_id) else self.base.token_text(token_id)

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if self.is_label(token_id) else self.base.token_bytes(token_id)

    def decode(self, ids: Iterable[int]) -> str:
        return self.base.decode(int(i) for i in ids if not self.is_label(i))

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        decoder = self.base.stream_decoder([int(i) for i in context if not self.is_label(i)], context_text)
        return FunctionDecoder(lambda token_id: "" if self.is_label(token_id) else decoder.feed(token_id))

    def to_dict(self) -> dict[str, Any]:
        return {**self.base.to_dict(), "labels": list(self.labels)}


def labels_of(tokenizer: Tokenizer) -> tuple[str, ...]:
    """The labels a tokenizer knows (none for an unlabelled one)."""
    return tuple(getattr(tokenizer, "labels", ()) or ())


def label_id(tokenizer: Tokenizer, label: str) -> int:
    """The id of ``label`` under ``tokenizer``; a clear LabelError where the model has no labels or not this one."""
    if not isinstance(tokenizer, LabelledTokenizer):
        raise LabelError(f"this model was trained without labels, so it cannot generate under label {label!r}; train it on "
                         "labelled documents (lstmgen train DATA --labels jsonl|csv|tsv|directories)")
    return tokenizer.label_id(label)
