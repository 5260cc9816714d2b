"""Load `lstmgen serve` with concurrent requests; print JSON with requests/s and time to first streamed token.

    nice -n 19 .venv/bin/python benchmarks/server/server_load.py                       # small preset, random weights
    nice -n 19 .venv/bin/python benchmarks/server/server_load.py --train-steps 300     # small preset, briefly trained
    nice -n 19 .venv/bin/python benchmarks/server/server_load.py --checkpoint runs/demo
    .venv/bin/python benchmarks/server/server_load.py --preset large --streams 1,8,64,256 --seconds 8 --rounds 3 \
        --server engine --server workers:2 --server workers:4 --big-prompt-every 1    # streaming clients, side by side

The streaming mode (``--streams``) starts every server named at once (``engine``: the batching engine, the
default; ``workers:K``: ``--max-streams 0 --concurrency K``, one request per worker as before the engine; an idle
server costs nothing) and, for each client count N, measures ``--rounds`` rounds. A round is: the offline rate in
this process (``LanguageModel.samples`` with N streams, ``LanguageModel.generate`` for one, on the threads
``lstmgen generate`` would use, the servers idle), then each server in turn (in reverse order every other round)
with N clients that each stream ``--stream-tokens`` tokens per request, request after request, for ``--seconds``.
After the last round the offline rate is measured once more, so every round is bracketed by two offline
measurements. Reported per server and N: aggregate completion tokens/s over all rounds and each round's, time to
first token p50/p90, and the gaps between a stream's chunks (inter-token latency) p50/p99; per N
(``comparisons``): each round's engine rate over the mean of the offline rates around it and over the best
per-request server's rate in the same round, and the medians of those ratios. This machine's speed drifts by up
to a factor of two over minutes, so only figures measured side by side are compared. ``--big-prompt-every S``
adds, after the rounds, a run of ``--big-prompt-at`` clients (64) for ``--seconds`` x ``--rounds`` beside a
client that sends a 2,000-character prompt every S seconds.

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
from lstmgen.system.runtime import generation_threads, machine_record
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
    """Torch threads of each server process: lstmgen serve's --threads among the --serve-flag values (0: automatic)."""
    for index, flag in enumerate(flags):
        if flag.startswith("--threads="):
            return int(flag.split("=", 1)[1])
        if flag == "--threads" and index + 1 < len(flags):
            return int(flags[index + 1])
    return 0


STREAM_PROMPTS = ["The ", "In the ", "A ", "It was "]


def stream_body(index: int, request: int, tokens: int) -> dict:
    """Client ``index``'s ``request``-th request: a streamed completion of ``tokens`` tokens with its usage."""
    return {"prompt": STREAM_PROMPTS[(index + request) % len(STREAM_PROMPTS)], "max_tokens": tokens, "temperature": 0.8,
            "stream": True, "stream_options": {"include_usage": True}, "unknown": "replace"}


def stream_record() -> dict:
    return {"status": None, "first_token_s": None, "gaps_s": [], "completion_tokens": 0, "kind": "stream"}


def note_chunk(record: dict, chunk: dict, now: float, started: float, last: float | None) -> float | None:
    """Record one streamed chunk read at ``now``: the first text's time, the gap since the last text (chunks read
    together count as one arrival), the usage. Returns the time of the last chunk with text."""
    if any(choice.get("text") for choice in chunk.get("choices", [])):
        if last is None:
            record["first_token_s"] = now - started
        elif now != last:
            record["gaps_s"].append(now - last)
        last = now
    if chunk.get("usage"):
        record["completion_tokens"] = chunk["usage"]["completion_tokens"]
    return last


async def keep(record: dict, records: list[dict]) -> None:
    """Keep a finished request's record; after a 429, wait as the openai client would (Retry-After: 1)."""
    if record["status"] == 429:
        await asyncio.sleep(1.0)
    record["end_s"] = time.perf_counter()
    records.append(record)


async def stream_client(client: httpx.AsyncClient, index: int, tokens: int, until: float, records: list[dict]) -> None:
    """Stream requests one after another until ``until``; record each one's first-token time and chunk gaps."""
    request = 0
    while time.perf_counter() < until:
        body = stream_body(index, request, tokens)
        request += 1
        started, record, last = time.perf_counter(), stream_record(), None
        try:
            async with client.stream("POST", "/v1/completions", json=body) as response:
                record["status"] = response.status_code
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        last = note_chunk(record, json.loads(line[6:]), time.perf_counter(), started, last)
        except httpx.HTTPError as error:  # counted, not fatal: a refused or dropped connection is a result too
            record["status"] = f"connection: {type(error).__name__}"
        await keep(record, records)


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio's streams: a load generator that costs the machine little.

    httpx parses every streamed chunk through several layers (httpcore, h11, anyio): at 64 clients and 7,000
    tokens/s it took 0.6 of a core, a third of this 2-core machine, which the server under test then lacks.
    This client reads the same bytes (status line, headers, chunked body) in a few calls per chunk; the server
    cannot tell them apart. ``--client httpx`` keeps the old client for comparison."""

    def __init__(self, url: str) -> None:
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_stream(self, path: str, body: dict):
        """Send a POST; yield ("status", code) and then each piece of the body as it arrives (bytes)."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        yield ("status", int(head[0].split()[1]))
        fields = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in head[1:] if ":" in line}
        if fields.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                piece = await self.reader.readexactly(size + 2)  # the chunk and its CRLF
                if size == 0:
                    break
                yield piece[:-2]
        else:
            yield await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection") == "close":
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None


async def raw_stream_client(url: str, index: int, tokens: int, until: float, records: list[dict]) -> None:
    """``stream_client`` over a ``RawConnection``: the same requests, the same record of each."""
    connection = RawConnection(url)
    request = 0
    while time.perf_counter() < until:
        body = stream_body(index, request, tokens)
        request += 1
        started, record, last, pending = time.perf_counter(), stream_record(), None, b""
        try:
            async for item in connection.post_stream("/v1/completions", body):
                if isinstance(item, tuple):
                    record["status"] = item[1]
                    continue
                now = time.perf_counter()
                events = (pending + item).split(b"\n\n")
                pending = events.pop()  # an event cut between two chunks waits for the rest
                for event in events:
                    if event.startswith(b"data: {"):
                        last = note_chunk(record, json.loads(event[6:]), now, started, last)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            record["status"] = f"connection: {type(error).__name__}"
            connection.close()
        await keep(record, records)
    connection.close()


async def big_prompts(client: httpx.AsyncClient, every: float, until: float, records: list[dict]) -> None:
    """A 2,000-character prompt every ``every`` seconds (16 tokens each), beside the streaming clients."""
    text = (default_corpus_text() * 2)[:2000]
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            response = await client.post("/v1/completions", json={"prompt": text, "max_tokens": 16, "unknown": "replace"})
            status = response.status_code
        except httpx.HTTPError as error:
            status = f"connection: {type(error).__name__}"
        records.append({"status": status, "latency_s": time.perf_counter() - started, "kind": "big_prompt"})
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))


async def run_streams(url: str, clients: int, tokens: int, seconds: float, big_every: float | None,
                      client_kind: str = "raw") -> tuple[list[dict], float]:
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    records: list[dict] = []
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        until = started + seconds
        if client_kind == "raw":
            jobs = [raw_stream_client(url, index, tokens, until, records) for index in range(clients)]
        else:
            jobs = [stream_client(client, index, tokens, until, records) for index in range(clients)]
        if big_every:
            jobs.append(big_prompts(client, big_every, until, records))
        await asyncio.gather(*jobs)
        return records, time.perf_counter() - started


def offline_model(checkpoint: Path, counts: list[int]) -> lstmgen.LanguageModel:
    """The checkpoint loaded in this process for the offline rates, its decoder's weights laid out once."""
    model = lstmgen.LanguageModel.load(checkpoint)
    model.samples("The ", max_tokens=32, num_samples=max(counts), unknown="replace")
    return model


def offline_rate(model: lstmgen.LanguageModel, count: int, tokens: int, threads: int, seconds: float = 5.0) -> float:
    """LanguageModel.samples with ``count`` streams (``generate`` for one), tokens/s, in this process: on ``threads``
    torch threads, or (0) on the threads ``lstmgen generate`` picks for that many streams (one for a few, every core
    for a batch). Repeated for at least ``seconds``: one 256-token generation lasts a tenth of a second, too short
    to time on a shared machine."""
    generation_threads(count, threads)
    started, made = time.perf_counter(), 0
    while made == 0 or time.perf_counter() - started < seconds:
        if count == 1:
            model.generate("The ", max_tokens=tokens, temperature=0.8, unknown="replace")
        else:
            model.samples("The ", max_tokens=tokens, temperature=0.8, num_samples=count, unknown="replace")
        made += count * tokens
    return round(made / (time.perf_counter() - started), 1)


def summarise_streams(records: list[dict], wall: float) -> dict:
    answered = [r for r in records if r["status"] == 200 and r["kind"] == "stream"]
    statuses: dict[str, int] = {}
    for record in records:
        statuses[str(record["status"])] = statuses.get(str(record["status"]), 0) + 1
    big = [r for r in records if r["kind"] == "big_prompt"]
    return {"completion_tokens_per_s": round(sum(r["completion_tokens"] for r in answered) / wall, 1),
            "requests": len(answered), "wall_s": round(wall, 2),
            "time_to_first_token": percentiles([r["first_token_s"] for r in answered if r["first_token_s"] is not None]),
            "inter_token": percentiles([gap for r in answered for gap in r["gaps_s"]]),
            "big_prompt_latency": percentiles([r["latency_s"] for r in big if r["status"] == 200]) if big else None,
            "statuses": statuses, "server_5xx": sum(count for status, count in statuses.items() if status.startswith("5"))}


def start_server(checkpoint: Path, flags: list[str], log_path: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "lstmgen", "serve", str(checkpoint), "--host", "127.0.0.1", "--port", "0", *flags]
    log = open(log_path, "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        match = re.search(r"Uvicorn running on (http://[\d.]+:\d+)", log_path.read_text())
        if match:
            return server, match.group(1)
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"lstmgen serve did not start:\n{log_path.read_text()}")
        time.sleep(0.1)


def server_flags(spec: str, extra: list[str]) -> list[str]:
    """``engine`` or ``workers:K`` -> lstmgen serve flags."""
    if spec == "engine":
        return list(extra)
    if spec.startswith("workers:"):
        return ["--max-streams", "0", "--concurrency", spec.split(":", 1)[1], *extra]
    raise SystemExit(f"--server takes engine or workers:K, got {spec!r}")


def round_order(specs: list[str], index: int) -> list[str]:
    """The servers in round ``index``'s order: reversed every other round, so a drift within a round favours none."""
    return list(specs) if index % 2 == 0 else list(reversed(specs))


def median_ratio(numerators: list[float], denominators: list[float]) -> float | None:
    ratios = [n / d for n, d in zip(numerators, denominators) if d]
    return round(statistics.median(ratios), 3) if ratios else None


def streams_mode(args: argparse.Namespace, checkpoint: Path, weights: str, scratch: Path) -> dict:
    """Every server is started at once (an idle one costs nothing) and measured in ``--rounds`` rounds per client
    count: in each round the offline rate, then every server in turn (in reverse order every other round), then,
    after the last round, the offline rate once more. Each round's runs are compared with the offline rates just
    before and after it, and the engine with the best per-request server of the same round: this machine's speed
    drifts by a factor up to two over minutes, so only figures measured side by side are compared."""
    counts = [int(part) for part in args.streams.split(",")]
    specs = args.server or ["engine"]
    threads = server_threads(args.serve_flag)
    load_at_start = os.getloadavg()[0]
    model = offline_model(checkpoint, counts)
    started: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for index, spec in enumerate(specs):
            started[spec] = start_server(checkpoint, server_flags(spec, args.serve_flag), scratch / f"serve-{index}.log")
            asyncio.run(run_streams(started[spec][1], 4, 32, 2.0, None))  # warm-up, not measured
        info = httpx.get(started[specs[0]][1] + "/info").json()
        runs: dict[str, dict] = {spec: {} for spec in specs}
        offline: dict[str, list[float]] = {}
        comparisons: dict[str, dict] = {}
        for count in counts:
            key = str(count)
            rates = {spec: [] for spec in specs}
            records = {spec: [] for spec in specs}
            walls = {spec: 0.0 for spec in specs}
            memory = {spec: [rss_mib(started[spec][0].pid)] for spec in specs}
            offline[key] = []
            for round_index in range(args.rounds):
                offline[key].append(offline_rate(model, count, args.stream_tokens, threads, args.offline_seconds))
                for spec in round_order(specs, round_index):
                    found, wall = asyncio.run(run_streams(started[spec][1], count, args.stream_tokens, args.seconds, None, args.client))
                    rates[spec].append(summarise_streams(found, wall)["completion_tokens_per_s"])
                    records[spec] += found
                    walls[spec] += wall
            offline[key].append(offline_rate(model, count, args.stream_tokens, threads, args.offline_seconds))
            around = [statistics.fmean(offline[key][index : index + 2]) for index in range(args.rounds)]  # each round's
            for spec in specs:
                memory[spec].append(rss_mib(started[spec][0].pid))
                runs[spec][key] = {**summarise_streams(records[spec], walls[spec]), "rounds_tokens_per_s": rates[spec],
                                   "ratio_to_offline_around": median_ratio(rates[spec], around),
                                   "server_rss_mib": {"before": memory[spec][0], "after": memory[spec][1]}}
            comparison = {"offline_tokens_per_s": offline[key], "rounds": args.rounds}
            if "engine" in specs:
                comparison["engine_to_offline"] = [round(rate / reference, 3) for rate, reference in zip(rates["engine"], around)]
                comparison["engine_to_offline_median"] = median_ratio(rates["engine"], around)
                workers = [spec for spec in specs if spec.startswith("workers:")]
                if workers:
                    best = [max(rates[spec][index] for spec in workers) for index in range(args.rounds)]
                    comparison["engine_to_best_workers"] = [round(rate / other, 2) for rate, other in zip(rates["engine"], best)]
                    comparison["engine_to_best_workers_median"] = median_ratio(rates["engine"], best)
            comparisons[key] = comparison
            print(json.dumps({key: comparison}), file=sys.stderr, flush=True)  # what is done, should a later run fail
        if args.big_prompt_every:  # the latency bar's run: the streams with a long prompt arriving beside them
            for spec in specs:
                key = f"{args.big_prompt_at}+big_prompts"
                found, wall = asyncio.run(run_streams(started[spec][1], args.big_prompt_at, args.stream_tokens,
                                                      args.seconds * args.rounds, args.big_prompt_every, args.client))
                runs[spec][key] = {**summarise_streams(found, wall), "big_prompt_every_s": args.big_prompt_every}
        servers = {spec: {"serve_flags": server_flags(spec, args.serve_flag), "runs": runs[spec],
                          "health": httpx.get(started[spec][1] + "/health").json()} for spec in specs}
    finally:
        for server, _ in started.values():
            server.terminate()
            server.wait(timeout=30)
    return {"benchmark": "server_load/streams", "lstmgen": lstmgen.__version__,
            "model": {"preset": None if args.checkpoint else args.preset, "weights": weights, "shape": info["model"]["model"],
                      "vocab_size": info["model"]["tokenizer"]["vocab_size"]},
            "load": {"clients": counts, "tokens_per_request": args.stream_tokens, "seconds_per_run": args.seconds,
                     "rounds": args.rounds, "client": args.client},
            "servers": servers, "comparisons": comparisons,
            "offline_tokens_per_s": {key: round(statistics.fmean(values), 1) for key, values in offline.items()},
            "machine": {**machine_record(threads), "load_average_at_start": round(load_at_start, 2)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="serve this checkpoint instead of making one")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS), help="model shape when making a checkpoint")
    parser.add_argument("--train-steps", type=int, default=0, help="train the preset this many steps first (0 = random weights)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=60, help="valid requests ask for 10..this many tokens")
    parser.add_argument("--serve-flag", action="append", default=[], help="extra flag for lstmgen serve (repeatable)")
    parser.add_argument("--streams", help="streaming mode: comma-separated client counts, e.g. 1,8,64,256")
    parser.add_argument("--server", action="append", help="streaming mode: engine (default) or workers:K, repeatable")
    parser.add_argument("--stream-tokens", type=int, default=256, help="streaming mode: max_tokens per request")
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming mode: seconds of each run (a server, a client count, a round)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="streaming mode: rounds per client count, each the offline rate and every server in turn (see streams_mode)")
    parser.add_argument("--offline-seconds", type=float, default=5.0, help="streaming mode: seconds of each offline measurement")
    parser.add_argument("--big-prompt-every", type=float, default=None,
                        help="streaming mode: a 2,000-character prompt every this many seconds during --big-prompt-at's run")
    parser.add_argument("--client", default="raw", choices=["raw", "httpx"],
                        help="streaming mode: the clients' HTTP library: raw (asyncio streams, light) or httpx")
    parser.add_argument("--big-prompt-at", type=int, default=64, help="streaming mode: the client count the big prompts join")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.offline_seconds <= 0:
        parser.error("--rounds must be at least 1, --seconds and --offline-seconds above 0")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.checkpoint:
            checkpoint, weights = Path(args.checkpoint), "from --checkpoint"
        else:
            checkpoint, weights = make_checkpoint(scratch, args.preset, args.train_steps)
        if args.streams:
            print(json.dumps(streams_mode(args, checkpoint, weights, scratch), indent=2))
            return
        log_path = scratch / "serve.log"
        command = [sys.executable, "-m", "lstmgen", "serve", str(checkpoint), "--host", "127.0.0.1", "--port", "0", *args.serve_flag]
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
