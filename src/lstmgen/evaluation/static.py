"""Held-out loss: a full pass over a token stream with carried state, never an estimate from a few batches,
and the cold-start measure beside it.

For speed the stream is cut into B contiguous chunks scored side by side. So that a chunk's first
tokens are not scored from an empty state (which would overstate the loss), each chunk is preceded by
up to ``warmup`` tokens of the text before it, fed to the model but not scored. Every token but the
first is scored exactly once. Each window is sliced from the stream as it is needed, so the stream may
be a memory map: nothing copies it whole.

**Cold start.** Generation starts every prompt from a fresh state (``model.init_state``), but the full
pass scores every token in context. A model can be good in context and lost from a fresh state (it
happened: "ROMEO:" from a fresh state gave noise). So every evaluation also scores K-token segments
of the held-out text from a fresh state: the segment's first token is given, as a prompt's first
symbol would be, and the next K - 1 are scored. ``cold_start.fresh_nats`` is their mean NLL from the
fresh state, ``cold_start.context_nats`` the mean NLL of the same tokens in the full pass (with all
the text before them), and ``ratio`` = fresh / context (1.0 = the fresh state costs nothing). The
segments start at the beginnings of lines (where prompts start: the first line start after each of up to
``COLD_START_SEGMENTS`` evenly spaced points) when the text has line breaks, else at the points themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..model import RecurrentLanguageModel, detach_state, device_of, evaluation_mode
from .measures import ColdStart, LossReport

COLD_START_SEGMENTS = 256
COLD_START_TOKENS = 40  # per segment: the first is given, the next 39 are scored
# The most logits one forward call of an evaluation builds (64 MiB of float32; cross-entropy takes as much
# again): windows and segment batches shrink for large vocabularies. A 50,000-symbol vocabulary otherwise
# built [16, 256, V] and [256, 39, V] logits, several GB, for a model of a few thousand parameters.
EVALUATION_LOGITS = 1 << 24


def _fitting(count: int, per_item: int) -> int:
    """How many of ``count`` items of ``per_item`` logits each one forward call may take (at least one)."""
    return max(1, min(count, EVALUATION_LOGITS // max(1, per_item)))


@dataclass(frozen=True)
class _Row:
    """One chunk of the full pass: the model reads tokens[first:end] and scores predictions [start, end).

    Prediction i is the NLL of tokens[i + 1] after reading tokens[..i]; the warm-up is [first, start).
    """

    first: int
    start: int
    end: int


def split_rows(predictions: int, batch_size: int, warmup: int) -> list[_Row]:
    """The stream's ``predictions`` cut into (at most) ``batch_size`` contiguous rows, each after up to ``warmup``
    tokens of the text before it."""
    batch_size = max(1, min(batch_size, predictions))
    bounds = np.linspace(0, predictions, batch_size + 1).round().astype(int)
    return [_Row(max(0, int(start) - warmup), int(start), int(end)) for start, end in zip(bounds[:-1], bounds[1:])]


def windows(array: np.ndarray, rows: list[_Row], length: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The rows read side by side, ``length`` columns at a time: (column, inputs [B, S], targets [B, S], scored [B, S])
    with S = ``length`` but at the end, where it is what the longest row has left (so one row is read exactly). A
    row that has ended is padded; its padding is never scored (and a causal model ignores it)."""
    width = max(row.end - row.first for row in rows)
    for column in range(0, width, length):
        span = min(length, width - column)
        inputs = np.zeros((len(rows), span), dtype=np.int64)
        targets = np.zeros((len(rows), span), dtype=np.int64)
        scored = np.zeros((len(rows), span), dtype=bool)
        for r, row in enumerate(rows):
            lo = row.first + column  # prediction index of this window's first column
            hi = min(lo + span, row.end)
            if hi > lo:
                inputs[r, : hi - lo] = array[lo:hi]
                targets[r, : hi - lo] = array[lo + 1 : hi + 1]
                scored[r, max(row.start, lo) - lo : hi - lo] = True
        yield column, inputs, targets, scored


def line_start_positions(tokens: Sequence[int] | np.ndarray, separator: int | None, count: int = COLD_START_SEGMENTS,
                         length: int = COLD_START_TOKENS, scan: int = 4096, at_separator: bool = False) -> np.ndarray:
    """Start positions of up to ``count`` cold-start segments of ``length`` tokens, spread over the stream.

    From each of ``count`` evenly spaced points, the first line start at or after it within ``scan`` tokens:
    a position that follows a ``separator`` token (a line break) and is not one itself (no empty lines).
    Without a separator, or when no point finds one, the points themselves. Only small windows of the
    stream are read, so it may be a memory map of any size.
    """
    array = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    last = len(array) - length  # the latest start whose segment fits
    if last < 0 or count < 1:
        return np.zeros(0, dtype=np.int64)
    points = np.unique(np.linspace(0, last, min(count, last + 1)).round().astype(np.int64))
    if separator is None or last < 1:
        return points
    found = []
    for point in points.tolist():
        start = max(point, 1)
        window = np.asarray(array[start - 1 : min(start + scan, last + 1)])  # window[i] is the token before start + i
        hits = np.flatnonzero((window[:-1] == separator) & (window[1:] != separator))
        if len(hits):
            found.append(start + int(hits[0]) - int(at_separator))
    return np.unique(np.array(found, dtype=np.int64)) if found else points


def line_break_id(tokenizer) -> int | None:
    """The token id of a line break under ``tokenizer`` (where cold-start segments start), or None."""
    ids = tokenizer.encode("\n", unknown="skip")
    return int(ids[0]) if len(ids) == 1 else None


def segment_starts(tokens: Sequence[int] | np.ndarray, tokenizer, count: int = COLD_START_SEGMENTS,
                   length: int = COLD_START_TOKENS) -> np.ndarray:
    """Where a text's cold-start segments start, as a prompt would: at the beginnings of lines, or, for a model
    trained on documents, at the end-of-document tokens (given first, as generation feeds one before a prompt)."""
    if tokenizer.end_of_document is not None:
        return line_start_positions(tokens, tokenizer.end_of_document, count, length, at_separator=True)
    return line_start_positions(tokens, line_break_id(tokenizer), count, length)


def fresh_state_losses(model: RecurrentLanguageModel, tokens: Sequence[int] | np.ndarray, positions: np.ndarray,
                       length: int = COLD_START_TOKENS, batch_size: int = 256) -> torch.Tensor:
    """NLL [S, length - 1] of tokens p+1 .. p+length-1 of each segment, read from a fresh state after token p."""
    array = np.asarray(tokens)
    device = device_of(model)
    offsets = np.arange(length)
    losses = []
    with evaluation_mode(model):
        batch_size = _fitting(batch_size, (length - 1) * model.embedding.weight.shape[0])  # embedding [V, E]: V logits per position
        for chunk in np.array_split(positions, max(1, -(-len(positions) // batch_size))):
            if len(chunk) == 0:
                continue
            segments = torch.from_numpy(array[chunk[:, None] + offsets].astype(np.int64)).to(device)  # [S, K]
            logits, _ = model(segments[:, :-1], model.init_state(len(chunk), device))  # [S, K-1, V]
            losses.append(F.cross_entropy(logits.transpose(1, 2).float(), segments[:, 1:], reduction="none").double().cpu())
    return torch.cat(losses) if losses else torch.zeros(0, length - 1, dtype=torch.float64)


def evaluate(
    model: RecurrentLanguageModel,
    tokens: Sequence[int] | np.ndarray,
    batch_size: int = 16,
    seq_length: int = 256,
    warmup: int = 256,
    unknown: int = 0,
    cold_start_positions: np.ndarray | None = None,
    cold_start_tokens: int = COLD_START_TOKENS,
    shard: tuple[int, int] = (0, 1),
    reduce: Callable[[list[float]], list[float]] | None = None,
    characters: int | None = None,
    bytes: int | None = None,
) -> LossReport:
    """Mean negative log-likelihood (nats/token) of ``tokens[1:]`` given everything before each token.

    With ``cold_start_positions`` (segment starts, see ``line_start_positions``) the report also holds the
    cold-start measure of those segments. ``shard`` = (index, count) scores only every count-th chunk and
    segment (from index), and ``reduce`` sums the partial sums over the shards (a distributed run's
    all-reduce): the report is then the exact full pass, whatever the number of shards. ``characters`` and
    ``bytes`` of the scored text (``scored_text_size``) add bits per character and per byte.
    """
    array = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    if len(array) < 2:
        raise ValueError(f"evaluation needs at least 2 tokens, got {len(array)}")
    index, count = shard
    positions = np.zeros(0, dtype=np.int64) if cold_start_positions is None else np.asarray(cold_start_positions, dtype=np.int64)
    # Predictions the cold-start measure scores in context: p .. p + K - 2 for every segment start p, with their
    # multiplicity (segments may overlap; each segment's tokens count once per segment, as in the fresh sum).
    wanted, weight = np.unique((positions[:, None] + np.arange(cold_start_tokens - 1)).ravel(), return_counts=True)
    rows = split_rows(len(array) - 1, batch_size, warmup)[index::count]
    sums = [0.0, 0.0, 0.0, 0.0]  # NLL, tokens scored, in-context NLL of the wanted predictions, their weight
    device = device_of(model)
    with evaluation_mode(model):
        if rows:
            state = model.init_state(len(rows), device)
            seq_length = _fitting(seq_length, len(rows) * model.embedding.weight.shape[0])  # embedding [V, E]: the carried state makes any window exact
            for column, inputs, targets, scored in windows(array, rows, seq_length):
                logits, state = model(torch.from_numpy(inputs).to(device), state)  # [B, S, V]
                state = detach_state(state)
                losses = F.cross_entropy(logits.transpose(1, 2).float(), torch.from_numpy(targets).to(device), reduction="none")
                losses = losses.double().cpu().numpy()  # [B, S]
                sums[0] += float(losses[scored].sum())
                sums[1] += int(scored.sum())
                for r, row in enumerate(rows):
                    lo = row.first + column
                    first, last = np.searchsorted(wanted, [max(row.start, lo), min(lo + seq_length, row.end)])
                    if last > first:
                        sums[2] += float((losses[r, wanted[first:last] - lo] * weight[first:last]).sum())
                        sums[3] += float(weight[first:last].sum())
        fresh = fresh_state_losses(model, array, positions[index::count], cold_start_tokens) if len(positions) else None
    sums += [float(fresh.sum()), float(fresh.numel())] if fresh is not None else [0.0, 0.0]
    if reduce is not None:
        sums = reduce(sums)
    total, scored_count, context_sum, context_count, fresh_sum, fresh_count = sums
    cold = None
    if len(positions):
        cold = ColdStart(fresh_nats=fresh_sum / fresh_count, context_nats=context_sum / context_count, segments=len(positions),
                         segment_tokens=cold_start_tokens)
    return LossReport(nats=total / scored_count, tokens=int(scored_count), unknown=unknown, cold_start=cold,
                      characters=characters, bytes=bytes)


def scored_text_size(tokenizer, first_token: int, characters: int, encoded_bytes: int) -> tuple[int, int]:
    """Characters and UTF-8 bytes of what a full pass scores: all of a text but its first token's."""
    first = tokenizer.token_text(int(first_token))
    return max(characters - len(first), 1), max(encoded_bytes - len(first.encode("utf-8", errors="surrogatepass")), 1)


def windowed_evaluate(model: RecurrentLanguageModel, tokens: Sequence[int] | np.ndarray, window: int = 256, windows: int = 200,
                      seed: int = 0, batch_size: int = 16) -> LossReport:
    """The "windowed" protocol (nanoGPT's estimate): ``windows`` random windows of ``window`` + 1 tokens, each read
    from a fresh state, every one of its ``window`` predictions scored (the first few with little context).
    Comparable with a transformer's loss at that context length; the carried-state pass (``evaluate``) is the
    measure of a recurrent model reading a whole text."""
    array = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    if window < 1 or windows < 1:
        raise ValueError(f"the windowed measure needs window >= 1 and windows >= 1, got {window} and {windows}")
    window = min(window, len(array) - 1)
    if window < 1:
        raise ValueError(f"evaluation needs at least 2 tokens, got {len(array)}")
    starts = np.random.default_rng(seed).integers(0, len(array) - window, size=windows)  # [K]
    device = device_of(model)
    total = 0.0
    with evaluation_mode(model):
        for first in range(0, windows, batch_size):
            chosen = starts[first : first + batch_size]
            rows = np.stack([array[s : s + window + 1] for s in chosen]).astype(np.int64)  # [b, N + 1]
            batch = torch.from_numpy(rows).to(device)
            logits, _ = model(batch[:, :-1], model.init_state(len(chosen), device))  # [b, N, V]
            total += float(F.cross_entropy(logits.transpose(1, 2).float(), batch[:, 1:], reduction="sum").double())
    return LossReport(nats=total / (windows * window), tokens=windows * window,
                      protocol=f"windowed, {windows} random windows of {window} tokens from a fresh state")
