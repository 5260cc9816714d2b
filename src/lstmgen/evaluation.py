"""Held-out loss: a full pass over a token stream with carried state, never an estimate from a few batches.

For speed the stream is cut into B contiguous chunks scored side by side. So that a chunk's first
tokens are not scored from an empty state (which would overstate the loss), each chunk is preceded by
up to ``warmup`` tokens of the text before it, fed to the model but not scored. Every token but the
first is scored exactly once.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import LossReport
from .model import RecurrentLanguageModel, detach_state


def _chunks(tokens: np.ndarray, batch_size: int, warmup: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, targets and a scoring mask, each [B, L]; rows right-padded (harmless for a causal model)."""
    predictions = len(tokens) - 1
    batch_size = max(1, min(batch_size, predictions))
    bounds = np.linspace(0, predictions, batch_size + 1).round().astype(int)
    rows = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        first = max(0, start - warmup)
        rows.append((first, start, end))
    length = max(end - first for first, _, end in rows)
    inputs = torch.zeros(len(rows), length, dtype=torch.long)
    targets = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    array = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    for row, (first, start, end) in enumerate(rows):
        inputs[row, : end - first] = array[first:end]
        targets[row, : end - first] = array[first + 1 : end + 1]
        mask[row, start - first : end - first] = True
    return inputs, targets, mask


@torch.inference_mode()
def evaluate(
    model: RecurrentLanguageModel,
    tokens: np.ndarray,
    batch_size: int = 16,
    seq_length: int = 256,
    warmup: int = 256,
    unknown: int = 0,
) -> LossReport:
    """Mean negative log-likelihood (nats/token) of ``tokens[1:]`` given everything before each token."""
    if len(tokens) < 2:
        raise ValueError(f"evaluation needs at least 2 tokens, got {len(tokens)}")
    was_training = model.training
    model.eval()
    device = model.output.weight.device
    inputs, targets, mask = _chunks(tokens, batch_size, warmup)
    state = model.init_state(inputs.shape[0], device)
    total = torch.zeros((), dtype=torch.float64)
    for start in range(0, inputs.shape[1], seq_length):
        window = slice(start, start + seq_length)
        logits, state = model(inputs[:, window].to(device), state)
        state = detach_state(state)
        losses = F.cross_entropy(logits.transpose(1, 2), targets[:, window].to(device), reduction="none")
        total += losses[mask[:, window].to(device)].double().sum().cpu()
    model.train(was_training)
    count = int(mask.sum())
    return LossReport(nats=float(total) / count, tokens=count, unknown=unknown)
