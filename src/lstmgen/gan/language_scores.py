"""The LM score and reverse-LM score of Semeniuta et al. 2018 ("On accurate evaluation of GANs for language
generation"), for fixed-length sequences that all start from one start token.

    LM score          a model of the real data (here the starting MLE model) scores the generated samples:
                      their mean NLL, nats/token; low = samples the real-data model finds likely (quality)
    reverse-LM score  a small model trained on the generated samples scores real held-out sequences: their mean
                      NLL; low = the samples cover the real data (diversity and coverage together)

The reverse LM is an lstmgen ``RecurrentLanguageModel`` trained by ``sequences.mle_epoch`` (Adam); a tenth of
the samples is held out from it, and the epoch it ends at is the one with the lowest NLL on those *generated*
sequences, so nothing about the real test sequences chooses it.
"""

from __future__ import annotations

import copy

import torch

from ..config import ModelConfig
from ..model import RecurrentLanguageModel
from ..training.optimizers import make_optimizer
from .sequences import mle_epoch, sequence_nll


def lm_score(judge: RecurrentLanguageModel, samples: torch.Tensor, start_token: int) -> float:
    """Mean NLL (nats/token) of samples [N, T] under the judge at temperature 1."""
    return float(sequence_nll(judge, samples, start_token).mean())


def reverse_lm_score(samples: torch.Tensor, test: torch.Tensor, vocab_size: int, start_token: int, epochs: int = 10,
                     embedding_size: int = 32, hidden_size: int = 64, learning_rate: float = 1e-2, batch_size: int = 64,
                     seed: int = 0) -> dict[str, float]:
    """Train a small LM on samples [N, T] (a tenth held out to choose its epoch), score test [M, T] with it."""
    if len(samples) < 10:
        raise ValueError(f"a reverse LM needs at least 10 samples to train on, got {len(samples)}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    held = max(1, len(samples) // 10)
    train, held_out = samples[held:], samples[:held]
    model = RecurrentLanguageModel(ModelConfig(vocab_size=vocab_size, embedding_size=embedding_size, hidden_size=hidden_size))
    optimizer = make_optimizer("adam", model, learning_rate)
    best, best_state, best_epoch = float("inf"), copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, epochs + 1):
        mle_epoch(model, optimizer, train, batch_size, start_token, 5.0, generator)
        loss = float(sequence_nll(model, held_out, start_token).mean())
        if loss < best:
            best, best_state, best_epoch = loss, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return {"reverse_lm_score": float(sequence_nll(model, test, start_token).mean()), "reverse_lm_epoch": best_epoch,
            "reverse_lm_nll_samples": best}
