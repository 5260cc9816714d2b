"""Fixed-length sequences from a start token: exact fast sampling, per-sequence NLL, one MLE epoch.

SeqGAN's sequences all start from the same start token with a zero state:

    inputs  = [start, y_1, ..., y_{T-1}]   ->  model  ->  logits [B, T, V] predicting  y_1, ..., y_T

Sampling needs one draw from a 5,000-way softmax per row and step, for up to ~20,000 rows at a time
(the rollouts): ``sampling.sample_categorical``, the core's exact sampler for large batches (about a
sixth of the time of ``torch.multinomial`` there). The stepping loops run without oneDNN
(``generation.without_onednn``), as generation does.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..model import RecurrentLanguageModel, State
from ..generation import without_onednn
from ..sampling import Temperature, sample_categorical


def _tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else Temperature(temperature)(logits)


def start_inputs(sequences: torch.Tensor, start_token: int) -> torch.Tensor:
    """[B, T] sequences -> [B, T] inputs: the start token, then the sequence shifted right by one."""
    start = torch.full_like(sequences[:, :1], start_token)
    return torch.cat([start, sequences[:, :-1]], dim=1)


@torch.no_grad()
def continue_sequences(
    model: RecurrentLanguageModel,
    state: State,
    last_logits: torch.Tensor,
    steps: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """From carried state and the next-token logits [B, V], draw ``steps`` tokens per row -> [B, steps]."""
    tokens = []
    logits = last_logits
    with without_onednn():
        for step in range(steps):
            chosen = sample_categorical(_tempered(logits, temperature), generator)  # [B]
            tokens.append(chosen)
            if step + 1 < steps:
                out, state = model(chosen[:, None], state)  # one recurrent step: [B, 1] -> [B, 1, V]
                logits = out[:, -1]
    return torch.stack(tokens, dim=1) if tokens else last_logits.new_zeros((last_logits.shape[0], 0), dtype=torch.long)


@torch.no_grad()
def sample_sequences(
    model: RecurrentLanguageModel,
    count: int,
    length: int,
    start_token: int = 0,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 5000,
) -> torch.Tensor:
    """``count`` sequences [count, length] drawn from the model at ``temperature``, from the start token."""
    was_training = model.training
    model.eval()
    device = model.output.weight.device
    chunks = []
    for done in range(0, count, batch_size):
        rows = min(batch_size, count - done)
        start = torch.full((rows, 1), start_token, dtype=torch.long, device=device)
        logits, state = model(start, model.init_state(rows, device))  # prefill the start token once
        chunks.append(continue_sequences(model, state, logits[:, -1], length, temperature, generator))
    model.train(was_training)
    return torch.cat(chunks).cpu()


def token_log_probabilities(model: RecurrentLanguageModel, sequences: torch.Tensor, start_token: int,
                            temperature: float = 1.0) -> torch.Tensor:
    """log p(y_t | y_<t) of every token of sequences [B, T] -> [B, T] (with gradient when enabled)."""
    device = model.output.weight.device
    sequences = sequences.to(device)
    logits, _ = model(start_inputs(sequences, start_token))  # [B, T, V]
    # Fused log-softmax + pick (a quarter faster than log_softmax then gather, and no [B, T, V] copy).
    return -F.cross_entropy(_tempered(logits, temperature).transpose(1, 2), sequences, reduction="none")


@torch.no_grad()
def sequence_nll(model: RecurrentLanguageModel, sequences: torch.Tensor, start_token: int = 0,
                 temperature: float = 1.0, batch_size: int = 500) -> torch.Tensor:
    """Mean per-token NLL (nats) of each sequence [N, T] under the model at ``temperature`` -> [N] float64."""
    was_training = model.training
    model.eval()
    values = [-token_log_probabilities(model, chunk, start_token, temperature).double().mean(dim=1).cpu()
              for chunk in sequences.split(batch_size)]
    model.train(was_training)
    return torch.cat(values)


def mean_and_error(values: torch.Tensor | np.ndarray | Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n))."""
    array = np.asarray(values, dtype=np.float64)
    if len(array) < 2:
        return float(array.mean()), math.nan
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array)))


def mle_epoch(
    model: RecurrentLanguageModel,
    optimizer: torch.optim.Optimizer,
    sequences: torch.Tensor,
    batch_size: int,
    start_token: int,
    grad_clip: float,
    generator: torch.Generator | None = None,
) -> float:
    """One shuffled pass of teacher-forced cross-entropy over sequences [N, T]; the mean training loss."""
    model.train()
    order = torch.randperm(len(sequences), generator=generator)
    losses = []
    for start in range(0, len(sequences), batch_size):
        batch = sequences[order[start : start + batch_size]]
        loss = -token_log_probabilities(model, batch, start_token).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
