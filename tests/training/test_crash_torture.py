"""A bounded crash torture (stress/crash_torture.py's machinery): the real `lstmgen train` CLI killed with SIGKILL
at five moments, one of each kind that once broke a run, restarted each time, ends bit-identical to a run never killed.

The pipeline takes the run lock and repairs the run directory at every start (lstmgen.training.pipeline); see
docs/reliability.md, "Crash and resume".
"""

from __future__ import annotations

import pytest

import crash_torture  # stress/ is on pytest's pythonpath (pyproject.toml)

EVENTS = ["step:5",             # before the first checkpoint: the run starts again from scratch
          "in_write:2",         # inside the second checkpoint write (after its staging directory appeared)
          "between_renames:1",  # last/ moved aside, the new one not yet in its place
          "after_metrics:1",    # RUN/metrics.jsonl has the record, last/ does not
          "before_best:1"]      # last/ written, best/ not


@pytest.mark.slow
def test_killed_five_times_the_run_ends_bit_identical(tmp_path):
    config = crash_torture.Configuration("char", 0.2)  # dropout: the RNG state must resume exactly too
    corpus = crash_torture.corpus_file(tmp_path, characters=6_000)
    reference, _, _ = crash_torture.reference_run(config, corpus, tmp_path, steps=60, interval=10)
    outcome = crash_torture.torture(config, EVENTS, corpus, tmp_path, reference, steps=60, interval=10)
    assert outcome["failures"] == [] and outcome["events_not_reached"] == []
    assert [kill["kind"] for kill in outcome["kills"]] == [event.split(":")[0] for event in EVENTS]
    assert outcome["kills_survived"] == 5 and outcome["differences_from_uninterrupted"] == [] and outcome["bit_identical"]
    assert outcome["kills"][0]["durable_step"] == 0  # killed before any checkpoint: started again
    assert any(line.startswith("restored last/") for line in outcome["repairs"])


def test_the_comparison_sees_a_difference(tmp_path, tiny_run):
    """compare() is not vacuous: a run trained with another seed differs in weights, optimizer state and metrics."""
    import shutil

    from conftest import TINY_MODEL, TINY_SETTINGS, TINY_TEXT
    from lstmgen import train

    train(text=TINY_TEXT, out_dir=tmp_path / "other", model=TINY_MODEL, progress=False, log=lambda line: None,
          **{**TINY_SETTINGS, "seed": 99})
    problems = crash_torture.compare(tiny_run, tmp_path / "other")
    assert any("model.safetensors differs" in p for p in problems) and any("'optimizer'" in p for p in problems)
    shutil.copytree(tiny_run, tmp_path / "same", ignore=shutil.ignore_patterns(".lock"))
    assert crash_torture.compare(tiny_run, tmp_path / "same") == []
