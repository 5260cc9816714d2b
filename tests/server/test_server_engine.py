"""The server's batching engine through a real socket: the same text alone and under load, mixed requests
answered in full through the `openai` client, and the engine's counters in /health."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from lstmgen.server import ServerLimits, create_app
from server_harness import ThreadedServer

PROMPT = "the quick "


@pytest.fixture(scope="module")
def server(lm):
    with ThreadedServer(create_app(lm, ServerLimits(max_tokens=400))) as running:
        yield running


async def _stream_text(client: httpx.AsyncClient, body: dict) -> str:
    text = ""
    async with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                text += "".join(choice["text"] for choice in json.loads(line[6:])["choices"])
    return text


async def _under_load(url: str, seeded: dict, others: int) -> tuple[str, list[str], int]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        widest = 0

        async def watch():
            nonlocal widest
            while True:
                widest = max(widest, (await client.get("/health")).json()["engine"]["live_streams"])
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        bodies = [{"prompt": ["a stitch", "the lazy ", "t"][i % 3], "max_tokens": 150 + i, "temperature": 0.5 + i / 20,
                   "top_k": 1 + i % 7, "seed": i} for i in range(others)]
        tasks = [asyncio.create_task(_stream_text(client, body)) for body in bodies]
        await asyncio.sleep(0.05)  # the others are generating when the seeded request arrives
        text = await _stream_text(client, seeded)
        texts = await asyncio.gather(*tasks)
        watcher.cancel()
        return text, texts, widest


def test_a_seeded_request_returns_the_same_text_alone_and_under_load(server):
    seeded = {"prompt": PROMPT, "max_tokens": 120, "temperature": 0.9, "seed": 42}
    alone = httpx.post(server.url + "/v1/completions", json=seeded, timeout=60).json()["choices"][0]["text"]
    loaded, others, widest = asyncio.run(_under_load(server.url, seeded, others=24))
    assert loaded == alone and len(alone) == 120
    assert widest > 8  # it really shared the batch
    assert all(len(text) == 150 + i for i, text in enumerate(others))


def test_mixed_requests_through_the_openai_client_are_answered_in_full(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)

    def plain_n():
        answer = client.completions.create(model="tiny", prompt=[PROMPT, "a stitch"], max_tokens=30, n=3)
        assert len(answer.choices) == 6 and all(len(choice.text) == 30 for choice in answer.choices)
        assert answer.usage.completion_tokens == 180

    def with_logprobs():
        answer = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=25, logprobs=3)
        logprobs = answer.choices[0].logprobs
        assert len(logprobs.tokens) == 25 and "".join(logprobs.tokens) == answer.choices[0].text
        assert all(len(top) == 3 for top in logprobs.top_logprobs) and all(value <= 0 for value in logprobs.token_logprobs)

    def echoed():
        answer = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=20, echo=True)
        assert answer.choices[0].text.startswith(PROMPT) and len(answer.choices[0].text) == len(PROMPT) + 20

    def echoed_with_logprobs():  # scored on a worker, beside the engine
        answer = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=10, echo=True, logprobs=0)
        assert answer.choices[0].text.startswith(PROMPT) and len(answer.choices[0].logprobs.tokens) == len(PROMPT) + 10

    def streamed():
        pieces = [chunk.choices[0].text for chunk in client.completions.create(model="tiny", prompt=PROMPT, max_tokens=40,
                                                                                stream=True) if chunk.choices]
        assert len("".join(pieces)) == 40

    def stopped():
        answer = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=300, stop=[" "], seed=1)
        assert " " not in answer.choices[0].text and answer.choices[0].finish_reason == "stop"

    def beams():  # beam search keeps its own path
        answer = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=10, n=2, extra_body={"num_beams": 3})
        assert len(answer.choices) == 2

    calls = [plain_n, with_logprobs, echoed, echoed_with_logprobs, streamed, stopped, beams] * 3
    with ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    health = httpx.get(server.url + "/health").json()
    assert health["generations"]["failed"] == 0 and health["generations"]["running"] == 0
    engine = health["engine"]
    assert engine["live_streams"] == 0 and engine["waiting_groups"] == 0 and engine["max_streams"] == 256
    assert engine["joined"] >= 15 and engine["tokens"] > 0 and "steps_per_second" in engine
