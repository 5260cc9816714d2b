"""Shared by tests/test_fuzz_*.py: stress/fuzz_inputs.py's properties, run here with a few dozen examples each.

Hypothesis is derandomized here, so ``make test`` draws the same cases every time (the benchmark draws
new ones from its seed). A case passes when it is accepted with the right result or refused with the
documented error; a traceback, a hang or a wrong result fails the test with the case and what happened.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

import fuzz_inputs  # stress/ is on pytest's pythonpath (pyproject.toml)


def bounded(examples: int):
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def assert_passes(check, case, allowed=("ok", "refused")) -> str:
    outcome, detail = fuzz_inputs.run_case(check, case)
    assert outcome in allowed, f"{outcome} for {case!r}:\n{detail}"
    return outcome
