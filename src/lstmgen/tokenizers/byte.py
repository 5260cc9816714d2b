"""The byte tokenizer: the 256 UTF-8 bytes, so any text encodes and nothing is ever unknown."""

from __future__ import annotations

import codecs
from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import FunctionDecoder, StreamDecoder, TokenizerError, check_policy


class ByteTokenizer:
    """UTF-8 bytes: 256 symbols, so any text encodes and nothing is ever unknown."""

    kind = "byte"
    lowercase = False
    never_generated = ()
    unknown_id = None

    def __init__(self, documents: bool = False) -> None:
        self.end_of_document = 256 if documents else None

    @classmethod
    def learn(cls, pieces: Iterable[str], lowercase: bool = False, documents: bool = False) -> "ByteTokenizer":
        """Nothing to learn; the pieces are read all the same (the caller's iterator may check the text as it goes)."""
        if lowercase:
            raise TokenizerError("the byte tokenizer does not lower-case; lower-case the corpus or use --tokenizer char")
        for _ in pieces:
            pass
        return cls(documents=documents)

    @property
    def vocab_size(self) -> int:
        return 256 + (self.end_of_document is not None)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        check_policy(unknown)
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
        return FunctionDecoder(lambda token_id: "" if token_id == self.end_of_document else decoder.decode(bytes([token_id])))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ByteTokenizer":
        return cls(documents=bool(data.get("end_of_document", False)))
