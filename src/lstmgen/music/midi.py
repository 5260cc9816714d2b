"""MIDI pieces: read .mid/.midi and MusicXML files with clear errors, write .mid files.

symusic reads and writes MIDI (fast, C++); MusicXML (.mxl, .musicxml, .xml) goes through music21, which writes
it as MIDI first. A file that is not MIDI, or MIDI that holds no notes, is a ``MusicError`` naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import MusicError, need

MIDI_SUFFIXES = (".mid", ".midi")
MUSICXML_SUFFIXES = (".mxl", ".musicxml", ".xml")


def score_from_bytes(data: bytes, name: str):
    """The symusic Score of a MIDI file's bytes; corrupt data or a piece without notes is a MusicError."""
    symusic = need("symusic")
    if not data:
        raise MusicError(f"{name} is empty: a MIDI file needs at least a header and one track")
    try:
        score = symusic.Score.from_midi(data)
    except Exception as error:  # symusic raises RuntimeError with its parser's message
        raise MusicError(f"{name} is not a readable MIDI file ({str(error)[:200]})") from None
    if score.note_num() == 0:
        raise MusicError(f"{name} is a MIDI file with no notes: there is nothing to learn from or play")
    return score


def _without_repeats(stream):
    """A copy of ``stream`` with its repeat signs and endings removed (played straight through once)."""
    music21 = need("music21")
    copy = stream.coreCopy() if hasattr(stream, "coreCopy") else stream
    for measure in copy.recurse().getElementsByClass("Measure"):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), music21.bar.Repeat):
                setattr(measure, side, None)
    for bracket in list(copy.recurse().getElementsByClass("RepeatBracket")):
        for site in list(bracket.getSites()):
            if hasattr(site, "remove"):
                site.remove(bracket)
    return copy


def score_from_music21(stream, name: str):
    """A music21 stream (a parsed MusicXML or ABC piece) as a symusic Score, through a MIDI file. Repeats that
    music21 cannot expand (a generated tune's unmatched ``:|``) are dropped and the piece played straight through."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "piece.mid")
        try:
            stream.write("midi", fp=path)
        except Exception:  # music21 fails in many ways on odd scores; badly formed repeats are the usual one
            try:
                _without_repeats(stream).write("midi", fp=path)
            except Exception as error:
                raise MusicError(f"{name} cannot be turned into MIDI by music21: {type(error).__name__}: {str(error)[:200]}") from None
        return score_from_bytes(Path(path).read_bytes(), name)


def read_score(path: str | os.PathLike):
    """The symusic Score of a .mid/.midi or MusicXML file."""
    path = Path(path)
    if path.suffix.lower() in MUSICXML_SUFFIXES:
        music21 = need("music21")
        try:
            stream = music21.converter.parse(str(path))
        except Exception as error:
            raise MusicError(f"{path} does not parse as MusicXML: {type(error).__name__}: {str(error)[:200]}") from None
        return score_from_music21(stream, str(path))
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MusicError(f"cannot read {path}: {error.strerror or error}") from None
    return score_from_bytes(data, str(path))


def write_midi(score, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_bytes(score.dumps_midi())
    return path


def score_to_music21(score, name: str = "the piece"):
    """A symusic Score as a music21 stream (for the measures that need keys and bars)."""
    music21 = need("music21")
    try:
        return music21.converter.parse(bytes(score.dumps_midi()), format="midi")
    except Exception as error:
        raise MusicError(f"music21 cannot read {name} as MIDI: {type(error).__name__}: {str(error)[:200]}") from None
