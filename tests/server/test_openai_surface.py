"""The rest of the OpenAI surface against a real server on a loopback socket: presence/frequency penalties,
logit_bias, best_of, token-id prompts and /v1/chat/completions, through the official ``openai`` client and
LangChain's ``OpenAI`` and ``ChatOpenAI``, on a tiny dialogue model trained here (document mode, chat template)."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import openai
import pytest

from lstmgen import LanguageModel, train
from lstmgen.server import create_app
from lstmgen.server.chat import ChatTemplate
from server_harness import ThreadedServer

TEMPLATE = "{role}: {content}\n"
CONVERSATION = [("system", "be kind."), ("user", "hi"), ("assistant", "hello there."), ("user", "how are you?"), ("assistant", "fine, thanks.")]
DIALOGUES = "".join(TEMPLATE.format(role=role, content=content) for role, content in CONVERSATION) + "\n"
NAME = "chat"


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory) -> LanguageModel:
    """A character model trained for a few seconds on one dialogue, one conversation per document."""
    out = tmp_path_factory.mktemp("chat") / NAME
    train(text=DIALOGUES * 200, out_dir=out, model=dict(embedding_size=16, hidden_size=48, num_layers=1), progress=False,
          log=lambda line: None, batch_size=8, seq_length=32, max_steps=150, eval_interval=150, sample_length=0, threads=1,
          warmup_steps=5, learning_rate=1e-2, documents="blank-lines", chat_template=TEMPLATE)
    return LanguageModel.load(out)


@pytest.fixture(scope="module")
def served(chat_model):
    with ThreadedServer(create_app(chat_model)) as server:
        yield server


@pytest.fixture(scope="module")
def client(served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="not-needed", max_retries=0, timeout=60)


def token(model: LanguageModel, character: str) -> int:
    return model.tokenizer.encode(character).tolist()[0]


# ----- the template -------------------------------------------------------------------------------
def test_the_template_renders_turns_opens_the_assistants_and_stops_at_the_next():
    template = ChatTemplate(TEMPLATE)
    assert template.prompt([("system", "be brief"), ("user", "hi {content}")]) == "system: be brief\nuser: hi {content}\nassistant: "
    assert template.stops == ("\nsystem:", "\nuser:", "\nassistant:")
    tagged = ChatTemplate("<{role}>{content}</s>")
    assert tagged.opening() == "<assistant>" and "</s><user>" in tagged.stops


def test_the_checkpoint_describes_its_template_and_old_ones_have_none(chat_model, tmp_path):
    assert chat_model.chat_template == TEMPLATE and chat_model.info()["chat_template"] == TEMPLATE
    older = LanguageModel(chat_model.model, chat_model.tokenizer, replace(chat_model.train_config, chat_template=""))
    assert older.chat_template is None
    config = json.loads((chat_model.path / "config.json").read_text())
    del config["train"]["chat_template"]  # a checkpoint written before chat templates existed
    copy = chat_model.save(tmp_path / "old")
    (copy / "config.json").write_text(json.dumps(config))
    (copy / "manifest.json").unlink()  # the edit is on purpose
    assert LanguageModel.load(copy).chat_template is None


# ----- completions: penalties, logit_bias, best_of, token-id prompts --------------------------------
def test_penalties_reach_the_sampler_as_in_the_library(client, chat_model):
    prompt = "user: hi\nassistant: "
    for settings in ({"presence_penalty": 1.5}, {"frequency_penalty": 2.0}, {"presence_penalty": -1.0, "frequency_penalty": 0.5}):
        served = client.completions.create(model=NAME, prompt=prompt, max_tokens=30, temperature=0, **settings)
        assert served.choices[0].text == chat_model.generate(prompt, max_tokens=30, temperature=0, **settings), settings
    plain = client.completions.create(model=NAME, prompt=prompt, max_tokens=30, temperature=0)
    penalised = client.completions.create(model=NAME, prompt=prompt, max_tokens=30, temperature=0, frequency_penalty=2.0)
    assert plain.choices[0].text != penalised.choices[0].text


def test_a_large_logit_bias_forces_or_bans_a_token(client, chat_model):
    k = token(chat_model, "k")
    forced = client.completions.create(model=NAME, prompt="user: ", max_tokens=12, seed=3, logit_bias={str(k): 100})
    assert forced.choices[0].text == "k" * 12
    e = token(chat_model, "e")
    banned = client.completions.create(model=NAME, prompt="user: hi\nassistant: h", max_tokens=40, seed=3, n=3, logit_bias={str(e): -100})
    assert all("e" not in choice.text for choice in banned.choices) and any(choice.text for choice in banned.choices)
    streamed = client.completions.create(model=NAME, prompt="user: ", max_tokens=5, logit_bias={str(k): 100}, stream=True)
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices) == "k" * 5


def test_best_of_returns_the_candidates_with_the_highest_mean_log_probability(client):
    prompt = "user: how"
    every = client.completions.create(model=NAME, prompt=prompt, max_tokens=15, n=5, seed=11, logprobs=0, temperature=1.5)
    best = client.completions.create(model=NAME, prompt=prompt, max_tokens=15, n=2, best_of=5, seed=11, temperature=1.5)
    mean = {choice.text: sum(choice.logprobs.token_logprobs) / len(choice.logprobs.token_logprobs) for choice in every.choices}
    ranked = sorted(every.choices, key=lambda choice: mean[choice.text], reverse=True)
    assert [choice.text for choice in best.choices] == [choice.text for choice in ranked[:2]]
    assert best.choices[0].logprobs is None  # not asked for: used for ranking only
    assert best.usage.completion_tokens == every.usage.completion_tokens  # every candidate's tokens count, as OpenAI's
    with pytest.raises(openai.BadRequestError, match="best_of"):
        client.completions.create(model=NAME, prompt=prompt, max_tokens=5, best_of=3, stream=True)


def test_token_id_prompts_read_as_their_text(client, chat_model):
    text = "user: hi\nassistant: "
    ids = chat_model.encode_prompt(text)  # in document mode: the end-of-document id first, as for a text prompt
    by_text = client.completions.create(model=NAME, prompt=text, max_tokens=20, seed=5)
    by_ids = client.completions.create(model=NAME, prompt=ids, max_tokens=20, seed=5)
    assert by_ids.choices[0].text == by_text.choices[0].text and by_ids.usage.prompt_tokens == len(ids)
    several = client.completions.create(model=NAME, prompt=[ids, ids[:4]], max_tokens=5, seed=5, echo=True)
    assert len(several.choices) == 2 and several.choices[1].text.startswith(chat_model.tokenizer.decode(ids[:4]))
    with pytest.raises(openai.BadRequestError, match="outside this model's vocabulary") as caught:
        client.completions.create(model=NAME, prompt=[1, 2, chat_model.tokenizer.vocab_size], max_tokens=5)
    assert caught.value.body["param"] == "prompt"


# ----- chat ----------------------------------------------------------------------------------------
def test_chat_answers_and_stops_at_the_next_turn(client):
    answer = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}], max_tokens=40, temperature=0)
    choice = answer.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", "hello there.", "stop")
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.usage.completion_tokens > len("hello there.")  # the stop string's tokens were generated too
    unbounded = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}], temperature=0)
    assert unbounded.choices[0].message.content == "hello there."  # no max_tokens: to the turn's end (OpenAI has no 16 here)
    # the last turn of a conversation ends its document: the answer stops there, without the closing line break
    later = client.chat.completions.create(model=NAME, messages=[{"role": role, "content": content} for role, content in CONVERSATION[:-1]],
                                           max_tokens=40, temperature=0)
    assert (later.choices[0].message.content, later.choices[0].finish_reason) == ("fine, thanks.", "stop")


def test_chat_streams_the_role_then_the_content_then_the_finish_and_usage(client):
    messages = [{"role": "system", "content": "be kind."}, {"role": "user", "content": "hi"}]
    whole = client.chat.completions.create(model=NAME, messages=messages, max_tokens=40, seed=2, n=2)
    chunks = list(client.chat.completions.create(model=NAME, messages=messages, max_tokens=40, seed=2, n=2, stream=True,
                                                 stream_options={"include_usage": True}))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert [c.delta.role for c in chunks[0].choices] == ["assistant", "assistant"]
    for index in range(2):
        deltas = [c for chunk in chunks for c in chunk.choices if c.index == index]
        assert "".join(c.delta.content or "" for c in deltas) == whole.choices[index].message.content
        assert deltas[-1].finish_reason == whole.choices[index].finish_reason and all(c.finish_reason is None for c in deltas[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_chat_settings_logprobs_and_limits(client, chat_model):
    messages = [{"role": "user", "content": "hi"}]
    short = client.chat.completions.create(model=NAME, messages=messages, max_completion_tokens=3, temperature=0)
    assert (short.choices[0].message.content, short.choices[0].finish_reason) == ("hel", "length")
    k = token(chat_model, "k")
    forced = client.chat.completions.create(model=NAME, messages=messages, max_tokens=6, logit_bias={str(k): 100}, presence_penalty=0.5,
                                            frequency_penalty=0.5, top_p=0.9, temperature=0.8)
    assert forced.choices[0].message.content == "k" * 6
    stopped = client.chat.completions.create(model=NAME, messages=messages, max_tokens=40, temperature=0, stop=["th"])
    assert stopped.choices[0].message.content == "hello "
    scored = client.chat.completions.create(model=NAME, messages=messages, max_tokens=40, temperature=0, logprobs=True, top_logprobs=2)
    content = scored.choices[0].logprobs.content
    assert "".join(entry.token for entry in content) == scored.choices[0].message.content
    assert all(len(entry.top_logprobs) == 2 and entry.logprob <= 0 for entry in content)
    assert content[0].top_logprobs[0].token == "h" and content[0].bytes == [ord("h")]
    seeded = [client.chat.completions.create(model=NAME, messages=messages, max_tokens=20, seed=9).choices[0].message.content
              for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_chat_refuses_what_it_cannot_do_by_name(served, client):
    for body, param in [({"messages": []}, "messages"), ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
                        ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}, "tools"),
                        ({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}, "top_logprobs"),
                        ({"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 3}, "presence_penalty"),
                        ({"messages": [{"role": "user", "content": "€"}]}, "messages")]:
        response = httpx.post(served.url + "/v1/chat/completions", json=body, timeout=30)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, (body, response.text)
    assert [model.id for model in client.models.list()] == [NAME]


def test_a_model_without_a_template_says_how_to_train_one(chat_model):
    plain = LanguageModel(chat_model.model, chat_model.tokenizer, replace(chat_model.train_config, chat_template=""))
    with ThreadedServer(create_app(plain, model_name=NAME)) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=30)
        with pytest.raises(openai.BadRequestError, match="--chat-template") as caught:
            client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["code"] == "chat_template_missing"
        assert client.completions.create(model=NAME, prompt="user: ", max_tokens=3).choices[0].text  # completions still work


# ----- LangChain -----------------------------------------------------------------------------------
def test_langchains_openai_class_is_answered(served):
    langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is not installed (dev extra)")
    llm = langchain_openai.OpenAI(base_url=served.url + "/v1", api_key="not-needed", model=NAME, max_tokens=20, temperature=0,
                                  presence_penalty=0.5, frequency_penalty=0.5, logit_bias={}, max_retries=0)
    text = llm.invoke("user: hi\nassistant: ")
    assert text and "".join(llm.stream("user: hi\nassistant: ")) == text
    assert len(llm.batch(["user: hi\n", "user: how"])) == 2
    assert langchain_openai.OpenAI(base_url=served.url + "/v1", api_key="x", model=NAME, max_tokens=10, best_of=3, n=1,
                                   max_retries=0).invoke("user: ")


def test_langchains_chat_openai_class_is_answered(served):
    langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is not installed (dev extra)")
    chat = langchain_openai.ChatOpenAI(base_url=served.url + "/v1", api_key="not-needed", model=NAME, max_tokens=40, temperature=0,
                                       max_retries=0)
    reply = chat.invoke([("system", "be kind."), ("human", "hi")])
    assert reply.content == "hello there." and reply.usage_metadata["output_tokens"] > 0
    streamed = list(chat.stream("hi"))
    assert "".join(part.content for part in streamed) == "hello there."
    penalised = chat.bind(presence_penalty=1.0, frequency_penalty=1.0, logit_bias={str(1): -5}).invoke("hi")
    assert isinstance(penalised.content, str)


def test_per_request_workers_answer_the_same_as_the_engine(chat_model, client):
    """--max-streams 0 (a worker per request, no batching engine): the same seeded answers, best_of and chat included."""
    from lstmgen.server import ServerLimits

    requests = [
        lambda c: [choice.text for choice in c.completions.create(model=NAME, prompt="user: how", max_tokens=15, n=2, best_of=4,
                                                                    seed=11, frequency_penalty=0.5).choices],
        lambda c: c.completions.create(model=NAME, prompt=chat_model.encode_prompt("user: "), max_tokens=10, seed=3).choices[0].text,
        lambda c: c.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "hi"}], n=2, seed=7,
                                            presence_penalty=0.3).model_dump()["choices"],
    ]
    with ThreadedServer(create_app(chat_model, ServerLimits(max_streams=0), model_name=NAME)) as server:
        workers = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=60)
        for request in requests:
            assert request(workers) == request(client)
