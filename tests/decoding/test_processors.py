"""lstmgen.decoding.processors: each transform on hand-built logits, no model."""

import math

import pytest
import torch

from lstmgen.config import ConfigError, GenerationConfig
from lstmgen.decoding import (
    LogitBias,
    MinP,
    NoRepeatNGram,
    PresenceFrequencyPenalty,
    RepetitionPenalty,
    SuppressTokens,
    Temperature,
    TopK,
    TopP,
    apply_processors,
    build_processors,
)


def reweight(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """The textbook temperature formula on probabilities: p^(1/T) renormalised (the Keras example's)."""
    powered = probabilities.double() ** (1.0 / temperature)
    return powered / powered.sum(dim=-1, keepdim=True)


def test_temperature_equals_classic_reweighting():
    logits = torch.tensor([[2.0, 1.0, 0.1, -1.0, 0.5]])
    p = logits.softmax(-1)
    for t in (0.2, 0.5, 1.0, 1.2, 3.0):
        ours = Temperature(t)(logits).softmax(-1).double()
        assert torch.allclose(ours, reweight(p, t), atol=1e-6)
        # and the formula itself, written out by hand: p_i^(1/T) / sum_j p_j^(1/T)
        manual = [pi ** (1 / t) for pi in p[0].tolist()]
        assert ours[0].tolist() == pytest.approx([m / sum(manual) for m in manual], abs=1e-6)


def test_a_tiny_temperature_is_the_greedy_limit_not_an_overflow():
    logits = torch.tensor([[2.0, 1.0, float("-inf"), 1.999]])
    for t in (1e-45, 5e-324, 1e-30):
        probabilities = Temperature(t)(logits).softmax(-1)
        assert torch.isfinite(probabilities).all()
        assert probabilities.tolist() == [[1.0, 0.0, 0.0, 0.0]]


def test_a_huge_temperature_is_the_uniform_limit():
    logits = torch.tensor([[2.0, 1.0, float("-inf"), -3.0]])
    for t in (1e39, 1e308):
        probabilities = Temperature(t)(logits).softmax(-1)
        assert probabilities.tolist() == [[pytest.approx(1 / 3), pytest.approx(1 / 3), 0.0, pytest.approx(1 / 3)]]
    assert torch.isfinite(Temperature(1e30)(logits).softmax(-1)).all()


@pytest.mark.parametrize("penalty", [1e-300, 1e-40, 1e40, 1e300])
def test_any_repetition_penalty_keeps_the_logits_finite(penalty):
    logits = torch.tensor([[2.0, -1.0, float("-inf"), -3.0, 0.5]])
    history = torch.tensor([[0, 1, 2, 3, 4]])  # every token seen, the suppressed one too
    out = RepetitionPenalty(penalty)(logits, history)
    assert torch.isneginf(out[0, 2]) and torch.isfinite(out[0, [0, 1, 3, 4]]).all()
    probabilities = out.softmax(-1)
    assert torch.isfinite(probabilities).all() and probabilities[0, 2] == 0


def test_processors_do_not_edit_their_input_and_keep_one_token():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    original = logits.clone()
    for processor in (Temperature(0.5), TopK(2), TopP(0.5), MinP(0.9), SuppressTokens([1, 2])):
        out = processor(logits)
        assert torch.equal(logits, original)
        assert torch.isfinite(out).sum() >= 1
    assert torch.isfinite(TopK(2)(logits)).tolist() == [[True, False, True, False]]
    assert torch.isfinite(TopP(0.01)(logits)).tolist() == [[True, False, False, False]]
    probs = logits.softmax(-1)[0]  # 0.64, 0.087, 0.24, 0.032
    assert probs[0] + probs[2] > 0.8
    assert torch.isfinite(TopP(0.8)(logits)).tolist() == [[True, False, True, False]]


def test_top_p_of_one_keeps_every_token():
    # float32 cumulative sums reach 1.0 before the last tokens with some probability: p = 1 must not drop them.
    logits = torch.cat([torch.tensor([[30.0]]), torch.full((1, 999), -5.0)], dim=1)
    assert torch.equal(TopP(1.0)(logits), logits)
    cumulative = logits.softmax(-1).sort(descending=True).values.cumsum(-1)
    assert bool((cumulative[0, :-1] >= 1.0).any())  # the rounding that used to drop tokens is real here


def test_suppress_tokens_sets_minus_infinity_and_refuses_to_suppress_everything():
    logits = torch.zeros(2, 4)
    out = SuppressTokens([0, 3], vocab_size=4)(logits)
    assert torch.isneginf(out).tolist() == [[True, False, False, True]] * 2
    assert torch.equal(SuppressTokens([])(logits), logits) and not SuppressTokens([])
    with pytest.raises(ConfigError, match="every token id is suppressed"):
        SuppressTokens([0, 1], vocab_size=2)
    with pytest.raises(ConfigError, match=r"in \[0, 4\)"):
        SuppressTokens([4], vocab_size=4)


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


def test_processor_constructors_say_what_is_allowed():
    for build, message in ((lambda: MinP(-0.1), "min_p must be in"), (lambda: RepetitionPenalty(0), "positive"),
                           (lambda: NoRepeatNGram(0), "at least 1"), (lambda: Temperature(0), "greedy"),
                           (lambda: TopK(0), "at least 1"), (lambda: TopP(0.0), "top_p must be in")):
        with pytest.raises(ConfigError, match=message):
            build()


def test_processor_order_greedy_and_beam_search_keep_only_the_penalties():
    config = GenerationConfig(temperature=0.7, top_k=5, top_p=0.9, min_p=0.05, repetition_penalty=1.3, no_repeat_ngram_size=3)
    assert [type(p).__name__ for p in build_processors(config)] == [
        "RepetitionPenalty", "NoRepeatNGram", "Temperature", "TopK", "TopP", "MinP"]
    assert build_processors(GenerationConfig(temperature=0, top_k=3)) == []
    assert [type(p).__name__ for p in build_processors(GenerationConfig(temperature=0.5, top_k=3, top_p=0.9))] == [
        "Temperature", "TopK", "TopP"]
    greedy = GenerationConfig(temperature=0, top_k=5, repetition_penalty=1.3)
    assert [type(p).__name__ for p in build_processors(greedy)] == ["RepetitionPenalty"]
    beams = GenerationConfig(num_beams=3, no_repeat_ngram_size=2)
    assert [type(p).__name__ for p in build_processors(beams)] == ["NoRepeatNGram"]
    assert build_processors(GenerationConfig(top_p=1.0, min_p=0.0)) == []  # no-op values build nothing


def test_apply_processors_runs_them_in_order():
    logits = torch.tensor([[3.0, 2.5, 0.0]])
    history = torch.tensor([[0]])
    config = GenerationConfig(temperature=0, repetition_penalty=2.0)
    assert apply_processors(logits, build_processors(config), history).argmax(-1).tolist() == [1]  # 3/2 < 2.5
    assert math.isclose(reweight(torch.tensor([0.5, 0.5]), 0.1).sum().item(), 1.0)


# ----- OpenAI's presence and frequency penalties, and logit_bias ------------------------------------------
def test_presence_and_frequency_penalties_follow_openais_formula_per_row():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    generated = torch.tensor([[2, 2, 2, 0], [1, 3, 3, 3]])  # row 0: c = [1, 0, 3, 0]; row 1: c = [0, 1, 0, 3]
    counts = torch.tensor([[1.0, 0, 3, 0], [0, 1, 0, 3]])
    for presence, frequency in ((0.5, 0.0), (0.0, 0.25), (1.5, -0.75), (-2.0, 2.0)):
        penalised = PresenceFrequencyPenalty(presence, frequency)(logits, generated)
        expected = logits - counts * frequency - (counts > 0).float() * presence
        assert torch.allclose(penalised, expected), (presence, frequency)
    # presence counts a token once however often it came; frequency once per time
    assert PresenceFrequencyPenalty(presence_penalty=1.0)(logits, generated)[0].tolist() == [0.0, 2.0, 2.0, 4.0]
    assert PresenceFrequencyPenalty(frequency_penalty=1.0)(logits, generated)[0].tolist() == [0.0, 2.0, 0.0, 4.0]
    assert torch.equal(PresenceFrequencyPenalty(1.0, 1.0)(logits, generated[:, :0]), logits)  # nothing generated yet


def test_the_penalties_count_only_generated_tokens_not_the_prompt():
    logits = torch.zeros(1, 5)
    history = torch.tensor([[4, 4, 4, 1, 1]])  # a prompt of 3 tokens (4, 4, 4), then 1 generated twice
    processors = build_processors(GenerationConfig(frequency_penalty=1.0, presence_penalty=0.5))
    assert apply_processors(logits, processors, history, prompt_length=3)[0].tolist() == [0.0, -2.5, 0.0, 0.0, 0.0]
    # the repetition penalty (lstmgen's, CTRL's rule) still reads the whole text, prompt included
    both = build_processors(GenerationConfig(repetition_penalty=2.0, frequency_penalty=1.0))
    assert apply_processors(torch.full((1, 5), 4.0), both, history, prompt_length=3)[0].tolist() == [4.0, 0.0, 4.0, 4.0, 2.0]


def test_logit_bias_adds_to_the_named_ids_and_keeps_forbidden_ones_forbidden():
    logits = torch.tensor([[0.0, 1.0, float("-inf"), 3.0], [5.0, 1.0, 2.0, 3.0]])
    biased = LogitBias({"1": 100, 2: 50, 3: -100.0})(logits)
    assert biased.tolist() == [[0.0, 101.0, float("-inf"), -97.0], [5.0, 101.0, 52.0, -97.0]]
    assert logits[0, 1] == 1.0  # the input is not edited
    with pytest.raises(ConfigError, match="outside this model's vocabulary of 4"):
        LogitBias({7: 1.0})(logits)
    for bad, message in (({1: 101}, r"in \[-100, 100\]"), ({"a": 1}, "token ids"), ({-3: 1}, "token ids")):
        with pytest.raises(ConfigError, match=message):
            GenerationConfig(logit_bias=bad)
    for name in ("presence_penalty", "frequency_penalty"):
        with pytest.raises(ConfigError, match=rf"{name} must be in \[-2, 2\]"):
            GenerationConfig(**{name: 2.5})


def test_the_new_processors_sit_after_the_penalties_and_apply_to_greedy_and_beam_search():
    config = GenerationConfig(temperature=0.7, top_k=5, repetition_penalty=1.3, no_repeat_ngram_size=3, presence_penalty=0.5,
                              logit_bias={1: 2.0})
    assert [type(p).__name__ for p in build_processors(config)] == [
        "RepetitionPenalty", "NoRepeatNGram", "PresenceFrequencyPenalty", "LogitBias", "Temperature", "TopK"]
    greedy = GenerationConfig(temperature=0, frequency_penalty=1.0, logit_bias={0: -5})
    assert [type(p).__name__ for p in build_processors(greedy)] == ["PresenceFrequencyPenalty", "LogitBias"]
    beams = GenerationConfig(num_beams=2, presence_penalty=1.0)
    assert [type(p).__name__ for p in build_processors(beams)] == ["PresenceFrequencyPenalty"]
    assert build_processors(GenerationConfig(presence_penalty=0, frequency_penalty=0, logit_bias={})) == []

