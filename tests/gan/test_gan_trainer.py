"""The SeqGAN loop on a tiny task: all phases run, checkpoints load, a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_tiny_model
from lstmgen import load_checkpoint
from lstmgen.config import ConfigError
from lstmgen.gan.config import GanConfig
from lstmgen.gan.oracle import oracle_tokenizer
from lstmgen.gan.rollout import policy_gradient_loss
from lstmgen.gan.sequences import sequence_nll, token_log_probabilities
from lstmgen.gan.trainer import SeqGANTrainer, new_generator

V, T = 16, 8
TINY = dict(sequence_length=T, batch_size=16, pretrain_epochs=2, discriminator_embedding=8, filter_sizes=(1, 2, 3),
            num_filters=(8, 8, 8), pretrain_d_steps=1, pretrain_d_epochs=1, d_samples=64, g_steps=1, rollouts=2,
            d_steps=1, d_epochs=1, adversarial_d_samples=32, eval_interval=1, seed=5)


def _real() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.randint(0, V, (128, 1), generator=generator) + torch.arange(T)) % V  # counting sequences


def _trainer(out, rounds, real=None, gan=None, **kwargs):
    torch.manual_seed(0)
    model = make_tiny_model(vocab_size=V, embedding_size=8, hidden_size=8, num_layers=1)
    config = GanConfig(**{**TINY, "rounds": rounds, **(gan or {})})
    return SeqGANTrainer(model, oracle_tokenizer(V), _real() if real is None else real, config, out, progress=False,
                         log=lambda line: None, threads=1, **kwargs)


def test_all_phases_run_and_leave_checkpoints(tmp_path):
    evaluate = lambda model: {"nll_validation": float(sequence_nll(model, _real()).mean())}  # noqa: E731
    result = _trainer(tmp_path / "run", rounds=2, evaluate=evaluate).run()
    assert result.phase == "done"
    assert [r["phase"] for r in result.history].count("adversarial") == 2
    assert {"pg_loss", "pg_grad_norm", "mean_reward", "d_accuracy"} <= set(result.history[-1])
    for name in ("last", "mle", "mle-best"):
        checkpoint = load_checkpoint(tmp_path / "run" / name)
        assert checkpoint.model.config.vocab_size == V
    assert load_checkpoint(tmp_path / "run", prefer="last").extra["gan"]["rounds"] == 2
    lines = (tmp_path / "run" / "last" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["phase"] == "mle" and len(lines) == len(result.history)


def test_resume_continues_exactly(tmp_path):
    whole = _trainer(tmp_path / "whole", rounds=4)
    whole.run()
    first = _trainer(tmp_path / "split", rounds=2)
    first.run()
    resumed = SeqGANTrainer.resume(tmp_path / "split", _real(), config=GanConfig(rounds=4, **TINY), progress=False,
                                   log=lambda line: None, threads=1)
    assert resumed.phase == "adversarial" and resumed.completed == 2
    resumed.run()
    for (name, a), b in zip(whole.generator.state_dict().items(), resumed.generator.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    for a, b in zip(whole.discriminator.state_dict().values(), resumed.discriminator.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert [r.get("pg_loss") for r in whole.history] == [r.get("pg_loss") for r in resumed.history]


def test_rollout_policy_starts_from_the_pretrained_generator(tmp_path):
    trainer = _trainer(tmp_path / "run", rounds=0)
    trainer.run()
    for a, b in zip(trainer.generator.state_dict().values(), trainer.rollout.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_new_generator_uses_the_authors_initialisation_or_lstmgens():
    torch.manual_seed(0)
    paper = new_generator(500, 32, 32, GanConfig(generator_init_std=0.1))
    values = torch.cat([p.detach().flatten() for p in paper.parameters()])
    assert abs(float(values.mean())) < 0.005 and abs(float(values.std()) - 0.1) < 0.005
    assert abs(float(paper.rnn.bias_ih_l0[32:64].detach().mean())) < 0.05  # no forget-gate bias of 1 under the authors' init
    torch.manual_seed(0)
    own = new_generator(500, 32, 32, GanConfig(generator_init_std=0.0))
    assert float(own.embedding.weight.detach().std()) > 0.9  # lstmgen's N(0, 1) embedding
    assert torch.all(own.rnn.bias_ih_l0[32:64] == 1.0)


def test_constant_reward_ablation_trains_the_generator_without_a_discriminator(tmp_path):
    torch.manual_seed(0)
    model = make_tiny_model(vocab_size=V, embedding_size=8, hidden_size=8, num_layers=1)
    config = GanConfig(**{**TINY, "rounds": 3, "pretrain_epochs": 0, "reward": "constant"})
    trainer = SeqGANTrainer(model, oracle_tokenizer(V), _real(), config, tmp_path / "run", progress=False,
                            log=lambda line: None, threads=1)
    discriminator_before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    generator_before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainer.run()
    adversarial = [r for r in result.history if r["phase"] == "adversarial"]
    assert [r["phase"] for r in result.history].count("d_pretrain") == 0 and len(adversarial) == 3
    assert all(r["mean_reward"] == 1.0 and "d_accuracy" not in r for r in adversarial)
    for name, value in trainer.discriminator.state_dict().items():
        torch.testing.assert_close(value, discriminator_before[name], msg=name)  # never trained
    assert any(not torch.equal(value, generator_before[name]) for name, value in model.state_dict().items())


def test_reward_must_be_known():
    with pytest.raises(ConfigError, match="reward must be one of"):
        GanConfig(reward="bleu")


def test_policy_gradient_reduction_must_be_known():
    with pytest.raises(ConfigError, match="policy_gradient_reduction must be one of"):
        GanConfig(policy_gradient_reduction="max")


def test_summed_and_clipped_policy_gradient_ignores_the_reward_scale():
    """The authors' sum over B x T tokens is clipped at grad_clip, so a round's step does not shrink with the rewards."""
    torch.manual_seed(0)
    model = make_tiny_model(vocab_size=V, embedding_size=8, hidden_size=8, num_layers=1)
    batch = _real()[:64]
    rewards = torch.rand(batch.shape)

    def clipped_gradient(reduction, scale):
        model.zero_grad(set_to_none=True)
        policy_gradient_loss(token_log_probabilities(model, batch, 0), rewards * scale, reduction).backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        return float(norm), torch.cat([p.grad.flatten() for p in model.parameters()])

    norm, full = clipped_gradient("sum", 1.0)
    _, quarter = clipped_gradient("sum", 0.25)  # still above the threshold
    assert norm > 4 * 5.0  # far above the threshold: clipping sets every step's size
    torch.testing.assert_close(full, quarter)
    _, mean_full = clipped_gradient("mean", 1.0)
    _, mean_tenth = clipped_gradient("mean", 0.1)
    torch.testing.assert_close(mean_tenth, mean_full * 0.1)


def test_held_out_real_sequences_are_split_from_the_discriminators_positives(tmp_path):
    trainer = _trainer(tmp_path / "run", rounds=1)
    assert len(trainer.d_heldout) == 0 and torch.equal(trainer.d_real, trainer.real)
    held = _trainer(tmp_path / "held", rounds=1, gan={"d_holdout": 32})
    assert torch.equal(held.d_real, _real()[:-32]) and torch.equal(held.d_heldout, _real()[-32:])
    assert torch.equal(held.real, _real())  # MLE still trains on all of them
    real, _ = held._negatives(10_000)  # more than there are: all of D's positives, none held out
    assert torch.equal(real, held.d_real)
    record = held._d_step(64, 1)
    assert {"d_heldout_loss", "d_heldout_real_accuracy", "d_heldout_accuracy"} <= set(record)
    with pytest.raises(ValueError, match="d_holdout"):
        _trainer(tmp_path / "x", rounds=1, real=_real()[:32], gan={"d_holdout": 32})


def test_the_gate_undoes_a_discriminator_step_that_hurts_on_held_out_data(tmp_path):
    def trainer(gate):
        made = _trainer(tmp_path / str(gate), rounds=1, gan={"d_holdout": 32, "d_gate": gate})
        for group in made.d_optimizer.param_groups:
            group["lr"] = 50.0  # a step this large wrecks D
        return made

    gated, ungated = trainer(True), trainer(False)
    before = {k: v.clone() for k, v in gated.discriminator.state_dict().items()}
    gated_record, ungated_record = gated._d_step(64, 1), ungated._d_step(64, 1)
    assert ungated_record["d_heldout_loss"] > 1.0  # the step did hurt: ln 2 = 0.69 is a coin's loss
    assert gated_record["d_steps_kept"] == 0 and gated_record["d_steps_taken"] == 1
    for name, value in gated.discriminator.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=name)


def test_d_gate_needs_held_out_sequences():
    with pytest.raises(ConfigError, match="d_gate needs held-out"):
        GanConfig(d_gate=True)
