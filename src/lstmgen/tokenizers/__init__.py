"""Tokenizers: text to token ids and back, behind one protocol with a JSON round-trip.

    base.py       the Tokenizer protocol, TokenizerError, the unknown-symbol policies (error, skip, replace)
    char.py       one token per character (id 0: the unknown symbol)
    word.py       words and punctuation marks; rare words as <unk>; spaces restored by rule
    byte.py       the 256 UTF-8 bytes: nothing is ever unknown
    subword.py    byte-level BPE and unigram learned with Hugging Face ``tokenizers`` (the ``subword`` extra)
    symbols.py    whitespace-separated symbols (events, notes, log records); line breaks are tokens
    abc.py        ABC notation, folk-rnn style: a note with its accidental, octaves and duration is one token
    midi.py       MIDI events through miditok (REMI by default; the ``music`` extra), the scheme saved whole
    registry.py   the table of kinds: fit on a corpus, rebuild from JSON, healing support
    labels.py     labels (control codes): one id per label after any kind's vocabulary, never generated

Character and word tokenizers reserve id 0 for an unknown symbol, which training text never contains;
held-out text with symbols the vocabulary lacks is scored through it (``unknown="replace"``). A prompt with
unknown symbols is an error by default (``unknown="error"``, listing the symbols); the caller may choose
``"skip"`` or ``"replace"`` instead.

**Documents.** A tokenizer made for document mode (``documents=True``) has one more id, the last:
``end_of_document``, which the token store puts after every document. It has no text; generation stops
there, and a prompt starts after it (the model then knows it writes the beginning of a document).

No torch here: ``lstmgen prepare`` tokenizes without it.
"""

from .abc import AbcTokenizer
from .base import END_OF_DOCUMENT, UNKNOWN_POLICIES, UNKNOWN_TOKEN, StreamDecoder, Tokenizer, TokenizerError
from .byte import ByteTokenizer
from .char import CharTokenizer
from .labels import LabelError, LabelledTokenizer, label_id, labels_of
from .registry import KINDS, SUBWORD_KINDS, TOKENIZERS, fit_tokenizer, fit_vocabulary, supports_healing, tokenizer_from_dict
from .symbols import SymbolsTokenizer
from .word import WordTokenizer

__all__ = ["END_OF_DOCUMENT", "UNKNOWN_POLICIES", "UNKNOWN_TOKEN", "StreamDecoder", "Tokenizer", "TokenizerError",
           "ByteTokenizer", "CharTokenizer", "WordTokenizer", "SymbolsTokenizer", "AbcTokenizer", "KINDS", "SUBWORD_KINDS", "TOKENIZERS",
           "fit_tokenizer", "fit_vocabulary", "supports_healing", "tokenizer_from_dict", "LabelError", "LabelledTokenizer", "label_id",
           "labels_of"]
