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
