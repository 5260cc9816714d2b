"""A gan train run's files fuzzed (stress/fuzz_inputs.py's gan_run_files, bounded): gan_run.json and data.npz
truncated, byte-flipped, replaced by a FIFO, their entries replaced, the windows rolled or swapped between regions.
With the hashes a run writes, every change must be refused with an error naming the file; a run written before
them may read a plausible change (counted by the benchmark, allowed here), never a traceback or a hang."""

from __future__ import annotations

import pytest
from hypothesis import given

from fuzzing import assert_passes, bounded, fuzz_inputs


@pytest.fixture(scope="module")
def gan_lab(tiny_run, tmp_path_factory):
    return fuzz_inputs.GanRunLab(tiny_run, tmp_path_factory.mktemp("gan-lab"))


@bounded(60)
@given(case=fuzz_inputs.gan_file_cases)
def test_damaged_gan_run_files_are_refused(gan_lab, case):
    assert_passes(lambda c: fuzz_inputs.check_gan_run_file(c, gan_lab), case)


@bounded(30)
@given(case=fuzz_inputs.gan_file_cases_legacy)
def test_damaged_files_of_a_run_without_hashes_never_break_the_reader(gan_lab, case):
    assert_passes(lambda c: fuzz_inputs.check_gan_run_file(c, gan_lab), case, ("ok", "refused", "silently_different"))
