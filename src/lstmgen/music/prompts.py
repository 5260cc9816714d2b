"""Musical prompts: the first bars of a MIDI or ABC file, as the text a music model continues.

A MIDI model reads a .mid/.midi/MusicXML file's events up to the start of bar ``bars`` + 1; an ABC model reads
the first tune of an .abc file in normal form (music.abc), its header and its first ``bars`` bars. A file in
the other notation is an error that says which notation the model reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MusicError

MIDI_FILES = (".mid", ".midi", ".mxl", ".musicxml")


def music_prompt(path: str | os.PathLike, tokenizer, bars: int = 4) -> str:
    """The prompt text of a music file for ``tokenizer``'s model: the piece's first ``bars`` bars."""
    path = Path(path)
    if bars < 1:
        raise MusicError(f"a musical prompt needs at least one bar, got {bars}")
    suffix = path.suffix.lower()
    if tokenizer.kind == "midi":
        if suffix not in MIDI_FILES:
            raise MusicError(f"{path}: this MIDI model continues MIDI (or MusicXML) files, not {suffix or 'files without a suffix'}")
        from .midi import read_score

        events = tokenizer.encode_score(read_score(path)).split()
        starts = [index for index, event in enumerate(events) if event == "Bar_None"]
        end = starts[bars] if len(starts) > bars else len(events)
        return " ".join(events[:end])
    if tokenizer.kind == "abc":
        if suffix != ".abc":
            raise MusicError(f"{path}: this ABC model continues ABC tunes (.abc), not {suffix or 'files without a suffix'}")
        from ..tokenizers.abc import is_field, lex
        from .abc import normalise, split_tunes

        try:
            tunes = split_tunes(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as error:
            raise MusicError(f"cannot read {path}: {error.strerror or error}") from None
        if not tunes:
            raise MusicError(f"{path} holds no ABC tune (a tune starts with an X: line)")
        text, in_body, seen, music_since_bar = "", False, 0, False
        for token in lex(normalise(tunes[0], str(path))):
            if token is None:
                continue
            if is_field(token):  # a field is a line of its own (as the tokenizer decodes it)
                text += ("" if text == "" or text.endswith("\n") else "\n") + token + "\n"
                in_body = in_body or token.startswith("K:")
                continue
            text += token
            if in_body and ("|" in token or token == "::"):
                seen += music_since_bar  # a bar line counts when music came since the last one (not the opening |:)
                music_since_bar = False
                if seen == bars:
                    break
            elif token != "\n":
                music_since_bar = True
        return text
    raise MusicError(f"--prompt-file with a music file needs an ABC or MIDI model; this one's tokenizer is {tokenizer.kind}")
