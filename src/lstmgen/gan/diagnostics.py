"""What a run's discriminator has learnt: does it generalise to real sequences it never saw, and do its rewards
follow what a judge (the oracle, or the starting model on real text) finds likely?

    accuracy    P(real) > 0.5 on real training sequences (its positives), on held-out real sequences (never
                its positives: a D that memorises calls them fake), and P(real) < 0.5 on generated ones
    spearman    rank correlation, over generated sequences, between D's P(real) of the whole sequence and the
                judge's log-likelihood of it (> 0: D rewards what the judge finds likely)
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .discriminator import AnyDiscriminator

LogLikelihood = Callable[[torch.Tensor], torch.Tensor]  # sequences [N, T] -> log-likelihood [N] under a judge


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their mean rank (for Spearman's correlation)."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values), dtype=np.float64)
    ranked[order] = np.arange(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranked[order[start:end]] = (start + end - 1) / 2
            start = end
    return ranked


def spearman(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    x, y = ranks(np.asarray(a, dtype=np.float64)), ranks(np.asarray(b, dtype=np.float64))
    x, y = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


@torch.no_grad()
def discriminator_diagnostics(discriminator: AnyDiscriminator, generated: torch.Tensor, training: torch.Tensor,
                              held_out: torch.Tensor, log_likelihood: LogLikelihood) -> dict[str, float]:
    """The discriminator's view of generated, training (its positives) and held-out real sequences, all [N, T]."""
    p_generated = discriminator.real_probability(generated).cpu()
    p_training = discriminator.real_probability(training).cpu()
    p_held_out = discriminator.real_probability(held_out).cpu()
    return {
        "p_real_generated": float(p_generated.mean()), "p_real_training": float(p_training.mean()),
        "p_real_held_out": float(p_held_out.mean()),
        "accuracy_generated": float((p_generated < 0.5).float().mean()),
        "accuracy_training": float((p_training > 0.5).float().mean()),
        "accuracy_held_out": float((p_held_out > 0.5).float().mean()),
        "spearman_reward_vs_judge": spearman(p_generated.numpy(), log_likelihood(generated).cpu().numpy()),
    }
