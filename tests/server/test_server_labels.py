"""The completion request's ``label`` field: generation under a label, checked against the model's labels."""

from __future__ import annotations

import httpx
import pytest

from conftest import STYLE_WORDS
from lstmgen import LanguageModel
from lstmgen.server import create_app
from server_harness import ThreadedServer


@pytest.fixture(scope="module")
def server(labelled_run):
    with ThreadedServer(create_app(LanguageModel.load(labelled_run))) as running:
        yield running


def complete(url: str, **body) -> httpx.Response:
    return httpx.post(url + "/v1/completions", json={"prompt": "", "max_tokens": 40, "seed": 0, **body}, timeout=60)


@pytest.mark.parametrize("label", sorted(STYLE_WORDS))
def test_a_request_generates_under_its_label(server, label):
    response = complete(server.url, label=label, n=4)
    assert response.status_code == 200, response.text
    texts = "".join(choice["text"] for choice in response.json()["choices"]).replace(" ", "").replace("\n", "")
    assert texts and sum(character in "".join(STYLE_WORDS[label]) for character in texts) / len(texts) >= 0.9, texts


def test_an_unknown_label_is_a_400_listing_the_labels(server):
    response = complete(server.url, label="poe")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "label" and "unknown label 'poe'" in error["message"] and "'UP', 'low'" in error["message"]
    assert complete(server.url, label=5).status_code == 400  # strict types: a label is a string
    assert httpx.get(server.url + "/info").json()["model"]["tokenizer"]["labels"] == ["UP", "low"]


def test_an_unlabelled_model_refuses_a_label(tiny_run):
    with ThreadedServer(create_app(LanguageModel.load(tiny_run))) as running:
        response = complete(running.url, label="low")
    assert response.status_code == 400 and "trained without labels" in response.json()["error"]["message"]
