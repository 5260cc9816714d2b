"""The budget-aware default (lstmgen.training.budget): what it chooses for a limit, that explicit settings win, and that
a run reports the plan it trained with."""

from __future__ import annotations

import numpy as np
import torch

from lstmgen import LanguageModel, train
from lstmgen.config import ModelConfig, TrainConfig
from lstmgen.model import RecurrentLanguageModel
from lstmgen.training.budget import (
    CHARACTER_WEIGHT_DECAY,
    MOGRIFIER_LEARNING_RATE_SCALE,
    TOKENS_PER_MULTIPLY_ADD,
    WORD_RECIPE_MODEL,
    WORD_RECIPE_TRAIN,
    dropout_for,
    learning_rate_for,
    per_token_multiply_adds,
    plan_default,
    word_dropout_for,
)

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
    assert dropout_for(1.0) == 0.0 and dropout_for(6.0) == 0.1 and dropout_for(24.0) == 0.3
    assert dropout_for(1e6) == 0.5  # capped
    assert word_dropout_for(2.0) == 0.2 and word_dropout_for(6.0) == 0.3 and word_dropout_for(28.0) == 0.5
    plan = _plan(max_steps=20_000)
    assert plan.train["learning_rate"] == learning_rate_for(plan.model["hidden_size"])
    assert plan.model["dropout"] == dropout_for(plan.epochs)
    assert abs(plan.epochs - 20_000 * 1600 / len(TOKENS)) < 1e-6
    assert plan.train["weight_decay"] == CHARACTER_WEIGHT_DECAY  # AdamW's decay for the character plan


def test_the_mogrifier_cell_gets_a_lower_learning_rate():
    lstm, mogrifier = _plan(max_steps=2_000), _plan(max_steps=2_000, fixed={"cell": "mogrifier"})
    width = mogrifier.model["hidden_size"]
    assert mogrifier.train["learning_rate"] == round(learning_rate_for(width) * MOGRIFIER_LEARNING_RATE_SCALE, 5)
    assert mogrifier.train["learning_rate"] < lstm.train["learning_rate"] and any("mogrifier" in r for r in mogrifier.reasons)
    assert _plan(["learning_rate"], max_steps=2_000, fixed={"cell": "mogrifier"}).train.get("learning_rate") is None  # explicit kept


def test_the_character_plan_decays_only_adamw_and_keeps_an_explicit_decay():
    assert "weight_decay" not in _plan(explicit=["weight_decay"], max_steps=100).train
    assert "weight_decay" not in _plan(explicit=["optimizer"], optimizer="sgd", max_steps=100).train  # L2 means another thing there


def test_explicit_settings_are_kept():
    plan = _plan(explicit=["learning_rate", "precision"], fixed={"hidden_size": 200, "dropout": 0.3}, max_steps=50_000)
    assert "learning_rate" not in plan.train and "precision" not in plan.train
    assert "hidden_size" not in plan.model and "dropout" not in plan.model
    assert "width 200" in plan.describe()
    tied = _plan(fixed={"tie_weights": True}, max_steps=2_000)  # tying asked for: the planned embedding follows the width
    assert tied.shape.tie_weights and tied.shape.embedding_size == tied.shape.hidden_size == tied.model["embedding_size"]


def test_word_vocabularies_get_the_word_recipe_with_dropout_from_the_epochs():
    plan = _plan(words=True, vocab=5_000, max_steps=5_000)
    # 5,000 ids: a full softmax, tied to the embedding
    assert plan.model == {**WORD_RECIPE_MODEL, "tie_weights": True, "dropout": word_dropout_for(plan.epochs)}
    assert plan.train == {**WORD_RECIPE_TRAIN, "eval_interval": 600}  # SGD 20, clip 0.25, batch 20 x 35; 5,000 / 8 steps
    assert abs(plan.epochs - 5_000 * 20 * 35 / len(TOKENS)) < 1e-6  # the recipe's batch, not the preset's
    assert plan.shape.num_layers == 2 and plan.shape.hidden_size == 200
    assert "word_language_model" in plan.describe()


def test_a_word_plan_keeps_explicit_settings():
    plan = _plan(words=True, vocab=5_000, explicit=["learning_rate", "batch_size"], fixed={"hidden_size": 400, "tie_weights": True},
                 max_steps=1_000)
    assert "learning_rate" not in plan.train and "batch_size" not in plan.train and plan.train["grad_clip"] == 0.25
    assert "optimizer" not in plan.train  # a rate given for the preset's AdamW is not handed to SGD
    assert _plan(words=True, vocab=5_000, explicit=["optimizer"], max_steps=10).train.keys().isdisjoint({"optimizer", "learning_rate"})
    assert "hidden_size" not in plan.model and "tie_weights" not in plan.model
    assert plan.model["embedding_size"] == 400 and plan.shape.tie_weights  # tying asked for: the embedding follows
    assert abs(plan.epochs - 1_000 * 32 * 35 / len(TOKENS)) < 1e-6  # the user's batch of 32


def test_a_full_softmax_is_tied_to_the_embedding_unless_the_user_chose_otherwise():
    plan = _plan(words=True, vocab=4_096, max_steps=5_000)  # BPE-4,096
    assert plan.shape.tie_weights and plan.shape.embedding_size == plan.shape.hidden_size == 200
    assert "tied embedding and output weights: a full softmax over 4,096 ids" in plan.describe()
    model = RecurrentLanguageModel(plan.shape)
    assert model.output.weight is model.embedding.weight  # one [V, H] matrix
    untied = _plan(words=True, vocab=4_096, max_steps=10, fixed={"tie_weights": False})  # --no-tie-weights
    assert not untied.shape.tie_weights and "tie_weights" not in untied.model and "tied" not in untied.describe()
    own_width = _plan(words=True, vocab=4_096, max_steps=10, fixed={"hidden_size": 300})  # the embedding follows the user's width
    assert own_width.shape.tie_weights and own_width.shape.embedding_size == 300 and own_width.model["embedding_size"] == 300
    narrow = _plan(words=True, vocab=4_096, max_steps=10, fixed={"embedding_size": 100})  # an embedding of the user's own
    assert not narrow.shape.tie_weights and narrow.shape.embedding_size == 100
    same = _plan(words=True, vocab=4_096, max_steps=10, fixed={"embedding_size": 200})
    assert same.shape.tie_weights and "embedding_size" not in same.model
    adaptive = _plan(words=True, vocab=14_299, max_steps=10)  # an adaptive softmax has no [V, H] matrix to share
    assert adaptive.shape.adaptive_softmax and not adaptive.shape.tie_weights
    given = _plan(words=True, vocab=14_299, max_steps=10, fixed={"adaptive_softmax": (2000,)})
    assert not given.shape.tie_weights
    assert _plan(words=True, vocab=14_299, max_steps=10, fixed={"adaptive_softmax": ()}).shape.tie_weights  # --adaptive-softmax none
    assert not _plan(vocab=60, max_steps=100).shape.tie_weights  # the character plan never ties


def test_a_large_word_vocabulary_gets_an_adaptive_softmax_unless_the_user_chose_the_output():
    assert _plan(words=True, vocab=8_000, max_steps=10).shape.adaptive_softmax == ()  # a full softmax is cheap there
    large = _plan(words=True, vocab=14_299, max_steps=10)  # Tiny Shakespeare's words
    assert large.shape.adaptive_softmax == large.model["adaptive_softmax"] == (2000, 8000)
    assert "adaptive softmax over the 14,299 ids (cutoffs 2000, 8000)" in large.describe()
    kept = _plan(words=True, vocab=14_299, fixed={"adaptive_softmax": ()}, max_steps=10)  # --adaptive-softmax none
    assert kept.shape.adaptive_softmax == () and "adaptive_softmax" not in kept.model
    tied = _plan(words=True, vocab=14_299, fixed={"tie_weights": True}, max_steps=10)  # tying needs the full output matrix
    assert tied.shape.adaptive_softmax == () and tied.shape.tie_weights
    assert _plan(vocab=14_299, max_steps=10).shape.adaptive_softmax == ()  # the character plan never chooses one


def test_a_large_word_vocabulary_widens_once_the_run_sees_enough_tokens():
    short = _plan(words=True, vocab=14_299, max_steps=500)  # 350k tokens: 0.08 per multiply-add of a 2x400
    assert short.shape.hidden_size == 200 and "would see only" in short.describe()
    long = _plan(words=True, vocab=14_299, max_steps=5_000)  # 3.5M tokens: 0.84
    assert long.shape.hidden_size == long.shape.embedding_size == 400 and long.shape.num_layers == 2
    assert long.model["dropout"] == 0.5 and long.shape.weight_dropout == 0.3 and long.shape.adaptive_softmax == (2000, 8000)
    assert "width 400" in long.describe() and long.train["eval_interval"] == 600
    kept = _plan(words=True, vocab=14_299, max_steps=5_000, fixed={"dropout": 0.3})  # the user's dropout stays
    assert kept.shape.hidden_size == 400 and kept.shape.dropout == 0.3 and "dropout" not in kept.model
    for fixed in ({"hidden_size": 200}, {"num_layers": 3}, {"adaptive_softmax": ()}):  # a width or a full softmax chosen
        assert _plan(words=True, vocab=14_299, max_steps=5_000, fixed=fixed).shape.hidden_size == 200
    assert _plan(words=True, vocab=4_096, max_steps=5_000).shape.hidden_size == 200  # BPE-4,096: a full softmax, no wider
    probed = _plan(words=True, vocab=14_299, time_budget=0.02)
    assert sorted(probed.probe) == [200, 400] and all(rate > 0 for rate in probed.probe.values())


def test_an_adaptive_softmax_counts_its_head_and_projections_as_the_output_layer():
    full = ModelConfig(vocab_size=14_000, embedding_size=200, hidden_size=200, num_layers=2)
    adaptive = ModelConfig(vocab_size=14_000, embedding_size=200, hidden_size=200, num_layers=2, adaptive_softmax=(2000, 8000))
    recurrent = per_token_multiply_adds(full) - 200 * 14_000
    assert per_token_multiply_adds(adaptive) == recurrent + 200 * 2002 + 200 * 50 + 200 * 12


def test_a_word_plan_validates_about_eight_times_unless_told_how_often():
    assert _plan(words=True, vocab=500, max_steps=40_000).train["eval_interval"] == 5_000
    assert _plan(words=True, vocab=500, max_steps=100).train["eval_interval"] == 200  # never more often than the setting
    assert "eval_interval" not in _plan(words=True, vocab=500, max_steps=40_000, explicit=["eval_interval"]).train


def test_a_word_time_budget_is_probed_with_the_recipe():
    plan = _plan(words=True, vocab=500, time_budget=0.02)
    assert list(plan.probe) == [200] and plan.probe[200] > 0 and "tokens/s" in plan.describe()


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


def test_a_word_run_is_planned_by_the_word_recipe_and_says_so(tiny_text, tmp_path):
    lines = []
    train(text=tiny_text, out_dir=tmp_path / "run", tokenizer="word", max_steps=2, eval_interval=2, sample_length=0,
          threads=1, progress=False, log=lines.append)
    said = [line for line in lines if line.startswith("budget-aware default")]
    assert len(said) == 1 and "LSTM 2x200" in said[0] and "optimizer sgd" in said[0]
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.model.config.hidden_size == 200 and lm.model.config.num_layers == 2 and lm.model.config.embedding_size == 200
    plan = lm.info()["training"]["data"]["plan"]
    assert plan["train"]["optimizer"] == "sgd" and plan["train"]["learning_rate"] == 20.0
    written = lm.tokenizer.split(lm.generate("the", max_tokens=8, seed=0))  # the planned model writes the corpus's words
    assert len(written) == 8 and set(written) <= set(lm.tokenizer.words)
