"""Token streams, contiguous splits, and the truncated-BPTT batch iterator.

The training stream is folded into B parallel streams, each a contiguous slice of the text, and read
in windows of T tokens. Window k of stream b continues exactly where window k-1 of stream b stopped, so
the recurrent state can be carried from one window to the next (and detached between them):

    tokens:  a b c d e f g h i j k l m n o p q r s t u v w x y     (N = 25, B = 3 -> n = 8 per stream)

    stream 0: a b c d | e f g h        inputs  = window of T = 4 tokens
    stream 1: i j k l | m n o p        targets = the same window shifted one token right
    stream 2: q r s t | u v w x                  (stream 0's targets: b c d e | f g h i)
              step 0    step 1

The iterator's position (epoch, window) is its cursor; saving and restoring it lets a run resume
exactly where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


class DataError(ValueError):
    """The data cannot be batched as asked; the message says what to change."""


@dataclass(frozen=True)
class Splits:
    train: Sequence
    val: Sequence
    test: Sequence


def split_contiguous(sequence: Sequence, val_fraction: float = 0.1, test_fraction: float = 0.0) -> Splits:
    """Split a text or token stream contiguously: train first, then validation, then test (the end).

    The default (last 10% for validation) is the usual split of char-rnn and the Keras example, so
    figures compare directly with published ones.
    """
    n = len(sequence)
    n_train = int(n * (1.0 - val_fraction - test_fraction))  # floor: 1,115,394 chars -> 1,003,854 + 111,540
    n_test = int(round(n * test_fraction))
    n_val = n - n_train - n_test
    if n_train < 2:
        raise DataError(f"the corpus has {n} symbols, too few to train on after the validation/test split")
    if val_fraction > 0 and n_val < 2:
        raise DataError(f"the corpus has {n} symbols: too few for a validation split of {val_fraction:.0%}")
    return Splits(sequence[:n_train], sequence[n_train : n_train + n_val], sequence[n_train + n_val :])


def fold_streams(tokens: np.ndarray, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold a token stream into inputs and targets of shape [B, n], targets shifted by one token."""
    per_stream = (len(tokens) - 1) // batch_size
    if per_stream < 1:
        raise DataError(
            f"{len(tokens)} tokens cannot fill {batch_size} parallel streams; lower --batch-size "
            f"(at most {max(1, len(tokens) - 1)}) or use a longer corpus"
        )
    used = per_stream * batch_size
    array = np.asarray(tokens, dtype=np.int64)
    inputs = torch.from_numpy(array[:used].reshape(batch_size, per_stream).copy())
    targets = torch.from_numpy(array[1 : used + 1].reshape(batch_size, per_stream).copy())
    return inputs, targets


class BatchIterator:
    """Windows of [B, T] (inputs, targets) over B parallel streams, with a resumable cursor."""

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_length: int) -> None:
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.inputs, self.targets = fold_streams(tokens, batch_size)  # [B, n] each
        self.epoch = 0
        self.window = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.inputs.shape[1] / self.seq_length)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Return (inputs [B, T], targets [B, T], starts_epoch); the last window may be shorter than T.

        ``starts_epoch`` is True for the first window of an epoch: the caller resets the carried state
        there, since the streams jump back to their beginnings.
        """
        if self.window >= self.steps_per_epoch:
            self.epoch += 1
            self.window = 0
        start = self.window * self.seq_length
        end = start + self.seq_length
        starts_epoch = self.window == 0
        self.window += 1
        return self.inputs[:, start:end], self.targets[:, start:end], starts_epoch

    @property
    def progress(self) -> float:
        """Epochs completed, as a fraction (2.5 = halfway through the third epoch)."""
        return self.epoch + self.window / self.steps_per_epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "window": self.window, "batch_size": self.batch_size, "seq_length": self.seq_length}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["batch_size"] != self.batch_size or state["seq_length"] != self.seq_length:
            raise DataError(
                "the checkpoint's data cursor was saved with batch size "
                f"{state['batch_size']} and window {state['seq_length']}; resume with the same settings"
            )
        self.epoch = int(state["epoch"])
        self.window = int(state["window"])
