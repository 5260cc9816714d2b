"""lstmgen.decoding.choosers: greedy, multinomial and the exact large-batch sampler."""

import pytest
import torch

from lstmgen.decoding import greedy, multinomial, sample_categorical


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


@pytest.mark.parametrize("rows, vocab", [(1, 66), (4, 66), (64, 66), (3, 5000), (1, 2)])
def test_multinomial_draws_what_torch_multinomial_draws_from_the_same_generator(rows, vocab):
    for seed in range(20):
        logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3
        logits[:, : vocab // 10] = float("-inf")  # suppressed ids are never drawn
        expected = torch.multinomial(logits.softmax(-1), 1, generator=torch.Generator().manual_seed(seed)).squeeze(-1)
        assert torch.equal(multinomial(logits, torch.Generator().manual_seed(seed)), expected)


def test_multinomial_refuses_nan_logits():
    logits = torch.zeros(2, 5)
    logits[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        multinomial(logits)
