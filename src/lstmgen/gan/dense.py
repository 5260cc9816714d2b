"""Dense rewards (the ScratchGAN recipe): one reward per token from a discriminator that scores every prefix.

For generated sequences Y [B, T] and the discriminator's P(real) of each prefix D [B, T]
(deepmind-research ``scratchgan/losses.py``, ``reinforce_loss``):

    reward      r_t = 2 D(y_1..y_t) - 1                         in (-1, 1): "MaskGAN uses log D; this is more stable"
    return      R_t = sum_{s >= t} discount^(s - t) r_s         the discounted rewards still to come
    baseline    b  <- decay * b + (1 - decay) * mean(R)          a moving average over batches, updated first
    loss        -mean over the B x T tokens of (R_t - b) log p(y_t | y_<t)

No rollouts: where SeqGAN completes every prefix 16 times to score it (T - 1 extra passes of the generator
and (T - 1) x 16 discriminator calls per sequence), this costs one discriminator pass.
"""

from __future__ import annotations

import torch

from .recurrent_discriminator import RecurrentDiscriminator


def prefix_rewards(discriminator: RecurrentDiscriminator, sequences: torch.Tensor) -> torch.Tensor:
    """r_t = 2 D(y_<=t) - 1 for sequences [B, T] -> [B, T] (eval mode, no gradient)."""
    return 2.0 * discriminator.prefix_probabilities(sequences).cpu() - 1.0


def discounted_returns(rewards: torch.Tensor, discount: float) -> torch.Tensor:
    """R_t = r_t + discount * R_{t+1} for rewards [B, T] -> [B, T] (R_T = r_T)."""
    returns = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + discount * running
        returns[:, t] = running
    return returns


def moving_baseline(baseline: float, returns: torch.Tensor, decay: float) -> float:
    """The baseline after this batch: decay * baseline + (1 - decay) * mean return."""
    return decay * baseline + (1.0 - decay) * float(returns.mean())


def dense_policy_loss(log_probabilities: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """REINFORCE with per-token advantages, both [B, T]: -mean(advantage * log p)."""
    if log_probabilities.shape != advantages.shape:
        raise ValueError(f"log-probabilities {tuple(log_probabilities.shape)} and advantages {tuple(advantages.shape)} differ in shape")
    return -(advantages.to(log_probabilities.device) * log_probabilities).mean()
