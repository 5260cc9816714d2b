"""Soak `lstmgen serve` with a long seeded mix of good and abusive requests; print JSON about how it held up.

    nice -n 10 .venv/bin/python stress/server_soak.py                          # 20,000 requests, 32 at a time
    nice -n 10 .venv/bin/python stress/server_soak.py --requests 5000 --concurrency 50 --seed 3
    nice -n 10 .venv/bin/python stress/server_soak.py --checkpoint runs/demo

The server is a real `lstmgen serve` process on loopback serving the `small` preset's shape with random
weights (as benchmarks/server/server_load.py; the weights' values do not change what is measured here). The
traffic is ``server_traffic.plan``: a quarter malformed, the rest completions of every shape, streams
cancelled mid-way and streams read slowly, sent ``--concurrency`` at a time, while ``/health`` is polled
every half second on its own connection. Bars: no 5xx (and no error event in a stream), no well-formed
request that loses its connection or goes unanswered, every health check answered, and the server's
resident memory over the last thousand requests within 10% of the first thousand's.

``soak(url, pid, ...)`` is the machinery; tests/server/test_server_soak.py runs it with a few hundred requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

import server_traffic
from lstmgen.system.runtime import machine_record
from server_traffic import Outcome

HEALTH_INTERVAL_S = 0.5
RSS_EVERY = 25  # read the server's memory after every this many answered requests
MEMORY_GROWTH_BAR = 0.10


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS line for process {pid}")


async def _poll_health(url: str, stop: asyncio.Event, checks: list[tuple[bool, float]]) -> None:
    """GET (and every other time HEAD) /health every HEALTH_INTERVAL_S on a connection of its own."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while not stop.is_set():
            started = time.perf_counter()
            method = "HEAD" if len(checks) % 2 else "GET"
            try:
                response = await client.request(method, "/health")
                answered = response.status_code == 200 and (method == "HEAD" or response.json()["status"] == "ok")
            except (httpx.HTTPError, ValueError):
                answered = False
            checks.append((answered, time.perf_counter() - started))
            try:
                await asyncio.wait_for(stop.wait(), HEALTH_INTERVAL_S)
            except asyncio.TimeoutError:
                pass


async def _run(url: str, pid: int, planned: list[server_traffic.Planned], concurrency: int, timeout_s: float,
               api_key: str | None) -> tuple[list[Outcome], list[tuple[int, int]], list[tuple[bool, float]], float]:
    outcomes: list[Outcome] = []
    memory: list[tuple[int, int]] = [(0, rss_bytes(pid))]  # (requests answered so far, resident bytes)
    checks: list[tuple[bool, float]] = []
    queue = iter(planned)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits, headers=headers) as client:

        async def worker() -> None:
            for request in queue:  # one shared iterator: each worker takes the next planned request
                outcomes.append(await server_traffic.send(client, request))
                if len(outcomes) % RSS_EVERY == 0:
                    memory.append((len(outcomes), rss_bytes(pid)))

        health = asyncio.create_task(_poll_health(url, stop, checks))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        stop.set()
        await health
    memory.append((len(outcomes), rss_bytes(pid)))
    return outcomes, memory, checks, wall


def percentiles_ms(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(round(q * (len(values) - 1))))]  # noqa: E731
    return {"p50": round(pick(0.5) * 1000, 1), "p99": round(pick(0.99) * 1000, 1), "max": round(values[-1] * 1000, 1),
            "mean": round(statistics.fmean(values) * 1000, 1)}


def _memory_report(memory: list[tuple[int, int]], count: int) -> dict[str, Any]:
    """Mean resident memory while the first and the last ``window`` requests were answered (window: 1000, or half a short run)."""
    window = min(1000, count // 2)
    first = [rss for answered, rss in memory if answered <= window]
    last = [rss for answered, rss in memory if answered >= count - window]
    first_mean, last_mean = statistics.fmean(first), statistics.fmean(last)
    growth = last_mean / first_mean - 1
    return {"window_requests": window, "first_window_mib": round(first_mean / 2**20, 1), "last_window_mib": round(last_mean / 2**20, 1),
            "start_mib": round(memory[0][1] / 2**20, 1), "end_mib": round(memory[-1][1] / 2**20, 1), "peak_mib": round(max(r for _, r in memory) / 2**20, 1),
            "growth_percent": round(100 * growth, 2), "growth_bar_met": growth < MEMORY_GROWTH_BAR}


def summarize(outcomes: list[Outcome], memory: list[tuple[int, int]], checks: list[tuple[bool, float]], wall: float) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for outcome in outcomes:
        key = str(outcome.status) if outcome.status is not None else "no answer"
        statuses[key] = statuses.get(key, 0) + 1
    well = [o for o in outcomes if o.well_formed]
    malformed = [o for o in outcomes if not o.well_formed]
    kinds: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        row = kinds.setdefault(outcome.kind, {})
        key = str(outcome.status) if outcome.status is not None else "no answer"
        row[key] = row.get(key, 0) + 1
    server_errors = [o for o in outcomes if o.status is not None and o.status >= 500]
    dropped = [o for o in outcomes if o.failure is not None and o.failure.startswith("dropped")]
    timed_out = [o for o in outcomes if o.failure is not None and o.failure.startswith("timeout")]
    unanswered_well = [o for o in well if not o.complete]
    answered_checks = sum(answered for answered, _ in checks)
    return {
        "requests": len(outcomes),
        "well_formed": len(well),
        "malformed": len(malformed),
        "wall_s": round(wall, 1),
        "requests_per_s": round(len(outcomes) / wall, 1),
        "latency_ms": {"all": percentiles_ms([o.latency_s for o in outcomes]),
                       "well_formed": percentiles_ms([o.latency_s for o in well]),
                       "malformed": percentiles_ms([o.latency_s for o in malformed])},
        "statuses": dict(sorted(statuses.items())),
        "server_5xx": len(server_errors),
        "stream_error_events": sum(o.stream_error for o in outcomes),
        "dropped_connections": {"well_formed": sum(o.well_formed for o in dropped), "malformed": sum(not o.well_formed for o in dropped)},
        "timeouts": len(timed_out),
        "well_formed_not_answered_in_full": len(unanswered_well),
        "streams_cancelled_by_client": sum(o.cancelled for o in outcomes),
        "health_checks": {"sent": len(checks), "answered": answered_checks, "latency_ms": percentiles_ms([s for _, s in checks])},
        "memory": _memory_report(memory, len(outcomes)),
        "by_kind": dict(sorted(kinds.items())),
        "examples": {"server_errors": [o.kind for o in server_errors[:5]], "dropped": [(o.kind, o.failure) for o in dropped[:5]],
                     "not_answered_in_full": [(o.kind, o.status, o.failure) for o in unanswered_well[:5]]},
    }


def soak(url: str, pid: int, requests: int, concurrency: int, seed: int, malformed_fraction: float = 0.25,
         timeout_s: float = 120, api_key: str | None = None) -> dict[str, Any]:
    """Send the seeded plan to the server at ``url`` (process ``pid``) and summarize what happened."""
    planned = server_traffic.plan(requests, seed, malformed_fraction)
    outcomes, memory, checks, wall = asyncio.run(_run(url, pid, planned, concurrency, timeout_s, api_key))
    return summarize(outcomes, memory, checks, wall)


def bars_met(report: dict[str, Any]) -> dict[str, bool]:
    return {"no_5xx": report["server_5xx"] == 0 and report["stream_error_events"] == 0,
            "no_dropped_well_formed": report["dropped_connections"]["well_formed"] == 0 and report["well_formed_not_answered_in_full"] == 0,
            "health_answered_throughout": report["health_checks"]["answered"] == report["health_checks"]["sent"] > 0,
            "memory_growth_under_10_percent": report["memory"]["growth_bar_met"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="serve this checkpoint instead of making one")
    parser.add_argument("--preset", default="small", help="model shape when making a checkpoint")
    parser.add_argument("--requests", type=int, default=20000, help="requests in all (20,000: about three minutes on 2 cores)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    parser.add_argument("--seed", type=int, default=0, help="seeds the plan of requests")
    parser.add_argument("--malformed-fraction", type=float, default=0.25)
    parser.add_argument("--serve-flag", action="append", default=[], help="extra flag for lstmgen serve (repeatable)")
    args = parser.parse_args()

    # The load benchmark's random-weight checkpoint of a preset's shape (benchmarks/server/server_load.py).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "server"))
    from server_load import make_checkpoint

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint, weights = (Path(args.checkpoint), "from --checkpoint") if args.checkpoint else make_checkpoint(scratch, args.preset, 0)
        log_path = scratch / "serve.log"
        command = [sys.executable, "-m", "lstmgen", "serve", str(checkpoint), "--host", "127.0.0.1", "--port", "0", *args.serve_flag]
        load_at_start = os.getloadavg()[0]
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with open(log_path, "w") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                url = _wait_for_url(server, log_path)
                info = httpx.get(url + "/info").json()
                report = soak(url, server.pid, args.requests, args.concurrency, args.seed, args.malformed_fraction)
                report["server_alive_at_end"] = server.poll() is None
                report["server_counters"] = httpx.get(url + "/health").json()["generations"]
            finally:
                server.terminate()
                server.wait(timeout=30)
        server_log = log_path.read_text()

    report = {
        "benchmark": "server_soak",
        "date": started_at,
        "command": " ".join(sys.argv),
        "plan": {"requests": args.requests, "concurrency": args.concurrency, "seed": args.seed, "malformed_fraction": args.malformed_fraction},
        "model": {"preset": None if args.checkpoint else args.preset, "weights": weights, "parameters": info["model"]["parameters"]},
        "server": {"workers": info["limits"]["concurrency"], "serve_flags": args.serve_flag,
                   "tracebacks_in_log": server_log.count("Traceback")},
        **report,
        "bars_met": None,
        "machine": {**machine_record(), "load_average_at_start": round(load_at_start, 2)},
    }
    report["bars_met"] = bars_met(report)
    print(json.dumps(report, indent=2))


def _wait_for_url(server: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"Uvicorn running on (http://[\d.]+:\d+)", log_path.read_text())
        if match:
            return match.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"lstmgen serve did not start:\n{log_path.read_text()}")


if __name__ == "__main__":
    main()
