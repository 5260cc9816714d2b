"""music.render (files, WAV through FluidSynth, piano roll) and music.measures on pieces made here."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lstmgen.music import MusicError
from lstmgen.music.render import parse_renderings, synthesizer, write_sample
from lstmgen.tokenizers import fit_vocabulary

symusic = pytest.importorskip("symusic", reason="rendering needs the music extra")
pytest.importorskip("music21", reason="rendering ABC needs the music extra")

TUNE = "X:1\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"


def chord_piece(pitch_rows, step=480):
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for index, chord in enumerate(pitch_rows):
        for pitch in chord:
            track.notes.append(symusic.Note(index * step, step, pitch, 80))
    score.tracks.append(track)
    return score


def test_an_abc_sample_is_written_with_its_piano_roll(tmp_path):
    pytest.importorskip("matplotlib", reason="the piano roll needs the plots extra")
    tokenizer = fit_vocabulary("abc", [TUNE])
    paths = write_sample(TUNE, tokenizer, tmp_path, "tune", ["png"])
    assert [path.name for path in paths] == ["tune.abc", "tune.png"]
    assert paths[0].read_text() == TUNE
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_midi_sample_renders_to_wav_with_fluidsynth(tmp_path):
    try:
        synthesizer()
    except MusicError as missing:
        pytest.skip(str(missing))
    from lstmgen.tokenizers.midi import MidiTokenizer

    tokenizer = MidiTokenizer()
    text = tokenizer.encode_score(chord_piece([[60, 64, 67], [62, 65, 69], [64, 67, 71], [60, 64, 67]]))
    paths = write_sample(text, tokenizer, tmp_path, "piece", ["wav"])
    assert [path.name for path in paths] == ["piece.mid", "piece.wav"]
    assert symusic.Score.from_file(str(paths[0])).note_num() == 12
    wav = paths[1].read_bytes()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 44_100  # more than a quarter second of sound


def test_without_fluidsynth_rendering_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    tokenizer = fit_vocabulary("abc", [TUNE])
    with pytest.raises(MusicError, match="apt-get install fluidsynth timgm6mb-soundfont"):
        write_sample(TUNE, tokenizer, tmp_path, "tune", ["wav"])
    monkeypatch.undo()
    monkeypatch.setenv("LSTMGEN_SOUNDFONT", str(tmp_path / "missing.sf2"))
    if shutil.which("fluidsynth"):
        with pytest.raises(MusicError, match="needs a General MIDI SoundFont; none found at .*missing.sf2"):
            write_sample(TUNE, tokenizer, tmp_path, "tune", ["wav"])


def test_render_names_are_checked_and_text_models_do_not_render(tmp_path):
    assert parse_renderings("wav, PNG") == ("wav", "png")
    with pytest.raises(MusicError, match="--render takes wav, png"):
        parse_renderings("mp3")
    text_tokenizer = fit_vocabulary("char", ["hello"])
    assert write_sample("hello", text_tokenizer, tmp_path, "s")[0].read_text() == "hello\n"
    with pytest.raises(MusicError, match="only ABC and MIDI models render"):
        write_sample("hello", text_tokenizer, tmp_path, "s", ["png"])


def test_midi_measures():
    from lstmgen.music.measures import in_key_share, midi_measures, note_density, pitch_class_distance, pitch_class_histogram, polyphony

    c_major = chord_piece([[60], [62], [64], [65], [67], [69], [71], [72]])
    assert in_key_share(c_major) == 1.0
    assert in_key_share(chord_piece([[60], [61], [62], [63], [64], [65], [66], [67]])) < 1.0
    triads = chord_piece([[60, 64, 67], [65, 69, 72]])
    assert polyphony(triads) == 3.0 and polyphony(c_major) == 1.0
    assert note_density(triads) == 3.0 and note_density(chord_piece([[60], [62]], step=960)) == 0.5
    histogram = pitch_class_histogram([c_major])
    assert histogram.sum() == pytest.approx(1.0) and histogram[0] == pytest.approx(2 / 8)
    assert pitch_class_distance(histogram, histogram) == 0.0
    assert pitch_class_distance(np.eye(12)[0], np.eye(12)[1]) == 1.0
    found = midi_measures([triads], reference=[c_major])
    assert found["pieces"] == 1 and 0.0 < found["pitch_class_distance"] < 1.0


def test_abc_measures():
    from lstmgen.music.measures import abc_measures

    found = abc_measures([TUNE, "X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB|dB|c2ec B2dB|G8|]\n", "not a tune at all"])
    assert found == {"tunes": 3, "parse_share": pytest.approx(2 / 3), "meter_share": pytest.approx(1 / 3)}


def test_notes_are_counted_in_text_and_in_tokens():
    from lstmgen.evaluation.musical import notes_in, notes_in_tokens

    text = "X:1\nM:4/4\nL:1/8\nK:G\n|:G2 z2 [DFA]2 ^c'2|\n"
    assert notes_in(text, "abc") == 5  # G, the chord's three notes and ^c'; not the rest, not the K: field
    tokenizer = fit_vocabulary("abc", [text])
    assert notes_in_tokens(tokenizer.encode(text), tokenizer) == 5
    assert notes_in("Bar_None Position_0 Pitch_60 Velocity_79 Duration_1.0.8 Pitch_64 Velocity_79", "midi") == 2
