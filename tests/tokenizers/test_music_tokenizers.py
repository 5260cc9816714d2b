"""The music tokenizers: abc (folk-rnn style), symbols, midi (miditok REMI); round trips, JSON, unknown symbols, documents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstmgen.tokenizers import TokenizerError, fit_vocabulary, tokenizer_from_dict
from lstmgen.tokenizers.abc import AbcTokenizer, lex

TUNE = "X:1\nT:A title\nM:6/8\nL:1/8\nK:D\n|:^f'2 _B,/2 z3 (3ABc [DFA]2 \"Em\" ~g|[1 d2e f>g:|[2 d3 d2||\n"


def test_abc_tokens_are_musical_units():
    tokens = lex(TUNE)
    for unit in ("X:1", "T:A title", "M:6/8", "L:1/8", "K:D", "|:", "^f'2", "_B,/2", "z3", "(3", "[", "D", "]2", '"Em"', "~",
                 "[1", ":|", "[2", "||", ">"):
        assert unit in tokens, unit
    assert "^f'2" in tokens and "^" not in tokens  # a note with its accidental, octave marks and duration is one token


def test_abc_round_trip_is_valid_abc_and_stable():
    tokenizer = fit_vocabulary("abc", [TUNE])
    ids = tokenizer.encode(TUNE)
    text = tokenizer.decode(ids)
    assert text.startswith("X:1\nT:A title\nM:6/8\nL:1/8\nK:D\n|:^f'2_B,/2z3(3ABc[DFA]2")  # fields on their lines, spaces dropped
    assert tokenizer.encode(text).tolist() == ids.tolist()  # the decoded text reads back as the same tokens
    again = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert again.encode(TUNE).tolist() == ids.tolist()
    decoder = tokenizer.stream_decoder()
    assert "".join(decoder.feed(int(i)) for i in ids) == text


def test_abc_unknown_symbols_follow_the_policy():
    tokenizer = fit_vocabulary("abc", [TUNE])
    with pytest.raises(TokenizerError, match="ABC token"):
        tokenizer.encode("X:1\nK:D\nG2 §|\n")
    assert 0 in tokenizer.encode("X:1\nK:D\nG2 §|\n", unknown="replace").tolist()
    assert 0 not in tokenizer.encode("X:1\nK:D\n§|\n", unknown="skip").tolist()


def test_abc_documents_a_blank_line_is_the_end_of_a_tune():
    tokenizer = AbcTokenizer.learn([TUNE], documents=True)
    ids = tokenizer.encode(TUNE.rstrip("\n") + "\n\n" + TUNE).tolist()
    assert ids.count(tokenizer.end_of_document) == 1
    assert tokenizer.token_text(tokenizer.end_of_document) == ""


def test_symbols_round_trip_keeps_lines():
    text = "C4 E4 G4\nrest C5\n"
    tokenizer = fit_vocabulary("symbols", [text])
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer_from_dict(tokenizer.to_dict()).encode(text).tolist() == tokenizer.encode(text).tolist()
    with pytest.raises(TokenizerError, match="symbol"):
        tokenizer.encode("C4 D4")


def test_midi_tokenizer_round_trips_a_score_and_saves_its_scheme():
    symusic = pytest.importorskip("symusic", reason="the midi tokenizer needs the music extra")
    from lstmgen.tokenizers.midi import MidiTokenizer

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    pitches = [60, 64, 67, 72, 71, 67, 64, 62]
    for index, pitch in enumerate(pitches):
        track.notes.append(symusic.Note(index * 480, 480, pitch, 80))
    score.tracks.append(track)
    tokenizer = MidiTokenizer(documents=True)
    text = tokenizer.encode_score(score)
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    back = tokenizer.decode_score(tokenizer.decode(ids))
    assert [note.pitch for note in back.tracks[0].notes] == pitches
    onsets = [note.time for note in back.tracks[0].notes]
    assert np.all(np.diff(onsets) == onsets[1] - onsets[0])  # evenly spaced, as written
    saved = json.loads(json.dumps(tokenizer.to_dict()))
    assert saved["scheme"] == "REMI" and saved["miditok"]["config"]["use_programs"] is True
    again = tokenizer_from_dict(saved)
    assert again.encode(text).tolist() == ids.tolist() and again.end_of_document == tokenizer.end_of_document
    assert set(tokenizer.never_generated) >= {0}  # padding (the unknown symbol) and the special tokens
    with pytest.raises(TokenizerError, match="MIDI event"):
        tokenizer.encode("Pitch_60 NotAnEvent")
    with pytest.raises(TokenizerError, match="other symbols"):
        fit_vocabulary("midi", ["the cat sat"])
    with pytest.raises(TokenizerError, match="drop --lowercase"):
        fit_vocabulary("midi", [text], lowercase=True)


def test_abc_refuses_to_lower_case_notes():
    with pytest.raises(TokenizerError, match="C and c are notes an octave apart"):
        fit_vocabulary("abc", [TUNE], lowercase=True)
