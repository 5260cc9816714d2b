"""lstmgen.decoding.choosers: greedy, multinomial and the exact large-batch sampler."""

import pytest
import torch

from lstmgen.decoding import greedy, multinomial, sample_categorical
from lstmgen.decoding.choosers import RACE_LIMIT, inverse_cdf, race


def test_greedy_is_argmax():
    torch.manual_seed(0)
    logits = torch.randn(16, 30)
    assert torch.equal(greedy(logits), logits.argmax(-1))


def test_multinomial_follows_the_distribution_and_the_seed():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    tokens = multinomial(logits, torch.Generator().manual_seed(1))
    freq = torch.bincount(tokens, minlength=3).double() / len(tokens)
    assert freq.tolist() == pytest.approx([0.7, 0.2, 0.1], abs=0.015)
    assert torch.equal(tokens, multinomial(logits, torch.Generator().manual_seed(1)))


def test_sample_categorical_is_exact():
    torch.manual_seed(0)
    logits = torch.randn(300) * 2  # 300 ids: three blocks of 128, the last one padded
    logits[5] = float("-inf")
    draws = sample_categorical(logits.expand(200_000, -1).contiguous(), torch.Generator().manual_seed(1))
    frequencies = torch.bincount(draws, minlength=300).double() / len(draws)
    probabilities = logits.double().softmax(dim=0)
    assert frequencies[5] == 0
    assert 0.5 * (frequencies - probabilities).abs().sum() < 0.02  # total variation; multinomial gives ~0.013 here
    assert int(draws.max()) < 300


@pytest.mark.parametrize("rows, vocab", [(1, 66), (4, 66), (1, 2), (64, 66), (3, 5000)])
def test_the_race_draws_what_torch_multinomial_draws_from_the_same_generator(rows, vocab):
    for seed in range(20):
        logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3
        logits[:, : vocab // 10] = float("-inf")  # suppressed ids are never drawn
        expected = torch.multinomial(logits.softmax(-1), 1, generator=torch.Generator().manual_seed(seed)).squeeze(-1)
        assert torch.equal(race(logits.softmax(-1), torch.Generator().manual_seed(seed))[0], expected)
        if rows * vocab <= RACE_LIMIT:  # one row of a character model: multinomial is the race
            assert torch.equal(multinomial(logits, torch.Generator().manual_seed(seed)), expected)


@pytest.mark.parametrize("rows, vocab", [(64, 66), (1000, 1000)])
def test_multinomial_beyond_the_race_limit_is_exact_and_seeded(rows, vocab):
    assert rows * vocab > RACE_LIMIT  # the inverse CDF
    torch.manual_seed(0)
    logits = torch.randn(vocab) * 2
    logits[[0, 7, vocab - 1]] = float("-inf")  # suppressed ids, the last one included
    draws = torch.cat([multinomial(logits.expand(rows, -1), torch.Generator().manual_seed(seed)) for seed in range(200_000 // rows)])
    frequencies = torch.bincount(draws, minlength=vocab).double() / len(draws)
    probabilities = logits.double().softmax(dim=0)
    assert frequencies[[0, 7, vocab - 1]].sum() == 0
    # Total variation against the exact distribution: 0.005 (V = 66) and 0.014 (V = 1,000) here, sampling noise at
    # 200,000 draws; a draw shifted by one id (searchsorted's side) gives far more.
    bound = 0.015 if vocab < 100 else 0.04
    assert 0.5 * (frequencies - probabilities).abs().sum() < bound
    logits = logits.expand(rows, -1)
    assert torch.equal(multinomial(logits, torch.Generator().manual_seed(3)), multinomial(logits, torch.Generator().manual_seed(3)))


def test_the_inverse_cdf_never_reaches_past_the_last_id_of_positive_mass(monkeypatch):
    # The largest uniform float64 draw, 1 - 2^-53, times a total of exactly 1 rounds to 1 itself: without care the
    # search would land beyond the last id of positive mass, on a suppressed id (or past the vocabulary).
    probabilities = torch.tensor([[0.25, 0.25, 0.5, 0.0, 0.0]] * 2)
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.full(*shape, 1 - 2.0**-53, dtype=torch.float64))
    tokens, _ = inverse_cdf(probabilities)
    assert tokens.tolist() == [2, 2]


@pytest.mark.parametrize("rows, vocab", [(2, 5), (64, 66)])  # the race and the inverse CDF
def test_multinomial_refuses_nan_logits(rows, vocab):
    logits = torch.zeros(rows, vocab)
    logits[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        multinomial(logits)
