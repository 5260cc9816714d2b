"""``adapt_to`` (lstmgen's extension): a request's document read with dynamic evaluation's updates before generating,
against a real server on a loopback socket, with the tiny run trained for the suite."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
import torch

from lstmgen import ConfigError, LanguageModel, train
from lstmgen.server import ServerLimits, create_app
from server_harness import ThreadedServer

# A document unlike the tiny corpus ("the quick brown fox ..."), spelt with its characters: what adapting should learn.
DOCUMENT = "zap a jug. zap a jug; " * 30
CONTINUATION = "zap a jug. zap a jug; zap a jug"


@pytest.fixture(scope="module")
def model(tiny_run) -> LanguageModel:
    # Its own copy (not the session's ``lm``): the test checks that nothing changes its weights.
    return LanguageModel.load(tiny_run)


@pytest.fixture(scope="module")
def served(model):
    app = create_app(model, ServerLimits(max_adapt_chars=len(DOCUMENT)))
    with ThreadedServer(app) as server:
        server.app = app
        yield server


def complete(url: str, body: dict, path: str = "/v1/completions") -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=120)


def echo_logprobs(url: str, **extra) -> tuple[list[float], dict]:
    """The served (or adapted) model's log-probabilities of CONTINUATION's tokens, each after the ones before."""
    response = complete(url, {"prompt": CONTINUATION, "max_tokens": 0, "echo": True, "logprobs": 0, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["choices"][0]["logprobs"]["token_logprobs"][1:], body


def test_adapting_to_a_document_raises_the_likelihood_of_its_continuation(served):
    plain, plain_body = echo_logprobs(served.url)
    adapted, body = echo_logprobs(served.url, adapt_to=DOCUMENT)
    assert "adaptation" not in plain_body
    assert body["adaptation"]["protocol"].startswith("dynamic, rms, lr=")  # the protocol the weights came from
    assert body["adaptation"]["tokens"] == len(DOCUMENT) - 1 and body["adaptation"]["cached"] is False
    # Mean nats per character of the document's continuation: clearly lower once the weights have read the document.
    plain_nats, adapted_nats = -sum(plain) / len(plain), -sum(adapted) / len(adapted)
    assert adapted_nats < 0.8 * plain_nats, (plain_nats, adapted_nats)
    # The same document again: the kept adapted model, the same numbers.
    again, again_body = echo_logprobs(served.url, adapt_to=DOCUMENT)
    assert again == adapted and again_body["adaptation"]["cached"] is True


def test_an_adapted_request_runs_on_a_worker_and_leaves_the_served_weights_alone(served, model):
    weights = {name: tensor.clone() for name, tensor in model.model.state_dict().items()}
    sample = {"prompt": "the ", "max_tokens": 40, "seed": 3, "temperature": 0.9}
    before = complete(served.url, sample).json()["choices"][0]["text"]
    completed = served.app.state.pool.stats()["completed"]
    adapted = complete(served.url, {**sample, "adapt_to": DOCUMENT[:-1]})  # a new document: read now
    assert adapted.status_code == 200 and adapted.json()["adaptation"]["cached"] is False
    assert served.app.state.pool.stats()["completed"] == completed + 1  # the worker pool ran it, not the engine's batch
    assert adapted.json()["choices"][0]["text"] != before  # its own weights: another distribution
    assert complete(served.url, sample).json()["choices"][0]["text"] == before
    for name, tensor in model.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_a_streamed_adapted_request_gives_the_same_text_and_names_the_protocol(served):
    body = {"prompt": "zap ", "max_tokens": 30, "seed": 5, "adapt_to": DOCUMENT}
    whole = complete(served.url, body).json()
    events = []
    with httpx.stream("POST", served.url + "/v1/completions", json={**body, "stream": True}, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                events.append(httpx.Response(200, content=line[len("data: "):]).json())
    assert "".join(choice["text"] for event in events for choice in event["choices"]) == whole["choices"][0]["text"]
    assert events[-1]["adaptation"]["protocol"] == whole["adaptation"]["protocol"]


def test_a_chat_request_may_carry_a_document_too(tiny_run):
    chat_model = LanguageModel.load(tiny_run)
    chat_model.train_config = replace(chat_model.train_config, chat_template="{role} {content}\n")  # the tiny corpus has no colon
    with ThreadedServer(create_app(chat_model)) as server:
        response = complete(server.url, {"messages": [{"role": "user", "content": "zap"}], "max_tokens": 10, "seed": 1,
                                         "adapt_to": DOCUMENT}, path="/v1/chat/completions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["adaptation"]["protocol"].startswith("dynamic")


def test_a_document_past_the_bound_or_on_a_server_that_refuses_them_is_a_400(served, model):
    too_long = complete(served.url, {"prompt": "the ", "adapt_to": DOCUMENT + "z"})
    assert too_long.status_code == 400
    error = too_long.json()["error"]
    assert error["param"] == "adapt_to" and f"limit of {len(DOCUMENT):,}" in error["message"]
    assert complete(served.url, {"prompt": "the ", "adapt_to": "z"}).json()["error"]["param"] == "adapt_to"
    assert complete(served.url, {"prompt": "the ", "adapt_to": 5}).json()["error"]["param"] == "adapt_to"  # not a string
    with ThreadedServer(create_app(model, ServerLimits(max_adapt_chars=0))) as refusing:
        refused = complete(refusing.url, {"prompt": "the ", "adapt_to": DOCUMENT})
        assert refused.status_code == 400 and "disabled" in refused.json()["error"]["message"]
        assert refused.json()["error"]["param"] == "adapt_to"
        assert complete(refusing.url, {"prompt": "the ", "max_tokens": 3}).status_code == 200  # everything else still works
        assert httpx.get(refusing.url + "/info").json()["limits"]["max_adapt_chars"] == 0


def test_the_bound_is_a_checked_limit():
    assert ServerLimits().max_adapt_chars == 50_000
    with pytest.raises(ConfigError):
        ServerLimits(max_adapt_chars=-1)


def test_a_document_of_one_word_is_a_400_before_or_after_it_reaches_the_worker(tmp_path):
    """With a word model a text may hold a single token: a short one is found at once, a long unbroken word on the
    worker (the same 400; in a stream, an error event naming the field)."""
    text = "the cat sat on the mat . the dog sat on the log .\n" * 40
    train(text=text, out_dir=tmp_path, tokenizer="word", model=dict(embedding_size=8, hidden_size=16, num_layers=1),
          batch_size=4, seq_length=8, max_steps=5, eval_interval=5, sample_length=0, threads=1, progress=False, log=lambda line: None)
    with ThreadedServer(create_app(LanguageModel.load(tmp_path))) as server:
        short = complete(server.url, {"prompt": "the", "max_tokens": 3, "adapt_to": "cat"})
        assert short.status_code == 400 and "2 tokens" in short.json()["error"]["message"]
        one_word = "z" * 1_500  # past the length tokenized on the event loop: one unknown word
        found_late = complete(server.url, {"prompt": "the", "max_tokens": 3, "adapt_to": one_word})
        assert found_late.status_code == 400 and found_late.json()["error"]["param"] == "adapt_to"
        with httpx.stream("POST", server.url + "/v1/completions", json={"prompt": "the", "max_tokens": 3, "adapt_to": one_word,
                                                                        "stream": True}, timeout=60) as response:
            events = [line for line in response.iter_lines() if line.startswith("data: {")]
        assert '"param":"adapt_to"' in events[-1] and '"invalid_request_error"' in events[-1]
        assert complete(server.url, {"prompt": "the", "max_tokens": 3, "adapt_to": "cat sat on"}).status_code == 200
