"""Cold start: the fresh state generation starts from is trained, and every evaluation measures it."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import QUIET, RECORDS
from lstmgen import LanguageModel, TrainConfig, train
from lstmgen.evaluation.static import evaluate, line_start_positions

WELL_FORMED = re.compile(r"^\n[a-z ,.?]+\n\n[A-Z]+:\n")


def _records_model(path, **settings):
    train(text=RECORDS, out_dir=path, model=dict(embedding_size=16, hidden_size=64), batch_size=8, seq_length=32,
          max_steps=300, eval_interval=300, learning_rate=1e-2, sample_length=0, threads=1, **settings, **QUIET)
    return LanguageModel.load(path)


def test_a_prompt_typed_into_a_fresh_model_reads_like_the_corpus(tmp_path):
    lm = _records_model(tmp_path / "default")  # the default state_reset_probability
    for name in ("BOB:", "ERIN:", "ALICE:"):
        text = lm.generate(name, max_tokens=40, temperature=0)
        assert WELL_FORMED.match(text), (name, text)
    # The resets are what teach the fresh state: without them it reads held-out records far worse.
    never = _records_model(tmp_path / "never", state_reset_probability=0.0)
    held_out = RECORDS[-2000:]
    trained, untrained = lm.evaluate(held_out).cold_start, never.evaluate(held_out).cold_start
    assert trained.fresh_nats < 0.85 * untrained.fresh_nats
    assert trained.ratio < untrained.ratio


def _direct_losses(model, tokens):
    """NLL of tokens[1:] reading the whole stream in one call: the reference for 'in context'."""
    with torch.no_grad():
        logits, _ = model.eval()(torch.from_numpy(tokens[None, :-1]))
        return F.cross_entropy(logits[0], torch.from_numpy(tokens[1:]), reduction="none").double().numpy()


def _fresh_losses(model, tokens, start, length):
    with torch.no_grad():
        segment = torch.from_numpy(tokens[start : start + length][None])
        logits, _ = model.eval()(segment[:, :-1])
        return F.cross_entropy(logits[0], segment[0, 1:], reduction="none").double().numpy()


def test_cold_start_measure_matches_a_direct_computation(tiny_model):
    model = tiny_model(vocab_size=9, embedding_size=8, hidden_size=16, seed=0)
    tokens = np.random.default_rng(0).integers(0, 9, 500)
    positions = np.array([3, 100, 250, 480])  # the last segment ends exactly at the end of the stream
    report = evaluate(model, tokens, batch_size=3, seq_length=17, warmup=500, cold_start_positions=positions, cold_start_tokens=20)
    direct = _direct_losses(model, tokens)
    in_context = np.concatenate([direct[p : p + 19] for p in positions])
    fresh = np.concatenate([_fresh_losses(model, tokens, p, 20) for p in positions])
    assert report.nats == pytest.approx(direct.mean(), rel=1e-5)
    cold = report.cold_start
    assert (cold.segments, cold.segment_tokens) == (4, 20)
    assert cold.context_nats == pytest.approx(in_context.mean(), rel=1e-5)
    assert cold.fresh_nats == pytest.approx(fresh.mean(), rel=1e-5)
    assert cold.ratio == pytest.approx(fresh.mean() / in_context.mean(), rel=1e-5)


def test_a_memoryless_model_has_a_cold_start_ratio_of_one(tiny_model):
    # Forget gate shut and no recurrent weights: each step sees only its input token, so context cannot help.
    model = tiny_model(vocab_size=7, embedding_size=4, hidden_size=8, num_layers=1, seed=0)
    with torch.no_grad():
        model.rnn.weight_hh_l0.zero_()
        model.rnn.weight_ih_l0[8:16].zero_()
        model.rnn.bias_ih_l0[8:16].fill_(-100.0)
    tokens = np.random.default_rng(1).integers(0, 7, 300)
    cold = evaluate(model, tokens, cold_start_positions=line_start_positions(tokens, separator=None, count=10)).cold_start
    assert cold.ratio == pytest.approx(1.0, abs=1e-6)


def test_segments_start_at_the_beginnings_of_lines():
    newline = 0
    tokens = np.array([5, 5, 0, 7, 7, 7, 0, 0, 8, 8, 8, 0, 9, 9])
    # After a line break, not on an empty line, and the whole segment must fit.
    assert line_start_positions(tokens, newline, count=10, length=3).tolist() == [3, 8]
    assert line_start_positions(tokens, newline, count=10, length=2).tolist() == [3, 8, 12]
    assert line_start_positions(tokens, newline, count=1, length=2).tolist() == [3]
    # No line breaks: evenly spaced positions over the stream.
    assert line_start_positions(np.arange(100), 1000, count=5, length=10).tolist() == [0, 22, 45, 68, 90]
    assert line_start_positions(np.arange(5), None, count=5, length=10).tolist() == []


def test_every_evaluation_reports_cold_start(tiny_run, tiny_text, capsys):
    import json

    from lstmgen.cli import main

    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert all({"val_cold_start_nats", "val_cold_start_context_nats", "val_cold_start_ratio"} <= r.keys() for r in records)
    report = LanguageModel.load(tiny_run).evaluate(tiny_text)
    assert report.cold_start.segments > 10 and "cold start" in report.describe("char")
    assert "val_cold_start_ratio" in LanguageModel.load(tiny_run).info()["best_validation"]
    text_file = tiny_run.parent / "held-out.txt"
    text_file.write_text(tiny_text, encoding="utf-8")
    assert main(["eval", str(tiny_run), str(text_file)]) == 0
    assert "cold start" in capsys.readouterr().out
    assert main(["eval", str(tiny_run), str(text_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cold_start"]["segments"] == report.cold_start.segments
    assert main(["info", str(tiny_run)]) == 0
    assert "cold start" in capsys.readouterr().out


def test_state_resets_follow_the_probability_and_the_seed(tmp_path, tiny_model):
    from lstmgen.tokenizers import CharTokenizer
    from lstmgen.training.trainer import Trainer

    text = "abcdefgh" * 200
    tokenizer = CharTokenizer.fit(text)
    tokens = tokenizer.encode(text)

    def trainer(probability):
        config = TrainConfig(batch_size=64, seq_length=4, state_reset_probability=probability, sample_length=0, threads=1)
        model = tiny_model(vocab_size=tokenizer.vocab_size, embedding_size=4, hidden_size=8, num_layers=1)
        made = Trainer(model, tokenizer, tokens, None, config, tmp_path, **QUIET)
        made.state = tuple(torch.ones_like(s) for s in made.state)
        made.step = 7
        return made

    half = trainer(0.5)
    half._reset_streams()
    reset = half.state[0][0, :, 0] == 0  # [B]
    assert 10 < int(reset.sum()) < 54  # about half of 64 streams
    assert torch.equal(half.state[1][0, :, 0] == 0, reset)  # h and c of a stream reset together
    again = trainer(0.5)
    again._reset_streams()
    assert torch.equal(again.state[0][0, :, 0] == 0, reset)  # the same streams: a function of (seed, step)
    every = trainer(1.0)
    every._reset_streams()
    assert all(bool((s == 0).all()) for s in every.state)
    never = trainer(0.0)
    never._reset_streams()
    assert all(bool((s == 1).all()) for s in never.state)


def test_reset_probability_is_validated():
    from lstmgen import ConfigError

    with pytest.raises(ConfigError, match="state_reset_probability must be in"):
        TrainConfig(state_reset_probability=1.5)
