import math

import pytest
import torch

from lstmgen.config import ConfigError, GenerationConfig
from lstmgen.sampling import Temperature, TopK, TopP, build_processors, choose_tokens, reweight


def test_temperature_equals_classic_reweighting():
    logits = torch.tensor([[2.0, 1.0, 0.1, -1.0, 0.5]])
    p = logits.softmax(-1)
    for t in (0.2, 0.5, 1.0, 1.2, 3.0):
        ours = Temperature(t)(logits).softmax(-1).double()
        assert torch.allclose(ours, reweight(p, t), atol=1e-6)
        # and the formula itself, written out by hand: p_i^(1/T) / sum_j p_j^(1/T)
        manual = [pi ** (1 / t) for pi in p[0].tolist()]
        assert ours[0].tolist() == pytest.approx([m / sum(manual) for m in manual], abs=1e-6)


def test_processors_do_not_edit_their_input_and_keep_one_token():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    original = logits.clone()
    for processor in (Temperature(0.5), TopK(2), TopP(0.5)):
        out = processor(logits)
        assert torch.equal(logits, original)
        assert torch.isfinite(out).sum() >= 1
    assert torch.isfinite(TopK(2)(logits)).tolist() == [[True, False, True, False]]
    assert torch.isfinite(TopP(0.01)(logits)).tolist() == [[True, False, False, False]]
    probs = logits.softmax(-1)[0]  # 0.64, 0.087, 0.24, 0.032
    assert probs[0] + probs[2] > 0.8
    assert torch.isfinite(TopP(0.8)(logits)).tolist() == [[True, False, True, False]]


def test_greedy_is_argmax_and_top_k_one_is_greedy():
    torch.manual_seed(0)
    logits = torch.randn(16, 30)
    assert torch.equal(choose_tokens(logits, GenerationConfig(temperature=0), []), logits.argmax(-1))
    config = GenerationConfig(temperature=1.0, top_k=1)
    assert torch.equal(choose_tokens(logits, config, build_processors(config)), logits.argmax(-1))


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    generator = torch.Generator().manual_seed(1)
    tokens = choose_tokens(logits, GenerationConfig(), [], generator)
    freq = torch.bincount(tokens, minlength=3).double() / len(tokens)
    assert freq.tolist() == pytest.approx([0.7, 0.2, 0.1], abs=0.015)


@pytest.mark.parametrize("values, message", [
    (dict(temperature=-1), "temperature must be >= 0"), (dict(top_p=0), "top_p must be in"), (dict(top_p=1.5), "top_p"),
    (dict(top_k=0), "top_k must be at least 1"), (dict(num_samples=0), "num_samples"), (dict(max_tokens=-1), "max_tokens"),
])
def test_impossible_generation_configs(values, message):
    with pytest.raises(ConfigError, match=message):
        GenerationConfig(**values)


def test_processor_order_and_greedy_skips_them():
    assert build_processors(GenerationConfig(temperature=0, top_k=3)) == []
    kinds = [type(p).__name__ for p in build_processors(GenerationConfig(temperature=0.5, top_k=3, top_p=0.9))]
    assert kinds == ["Temperature", "TopK", "TopP"]
    assert math.isclose(reweight(torch.tensor([0.5, 0.5]), 0.1).sum().item(), 1.0)
