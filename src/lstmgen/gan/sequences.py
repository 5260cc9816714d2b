"""Fixed-length sequences from a start token: exact fast sampling, per-sequence NLL, one MLE epoch.

SeqGAN's sequences all start from the same start token with a zero state:

    inputs  = [start, y_1, ..., y_{T-1}]   ->  model  ->  logits [B, T, V] predicting  y_1, ..., y_T

Sampling steps the generator through the core's ``decoding.Stepper`` (the hand-stepped LSTM) and draws
with ``decoding.sample_categorical``, the exact sampler for large batches (one draw from a 5,000-way
softmax per row and step, for up to ~20,000 rows at a time in the rollouts; about a sixth of the time of
``torch.multinomial`` there).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..decoding import Stepper, Temperature, sample_categorical
from ..model import RecurrentLanguageModel, device_of, evaluation_mode


def _tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature == 1.0 else Temperature(temperature)(logits)


def start_inputs(sequences: torch.Tensor, start_token: int) -> torch.Tensor:
    """[B, T] sequences -> [B, T] inputs: the start token, then the sequence shifted right by one."""
    start = torch.full_like(sequences[:, :1], start_token)
    return torch.cat([start, sequences[:, :-1]], dim=1)


def draw_sequences(stepper: Stepper, logits: torch.Tensor, steps: int, temperature: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """From a stepper's streams and their next-token logits [B, V], draw ``steps`` tokens per stream -> [B, steps]."""
    tokens = []
    for step in range(steps):
        chosen = sample_categorical(_tempered(logits, temperature), generator)  # [B]
        tokens.append(chosen)
        if step + 1 < steps:
            logits = stepper.step(chosen)  # one recurrent step: [B] -> [B, V]
    return torch.stack(tokens, dim=1) if tokens else logits.new_zeros((logits.shape[0], 0), dtype=torch.long)


def sample_sequences(
    model: RecurrentLanguageModel,
    count: int,
    length: int,
    start_token: int = 0,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 5000,
    suppress: Sequence[int] = (),
) -> torch.Tensor:
    """``count`` sequences [count, length] drawn from the model at ``temperature``, from the start token;
    ``suppress``: ids never drawn (a tokenizer's ``never_generated``, such as the unknown symbol)."""
    device = device_of(model)
    chunks = []
    for done in range(0, count, batch_size):
        rows = min(batch_size, count - done)
        stepper = Stepper(model, suppress=suppress)
        logits = stepper.prefill(torch.full((rows, 1), start_token, dtype=torch.long, device=device), rows)  # [rows, V]
        chunks.append(draw_sequences(stepper, logits, length, temperature, generator))
    return torch.cat(chunks).cpu()


def token_log_probabilities(model: RecurrentLanguageModel, sequences: torch.Tensor, start_token: int,
                            temperature: float = 1.0) -> torch.Tensor:
    """log p(y_t | y_<t) of every token of sequences [B, T] -> [B, T] (with gradient when enabled)."""
    device = device_of(model)
    sequences = sequences.to(device)
    logits, _ = model(start_inputs(sequences, start_token))  # [B, T, V]
    # Fused log-softmax + pick (a quarter faster than log_softmax then gather, and no [B, T, V] copy).
    return -F.cross_entropy(_tempered(logits, temperature).transpose(1, 2), sequences, reduction="none")


def sequence_nll(model: RecurrentLanguageModel, sequences: torch.Tensor, start_token: int = 0,
                 temperature: float = 1.0, batch_size: int = 500) -> torch.Tensor:
    """Mean per-token NLL (nats) of each sequence [N, T] under the model at ``temperature`` -> [N] float64."""
    with evaluation_mode(model):
        values = [-token_log_probabilities(model, chunk, start_token, temperature).double().mean(dim=1).cpu()
                  for chunk in sequences.split(batch_size)]
    return torch.cat(values)


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
