"""The named music corpora, read from the installed music21 package (its corpus ships inside it: offline).

    abc-folk       the ABC collections: O'Neill's 1850, Ryan's Mammoth Collection, Aird's Airs and the Essen
                   folk songs, one tune per document in lstmgen's normal form (music.abc)
    bach-chorales  Bach's chorales (music21's chorale list), each as the midi tokenizer's events text, one
                   chorale per document; converting them takes a minute or two, so the text is cached
                   in the lstmgen cache directory ($LSTMGEN_CACHE or ~/.cache/lstmgen)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

from .abc import read_tunes
from .errors import MusicError, need

ABC_COLLECTIONS = ("oneills1850", "ryansMammoth", "airdsAirs", "essenFolksong")
MUSIC_CORPORA = {
    "abc-folk": "folk tunes in ABC from music21's corpus (O'Neill's 1850, Ryan's Mammoth, Aird's Airs, Essen): one tune per document",
    "bach-chorales": "Bach's chorales from music21's corpus as MIDI events (the midi tokenizer's REMI): one chorale per document",
}


def report_skipped(skipped: list[str], total: int, say: Callable[[str], None] | None = None) -> None:
    """Say how many pieces were skipped and why (the first few)."""
    if not skipped:
        return
    say = say or (lambda line: print(line, file=sys.stderr))
    shown = "; ".join(skipped[:3]) + (f"; and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    say(f"lstmgen: skipped {len(skipped):,} of {total:,} pieces that cannot be read: {shown}")


def abc_folk_text(say: Callable[[str], None] | None = None) -> str:
    """The abc-folk corpus: every tune of the collections in normal form, separated by blank lines."""
    corpus = need("music21").corpus
    base = Path(need("music21").__file__).parent / "corpus"
    texts, skipped = [], []
    for path in sorted(corpus.getPaths(fileExtensions=("abc",))):
        if Path(path).relative_to(base).parts[0] not in ABC_COLLECTIONS:
            continue
        found = read_tunes(Path(path).read_text(encoding="utf-8", errors="replace"), f"{Path(path).relative_to(base)}")
        texts.extend(found.texts)
        skipped.extend(found.skipped)
    report_skipped(skipped, len(texts) + len(skipped), say)
    return "\n".join(texts)


def _cache_path(cache: Path, name: str, key: str) -> Path:
    return Path(cache) / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.txt"


def bach_chorales_text(cache: Path, say: Callable[[str], None] | None = None) -> str:
    """The bach-chorales corpus: each chorale's events (the default midi tokenizer's), separated by blank lines."""
    music21 = need("music21")
    need("miditok")
    from ..tokenizers.midi import MidiTokenizer
    from .midi import score_from_music21

    tokenizer = MidiTokenizer()
    names = list(music21.corpus.chorales.Iterator(returnType="filename"))
    # The cached text is valid for these versions and this scheme (miditok's saved JSON names its version).
    key = f"{music21.__version__} {json.dumps(tokenizer.saved, sort_keys=True)} {len(names)}"
    cached = _cache_path(cache, "bach-chorales", key)
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    (say or (lambda line: print(line, file=sys.stderr)))(
        f"lstmgen: converting {len(names)} Bach chorales from music21's corpus to MIDI events (once; cached in {cached.parent})")
    texts, skipped = [], []
    for name in names:
        try:
            stream = music21.corpus.parse(name)
            texts.append(tokenizer.encode_score(score_from_music21(stream, name)) + "\n")
        except MusicError as error:
            skipped.append(str(error))
        except Exception as error:  # music21 fails in many ways on odd scores: skip the piece, say which
            skipped.append(f"{name}: {type(error).__name__}: {str(error)[:100]}")
    report_skipped(skipped, len(names), say)
    if not texts:
        raise MusicError("no Bach chorale could be read from music21's corpus")
    text = "\n".join(texts)
    from ..system import durable

    cached.parent.mkdir(parents=True, exist_ok=True)
    durable.write_file_atomically(cached, text.encode("utf-8"))
    return text


def music_corpus_text(name: str, cache: Path, say: Callable[[str], None] | None = None) -> str:
    """The text of a named music corpus (``cache``: where a slow conversion is kept between runs)."""
    if name == "abc-folk":
        return abc_folk_text(say)
    if name == "bach-chorales":
        return bach_chorales_text(cache, say)
    raise MusicError(f"no music corpus {name!r}; known: {', '.join(MUSIC_CORPORA)}")


def is_music_corpus(name: str) -> bool:
    return name in MUSIC_CORPORA and not os.path.exists(name)


MUSIC_SUFFIXES = (".abc", ".mid", ".midi", ".mxl", ".musicxml")


def is_music_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in MUSIC_SUFFIXES


def piece_text(path: Path) -> tuple[str, list[str], int]:
    """(text, why pieces were skipped, pieces in all) of one music file: ABC tunes in normal form, or MIDI events."""
    if path.suffix.lower() == ".abc":
        try:
            raw = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as error:
            raise MusicError(f"cannot read {path}: {error.strerror or error}") from None
        found = read_tunes(raw, str(path))
        if not found.texts:
            raise MusicError(found.skipped[0] if len(found.skipped) == 1 else
                             f"{path}: none of its {len(found.skipped)} tunes can be read (first: {found.skipped[0]})")
        return "\n".join(found.texts), found.skipped, len(found.texts) + len(found.skipped)
    from ..tokenizers.midi import MidiTokenizer
    from .midi import read_score

    return MidiTokenizer().encode_score(read_score(path)) + "\n", [], 1


def music_files_text(paths: list[Path], say: Callable[[str], None] | None = None) -> list[tuple[str, str]]:
    """(name, text) of each readable music file. One file that cannot be read is an error; among several,
    bad files (and bad tunes) are skipped and counted, unless none can be read."""
    found, skipped, total = [], [], 0
    for path in paths:
        try:
            text, bad, count = piece_text(path)
        except MusicError as error:
            if len(paths) == 1:
                raise
            skipped.append(str(error))
            total += 1
            continue
        found.append((str(path), text))
        skipped.extend(bad)
        total += count
    if not found:
        raise MusicError(f"none of the {len(paths)} music files can be read (first: {skipped[0]})")
    report_skipped(skipped, total, say)
    return found
