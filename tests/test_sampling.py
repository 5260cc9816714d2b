import math

import pytest
import torch

from lstmgen.config import ConfigError, GenerationConfig
from lstmgen.sampling import Temperature, TopK, TopP, build_processors, choose_tokens, reweight, sample_categorical


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


# ----- the processors added for issue 3 ---------------------------------------------------------------
from lstmgen.sampling import MinP, NoRepeatNGram, RepetitionPenalty, entropy_bits  # noqa: E402


def test_min_p_keeps_tokens_at_least_that_fraction_of_the_best():
    probabilities = torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04]])
    logits = probabilities.log()
    original = logits.clone()
    assert torch.isfinite(MinP(0.2)(logits)).tolist() == [[True, True, True, False, False]]  # >= 0.1
    assert torch.isfinite(MinP(1.0)(logits)).tolist() == [[True, False, False, False, False]]  # the best always stays
    assert torch.isfinite(MinP(0.0)(logits)).all()
    assert torch.equal(logits, original)


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0], [2.0, -1.0, 0.5, -3.0]])
    original = logits.clone()
    history = torch.tensor([[0, 1, 1], [3, 3, 3]])  # row 0 saw tokens 0 and 1 (1 twice: penalised once), row 1 saw 3
    out = RepetitionPenalty(2.0)(logits, history)
    assert out.tolist() == [[1.0, -2.0, 0.5, -3.0], [2.0, -1.0, 0.5, -6.0]]
    assert torch.equal(logits, original)
    assert torch.equal(RepetitionPenalty(2.0)(logits, None), logits)  # nothing seen yet


def test_no_repeat_ngram_bans_exactly_the_tokens_that_would_repeat_an_ngram():
    logits = torch.zeros(2, 5)
    original = logits.clone()
    # Row 0: "1 2 3 1 2" -> the bigram (2, 3) exists, last token 2 -> 3 would repeat the trigram (1, 2, 3).
    # Row 1: "4 4 0 4" -> last token 4; bigrams starting with 4: (4, 4), (4, 0) -> tokens 4 and 0 banned for n=2.
    history3 = torch.tensor([[1, 2, 3, 1, 2]])
    assert torch.isfinite(NoRepeatNGram(3)(logits[:1], history3)).tolist() == [[True, True, True, False, True]]
    history2 = torch.tensor([[4, 4, 0, 4]])
    assert torch.isfinite(NoRepeatNGram(2)(logits[1:], history2)).tolist() == [[False, True, True, True, False]]
    # n = 1: every token already seen is banned.
    assert torch.isfinite(NoRepeatNGram(1)(logits[1:], history2)).tolist() == [[False, True, True, True, False]]
    assert torch.equal(logits, original)
    # A history shorter than n bans nothing.
    assert torch.isfinite(NoRepeatNGram(3)(logits[:1], torch.tensor([[1, 2]]))).all()


def test_no_repeat_ngram_keeps_the_best_token_when_everything_would_be_banned():
    logits = torch.tensor([[0.1, 2.0, float("-inf")]])
    out = NoRepeatNGram(1)(logits, torch.tensor([[0, 1]]))  # 0 and 1 seen, 2 was already impossible
    assert torch.isfinite(out).tolist() == [[False, True, False]]


@pytest.mark.parametrize("values, message", [
    (dict(min_p=1.5), "min_p must be in"), (dict(repetition_penalty=0), "repetition_penalty must be positive"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"), (dict(num_beams=0), "num_beams must be at least 1"),
    (dict(length_penalty=0.5), "length_penalty only applies to beam search"),
    (dict(num_beams=4, temperature=0.7), "ignores temperature"), (dict(num_beams=4, temperature=0), "ignores temperature"),
    (dict(num_beams=4, top_k=5, top_p=0.9), "ignores top_k, top_p"), (dict(num_beams=4, min_p=0.1), "ignores min_p"),
    (dict(num_beams=4, seed=1), "ignores seed"), (dict(num_beams=2, num_samples=3), "num_samples must be <= num_beams"),
])
def test_impossible_combinations_are_rejected(values, message):
    with pytest.raises(ConfigError, match=message):
        GenerationConfig(**values)


def test_processor_constructors_say_what_is_allowed():
    for build, message in ((lambda: MinP(-0.1), "min_p must be in"), (lambda: RepetitionPenalty(0), "positive"),
                           (lambda: NoRepeatNGram(0), "at least 1"), (lambda: Temperature(0), "greedy")):
        with pytest.raises(ConfigError, match=message):
            build()


def test_full_processor_order():
    config = GenerationConfig(temperature=0.7, top_k=5, top_p=0.9, min_p=0.05, repetition_penalty=1.3, no_repeat_ngram_size=3)
    assert [type(p).__name__ for p in build_processors(config)] == [
        "RepetitionPenalty", "NoRepeatNGram", "Temperature", "TopK", "TopP", "MinP"]
    # Greedy and beam search keep only the penalties.
    greedy = GenerationConfig(temperature=0, top_k=5, repetition_penalty=1.3)
    assert [type(p).__name__ for p in build_processors(greedy)] == ["RepetitionPenalty"]
    beams = GenerationConfig(num_beams=3, no_repeat_ngram_size=2)
    assert [type(p).__name__ for p in build_processors(beams)] == ["NoRepeatNGram"]


def test_greedy_applies_the_penalties():
    logits = torch.tensor([[3.0, 2.5, 0.0]])
    history = torch.tensor([[0]])
    config = GenerationConfig(temperature=0, repetition_penalty=2.0)
    assert choose_tokens(logits, config, build_processors(config), history=history).tolist() == [1]  # 3/2 < 2.5


def test_entropy_bits_is_the_entropy_of_the_reweighted_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.1, float("-inf")], [0.0, 0.0, 0.0, 0.0]])
    for t in (0.3, 1.0, 2.0):
        p = reweight(logits.double().softmax(-1), t)
        manual = [-sum(x * math.log2(x) for x in row if x > 0) for row in p.tolist()]
        assert entropy_bits(logits, t).tolist() == pytest.approx(manual, abs=1e-9)
    assert entropy_bits(logits, 1.0)[1].item() == pytest.approx(2.0)  # four equal choices: 2 bits
    assert entropy_bits(logits, 0).tolist() == [0.0, 0.0]
    assert entropy_bits(logits[:1], 1e-3).item() == pytest.approx(0.0, abs=1e-9)  # T -> 0: the one-hot


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
