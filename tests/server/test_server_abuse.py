"""What fuzzing the server found, each a regression test over a real loopback socket.

Lone surrogates, tiny temperatures, extreme length and repetition penalties, HEAD /health, a server error
on a keep-alive connection, the API key, and the caps on counts and sizes. Most tests talk to the app in a
uvicorn thread (``ThreadedServer``); the key and the network warning go through `lstmgen serve` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest

from lstmgen import LanguageModel
from lstmgen.server import ServerLimits, create_app
from server_harness import ServeProcess, ThreadedServer

PROMPT = "the quick "


@pytest.fixture(scope="module")
def server(lm):
    with ThreadedServer(create_app(lm)) as running:
        yield running


@pytest.fixture
def connection(server):
    """One keep-alive connection: every request of a test goes over it, or the test sees that it could not."""
    with httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        yield client


def local_address(response: httpx.Response) -> tuple[str, int]:
    """The client's end of the connection that carried ``response``: equal for two responses = the same connection."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def complete(client: httpx.Client, body: dict | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/completions", content=content, headers={"Content-Type": "application/json"})


def stream_events(client: httpx.Client, body: dict) -> tuple[int, list[dict], bool]:
    """(status, the JSON events, whether it ended with [DONE]) of a streamed completion."""
    events, done = [], False
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as response:
        for line in response.iter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                events.append(json.loads(line[6:]))
        return response.status_code, events, done


def assert_refused(response: httpx.Response, param: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


# ----- 1. lone surrogates: a 400 naming the field, not a UnicodeEncodeError ---------------------------------
@pytest.mark.parametrize("body,param", [
    (b'{"prompt": "\\ud800"}', "prompt"),
    (b'{"prompt": "the \\udfff fox", "max_tokens": 3}', "prompt"),
    (b'{"prompt": ["the ", "\\ud83d"], "max_tokens": 3}', "prompt"),  # half of a surrogate pair
    (b'{"prompt": "the ", "stop": ["\\udbff"]}', "stop"),
    (b'{"prompt": "the ", "model": "\\ud800"}', "model"),  # would have been echoed in the 404's message
    (b'{"prompt": "\\ud800", "echo": true, "logprobs": 1}', "prompt"),
])
def test_a_lone_surrogate_is_a_400_naming_its_field(connection, body, param):
    response = complete(connection, body)
    assert_refused(response, param)
    assert "surrogate" in response.json()["error"]["message"]
    assert complete(connection, {"prompt": PROMPT, "max_tokens": 3}).status_code == 200  # and the connection still serves


def test_a_whole_surrogate_pair_is_text(connection):
    response = complete(connection, b'{"prompt": "the ", "stop": ["\\ud83d\\ude00"], "max_tokens": 3}')  # one emoji, spelt as a pair
    assert response.status_code == 200, response.text


def test_a_surrogate_in_a_field_name_is_refused(connection):
    response = complete(connection, b'{"prompt": "the ", "\\ud800": 1}')
    assert response.status_code == 400 and "surrogate" in response.json()["error"]["message"]


# ----- 2. tiny positive temperatures: the greedy limit, plain and streamed -----------------------------------
@pytest.mark.parametrize("temperature", [1e-45, 5e-324])
def test_tiny_temperatures_generate_the_greedy_text(connection, temperature):
    greedy = complete(connection, {"prompt": PROMPT, "max_tokens": 20, "temperature": 0}).json()["choices"][0]["text"]
    response = complete(connection, {"prompt": PROMPT, "max_tokens": 20, "temperature": temperature, "n": 2})
    assert response.status_code == 200, response.text
    assert [choice["text"] for choice in response.json()["choices"]] == [greedy, greedy]


@pytest.mark.parametrize("temperature", [1e-45, 5e-324])
def test_tiny_temperatures_stream_as_the_playground_asks(connection, temperature):
    # The body playground.js sends, with the temperature no slider can reach.
    body = {"prompt": PROMPT, "max_tokens": 30, "temperature": temperature, "top_p": 1, "n": 2,
            "stream_options": {"include_usage": True}, "unknown": "error"}
    status, events, done = stream_events(connection, body)
    assert status == 200 and done
    assert not [event for event in events if "error" in event]
    texts = {0: "", 1: ""}
    for event in events:
        for choice in event["choices"]:
            texts[choice["index"]] += choice["text"]
    assert len(texts[0]) == len(texts[1]) == 30
    assert events[-1]["usage"]["completion_tokens"] == 60


# ----- 3. extreme length penalties: beam search ranks without overflowing ------------------------------------
@pytest.mark.parametrize("length_penalty", [1e308, -1e308, 1000.0, -1000.0, 5e-324])
@pytest.mark.parametrize("stop", [None, ["e"]])
def test_extreme_length_penalties_are_answered(connection, length_penalty, stop):
    body = {"prompt": PROMPT, "max_tokens": 8, "num_beams": 3, "n": 2, "length_penalty": length_penalty}
    if stop:
        body["stop"] = stop
    response = complete(connection, body)
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 2
    status, events, done = stream_events(connection, body)
    assert status == 200 and done and not [event for event in events if "error" in event]


# ----- 4. settings at the edge of float32: answered (the processors keep the logits finite), never a reset ---------
@pytest.mark.parametrize("setting", [
    {"repetition_penalty": 1e-300}, {"repetition_penalty": 1e300}, {"repetition_penalty": 1e-300, "num_beams": 2},
    {"temperature": 1e308},  # beyond float32's range: the uniform limit
    {"temperature": 1.7976931348623157e308, "logprobs": 5},
])
@pytest.mark.parametrize("stream", [False, True])
def test_settings_beyond_float32_are_computed(connection, setting, stream):
    first = complete(connection, {"prompt": PROMPT, "max_tokens": 5, "stream": stream, **setting})
    assert first.status_code == 200, first.text
    if stream:
        assert '"error"' not in first.text and first.text.rstrip().endswith("data: [DONE]")
    else:
        assert len(first.json()["choices"][0]["text"]) == 5
    after = complete(connection, {"prompt": PROMPT, "max_tokens": 5})
    assert after.status_code == 200 and local_address(after) == local_address(first)


@pytest.mark.parametrize("setting", [{"repetition_penalty": 1e-6}, {"repetition_penalty": 1e6}, {"temperature": 1e6},
                                     {"top_p": 1e-320}, {"min_p": 1.0}, {"top_k": 10**18}, {"no_repeat_ngram_size": 10**9}])
def test_extreme_but_computable_settings_are_answered(connection, setting):
    response = complete(connection, {"prompt": PROMPT, "max_tokens": 12, **setting})
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"][0]["text"]) == 12


def test_an_impossible_token_has_a_null_logprob_not_a_500(connection):
    # "replace" turns the unknown € into the unknown token, which the model never generates: log p = -inf,
    # which JSON cannot carry; it is sent as null, plain and streamed.
    body = {"prompt": "the €", "unknown": "replace", "echo": True, "logprobs": 5, "max_tokens": 2}
    response = complete(connection, body)
    assert response.status_code == 200, response.text
    logprobs = response.json()["choices"][0]["logprobs"]
    assert logprobs["tokens"][4] == "<unk>" and logprobs["token_logprobs"][4] is None
    assert all(value is None or value < 0 for value in logprobs["token_logprobs"])
    status, events, done = stream_events(connection, body)
    assert status == 200 and done and not [event for event in events if "error" in event]


# ----- 5. HEAD answers like GET, without the body -----------------------------------------------------------
@pytest.mark.parametrize("path", ["/health", "/", "/info", "/v1/models"])
def test_head_answers_like_get(connection, path):
    head, get = connection.head(path), connection.get(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]


# ----- 6. a server error keeps the keep-alive connection ------------------------------------------------------
class ExplodingModel:
    """The tiny model, with a bug that fires for one prompt: generation raises on the worker thread."""

    def __init__(self, model: LanguageModel) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def decode(self, prompt, *args, **kwargs):  # the workers' path (beam search, scored echoes)
        if prompt == "explode":
            raise RuntimeError("a bug in generation")
        yield from self.model.decode(prompt, *args, **kwargs)

    def sample_group(self, prompt, *args, **kwargs):  # the batching engine's path: the group fails at its first token
        group = self.model.sample_group(prompt, *args, **kwargs)
        if prompt == "explode":
            def choose(logits):
                raise RuntimeError("a bug in generation")

            group.choose = choose
        return group


@pytest.fixture(scope="module")
def exploding_server(lm):
    app = create_app(ExplodingModel(lm))

    @app.get("/test-only/explode")
    async def explode():  # a bug in a handler, before any response
        raise RuntimeError("a bug in a handler")

    with ThreadedServer(app) as running:
        yield running


@pytest.mark.parametrize("failing", ["handler", "generation"])
def test_a_500_keeps_the_connection_for_the_next_request(exploding_server, failing):
    with httpx.Client(base_url=exploding_server.url, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        if failing == "handler":
            broken = client.get("/test-only/explode")
        else:
            broken = complete(client, {"prompt": "explode", "max_tokens": 5})
        assert broken.status_code == 500
        assert broken.json()["error"]["type"] == "server_error" and "RuntimeError" in broken.json()["error"]["message"]
        assert broken.headers.get("connection") != "close"
        valid = complete(client, {"prompt": PROMPT, "max_tokens": 5})
        assert valid.status_code == 200 and len(valid.json()["choices"][0]["text"]) == 5
        assert local_address(valid) == local_address(broken)  # the same connection carried both


def test_a_stream_that_fails_ends_cleanly_and_keeps_the_connection(exploding_server):
    with httpx.Client(base_url=exploding_server.url, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
        status, events, done = stream_events(client, {"prompt": "explode", "max_tokens": 5})
        assert status == 200 and done  # the stream had started: the error is its last event
        assert events[-1]["error"]["type"] == "server_error"
        assert complete(client, {"prompt": PROMPT, "max_tokens": 5}).status_code == 200


def test_no_malformed_request_drops_the_connection(connection):
    # One connection through a run of the fuzzer's findings: every one answered, the connection never replaced.
    bodies = [b'{"prompt": "\\ud800"}', b'{"prompt": "the ", "temperature": 1e-45}', b'{"prompt": "the ", "repetition_penalty": 1e-300}',
              b'{"prompt": "the ", "num_beams": 2, "length_penalty": -1e308}', b'{"prompt": "the ", "temperature": NaN}',
              b"[" * 50_000, b"\xff", b'{"prompt": "the ", "n": 1000000000000}', json.dumps({"prompt": "a" * 2_000_000}).encode()]
    addresses = set()
    for body in bodies:
        response = complete(connection, body)
        assert response.status_code < 500, (body[:60], response.text)
        addresses.add(local_address(response))
    assert len(addresses) == 1


# ----- 8. caps on counts and sizes, checked before the work ---------------------------------------------------
@pytest.mark.parametrize("field", ["n", "num_beams", "max_tokens"])
def test_huge_counts_are_refused_at_once(connection, field):
    started = time.perf_counter()
    response = complete(connection, {"prompt": PROMPT, field: 10**30})
    assert_refused(response, field)
    message = response.json()["error"]["message"]
    # n and num_beams meet GenerationConfig's own bound (MAX_STREAMS) in the schema first, max_tokens the server's limit
    assert ("limit" in message or "less than or equal to 1024" in message) and time.perf_counter() - started < 2


class CountingTokenizer:
    """The real tokenizer, counting the characters it is asked to encode."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.characters = 0

    def __getattr__(self, name: str):
        return getattr(self.tokenizer, name)

    def encode(self, text: str, unknown: str = "error"):
        self.characters += len(text)
        return self.tokenizer.encode(text, unknown=unknown)


class CountingModel:
    def __init__(self, model: LanguageModel) -> None:
        self.model = model
        self.tokenizer = CountingTokenizer(model.tokenizer)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def counting(lm):
    """A server whose body limit is raised to 32 MiB, and the tokenizer it encodes with."""
    model = CountingModel(lm)
    with ThreadedServer(create_app(model, ServerLimits(max_body_bytes=32 << 20))) as running:
        yield running, model.tokenizer


@pytest.mark.parametrize("megabytes", [1, 10])
def test_a_huge_prompt_is_refused_after_tokenizing_little_of_it(counting, megabytes):
    server, tokenizer = counting
    tokenizer.characters = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        started = time.perf_counter()
        response = complete(client, {"prompt": "the " * (megabytes * 250_000), "max_tokens": 1})
        elapsed = time.perf_counter() - started
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    assert tokenizer.characters < 100_000  # a few times the 4,096-token limit's worth, not megabytes
    assert elapsed < 5


def test_prompts_under_the_limit_are_still_measured_exactly(counting):
    server, _ = counting
    limit = ServerLimits().max_prompt_tokens
    with httpx.Client(base_url=server.url, timeout=60) as client:
        at_limit = complete(client, {"prompt": "t" * limit, "max_tokens": 1})
        over = complete(client, {"prompt": "t" * (limit + 1), "max_tokens": 1})
        skipped = complete(client, {"prompt": "€" * 50_000 + "the", "unknown": "skip", "max_tokens": 1})  # long, but 3 tokens
    assert at_limit.status_code == 200 and at_limit.json()["usage"]["prompt_tokens"] == limit
    assert over.status_code == 400 and over.json()["error"]["code"] == "context_length_exceeded"
    assert skipped.status_code == 200 and skipped.json()["usage"]["prompt_tokens"] == 3


@pytest.mark.parametrize("declared", [True, False])
def test_bodies_over_the_limit_are_refused_unread_and_the_connection_survives(connection, declared):
    body = json.dumps({"prompt": "a" * 10_000_000}).encode()

    def pieces():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    started = time.perf_counter()
    response = connection.post("/v1/completions", content=body if declared else pieces(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert time.perf_counter() - started < 5
    after = complete(connection, {"prompt": PROMPT, "max_tokens": 3})
    assert after.status_code == 200 and local_address(after) == local_address(response)


# ----- 7. the API key, through `lstmgen serve` ------------------------------------------------------------------
KEY = "sk-test-4f1c9a"


@pytest.fixture(scope="module")
def keyed(tiny_run, tmp_path_factory):
    """`lstmgen serve` with its key from $LSTMGEN_API_KEY (the way the docs recommend)."""
    log = tmp_path_factory.mktemp("keyed") / "serve.log"
    previous = os.environ.get("LSTMGEN_API_KEY")
    os.environ["LSTMGEN_API_KEY"] = KEY
    try:
        with ServeProcess(tiny_run, log) as running:
            yield running
    finally:
        if previous is None:
            del os.environ["LSTMGEN_API_KEY"]
        else:
            os.environ["LSTMGEN_API_KEY"] = previous


def test_the_openai_client_with_the_key_is_served(keyed):
    client = openai.OpenAI(base_url=keyed.url + "/v1", api_key=KEY, max_retries=0, timeout=60)
    assert [model.id for model in client.models.list()] == ["tiny"]
    assert len(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=7).choices[0].text) == 7
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=7, stream=True))
    assert "".join(choice.text for chunk in chunks for choice in chunk.choices) and len(chunks) > 1


def test_a_wrong_or_missing_key_is_a_401_in_openai_shape(keyed):
    wrong = openai.OpenAI(base_url=keyed.url + "/v1", api_key="sk-wrong", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.completions.create(model="tiny", prompt=PROMPT, max_tokens=3)
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
    for method, path in [("POST", "/v1/completions"), ("GET", "/v1/models"), ("GET", "/v1/models/tiny"), ("GET", "/info"), ("HEAD", "/info")]:
        response = httpx.request(method, keyed.url + path, json={"prompt": PROMPT} if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        if method != "HEAD":
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
            assert KEY not in response.text
    assert httpx.get(keyed.url + "/info", headers={"Authorization": "Basic " + KEY}).status_code == 401  # Bearer only
    assert httpx.get(keyed.url + "/info", headers={"Authorization": "bearer " + KEY}).status_code == 200  # any case of the scheme


def test_health_and_the_playground_stay_open(keyed):
    for method, path in [("GET", "/health"), ("HEAD", "/health"), ("GET", "/"), ("GET", "/static/playground.js")]:
        assert httpx.request(method, keyed.url + path).status_code == 200, (method, path)
    page = httpx.get(keyed.url + "/").text
    assert 'id="api-key"' in page and 'type="password"' in page
    script = httpx.get(keyed.url + "/static/playground.js").text
    assert "Authorization" in script and "localStorage" not in script and "console." not in script


def test_the_key_is_never_logged(keyed):
    httpx.post(keyed.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 2}, headers={"Authorization": f"Bearer {KEY}"})
    httpx.get(keyed.url + "/info", headers={"Authorization": "Bearer sk-wrong-one"})
    log = keyed.log_path.read_text()
    assert "an API key is required" in log
    assert KEY not in log and "sk-wrong-one" not in log


def run_serve(tiny_run, *flags: str, env: dict[str, str] | None = None) -> str:
    """Start `lstmgen serve`, wait for it to listen (or exit), stop it, and return what it printed."""
    command = [sys.executable, "-m", "lstmgen", "serve", str(tiny_run), "--port", "0", *flags]
    environment = {key: value for key, value in os.environ.items() if key != "LSTMGEN_API_KEY"} | (env or {})
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    lines = []
    deadline = time.monotonic() + 90
    try:
        for line in process.stdout:
            lines.append(line)
            if "Uvicorn running" in line or time.monotonic() > deadline:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
    return "".join(lines)


def test_listening_on_every_address_without_a_key_warns(tiny_run):
    output = run_serve(tiny_run, "--host", "0.0.0.0")
    assert "warning" in output and "no authentication" in output and "LSTMGEN_API_KEY" in output


def test_listening_on_every_address_with_a_key_does_not_claim_there_is_none(tiny_run):
    output = run_serve(tiny_run, "--host", "0.0.0.0", env={"LSTMGEN_API_KEY": KEY})
    assert "no authentication" not in output and "an API key is required" in output and KEY not in output


def test_loopback_does_not_warn_and_an_empty_key_is_refused(tiny_run):
    assert "warning" not in run_serve(tiny_run, "--host", "127.0.0.1")
    result = subprocess.run([sys.executable, "-m", "lstmgen", "serve", str(tiny_run), "--api-key", ""],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--api-key must not be empty" in result.stderr
