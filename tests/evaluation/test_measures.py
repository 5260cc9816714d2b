"""lstmgen.evaluation.measures: units, entropy, the diversity of text, the standard error."""

import math

import pytest
import torch

from lstmgen.evaluation.measures import ColdStart, LossReport, distinct_n, entropy_bits, known_word_share, mean_and_error, repetition_rate, words


def reweight(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    powered = probabilities.double() ** (1.0 / temperature)
    return powered / powered.sum(dim=-1, keepdim=True)


def test_units():
    report = LossReport(nats=math.log(4), tokens=10)
    assert report.bits == pytest.approx(2.0)
    assert report.perplexity == pytest.approx(4.0)
    assert "2.0000 bits/char" in report.describe("char")
    assert LossReport(nats=800.0, tokens=1).perplexity == math.inf


def test_cold_start_units_and_description():
    cold = ColdStart(fresh_nats=2.0, context_nats=1.6, segments=300, segment_tokens=40)
    assert cold.ratio == pytest.approx(1.25)
    assert "x1.250" in cold.describe() and cold.to_dict()["ratio"] == pytest.approx(1.25)
    report = LossReport(nats=1.0, tokens=5, cold_start=cold)
    assert report.to_dict()["cold_start"]["segments"] == 300 and "cold start" in report.describe()


def test_entropy_bits_is_the_entropy_of_the_reweighted_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.1, float("-inf")], [0.0, 0.0, 0.0, 0.0]])
    for t in (0.3, 1.0, 2.0):
        p = reweight(logits.double().softmax(-1), t)
        manual = [-sum(x * math.log2(x) for x in row if x > 0) for row in p.tolist()]
        assert entropy_bits(logits, t).tolist() == pytest.approx(manual, abs=1e-9)
    assert entropy_bits(logits, 1.0)[1].item() == pytest.approx(2.0)  # four equal choices: 2 bits
    assert entropy_bits(logits, 0).tolist() == [0.0, 0.0]
    assert entropy_bits(logits[:1], 1e-3).item() == pytest.approx(0.0, abs=1e-9)  # T -> 0: the one-hot




def test_mean_and_standard_error():
    mean, error = mean_and_error([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and error == pytest.approx(math.sqrt(5 / 3) / 2)
    assert math.isnan(mean_and_error([7.0])[1])


def test_text_measures_on_hand_made_texts():
    assert words("The cat, the CAT sat!") == ["the", "cat", "the", "cat", "sat"]
    assert words("a cat sa", complete_only=True) == ["a", "cat"]  # the last word may have been cut short
    assert distinct_n(["the cat the cat sat"], 1) == pytest.approx(3 / 5)
    assert distinct_n(["the cat the cat sat"], 2) == pytest.approx(3 / 4)  # the cat, cat the, (the cat), cat sat
    assert distinct_n(["x"], 2) is None
    # "a b c a b c a": 3-grams abc bca cab abc bca -> the last two repeat earlier ones.
    assert repetition_rate(["a b c a b c a"]) == pytest.approx(2 / 5)
    assert repetition_rate(["a b c", "a b c"]) == 0.0  # repeats are counted within a sample
    share, invented = known_word_share(["the glorp sat. the glorp "], {"the", "sat"})
    assert share == pytest.approx(3 / 5) and invented == ["glorp"]
    assert known_word_share(["anything"], None) == (None, [])


def test_word_level_tokens_count_words_and_line_ends_as_published_wikitext_figures():
    from lstmgen.evaluation.measures import word_level_tokens

    assert word_level_tokens(" = Title = \n \n the <unk> of @-@ game . \n") == (3 + 1) + (0 + 1) + (6 + 1)
    assert word_level_tokens("no final line break") == 4 + 1  # the last line still ends
    assert word_level_tokens("") == 0
