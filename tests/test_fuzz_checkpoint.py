"""Checkpoint loading fuzzed (stress/fuzz_inputs.py, bounded): every file truncated and byte-flipped at random
offsets, absurd config.json values, random structure in tokenizer.json / metrics.jsonl / trainer-state entries,
pickles that would create a file, and special files in place of every file.

With the manifest, any change of any file must be refused; whatever loads must be exactly what was written
(and must then work: info, generation, a resumed training step)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import assert_passes, bounded, fuzz_inputs


@pytest.fixture(scope="module")
def lab(tiny_run, tmp_path_factory):
    return fuzz_inputs.CheckpointLab(tiny_run / "last", tmp_path_factory.mktemp("lab") / "checkpoint")


@pytest.fixture(scope="module")
def legacy(tiny_run, tmp_path_factory):
    return fuzz_inputs.CheckpointLab(tiny_run / "last", tmp_path_factory.mktemp("legacy") / "checkpoint", legacy=True)


@pytest.fixture(scope="module")
def train_tokens(tiny_run):
    from lstmgen.data.store import TokenStore

    return TokenStore.open(tiny_run / "data").train


FILES = ["config.json", "manifest.json", "metrics.jsonl", "model.safetensors", "tokenizer.json", "trainer_state.pt"]


@bounded(200)
@given(case=st.tuples(st.sampled_from(FILES), fuzz_inputs.mutations))
def test_any_truncation_or_flipped_byte_is_refused(lab, case):
    assert_passes(lambda c: fuzz_inputs.check_checkpoint_mutation(c, lab), case)


@bounded(40)
@given(case=st.tuples(st.sampled_from([name for name in FILES if name != "manifest.json"]), fuzz_inputs.mutations))
def test_a_checkpoint_without_a_manifest_never_gives_a_traceback(legacy, case):
    """Without manifest.json flipped weights cannot be seen (silently_different); everything else is still checked."""
    assert_passes(lambda c: fuzz_inputs.check_checkpoint_mutation(c, legacy), case, ("ok", "refused", "silently_different"))


@bounded(80)
@given(case=fuzz_inputs.config_edits)
def test_absurd_config_values_are_refused_before_allocating(lab, case):
    assert_passes(lambda c: fuzz_inputs.check_config_values(c, lab), case)


@bounded(60)
@given(case=fuzz_inputs.structure_cases)
def test_random_structure_is_refused_or_works(lab, train_tokens, case):
    assert_passes(lambda c: fuzz_inputs.check_json_structure(c, lab, train_tokens), case)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@bounded(30)
@given(case=fuzz_inputs.pickle_cases)
def test_a_malicious_pickle_never_runs(lab, case):
    assert_passes(lambda c: fuzz_inputs.check_malicious_pickle(c, lab), case)


def test_special_files_never_hang(lab, tmp_path):
    cases = fuzz_inputs.special_file_cases(lab, fuzz_inputs.Workspace(tmp_path))
    assert len(cases) > 50
    for label, case in cases:
        assert_passes(lambda _: case(), label)
