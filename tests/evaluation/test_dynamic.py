"""lstmgen.evaluation.dynamic: dynamic evaluation adapts to the text it reads, on a copy, and says so."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lstmgen.cli import main
from lstmgen.config import ConfigError
from lstmgen.evaluation.dynamic import DynamicEvaluation, adapted_copy, dynamic_evaluate, tune

# A text the tiny model has never seen, repeated: a model that learns as it reads predicts the repeats better.
NOVEL = "zebra quilts vex jumpy wizards; " * 40


def _weights(model) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


def test_dynamic_evaluation_lowers_the_nll_of_a_repeated_text_and_leaves_the_model_alone(lm):
    before = _weights(lm.model)
    static = lm.evaluate(NOVEL)
    dynamic = lm.evaluate(NOVEL, dynamic=DynamicEvaluation(learning_rate=1e-2, decay=0.0, segment_length=20, streams=1, learn_fraction=1.0))
    assert dynamic.nats < 0.9 * static.nats, (dynamic.nats, static.nats)
    assert all(torch.equal(a, b) for a, b in zip(before, lm.model.parameters()))
    assert static.protocol == "static" and dynamic.protocol == "dynamic, rms, lr=0.01, decay=0, segment=20"
    streams = lm.evaluate(NOVEL, dynamic=DynamicEvaluation(learning_rate=1e-2, decay=0.0, segment_length=20, streams=4, warmup=16))
    assert streams.nats < static.nats and "streams=4, learning from 75% of segments" in streams.protocol and streams.tokens == static.tokens
    assert dynamic.tokens == static.tokens and dynamic.bits_per_character is not None


def test_learning_from_a_fraction_of_the_segments_spreads_them_and_says_so(lm):
    assert [DynamicEvaluation(learn_fraction=0.75).learns_from(i) for i in range(8)] == [False, True, True, True] * 2
    assert [DynamicEvaluation(learn_fraction=0.5).learns_from(i) for i in range(4)] == [False, True] * 2
    assert all(DynamicEvaluation(learn_fraction=1.0).learns_from(i) for i in range(100))
    assert sum(DynamicEvaluation(learn_fraction=2 / 3).learns_from(i) for i in range(300)) == 200
    settings = DynamicEvaluation(learning_rate=1e-2, decay=0.0, segment_length=20, streams=1)
    assert settings.learn_fraction == 0.75 and settings.protocol.endswith("segment=20, learning from 75% of segments")
    static, every = lm.evaluate(NOVEL), lm.evaluate(NOVEL, dynamic=replace(settings, learn_fraction=1.0))
    partly = lm.evaluate(NOVEL, dynamic=settings)
    assert partly.nats < 0.9 * static.nats and partly.nats != every.nats and partly.tokens == static.tokens
    half = lm.evaluate(NOVEL, dynamic=replace(settings, learn_fraction=0.5))  # the segments only scored do not learn
    assert half.nats != partly.nats


def test_without_a_learning_rate_it_is_the_static_measure(lm):
    tokens = lm.tokenizer.encode(NOVEL, unknown="replace")
    frozen = dynamic_evaluate(lm.model, tokens, DynamicEvaluation(learning_rate=0.0, segment_length=7))
    assert frozen.nats == pytest.approx(lm.evaluate(NOVEL).nats, rel=1e-5)  # any segment length: the state is carried


def test_sgd_and_the_decay_toward_the_trained_weights(lm):
    tokens = lm.tokenizer.encode(NOVEL, unknown="replace")
    sgd = dynamic_evaluate(lm.model, tokens, DynamicEvaluation(method="sgd", learning_rate=0.5, decay=0.0, segment_length=20, streams=1))
    assert sgd.nats < lm.evaluate(NOVEL).nats and sgd.protocol.startswith("dynamic, sgd")
    adapted, _, reading = adapted_copy(lm.model, tokens, DynamicEvaluation(learning_rate=1e-2, decay=0.0))
    # a document is read sequentially and learned from in every segment, whatever the settings say
    assert "streams=" not in reading.protocol and "learning from" not in reading.protocol
    pulled, _, _ = adapted_copy(lm.model, tokens, DynamicEvaluation(learning_rate=1e-2, decay=0.5))
    distance = [sum(float((a - b).detach().norm()) for a, b in zip(model.parameters(), lm.model.parameters())) for model in (adapted, pulled)]
    assert distance[1] < distance[0]  # the decay keeps the weights near the trained ones


def test_an_adapted_model_predicts_the_rest_of_its_document_better(lm):
    first, second = NOVEL[: len(NOVEL) // 2], NOVEL[len(NOVEL) // 2 :]
    adapted = lm.adapted_to(first, DynamicEvaluation(learning_rate=1e-2, decay=0.0, segment_length=20))
    assert adapted.evaluate(second).nats < 0.9 * lm.evaluate(second).nats
    assert adapted.model is not lm.model and adapted.extra["adapted"]["protocol"].startswith("dynamic")
    assert adapted.generate(first[-20:], max_tokens=30, seed=1)  # generation from the adapted weights works


def test_tune_picks_the_best_setting_it_tried(lm):
    tokens = lm.tokenizer.encode(NOVEL[:400], unknown="replace")
    chosen, tried = tune(lm.model, tokens, learning_rates=(0.0, 1e-2), decays=(0.0,), segment_length=20, streams=1)
    assert len(tried) == 2 and chosen.learning_rate == min(tried, key=lambda entry: entry["nats"])["learning_rate"] == 1e-2


@pytest.mark.parametrize("values, field", [({"method": "adam"}, "method"), ({"learning_rate": -1.0}, "learning_rate"),
                                           ({"decay": 1.0}, "decay"), ({"segment_length": 0}, "segment_length"),
                                           ({"learn_fraction": 0.0}, "learn_fraction"), ({"learn_fraction": 1.5}, "learn_fraction")])
def test_impossible_settings_name_their_field(values, field):
    with pytest.raises(ConfigError) as error:
        DynamicEvaluation(**values)
    assert error.value.field == field


def test_the_cli_reports_the_protocol_and_never_changes_the_checkpoint(tiny_run, tmp_path, capsys):
    text = tmp_path / "novel.txt"
    text.write_text(NOVEL, encoding="utf-8")
    weights = (tiny_run / "best" / "model.safetensors").read_bytes()
    assert main(["eval", str(tiny_run), str(text), "--json"]) == 0
    static = json.loads(capsys.readouterr().out)
    assert main(["eval", str(tiny_run), str(text), "--dynamic", "--dynamic-lr", "0.01", "--dynamic-decay", "0", "--dynamic-streams", "1",
                 "--json"]) == 0
    dynamic = json.loads(capsys.readouterr().out)
    assert static["protocol"] == "static" and dynamic["protocol"].startswith("dynamic, rms, lr=0.01")
    assert dynamic["nats"] < static["nats"]
    assert main(["eval", str(tiny_run), str(text), "--tune-on", str(text), "--dynamic-decay", "0", "--dynamic-streams", "1"]) == 0
    captured = capsys.readouterr()
    assert "protocol: dynamic" in captured.out and "tune-on: lr=" in captured.err
    assert main(["generate", str(tiny_run), "--adapt-to", str(text), "--length", "20", "--seed", "2"]) == 0
    captured = capsys.readouterr()
    assert "adapted to" in captured.err and len(captured.out.strip()) > 0
    assert (tiny_run / "best" / "model.safetensors").read_bytes() == weights


def test_a_text_of_one_token_is_refused(lm):
    with pytest.raises(ValueError):
        dynamic_evaluate(lm.model, np.array([1]))


def test_the_windowed_measure_reads_each_window_from_a_fresh_state(lm, tiny_run, tmp_path, capsys):
    from lstmgen.evaluation.static import windowed_evaluate

    tokens = lm.tokenizer.encode(NOVEL, unknown="replace")
    short = windowed_evaluate(lm.model, tokens, window=4, windows=50)
    long = windowed_evaluate(lm.model, tokens, window=64, windows=50)
    assert short.protocol.startswith("windowed, 50 random windows of 4 tokens") and short.tokens == 200
    assert windowed_evaluate(lm.model, tokens, window=64, windows=50).nats == long.nats  # seeded
    path = tmp_path / "novel.txt"
    path.write_text(NOVEL, encoding="utf-8")
    assert main(["eval", str(tiny_run), str(path), "--windows", "32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["protocol"].startswith("windowed")


def test_the_rms_update_is_krauses_formula(lm):
    """Adam without momentum (the fused kernel) is Krause's RMS update with bias correction, then the decay."""
    from lstmgen.evaluation.dynamic import _Adapter

    settings = DynamicEvaluation(learning_rate=1e-2, decay=0.1, beta=0.9, epsilon=1e-6)
    adapter = _Adapter(lm.model, settings)
    generator = torch.Generator().manual_seed(0)
    expected = [parameter.detach().clone() for parameter in adapter.parameters]
    squares = [torch.zeros_like(parameter) for parameter in expected]
    for step in (1, 2):
        gradients = [torch.randn(parameter.shape, generator=generator) for parameter in expected]
        for parameter, gradient in zip(adapter.parameters, gradients):
            parameter.grad = gradient.clone()
        adapter.step()
        for index, (gradient, trained) in enumerate(zip(gradients, adapter.trained)):
            squares[index] = 0.9 * squares[index] + 0.1 * gradient ** 2
            moved = expected[index] - 1e-2 * gradient / ((squares[index] / (1 - 0.9 ** step)).sqrt() + 1e-6)
            expected[index] = moved + 0.1 * (trained - moved)
    assert all(torch.allclose(parameter, value, atol=1e-6) for parameter, value in zip(adapter.parameters, expected))
    assert all(parameter.grad is None for parameter in adapter.parameters)
