"""Rollout rewards: shape [B, T], each row from its own sequence, each column from its own prefix length."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_model
from lstmgen.gan.rollout import policy_gradient_loss, prefix_states, rollout_rewards
from lstmgen.gan.sequences import start_inputs
from lstmgen.model import RecurrentLanguageModel

V, T, FILL = 12, 6, 7


def _always(token: int) -> RecurrentLanguageModel:
    """A policy that puts all its mass on ``token`` whatever the input (huge output bias, zero weights)."""
    model = make_tiny_model(vocab_size=V, embedding_size=4, hidden_size=5, num_layers=1)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(-1e4)
        model.output.bias[token] = 0.0
    return model


def _score(sequences: torch.Tensor) -> torch.Tensor:
    # Depends on which sequence it is (first token) and on how many FILL tokens were completed.
    return 0.5 * (sequences[:, 0] % 2).float() + 0.5 * (sequences == FILL).float().mean(dim=1)


def test_rewards_keep_batch_and_time_order():
    torch.manual_seed(0)
    sequences = torch.randint(0, FILL, (5, T))  # no FILL token in the given sequences
    sequences[:, 0] = torch.tensor([0, 1, 2, 3, 4])
    rewards = rollout_rewards(_always(FILL), _score, sequences, rollouts=3)
    assert rewards.shape == (5, T)
    for b in range(5):
        for t in range(1, T + 1):  # prefix y_1..y_t kept, the T - t others completed with FILL
            expected = 0.5 * (b % 2) + 0.5 * (T - t) / T
            assert rewards[b, t - 1].item() == pytest.approx(expected), (b, t)


def test_rewards_equal_a_plain_loop_over_prefixes():
    torch.manual_seed(1)
    policy = _always(FILL)
    sequences = torch.randint(0, V, (4, T))
    rewards = rollout_rewards(policy, _score, sequences, rollouts=2)
    for b in range(4):
        for t in range(1, T):
            completed = torch.cat([sequences[b, :t], torch.full((T - t,), FILL)])[None]
            assert rewards[b, t - 1].item() == pytest.approx(_score(completed).item())
        assert rewards[b, -1].item() == pytest.approx(_score(sequences[b : b + 1]).item())


def test_prefix_states_equal_running_each_prefix():
    torch.manual_seed(2)
    model = make_tiny_model(vocab_size=V, embedding_size=4, hidden_size=5, num_layers=1)
    sequences = torch.randint(0, V, (3, T))
    states, logits = prefix_states(model, sequences, start_token=0)
    inputs = start_inputs(sequences, 0)
    for t in range(1, T):
        out, state = model(inputs[:, : t + 1])
        torch.testing.assert_close(states[t - 1][1], state[1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(logits[t - 1], out[:, -1], rtol=1e-5, atol=1e-5)


def test_policy_gradient_weights_each_token_by_its_own_reward():
    log_probs = torch.zeros(2, 3, requires_grad=True)
    rewards = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    policy_gradient_loss(log_probs, rewards).backward()  # the authors' sum over the B x T tokens
    torch.testing.assert_close(log_probs.grad, -rewards)
    log_probs.grad = None
    policy_gradient_loss(log_probs, rewards, "mean").backward()
    torch.testing.assert_close(log_probs.grad, -rewards / 6)
    with pytest.raises(ValueError, match="shape"):
        policy_gradient_loss(log_probs, rewards.T)
    with pytest.raises(ValueError, match="reduction"):
        policy_gradient_loss(log_probs, rewards, "max")
