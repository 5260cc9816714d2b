"""lstmgen.training.pipeline: train() from a corpus to a run directory, for every tokenizer and cell."""

import json

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SETTINGS, TINY_TEXT
from lstmgen import ConfigError, LanguageModel, train
from lstmgen.training.state import check_trainer_state

QUIET = dict(progress=False, log=lambda line: None)


def test_resume_reads_only_the_runs_own_store_and_checks_it(tmp_path):
    train(text=TINY_TEXT, out_dir=tmp_path / "run", model=TINY_MODEL, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
    with pytest.raises(ConfigError, match="pass no text"):
        train(text=TINY_TEXT + "more", resume=tmp_path / "run", **QUIET)
    other = tmp_path / "other.txt"
    other.write_text(TINY_TEXT + "more", encoding="utf-8")
    with pytest.raises(ConfigError, match="without a corpus"):
        train([str(other)], resume=tmp_path / "run", **QUIET)
    tokens = tmp_path / "run" / "data" / "tokens.bin"
    data = bytearray(tokens.read_bytes())
    data[100] ^= 1  # one bit flipped inside the stream the run trains on
    tokens.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="corrupt"):
        train(resume=tmp_path / "run", max_steps=10, **QUIET)


def test_existing_run_is_not_overwritten_silently(tiny_run):
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(text=TINY_TEXT, out_dir=tiny_run, **QUIET)


def test_unknown_held_out_characters_are_counted(tmp_path):
    text = "abcabcabc" * 30 + "abcXabc"  # 'X' only occurs in the last 10%
    result = train(text=text, out_dir=tmp_path / "run", model=TINY_MODEL, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
    lm = LanguageModel.load(tmp_path / "run")
    assert "X" not in lm.tokenizer.characters
    assert lm.info()["training"]["data"]["val_unknown"] == 1
    report = lm.evaluate("abcXabc")
    assert report.unknown == 1 and np.isfinite(report.nats)
    assert result.best_val["val_nats"] > 0


def test_word_and_byte_models_train(tmp_path):
    for kind in ("word", "byte"):
        train(text=TINY_TEXT, out_dir=tmp_path / kind, tokenizer=kind, model=TINY_MODEL, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
        lm = LanguageModel.load(tmp_path / kind)
        assert lm.tokenizer.kind == kind
        assert isinstance(lm.generate("the quick", max_tokens=10, seed=0), str)
        if kind == "word":  # spaces are restored by rule: none is added after a prompt that already ends in one
            plain, spaced = (lm.generate(prompt, max_tokens=10, seed=0) for prompt in ("the quick", "the quick "))
            assert plain.startswith(" ") or plain[:1] in ".,;:!?'\n"
            assert spaced == plain.removeprefix(" ") and not spaced.startswith(" ")
            beams = [found.text for found in lm.beam_search("the quick ", max_tokens=4, num_beams=3, num_samples=2)]
            assert beams == [found.text.removeprefix(" ") for found in lm.beam_search("the quick", max_tokens=4, num_beams=3, num_samples=2)]


def test_gru_and_rnn_cells_train(tmp_path):
    for cell in ("gru", "rnn"):
        result = train(text=TINY_TEXT, out_dir=tmp_path / cell, model={**TINY_MODEL, "cell": cell}, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
        assert result.steps == 5
        config = LanguageModel.load(tmp_path / cell).config
        assert (config.cell, config.hidden_size, config.embedding_size) == (cell, TINY_MODEL["hidden_size"], TINY_MODEL["embedding_size"])


def test_fine_tuning_starts_from_a_models_weights_with_a_fresh_optimizer(tmp_path, tiny_run):
    from lstmgen import load_checkpoint

    new = tmp_path / "new.txt"
    new.write_text("the lazy dog jumps over the quick fox.\n" * 80, encoding="utf-8")
    source = load_checkpoint(tiny_run)
    result = train([str(new)], out_dir=tmp_path / "tuned", init_from=tiny_run, max_steps=10, eval_interval=10, batch_size=4,
                   seq_length=16, sample_length=0, threads=1, **QUIET)
    tuned = load_checkpoint(tmp_path / "tuned", state_check=check_trainer_state, prefer="last")
    assert result.steps == 10 and tuned.trainer_state["step"] == 10  # its own run: the step starts at 0
    assert tuned.tokenizer.to_dict() == source.tokenizer.to_dict() and tuned.model.config == source.model.config
    assert tuned.extra["data"]["init_from"] == str(source.path)
    with pytest.raises(ConfigError, match="shape from the checkpoint"):
        train([str(new)], out_dir=tmp_path / "x", init_from=tiny_run, model={"hidden_size": 64}, **QUIET)


def test_fine_tuning_on_text_with_new_symbols(tmp_path, tiny_run):
    from lstmgen.tokenizers import TokenizerError

    new = tmp_path / "new.txt"
    new.write_text("ZEBRA QUOTA: the quick fox.\n" * 40, encoding="utf-8")
    with pytest.raises(TokenizerError, match="'Z'.*--unknown replace"):
        train([str(new)], out_dir=tmp_path / "refused", init_from=tiny_run, max_steps=2, **QUIET)
    for policy in ("replace", "skip"):
        result = train([str(new)], out_dir=tmp_path / policy, init_from=tiny_run, unknown=policy, max_steps=4, eval_interval=4,
                       batch_size=4, seq_length=8, sample_length=0, threads=1, **QUIET)
        assert result.steps == 4


def test_tensorboard_mirrors_the_records(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(text=TINY_TEXT, out_dir=tmp_path / "run", model=TINY_MODEL, tensorboard=tmp_path / "tb", **{**TINY_SETTINGS, "max_steps": 10,
                                                                                                       "eval_interval": 5}, **QUIET)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    values = [event.value for event in events.Scalars("val_nats")]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert values == pytest.approx([r["val_nats"] for r in records]) and [e.step for e in events.Scalars("val_nats")] == [5, 10]


def test_bits_per_character_put_every_tokenizer_on_one_scale(tmp_path, lm):
    report = lm.evaluate(TINY_TEXT)
    assert report.bits_per_character == pytest.approx(report.bits, rel=1e-9)  # a character model: the same thing
    train(text=TINY_TEXT, out_dir=tmp_path / "words", tokenizer="word", model=TINY_MODEL, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
    words = LanguageModel.load(tmp_path / "words")
    report = words.evaluate(TINY_TEXT)
    assert report.bits_per_character < report.bits / 2  # a word holds several characters
    record = json.loads((tmp_path / "words" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_bits_per_char"] < record["val_bits"] and record["val_bits_per_byte"] <= record["val_bits_per_char"]
