"""Token healing: a BPE prompt that ends in a space continues with a word, as the corpus does."""

from __future__ import annotations

import pytest

pytest.importorskip("tokenizers", reason="the bpe and unigram tokenizers need the subword extra: pip install 'lstmgen[subword]'")

import torch  # noqa: E402

from conftest import QUIET, RECORDS  # noqa: E402
from lstmgen import LanguageModel, train  # noqa: E402
from lstmgen.decoding.healing import heal_prompt  # noqa: E402
from lstmgen.tokenizers import CharTokenizer  # noqa: E402


@pytest.fixture(scope="module")
def bpe_lm(tmp_path_factory) -> LanguageModel:
    """A BPE model of short records ("BOB:\\nthe king is here.\\n\\n"): " king", " is", " here" are tokens."""
    path = tmp_path_factory.mktemp("healing") / "run"
    train(text=RECORDS, out_dir=path, tokenizer="bpe", vocab_size=400, model=dict(embedding_size=32, hidden_size=96), batch_size=16,
          seq_length=16, max_steps=500, eval_interval=500, learning_rate=1e-2, sample_length=0, threads=1, **QUIET)
    return LanguageModel.load(path)


@pytest.mark.parametrize("prompt, continuation", [("BOB:\nthe king ", "is here."), ("ERIN:\ngood day ", "to you."),
                                                   ("ALICE:\nwhat news, ", "my friend?")])
def test_a_prompt_ending_in_a_space_continues_with_the_next_word(bpe_lm, prompt, continuation):
    tokens = [bpe_lm.tokenizer.token_text(i) for i in bpe_lm.tokenizer.encode(prompt)]
    assert tokens[-1] == " "  # the lone space the corpus never has before a word
    assert bpe_lm.generate(prompt, max_tokens=6, temperature=0).startswith(continuation)
    # What it did before healing, and still does without: the lone space leads astray, here into a second space.
    unhealed = bpe_lm.generate(prompt, max_tokens=6, temperature=0, token_healing=False)
    assert not unhealed.startswith(continuation)


def test_the_healed_text_is_the_prompt_followed_by_what_the_model_wrote(bpe_lm):
    prompt = "BOB:\nthe king "
    records = list(bpe_lm.decode(prompt, max_tokens=12, num_samples=4, seed=3))
    for row in range(4):
        text = "".join(record.texts[row] for record in records)
        ids = [record.tokens[row] for record in records]
        # The first token starts with the space the prompt ended in; the text leaves that space out.
        assert bpe_lm.tokenizer.token_text(ids[0]).startswith(" ")
        assert " " + text == bpe_lm.tokenizer.decode(ids)
        assert text == bpe_lm.samples(prompt, max_tokens=12, num_samples=4, seed=3)[row]


def test_heal_prompt_takes_back_the_last_token_and_allows_only_its_extensions(bpe_lm):
    tokenizer = bpe_lm.tokenizer
    ids = tokenizer.encode("BOB:\nthe king ").tolist()
    kept, healing = heal_prompt(tokenizer, ids)
    assert kept == ids[:-1] and healing.text == " "
    allowed = set(torch.nonzero(healing.allowed).flatten().tolist())
    assert allowed == {i for i in range(tokenizer.vocab_size) if tokenizer.token_bytes(i).startswith(b" ")}
    assert {tokenizer.encode(" king").tolist()[0], ids[-1]} <= allowed
    logits = healing.constrain(torch.zeros(2, tokenizer.vocab_size))
    assert torch.isfinite(logits).sum(dim=1).tolist() == [len(allowed)] * 2


def test_what_is_not_healed(bpe_lm):
    tokenizer = bpe_lm.tokenizer
    one = tokenizer.encode("BOB").tolist()
    assert len(one) == 1 and heal_prompt(tokenizer, one) == (one, None)  # a one-token prompt: nothing before it to continue
    split = tokenizer.encode("the king 東").tolist()  # a character the merges never saw: three byte tokens
    assert len(tokenizer.token_bytes(split[-1])) == 1 and heal_prompt(tokenizer, split) == (split, None)  # ends inside the character
    characters = CharTokenizer(list("abc "))
    assert heal_prompt(characters, [1, 2, 4]) == ([1, 2, 4], None)  # characters are whole units already


def test_beam_search_heals_too(bpe_lm):
    best = bpe_lm.beam_search("BOB:\nthe king ", max_tokens=4, num_beams=3, num_samples=2)
    assert best[0].text.startswith("is here")
    assert bpe_lm.tokenizer.decode(best[0].token_ids).startswith(" is")


def test_the_openai_client_gets_the_healed_continuation(bpe_lm):
    import openai

    from lstmgen.server import create_app
    from server_harness import ThreadedServer

    with ThreadedServer(create_app(bpe_lm)) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=60)
        answer = client.completions.create(model="run", prompt="BOB:\nthe king ", max_tokens=4, temperature=0, logprobs=1)
        unhealed = client.completions.create(model="run", prompt="BOB:\nthe king ", max_tokens=4, temperature=0,
                                             extra_body={"token_healing": False})
    choice = answer.choices[0]
    assert choice.text.startswith("is here")
    # The tokens OpenAI's logprobs list spell the text: the first one without the prompt's space.
    assert "".join(choice.logprobs.tokens) == choice.text and choice.logprobs.text_offset[0] == 0
    assert unhealed.choices[0].text != choice.text


def test_the_prefix_search_finds_exactly_the_extensions():
    from lstmgen.decoding.healing import _ids_starting_with

    class Bytes:  # a tokenizer of these tokens, as far as the search reads one
        end_of_document = None
        tokens = [b"a", b"ab", b"\xff", b"\xff\xff", b"\xffa", b"b", b"a\xff", b"", b" ", b" a", b"!"]
        vocab_size = len(tokens)

        def token_bytes(self, i):
            return self.tokens[i]

    tokenizer = Bytes()
    for prefix in (b"a", b"\xff", b"\xff\xff", b" ", b"b", b"c", b"a\xff"):
        expected = {i for i, token in enumerate(Bytes.tokens) if token.startswith(prefix)}
        assert set(_ids_starting_with(tokenizer, prefix)) == expected, prefix
