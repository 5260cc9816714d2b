"""music.midi and music.corpora: MIDI and ABC files as corpora; bad files named, bad pieces skipped and counted."""

from __future__ import annotations

import sys

import pytest

from lstmgen.data.corpus import CorpusError, read_corpus, resolve_sources

symusic = pytest.importorskip("symusic", reason="MIDI needs the music extra")
pytest.importorskip("miditok", reason="MIDI needs the music extra")


def write_piece(path, pitches, notes=True):
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    if notes:
        for index, pitch in enumerate(pitches):
            track.notes.append(symusic.Note(index * 480, 480, pitch, 80))
    score.tracks.append(track)
    path.write_bytes(score.dumps_midi())
    return path


def test_a_directory_of_midi_reads_as_events_skipping_bad_files(tmp_path, capsys):
    for index in range(3):
        write_piece(tmp_path / f"piece{index}.mid", [60 + index, 64, 67])
    (tmp_path / "corrupt.mid").write_bytes(b"this is no MIDI file")
    write_piece(tmp_path / "silent.mid", [], notes=False)
    sources = resolve_sources([str(tmp_path)])
    assert len(sources) == 3
    assert all(source.data.decode().startswith("Bar_None") for source in sources)
    message = capsys.readouterr().err
    assert "skipped 2 of 5 pieces" in message and "corrupt.mid is not a readable MIDI file" in message


@pytest.mark.parametrize("name, data, error", [
    ("corrupt.mid", b"MThd garbage", "corrupt.mid is not a readable MIDI file"),
    ("empty.midi", b"", "empty.midi is empty"),
])
def test_one_bad_midi_file_is_an_error_naming_it(tmp_path, name, data, error):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(CorpusError, match=error):
        read_corpus([str(tmp_path / name)])


def test_a_midi_file_without_notes_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="silent.mid is a MIDI file with no notes"):
        read_corpus([str(write_piece(tmp_path / "silent.mid", [], notes=False))])


def test_an_abc_file_skips_its_bad_tunes_and_names_a_lone_bad_one(tmp_path, capsys):
    path = tmp_path / "tunes.abc"
    path.write_text("X:1\nM:2/4\nK:G\nGA|Bc|\n\nX:2\nM:2/4\nGA|\n\nX:3\nM:2/4\nK:D\nde|fg|\n", encoding="utf-8")
    text = read_corpus([str(path)]).text
    assert text == "X:1\nM:2/4\nK:G\nGA|Bc|\n\nX:1\nM:2/4\nK:D\nde|fg|\n"
    assert "skipped 1 of 3 pieces" in capsys.readouterr().err
    lone = tmp_path / "lone.abc"
    lone.write_text("X:12\nT:keyless\nABc|\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"lone\.abc: tune X:12 has no K:"):
        read_corpus([str(lone)])


def test_named_music_corpora_say_which_extra_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)  # import music21 now raises ImportError
    with pytest.raises(CorpusError, match=r"abc-folk corpus: music needs the music21 package: pip install 'lstmgen\[music\]'"):
        resolve_sources(["abc-folk"])


def test_abc_folk_is_one_tune_per_document():
    pytest.importorskip("music21", reason="abc-folk is read from the music21 package")
    text = read_corpus(["abc-folk"]).text
    tunes = text.split("\n\n")
    assert len(tunes) > 10_000
    assert all(tune.startswith("X:1\n") and "\nK:" in tune for tune in tunes[:500])


def test_bach_chorales_are_converted_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys):
    music21 = pytest.importorskip("music21", reason="bach-chorales is read from the music21 package")
    monkeypatch.setenv("LSTMGEN_CACHE", str(tmp_path))
    monkeypatch.setattr(music21.corpus.chorales, "Iterator", lambda returnType: ["bach/bwv269", "bach/bwv347"])  # two, for speed
    text = read_corpus(["bach-chorales"]).text
    pieces = text.strip().split("\n\n")
    assert len(pieces) == 2 and all(piece.startswith("Bar_None") and "Pitch_" in piece for piece in pieces)
    assert "converting 2 Bach chorales" in capsys.readouterr().err

    def no_parsing(name):
        raise AssertionError("the cached text should be read")

    monkeypatch.setattr(music21.corpus, "parse", no_parsing)
    assert read_corpus(["bach-chorales"]).text == text
