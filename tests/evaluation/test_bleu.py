"""BLEU as Texygen computes it (NLTK sentence BLEU, smoothing method 1), and the fast equivalent reference list."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("nltk")

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # noqa: E402

from lstmgen.evaluation.bleu import ReferenceIndex, bleu, self_bleu, uniform_weights  # noqa: E402

SENTENCE = "a man riding a wave on top of a surfboard .".split()


def test_bleu_of_a_sentence_against_itself_is_one():
    scores = bleu([SENTENCE], [SENTENCE])
    assert all(score == pytest.approx(1.0) for score in scores.values()), scores


def test_bleu_against_an_unrelated_sentence_is_near_zero():
    scores = bleu([SENTENCE], ["two cats sleeping in the sun near windows".split()])
    assert all(score < 0.05 for score in scores.values()), scores


def test_reduced_references_give_exactly_nltk_on_all_references():
    rng = random.Random(0)
    words = "a the man dog on of in with red blue sits runs near table .".split()
    references = [[rng.choice(words) for _ in range(rng.randint(3, 12))] for _ in range(300)]
    index = ReferenceIndex(references)
    smoothing = SmoothingFunction().method1
    for _ in range(20):
        hypothesis = [rng.choice(words) for _ in range(rng.randint(2, 12))]
        for n in (2, 3, 4, 5):
            full = sentence_bleu(references, hypothesis, uniform_weights(n), smoothing_function=smoothing)
            short = sentence_bleu(index.equivalent_references(hypothesis), hypothesis, uniform_weights(n), smoothing_function=smoothing)
            assert short == pytest.approx(full, abs=1e-12)
        position = rng.randrange(len(references))
        others = references[:position] + references[position + 1 :]
        full = sentence_bleu(others, references[position], uniform_weights(4), smoothing_function=smoothing)
        short = sentence_bleu(index.equivalent_references(references[position], exclude=position), references[position],
                              uniform_weights(4), smoothing_function=smoothing)
        assert short == pytest.approx(full, abs=1e-12)


def test_self_bleu_is_one_for_copies_and_low_for_distinct_samples():
    assert self_bleu([SENTENCE, SENTENCE, SENTENCE])["self_bleu4"] == pytest.approx(1.0)
    distinct = [s.split() for s in ("a dog runs on grass .", "two men play chess indoors", "the red bus stopped here")]
    assert self_bleu(distinct)["self_bleu2"] < 0.2
