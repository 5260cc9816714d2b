"""Tokenizers on arbitrary Unicode (lone surrogates included), every kind: the round trip holds, and nothing
but the documented TokenizerError is raised (stress/fuzz_inputs.py, bounded)."""

from __future__ import annotations

from hypothesis import given

from fuzzing import assert_passes, bounded, fuzz_inputs


@bounded(300)
@given(fuzz_inputs.tokenizer_cases)
def test_round_trip_and_unknown_symbols_on_arbitrary_text(case):
    assert_passes(fuzz_inputs.check_tokenizer_round_trip, case)


def test_the_property_can_fail():
    """A tokenizer that loses a character is caught: the check is not vacuous."""
    from lstmgen.tokenizers import CharTokenizer

    original = CharTokenizer.decode
    try:
        CharTokenizer.decode = lambda self, ids: original(self, list(ids)[:-1])
        outcome, detail = fuzz_inputs.run_case(fuzz_inputs.check_tokenizer_round_trip, ("char", False, "abc", ""))
    finally:
        CharTokenizer.decode = original
    assert outcome == "wrong" and "decode(encode('abc'))" in detail
