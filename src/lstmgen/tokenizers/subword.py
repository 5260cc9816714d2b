"""Subword tokenizers: byte-level BPE and unigram, learned with Hugging Face ``tokenizers`` (the ``subword`` extra).

    lstmgen train corpus.txt --tokenizer bpe --vocab-size 4096
    lstmgen train corpus.txt --tokenizer unigram --vocab-size 8000

Both work on the UTF-8 bytes of the text (``ByteLevel`` pre-tokenization, every byte in the initial
alphabet), so any text encodes and nothing is ever unknown. The learned tokenizer is stored as the library's
own JSON inside the checkpoint's ``tokenizer.json``, so a checkpoint still loads with nothing but its
directory (and the ``tokenizers`` package).

Decoding streams token by token without splitting a character: each token stands for a run of bytes (the
byte-level alphabet maps every byte to one printable character; the table is inverted here), and an
incremental UTF-8 decoder holds back the first bytes of a character until the token that completes it.
In document mode the end-of-document id is one past the learned vocabulary, so no text, whatever it
contains, can ever encode to it.
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import FunctionDecoder, StreamDecoder, TokenizerError, check_policy

INSTALL = "pip install 'lstmgen[subword]'"


def _library():
    try:
        import tokenizers
    except ImportError:
        raise TokenizerError(f"the bpe and unigram tokenizers need Hugging Face's tokenizers package: {INSTALL}") from None
    return tokenizers


def byte_alphabet() -> dict[str, int]:
    """The byte-level alphabet, inverted: the printable character that stands for each byte -> the byte.

    Bytes that are printable and not a space stand for themselves (33-126, 161-172, 174-255); the other 68
    (controls, space, DEL, the no-break and soft-hyphen bytes) are moved, in order, to code points 256...
    """
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    moved = [byte for byte in range(256) if byte not in printable]
    mapping = {chr(byte): byte for byte in printable}
    mapping.update({chr(256 + index): byte for index, byte in enumerate(moved)})
    return mapping


class SubwordTokenizer:
    """A byte-level BPE or unigram tokenizer (``kind``), wrapping a Hugging Face ``tokenizers.Tokenizer``."""

    never_generated = ()  # every id is text (and nothing is unknown)
    unknown_id = None

    def __init__(self, kind: str, tokenizer: Any, lowercase: bool = False, documents: bool = False) -> None:
        self.kind = kind
        self.lowercase = lowercase
        self._tokenizer = tokenizer
        learned = tokenizer.get_vocab_size()
        self.end_of_document = learned if documents else None
        alphabet = byte_alphabet()
        try:
            self._bytes = [bytes(alphabet[char] for char in tokenizer.id_to_token(index)) for index in range(learned)]
        except (KeyError, TypeError) as error:
            raise TokenizerError(f"this {kind} tokenizer is not byte-level (a token holds {error}); it cannot be used") from None

    @classmethod
    def train(cls, kind: str, pieces: Iterable[str], vocab_size: int, min_frequency: int = 1, lowercase: bool = False,
              documents: bool = False) -> "SubwordTokenizer":
        """Learn a ``vocab_size`` vocabulary from the training text, piece by piece (streamed to the trainer)."""
        library = _library()
        alphabet = library.pre_tokenizers.ByteLevel.alphabet()
        learned = vocab_size - int(documents)  # the end-of-document id is one more
        if learned <= len(alphabet):
            raise TokenizerError(f"--vocab-size must exceed the {len(alphabet)} byte symbols (+1 in document mode); got {vocab_size}")
        if kind == "bpe":
            model = library.models.BPE()
            trainer = library.trainers.BpeTrainer(vocab_size=learned, min_frequency=min_frequency, initial_alphabet=alphabet,
                                                  show_progress=False)
        elif kind == "unigram":
            model = library.models.Unigram()
            trainer = library.trainers.UnigramTrainer(vocab_size=learned, initial_alphabet=alphabet, show_progress=False)
        else:
            raise TokenizerError(f"subword tokenizers are bpe and unigram, not {kind!r}")
        tokenizer = library.Tokenizer(model)
        tokenizer.pre_tokenizer = library.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = library.decoders.ByteLevel()
        if lowercase:
            tokenizer.normalizer = library.normalizers.Lowercase()
        tokenizer.train_from_iterator(pieces, trainer=trainer)
        return cls(kind, tokenizer, lowercase=lowercase, documents=documents)

    @property
    def vocab_size(self) -> int:
        return len(self._bytes) + (self.end_of_document is not None)

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        check_policy(unknown)
        # surrogatepass, as the byte tokenizer: a lone surrogate becomes its (invalid) bytes, not a crash.
        text = text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace") if _has_surrogates(text) else text
        return np.array(self._tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def unknown_symbols(self, text: str) -> Counter:
        return Counter()

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if token_id == self.end_of_document else self._bytes[token_id]

    def token_text(self, token_id: int) -> str:
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def decode(self, ids: Iterable[int]) -> str:
        return b"".join(self.token_bytes(int(i)) for i in ids).decode("utf-8", errors="replace")

    def stream_decoder(self, context: Iterable[int] = (), context_text: str | None = None) -> StreamDecoder:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for token_id in context:  # a prompt may end inside a character its continuation completes
            decoder.decode(self.token_bytes(int(token_id)))
        return FunctionDecoder(lambda token_id: decoder.decode(self.token_bytes(token_id)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase, "end_of_document": self.end_of_document is not None,
                "tokenizer": json.loads(self._tokenizer.to_str())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubwordTokenizer":
        library = _library()
        try:
            tokenizer = library.Tokenizer.from_str(json.dumps(data["tokenizer"]))
        except Exception as error:  # the library raises its own exception types for a bad file
            raise TokenizerError(f"the {data.get('kind')} tokenizer in tokenizer.json cannot be read: {error}") from None
        return cls(str(data["kind"]), tokenizer, lowercase=bool(data.get("lowercase", False)),
                   documents=bool(data.get("end_of_document", False)))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True
