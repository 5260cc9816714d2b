"""lstmgen.decoding.constraints: patterns, acrostics, required and banned words on every decoding path.

The models are random tiny ones (nothing in them favours a match, so the constraints do all the work) over
character, word, byte and BPE tokenizers fitted here, and the tiny trained run for the CLI and the server.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
import torch

pytest.importorskip("interegular", reason="constraints need the constraints extra: pip install 'lstmgen[constraints]'")

from conftest import make_tiny_model  # noqa: E402
from lstmgen import GenerationConfig  # noqa: E402
from lstmgen.config import ConfigError  # noqa: E402
from lstmgen.decoding import FINISH_STOP, beam_search, decode, make_generator  # noqa: E402
from lstmgen.decoding.constraints import acrostic_pattern, build_constraint  # noqa: E402
from lstmgen.tokenizers import ByteTokenizer, CharTokenizer, WordTokenizer  # noqa: E402

DATE = r"[A-Z][a-z]+ [0-9]{1,2}, [0-9]{4}"
CORPUS = ("On March 14, 1879 the man was born. By May 3, 1921 he was known; in June 30, 1955 he died, aged 76.\n"
          "The quick brown fox jumps over the lazy dog. Hello, old friend; naïve café owners say bonjour.\n") * 20


def samples(model, tokenizer, config: GenerationConfig, prompt: str = "\n", seed: int = 0) -> list[tuple[str, str | None, list[int]]]:
    """(text, finish reason, token ids) of every sample of one decode."""
    ids = tokenizer.encode(prompt).tolist()
    texts, reasons, tokens = [""] * config.num_samples, [None] * config.num_samples, [[] for _ in range(config.num_samples)]
    for record in decode(model, tokenizer, ids, config, make_generator(seed), prompt_text=prompt):
        for row in range(config.num_samples):
            texts[row] += record.texts[row]
            reasons[row] = record.finish_reasons[row] or reasons[row]
            if record.tokens[row] is not None:
                tokens[row].append(record.tokens[row])
    return list(zip(texts, reasons, tokens))


@pytest.fixture(scope="module")
def char():
    tokenizer = CharTokenizer.fit(CORPUS)
    return make_tiny_model(vocab_size=tokenizer.vocab_size, num_layers=1), tokenizer


@pytest.fixture(scope="module")
def bpe():
    pytest.importorskip("tokenizers", reason="the bpe tokenizer needs the subword extra: pip install 'lstmgen[subword]'")
    from lstmgen.tokenizers.subword import SubwordTokenizer

    tokenizer = SubwordTokenizer.train("bpe", [CORPUS], vocab_size=400)
    assert any(len(tokenizer.token_bytes(i)) > 2 for i in range(tokenizer.vocab_size))  # real merges: " March", "19", ...
    return make_tiny_model(vocab_size=tokenizer.vocab_size, num_layers=1), tokenizer


# ----- regular expressions --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_the_date_pattern_gives_matching_samples_for_many_seeds(kind, request):
    model, tokenizer = request.getfixturevalue(kind)
    config = GenerationConfig(regex=DATE, max_tokens=40, num_samples=20)
    found = [sample for seed in range(5) for sample in samples(model, tokenizer, config, seed=seed)]
    assert len(found) == 100
    for text, reason, _ in found:
        assert re.fullmatch(DATE, text), text
        assert reason == FINISH_STOP  # four digits: the match can grow no longer
    assert len({text for text, _, _ in found}) > 50  # sampled, not one forced string


def test_the_same_seed_gives_the_same_constrained_samples(char):
    model, tokenizer = char
    config = GenerationConfig(regex=DATE, max_tokens=40, num_samples=4)
    assert samples(model, tokenizer, config, seed=3) == samples(model, tokenizer, config, seed=3)


def test_greedy_and_top_k_choose_among_the_allowed_tokens(char):
    model, tokenizer = char
    for settings in (dict(temperature=0), dict(top_k=1), dict(top_p=0.01), dict(min_p=0.9, repetition_penalty=1.5)):
        for text, reason, _ in samples(model, tokenizer, GenerationConfig(regex=DATE, max_tokens=40, num_samples=3, **settings)):
            assert re.fullmatch(DATE, text) and reason == FINISH_STOP, (settings, text)


def test_a_pattern_that_could_grow_ends_whole_within_the_budget(char):
    model, tokenizer = char
    # [a-z ]+ could go on for ever: the samples use their whole budget ("length") and still match.
    for budget in (2, 7, 30):
        for text, reason, tokens in samples(model, tokenizer, GenerationConfig(regex=r"[a-z ]+x", max_tokens=budget, num_samples=8)):
            assert re.fullmatch(r"[a-z ]+x", text) and len(tokens) <= budget
            if len(tokens) < budget:
                assert reason == FINISH_STOP


def test_the_pattern_matches_the_generated_text_not_the_prompt(char):
    model, tokenizer = char
    for text, _, _ in samples(model, tokenizer, GenerationConfig(regex=r"[0-9]+;", max_tokens=6, num_samples=4), prompt="On March "):
        assert re.fullmatch(r"[0-9]+;", text), text


def test_byte_tokens_may_end_inside_a_character():
    tokenizer = ByteTokenizer()
    model = make_tiny_model(vocab_size=tokenizer.vocab_size, num_layers=1)
    for pattern in (r"(é|ü|東京)+x", r".{3}!", r"[^a-z]{2}"):  # named non-ASCII characters; any character
        for text, _, tokens in samples(model, tokenizer, GenerationConfig(regex=pattern, max_tokens=14, num_samples=10), prompt="a"):
            assert re.fullmatch(pattern, text), (pattern, text)
            assert bytes(tokens).decode("utf-8") == text  # whole, valid characters


def test_a_word_model_spells_its_words_with_the_spaces_it_puts_between_them():
    tokenizer = WordTokenizer.fit(CORPUS)
    model = make_tiny_model(vocab_size=tokenizer.vocab_size, num_layers=1)
    pattern = r"the (quick|lazy) (fox|dog)(, [a-z]+)*\."
    with pytest.raises(ConfigError, match="cannot spell"):  # after "Hello" the tokenizer writes a space first
        samples(model, tokenizer, GenerationConfig(regex=pattern, max_tokens=12), prompt="Hello")
    for prompt in ("Hello", "Hello "):  # a prompt ending in a space: no second space
        config = GenerationConfig(regex=" ?" + pattern, max_tokens=12, num_samples=10)
        for text, reason, _ in samples(model, tokenizer, config, prompt=prompt):
            assert re.fullmatch(" ?" + pattern, text) and (text[0] == " ") == (prompt == "Hello"), (prompt, text)
            assert reason == FINISH_STOP


def test_bpe_token_healing_and_the_pattern_agree(bpe):
    model, tokenizer = bpe
    prompt = "By "  # ends in a lone space token: healing takes it back, the first token must start with " "
    assert tokenizer.token_text(int(tokenizer.encode(prompt)[-1])) == " "
    for text, reason, _ in samples(model, tokenizer, GenerationConfig(regex=DATE, max_tokens=30, num_samples=10), prompt=prompt):
        assert re.fullmatch(DATE, text), text


def test_beam_search_keeps_every_beam_in_the_language(char, bpe):
    for model, tokenizer in (char, bpe):
        config = GenerationConfig(regex=DATE, max_tokens=30, num_beams=4, num_samples=4)
        found = beam_search(model, tokenizer, tokenizer.encode("\n").tolist(), config)
        assert len(found) == 4
        for hypothesis in found:
            assert re.fullmatch(DATE, hypothesis.text), hypothesis.text
            assert hypothesis.finish_reason == FINISH_STOP
        # Ranked by the model among matching texts: the best is what greedy decoding finds or better.
        greedy = samples(model, tokenizer, GenerationConfig(regex=DATE, max_tokens=30, temperature=0))[0]
        assert found[0].log_probability >= _log_probability(model, tokenizer, greedy[2], config) - 1e-6


def test_beam_search_takes_every_constraint(char):
    model, tokenizer = char
    config = GenerationConfig(line_starts="OB", must_include=("dog",), bad_words=("e",), max_tokens=40, num_beams=3, num_samples=3)
    found = beam_search(model, tokenizer, tokenizer.encode("\n").tolist(), config)
    assert found
    for hypothesis in found:
        lines = hypothesis.text.split("\n")
        assert lines[0][:1] == "O" and lines[1][:1] == "B" and "dog" in hypothesis.text and "e" not in hypothesis.text, hypothesis.text


def _log_probability(model, tokenizer, tokens, config) -> float:
    """log p(tokens | "\\n") under the model's own distribution."""
    ids = tokenizer.encode("\n").tolist() + tokens
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]), model.init_state(1))
    log_p = torch.log_softmax(logits[0, :-1].double(), dim=-1)
    return float(log_p[torch.arange(len(ids) - 1), torch.tensor(ids[1:])][-len(tokens):].sum())


# ----- acrostics --------------------------------------------------------------------------------------------
def test_acrostic_lines_start_with_the_letters_and_end_after_the_last(char):
    model, tokenizer = char
    letters = "HOBTM"  # capitals the corpus has
    assert re.fullmatch(acrostic_pattern(letters), "Hi\nOh\nB\nTo\nMe\n")
    config = GenerationConfig(line_starts=letters, max_tokens=200, num_samples=20)
    lines = 0
    for text, reason, _ in samples(model, tokenizer, config, seed=1):
        found = text.split("\n")
        assert [line[:1] for line in found[:5]] == list(letters), text
        assert len(found) == 5 or (len(found) == 6 and found[5] == "" and reason == FINISH_STOP)
        lines += 5
    assert lines == 100


# ----- banned and required words --------------------------------------------------------------------------------
def test_bad_words_never_appear_in_a_character_model_s_text(char):
    model, tokenizer = char
    config = GenerationConfig(bad_words=("the", "e", "fox"), max_tokens=300, num_samples=8, temperature=1.5)
    for text, _, _ in samples(model, tokenizer, config, prompt="t"):
        assert "e" not in text and "the" not in "t" + text and "fox" not in text
    unbanned = "".join(text for text, _, _ in samples(model, tokenizer, GenerationConfig(max_tokens=300, num_samples=8, temperature=1.5), prompt="t"))
    assert "e" in unbanned  # the ban is what kept it out


def test_bad_words_ban_their_token_sequences_in_a_bpe_model(bpe):
    model, tokenizer = bpe
    words = ("March", "the", "19")
    sequences = [tokenizer.encode(text).tolist() for word in words for text in (word, " " + word)]
    config = GenerationConfig(bad_words=words, max_tokens=80, num_samples=16, temperature=2.0)
    for _, _, tokens in samples(model, tokenizer, config, prompt="On"):
        for sequence in sequences:
            assert not any(tokens[i : i + len(sequence)] == sequence for i in range(len(tokens))), sequence


def test_must_include_words_appear_in_every_sample(char, bpe):
    for model, tokenizer in (char, bpe):
        config = GenerationConfig(must_include=("fox", "café"), max_tokens=40, num_samples=10)
        for text, _, tokens in samples(model, tokenizer, config):
            assert "fox" in text and "café" in text and len(tokens) <= 40, text


def test_constraints_combine(char):
    model, tokenizer = char
    config = GenerationConfig(line_starts="OB", must_include=("dog",), bad_words=("z",), max_tokens=60, num_samples=6)
    for text, _, _ in samples(model, tokenizer, config):
        lines = text.split("\n")
        assert lines[0][:1] == "O" and lines[1][:1] == "B" and "dog" in text and "z" not in text, text


# ----- what cannot be satisfied: an error, at once ----------------------------------------------------------------
@pytest.mark.parametrize("settings, field, words", [
    (dict(regex="Q{3}"), "regex", "cannot spell"),  # the corpus has no Q
    (dict(regex=DATE, max_tokens=9), "max_tokens", "takes 10 tokens"),
    (dict(regex="a("), "regex", "not a regular expression"),
    (dict(line_starts="XQ"), "line_starts", "cannot spell"),
    (dict(must_include=("fox", "Zq")), "must_include", "cannot spell"),
    (dict(regex="[0-9]+", must_include=("fox",)), None, "cannot spell"),
    (dict(regex="((a{99}){99}){99}"), "regex", "smaller counts"),  # refused from the parse, before any automaton
    (dict(must_include=tuple(f"word{i}" for i in range(10))), "must_include", "drop some required words"),
    (dict(bad_words=tuple(CORPUS)), "bad_words", "every token"),
])
def test_unsatisfiable_constraints_are_errors_before_the_first_step(char, settings, field, words):
    model, tokenizer = char
    config = GenerationConfig(**{"max_tokens": 30, **settings})
    started = time.monotonic()
    with pytest.raises(ConfigError, match=words) as caught:
        samples(model, tokenizer, config)
    assert caught.value.field == field
    assert time.monotonic() - started < 5


def test_a_ban_across_the_only_path_is_an_error_where_it_blocks(char):
    model, tokenizer = char
    with pytest.raises(ValueError, match="no token to write at step 2"):
        samples(model, tokenizer, GenerationConfig(regex="ab", bad_words=("ab",), max_tokens=5))


def test_config_checks_the_constraint_fields():
    assert GenerationConfig(must_include="fox", bad_words="dog").must_include == ("fox",)
    with pytest.raises(ConfigError, match="line break") as caught:
        GenerationConfig(line_starts="A\nB")
    assert caught.value.field == "line_starts"
    with pytest.raises(ConfigError):
        GenerationConfig(bad_words=("",))


def test_no_constraint_builds_nothing(char):
    _, tokenizer = char
    assert build_constraint(tokenizer, GenerationConfig(), 2) is None


# ----- the surfaces: CLI, Python API, server ---------------------------------------------------------------------------
PATTERN = r"the (quick|lazy) [a-z]+ (fox|dog)\."  # in the tiny run's alphabet (lower case, no digits)


def test_the_cli_and_the_python_api_take_constraints(tiny_run, lm, capsys):
    from lstmgen.cli import main

    assert main(["generate", str(tiny_run), "--regex", PATTERN, "--length", "40", "--num-samples", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    written = [block.strip("\n") for block in re.split(r"=== sample \d\n", out) if block.strip()]
    assert len(written) == 3 and all(re.fullmatch(PATTERN, text) for text in written), out
    assert main(["generate", str(tiny_run), "--must-include", "fox", "dog", "--bad-words", "the", "--length", "30", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "fox" in out and "dog" in out and "the" not in out
    assert main(["generate", str(tiny_run), "--regex", "[0-9]+"]) != 0
    assert "cannot spell" in capsys.readouterr().err
    assert all(re.fullmatch(PATTERN, text) for text in lm.samples(regex=PATTERN, max_tokens=40, num_samples=2, seed=0))


def test_the_server_takes_constraints_and_refuses_impossible_ones(lm):
    from lstmgen.server import ServerLimits, create_app
    from server_harness import ThreadedServer

    with ThreadedServer(create_app(lm, ServerLimits(concurrency=1))) as server:
        answer = httpx.post(f"{server.url}/v1/completions", json={"prompt": "", "regex": PATTERN, "max_tokens": 40, "n": 3, "seed": 1},
                            timeout=60)
        assert answer.status_code == 200, answer.text
        for choice in answer.json()["choices"]:
            assert re.fullmatch(PATTERN, choice["text"]) and choice["finish_reason"] == "stop"
        answer = httpx.post(f"{server.url}/v1/completions", json={"line_starts": "tab", "must_include": "fox", "bad_words": ["z"],
                                                                  "max_tokens": 60, "stream": True}, timeout=60)
        assert answer.status_code == 200 and "[DONE]" in answer.text
        for body, param in (({"regex": "[0-9]+"}, "regex"), ({"regex": "a("}, "regex"), ({"line_starts": 7}, "line_starts"),
                            ({"regex": "the lazy dog", "max_tokens": 3}, "max_tokens"), ({"bad_words": ["a"] * 100}, "bad_words")):
            answer = httpx.post(f"{server.url}/v1/completions", json=body, timeout=60)
            assert answer.status_code == 400 and answer.json()["error"]["param"] == param, (body, answer.text)
