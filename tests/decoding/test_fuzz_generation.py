"""Prompts and generation settings fuzzed (stress/fuzz_inputs.py, bounded): empty prompts, unknown symbols,
lone surrogates, long prompts, and up to three GenerationConfig fields at a time set to edge values (0, -1,
10**7, 10**30, NaN, infinities, 1e-45, 5e-324, empty stop strings) through LanguageModel. Each is refused with
the documented error or generates right (as many samples as asked, no more tokens than max_tokens, no stop
string left in a text, the same text for the same seed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from fuzzing import assert_passes, bounded, fuzz_inputs


@pytest.fixture(scope="module")
def language_model(tiny_run):
    from lstmgen import LanguageModel

    return LanguageModel.load(tiny_run)


@bounded(60)
@given(case=fuzz_inputs.generation_cases)
def test_any_prompt_and_settings_are_refused_clearly_or_generate_right(language_model, case):
    assert_passes(lambda c: fuzz_inputs.check_generation(c, language_model), case)


@pytest.mark.parametrize("settings", [
    {"temperature": math.nan}, {"temperature": math.inf}, {"top_p": math.nan}, {"max_tokens": -1},
    {"num_samples": 10**7}, {"num_beams": 10**7}, {"stop": ("",)}, {"repetition_penalty": 0.0},
])
def test_edge_settings_are_refused(language_model, settings):
    assert assert_passes(lambda c: fuzz_inputs.check_generation(c, language_model), ("the", settings, "error")) == "refused"


@pytest.mark.parametrize("settings", [
    {"max_tokens": 10**7}, {"max_tokens": 10**30, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2}, {"temperature": 1e-45, "seed": 1},
    {"temperature": 5e-324, "seed": 2}, {"repetition_penalty": 1e-300, "seed": 3}, {"max_tokens": 0},
])
def test_edge_settings_that_are_legal_generate(language_model, settings):
    assert assert_passes(lambda c: fuzz_inputs.check_generation(c, language_model), ("the \ud800", settings, "replace")) == "ok"
