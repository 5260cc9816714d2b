"""The MIDI tokenizer: miditok's event tokens (REMI by default) as whitespace-separated symbols.

A MIDI piece enters lstmgen as the text of its events (``Bar_None Position_0 Program_0 Pitch_60
Velocity_79 Duration_1.0.8 ...``, one line per piece: ``encode_score``), so the token store, document mode
and generation treat it like any text; ``decode_score`` turns generated events back into a symusic
``Score`` (and a ``.mid`` file). The vocabulary is miditok's, fixed by the scheme and its parameters, which
``to_dict`` saves whole (miditok's own JSON) in ``tokenizer.json``: a checkpoint stays self-describing.

Ids are miditok's ids; its padding token (id 0) doubles as the unknown symbol, and its special tokens
are never generated. Needs the ``music`` extra (miditok, symusic).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from .base import TokenizerError
from .symbols import SymbolsTokenizer

SCHEMES = ("REMI", "TSD", "MIDILike", "Structured")
DEFAULT_SCHEME = "REMI"
# One stream for all instruments (Program tokens say which plays), so a chorale's four voices are one sequence.
DEFAULT_PARAMETERS = {"use_programs": True, "one_token_stream_for_programs": True, "use_time_signatures": True}


def _miditok():
    try:
        import miditok
    except ImportError as error:
        raise TokenizerError("the midi tokenizer needs miditok and symusic: pip install 'lstmgen[music]'") from error
    return miditok


def build_miditok(scheme: str = DEFAULT_SCHEME, saved: dict[str, Any] | None = None):
    """A miditok tokenizer: ``scheme`` with lstmgen's default parameters, or rebuilt from miditok's saved JSON."""
    miditok = _miditok()
    if scheme not in SCHEMES:
        raise TokenizerError(f"MIDI scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    cls = getattr(miditok, scheme)
    if saved is None:
        return cls(miditok.TokenizerConfig(**DEFAULT_PARAMETERS))
    # miditok reads its parameters back only from a file.
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "miditok.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(saved, handle)
        return cls(params=path)


def saved_parameters(tokenizer) -> dict[str, Any]:
    """miditok's own JSON of a tokenizer (its scheme's parameters and versions)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "miditok.json")
        tokenizer.save(path)
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)


class MidiTokenizer(SymbolsTokenizer):
    """miditok's vocabulary as symbols; id i is miditok's id i (0, its padding, is the unknown symbol)."""

    kind = "midi"
    what = "MIDI event"
    pattern = re.compile(r"[^\s]+")  # line breaks only separate pieces' events

    def __init__(self, scheme: str = DEFAULT_SCHEME, saved: dict[str, Any] | None = None, documents: bool = False) -> None:
        self.scheme = scheme
        self.miditok = build_miditok(scheme, saved)
        self.saved = saved if saved is not None else saved_parameters(self.miditok)
        by_id = sorted(self.miditok.vocab.items(), key=lambda item: item[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise TokenizerError("miditok's vocabulary is not numbered 0..N-1")
        super().__init__([token for token, _ in by_id[1:]], lowercase=False, documents=documents)
        specials = {self.miditok.vocab[token] for token in self.miditok.special_tokens if token in self.miditok.vocab}
        self.never_generated = tuple(sorted(specials | {0}))

    @classmethod
    def learn(cls, pieces, lowercase: bool = False, min_frequency: int = 1, documents: bool = False) -> "MidiTokenizer":  # type: ignore[override]
        """The vocabulary is the scheme's; the training text must be its events (made by ``encode_score``)."""
        if lowercase:
            raise TokenizerError("MIDI events are case-sensitive (Pitch_60, Bar_None): drop --lowercase")
        tokenizer = cls(documents=documents)
        for text in pieces:
            unknown = tokenizer.unknown_symbols(text)
            if unknown:
                listed = ", ".join(repr(s) for s, _ in unknown.most_common(5))
                raise TokenizerError(f"the midi tokenizer reads MIDI files (or {tokenizer.scheme} event text), but the corpus holds "
                                     f"other symbols: {listed}; pass .mid files or a music corpus (bach-chorales), or use "
                                     "--tokenizer symbols")
        return tokenizer

    def encode_score(self, score) -> str:
        """A symusic Score as the text of its events (one line)."""
        sequence = self.miditok.encode(score)
        if isinstance(sequence, list):  # one stream per track: keep them one after another
            return " ".join(" ".join(part.tokens) for part in sequence)
        return " ".join(sequence.tokens)

    def decode_score(self, text: str):
        """The symusic Score that event text describes (unknown and special tokens are dropped)."""
        miditok = _miditok()
        tokens = [t for t in self.split(text) if t in self.miditok.vocab and self.miditok.vocab[t] not in self.never_generated]
        sequence = miditok.TokSequence(tokens=tokens)
        self.miditok.complete_sequence(sequence)
        return self.miditok.decode(sequence if self.miditok.one_token_stream else [sequence])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scheme": self.scheme, "miditok": self.saved, "end_of_document": self.end_of_document is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MidiTokenizer":
        saved = data.get("miditok")
        if saved is not None and not isinstance(saved, dict):
            raise TokenizerError("'miditok' must be miditok's saved parameters (an object)")
        return cls(str(data.get("scheme", DEFAULT_SCHEME)), saved, documents=bool(data.get("end_of_document", False)))
