"""The adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs"): the output layer of a
model whose vocabulary is large.

A word model's softmax over V words costs H x V multiply-adds per token (a 14,000-word vocabulary at H = 200:
2.8 M, against 0.6 M for a 2 x 200 LSTM). Word frequencies follow Zipf's law, so the head, a full-width layer
over the most frequent ids (those below the first cutoff) plus one logit per cluster, covers most tokens; each
later range of ids is a cluster behind a projection a quarter as wide as the one before. Training pays for a
cluster only on the tokens whose target falls in it (``token_losses``). The ids must be ordered by frequency,
as lstmgen's word, symbol and ABC tokenizers order them (a BPE vocabulary's merges come roughly so).

Nothing is approximated when the model is read: ``log_probabilities`` is the whole distribution, each id's
log-probability being its cluster's plus its own within the cluster, so sampling, scoring, beam search and
every processor see exact log-probabilities (normalised logits: a softmax over them gives them back).
"""

from __future__ import annotations

import torch
from torch import nn

DIVISION = 4.0  # each cluster's projection is this many times narrower than the one before (PyTorch's default)
HEAD = 2000  # ids in the automatic head: 90 % of Tiny Shakespeare's words, 97 % of COCO captions'
SMALLEST = 8000  # the word plan's full softmax up to here: at 4,096 BPE ids an adaptive one trained no faster and scored worse


def automatic_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """The word plan's cutoffs: none up to SMALLEST ids; else a head of HEAD ids and clusters four times larger
    each (2,000, 8,000, 32,000, ...: each is a quarter as wide), the last holding at least HEAD ids."""
    if vocab_size <= SMALLEST:
        return ()
    cutoffs = [HEAD]
    while cutoffs[-1] * 4 + HEAD <= vocab_size:
        cutoffs.append(cutoffs[-1] * 4)
    return tuple(cutoffs)


def adaptive_output(hidden_size: int, vocab_size: int, cutoffs: tuple[int, ...]) -> nn.AdaptiveLogSoftmaxWithLoss:
    """The output layer [H] -> log-probabilities over V ids, with ``cutoffs`` (increasing, each below V)."""
    return nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, list(cutoffs), div_value=DIVISION, head_bias=True)


def log_probabilities(output: nn.AdaptiveLogSoftmaxWithLoss, hidden: torch.Tensor) -> torch.Tensor:
    """hidden [..., H] -> the exact log-probability of every id [..., V] (each row sums to 1 in probability)."""
    flat = hidden.reshape(-1, hidden.shape[-1])  # [N, H]
    return output.log_prob(flat).view(*hidden.shape[:-1], output.n_classes)


def token_losses(output: nn.AdaptiveLogSoftmaxWithLoss, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """hidden [B, T, H], targets [B, T] -> each target's negative log-probability [B, T], computing only the head
    and, per cluster, the rows whose target is in it (what makes training cheap)."""
    flat = hidden.reshape(-1, hidden.shape[-1])  # [B*T, H]
    return -output(flat, targets.reshape(-1)).output.float().view(targets.shape)  # fp32 under autocast too


def cluster_widths(hidden_size: int, cutoffs: tuple[int, ...]) -> list[int]:
    """Each cluster's projection width, H / 4^(i+1) for cluster i (from 0), as nn.AdaptiveLogSoftmaxWithLoss sizes them."""
    return [int(hidden_size // (DIVISION ** (index + 1))) for index in range(len(cutoffs))]


def adaptive_parameter_count(hidden_size: int, vocab_size: int, cutoffs: tuple[int, ...]) -> int:
    """Parameters of ``adaptive_output`` by formula: the head H x (first cutoff + clusters) and its biases; each
    cluster a projection H x width and width x its ids, no biases."""
    head = cutoffs[0] + len(cutoffs)
    bounds = (*cutoffs, vocab_size)
    return hidden_size * head + head + sum(hidden_size * width + width * (bounds[index + 1] - bounds[index])
                                           for index, width in enumerate(cluster_widths(hidden_size, cutoffs)))


def adaptive_multiply_adds(hidden_size: int, cutoffs: tuple[int, ...]) -> int:
    """Per token, at most: the head and every cluster's projection (a cluster's own ids are computed only for the
    tokens whose target is in it)."""
    return hidden_size * (cutoffs[0] + len(cutoffs)) + sum(hidden_size * width for width in cluster_widths(hidden_size, cutoffs))
