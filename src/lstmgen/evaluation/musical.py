"""Musical measures of a music model (ABC or MIDI tokenizer): NLL per note, and samples beside held-out pieces.

``notes_in`` counts the notes of a text (ABC note tokens, rests excepted; MIDI ``Pitch_`` events), so a
report's total NLL divides into nats per note, comparable across tokenizations of the same music.
``music_report`` draws samples from the model (each a whole piece: generation stops at the end of a
document), as generate draws them (the musical rules on) and without the rules (what the model writes alone),
and puts the measures of ``lstmgen.music.measures`` beside those of the held-out pieces.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..config import GenerationConfig

MUSIC_KINDS = ("abc", "midi")
_ABC_NOTE = re.compile(r"(?:\^\^|\^|__|_|=)?[A-Ga-g](?:,+|'+)?")
_MIDI_NOTE = re.compile(r"(?<!\S)Pitch(?:Drum)?_\d+")


def notes_in(text: str, kind: str) -> int:
    """The notes of a piece's text: ABC notes (chord members each count) or MIDI pitch events."""
    if kind == "midi":
        return len(_MIDI_NOTE.findall(text))
    if kind == "abc":
        from ..tokenizers.abc import lex

        return sum(1 for token in lex(text) if token is not None and _ABC_NOTE.match(token) and not token[:2][1:] == ":")
    raise ValueError(f"notes are counted for ABC and MIDI models only, not {kind}")


def notes_in_tokens(tokens, tokenizer) -> int:
    """The notes among token ids (as ``notes_in`` counts them in text): for a held-out region of a token store."""
    import numpy as np

    kind = tokenizer.kind
    is_note = np.array([notes_in(tokenizer.token_text(i), kind) if i != tokenizer.end_of_document else 0
                        for i in range(tokenizer.vocab_size)], dtype=np.int64)
    return int(is_note[np.asarray(tokens, dtype=np.int64)].sum())


def heldout_pieces(text: str, kind: str) -> list[str]:
    """The pieces of a held-out text: ABC tunes (from their X: lines), MIDI pieces (separated by blank lines)."""
    if kind == "abc":
        from ..music.abc import split_tunes

        return [tune.text for tune in split_tunes(text)]
    return [piece.strip() for piece in re.split(r"\n[ \t]*\n", text) if piece.strip()]


def _scores(texts: list[str], tokenizer) -> list:
    from ..music import MusicError
    from ..music.render import sample_score

    scores = []
    for text in texts:
        try:
            scores.append(sample_score(text, tokenizer))
        except MusicError:
            continue  # a piece that cannot be read as music counts in "readable", not in the other measures
    return scores


def music_report(lm, heldout_text: str, num_samples: int = 20, temperature: float = 1.0, max_tokens: int = 2000,
                 seed: int | None = 0, max_heldout: int = 100) -> dict[str, Any]:
    """Measures of ``num_samples`` samples beside the same measures of (at most ``max_heldout``) held-out pieces.

    ``lm``: a LanguageModel (its ``samples`` and ``tokenizer``). ABC: parse and meter shares; MIDI: readable
    share, pitch-class distance to the held-out pieces, notes in key, note density, polyphony.
    """
    from ..music.measures import abc_measures, midi_measures

    kind = lm.tokenizer.kind
    if kind not in MUSIC_KINDS:
        raise ValueError(f"musical measures need an ABC or MIDI model; this one's tokenizer is {kind}")
    config = GenerationConfig(max_tokens=max_tokens, temperature=temperature, num_samples=num_samples, seed=seed)
    # As generate draws them (the musical rules on: decoding/musical_rules.py), and what the model writes alone.
    drawn = {"samples": lm.samples("", config),
             "samples_without_rules": lm.samples("", replace(config, whole_bars=False, min_bars=0))}
    heldout = heldout_pieces(heldout_text, kind)[:max_heldout]
    report: dict[str, Any] = {"kind": kind, "temperature": temperature}
    if kind == "abc":
        report["heldout"] = abc_measures(heldout)
        report.update({name: abc_measures(samples) for name, samples in drawn.items()})
        return report
    heldout_scores = _scores(heldout, lm.tokenizer)
    for name, samples in drawn.items():
        sample_scores = _scores(samples, lm.tokenizer)
        report[name] = {"drawn": len(samples), "readable_share": len(sample_scores) / max(len(samples), 1),
                        **midi_measures(sample_scores, heldout_scores)}
    report["heldout"] = midi_measures(heldout_scores)
    return report


def sweep_measures(texts: list[str], tokenizer, heldout_texts: list[str] | None = None) -> dict[str, Any]:
    """The musical columns of a temperature sweep's row: ABC parse and meter shares; MIDI readable share, notes
    in key, polyphony, and the pitch-class distance to ``heldout_texts`` when given."""
    from ..music.measures import abc_measures, midi_measures

    if tokenizer.kind == "abc":
        found = abc_measures(texts)
        return {"parse_share": found["parse_share"], "meter_share": found["meter_share"]}
    scores = _scores(texts, tokenizer)
    measured = midi_measures(scores, _scores(heldout_texts, tokenizer) if heldout_texts else None)
    return {"readable_share": len(scores) / max(len(texts), 1),
            **{key: measured[key] for key in ("in_key_share", "polyphony", "pitch_class_distance") if key in measured}}


def describe(report: dict[str, Any]) -> str:
    samples, heldout, alone = report["samples"], report["heldout"], report.get("samples_without_rules")
    if report["kind"] == "abc":
        without = (f" (without the musical rules: {alone['parse_share']:.1%} parse, {alone['meter_share']:.1%} pass)"
                   if alone else "")
        return (f"music (T={report['temperature']}): {samples['parse_share']:.1%} of {samples['tunes']} samples parse, "
                f"{samples['meter_share']:.1%} pass the meter check{without}; held-out tunes: {heldout['parse_share']:.1%} parse, "
                f"{heldout['meter_share']:.1%} pass ({heldout['tunes']} tunes)")
    lines = [f"music (T={report['temperature']}): {samples['readable_share']:.1%} of {samples['drawn']} samples readable as MIDI "
             f"with notes; held-out pieces: {heldout['pieces']}"]
    for name in ("pitch_class_distance", "in_key_share", "note_density", "polyphony"):
        if name in samples:
            beside = f" (held-out {heldout[name]:.3f})" if name in heldout else ""
            lines.append(f"  {name.replace('_', ' ')}: {samples[name]:.3f}{beside}")
    if alone:
        distance = f", pitch-class distance {alone['pitch_class_distance']:.3f}" if "pitch_class_distance" in alone else ""
        lines.append(f"  without the musical rules: {alone['readable_share']:.1%} readable{distance}")
    return "\n".join(lines)
