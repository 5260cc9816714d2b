"""A bounded soak of `lstmgen serve`: stress/server_soak.py's machinery with a few hundred requests.

The same seeded plan (a quarter malformed: random JSON, wrong types, NaN and huge numbers, 5 MB bodies,
wrong content types, lone surrogates, absurd settings; streams cancelled and read slowly) at 20 at a time.
No 5xx, no error event in a stream, no well-formed request dropped or left unanswered, every health check
answered. Memory is not judged here: a few hundred requests are the allocator's warm-up.
"""

from __future__ import annotations

import pytest

import server_soak  # stress/ is on pytest's pythonpath (pyproject.toml)
from server_harness import ServeProcess

REQUESTS = 300
CONCURRENCY = 20


@pytest.mark.slow
def test_a_short_soak_has_no_5xx_and_drops_nothing(tiny_run, tmp_path):
    with ServeProcess(tiny_run, tmp_path / "serve.log") as server:
        report = server_soak.soak(server.url, server.process.pid, REQUESTS, CONCURRENCY, seed=11)
        alive = server.process.poll() is None
        log = server.log_path.read_text()

    assert report["requests"] == REQUESTS and report["malformed"] > REQUESTS // 8
    kinds = report["by_kind"]
    for kind in ("stream_cancelled", "slow_reader", "lone_surrogate", "absurd_setting", "stream", "beam"):
        assert kind in kinds, f"the plan sent no {kind} request"
    assert report["server_5xx"] == 0, report["examples"]
    assert report["stream_error_events"] == 0
    assert report["dropped_connections"] == {"well_formed": 0, "malformed": 0}, report["examples"]
    assert report["timeouts"] == 0 and report["well_formed_not_answered_in_full"] == 0, report["examples"]
    assert report["health_checks"]["sent"] > 0 and report["health_checks"]["answered"] == report["health_checks"]["sent"]
    assert alive and "Traceback" not in log


def test_the_plan_is_seeded():
    first, again, other = (server_soak.server_traffic.plan(200, seed) for seed in (5, 5, 6))
    assert first == again and first != other
    malformed = sum(not planned.well_formed for planned in first)
    assert 25 <= malformed <= 75  # about a quarter
