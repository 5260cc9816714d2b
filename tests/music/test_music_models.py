"""Music models end to end: tiny ABC and MIDI models trained here, their checkpoints, samples, files and measures."""

from __future__ import annotations

import json

import pytest

from lstmgen import LanguageModel, train
from lstmgen.cli import main

pytest.importorskip("music21", reason="music needs the music extra")
symusic = pytest.importorskip("symusic", reason="music needs the music extra")

# Four 4-bar tunes in 4/4, each bar a full measure; the model learns them by heart.
BARS = ["GABc dedB", "c2ec B2dB", "A2B2 c2d2", "G2G2 G4", "e2d2 c2B2", "dedB dedB"]
TUNES = [f"X:{n + 1}\nT:Tune {n}\nM:4/4\nL:1/8\nK:G\n|:{BARS[n]}|{BARS[n + 1]}|{BARS[(n + 2) % 6]}|G8:|\n" for n in range(4)]
SETTINGS = dict(batch_size=8, seq_length=32, max_steps=150, eval_interval=150, sample_length=0, threads=1, warmup_steps=5,
                learning_rate=1e-2, model=dict(embedding_size=32, hidden_size=64, num_layers=1), progress=False, log=lambda line: None)


@pytest.fixture(scope="module")
def abc_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("abc")
    corpus = directory / "tunes.abc"
    corpus.write_text("\n".join(TUNES * 12), encoding="utf-8")
    out = directory / "run"
    train([str(corpus)], out_dir=out, tokenizer="abc", **SETTINGS)
    return out


def test_an_abc_checkpoint_describes_itself_and_holds_out_whole_tunes(abc_run):
    model = LanguageModel.load(abc_run)
    assert model.tokenizer.kind == "abc" and model.tokenizer.end_of_document is not None
    saved = json.loads((abc_run / "best" / "tokenizer.json").read_text())
    assert saved == model.tokenizer.to_dict()
    meta = json.loads((abc_run / "data" / "meta.json").read_text())
    assert meta["settings"]["documents"] == "blank-lines"
    assert meta["documents"]["train"] + meta["documents"]["val"] == 48  # every tune whole in one region
    start, _ = meta["regions"]["val"]
    tokens = (abc_run / "data" / "tokens.bin").read_bytes()
    assert model.tokenizer.decode([tokens[start], tokens[start + 1]]).startswith("X:1\nM:4/4")  # a tune's first tokens


def test_a_tiny_abc_model_writes_a_tune_that_parses_at_temperature_zero(abc_run):
    from lstmgen.music.abc import tune_passes

    model = LanguageModel.load(abc_run)
    [tune] = model.samples("", temperature=0.0, max_tokens=300)
    assert tune.startswith("X:1\nM:4/4\nL:1/8\nK:G\n")
    assert tune_passes(tune) == (True, True)
    [prompted] = model.samples("X:1\nM:4/4\nL:1/8\nK:G\n", temperature=0.0, max_tokens=300)  # an ABC header as the prompt
    assert tune_passes("X:1\nM:4/4\nL:1/8\nK:G\n" + prompted)[0]
    # The musical rules by default: the tune learnt by heart has 4 bars, so min_bars=8 makes it go on; 4 lets it end.
    [short] = model.samples("", temperature=0.0, max_tokens=300, min_bars=4)
    assert short.count("|") < tune.count("|") and tune_passes(short) == (True, True)


def test_the_musical_rules_are_command_line_flags(abc_run, capsys):
    assert main(["generate", str(abc_run), "--temperature", "0", "--length", "300", "--min-bars", "4", "--no-whole-bars"]) == 0
    assert "K:G" in capsys.readouterr().out
    assert main(["generate", str(abc_run), "--min-bars", "-1"]) == 2
    assert "min_bars" in capsys.readouterr().err


def test_generate_writes_one_file_per_sample_and_eval_reports_per_note(abc_run, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the piano roll needs the plots extra")
    assert main(["generate", str(abc_run), "--num-samples", "2", "--temperature", "0", "--length", "300",
                 "--output-dir", str(tmp_path / "out"), "--render", "png"]) == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["prompt-0001-sample-1.abc", "prompt-0001-sample-1.png", "prompt-0001-sample-2.abc", "prompt-0001-sample-2.png"]
    assert (tmp_path / "out" / "prompt-0001-sample-1.abc").read_text().startswith("X:1\n")
    heldout = tmp_path / "heldout.abc"
    heldout.write_text("\n".join(TUNES), encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", str(abc_run), str(heldout), "--music-samples", "2", "--music-temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "nats/note (" in out and "held-out tunes: 100.0% parse, 100.0% pass (4 tunes)" in out
    assert "pass the meter check (without the musical rules: " in out
    assert main(["generate", str(abc_run), "--render", "wav"]) == 2  # --render without --output-dir


def test_a_midi_model_round_trips_through_its_checkpoint(tmp_path):
    for index in range(6):
        score = symusic.Score(480)
        track = symusic.Track(program=0)
        for step, pitch in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2):
            track.notes.append(symusic.Note(step * 480, 480, pitch + (index % 2) * 12, 80))
        score.tracks.append(track)
        (tmp_path / f"piece{index}.mid").write_bytes(score.dumps_midi())
    out = tmp_path / "run"
    train([str(tmp_path)], out_dir=out, tokenizer="midi", **{**SETTINGS, "max_steps": 60, "eval_interval": 60})
    model = LanguageModel.load(out)
    assert model.tokenizer.kind == "midi" and model.tokenizer.to_dict()["scheme"] == "REMI"
    [sample] = model.samples("", temperature=0.0, max_tokens=200)
    assert all(token in model.tokenizer.miditok.vocab for token in sample.split())
    from lstmgen.music.render import write_sample

    [midi] = write_sample(sample, model.tokenizer, tmp_path / "out", "s")
    assert symusic.Score.from_file(str(midi)).note_num() > 0


def test_musical_prompts_read_the_first_bars_in_the_models_notation(abc_run, tmp_path, capsys):
    from lstmgen.music import MusicError
    from lstmgen.music.prompts import music_prompt
    from lstmgen.tokenizers.midi import MidiTokenizer

    tunes = tmp_path / "start.abc"
    tunes.write_text(TUNES[0], encoding="utf-8")
    model = LanguageModel.load(abc_run)
    assert music_prompt(tunes, model.tokenizer, bars=2) == "X:1\nM:4/4\nL:1/8\nK:G\n|:GABcdedB|c2ecB2dB|"
    assert main(["generate", str(abc_run), "--prompt-file", str(tunes), "--prompt-bars", "1", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("X:1\nM:4/4\nL:1/8\nK:G\n|:GABcdedB|c2ecB2dB|")  # the tune goes on as learnt
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for step in range(16):  # four bars of 4/4
        track.notes.append(symusic.Note(step * 480, 480, 60 + step % 5, 80))
    score.tracks.append(track)
    start = tmp_path / "start.mid"
    start.write_bytes(score.dumps_midi())
    midi = MidiTokenizer()
    prompt = music_prompt(start, midi, bars=2).split()
    assert prompt.count("Bar_None") == 2 and len([e for e in prompt if e.startswith("Pitch_")]) == 8
    with pytest.raises(MusicError, match="this ABC model continues ABC tunes"):
        music_prompt(start, model.tokenizer)
    with pytest.raises(MusicError, match="this MIDI model continues MIDI"):
        music_prompt(tunes, midi)


def test_the_server_renders_a_completion_as_midi_and_a_piano_roll(abc_run):
    pytest.importorskip("fastapi", reason="the server needs the server extra")
    pytest.importorskip("matplotlib", reason="the piano roll needs the plots extra")
    from fastapi.testclient import TestClient

    from lstmgen.server import create_app

    with TestClient(create_app(LanguageModel.load(abc_run))) as client:
        completion = client.post("/v1/completions", json={"prompt": "", "max_tokens": 300, "temperature": 0}).json()
        tune = completion["choices"][0]["text"]
        midi = client.post("/v1/render", json={"text": tune, "format": "midi"})
        assert midi.status_code == 200 and midi.headers["content-type"] == "audio/midi"
        assert symusic.Score.from_midi(midi.content).note_num() > 0
        png = client.post("/v1/render", json={"text": tune, "format": "png"})
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        bad = client.post("/v1/render", json={"text": tune, "format": "mp3"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "format"
        junk = client.post("/v1/render", json={"text": "X:1\nK:G\n"})
        assert junk.status_code == 400 and "holds no notes" in junk.json()["error"]["message"]


def test_eval_reports_midi_measures_beside_the_heldout_pieces(tmp_path, capsys):
    for index in range(4):
        score = symusic.Score(480)
        track = symusic.Track(program=0)
        for step, pitch in enumerate([60, 64, 67, 72] * 4):
            track.notes.append(symusic.Note(step * 480, 480, pitch + index, 80))
        score.tracks.append(track)
        (tmp_path / f"piece{index}.mid").write_bytes(score.dumps_midi())
    out = tmp_path / "run"
    train([str(tmp_path)], out_dir=out, tokenizer="midi", **{**SETTINGS, "max_steps": 30, "eval_interval": 30})
    capsys.readouterr()
    assert main(["eval", str(out), str(tmp_path / "piece0.mid"), "--music-samples", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["notes"] == 16 and found["nats_per_note"] > 0
    heldout = found["music"]["heldout"]
    assert heldout["pieces"] == 1 and heldout["polyphony"] == 1.0 and heldout["note_density"] == 1.0
    assert found["music"]["samples"]["drawn"] == 2 and found["music"]["samples_without_rules"]["drawn"] == 2


def test_the_temperature_sweep_reports_the_musical_measures(abc_run):
    from lstmgen.evaluation.sweep import temperature_sweep

    result = temperature_sweep(LanguageModel.load(abc_run), [0.0], length=300, num_samples=2, heldout_text="\n".join(TUNES))
    [row] = result["rows"]
    assert row["parse_share"] == 1.0 and row["meter_share"] == 1.0  # greedy: the tune learnt by heart
    assert result["heldout"]["parse_share"] == 1.0 and result["heldout"]["meter_share"] == 1.0


def test_the_playground_shows_a_piano_roll_and_plays_the_audio(abc_run):
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the dev extra)")
    pytest.importorskip("matplotlib", reason="the piano roll needs the plots extra")
    from lstmgen.music.render import synthesizer
    from lstmgen.server import create_app
    from server_harness import ThreadedServer

    try:
        synthesizer()
        has_audio = True
    except Exception:
        has_audio = False
    with sync_api.sync_playwright() as playwright, ThreadedServer(create_app(LanguageModel.load(abc_run))) as server:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(server.url + "/")
        sync_api.expect(page.locator("#model-info")).to_contain_text("abc")
        page.locator("#temperature").evaluate("(slider) => { slider.value = 0; slider.dispatchEvent(new Event('input')); }")
        page.locator("#length").evaluate("(slider) => { slider.value = 300; slider.dispatchEvent(new Event('input')); }")
        page.locator("#generate").click()
        roll = page.locator(".sample img.piano-roll")
        sync_api.expect(roll).to_have_count(1, timeout=60_000)
        sync_api.expect(roll).to_have_js_property("complete", True)
        assert roll.evaluate("(image) => image.naturalWidth") > 0  # a picture the browser could decode
        if has_audio:
            sync_api.expect(page.locator(".sample audio.sample-audio")).to_have_count(1, timeout=60_000)
        else:
            sync_api.expect(page.locator(".sample .render-error")).to_contain_text("fluidsynth", timeout=60_000)
        assert not problems, problems
        browser.close()
