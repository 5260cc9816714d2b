"""Choosing the next token from processed logits: greedy, multinomial, and the exact large-batch sampler."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely token of each row: logits [B, V] -> [B]."""
    return logits.argmax(dim=-1)


RACE_LIMIT = 512  # probabilities per call up to which multinomial runs the exponential race (one row of a character model)


def multinomial(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row from softmax(logits): [B, V] -> [B]; reproducible with a seeded ``generator``.

    Two exact draws, by size (one thread, ``benchmarks/decoding/draw_speed.py``):

    * up to ``RACE_LIMIT`` probabilities (one row of a character model), the exponential race: with
      q ~ Exp(1) per id, argmax(p / q) is id k with probability p_k. It is what ``torch.multinomial(p, 1)``
      computes (the same draws from the same generator state, tested), without the validity checks that cost
      it about twice the draw itself;
    * beyond, the inverse CDF: one uniform per row instead of one exponential per id, the one cost that grows
      with B x V (torch's exponential is drawn one value at a time, ~26 ns each here): 64 character streams
      draw in a quarter of the race's time, a 17,000-word row in a sixth, 64 of them in a tenth. The
      cumulative sum is taken in float64, so an id keeps its probability however far into a large vocabulary
      it sits (a float32 sum would round ids below half its ulp, 3e-8, to nothing).

    Probabilities from a softmax are valid unless the logits hold NaN (or every id is -inf), which is checked
    on the result.
    """
    probabilities = logits.softmax(dim=-1)  # [B, V]
    tokens, drawn = (race if probabilities.numel() <= RACE_LIMIT else inverse_cdf)(probabilities, generator)
    if math.isnan(float(drawn)):
        raise ValueError("the model's next-token probabilities are not numbers (NaN logits): the model is broken")
    return tokens


def multinomial_spans(logits: torch.Tensor, spans: Sequence[tuple[int, int, torch.Generator | None]]) -> torch.Tensor:
    """``multinomial`` for many groups of rows at once: logits [R, V] -> tokens [R], where rows ``start:end`` of
    each span draw with that span's generator exactly what ``multinomial(logits[start:end], generator)`` would.

    The batching engine's streams (one span per request) then cost one softmax, one division and one max for
    all of them instead of one each; only the random numbers are drawn span by span, from each span's own
    generator, into the same [rows, V] (race) or [rows, 1] (inverse CDF) places ``multinomial`` would fill.
    Every operation is row-wise, so a row's token does not depend on the rows beside it. The spans cover
    the rows in order; a span takes the race or the inverse CDF by its own size, as ``multinomial`` does.
    """
    probabilities = logits.softmax(dim=-1)  # [R, V]
    vocab = probabilities.shape[-1]
    if all((end - start) * vocab <= RACE_LIMIT for start, end, _ in spans):
        noise = torch.empty_like(probabilities)  # [R, V]: each span's exponentials from its own generator
        for start, end, generator in spans:
            noise[start:end].exponential_(1, generator=generator)
        tokens, drawn = race_with(probabilities, noise)
    elif all((end - start) * vocab > RACE_LIMIT for start, end, _ in spans):
        target = torch.empty(len(probabilities), 1, dtype=torch.float64, device=probabilities.device)  # [R, 1]
        for start, end, generator in spans:
            target[start:end] = torch.rand((end - start, 1), generator=generator, dtype=torch.float64, device=probabilities.device)
        tokens, drawn = inverse_cdf_with(probabilities, target)
    else:  # spans of both kinds (groups of different sizes): each its own draw
        return torch.cat([multinomial(logits[start:end], generator) for start, end, generator in spans])
    if math.isnan(float(drawn)):
        raise ValueError("the model's next-token probabilities are not numbers (NaN logits): the model is broken")
    return tokens


def race(probabilities: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The exponential race on probabilities [B, V] (overwritten) -> (tokens [B], a sum that is NaN if any row is)."""
    return race_with(probabilities, torch.empty_like(probabilities).exponential_(1, generator=generator))


def race_with(probabilities: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The race with its exponentials drawn: argmax(p / q) per row of [B, V] (``probabilities`` overwritten)."""
    probabilities.div_(noise)
    best, tokens = probabilities.max(dim=-1)  # [B]: max (and the sum) propagate NaN, so one read covers every row
    return tokens, best.sum()


def inverse_cdf(probabilities: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse-CDF draw on probabilities [B, V] -> (tokens [B], a sum that is NaN if any row is)."""
    target = torch.rand((len(probabilities), 1), generator=generator, dtype=torch.float64, device=probabilities.device)
    return inverse_cdf_with(probabilities, target)


def inverse_cdf_with(probabilities: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse CDF with its uniforms drawn: target [B, 1] float64 in [0, 1) (overwritten) -> (tokens [B], a NaN check)."""
    cumulative = probabilities.to(torch.float64).cumsum_(dim=-1)  # [B, V]
    total = cumulative[:, -1:]  # [B, 1]: 1 up to rounding
    # u * total in [0, total): the factor 1 - 2^-52 keeps rounding from lifting it to total itself, beyond which
    # only ids of zero mass lie (it takes 1e-16 of the last id's probability, far below float32's resolution).
    target.mul_(total).mul_(1 - 2.0**-52)
    # The first id whose cumulative mass exceeds u: an id of zero mass (a suppressed one) never qualifies.
    return torch.searchsorted(cumulative, target, right=True).squeeze(1), target.sum()


SAMPLER_BLOCK = 128  # ids per block of sample_categorical: ~sqrt(V) for V = 5,000-20,000


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None = None, block: int = SAMPLER_BLOCK) -> torch.Tensor:
    """One exact draw per row of logits [N, V] -> [N], from softmax(logits): for many rows and a large vocabulary.

    ``torch.multinomial`` is exact too but slow there on a CPU (about 3 s for 19,456 rows x 5,000 ids, the
    SeqGAN rollout batch); this two-level inverse-CDF draw takes about a sixth of that (and two thirds of
    ``multinomial``'s float64 inverse CDF). Generation keeps ``multinomial``, exact in float64 and the faster
    for one row.

    Two uniform draws are replaced by one: u ~ U(0, total mass) selects the block whose cumulative mass
    first exceeds u, and the remainder of u inside that block selects the id, so every id is drawn with
    probability exactly weight / total (up to float rounding).
    """
    rows, vocab = logits.shape
    weights = (logits.float() - logits.float().amax(dim=-1, keepdim=True)).exp()  # [N, V], max weight 1
    pad = (-vocab) % block
    if pad:
        weights = F.pad(weights, (0, pad))
    weights = weights.view(rows, -1, block)  # [N, nb, block]
    block_mass = weights.sum(dim=-1)  # [N, nb]
    cumulative = block_mass.cumsum(dim=-1)
    u = torch.rand(rows, 1, generator=generator, device=logits.device) * cumulative[:, -1:]  # [N, 1]
    chosen = torch.searchsorted(cumulative, u).clamp_(max=block_mass.shape[1] - 1)  # [N, 1]
    remainder = u - (cumulative.gather(1, chosen) - block_mass.gather(1, chosen))
    inside = weights.gather(1, chosen[:, :, None].expand(-1, 1, block)).squeeze(1)  # [N, block]
    offset = torch.searchsorted(inside.cumsum(dim=-1), remainder).clamp_(max=block - 1)
    tokens = (chosen * block + offset).squeeze(1)
    # Float rounding can land u in a zero-weight pad slot at the very end; fall back to the last real id.
    return tokens.clamp_(max=vocab - 1)
