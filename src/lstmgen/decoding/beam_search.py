"""Beam search: the most probable continuations rather than random ones.

At every step each of the ``num_beams`` live continuations is extended by every token, and the
``num_beams`` most probable extensions (by total log-probability) survive. A continuation that reaches a
stop string (or, in document mode, the end of a document) is finished there. Finished and live continuations are ranked by

    score = log-probability / (number of generated tokens) ** length_penalty

so ``length_penalty`` > 0 favours longer continuations, < 0 shorter ones, and 0 ranks by probability
alone. Without stop strings every continuation has ``max_tokens`` tokens and the penalty changes nothing.
The search stops early once no live beam can still beat the ``num_samples`` best finished ones (an exact
test: a live beam's log-probability can only fall, and its best possible score is bounded from it).

Constraints (regex, line_starts, must_include, bad_words) hold one automaton state per beam: each step's logits
are masked as in sampling, and a continuation whose match can grow no longer is finished there ("stop").

Log-probabilities are those of the distribution the search ranks with: the model's, after the penalty
processors (repetition penalty, no-repeat n-gram, OpenAI's presence/frequency penalties counted on each
beam's own generated tokens) and the logit bias when those are set; with none set, the model's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..config import GenerationConfig
from ..model import RecurrentLanguageModel
from ..tokenizers import Tokenizer
from .constraints import build_constraint
from .generation import FINISH_LENGTH, FINISH_STOP
from .healing import HealedDecoder, heal_prompt
from .processors import apply_processors, build_processors, needs_history
from .stepper import Stepper


@dataclass(frozen=True)
class Hypothesis:
    """One continuation found by beam search."""

    text: str  # the continuation, cut before a stop string
    token_ids: tuple[int, ...]  # its generated tokens (including the one that completed a stop string)
    log_probability: float  # natural log of its probability given the prompt
    score: float  # log_probability / len(token_ids) ** length_penalty: what the search ranks by
    finish_reason: str = FINISH_LENGTH  # "stop" when it ended at a stop string

    def to_dict(self) -> dict:
        return {"text": self.text, "tokens": len(self.token_ids), "log_probability": self.log_probability, "score": self.score,
                "finish_reason": self.finish_reason}


def _score(log_probability: float, length: int, length_penalty: float) -> float:
    """log_probability / length ** length_penalty, as the nearest float64 instead of an exception.

    With |length_penalty| in the hundreds, length ** length_penalty leaves float64's range: ``**`` raises
    OverflowError, or it underflows to 0 and the division raises ZeroDivisionError. The quotient is then
    taken through logarithms, which saturate at -0.0 and -inf; the order of scores is kept (ties aside).
    """
    length = max(length, 1)
    try:
        return log_probability / length ** length_penalty
    except (OverflowError, ZeroDivisionError):
        if log_probability == 0.0 or math.isinf(log_probability):
            return log_probability  # a certain continuation scores 0 and an impossible one -inf, at any length
        exponent = math.log(-log_probability) - length_penalty * math.log(length)  # log |score|
        try:
            return -math.exp(exponent)
        except OverflowError:
            return -math.inf


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    hits = [i for i in (text.find(stop) for stop in stops) if i >= 0]
    return min(hits) if hits else None


def beam_search(
    model: RecurrentLanguageModel,
    tokenizer: Tokenizer,
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    prompt_text: str | None = None,
) -> list[Hypothesis]:
    """The ``config.num_samples`` best continuations of ``prompt_ids`` under ``config.num_beams`` beams, best first
    (the weights each step reads are ``model``'s, as in ``decode``)."""
    if len(prompt_ids) == 0:
        raise ValueError("generation needs a prompt of at least one token")
    beams, length_penalty = config.num_beams, config.length_penalty
    if config.max_tokens == 0:
        return [Hypothesis("", (), 0.0, 0.0)] * config.num_samples
    processors = build_processors(config)  # only the penalties and the bias: beam search rejects the sampling options
    prompt, healing = heal_prompt(tokenizer, prompt_ids) if config.token_healing else (list(prompt_ids), None)
    constraint = build_constraint(tokenizer, config, beams, prompt, prompt_text, healing)  # one automaton state per beam

    def continuation(ids: Sequence[int]) -> str:
        decoder = tokenizer.stream_decoder(prompt, prompt_text)
        if healing is not None:  # the first token repeats the prompt's removed last token: left out of the text
            decoder = HealedDecoder(decoder, healing.text)
        return "".join(decoder.feed(token) for token in ids)

    finished: list[Hypothesis] = []
    stepper = Stepper(model, tokenizer.never_generated)
    device = stepper.device
    last = stepper.prefill(prompt, beams)  # [K, V]: the prompt once, its state copied to every beam
    vocab = last.shape[-1]
    # All beams start identical; only the first is live, or the top-K would hold K copies of one path.
    scores = torch.full((beams,), float("-inf"), dtype=torch.float64, device=device)
    scores[0] = 0.0
    sequences: list[list[int]] = [[] for _ in range(beams)]
    for step in range(config.max_tokens):
        history = None
        if needs_history(processors):
            history = torch.tensor([prompt + seq for seq in sequences], dtype=torch.long, device=device)
        if healing is not None and not step:  # the first token must extend the removed one
            last = healing.constrain(last)
        if constraint is not None:
            last = constraint.mask(last, step, [score == float("-inf") for score in scores.tolist()])
        log_probs = torch.log_softmax(apply_processors(last.float(), processors, history, len(prompt)).double(), dim=-1)
        candidates = (scores[:, None] + log_probs).view(-1)  # [K * V]
        top_scores, top_index = candidates.topk(min(2 * beams, candidates.numel()))
        rows, tokens, new_scores, new_sequences = [], [], [], []
        for score, index in zip(top_scores.tolist(), top_index.tolist()):
            if score == float("-inf") or len(rows) == beams:
                break
            row, token = divmod(index, vocab)
            sequence = sequences[row] + [token]
            if token == tokenizer.end_of_document:  # a whole document: finished here
                finished.append(Hypothesis(continuation(sequence[:-1]), tuple(sequence), score,
                                           _score(score, len(sequence), length_penalty), FINISH_STOP))
                continue
            if config.stop:
                text = continuation(sequence)
                cut = _first_stop(text, config.stop)
                if cut is not None:
                    finished.append(Hypothesis(text[:cut], tuple(sequence), score, _score(score, len(sequence), length_penalty),
                                               FINISH_STOP))
                    continue
            if constraint is not None and constraint.complete(constraint.next_state(row, token), step + 1):
                finished.append(Hypothesis(continuation(sequence), tuple(sequence), score, _score(score, len(sequence), length_penalty),
                                           FINISH_STOP))  # a whole match that can grow no longer
                continue
            rows.append(row)
            tokens.append(token)
            new_scores.append(score)
            new_sequences.append(sequence)
        if not rows or step + 1 == config.max_tokens:
            sequences, scores = new_sequences, torch.tensor(new_scores, dtype=torch.float64)
            break
        if _search_is_over(finished, new_scores, step + 1, config):
            sequences, scores = [], torch.tensor([], dtype=torch.float64)
            break
        # Keep K rows: fill any shortfall (stops took candidates) with dead copies of the first.
        dead = beams - len(rows)
        rows += [rows[0]] * dead
        tokens += [tokens[0]] * dead
        new_sequences += [list(new_sequences[0]) for _ in range(dead)]
        scores = torch.tensor(new_scores + [float("-inf")] * dead, dtype=torch.float64, device=device)
        sequences = new_sequences
        if constraint is not None:
            constraint.follow(rows, tokens)
        stepper.select(torch.tensor(rows, device=device))
        last = stepper.step(torch.tensor(tokens, device=device))  # [K] -> [K, V]
    for sequence, score in zip(sequences, scores.tolist()):
        if score > float("-inf"):
            finished.append(Hypothesis(continuation(sequence), tuple(sequence), score, _score(score, len(sequence), length_penalty)))
    finished.sort(key=lambda hypothesis: hypothesis.score, reverse=True)
    return finished[: config.num_samples]


def _search_is_over(finished: list[Hypothesis], live_scores: list[float], length: int, config: GenerationConfig) -> bool:
    """True when no live beam can end with a better score than the ``num_samples``-th best finished one."""
    if len(finished) < config.num_samples or not live_scores:
        return not live_scores
    worst_kept = sorted((h.score for h in finished), reverse=True)[config.num_samples - 1]
    best_live = max(live_scores)  # <= 0, and it can only fall with more tokens
    # score = logp / L ** lp: with lp > 0 the longest possible length gives the best (least negative) score.
    longest = config.max_tokens if config.length_penalty > 0 else length
    return _score(best_live, longest, config.length_penalty) <= worst_kept if math.isfinite(best_live) else True
