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
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch


class DataError(ValueError):
    """The data cannot be batched as asked; the message says what to change."""


REGIONS = ("train", "val", "test")


def split_bounds(length: int, val_fraction: float = 0.1, test_fraction: float = 0.0) -> dict[str, tuple[int, int]]:
    """[start, end) of the train, val and test regions of a sequence of ``length``: contiguous, in that order.

    The default (last 10% for validation) is the usual split of char-rnn and the Keras example, so
    figures compare directly with published ones.
    """
    train = int(length * (1.0 - val_fraction - test_fraction))  # floor: 1,115,394 chars -> 1,003,854 + 111,540
    test = int(round(length * test_fraction))
    return {"train": (0, train), "val": (train, length - test), "test": (length - test, length)}


@dataclass(frozen=True)
class Splits:
    train: Sequence
    val: Sequence
    test: Sequence


def split_contiguous(sequence: Sequence, val_fraction: float = 0.1, test_fraction: float = 0.0) -> Splits:
    """Split a text or token stream contiguously (``split_bounds``): train first, then validation, then test."""
    n = len(sequence)
    bounds = split_bounds(n, val_fraction, test_fraction)
    if bounds["train"][1] < 2:
        raise DataError(f"the corpus has {n} symbols, too few to train on after the validation/test split")
    if val_fraction > 0 and bounds["val"][1] - bounds["val"][0] < 2:
        raise DataError(f"the corpus has {n} symbols: too few for a validation split of {val_fraction:.0%}")
    return Splits(*(sequence[slice(*bounds[name])] for name in REGIONS))


class BatchIterator:
    """Windows of [B, T] (inputs, targets) over B parallel streams, with a resumable cursor.

    ``tokens`` may be a memory map: each window is gathered from it when asked for, so nothing copies the
    stream. ``rows`` = (first, last) keeps only those streams of the B (a distributed rank's share); the
    layout, the windows and the cursor are those of all B streams.
    """

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_length: int, rows: tuple[int, int] | None = None) -> None:
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.tokens = tokens
        self.per_stream = (len(tokens) - 1) // batch_size  # stream b reads tokens[b * n : (b + 1) * n] (+1 for targets)
        if self.per_stream < 1:
            raise DataError(
                f"{len(tokens)} tokens cannot fill {batch_size} parallel streams; lower --batch-size "
                f"(at most {max(1, len(tokens) - 1)}) or use a longer corpus"
            )
        first, last = rows if rows is not None else (0, batch_size)
        self.starts = np.arange(first, last, dtype=np.int64) * self.per_stream  # [b]: where each kept stream begins
        self.epoch = 0
        self.window = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.per_stream / self.seq_length)

    def next_batch(self) -> tuple["torch.Tensor", "torch.Tensor", bool]:
        """Return (inputs [b, T], targets [b, T], starts_epoch); the last window may be shorter than T.

        ``starts_epoch`` is True for the first window of an epoch: the caller resets the carried state
        there, since the streams jump back to their beginnings.
        """
        if self.window >= self.steps_per_epoch:
            self.epoch += 1
            self.window = 0
        start = self.window * self.seq_length
        end = min(start + self.seq_length, self.per_stream)
        starts_epoch = self.window == 0
        self.window += 1
        import torch  # here, not at the top: `lstmgen prepare` imports this module and needs no torch

        index = self.starts[:, None] + np.arange(start, end + 1)  # [b, t + 1]: the window and the token after it
        window = torch.from_numpy(np.asarray(self.tokens[index], dtype=np.int64))
        return window[:, :-1], window[:, 1:], starts_epoch

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
        if not 0 <= int(state["window"]) <= self.steps_per_epoch:
            raise DataError(f"the checkpoint's data cursor stands at window {state['window']} of an epoch of {self.steps_per_epoch} "
                            "windows: the checkpoint is corrupt or from a run on other data; resume from another checkpoint")
        self.epoch = int(state["epoch"])
        self.window = int(state["window"])
