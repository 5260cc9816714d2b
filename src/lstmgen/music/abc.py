"""ABC tunes: split, normalised, checked, parsed with music21, and the meter check.

**Tunes.** A tune starts at its ``X:`` line and runs to the next one (text before the first is a file
header, dropped). lstmgen trains on a normal form of each tune (folk-rnn's choice): the fields that shape the
music are kept (``X:`` renumbered 1, ``M:`` meter, ``L:`` unit length, ``Q:`` tempo, ``P:`` parts, ``V:`` voices,
``K:`` key, which ends the header), titles, sources, notes and ``%`` comments are dropped, and blank lines
inside a tune are removed (a blank line ends a tune in ABC). Tunes are separated by one blank line.

**The meter check** (``bar_check``). A tune passes when it parses with music21 and every bar of its first
part lasts exactly the meter's bar, except: the first bar (a pickup) and the last; and a short bar that
touches a repeat sign or an ending (the bar itself, or the one beside it, has a repeat barline or lies under
an ending bracket), since real tunes split a bar around ``|:``, ``:|`` and ``[1``/``[2``. A bar longer than
the meter never passes. The meter is the tune's first ``M:`` field (inline meter changes are not followed);
a tune with no meter (``M:none``) or no bars fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import MusicError, need

_TUNE_START = re.compile(r"(?m)^X:[ \t]*([^\n]*)$")
_KEPT_FIELDS = set("MLQPVK")
_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")


@dataclass(frozen=True)
class Tune:
    number: str  # the value of its X: field, for messages
    text: str  # the tune as written


def split_tunes(text: str) -> list[Tune]:
    """The tunes of an ABC file, each from its ``X:`` line to the next (text before the first is dropped)."""
    starts = list(_TUNE_START.finditer(text))
    return [Tune(match.group(1).strip() or "?", text[match.start(): starts[i + 1].start() if i + 1 < len(starts) else len(text)])
            for i, match in enumerate(starts)]


def normalise(tune: Tune, source: str) -> str:
    """The tune in the form lstmgen trains on (see the module's docstring); a tune with no key or no body is an error."""
    header, body, in_body = ["X:1"], [], False
    for line in tune.text.splitlines()[1:]:
        line = line.split("%", 1)[0].rstrip() if not line.startswith("%%") else ""
        if not line.strip():
            continue
        field = _FIELD_LINE.match(line)
        if field and not (in_body and field.group(1) in "ABCDEFGabcdefg"):  # in the body, "e:|" is music
            name, value = field.group(1), field.group(2).strip()
            if name in _KEPT_FIELDS:
                (body if in_body else header).append(f"{name}:{value}")
            in_body = in_body or name == "K"
            continue
        if in_body:  # lines of the header that are no field (continued directives) are dropped
            body.append(line)
    if not in_body:
        raise MusicError(f"{source}: tune X:{tune.number} has no K: (key) field, so it is not a complete ABC tune")
    if not body:
        raise MusicError(f"{source}: tune X:{tune.number} has a header but no music")
    return "\n".join(header + body) + "\n"


def check_tokens(text: str, tune: Tune, source: str) -> None:
    """Refuse a tune with characters no ABC token explains (binary junk, another notation)."""
    from ..tokenizers.abc import _unexplained

    strange = _unexplained(text)
    if strange:
        listed = ", ".join(repr(c) for c, _ in strange.most_common(5))
        raise MusicError(f"{source}: tune X:{tune.number} holds characters that are not ABC notation: {listed}")


def parse(text: str, name: str = "the tune"):
    """The music21 Score of one ABC tune; a MusicError when music21 cannot read it or it holds no notes."""
    music21 = need("music21")
    try:
        score = music21.converter.parse(text, format="abc")
    except Exception as error:  # music21 raises many kinds (ABCHandlerException, IndexError, ...) on bad input
        raise MusicError(f"{name} does not parse as ABC: {type(error).__name__}: {str(error)[:200]}") from None
    if not any(True for _ in score.recurse().notes):
        raise MusicError(f"{name} parses as ABC but holds no notes")
    return score


def _touches_repeat(measure, music21) -> bool:
    return any(isinstance(bar, music21.bar.Repeat) for bar in (measure.leftBarline, measure.rightBarline))


def meter_quarters(text: str) -> float | None:
    """The length of a bar in quarter notes by the tune's first ``M:`` field (``C`` is 4/4, ``C|`` 2/2); None without one."""
    match = re.search(r"(?m)^M:[ \t]*([^\s%]+)", text)
    if match is None:
        return None
    value = match.group(1)
    if value in ("C", "C|"):
        return 4.0
    fraction = re.fullmatch(r"(\d+(?:\+\d+)*)/(\d+)", value)
    if fraction is None:
        return None
    beats = sum(int(part) for part in fraction.group(1).split("+"))
    return 4.0 * beats / int(fraction.group(2)) if int(fraction.group(2)) else None


def bar_check(score, bar: float) -> bool:
    """Whether a parsed tune's bars add up to ``bar`` quarter notes (the check the module's docstring defines).

    The meter comes from the tune's text (``meter_quarters``), not from music21's measures, which split an
    over-long bar into two and give each the length it has."""
    music21 = need("music21")
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    measures = list(parts[0].getElementsByClass("Measure"))
    if not measures:
        return False
    in_ending = set()
    for bracket in score.recurse().getElementsByClass("RepeatBracket"):
        in_ending.update(id(m) for m in bracket.getSpannedElements())
    for index, measure in enumerate(measures):
        length = measure.duration.quarterLength
        if abs(length - bar) < 1e-6:
            continue
        if length > bar + 1e-6:
            return False
        if index in (0, len(measures) - 1):
            continue
        beside = measures[max(index - 1, 0): index + 2]
        if any(_touches_repeat(m, music21) or id(m) in in_ending for m in beside):
            continue
        return False
    return True


def tune_passes(text: str) -> tuple[bool, bool]:
    """(parses, passes the meter check) for one ABC tune."""
    try:
        score = parse(text)
    except MusicError:
        return False, False
    bar = meter_quarters(text)
    if bar is None:
        return True, False
    try:
        return True, bar_check(score, bar)
    except Exception:  # a music21 failure inside the check counts as a failed check, not a crash
        return True, False


@dataclass
class ReadTunes:
    texts: list[str]  # the good tunes in normal form
    skipped: list[str]  # why each bad tune was skipped (file and X: number)


def read_tunes(text: str, source: str) -> ReadTunes:
    """The tunes of one ABC file in normal form; bad tunes are skipped with their reasons."""
    tunes = split_tunes(text)
    if not tunes:
        raise MusicError(f"{source} holds no ABC tune (a tune starts with an X: line)")
    found = ReadTunes([], [])
    for tune in tunes:
        try:
            normal = normalise(tune, source)
            check_tokens(normal, tune, source)
        except MusicError as error:
            found.skipped.append(str(error))
            continue
        found.texts.append(normal)
    return found
