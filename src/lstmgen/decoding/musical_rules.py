"""Musical rules on what a music model may write: ABC bars that add up to the meter, pieces of at least N bars.

A music model learns the tokens of tunes quickly and their bar arithmetic slowly: after five minutes of
training most of an ABC sample's bars hold the right kind of notes with one duration too many or too few.
A person counts while writing. These rules count for the model, and mask each step's logits [n, V] so that
only tokens that keep the piece well formed can be drawn (the model's own probabilities choose among them):

- ``whole_bars`` (ABC): the header names a meter (``M:``; not ``M:none``) before its key, and every bar of the
  body lasts exactly one measure of that meter in the tune's ``L:`` unit (ABC's default unit when none is
  given). As in real tunes, the first bar may be a pickup, a bar beside a repeat sign or an ending may be
  short (a strain that starts on an upbeat ends short), and so may the final bar (``|]``, or the end of the
  tune). A note or chord that would overfill the bar, or leave a rest no note of the vocabulary can fill, is
  never drawn; nor is a bar line before the bar is full. Tuplets (``(3``), broken rhythm (``>``, ``<``),
  chords (``[CEG]2``) and grace notes (``{g}``) count as ABC counts them; the meter stays the header's (no ``M:`` line or ``[M:...]`` in
  the body), ``L:`` lines and ``[L:...]`` change the count. Body fields and endings (``[1``) come at the start of a bar; chords,
  grace notes, tuplets and broken rhythms close before a bar line; a tuplet's notes, and a chord's, are written
  alike, and a tuplet holds no chord or grace group; at most four ornaments (decorations, chord
  symbols, slurs) come in a row, none in a full bar (a slur's end or a tie may close one) and none inside a chord or grace group; a chord or grace group
  holds at most four notes.
- ``min_bars`` (ABC and MIDI, in document mode): the end of the piece (the document token) comes only after
  this many bars (in ABC, outside a chord or tuplet; in MIDI, once the last of REMI's ``Bar`` events holds a
  note).

Where the rules would leave a stream nothing that moves the piece on (a tuplet of lengths the vocabulary
cannot complete, say), that stream draws freely for the step; the count goes on, and the next bar line puts
it back on track. Models of other kinds are not affected.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import torch

from ..config import GenerationConfig

# Token classes (one per token id: ``AbcRules.classes``).
OTHER, NOTE, REST, MULTI_REST, CHORD_START, CHORD_END, GRACE_START, GRACE_END, TUPLET = range(9)
BROKEN_LONGER, BROKEN_SHORTER, BAR, REPEAT_BAR, FINAL_BAR, ENDING, NEWLINE, FIELD, METER_FIELD, KEY_FIELD = range(9, 19)
INLINE_FIELD, END, CONTINUATION, NO_METER, NUMBER_FIELD, CLOSING, NEVER = range(19, 26)
CLASSES = 26
FIELDS = (FIELD, METER_FIELD, KEY_FIELD)
# What moves a piece on: its notes and bar lines, its end, and in the header its fields.
PROGRESS_CLASSES = (NOTE, REST, CHORD_END, BAR, REPEAT_BAR, FINAL_BAR, END, *FIELDS, NUMBER_FIELD)
EPSILON = 1e-6
MOST_IDLE = 4  # tokens in a row that take no time (decorations, chord symbols, slurs, ties) before a note must come
MOST_CACHED = 4096  # allowed rows kept per rules object (a few KB each)
MOST_IN_GROUP = 4  # notes in a chord or a grace group, at most

_LENGTH = re.compile(r"([0-9]*)(/*)([0-9]*)$")
_NOTE = re.compile(r"(?:\^\^|\^|__|_|=)?[A-Ga-g](?:,+|'+)?")
_INLINE = re.compile(r"\[([A-Za-z]):([^\]]*)\]$")


def length_multiplier(suffix: str) -> Fraction | None:
    """The multiple of the unit length an ABC length suffix gives: "" 1, "2" 2, "/" 1/2, "//" 1/4, "3/2" 3/2, "/3" 1/3."""
    match = _LENGTH.match(suffix)
    if match is None:
        return None
    numerator, slashes, denominator = match.groups()
    value = Fraction(int(numerator)) if numerator else Fraction(1)
    if slashes:  # "/d" divides by d; every further slash (or each bare one) halves
        value /= (int(denominator) if denominator else 2) * 2 ** (len(slashes) - 1)
    return value if value > 0 else None


def meter_of(value: str) -> tuple[Fraction | None, bool]:
    """(a bar's length in whole notes, whether the meter is compound) of an ``M:`` value; (None, False) for none."""
    value = value.strip()
    if value in ("C", "C|"):
        return Fraction(1), False
    match = re.fullmatch(r"\(?(\d+(?:\+\d+)*)\)?/(\d+)", value)
    if match is None or not int(match.group(2)):
        return None, False
    beats = sum(int(part) for part in match.group(1).split("+"))
    return Fraction(beats, int(match.group(2))), beats in (6, 9, 12) and int(match.group(2)) >= 8


def unit_of(value: str) -> Fraction | None:
    match = re.fullmatch(r"\s*(\d+)/(\d+)\s*", value)
    return Fraction(int(match.group(1)), int(match.group(2))) if match and int(match.group(2)) and int(match.group(1)) else None


def tuplet_of(token: str, compound: bool) -> tuple[Fraction, int]:
    """(the factor a tuplet gives each note, how many notes) of ``(p:q:r`` (ABC's defaults for q and r)."""
    parts = token[1:].split(":")
    p = int(parts[0])
    q = int(parts[1]) if len(parts) > 1 and parts[1] else {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
    r = int(parts[2]) if len(parts) > 2 and parts[2] else p
    return Fraction(q, max(p, 1)), max(r, 1)


def _token_class(token: str) -> tuple[int, float]:
    """One ABC token's class and length multiplier (of the unit; a chord end's: of the chord's first note)."""
    from ..tokenizers.abc import is_field

    if token == "\n":
        return NEWLINE, 0.0
    if is_field(token):
        if token[0] == "M" and meter_of(token[2:])[0] is None:
            return NO_METER, 0.0  # M:none (free meter) or a meter this count cannot read
        if token[0] == "X":
            return NUMBER_FIELD, 0.0  # a tune's number starts a tune: in its header, never in its body
        return {"M": METER_FIELD, "K": KEY_FIELD}.get(token[0], FIELD), 0.0
    if token == "\\":
        return CONTINUATION, 0.0
    if _INLINE.match(token):
        return (METER_FIELD if token[1] == "M" else INLINE_FIELD), 0.0
    if re.fullmatch(r"\[[0-9]+(?:[,-][0-9]+)*", token):
        return ENDING, 0.0
    if re.fullmatch(r":*\|+\]?:*[0-9]*(?:[,-][0-9]+)*|\[\|:*|::+", token):
        return (REPEAT_BAR if ":" in token or re.search(r"[0-9]", token) else FINAL_BAR if token == "|]" else BAR), 0.0
    note = _NOTE.match(token)
    if note is not None or token[0] in "zx":
        multiplier = length_multiplier(token[note.end() if note is not None else 1:])
        return ((NOTE if note is not None else REST), float(multiplier)) if multiplier is not None else (NEVER, 0.0)
    if token[0] in "ZX":
        return (MULTI_REST if token[1:] in ("", "1") else NEVER), 0.0
    if token.startswith("]"):
        multiplier = length_multiplier(token[1:])
        return (CHORD_END, float(multiplier)) if multiplier is not None else (NEVER, 0.0)
    if re.fullmatch(r"\([0-9](?::[0-9]*){0,2}", token):
        return TUPLET, 0.0
    return {"[": CHORD_START, "{": GRACE_START, "}": GRACE_END, ">": BROKEN_LONGER, "<": BROKEN_SHORTER,
            ")": CLOSING, "-": CLOSING}.get(token, OTHER), 0.0  # a slur's end and a tie belong to the note before


@functools.lru_cache(maxsize=8)
def abc_classes(tokens: tuple[str, ...], vocab_size: int, end_of_document: int | None) -> tuple[list[int], list[float]]:
    """Each token id's class and length multiplier: id 0 (unknown) and ids past the ABC tokens (labels) are NEVER.
    Cached: every request to a model builds its rules from the same vocabulary."""
    classes, lengths = [NEVER] * vocab_size, [0.0] * vocab_size
    for index, token in enumerate(tokens, start=1):
        classes[index], lengths[index] = _token_class(token)
    if end_of_document is not None:
        classes[end_of_document] = END
    return classes, lengths


@dataclass
class AbcStream:
    """Where one stream stands in its tune. Lengths are in whole notes (a quarter is 0.25)."""

    in_body: bool = False
    meter: float | None = None  # a bar's length; None: no meter (M:none), bars are not counted
    compound: bool = False
    unit: float = 0.125  # L: (ABC's default, 1/8, until the meter says otherwise)
    unit_given: bool = False
    filled: float = 0.0  # of the current bar
    bars: int = 0  # bars closed (that held something)
    line_start: bool = True
    after_bar: bool = False  # the last token that was not a line break was a bar line (or the body just began)
    opened_by_repeat: bool = False  # the bar began at a repeat sign or an ending
    idle: int = 0  # tokens in a row that took no time
    blank: bool = False  # the last token was a line break
    header_fields: int = 0
    chord: bool = False
    chord_first: float | None = None  # the length of the chord's first note (its unit multiple times the unit)
    chord_notes: int = 0
    grace: int = -1  # notes in the open grace group; -1 when none is open
    tuplet_factor: float = 1.0
    tuplet_left: int = 0
    tuplet_written: float = 0.0  # the unit multiple of the tuplet's first note: the others match it
    broken: int = 0  # > (positive) or < (negative) signs read since the last note
    broken_factor: float = 1.0  # what the next note's length is multiplied by
    last_length: float = 0.0  # the last note's, rest's or chord's length as written, when it was the token just read
    # and no broken rhythm's second note (0 otherwise: no broken rhythm may follow)

    def set_meter(self, value: str) -> None:
        meter, self.compound = meter_of(value)
        self.meter = float(meter) if meter is not None else None
        if not self.unit_given and meter is not None:  # ABC: the default unit is 1/16 below 3/4, else 1/8
            self.unit = 0.0625 if meter < Fraction(3, 4) else 0.125


class AbcRules:
    """The ``whole_bars`` and ``min_bars`` rules for ABC streams (see the module's docstring)."""

    def __init__(self, tokens: Sequence[str], vocab_size: int, end_of_document: int | None, rows: int,
                 prompt_ids: Sequence[int], whole_bars: bool, min_bars: int) -> None:
        self.tokens = ["<unk>", *tokens]
        classes, lengths = abc_classes(tuple(tokens), vocab_size, end_of_document)
        self.classes = classes
        self.whole_bars, self.min_bars = whole_bars, min_bars
        # The smallest step any bar is filled in: a quarter of the unit where the vocabulary writes one (a//), else half.
        note_lengths = {lengths[i] for i, c in enumerate(classes) if c in (NOTE, REST)}
        self.grid_units = 0.25 if 0.25 in note_lengths else 0.5 if 0.5 in note_lengths else 1.0
        # A tuplet must leave room for its notes at their shortest: its "length" is that of r such notes.
        shortest = min((length for length in note_lengths if length > 0), default=1.0)
        lengths = list(lengths)
        for index, kind in enumerate(classes):
            if kind == TUPLET:
                factor, count = tuplet_of(tokens[index - 1], False)
                lengths[index] = float(factor) * count * shortest
        self.lengths = lengths
        self.shortest_note = shortest
        # A chord's first note must leave room for the shortest chord end the vocabulary writes (]/2, ], ]2...).
        self.shortest_chord_end = min((lengths[i] for i, c in enumerate(classes) if c == CHORD_END), default=None)
        self._tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}
        self._rows: dict[torch.device, dict[tuple, torch.Tensor]] = {}
        start = AbcStream()
        for token in prompt_ids:
            self._read(start, int(token))
        self.streams = [self._copy(start) for _ in range(rows)]

    @staticmethod
    def _copy(stream: AbcStream) -> AbcStream:
        return dataclasses.replace(stream)

    def tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        found = self._tables.get(device)
        if found is None:
            found = self._tables[device] = (torch.tensor(self.classes, dtype=torch.long, device=device),
                                            torch.tensor(self.lengths, dtype=torch.float64, device=device),
                                            torch.tensor([c in PROGRESS_CLASSES for c in self.classes], dtype=torch.bool, device=device))
        return found

    # -- what each stream may draw -------------------------------------------------------------------------

    def _allowed(self, stream: AbcStream) -> tuple[tuple[bool, ...], float, float, float, bool, bool, float]:
        """(classes allowed [CLASSES], the room left in the bar, a note's length per unit multiple, a chord end's
        length per multiple, whether a note must leave the bar on the grid, whether a chord end must, the unit multiple
        every note must have (a tuplet's notes are all written alike: (3efg, (3e2f2g2), 0 for any)."""
        allowed = [True] * CLASSES
        allowed[NEVER] = False
        if not stream.in_body and not self.whole_bars:
            allowed[END] = False
            return tuple(allowed), math.inf, 0.0, 0.0, False, False, 0.0
        if not stream.in_body:  # the header: field lines, the key (which ends it) once the meter is known
            allowed = [False] * CLASSES
            allowed[FIELD] = allowed[METER_FIELD] = True
            allowed[NUMBER_FIELD] = not stream.header_fields  # X: opens the header (a second one would start a new tune)
            allowed[KEY_FIELD] = stream.meter is not None
            return tuple(allowed), math.inf, 0.0, 0.0, False, False, 0.0
        bar_open = stream.chord or stream.grace >= 0 or stream.tuplet_left > 0 or stream.broken != 0
        empty = stream.filled < EPSILON
        at_bar_start = empty and not bar_open
        # The tune may end at a bar line, or in a bar (a final bar may be short), once it has min_bars bars.
        allowed[END] = not bar_open and stream.bars + (not empty) >= self.min_bars
        counting = self.whole_bars and stream.meter is not None
        if not counting:  # no meter to count (or whole_bars off): only the end waits for min_bars
            return tuple(allowed), math.inf, 0.0, 0.0, False, False, 0.0
        room = stream.meter - stream.filled
        # Bar lines: at a full bar; after a pickup (the first bar); at a line's start right after one (":|\n|:"). A short
        # bar may also touch a repeat (a strain that starts on an upbeat ends short, the next one starts with its
        # own pickup: "|:A|...|d2:|\n|:e|...") and the final bar ("|]") may be short, as in real tunes.
        short = not bar_open and not empty
        allowed[BAR] = (not bar_open and (room < EPSILON or (stream.bars == 0 and not empty)
                                          or (empty and stream.line_start and stream.after_bar))) or (short and stream.opened_by_repeat)
        allowed[REPEAT_BAR] = allowed[FINAL_BAR] = allowed[BAR] or short
        allowed[NEWLINE] = not bar_open and not stream.blank  # a blank line would end the tune
        allowed[FIELD] = allowed[KEY_FIELD] = allowed[INLINE_FIELD] = at_bar_start
        allowed[METER_FIELD] = False  # the tune keeps the meter its header names
        allowed[ENDING] = at_bar_start and stream.after_bar
        allowed[MULTI_REST] = at_bar_start
        in_group = stream.chord or stream.grace >= 0
        outside = not in_group and stream.tuplet_left == 0 and room > EPSILON  # where a chord, tuplet or grace group may open
        allowed[CHORD_START] = (outside and self.shortest_chord_end is not None
                                and room >= stream.unit * self.shortest_note * self.shortest_chord_end * stream.broken_factor - EPSILON)
        allowed[TUPLET] = outside and stream.broken == 0
        allowed[GRACE_START] = outside
        allowed[GRACE_END] = stream.grace > 0
        allowed[CHORD_END] = stream.chord and stream.chord_first is not None
        allowed[REST] = not in_group
        if (stream.chord and stream.chord_notes >= MOST_IN_GROUP) or stream.grace >= MOST_IN_GROUP:
            allowed[NOTE] = False  # a hand has so many fingers: the group closes
        # At most MOST_IDLE ornaments in a row: a model that finds its favourite notes masked would otherwise pile them up.
        # Ornaments and chord symbols go with the note after them: none in a full bar (that note is in the next bar; some
        # real tunes end a bar with a fermata or a "^Segno", which music21 reads as the next bar's), none inside a chord
        # or grace group. A slur's end and a tie go with the note before them.
        allowed[OTHER] = stream.idle < MOST_IDLE and room > EPSILON and not in_group
        allowed[CLOSING] = stream.idle < MOST_IDLE and not in_group
        allowed[CONTINUATION] = not bar_open and stream.idle < MOST_IDLE
        allowed[NO_METER] = allowed[NUMBER_FIELD] = False
        can_break = not in_group and stream.last_length > 0 and stream.tuplet_left == 0 and stream.broken == 0 and not empty
        # a>b adds half of a now and b comes at half its length; a<b takes half of a back and b comes at 1.5 times:
        # either way a partner as long as a needs a room of a's length.
        allowed[BROKEN_LONGER] = allowed[BROKEN_SHORTER] = can_break and room >= stream.last_length - EPSILON
        if stream.broken:  # a broken rhythm's second note comes at once
            allowed = [c in (NOTE, REST, CHORD_START, OTHER) and allowed[c] for c in range(CLASSES)]
        factor = stream.tuplet_factor * stream.broken_factor
        if stream.grace >= 0:
            note_scale = 0.0  # grace notes take no time
        elif stream.chord:
            # The first note sets the length (times the chord end's); the others take none of their own.
            note_scale = stream.unit * factor * self.shortest_chord_end if stream.chord_first is None else 0.0
        elif stream.tuplet_left and not stream.tuplet_written:
            note_scale = stream.unit * factor * stream.tuplet_left  # the first note of a tuplet: all of them, written alike
        else:
            note_scale = stream.unit * factor
        end_scale = (stream.chord_first or 0.0) * factor
        last_of_tuplet = stream.tuplet_left <= 1 or not stream.tuplet_written
        grid_note = counting and last_of_tuplet and not stream.chord and stream.grace < 0
        grid_end = counting and last_of_tuplet
        if stream.chord and stream.chord_first is not None:
            same = stream.chord_first / stream.unit  # a chord's notes are written alike: [df]2, [A2c2]
        else:
            same = stream.tuplet_written if stream.tuplet_left and stream.grace < 0 else 0.0
        return tuple(allowed), room, note_scale, end_scale, grid_note, grid_end, same

    def mask(self, logits: torch.Tensor, free: Sequence[bool] | None = None) -> torch.Tensor:
        """``logits`` [n, V] with what the rules rule out at -inf (a new tensor; finished rows untouched).

        A stream's allowed tokens depend only on a few numbers of its state (``_allowed``'s answer, its grid step,
        where it stands in a chord or grace group), which repeat from bar to bar: each answer's row [V] is computed
        once and kept (``_rows``), so a step costs a dictionary lookup per stream and one masked fill."""
        device = logits.device
        cache = self._rows.setdefault(device, {})
        rows = []
        for row, stream in enumerate(self.streams):
            if free is not None and free[row]:
                rows.append(None)
                continue
            key = (*self._allowed(stream), self._grid(stream), stream.chord, stream.chord_first is None, stream.grace)
            found = cache.get(key)
            if found is None:
                if len(cache) >= MOST_CACHED:
                    cache.clear()
                found = cache[key] = self._row(key, device)
            rows.append(found)
        if all(found is None for found in rows):
            return logits
        everything = torch.ones(logits.shape[-1], dtype=torch.bool, device=device)
        allowed = torch.stack([everything if found is None else found for found in rows])  # [n, V]
        return logits.masked_fill(~allowed, float("-inf"))

    def _row(self, key: tuple, device: torch.device) -> torch.Tensor:
        """The tokens [V] one stream may draw, from its ``mask`` key."""
        allowed_classes, room, note_scale, end_scale, grid_note, grid_end, same, grid_step, chord, chord_empty, grace = key
        classes, lengths, progress = self.tables(device)
        allowed = torch.tensor(allowed_classes, dtype=torch.bool, device=device)[classes]  # [V]
        if not math.isinf(room):
            is_end = classes == CHORD_END
            tuplet = classes == TUPLET
            timed = (classes == NOTE) | (classes == REST) | is_end | tuplet
            length = lengths * torch.where(is_end, lengths.new_tensor(end_scale), lengths.new_tensor(note_scale))  # [V]: of the bar
            after = room - length  # [V]: the room it leaves
            steps = after / grid_step
            off_grid = (steps - steps.round()).abs() > 1e-4
            must_grid = ((is_end & grid_end) | (~is_end & grid_note)) & ~tuplet
            fits = (after > -EPSILON) & ~(must_grid & off_grid)
            alike = (same == 0) | ((lengths - same).abs() < EPSILON) | is_end | tuplet
            allowed = allowed & (~timed | (fits & alike))
        # A stream the rules would leave nothing that moves it on (a tuplet the vocabulary cannot complete, say) may write
        # any note, rest or bar line this step (and close its chord or grace group); the count goes on, and a bar line
        # (allowed once the bar is full or overfull) puts it back on track.
        if not bool((allowed & progress).any()):
            rescue = [NOTE, REST, BAR, REPEAT_BAR, FINAL_BAR] if not (chord or grace >= 0) else []
            if chord:
                rescue.append(NOTE if chord_empty else CHORD_END)
            elif grace >= 0:
                rescue.append(NOTE if grace == 0 else GRACE_END)
            allowed = torch.isin(classes, torch.tensor(rescue, device=device))
        return allowed

    def _grid(self, stream: AbcStream) -> float:
        return stream.unit * self.grid_units

    # -- following what each stream drew -------------------------------------------------------------------

    def follow(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """Stream i continues stream ``rows[i]`` with ``tokens[i]``."""
        if list(rows) == list(range(len(self.streams))):
            for stream, token in zip(self.streams, tokens):
                self._read(stream, int(token))
            return
        followed = [self._copy(self.streams[row]) for row in rows]
        for stream, token in zip(followed, tokens):
            self._read(stream, int(token))
        self.streams = followed

    def _close_bar(self, stream: AbcStream) -> None:
        if stream.filled > EPSILON:
            stream.bars += 1
        stream.filled = 0.0

    def _timed(self, stream: AbcStream, length: float) -> None:
        """A note, rest or chord of ``length`` as written (before tuplets and broken rhythm) ends."""
        stream.filled += length * stream.tuplet_factor * stream.broken_factor
        stream.last_length = length * stream.tuplet_factor if not stream.broken else 0.0
        stream.broken, stream.broken_factor = 0, 1.0
        if stream.tuplet_left:
            stream.tuplet_left -= 1
            if not stream.tuplet_left:  # no broken rhythm across a tuplet's end
                stream.tuplet_factor, stream.last_length = 1.0, 0.0

    def _read(self, stream: AbcStream, token: int) -> None:
        kind = self.classes[token] if 0 <= token < len(self.classes) else NEVER
        text = self.tokens[token] if 0 <= token < len(self.tokens) else ""
        if kind == END:  # a new tune begins
            vars(stream).update(vars(AbcStream()))
            return
        if not stream.in_body:
            stream.header_fields += 1
            if kind in FIELDS or kind == NO_METER:
                name, value = text[0], text[2:]
                if name == "M":
                    stream.set_meter(value)
                elif name == "L":
                    unit = unit_of(value)
                    if unit is not None:
                        stream.unit, stream.unit_given = float(unit), True
                elif name == "K":
                    stream.in_body, stream.line_start, stream.after_bar = True, True, True
            return
        stream.blank = kind == NEWLINE
        if kind == NEWLINE:
            stream.line_start, stream.last_length = True, 0.0
            return
        if kind == CONTINUATION:  # a line continues on the next: nothing changes but the count of idle tokens
            stream.idle += 1
            return
        was_line_start = stream.line_start
        stream.line_start = False
        stream.idle = stream.idle + 1 if kind in (OTHER, CLOSING, TUPLET, GRACE_START, BROKEN_LONGER, BROKEN_SHORTER) else 0
        if kind not in (NOTE, REST, CHORD_END, BROKEN_LONGER, BROKEN_SHORTER, CLOSING) and not stream.chord:
            stream.last_length = 0.0  # a broken rhythm joins two notes side by side
        if kind in (BAR, REPEAT_BAR, FINAL_BAR):
            self._close_bar(stream)
            stream.after_bar, stream.opened_by_repeat = True, kind == REPEAT_BAR
            return
        if kind in FIELDS or kind in (INLINE_FIELD, NO_METER):
            name, value = (text[1], text[3:-1]) if text.startswith("[") else (text[0], text[2:])
            if name == "M":
                stream.set_meter(value)
            elif name == "L" and unit_of(value) is not None:
                stream.unit, stream.unit_given = float(unit_of(value)), True
            stream.line_start = not text.startswith("[") or was_line_start
            return
        if kind == ENDING:
            stream.opened_by_repeat = True
            return
        stream.after_bar = False
        if kind in (NOTE, REST) and stream.tuplet_left and stream.grace < 0 and not stream.chord and not stream.tuplet_written:
            stream.tuplet_written = self.lengths[token]
        if kind == NOTE:
            length = self.lengths[token] * stream.unit
            if stream.grace >= 0:
                stream.grace += 1
            elif stream.chord:
                stream.chord_notes += 1
                if stream.chord_first is None:
                    stream.chord_first = length
            else:
                self._timed(stream, length)
        elif kind == REST:
            self._timed(stream, self.lengths[token] * stream.unit)
        elif kind == MULTI_REST:
            stream.filled = stream.meter or 0.0
        elif kind == CHORD_START:
            stream.chord, stream.chord_first, stream.chord_notes = True, None, 0
        elif kind == CHORD_END:
            length = self.lengths[token] * (stream.chord_first or 0.0)
            stream.chord, stream.chord_first = False, None
            self._timed(stream, length)
        elif kind == GRACE_START:
            stream.grace = 0
        elif kind == GRACE_END:
            stream.grace = -1
        elif kind == TUPLET:
            factor, count = tuplet_of(text, stream.compound)
            stream.tuplet_factor, stream.tuplet_left, stream.tuplet_written = float(factor), count, 0.0
        elif kind in (BROKEN_LONGER, BROKEN_SHORTER):
            # a>b: a is dotted, b halved; a>>b: a double-dotted, b a quarter. The earlier note's share is added now.
            sign = 1 if kind == BROKEN_LONGER else -1
            level = abs(stream.broken) + 1
            stream.filled += sign * stream.last_length * 0.5 ** level
            stream.broken = sign * level
            stream.broken_factor = 0.5 ** level if sign > 0 else 2 - 0.5 ** level


class MidiRules:
    """``min_bars`` for REMI-like MIDI events: the document ends only after that many ``Bar`` events, the last
    holding a note."""

    def __init__(self, tokenizer, rows: int, prompt_ids: Sequence[int], min_bars: int) -> None:
        texts = [tokenizer.token_text(i) for i in range(tokenizer.vocab_size)]
        self.bar = {i for i, t in enumerate(texts) if t.startswith("Bar")}
        self.pitch = {i for i, t in enumerate(texts) if t.startswith("Pitch")}
        self.end, self.min_bars = tokenizer.end_of_document, min_bars
        bars, noted = 0, False
        for token in prompt_ids:
            bars, noted = self._next(bars, noted, int(token))
        self.streams = [(bars, noted)] * rows

    def _next(self, bars: int, noted: bool, token: int) -> tuple[int, bool]:
        if token == self.end:
            return 0, False
        if token in self.bar:
            return bars + 1, False
        return bars, noted or token in self.pitch

    def mask(self, logits: torch.Tensor, free: Sequence[bool] | None = None) -> torch.Tensor:
        early = [not (free is not None and free[row]) and not (bars >= self.min_bars and noted)
                 for row, (bars, noted) in enumerate(self.streams)]
        if not any(early):
            return logits
        masked = logits.clone()
        masked[torch.tensor(early, device=logits.device), self.end] = float("-inf")
        return masked

    def follow(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        self.streams = [self._next(*self.streams[row], int(token)) for row, token in zip(rows, tokens)]


def musical_rules(tokenizer, config: GenerationConfig, rows: int, prompt_ids: Sequence[int]) -> AbcRules | MidiRules | None:
    """The rules ``config`` asks of a music model's ``rows`` streams after ``prompt_ids`` (None for other models,
    or with ``whole_bars`` off and ``min_bars`` 0)."""
    base = getattr(tokenizer, "base", tokenizer)  # a labelled tokenizer wraps its kind's
    kind = getattr(base, "kind", "")
    documents = tokenizer.end_of_document is not None
    min_bars = config.min_bars if documents else 0
    if kind == "abc" and (config.whole_bars or min_bars):
        return AbcRules(base.tokens, tokenizer.vocab_size, tokenizer.end_of_document, rows, prompt_ids, config.whole_bars, min_bars)
    if kind == "midi" and min_bars:
        return MidiRules(tokenizer, rows, prompt_ids, min_bars)
    return None


__all__ = ["AbcRules", "MidiRules", "musical_rules", "length_multiplier", "meter_of", "tuplet_of"]
