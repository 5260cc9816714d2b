"""Musical measures of generated pieces, each beside the same measure of held-out real pieces.

ABC (``abc_measures``): the share of tunes that parse with music21 (and hold notes), and the share that also
pass the meter check (``music.abc.bar_check``: every bar a full measure except the first and last and short
bars beside repeats and endings).

MIDI (``midi_measures``, on symusic Scores):

- pitch-class histogram: the share of notes on each of the 12 pitch classes, over all pieces together;
  ``pitch_class_distance`` between two histograms is the total-variation distance (half the L1 distance:
  0 = the same, 1 = no pitch class in common);
- notes in key: each piece's key is found by the Krumhansl-Schmuckler method (its pitch-class histogram,
  weighted by duration, correlated with the 24 major and minor key profiles); the share of its notes in that
  key's scale (major, or minor with both the natural and the raised 6th and 7th);
- note density: notes per quarter note of the piece's length;
- polyphony: the mean number of notes sounding at each note onset.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from .abc import tune_passes

# Krumhansl-Kessler key profiles (1982), from C.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor with the raised 6th and 7th (melodic and harmonic)


def abc_measures(tunes: Sequence[str]) -> dict[str, Any]:
    """{"tunes", "parse_share", "meter_share"} of ABC tunes (see the module's docstring)."""
    results = [tune_passes(tune) for tune in tunes]
    count = len(results)
    return {"tunes": count, "parse_share": sum(p for p, _ in results) / count if count else 0.0,
            "meter_share": sum(m for _, m in results) / count if count else 0.0}


def _notes(score) -> list:
    return [note for track in score.tracks for note in track.notes]


def pitch_class_histogram(scores: Iterable) -> np.ndarray:
    """The share of notes on each pitch class (C = 0), over all ``scores`` together."""
    counts = np.zeros(12)
    for score in scores:
        for note in _notes(score):
            counts[note.pitch % 12] += 1
    return counts / counts.sum() if counts.sum() else counts


def pitch_class_distance(first: np.ndarray, second: np.ndarray) -> float:
    """The total-variation distance of two pitch-class histograms (0 = the same, 1 = disjoint)."""
    return float(0.5 * np.abs(np.asarray(first) - np.asarray(second)).sum())


def estimated_key(score) -> tuple[int, str]:
    """(tonic pitch class, "major" or "minor") by Krumhansl-Schmuckler on the duration-weighted pitch classes."""
    weights = np.zeros(12)
    for note in _notes(score):
        weights[note.pitch % 12] += max(note.duration, 1)
    best, found = -np.inf, (0, "major")
    for tonic in range(12):
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            rotated = np.roll(profile, tonic)
            correlation = np.corrcoef(weights, rotated)[0, 1] if weights.std() > 0 else 0.0
            if correlation > best:
                best, found = correlation, (tonic, mode)
    return found


def in_key_share(score) -> float:
    notes = _notes(score)
    if not notes:
        return 0.0
    tonic, mode = estimated_key(score)
    scale = {(tonic + step) % 12 for step in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}
    return sum(note.pitch % 12 in scale for note in notes) / len(notes)


def note_density(score) -> float:
    """Notes per quarter note of the piece's length."""
    notes = _notes(score)
    if not notes:
        return 0.0
    start = min(note.time for note in notes)
    end = max(note.time + note.duration for note in notes)
    quarters = max(end - start, 1) / score.ticks_per_quarter
    return len(notes) / quarters


def polyphony(score) -> float:
    """The mean number of notes sounding at each note onset."""
    notes = _notes(score)
    if not notes:
        return 0.0
    starts = np.array([note.time for note in notes])
    ends = starts + np.array([max(note.duration, 1) for note in notes])
    onsets = np.unique(starts)
    sounding = [(np.count_nonzero((starts <= onset) & (ends > onset))) for onset in onsets]
    return float(np.mean(sounding))


def midi_measures(scores: Sequence, reference: Sequence | None = None) -> dict[str, Any]:
    """The MIDI measures of ``scores`` (means over pieces), with the pitch-class distance to ``reference``
    (held-out pieces) when given."""
    found: dict[str, Any] = {"pieces": len(scores)}
    if not scores:
        return found
    found["in_key_share"] = float(np.mean([in_key_share(score) for score in scores]))
    found["note_density"] = float(np.mean([note_density(score) for score in scores]))
    found["polyphony"] = float(np.mean([polyphony(score) for score in scores]))
    histogram = pitch_class_histogram(scores)
    found["pitch_class_histogram"] = [round(float(v), 4) for v in histogram]
    if reference:
        found["pitch_class_distance"] = pitch_class_distance(histogram, pitch_class_histogram(reference))
    return found
