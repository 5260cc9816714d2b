"""lstmgen.pipeline: train() from a corpus to a run directory, for every tokenizer and cell."""

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SETTINGS, TINY_TEXT
from lstmgen import ConfigError, LanguageModel, train

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


def test_gru_and_rnn_cells_train(tmp_path):
    for cell in ("gru", "rnn"):
        result = train(text=TINY_TEXT, out_dir=tmp_path / cell, model={**TINY_MODEL, "cell": cell}, **{**TINY_SETTINGS, "max_steps": 5}, **QUIET)
        assert result.steps == 5
        config = LanguageModel.load(tmp_path / cell).config
        assert (config.cell, config.hidden_size, config.embedding_size) == (cell, TINY_MODEL["hidden_size"], TINY_MODEL["embedding_size"])
