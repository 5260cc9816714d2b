"""The musical rules: ABC bars that add up to the meter, and pieces of at least min_bars bars (decoding/musical_rules.py).

The rules are checked token by token on hand-made vocabularies, and end to end on models with random weights: a
model that knows nothing of music writes tunes whose bars add up (music21's count, not ours) only with the rules.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from conftest import make_tiny_model
from lstmgen import LanguageModel
from lstmgen.config import ConfigError, GenerationConfig
from lstmgen.decoding.musical_rules import AbcRules, MidiRules, length_multiplier, meter_of, musical_rules, tuplet_of
from lstmgen.tokenizers import AbcTokenizer

HEADER = "X:1\nM:3/4\nL:1/8\nK:D\n"
TUNES = [
    "X:1\nM:3/4\nL:1/8\nK:D\nA|d2 fd A2|B2 c2 d2|(3efg a>g f2|[df]2 {g}e2 d2|A4 z2|d6|]\n",
    "X:1\nM:6/8\nL:1/8\nK:G\n|:GAB c2d|e3 d2B|~A3 \"Am\"A2B|c6:|\n|[1 G3 G2A|B6|[2 G6|]\n",
    "X:1\nM:C\nK:Em\nE2 G2 B2 e2|d8|B,4 E4|E8|]\n",
    "X:1\nM:2/4\nL:1/16\nK:A\nA2B2 c4|e8|]\n",
]


def vocabulary() -> AbcTokenizer:
    return AbcTokenizer.learn(TUNES, documents=True)


def allowed_texts(rules: AbcRules, tokenizer: AbcTokenizer, row: int = 0) -> set[str]:
    masked = rules.mask(torch.zeros(len(rules.streams), tokenizer.vocab_size))
    return {"<end>" if i == tokenizer.end_of_document else tokenizer.token_text(i)
            for i in torch.isfinite(masked[row]).nonzero()[:, 0].tolist()}


def rules_after(tokenizer: AbcTokenizer, text: str, min_bars: int = 0) -> AbcRules:
    ids = [tokenizer.end_of_document] + tokenizer.encode(text).tolist()
    return musical_rules(tokenizer, GenerationConfig(min_bars=min_bars), 1, ids)


def test_abc_lengths_meters_and_tuplets_read_as_abc_defines_them():
    assert [length_multiplier(s) for s in ("", "2", "/", "//", "3/2", "/3", "/4")] == [1, 2, Fraction(1, 2), Fraction(1, 4),
                                                                                       Fraction(3, 2), Fraction(1, 3), Fraction(1, 4)]
    assert meter_of("6/8") == (Fraction(3, 4), True) and meter_of("C") == (1, False) and meter_of("C|") == (1, False)
    assert meter_of("none") == (None, False) and meter_of("2+3/8") == (Fraction(5, 8), False)
    assert tuplet_of("(3", False) == (Fraction(2, 3), 3) and tuplet_of("(2", False) == (Fraction(3, 2), 2)
    assert tuplet_of("(5", True) == (Fraction(3, 5), 5) and tuplet_of("(3:2:4", False) == (Fraction(2, 3), 4)


def test_a_bar_takes_notes_until_it_is_full_then_only_a_bar_line():
    tokenizer = vocabulary()
    rules = rules_after(tokenizer, HEADER + "A|d2fd")  # a pickup, then 4 of the bar's 6 eighths
    allowed = allowed_texts(rules, tokenizer)
    assert {"A2", "B2", "c2", "d2", "A", "z2", "\n"} <= allowed  # fits: 2 eighths, or 1 (and a line break anywhere)
    assert not {"A4", "d6", "E8", "|", "K:G"} & allowed  # overfills; a bar line (or a field) too early
    assert {":|", "|]"} <= allowed  # a repeat or the final bar may close a short bar, as in real tunes
    full = rules_after(tokenizer, HEADER + "A|d2fdA2")
    allowed = allowed_texts(full, tokenizer)
    assert {"|", ":|", "|]", "\n"} <= allowed and not {"A", "A2", "z2", "~", '"Am"'} & allowed  # no ornament in a full bar
    assert "|" in allowed_texts(rules_after(tokenizer, HEADER + "A"), tokenizer)  # the first bar may be a pickup


def test_tuplets_broken_rhythm_chords_and_grace_notes_count_as_abc_counts_them():
    tokenizer = vocabulary()
    for body in ("(3efg d2 d2", "a>g f2 d2", "[df]2 e2 d2", "{g}e2 d2 d2", "d2 (3efg d2"):
        stream = rules_after(tokenizer, HEADER + "A|" + body).streams[0]
        assert stream.filled == pytest.approx(0.75), body  # every one a full 3/4 bar
    inside = allowed_texts(rules_after(tokenizer, HEADER + "A|d2 f2 [d"), tokenizer)  # a chord whose first note is d
    assert "]2" in inside and "|" not in inside and "\n" not in inside  # the chord closes before the bar line
    assert "]4" not in allowed_texts(rules_after(tokenizer, HEADER + "A|d2f2[d"), tokenizer) if "]4" in tokenizer.tokens else True


def test_the_header_needs_a_meter_before_its_key_and_no_note():
    tokenizer = vocabulary()
    allowed = allowed_texts(rules_after(tokenizer, "X:1\n"), tokenizer)
    assert "M:3/4" in allowed and not {"K:D", "A", "|", "<end>"} & allowed  # the key would end the header without a meter
    assert "K:D" in allowed_texts(rules_after(tokenizer, "X:1\nM:3/4\n"), tokenizer)


def test_min_bars_holds_back_the_end_of_the_tune():
    tokenizer = vocabulary()
    three_bars = HEADER + "A|d2fdA2|B2c2d2|"  # the pickup counts, as music21 counts it
    assert "<end>" not in allowed_texts(rules_after(tokenizer, three_bars, min_bars=4), tokenizer)
    assert "<end>" in allowed_texts(rules_after(tokenizer, three_bars, min_bars=3), tokenizer)
    assert "<end>" not in allowed_texts(rules_after(tokenizer, three_bars + "(3ef", min_bars=3), tokenizer)  # not in a tuplet
    off = musical_rules(tokenizer, GenerationConfig(whole_bars=False, min_bars=0), 1, [tokenizer.end_of_document])
    assert off is None  # both off: no rules at all


def test_real_tunes_are_all_allowed_by_the_rules():
    tokenizer = vocabulary()
    for tune in TUNES:
        ids = tokenizer.encode(tune.rstrip("\n") + "\n").tolist() + [tokenizer.end_of_document]
        rules = musical_rules(tokenizer, GenerationConfig(min_bars=0), 1, [tokenizer.end_of_document])
        for token in ids:
            masked = rules.mask(torch.zeros(1, tokenizer.vocab_size))
            assert torch.isfinite(masked[0, token]), (tune, tokenizer.token_text(token))
            rules.follow([0], [token])


def test_a_model_with_random_weights_writes_tunes_whose_bars_add_up_only_with_the_rules():
    pytest.importorskip("music21", reason="the meter check reads tunes with music21 (the music extra)")
    from lstmgen.music.measures import abc_measures

    # One meter and plain bar lines (a repeat or final bar may close a short bar, which random tokens would do often).
    plain = ["X:1\nM:3/4\nL:1/8\nK:D\nA|d2 fd A2|B2 c2 d2|(3efg a>g f2|[df]2 {g}e2 d2|A4 z2|~d6|\n",
             "X:1\nM:3/4\nL:1/8\nK:G\n\"G\"G/A/B/c/ d2 G2|B,4 E2|E6|\n"]
    tokenizer = AbcTokenizer.learn(plain, documents=True)
    model = LanguageModel(make_tiny_model(vocab_size=tokenizer.vocab_size), tokenizer)
    ruled = model.samples("", num_samples=20, max_tokens=300, seed=1, min_bars=4)
    free = model.samples("", num_samples=20, max_tokens=300, seed=1, whole_bars=False, min_bars=0)
    ruled_measures, free_measures = abc_measures(ruled), abc_measures(free)
    assert ruled_measures["parse_share"] == 1.0 and ruled_measures["meter_share"] >= 0.9, ruled
    assert free_measures["meter_share"] <= 0.2  # random tokens: hardly a tune


def test_a_midi_piece_ends_only_after_min_bars_bars_that_hold_notes():
    pytest.importorskip("miditok", reason="the midi tokenizer needs the music extra")
    from lstmgen.tokenizers.midi import MidiTokenizer

    tokenizer = MidiTokenizer(documents=True)
    model = LanguageModel(make_tiny_model(vocab_size=tokenizer.vocab_size), tokenizer)
    bar, pitch = tokenizer.miditok.vocab["Bar_None"], tokenizer.miditok.vocab["Pitch_60"]
    with torch.no_grad():  # a model that writes bars and notes, and ends its pieces soon unless held back
        model.model.output.bias[tokenizer.end_of_document] = 4.0
        model.model.output.bias[[bar, pitch]] = 5.0
    held = model.samples("", num_samples=8, max_tokens=400, seed=0, min_bars=3)
    assert all(len(sample.split()) < 400 for sample in held)  # every one ended...
    assert all(sample.split().count("Bar_None") >= 3 for sample in held), held  # ...after 3 bars
    rules = MidiRules(tokenizer, 1, [tokenizer.end_of_document], 1)
    for token, may_end in ((bar, False), (pitch, True), (bar, False)):  # a bar must hold a note
        rules.follow([0], [token])
        assert torch.isfinite(rules.mask(torch.zeros(1, tokenizer.vocab_size))[0, tokenizer.end_of_document]) == may_end
    free = model.samples("", num_samples=8, max_tokens=400, seed=0, min_bars=0)
    assert any(sample.split().count("Bar_None") < 3 for sample in free)


def test_min_bars_is_checked_like_every_setting():
    with pytest.raises(ConfigError, match="min_bars"):
        GenerationConfig(min_bars=-1)
