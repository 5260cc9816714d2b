"""Seeded soak traffic for `lstmgen serve`: a plan of well-formed and malformed requests, and the clients that send them.

``plan(count, seed, malformed_fraction)`` lays out the requests once, from one ``random.Random(seed)``, so
a run can be repeated request for request (the interleaving, being concurrent, cannot). Well-formed
requests are completions of every shape (plain, streamed, beam search, echo with logprobs), streams a
client cancels after the first text, streams read slowly, and the GET/HEAD routes; each must be answered
200 in full. Malformed ones are random JSON, wrong types, NaN and huge numbers, 5 MB bodies (declared or
chunked), wrong content types, lone surrogates, absurd settings, broken JSON and wrong routes; each must
get a 4xx (or a 200 when it happens to be legal), never a 5xx, and no request may lose its connection.

``send(client, planned)`` sends one and returns an ``Outcome``; ``stress/server_soak.py`` runs them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

# Words of lower-case ASCII letters, in every vocabulary the soak serves (the default corpus, the tests' tiny one).
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "a", "stitch", "in", "time", "saves", "nine"]
SETTINGS = ["max_tokens", "temperature", "top_p", "n", "stop", "seed", "top_k", "min_p", "repetition_penalty",
            "no_repeat_ngram_size", "num_beams", "length_penalty", "logprobs", "echo", "stream", "prompt", "unknown"]
BIG_BODY_BYTES = 5_000_000
JSON_TYPE = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Planned:
    """One request of the plan. ``behaviour``: read (the whole answer), stream, cancel (close after the first
    text), slow (a streamed answer read a line at a time with pauses)."""

    index: int
    kind: str
    well_formed: bool
    method: str = "POST"
    path: str = "/v1/completions"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_TYPE))
    behaviour: str = "read"
    chunked: bool = False  # send the body without Content-Length, in 64 KiB pieces
    pause_s: float = 0.0  # a slow reader's pause per line
    expect_choices: int = 0  # for completions read in full: choices the answer must hold


@dataclass
class Outcome:
    index: int
    kind: str
    well_formed: bool
    status: int | None = None  # None: no answer (see ``failure``)
    failure: str | None = None  # the exception that lost the answer: a dropped connection or a timeout
    complete: bool = False  # a well-formed answer in full (choices, or a stream ending in [DONE])
    stream_error: bool = False  # a stream that reported a server error in an event
    cancelled: bool = False  # the client closed the stream on purpose
    latency_s: float = 0.0
    finished_at: float = 0.0


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) + rng.choice(["", " "])


def _completion(rng: random.Random) -> dict[str, Any]:
    """A legal sampling request: 1-40 tokens of 1-3 samples with a random mix of settings."""
    body: dict[str, Any] = {"prompt": _prompt(rng), "max_tokens": rng.randint(1, 40), "n": rng.randint(1, 3)}
    if rng.random() < 0.7:
        body["temperature"] = rng.choice([0, 0.3, 0.8, 1.0, 1.5, 1e-45])
    for name, values in (("top_p", [0.5, 0.9, 1.0]), ("top_k", [1, 5, 40]), ("min_p", [0.0, 0.05]), ("seed", [0, 7, 2**31]),
                         ("repetition_penalty", [0.8, 1.2]), ("no_repeat_ngram_size", [2, 3])):
        if rng.random() < 0.2:
            body[name] = rng.choice(values)
    if rng.random() < 0.2:
        body["stop"] = rng.sample(WORDS, rng.randint(1, 3))
    return body


def _well_formed(index: int, rng: random.Random) -> Planned:
    roll = rng.random()
    if roll < 0.30:
        body = _completion(rng)
        return Planned(index, "plain", True, body=json.dumps(body).encode(), expect_choices=body["n"])
    if roll < 0.50:
        body = {**_completion(rng), "stream": True}
        if rng.random() < 0.5:
            body["stream_options"] = {"include_usage": True}
        return Planned(index, "stream", True, body=json.dumps(body).encode(), behaviour="stream")
    if roll < 0.60:
        body = {**_completion(rng), "stream": True, "max_tokens": rng.randint(200, 600)}
        return Planned(index, "stream_cancelled", True, body=json.dumps(body).encode(), behaviour="cancel")
    if roll < 0.68:
        body = {**_completion(rng), "stream": True, "max_tokens": rng.randint(20, 60), "n": 1}
        return Planned(index, "slow_reader", True, body=json.dumps(body).encode(), behaviour="slow", pause_s=rng.uniform(0.005, 0.03))
    if roll < 0.76:
        beams = rng.randint(2, 4)
        body = {"prompt": _prompt(rng), "max_tokens": rng.randint(1, 12), "num_beams": beams, "n": rng.randint(1, beams)}
        if rng.random() < 0.5:
            body["length_penalty"] = rng.choice([0.0, 0.5, 2.0, 1e308, -1e308])
        if rng.random() < 0.3:
            body["stop"] = [rng.choice(WORDS)]
        return Planned(index, "beam", True, body=json.dumps(body).encode(), expect_choices=body["n"])
    if roll < 0.86:
        body = {**_completion(rng), "echo": True, "logprobs": rng.randint(0, 5), "max_tokens": rng.randint(0, 20)}
        return Planned(index, "echo_logprobs", True, body=json.dumps(body).encode(), expect_choices=body["n"])
    method, path = rng.choice([("GET", "/health"), ("HEAD", "/health"), ("GET", "/info"), ("GET", "/v1/models"),
                               ("GET", "/"), ("GET", "/static/playground.js")])
    return Planned(index, f"{method} {path}", True, method=method, path=path, headers={})


# ----- malformed requests: each maker returns (kind, keyword arguments of Planned) ------------------------------
def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice([None, True, False, 0, -1, 2**63, 1e-300, 3.5, "", "x" * rng.randint(0, 50), "€", [], {}])
    if roll < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(SETTINGS + ["bogus", ""]): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _random_json(rng: random.Random) -> tuple[str, dict]:
    value = _random_value(rng) if rng.random() < 0.3 else {rng.choice(SETTINGS): _random_value(rng) for _ in range(rng.randint(1, 5))}
    return "random_json", {"body": json.dumps(value).encode()}


def _wrong_type(rng: random.Random) -> tuple[str, dict]:
    body = _completion(rng)
    body[rng.choice(SETTINGS)] = rng.choice(["5", True, [1], {"a": 1}, -3, 2.5, None, "", "yes"])
    return "wrong_type", {"body": json.dumps(body).encode()}


def _bad_number(rng: random.Random) -> tuple[str, dict]:
    number = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000, "1e308", "-1e308", "5e-324", "-0.0",
                         str(2**64), str(-(2**63))])
    name = rng.choice(["max_tokens", "temperature", "top_p", "n", "seed", "top_k", "min_p", "repetition_penalty",
                       "length_penalty", "num_beams", "no_repeat_ngram_size", "logprobs"])
    return "bad_number", {"body": f'{{"prompt": "the ", "max_tokens": 3, "{name}": {number}}}'.encode()}


def _big_body(rng: random.Random) -> tuple[str, dict]:
    body = json.dumps({"prompt": "a" * BIG_BODY_BYTES}).encode()
    chunked = rng.random() < 0.5
    return ("big_body_chunked" if chunked else "big_body"), {"body": body, "chunked": chunked}


def _wrong_content_type(rng: random.Random) -> tuple[str, dict]:
    kind, body = rng.choice([("text/plain", b"the quick brown fox"), ("application/x-www-form-urlencoded", b"prompt=the&max_tokens=5"),
                             ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nthe\r\n--x--\r\n"),
                             ("application/xml", b"<prompt>the</prompt>"), ("text/plain", b'{"prompt": "the ", "max_tokens": 2}')])
    return "wrong_content_type", {"body": body, "headers": {"Content-Type": kind}}


def _lone_surrogate(rng: random.Random) -> tuple[str, dict]:
    surrogate = rng.choice(["\\ud800", "\\udfff", "\\udbff", "\\ud83d"])  # JSON escapes: legal JSON, not text
    template = rng.choice(['{{"prompt": "the {s} fox", "max_tokens": 3}}', '{{"prompt": ["ok", "{s}"]}}', '{{"prompt": "the", "stop": ["{s}"]}}',
                           '{{"prompt": "the", "model": "{s}"}}', '{{"prompt": "the", "user": "{s}"}}', '{{"{s}": 1}}',
                           '{{"prompt": "the", "logit_bias": {{"{s}": 1}}}}', '{{"prompt": "{s}", "echo": true, "logprobs": 1}}'])
    return "lone_surrogate", {"body": template.format(s=surrogate).encode()}


def _absurd_setting(rng: random.Random) -> tuple[str, dict]:
    setting = rng.choice([
        {"temperature": 1e-45}, {"temperature": 5e-324}, {"temperature": 1e308}, {"temperature": 1e6},
        {"top_p": 1e-320}, {"min_p": 1.0}, {"top_k": 10**18}, {"no_repeat_ngram_size": 10**9},
        {"num_beams": 2, "length_penalty": 1e308}, {"num_beams": 3, "length_penalty": -1e308, "stop": ["e"]},
        {"num_beams": 2, "length_penalty": 5e-324}, {"repetition_penalty": 1e-300}, {"repetition_penalty": 1e300},
        {"repetition_penalty": 1e-300, "stream": True}, {"temperature": 5e-324, "stream": True},
        {"n": 10**9}, {"num_beams": 10**9}, {"max_tokens": 10**12}, {"seed": -(2**63)}, {"seed": 2**64},
        {"logprobs": 5, "n": 16, "max_tokens": 2}, {"stop": ["x" * 10_000]}, {"prompt": ["the"] * 1000},
        {"prompt": "the " * 300_000}, {"prompt": "", "echo": True, "logprobs": 5, "max_tokens": 0},
        {"prompt": "the €", "unknown": "replace", "echo": True, "logprobs": 5, "max_tokens": 1},
        {"max_tokens": 0, "n": 16}, {"best_of": 3, "n": 1}, {"num_beams": 16, "n": 16, "max_tokens": 4},
    ])
    return "absurd_setting", {"body": json.dumps({"prompt": "the ", "max_tokens": 3, **setting}).encode()}


def _broken_json(rng: random.Random) -> tuple[str, dict]:
    body = rng.choice([b"", b"   ", b"{", b'{"prompt": "the", ', b"\xff\xfe{}", b'{"prompt": "\xc3"}', b"[" * 50_000, b"null",
                       b'{"prompt": "a"} trailing', b'{"prompt": "a", "prompt": 5}', b"\x00" * 100, b'{"a":' * 1000])
    return "broken_json", {"body": body}


def _wrong_route(rng: random.Random) -> tuple[str, dict]:
    method, path = rng.choice([("GET", "/v1/completions"), ("POST", "/v1/embeddings"), ("PUT", "/health"),
                               ("DELETE", "/v1/models"), ("GET", "/v1/models/gpt-4"), ("POST", "/health"), ("GET", "/nothing/%ff")])
    return "wrong_route", {"method": method, "path": path, "body": b'{"prompt": "the"}' if method in ("POST", "PUT") else None}


MALFORMED: list[tuple[Callable[[random.Random], tuple[str, dict]], float]] = [
    (_random_json, 3), (_wrong_type, 3), (_bad_number, 3), (_big_body, 1), (_wrong_content_type, 1.5),
    (_lone_surrogate, 2), (_absurd_setting, 4), (_broken_json, 2), (_wrong_route, 1.5),
]


def plan(count: int, seed: int, malformed_fraction: float = 0.25) -> list[Planned]:
    """``count`` requests from one seeded generator: a ``malformed_fraction`` of them malformed."""
    rng = random.Random(seed)
    makers, weights = zip(*MALFORMED)
    planned = []
    for index in range(count):
        if rng.random() < malformed_fraction:
            kind, arguments = rng.choices(makers, weights)[0](rng)
            planned.append(Planned(index, kind, False, **arguments))
        else:
            planned.append(_well_formed(index, rng))
    return planned


# ----- sending ---------------------------------------------------------------------------------------------
async def _pieces(body: bytes):
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


async def send(client: httpx.AsyncClient, planned: Planned) -> Outcome:
    """Send one planned request and judge its answer."""
    outcome = Outcome(planned.index, planned.kind, planned.well_formed)
    started = time.perf_counter()
    content = _pieces(planned.body) if planned.chunked and planned.body is not None else planned.body
    try:
        request = client.build_request(planned.method, planned.path, content=content, headers=planned.headers)
        response = await client.send(request, stream=True)
        try:
            outcome.status = response.status_code
            # A malformed request may be legal after all and ask for a stream: read any stream as one.
            if response.status_code == 200 and response.headers.get("content-type", "").startswith("text/event-stream"):
                await _read_stream(response, planned, outcome)
            else:
                raw = await response.aread()
                outcome.complete = _complete(planned, response, raw)
        finally:
            await response.aclose()
    except httpx.TimeoutException as error:
        outcome.failure = f"timeout: {type(error).__name__}"
    except httpx.TransportError as error:  # the connection was reset or closed under the request
        outcome.failure = f"dropped: {type(error).__name__}: {error}"
    outcome.latency_s = time.perf_counter() - started
    outcome.finished_at = time.monotonic()
    return outcome


async def _read_stream(response: httpx.Response, planned: Planned, outcome: Outcome) -> None:
    async for line in response.aiter_lines():
        if planned.behaviour == "slow":
            await asyncio.sleep(planned.pause_s)
        if line == "data: [DONE]":
            outcome.complete = True
        elif line.startswith("data: "):
            try:
                event = json.loads(line[6:])
            except ValueError:
                outcome.stream_error = True  # not JSON: as much a server fault as an error event
                continue
            if "error" in event:
                outcome.stream_error = True
            elif planned.behaviour == "cancel" and any(choice["text"] for choice in event["choices"]):
                outcome.cancelled = outcome.complete = True  # leaving now, on purpose: the server must stop generating
                return


def _complete(planned: Planned, response: httpx.Response, raw: bytes) -> bool:
    if response.status_code != 200:
        return False
    if planned.method == "HEAD":
        return raw == b""
    if planned.path != "/v1/completions":
        return len(raw) > 0
    try:
        answer = json.loads(raw)
    except ValueError:
        return False
    return len(answer.get("choices", [])) == planned.expect_choices and "usage" in answer
