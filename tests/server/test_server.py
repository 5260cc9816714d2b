"""The HTTP server against real uvicorn servers on loopback ports, with the official openai client."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import httpx
import openai
import pytest

from lstmgen import ConfigError, GenerationConfig, LanguageModel
from lstmgen.server import ServerLimits, create_app
from lstmgen.server.app import STATIC_DIR, model_id
from server_harness import ServeProcess, ThreadedServer

CONFIG_FIELDS = {field.name for field in dataclasses.fields(GenerationConfig)}
PROMPT = "the quick "


@pytest.fixture(scope="module")
def language_model(tiny_run) -> LanguageModel:
    return LanguageModel.load(tiny_run)


@pytest.fixture(scope="module")
def served(tiny_run, tmp_path_factory):
    """`lstmgen serve` itself, in a subprocess, on a free loopback port."""
    with ServeProcess(tiny_run, tmp_path_factory.mktemp("serve") / "serve.log", "--max-tokens", "500",
                      "--max-adapt-chars", "1234") as server:
        yield server


@pytest.fixture(scope="module")
def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="not-needed", max_retries=0, timeout=60)


def post(url: str, body: bytes | dict, timeout: float | httpx.Timeout = 60) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/v1/completions", content=content, headers={"Content-Type": "application/json"}, timeout=timeout)


# ----- descriptions ------------------------------------------------------------------------------
def test_health_models_and_info(served, client, language_model):
    health = httpx.get(served.url + "/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny"
    assert [model.id for model in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").owned_by == "lstmgen"
    info = httpx.get(served.url + "/info").json()
    assert info["model"]["parameters"] == language_model.info()["parameters"]
    assert info["model"]["decoding"] == {"precision": "fp32", "reason": None}  # the server's default, as named
    assert info["limits"]["max_tokens"] == 500  # the --max-tokens flag reached the app
    assert info["limits"]["max_adapt_chars"] == 1234  # and --max-adapt-chars


def test_model_id_is_the_run_name(language_model):
    assert language_model.path.name == "best"
    assert model_id(language_model) == "tiny"


# ----- completions with the official client ------------------------------------------------------
def test_openai_client_completes(client):
    result = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=0.8, seed=7)
    assert result.object == "text_completion" and result.model == "tiny" and result.id.startswith("cmpl-")
    (choice,) = result.choices
    assert len(choice.text) == 30  # character tokenizer: one character per token
    assert choice.finish_reason == "length" and choice.index == 0
    assert result.usage.prompt_tokens == len(PROMPT)
    assert result.usage.completion_tokens == 30 and result.usage.total_tokens == 30 + len(PROMPT)


def test_streaming_gives_the_same_text_as_one_response(client):
    whole = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=60, seed=11)
    stream = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=60, seed=11, stream=True,
                                       stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.text)
            finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].text
    assert finish == "length"
    assert usage.completion_tokens == 60 and usage.prompt_tokens == len(PROMPT)


def test_several_prompts_and_samples_are_indexed_like_openai(client):
    both = client.completions.create(model="tiny", prompt=["the ", "a stitch "], n=2, max_tokens=20, seed=5)
    assert [choice.index for choice in both.choices] == [0, 1, 2, 3]
    second = client.completions.create(model="tiny", prompt="a stitch ", n=2, max_tokens=20, seed=5)
    assert [choice.text for choice in both.choices[2:]] == [choice.text for choice in second.choices]
    streamed: dict[int, str] = {}
    for chunk in client.completions.create(model="tiny", prompt=["the ", "a stitch "], n=2, max_tokens=20, seed=5, stream=True):
        for choice in chunk.choices:
            streamed[choice.index] = streamed.get(choice.index, "") + choice.text
    assert [streamed[index] for index in range(4)] == [choice.text for choice in both.choices]


def test_stop_strings_cut_the_text(client):
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=40, temperature=0).choices[0].text
    stop = greedy[10:12]
    cut = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=40, temperature=0, stop=[stop, "\x01"]).choices[0]
    assert cut.text == greedy[: greedy.index(stop)]
    assert cut.finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny", prompt=PROMPT, max_tokens=40, temperature=0, stop=stop, stream=True) if c.choices)
    assert streamed == cut.text


def test_echo_puts_the_prompt_first(client):
    result = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, temperature=0, echo=True)
    assert result.choices[0].text.startswith(PROMPT) and len(result.choices[0].text) == len(PROMPT) + 5


# ----- logprobs and echo, as the openai client's types describe them ----------------------------------
def test_logprobs_are_the_models_own_for_every_generated_token(client, language_model):
    result = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=25, seed=4, logprobs=3)
    choice = result.choices[0]
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == choice.text and len(logprobs.tokens) == 25
    assert logprobs.text_offset == [sum(len(t) for t in logprobs.tokens[:i]) for i in range(25)]
    # Generation reads the prompt from a fresh state, as scoring prompt + completion does: the same numbers.
    expected = [token.logprob for token in language_model.score(PROMPT + choice.text)][len(PROMPT):]
    assert logprobs.token_logprobs == pytest.approx(expected, abs=1e-4)
    for top, chosen in zip(logprobs.top_logprobs, logprobs.token_logprobs):
        assert len(top) <= 3 and max(top.values()) >= chosen - 1e-6
    assert result.usage.completion_tokens == 25


def test_streamed_logprobs_equal_the_whole_responses(client):
    whole = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, seed=8, logprobs=1, stop=["e"]).choices[0]
    tokens, values, offsets, text = [], [], [], ""
    for chunk in client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, seed=8, logprobs=1, stop=["e"], stream=True):
        for choice in chunk.choices:
            text += choice.text
            if choice.logprobs is not None:
                tokens += choice.logprobs.tokens
                values += choice.logprobs.token_logprobs
                offsets += choice.logprobs.text_offset
    assert text == whole.text and tokens == whole.logprobs.tokens and values == whole.logprobs.token_logprobs
    assert offsets == whole.logprobs.text_offset
    assert "".join(tokens) == whole.text  # the token that completed the stop string is not shown


def test_echo_with_no_new_tokens_scores_the_prompt(client, language_model):
    result = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=0, echo=True, logprobs=2)
    choice = result.choices[0]
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert choice.logprobs.tokens == list(PROMPT) and choice.logprobs.token_logprobs[0] is None
    assert choice.logprobs.top_logprobs[0] is None and len(choice.logprobs.top_logprobs[1]) == 2
    expected = [token.logprob for token in language_model.score(PROMPT)]
    assert choice.logprobs.token_logprobs[1:] == pytest.approx(expected[1:], abs=1e-5)
    assert choice.logprobs.text_offset == list(range(len(PROMPT)))
    assert result.usage.completion_tokens == 0 and result.usage.prompt_tokens == len(PROMPT)


def test_echo_and_logprobs_stream_the_prompt_first(client):
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, seed=1, echo=True, logprobs=0, stream=True))
    first = chunks[0].choices[0]
    # Records that piled up while the client read are sent together, so the first chunk may carry generated
    # text after the prompt; it always starts with the whole prompt, its first token unscored.
    assert first.text.startswith(PROMPT) and first.logprobs.tokens[: len(PROMPT)] == list(PROMPT)
    assert first.logprobs.token_logprobs[0] is None
    tokens = [t for c in chunks for choice in c.choices if choice.logprobs for t in choice.logprobs.tokens]
    assert tokens[: len(PROMPT)] == list(PROMPT) and len(tokens) == len(PROMPT) + 5


def test_usage_counts_generated_tokens_not_text(served):
    # With a stop string the completion holds fewer characters than tokens generated; usage counts the tokens.
    greedy = post(served.url, {"prompt": PROMPT, "max_tokens": 40, "temperature": 0}).json()["choices"][0]["text"]
    stop = greedy[10]
    body = post(served.url, {"prompt": PROMPT, "max_tokens": 40, "temperature": 0, "stop": [stop]}).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["text"] == greedy[: greedy.index(stop)]
    assert body["usage"]["completion_tokens"] == len(choice["text"]) + 1  # the character that stopped it was generated


def test_top_k_extension_reaches_the_sampler(client):
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=0).choices[0].text
    top1 = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=1.5, seed=3,
                                     extra_body={"top_k": 1}).choices[0].text
    assert top1 == greedy


@pytest.mark.parametrize("name,value", [("min_p", 0.2), ("repetition_penalty", 1.3), ("no_repeat_ngram_size", 3)])
def test_newer_extensions_work_or_are_refused_by_name(served, name, value):
    response = post(served.url, {"prompt": PROMPT, "max_tokens": 20, "seed": 1, name: value})
    if name in CONFIG_FIELDS:
        assert response.status_code == 200, response.text
        assert len(response.json()["choices"][0]["text"]) == 20
    else:
        assert response.status_code == 400 and response.json()["error"]["param"] == name


@pytest.mark.skipif("num_beams" not in CONFIG_FIELDS, reason="this GenerationConfig has no beam search")
def test_beam_search_extension(client, served):
    first = client.completions.create(model="tiny", prompt=PROMPT, n=2, max_tokens=12, extra_body={"num_beams": 3})
    again = client.completions.create(model="tiny", prompt=PROMPT, n=2, max_tokens=12, extra_body={"num_beams": 3})
    assert [c.text for c in first.choices] == [c.text for c in again.choices]  # deterministic
    assert len(first.choices) == 2 and first.choices[0].text != first.choices[1].text
    assert all(len(choice.text) == 12 for choice in first.choices)
    for body, param in [({"num_beams": 2, "temperature": 0.5}, "num_beams"), ({"length_penalty": 0.5}, "length_penalty"),
                        ({"num_beams": 2, "n": 3}, "num_beams"), ({"num_beams": 17}, "num_beams")]:
        response = post(served.url, {"prompt": PROMPT, "max_tokens": 5, **body})
        assert response.status_code == 400 and response.json()["error"]["param"] == param, (body, response.text)


def test_unknown_symbol_policy(served):
    refused = post(served.url, {"prompt": "the €", "max_tokens": 5})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "prompt"
    assert "€" in refused.json()["error"]["message"]
    skipped = post(served.url, {"prompt": "the €", "max_tokens": 5, "unknown": "skip"})
    assert skipped.status_code == 200 and skipped.json()["usage"]["prompt_tokens"] == 4


# ----- malformed requests: 4xx naming the field, never 5xx -----------------------------------------
MALFORMED = [
    ({"prompt": 5}, 400, "prompt"),
    ({"prompt": ["the", 3]}, 400, "prompt"),
    ({"prompt": []}, 400, "prompt"),
    ({"max_tokens": "10"}, 400, "max_tokens"),
    ({"max_tokens": -1}, 400, "max_tokens"),
    ({"max_tokens": 2.5}, 400, "max_tokens"),
    ({"max_tokens": 501}, 400, "max_tokens"),  # over the server's cap (--max-tokens 500)
    ({"temperature": -0.1}, 400, "temperature"),
    ({"temperature": "hot"}, 400, "temperature"),
    ({"top_p": 0}, 400, "top_p"),
    ({"top_p": 1.5}, 400, "top_p"),
    ({"top_k": 0}, 400, "top_k"),
    ({"n": 0}, 400, "n"),
    ({"n": True}, 400, "n"),
    ({"n": 17}, 400, "n"),  # over max_n
    ({"stream": "yes"}, 400, "stream"),
    ({"stop": ["", "x"]}, 400, "stop"),
    ({"stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"stop": 3}, 400, "stop"),
    ({"seed": "1"}, 400, "seed"),
    ({"seed": 2**70}, 400, "seed"),
    ({"logprobs": 6}, 400, "logprobs"),  # OpenAI's limit: 5
    ({"logprobs": 2, "num_beams": 2}, 400, "logprobs"),
    ({"presence_penalty": 2.5}, 400, "presence_penalty"),  # OpenAI's range: -2 to 2
    ({"frequency_penalty": "1"}, 400, "frequency_penalty"),
    ({"logit_bias": {"x": 1}}, 400, "logit_bias"),
    ({"logit_bias": {"1": 101}}, 400, "logit_bias"),
    ({"logit_bias": {"100000": 1}}, 400, "logit_bias"),  # beyond the vocabulary
    ({"prompt": [1, -1]}, 400, "prompt"),
    ({"prompt": [[1, 2], [100000]]}, 400, "prompt"),  # beyond the vocabulary
    ({"best_of": 1, "n": 2}, 400, "best_of"),
    ({"best_of": 3, "stream": True}, 400, "best_of"),
    ({"stream_options": {"include_usage": True, "extra": 1}}, 400, "stream_options"),
    ({"tempurature": 0.5}, 400, "tempurature"),  # a misspelt field is an error, not ignored
    ({"model": "gpt-4"}, 404, "model"),
]


@pytest.mark.parametrize("body,status,param", MALFORMED, ids=[json.dumps(case[0])[:40] for case in MALFORMED])
def test_malformed_fields_are_named(served, body, status, param):
    response = post(served.url, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] and param in error["message"]


def test_an_infinite_number_is_named(served):
    response = post(served.url, b'{"prompt": "the ", "temperature": 1e400}')  # valid JSON whose value is infinity
    assert response.status_code == 400 and response.json()["error"]["param"] == "temperature", response.text
    assert "finite" in response.json()["error"]["message"]


@pytest.mark.parametrize("content", [b"{bad json", b"", b"[1, 2]", b'"text"', b'{"temperature": NaN}', b"[" * 50_000,
                                     b"\xff\xfe{}", b'{"prompt": "a"} trailing'])
def test_invalid_json_is_a_400(served, content):
    response = post(served.url, content)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_huge_prompts_are_refused(served):
    too_many_tokens = post(served.url, {"prompt": "the " * 1100, "max_tokens": 1})  # 4400 tokens > 4096
    assert too_many_tokens.status_code == 400
    assert too_many_tokens.json()["error"]["code"] == "context_length_exceeded"
    too_many_bytes = post(served.url, {"prompt": "a" * 2_000_000})
    assert too_many_bytes.status_code == 413 and too_many_bytes.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(40):
            yield b"a" * 65536

    streamed_body = httpx.post(served.url + "/v1/completions", content=chunks(), timeout=60)
    assert streamed_body.status_code == 413


def test_other_routes_answer_in_openai_shape(served):
    missing = httpx.get(served.url + "/v1/nothing")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong_method = httpx.get(served.url + "/v1/completions")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    unknown_model = httpx.get(served.url + "/v1/models/gpt-4")
    assert unknown_model.status_code == 404 and unknown_model.json()["error"]["code"] == "model_not_found"


def test_the_client_raises_the_servers_error(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny", prompt=PROMPT, max_tokens=-5)
    assert caught.value.body["param"] == "max_tokens"


def test_server_survives_the_malformed_requests(served, client):
    # Runs after the malformed-request tests above (pytest keeps file order): the same process still answers.
    assert served.process.poll() is None
    assert client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3).choices[0].text
    assert httpx.get(served.url + "/health").json()["generations"]["failed"] == 0
    assert "Traceback" not in served.log_path.read_text()


# ----- limits on work in flight -------------------------------------------------------------------
def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# The same limits with the batching engine (one stream) and with per-request workers (one worker).
ONE_AT_A_TIME = {"engine": {"max_streams": 1}, "workers": {"max_streams": 0, "concurrency": 1}}


@pytest.mark.parametrize("mode", ONE_AT_A_TIME)
def test_a_full_server_answers_429_and_recovers(language_model, mode):
    app = create_app(language_model, ServerLimits(max_tokens=1_000_000, queue_size=0, **ONE_AT_A_TIME[mode]))
    with ThreadedServer(app) as server:
        with httpx.stream("POST", server.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 1_000_000, "stream": True},
                          timeout=60) as long_running:
            assert long_running.status_code == 200
            lines = long_running.iter_lines()  # kept: dropping the iterator would close the connection
            assert next(lines).startswith("data: ")  # generation has started and holds the only stream (worker)
            busy = post(server.url, {"prompt": PROMPT, "max_tokens": 5})
            assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["type"] == "server_busy"
        # Closing the stream cancelled the generation: the stream (worker) is free again.
        wait_for(lambda: httpx.get(server.url + "/health").json()["generations"]["running"] == 0)
        assert post(server.url, {"prompt": PROMPT, "max_tokens": 5}).status_code == 200
        stats = httpx.get(server.url + "/health").json()["generations"]
        assert stats["rejected"] == 1 and stats["cancelled"] == 1


@pytest.mark.parametrize("mode", ONE_AT_A_TIME)
def test_a_client_that_disconnects_stops_its_generation(language_model, mode):
    budget = 1_000_000  # minutes of generation if it were not stopped
    app = create_app(language_model, ServerLimits(max_tokens=budget, **ONE_AT_A_TIME[mode]))
    with ThreadedServer(app) as server:
        with httpx.stream("POST", server.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": budget, "stream": True},
                          timeout=60) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
        wait_for(lambda: httpx.get(server.url + "/health").json()["generations"]["cancelled"] == 1)
        stats = httpx.get(server.url + "/health").json()["generations"]
        assert stats["running"] == 0 and stats["completed"] == 0 and stats["steps"] < budget


@pytest.mark.parametrize("mode", ONE_AT_A_TIME)
def test_a_client_that_leaves_a_plain_request_stops_its_generation(language_model, mode):
    budget = 1_000_000
    app = create_app(language_model, ServerLimits(max_tokens=budget, **ONE_AT_A_TIME[mode]))
    with ThreadedServer(app) as server:
        with pytest.raises(httpx.ReadTimeout):
            post(server.url, {"prompt": PROMPT, "max_tokens": budget}, timeout=httpx.Timeout(60, read=1.0))
        wait_for(lambda: httpx.get(server.url + "/health").json()["generations"]["cancelled"] == 1)
        assert httpx.get(server.url + "/health").json()["generations"]["running"] == 0


@pytest.mark.parametrize("mode", ONE_AT_A_TIME)
def test_generation_runs_off_the_event_loop(language_model, mode):
    # While a long generation runs, the server still answers other requests at once.
    app = create_app(language_model, ServerLimits(max_tokens=1_000_000, **ONE_AT_A_TIME[mode]))
    with ThreadedServer(app) as server:
        with httpx.stream("POST", server.url + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 1_000_000, "stream": True},
                          timeout=60) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            started = time.perf_counter()
            assert httpx.get(server.url + "/health", timeout=5).status_code == 200
            assert time.perf_counter() - started < 2.0


def test_limits_validate_themselves():
    with pytest.raises(ConfigError, match="max_n"):
        ServerLimits(max_n=0)
    with pytest.raises(ConfigError, match="default_max_tokens"):
        ServerLimits(max_tokens=8, default_max_tokens=16)
    assert ServerLimits(concurrency=0).workers >= 1


# ----- the playground and the command -------------------------------------------------------------
def test_playground_is_served_and_self_contained(served):
    page = httpx.get(served.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="prompt"', 'id="temperature"', 'id="top-p"', 'id="length"', 'id="samples"', 'id="generate"', 'id="rate"', 'id="model-info"'):
        assert element in page.text
    assets = sorted(path.name for path in STATIC_DIR.iterdir() if path.name != "index.html")
    assert {"playground.js", "playground.css", "compare.js", "tokens.js"} <= set(assets)
    for asset in assets:
        response = httpx.get(served.url + "/static/" + asset)
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text  # no CDN: works offline
        if asset.endswith(".js"):  # JavaScript modules run only when served as JavaScript
            assert response.headers["content-type"].startswith("text/javascript"), asset
    assert "https://" not in page.text and "http://" not in page.text


def test_serve_command_is_registered():
    from lstmgen.cli import build_parser

    argv = ["serve", "runs/x", "--port", "9000", "--max-n", "4", "--model-name", "shakespeare"]
    args = build_parser(argv).parse_args(argv)
    assert (args.checkpoint, args.host, args.port, args.max_n, args.model_name) == ("runs/x", "127.0.0.1", 9000, 4, "shakespeare")


def test_serve_command_reports_a_missing_checkpoint(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lstmgen", "serve", str(tmp_path / "absent"), "--port", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no checkpoint" in result.stderr


def test_the_server_never_imports_training():
    code = ("import sys, lstmgen.server.app, lstmgen.cli.serve; "
            "print(sorted(m for m in sys.modules if m.startswith(('lstmgen.training', 'lstmgen.gan'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_the_request_schema_is_derived_from_the_generation_config():
    from lstmgen.server.schemas import CONFIG_NAMES, CompletionRequest

    assert set(CONFIG_NAMES.values()) == CONFIG_FIELDS  # every GenerationConfig field is a request field
    assert CONFIG_NAMES["n"] == "num_samples"
    schema = CompletionRequest.model_json_schema()["properties"]
    top_p = next(option for option in schema["top_p"]["anyOf"] if option.get("type") == "number")
    assert (top_p["exclusiveMinimum"], top_p["maximum"]) == (0.0, 1.0)  # the bounds of GenerationConfig.top_p
    assert "nucleus" in schema["top_p"]["description"] or "probability" in schema["top_p"]["description"]


def test_serve_says_whether_chat_is_available(served):
    assert "/v1/chat/completions: no chat template (train with --chat-template for chat)" in served.log_path.read_text()
