"""The dense method: discounted returns and the baseline by hand, a recurrent critic that reads prefixes causally and
learns real from noise, and the trainer's dense rounds (they run, move the generator, resume exactly)."""

from __future__ import annotations

import pytest
import torch
from test_gan_trainer import TINY, V, _real, _trainer

from conftest import make_tiny_model
from lstmgen.config import ConfigError
from lstmgen.gan.config import GanConfig
from lstmgen.gan.dense import dense_policy_loss, discounted_returns, moving_baseline, prefix_rewards
from lstmgen.gan.discriminator import make_discriminator, make_discriminator_optimizer, train_discriminator
from lstmgen.gan.recurrent_discriminator import RecurrentDiscriminator
from lstmgen.gan.trainer import SeqGANTrainer

T_LENGTH = 8
DENSE = {"method": "dense", "discriminator_hidden": 16, "adversarial_batch_size": 32, "d_steps": 1,
         "adversarial_learning_rate": 1e-2, "discriminator_learning_rate": 1e-2}


def test_discounted_returns_by_hand():
    rewards = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    # R_3 = r_3; R_2 = r_2 + 0.5 R_3; R_1 = r_1 + 0.5 R_2
    expected = torch.tensor([[1.0 + 0.5 * (0.0 + 0.5 * -1.0), 0.0 + 0.5 * -1.0, -1.0], [0.875, 0.75, 0.5]])
    torch.testing.assert_close(discounted_returns(rewards, 0.5), expected)
    torch.testing.assert_close(discounted_returns(rewards, 0.0), rewards)


def test_moving_baseline_and_the_loss():
    assert moving_baseline(1.0, torch.tensor([[3.0, 5.0]]), 0.25) == pytest.approx(0.25 * 1.0 + 0.75 * 4.0)
    log_p = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss = dense_policy_loss(log_p, torch.tensor([[2.0, -1.0]]))
    assert loss.item() == pytest.approx(-(2.0 * -1.0 + -1.0 * -2.0) / 2)
    loss.backward()
    torch.testing.assert_close(log_p.grad, torch.tensor([[-1.0, 0.5]]))  # raise the positive-advantage token's log p
    with pytest.raises(ValueError, match="differ in shape"):
        dense_policy_loss(log_p, torch.zeros(2, 1))


def test_the_recurrent_critic_reads_prefixes_causally():
    torch.manual_seed(0)
    critic = RecurrentDiscriminator(V, embedding_size=8, hidden_size=12, dropout=0.0).eval()
    tokens = torch.randint(0, V, (3, 7))
    changed = tokens.clone()
    changed[:, 4] = (changed[:, 4] + 1) % V
    before, after = critic(tokens), critic(changed)
    assert before.shape == (3, 7)
    torch.testing.assert_close(before[:, :4], after[:, :4])  # prefixes before position 4 cannot see it
    assert not torch.allclose(before[:, 4:], after[:, 4:])
    rewards = prefix_rewards(critic, tokens)
    assert rewards.shape == (3, 7) and bool(((rewards > -1) & (rewards < 1)).all())
    torch.testing.assert_close(critic.real_probability(tokens), torch.sigmoid(before[:, -1]))


def test_the_recurrent_critic_learns_real_from_noise():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    config = GanConfig(sequence_length=T_LENGTH, **{**DENSE, "discriminator_embedding": 8, "discriminator_dropout": 0.1,
                                                     "discriminator_l2": 1e-6})
    critic = make_discriminator(V, config)
    assert isinstance(critic, RecurrentDiscriminator)
    optimizer = make_discriminator_optimizer(critic, config)
    real = (torch.randint(0, V, (512, 1), generator=generator) + torch.arange(T_LENGTH)) % V  # counting sequences
    noise = torch.randint(0, V, (512, T_LENGTH), generator=generator)
    record = train_discriminator(critic, optimizer, real, noise, 4, 64, config.discriminator_l2, generator)
    fresh_real = (torch.randint(0, V, (200, 1), generator=generator) + torch.arange(T_LENGTH)) % V
    fresh_noise = torch.randint(0, V, (200, T_LENGTH), generator=generator)
    assert record["d_accuracy"] > 0.7  # over every prefix and epoch; a one-token prefix is a coin toss
    assert float(critic.real_probability(fresh_real).mean()) > 0.8 > 0.2 > float(critic.real_probability(fresh_noise).mean())



def test_dense_rounds_run_move_the_generator_and_log_the_baseline(tmp_path):
    trainer = _trainer(tmp_path / "run", rounds=3, gan={**DENSE, "pretrain_epochs": 0, "d_holdout": 16})
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    result = trainer.run()
    adversarial = [r for r in result.history if r["phase"] == "adversarial"]
    assert len(adversarial) == 3 and all(-1 < r["mean_reward"] < 1 for r in adversarial)
    assert {"baseline", "d_accuracy", "pg_grad_norm", "d_heldout_accuracy"} <= set(adversarial[-1])
    assert adversarial[-1]["baseline"] == trainer.baseline != 0.0
    assert any(not torch.equal(v, before[k]) for k, v in trainer.generator.state_dict().items())


def test_dense_resume_continues_exactly(tmp_path):
    gan = {**DENSE, "d_holdout": 16, "eval_interval": 2}
    whole = _trainer(tmp_path / "whole", rounds=4, gan=gan)
    whole.run()
    _trainer(tmp_path / "split", rounds=2, gan=gan).run()
    resumed = SeqGANTrainer.resume(tmp_path / "split", _real(), config=GanConfig(**{**TINY, **gan, "rounds": 4}), progress=False,
                                   log=lambda line: None, threads=1)
    resumed.run()
    for (name, a), b in zip(whole.generator.state_dict().items(), resumed.generator.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    for a, b in zip(whole.discriminator.state_dict().values(), resumed.discriminator.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert whole.baseline == resumed.baseline
    assert [r.get("pg_loss") for r in whole.history] == [r.get("pg_loss") for r in resumed.history]


def test_suppressed_ids_are_never_drawn(tmp_path):
    torch.manual_seed(0)
    model = make_tiny_model(vocab_size=V, embedding_size=8, hidden_size=8, num_layers=1)
    trainer = SeqGANTrainer(model, None, _real(), GanConfig(**{**TINY, **DENSE, "rounds": 1}), tmp_path / "run", progress=False,
                            log=lambda line: None, threads=1, suppress=(3, 5))
    drawn = trainer._fakes(500)
    assert not bool(((drawn == 3) | (drawn == 5)).any())


def test_dense_settings_are_checked():
    with pytest.raises(ConfigError, match="method must be one of"):
        GanConfig(method="wgan")
    with pytest.raises(ConfigError, match="reward=constant is an ablation"):
        GanConfig(method="dense", reward="constant")
    with pytest.raises(ConfigError, match="discount must be in"):
        GanConfig(method="dense", discount=1.5)
    GanConfig(method="dense", sequence_length=5)  # no CNN filter width to fit
