"""The budget-aware default (lstmgen.budget): what it chooses for a limit, that explicit settings win, and that
a run reports the plan it trained with."""

from __future__ import annotations

import numpy as np
import torch

from lstmgen import LanguageModel, train
from lstmgen.budget import (
    TOKENS_PER_MULTIPLY_ADD,
    dropout_for,
    learning_rate_for,
    per_token_multiply_adds,
    plan_default,
)
from lstmgen.config import ModelConfig, TrainConfig

CPU = torch.device("cpu")
TOKENS = np.random.default_rng(0).integers(0, 60, size=200_000)


def _plan(explicit=(), fixed=None, words=False, vocab=60, **settings):
    config = TrainConfig(batch_size=32, seq_length=50, learning_rate=1.5e-2, **settings)
    return plan_default(vocab, words, TOKENS, config, list(explicit), fixed or {}, CPU)


def test_more_steps_choose_a_wider_model_that_still_sees_enough_tokens():
    widths = [_plan(max_steps=steps).model["hidden_size"] for steps in (100, 2_000, 20_000, 200_000)]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    for steps, width in zip((100, 2_000, 20_000, 200_000), widths):
        if width > 128:  # the chosen width saw enough tokens per multiply-add (the smallest is the floor)
            shape = ModelConfig(vocab_size=60, embedding_size=64, hidden_size=width)
            assert steps * 32 * 50 >= TOKENS_PER_MULTIPLY_ADD * per_token_multiply_adds(shape)


def test_the_learning_rate_and_dropout_follow_the_width_and_the_epochs():
    assert learning_rate_for(384) == 1.5e-2 and learning_rate_for(1536) == 7.5e-3
    assert dropout_for(1.0, words=False) == 0.0 and dropout_for(6.0, words=False) == 0.1 and dropout_for(24.0, words=False) == 0.3
    assert dropout_for(200.0, words=True) == 0.5  # capped
    plan = _plan(max_steps=20_000)
    assert plan.train["learning_rate"] == learning_rate_for(plan.model["hidden_size"])
    assert plan.model["dropout"] == dropout_for(plan.epochs, words=False)
    assert abs(plan.epochs - 20_000 * 1600 / len(TOKENS)) < 1e-6


def test_explicit_settings_are_kept():
    plan = _plan(explicit=["learning_rate", "precision"], fixed={"hidden_size": 200, "dropout": 0.3}, max_steps=50_000)
    assert "learning_rate" not in plan.train and "precision" not in plan.train
    assert "hidden_size" not in plan.model and "dropout" not in plan.model
    assert "width 200" in plan.describe()


def test_word_vocabularies_tie_the_embedding_to_the_output():
    plan = _plan(words=True, vocab=5_000, max_steps=5_000)
    assert plan.model["tie_weights"] and plan.model["embedding_size"] == plan.model["hidden_size"]
    assert plan.model["dropout"] >= 0.1


def test_a_time_budget_is_planned_from_a_probe_of_this_machine():
    plan = _plan(time_budget=0.02)  # 1.2 seconds: only the smallest widths are worth probing
    assert plan.probe and all(rate > 0 for rate in plan.probe.values())
    assert plan.model["hidden_size"] in plan.probe
    assert "tokens/s" in plan.describe()


def test_a_default_run_says_what_it_chose_and_records_it(tiny_text, tmp_path):
    lines = []
    train(text=tiny_text, out_dir=tmp_path / "run", max_steps=3, eval_interval=3, sample_length=0, threads=1,
          progress=False, log=lines.append)
    said = [line for line in lines if line.startswith("budget-aware default")]
    assert len(said) == 1 and "width 128" in said[0]
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.model.config.hidden_size == 128
    plan = lm.info()["training"]["data"]["plan"]
    assert plan["model"]["hidden_size"] == 128 and "reasons" in plan
