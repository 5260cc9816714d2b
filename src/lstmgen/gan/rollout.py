"""Monte-Carlo rollout rewards, batched: every prefix x every rollout completed in one set of steps.

For sequences Y [B, T], the reward of token t (1-based) is the discriminator's mean P(real) over R
completions of the prefix y_1..y_t drawn from the rollout policy; the reward of the last token is
P(real) of Y itself. The authors' code loops over t and over the R rollouts, re-running the prefix
each time. Here:

1. one pass over the inputs [start, y_1, ..., y_{T-1}] steps the rollout policy once per position (the
   core's ``decoding.Stepper``) and keeps the state after every prefix (t = 1..T-1) and the logits for y_{t+1};
2. the (T-1) x B x R completions are laid out prefix-major (row = ((t-1) * B + b) * R + r), so the
   rows still running after k extra steps, those with t < T - k, are a leading block: each step runs
   only on live rows, and no work is spent on finished ones;
3. the discriminator scores all (T-1) B R completed sequences at once.

The result is indexed [b, t-1] and never mixes sequences (tests/gan/test_gan_rollout.py checks the order).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..decoding import Stepper, sample_categorical
from ..model import RecurrentLanguageModel, State
from .config import POLICY_GRADIENT_REDUCTIONS
from .sequences import start_inputs

Scorer = Callable[[torch.Tensor], torch.Tensor]  # sequences [N, T] -> P(real) [N]


def prefix_states(model: RecurrentLanguageModel, sequences: torch.Tensor, start_token: int,
                  suppress: Sequence[int] = ()) -> tuple[list[State], torch.Tensor]:
    """States after each prefix y_1..y_t (t = 1..T-1) and the logits for y_{t+1}: ([State] * (T-1), [T-1, B, V])."""
    inputs = start_inputs(sequences, start_token)  # [B, T]
    stepper = Stepper(model, suppress=suppress)
    stepper.prefill(inputs[:, :1], len(inputs))  # the start token
    states, logits = [], []
    for t in range(1, inputs.shape[1]):
        logits.append(stepper.step(inputs[:, t]).clone())  # [B, V]: after start, y_1..y_t, predicting y_{t+1}
        states.append(stepper.state())
    return states, torch.stack(logits) if logits else torch.empty(0)


def rollout_rewards(
    model: RecurrentLanguageModel,
    score: Scorer,
    sequences: torch.Tensor,
    rollouts: int,
    start_token: int = 0,
    generator: torch.Generator | None = None,
    suppress: Sequence[int] = (),
) -> torch.Tensor:
    """Per-token rewards [B, T] for sequences [B, T]: mean P(real) over ``rollouts`` completions of each prefix
    (``suppress``: ids the completions never draw)."""
    batch, length = sequences.shape
    rewards = torch.empty(batch, length)
    rewards[:, -1] = score(sequences).cpu()
    if length > 1:
        states, logits = prefix_states(model, sequences, start_token, suppress)  # (T-1) states of [L, B, H]; [T-1, B, V]
        R = rollouts
        # Prefix-major layout: row ((t-1) * B + b) * R + r.
        state = tuple(torch.cat([s[i].repeat_interleave(R, dim=1) for s in states], dim=1) for i in range(len(states[0])))
        next_logits = logits.repeat_interleave(R, dim=1).reshape((length - 1) * batch * R, -1)  # [(T-1)BR, V]
        completed = sequences.repeat(length - 1, 1).repeat_interleave(R, dim=0).clone()  # [(T-1)BR, T]
        prefix_length = torch.arange(1, length).repeat_interleave(batch * R)  # t of every row, ascending
        stepper = Stepper(model, suppress=suppress)
        stepper.load_state(state)  # continue every completion from the state after its prefix
        for k in range(length - 1):
            live = int((prefix_length < length - k).sum())  # rows t < T - k still need position t + k
            if live == 0:
                break
            chosen = sample_categorical(next_logits[:live], generator)  # [live]
            position = prefix_length[:live] + k  # 0-based column t + k
            completed[torch.arange(live), position] = chosen
            if k + 1 < length - 1:
                next_logits = stepper.step(chosen)  # the live rows are the leading ones; the rest are dropped
        scores = score(completed).cpu().view(length - 1, batch, R)  # [T-1, B, R]
        rewards[:, :-1] = scores.mean(dim=2).transpose(0, 1)  # [B, T-1]
    return rewards


def policy_gradient_loss(log_probabilities: torch.Tensor, rewards: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """REINFORCE with per-token rewards, both [B, T]: -sum(log p(y_t) * Q_t), or the mean over the B x T tokens.

    The authors' code sums. That matters once the gradient's norm is clipped (as theirs is, at 5): a sum
    over 64 x 20 tokens is always far above the threshold, so every step has the same size whatever the
    rewards' scale, where the mean's steps shrink with the rewards as the discriminator wins.
    """
    if log_probabilities.shape != rewards.shape:
        raise ValueError(f"log-probabilities {tuple(log_probabilities.shape)} and rewards {tuple(rewards.shape)} differ in shape")
    if reduction not in POLICY_GRADIENT_REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(POLICY_GRADIENT_REDUCTIONS)}, got {reduction!r}")
    weighted = log_probabilities * rewards.to(log_probabilities.device)  # [B, T]
    return -(weighted.sum() if reduction == "sum" else weighted.mean())


@torch.no_grad()
def update_rollout_policy(rollout: RecurrentLanguageModel, generator: RecurrentLanguageModel, rate: float) -> None:
    """theta_rollout <- rate * theta_rollout + (1 - rate) * theta_generator (rate 0 = a plain copy)."""
    for target, source in zip(rollout.parameters(), generator.parameters()):
        target.mul_(rate).add_(source, alpha=1 - rate)
