"""Load `lstmgen serve` with concurrent requests; print JSON with requests/s and time to first streamed token.

    nice -n 19 .venv/bin/python benchmarks/server/server_load.py                       # small preset, random weights
    nice -n 19 .venv/bin/python benchmarks/server/server_load.py --train-steps 300     # small preset, briefly trained
    nice -n 19 .venv/bin/python benchmarks/server/server_load.py --checkpoint runs/demo

The load is the load test's: REQUESTS requests, a quarter of them malformed (answered 400), a third of
the valid ones streamed, CONCURRENCY in flight at a time, each valid one asking for 10-60 tokens of 1-2
samples. The server runs in its own process with its default settings (one generation worker per core,
one torch thread each). Speed does not depend on the weights' values, so random weights of the right
shape measure the same thing as trained ones; the JSON says which were used. Record results in
docs/server.md.
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
from pathlib import Path

import httpx
import torch

import lstmgen
from lstmgen import CharTokenizer, ModelConfig, RecurrentLanguageModel, save_checkpoint
from lstmgen.data.corpus import default_corpus_text
from lstmgen.system.runtime import machine_record
from lstmgen.training.presets import PRESETS

PROMPTS = ["The ", "Python ", "A function ", "In the "]
MALFORMED = [
    b'{"prompt": "The ", "max_tokens": -3}',
    b'{"prompt": "The ", "temperature": -7}',
    b'{"prompt": 12}',
    b'{"prompt": "The ", "bogus": true}',
    b'{"prompt": "The ", ',
    b'{"prompt": "The ", "n": 99}',
]


def make_checkpoint(directory: Path, preset: str, train_steps: int) -> tuple[Path, str]:
    """A checkpoint of the preset's shape: trained briefly on the default corpus, or with random weights."""
    if train_steps > 0:
        lstmgen.train(text=default_corpus_text(), out_dir=directory / "run", preset=preset, max_steps=train_steps,
                      eval_interval=train_steps, sample_length=0, progress=False, log=lambda line: None)
        return directory / "run", f"trained {train_steps} steps on the default corpus"
    tokenizer = CharTokenizer.fit(default_corpus_text())
    torch.manual_seed(0)
    model = RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, **PRESETS[preset]["model"]))
    return save_checkpoint(directory / "random", model, tokenizer), "random (untrained), char vocabulary of the default corpus"


def plan(index: int, max_tokens: int) -> tuple[str, bytes, int]:
    if index % 4 == 0:
        return "malformed", MALFORMED[(index // 4) % len(MALFORMED)], 0
    tokens = 10 + index % (max_tokens - 9)
    stream = index % 3 == 0
    body = {"prompt": PROMPTS[index % len(PROMPTS)], "max_tokens": tokens, "n": 1 + index % 2, "temperature": 0.8, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return ("stream" if stream else "plain"), json.dumps(body).encode(), tokens


async def one(client: httpx.AsyncClient, index: int, max_tokens: int) -> dict:
    kind, body, _ = plan(index, max_tokens)
    started = time.perf_counter()
    record = {"kind": kind, "first_token_s": None, "completion_tokens": 0}
    if kind == "stream":
        async with client.stream("POST", "/v1/completions", content=body) as response:
            record["status"] = response.status_code
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if record["first_token_s"] is None and any(choice["text"] for choice in chunk.get("choices", [])):
                    record["first_token_s"] = time.perf_counter() - started
                if chunk.get("usage"):
                    record["completion_tokens"] = chunk["usage"]["completion_tokens"]
    else:
        response = await client.post("/v1/completions", content=body)
        record["status"] = response.status_code
        if response.status_code == 200:
            record["completion_tokens"] = response.json()["usage"]["completion_tokens"]
    record["latency_s"] = time.perf_counter() - started
    return record


async def run_load(url: str, requests: int, concurrency: int, max_tokens: int) -> tuple[list[dict], float]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits, headers={"Content-Type": "application/json"}) as client:

        async def gated(index: int) -> dict:
            async with gate:
                return await one(client, index, max_tokens)

        started = time.perf_counter()
        records = await asyncio.gather(*(gated(index) for index in range(requests)))
        return records, time.perf_counter() - started


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(round(q * (len(values) - 1))))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 1), "p90_ms": round(pick(0.9) * 1000, 1), "p99_ms": round(pick(0.99) * 1000, 1),
            "max_ms": round(values[-1] * 1000, 1), "mean_ms": round(statistics.fmean(values) * 1000, 1)}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def server_threads(flags: list[str]) -> int:
    """Torch threads of each server process: lstmgen serve's --threads among the --serve-flag values (its default: 1)."""
    for index, flag in enumerate(flags):
        if flag.startswith("--threads="):
            return int(flag.split("=", 1)[1])
        if flag == "--threads" and index + 1 < len(flags):
            return int(flags[index + 1])
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="serve this checkpoint instead of making one")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS), help="model shape when making a checkpoint")
    parser.add_argument("--train-steps", type=int, default=0, help="train the preset this many steps first (0 = random weights)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=60, help="valid requests ask for 10..this many tokens")
    parser.add_argument("--serve-flag", action="append", default=[], help="extra flag for lstmgen serve (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.checkpoint:
            checkpoint, weights = Path(args.checkpoint), "from --checkpoint"
        else:
            checkpoint, weights = make_checkpoint(scratch, args.preset, args.train_steps)
        log_path = scratch / "serve.log"
        command = [sys.executable, "-m", "lstmgen.cli", "serve", str(checkpoint), "--host", "127.0.0.1", "--port", "0", *args.serve_flag]
        load_at_start = os.getloadavg()[0]
        with open(log_path, "w") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 120
                url = None
                while url is None:
                    match = re.search(r"Uvicorn running on (http://[\d.]+:\d+)", log_path.read_text())
                    url = match.group(1) if match else None
                    if url is None and (server.poll() is not None or time.monotonic() > deadline):
                        raise SystemExit(f"lstmgen serve did not start:\n{log_path.read_text()}")
                    time.sleep(0.1)
                info = httpx.get(url + "/info").json()
                asyncio.run(run_load(url, 20, args.concurrency, args.max_tokens))  # warm-up, not measured
                memory_before = rss_mib(server.pid)
                records, wall = asyncio.run(run_load(url, args.requests, args.concurrency, args.max_tokens))
                memory_after = rss_mib(server.pid)
                health = httpx.get(url + "/health").json()["generations"]
            finally:
                server.terminate()
                server.wait(timeout=30)

    statuses: dict[str, int] = {}
    for record in records:
        statuses[str(record["status"])] = statuses.get(str(record["status"]), 0) + 1
    valid = [r for r in records if r["kind"] != "malformed"]
    answered = [r for r in valid if r["status"] == 200]
    tokens = sum(r["completion_tokens"] for r in answered)
    result = {
        "benchmark": "server_load", "lstmgen": lstmgen.__version__,
        "model": {"preset": None if args.checkpoint else args.preset, "weights": weights, "shape": info["model"]["model"],
                  "parameters": info["model"]["parameters"], "vocab_size": info["model"]["tokenizer"]["vocab_size"]},
        "load": {"requests": args.requests, "concurrency": args.concurrency, "malformed": len(records) - len(valid),
                 "streamed": sum(r["kind"] == "stream" for r in records), "tokens_per_choice": f"10..{args.max_tokens}", "samples_per_request": "1..2"},
        "server": {"workers": info["limits"]["concurrency"], "serve_flags": args.serve_flag},
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(records) / wall, 1),
        "valid_requests_per_s": round(len(answered) / wall, 1),
        "completion_tokens_per_s": round(tokens / wall, 1),
        "time_to_first_token": percentiles([r["first_token_s"] for r in records if r["first_token_s"] is not None]),
        "latency_plain": percentiles([r["latency_s"] for r in records if r["kind"] == "plain"]),
        "statuses": statuses,
        "server_5xx": sum(count for status, count in statuses.items() if status.startswith("5")),
        "valid_answered": f"{len(answered)}/{len(valid)}",
        "server_rss_mib": {"before": memory_before, "after": memory_after},
        "server_counters": health,
        "machine": {**machine_record(server_threads(args.serve_flag)), "load_average_at_start": round(load_at_start, 2)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
