"""A bounded load test against `lstmgen serve`: 200 requests, a quarter malformed, some streaming, 20 at a time.

Every valid request must be answered in full, every malformed one with a 400, nothing with a 5xx, and the
server's resident memory must not grow from one such round to the next.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from server_harness import ServeProcess

REQUESTS = 200
CONCURRENCY = 20
MALFORMED = [
    b'{"prompt": "the ", "max_tokens": -3}',
    b'{"prompt": "the ", "temperature": -7}',
    b'{"prompt": 12}',
    b'{"prompt": "the ", "top_p": "high"}',
    b'{"prompt": "the ", "bogus": true}',
    b'{"prompt": "the ", ',
    b'{"prompt": "the ", "n": 99}',
    b'{"prompt": "the ", "max_tokens": 10, "stream": true, "stop": [""]}',
]


def request_plan(index: int) -> tuple[str, bytes, int]:
    """(kind, body, tokens per choice) for request ``index``: every 4th malformed, every 3rd valid one streamed."""
    if index % 4 == 0:
        return "malformed", MALFORMED[(index // 4) % len(MALFORMED)], 0
    tokens = 10 + index % 41
    body = {"prompt": ["the ", "a stitch ", "naïve café "][index % 3], "max_tokens": tokens, "n": 1 + index % 2,
            "temperature": 0.5 + (index % 5) / 5, "stream": index % 3 == 0}
    return ("stream" if body["stream"] else "plain"), json.dumps(body).encode(), tokens


async def one_request(client: httpx.AsyncClient, index: int) -> tuple[str, int, bool]:
    """Send request ``index``; return (kind, status, whether the answer was complete and well formed)."""
    kind, body, tokens = request_plan(index)
    n = 1 + index % 2
    if kind == "stream":
        async with client.stream("POST", "/v1/completions", content=body) as response:
            if response.status_code != 200:
                await response.aread()
                return kind, response.status_code, False
            texts: dict[int, str] = {}
            done = False
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    for choice in json.loads(line[6:])["choices"]:
                        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
            complete = done and sorted(texts) == list(range(n)) and all(len(text) == tokens for text in texts.values())
            return kind, 200, complete
    response = await client.post("/v1/completions", content=body)
    if kind == "malformed":
        return kind, response.status_code, response.status_code == 400 and response.json()["error"]["message"] != ""
    if response.status_code != 200:
        return kind, response.status_code, False
    choices = response.json()["choices"]
    return kind, 200, len(choices) == n and all(len(choice["text"]) == tokens for choice in choices)


async def load_round(url: str) -> list[tuple[str, int, bool]]:
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, headers={"Content-Type": "application/json"}) as client:

        async def gated(index: int):
            async with gate:
                return await one_request(client, index)

        return await asyncio.gather(*(gated(index) for index in range(REQUESTS)))


@pytest.mark.slow
def test_load_round_is_answered_in_full_with_stable_memory(tiny_run, tmp_path):
    with ServeProcess(tiny_run, tmp_path / "serve.log") as server:
        warm_up = asyncio.run(load_round(server.url))  # allocator pools and caches fill up here
        memory_before = server.rss_bytes()
        results = asyncio.run(load_round(server.url))
        memory_after = server.rss_bytes()
        stats = httpx.get(server.url + "/health").json()["generations"]
        log = server.log_path.read_text()

    for outcome in (warm_up, results):
        statuses = [status for _, status, _ in outcome]
        assert not [status for status in statuses if status >= 500], "the server answered with a 5xx"
        assert all(complete for _, _, complete in outcome), [row for row in outcome if not row[2]][:5]
        kinds = [kind for kind, _, _ in outcome]
        assert kinds.count("malformed") == REQUESTS // 4 and kinds.count("stream") > 40
    assert stats["failed"] == 0 and stats["rejected"] == 0 and stats["running"] == 0 and stats["waiting"] == 0
    assert stats["completed"] == 2 * (REQUESTS - REQUESTS // 4)
    assert "Traceback" not in log
    growth = memory_after - memory_before
    assert growth < 16 * 2**20, f"the server's memory grew by {growth / 2**20:.1f} MiB over 200 requests"


def server_load_benchmark():
    """benchmarks/server/server_load.py as a module (the benchmarks folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "server" / "server_load.py"
    spec = importlib.util.spec_from_file_location("server_load_benchmark", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return benchmark


def test_the_benchmark_clients_count_what_the_server_streams(tiny_run, tmp_path):
    # benchmarks/server/server_load.py's light client (the default) must read the same stream as httpx does:
    # every request answered, its usage counted, its first token and chunk gaps timed.
    benchmark = server_load_benchmark()
    with ServeProcess(tiny_run, tmp_path / "serve.log") as server:
        for client in ("raw", "httpx"):
            records, wall = asyncio.run(benchmark.run_streams(server.url, 3, 24, 1.0, None, client))
            assert records and all(record["status"] == 200 for record in records), (client, records[:2])
            assert all(record["completion_tokens"] == 24 for record in records), client
            assert all(record["first_token_s"] is not None and 0 < record["first_token_s"] < wall for record in records)
            summary = benchmark.summarise_streams(records, wall)
            assert summary["server_5xx"] == 0 and summary["completion_tokens_per_s"] > 0


def test_the_streaming_benchmark_compares_each_round_with_what_was_measured_beside_it(tiny_run, tmp_path):
    # The bars' protocol: every server up at once, each round the offline rate then every server in turn, the
    # offline rate once more at the end; each round's engine rate over the offline rates around it and over the
    # best per-request server of the same round.
    import argparse
    import statistics

    benchmark = server_load_benchmark()
    args = argparse.Namespace(streams="1,2", server=["engine", "workers:1"], serve_flag=[], stream_tokens=16, seconds=0.5,
                              rounds=2, offline_seconds=0.2, big_prompt_every=None, big_prompt_at=2, client="raw",
                              checkpoint=str(tiny_run), preset="small")
    result = benchmark.streams_mode(args, tiny_run, "the test's run", tmp_path)
    assert result["load"]["rounds"] == 2
    for key in ("1", "2"):
        comparison = result["comparisons"][key]
        offline = comparison["offline_tokens_per_s"]
        assert len(offline) == 3 and all(rate > 0 for rate in offline)  # before each round, and after the last
        engine = result["servers"]["engine"]["runs"][key]
        workers = result["servers"]["workers:1"]["runs"][key]
        for run in (engine, workers):
            assert len(run["rounds_tokens_per_s"]) == 2 and all(rate > 0 for rate in run["rounds_tokens_per_s"])
            assert run["server_5xx"] == 0 and run["requests"] >= 2
        around = [(offline[0] + offline[1]) / 2, (offline[1] + offline[2]) / 2]
        expected = [rate / reference for rate, reference in zip(engine["rounds_tokens_per_s"], around)]
        assert comparison["engine_to_offline"] == pytest.approx(expected, abs=1e-3)
        assert comparison["engine_to_offline_median"] == pytest.approx(statistics.median(expected), abs=1e-3)
        assert comparison["engine_to_best_workers"] == pytest.approx(
            [a / b for a, b in zip(engine["rounds_tokens_per_s"], workers["rounds_tokens_per_s"])], abs=0.01)
    assert benchmark.round_order(["engine", "workers:2", "workers:4"], 1) == ["workers:4", "workers:2", "engine"]
