"""BLEU and self-BLEU as Texygen computes them, with NLTK's ``sentence_bleu`` doing the scoring.

Texygen scores each generated sentence with ``nltk.translate.bleu_score.sentence_bleu`` against the whole
reference file (uniform weights over 1..n-grams, ``SmoothingFunction().method1``) and averages; self-BLEU
scores each generated sentence against all the *other* generated sentences. Against 10,000 references
that is slow (NLTK counts n-grams in every reference for every hypothesis), so ``ReferenceIndex`` hands
NLTK an equivalent, much shorter reference list: for every n-gram of the hypothesis one reference that
holds it the most times (the clipped counts are a max over references), plus one reference of every
distinct length (the brevity penalty uses the closest reference length). NLTK then returns exactly the
score it would return against the full list; tests/evaluation/test_bleu.py checks that.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.util import ngrams

Sentence = Sequence[str]


def uniform_weights(order: int) -> tuple[float, ...]:
    return tuple(1.0 / order for _ in range(order))


class ReferenceIndex:
    """For each n-gram (n <= max_order): the two references holding it most often (so one can be excluded)."""

    def __init__(self, references: Sequence[Sentence], max_order: int = 5) -> None:
        self.references = [list(r) for r in references]
        self.max_order = max_order
        self._best: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)  # ngram -> [(count, index)] top 2
        for index, reference in enumerate(self.references):
            for n in range(1, max_order + 1):
                for gram, count in Counter(ngrams(reference, n)).items():
                    best = self._best[gram]
                    best.append((count, index))
                    if len(best) > 2:
                        best.sort(reverse=True)
                        best.pop()
        self._by_length: dict[int, list[int]] = defaultdict(list)  # length -> up to 2 reference indices
        for index, reference in enumerate(self.references):
            if len(self._by_length[len(reference)]) < 2:
                self._by_length[len(reference)].append(index)

    def equivalent_references(self, hypothesis: Sentence, exclude: int | None = None) -> list[list[str]]:
        """A short reference list on which NLTK's BLEU of ``hypothesis`` equals that on all references
        (but ``exclude``)."""
        chosen = set()
        for n in range(1, min(self.max_order, len(hypothesis)) + 1):
            for gram in set(ngrams(hypothesis, n)):
                for count, index in sorted(self._best.get(gram, ()), reverse=True):
                    if index != exclude:
                        chosen.add(index)
                        break
        for indices in self._by_length.values():
            for index in indices:
                if index != exclude:
                    chosen.add(index)
                    break
        return [self.references[i] for i in sorted(chosen)]


def sentence_bleu_scores(hypothesis: Sentence, references: Sequence[Sentence], orders: Sequence[int]) -> dict[int, float]:
    smoothing = SmoothingFunction().method1
    return {n: float(sentence_bleu(references, list(hypothesis), uniform_weights(n), smoothing_function=smoothing))
            for n in orders}


def bleu(hypotheses: Sequence[Sentence], references: Sequence[Sentence], orders: Sequence[int] = (2, 3, 4, 5),
         index: ReferenceIndex | None = None) -> dict[str, float]:
    """Mean sentence BLEU-n of the hypotheses, each against all the references (Texygen's BLEU); ``index`` is the
    references' ReferenceIndex when the caller scores many sets against them (built once)."""
    index = index if index is not None else ReferenceIndex(references, max(orders))
    totals = Counter()
    for hypothesis in hypotheses:
        for n, score in sentence_bleu_scores(hypothesis, index.equivalent_references(hypothesis), orders).items():
            totals[n] += score
    return {f"bleu{n}": totals[n] / max(len(hypotheses), 1) for n in orders}


def self_bleu(samples: Sequence[Sentence], orders: Sequence[int] = (2, 3, 4, 5)) -> dict[str, float]:
    """Mean sentence BLEU-n of each sample against all the other samples (lower = more diverse)."""
    index = ReferenceIndex(samples, max(orders))
    totals = Counter()
    for position, sample in enumerate(samples):
        references = index.equivalent_references(sample, exclude=position)
        for n, score in sentence_bleu_scores(sample, references, orders).items():
            totals[n] += score
    return {f"self_bleu{n}": totals[n] / max(len(samples), 1) for n in orders}
