"""Sizes a user or a request can ask for are refused up front or bounded, never handed to the allocator."""

from __future__ import annotations

import pytest
import torch

from lstmgen import GenerationConfig, TrainConfig
from lstmgen.cli import main
from lstmgen.config import MAX_STREAMS, ConfigError
from lstmgen.decoding import Stepper, decode
from lstmgen.decoding import generation as generation_module
from lstmgen.decoding.stepper import PREFILL_LOGITS
from lstmgen.tokenizers import CharTokenizer


@pytest.mark.parametrize("field", ["num_samples", "num_beams"])
def test_a_million_streams_are_refused_with_the_limit(field):
    with pytest.raises(ConfigError, match=rf"{field}.*{MAX_STREAMS:,}|{MAX_STREAMS}"):
        GenerationConfig(**{field: 1_000_000})
    GenerationConfig(**{field: MAX_STREAMS})  # the limit itself is allowed


@pytest.mark.parametrize("flag", ["--num-samples", "--num-beams"])
def test_the_cli_refuses_a_million_streams_before_generating(tiny_run, capsys, flag):
    assert main(["generate", str(tiny_run), flag, "1000000", "--length", "5"]) == 2
    error = capsys.readouterr().err
    assert "lstmgen: error:" in error and "1024" in error.replace(",", "") and "Traceback" not in error


def test_a_training_sample_length_of_ten_million_is_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="sample_length"):
        TrainConfig(sample_length=10**7)
    (tmp_path / "corpus.txt").write_text("abc " * 100)
    assert main(["train", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "run"), "--sample-length", "10000000"]) == 2
    assert "sample" in capsys.readouterr().err and not (tmp_path / "run" / "last").exists()


def test_a_huge_length_with_a_repetition_penalty_allocates_as_it_goes(tiny_model, monkeypatch):
    """The penalty's history grows with the text; it was sized by max_tokens (8 GB for 10**9) before the first token."""
    sizes = []
    real_empty = torch.empty

    def recording_empty(*size, **kwargs):
        tensor = real_empty(*size, **kwargs)
        sizes.append(tensor.numel())
        return tensor

    monkeypatch.setattr(torch, "empty", recording_empty)
    model = tiny_model(vocab_size=30)
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz .\n")
    config = GenerationConfig(max_tokens=10**9, repetition_penalty=1.3, seed=1)
    steps = decode(model, tokenizer, [1, 2, 3], config, torch.Generator().manual_seed(1))
    for _ in range(3):
        next(steps)
    assert max(sizes) < 10_000


def test_the_growing_history_penalises_exactly_as_a_preallocated_one(tiny_model, monkeypatch):
    model = tiny_model(vocab_size=30)
    tokenizer = CharTokenizer("abcdefghijklmnopqrstuvwxyz .\n")
    config = GenerationConfig(max_tokens=60, repetition_penalty=1.5, no_repeat_ngram_size=2, num_samples=2, seed=3)

    def tokens() -> list:
        return [step.tokens for step in decode(model, tokenizer, [1, 2, 3], config, torch.Generator().manual_seed(3))]

    whole = tokens()
    monkeypatch.setattr(generation_module, "HISTORY_START", 4)  # grows 4 -> 8 -> 16 -> 32 -> 60
    assert tokens() == whole and len(whole) == 60


def test_a_long_prompt_on_a_large_vocabulary_never_builds_more_logits_than_the_bound(tiny_model):
    model = tiny_model(vocab_size=30_000, embedding_size=4, hidden_size=4, num_layers=1)
    built = []
    model.output.register_forward_hook(lambda module, inputs, output: built.append(output.numel()))
    prompt = torch.randint(0, 30_000, (3_000,), generator=torch.Generator().manual_seed(0))
    last = Stepper(model, fast=False).prefill(prompt)
    assert max(built) <= PREFILL_LOGITS and len(built) > 1  # 1024 x 30,000 = 30.7 M logits per call before
    with torch.no_grad():
        whole, _ = model(prompt[None])
    assert torch.allclose(last[0], whole[0, -1], atol=1e-5)


def test_evaluation_of_a_large_vocabulary_builds_bounded_logits_and_the_same_figures(tiny_model, monkeypatch):
    """A 50,000-symbol char corpus peaked at 6.9 GB in evaluation ([16, 256, V] and [256, 39, V] logits)."""
    import numpy as np

    import lstmgen.evaluation.static as evaluation

    monkeypatch.setattr(evaluation, "EVALUATION_LOGITS", 1 << 18)  # the same rule at a size a test can afford
    model = tiny_model(vocab_size=5_000, embedding_size=4, hidden_size=4, num_layers=1)
    built = []
    model.output.register_forward_hook(lambda module, inputs, output: built.append(output.numel()))
    tokens = np.random.default_rng(0).integers(0, 5_000, 3_000)
    positions = np.arange(1, 2_900, 50)
    bounded = evaluation.evaluate(model, tokens, cold_start_positions=positions)
    assert max(built) <= 1 << 18 and len(built) > 10
    monkeypatch.setattr(evaluation, "EVALUATION_LOGITS", 1 << 40)
    built.clear()
    whole = evaluation.evaluate(model, tokens, cold_start_positions=positions)
    assert max(built) > 1 << 18  # the unbounded pass really did build larger logits
    assert bounded.nats == pytest.approx(whole.nats, rel=1e-6)
    assert bounded.cold_start.fresh_nats == pytest.approx(whole.cold_start.fresh_nats, rel=1e-6)
