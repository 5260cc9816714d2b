import pytest
import torch

from lstmgen import GenerationConfig, LanguageModel
from lstmgen.config import ModelConfig
from lstmgen.fast_decode import FastLSTMDecoder, supports_fast_decoding
from lstmgen.generation import decode_steps, generate_text, generate_tokens
from lstmgen.model import RecurrentLanguageModel
from lstmgen.tokenizers import CharTokenizer, TokenizerError


@pytest.fixture(scope="module")
def lm(tiny_run):
    return LanguageModel.load(tiny_run)


def test_same_seed_same_text_and_streaming_equals_collected(lm):
    a = lm.generate("the ", max_tokens=60, temperature=0.8, seed=3)
    b = lm.generate("the ", max_tokens=60, temperature=0.8, seed=3)
    assert a == b and len(a) == 60
    assert "".join(lm.stream("the ", max_tokens=60, temperature=0.8, seed=3)) == a
    assert lm.generate("the ", max_tokens=60, temperature=0.8, seed=4) != a


def test_greedy_follows_argmax_one_step_at_a_time(lm):
    text = lm.generate("the q", max_tokens=20, temperature=0)
    ids = lm.tokenizer.encode("the q").tolist()
    model = lm.model
    with torch.no_grad():
        for expected in text:
            logits, _ = model(torch.tensor([ids]))  # the slow way: re-run the whole context
            logits[0, -1, 0] = float("-inf")  # the unknown symbol is never generated
            ids.append(int(logits[0, -1].argmax()))
            assert lm.tokenizer.decode(ids[-1:]) == expected


def test_generation_steps_the_state_once_per_token(lm, monkeypatch):
    calls, steps = [], []
    original = lm.model.forward

    def counting(tokens, state=None):
        calls.append(tokens.shape[1])
        return original(tokens, state)

    monkeypatch.setattr(lm.model, "forward", counting)
    ids = lm.tokenizer.encode("the quick").tolist()
    config = GenerationConfig(max_tokens=10, temperature=0.5)
    list(generate_tokens(lm.model, ids, config, fast=False))
    assert calls == [9] + [1] * 9  # reference path: prefill once, then one model step per token
    calls.clear()
    original_step = FastLSTMDecoder.step
    monkeypatch.setattr(FastLSTMDecoder, "step", lambda self, tokens: steps.append(len(tokens)) or original_step(self, tokens))
    lm.generate("the quick", max_tokens=10, temperature=0.5, seed=1)
    assert calls == [9] and steps == [1] * 9  # fast path: the prompt through forward once, then one step per token


def test_batched_samples_are_independent(lm):
    together = lm.samples("the ", max_tokens=40, num_samples=8, seed=5)
    assert len(together) == 8 and len(set(together)) > 1
    # Row 0 of a batch equals the same sample drawn alone: no row influences another.
    config = GenerationConfig(max_tokens=30, temperature=0, num_samples=4)
    rows = list(zip(*[t.tolist() for t in generate_tokens(lm.model, lm.tokenizer.encode("a ").tolist(), config)]))
    assert all(row == rows[0] for row in rows)


def test_stop_strings_cut_exactly(lm):
    text = lm.generate("the ", max_tokens=200, temperature=0)
    stop = text[5:8]
    cut = lm.generate("the ", max_tokens=200, temperature=0, stop=[stop])
    assert cut == text[: text.find(stop)]


def test_stop_string_streams_hold_back_partial_matches():
    tokenizer = CharTokenizer.fit("abcxyz")

    class Script(torch.nn.Module):
        """A model that emits 'abcxyabc...' deterministically (greedy)."""

        def __init__(self):
            super().__init__()
            self.output = torch.nn.Linear(1, 1)
            self.order = tokenizer.encode("abcxyabcxyzab").tolist()
            self.config = None

        def init_state(self, batch, device=None):
            return (torch.zeros(1, batch, 1),)

        def forward(self, tokens, state):
            position = int(state[0][0, 0, 0])
            logits = torch.full((tokens.shape[0], tokens.shape[1], tokenizer.vocab_size), -10.0)
            logits[:, -1, self.order[position % len(self.order)]] = 10.0
            return logits, (state[0] + 1,)

    config = GenerationConfig(max_tokens=13, temperature=0, stop=("xyz",))
    pieces = [p[0] for p in generate_text(Script(), tokenizer, [1], config)]
    assert "".join(pieces) == "abcxyabc"
    assert "".join(pieces[:5]) == "abc"  # "xy" was held back until it proved not to be the stop


def test_unknown_prompt_characters(lm):
    with pytest.raises(TokenizerError, match="'Z'"):
        lm.generate("Zebra", max_tokens=5)
    assert len(lm.generate("Zebra", max_tokens=5, unknown="skip", seed=1)) == 5


def test_character_model_never_generates_the_unknown_symbol(lm):
    text = "".join(lm.samples("the ", max_tokens=300, temperature=3.0, num_samples=4, seed=2))
    assert "<unk>" not in text


# ----- the fast decoding path ------------------------------------------------------------------------
def _random_model(cell="lstm", layers=2, tie=False):
    torch.manual_seed(7)
    size = 24 if tie else 16
    return RecurrentLanguageModel(ModelConfig(vocab_size=30, cell=cell, embedding_size=size, hidden_size=24, num_layers=layers,
                                              tie_weights=tie)).eval()


@pytest.mark.parametrize("layers, tie", [(1, False), (2, False), (3, True)])
def test_fast_decoder_matches_the_model_step_by_step(layers, tie):
    model = _random_model(layers=layers, tie=tie)
    tokens = torch.randint(1, 30, (3, 25), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, final = model(tokens)
        decoder = FastLSTMDecoder(model, 3, banned=(0,))
        decoder.load_state(model.init_state(3))
        for t in range(tokens.shape[1]):
            logits = decoder.step(tokens[:, t])
            assert torch.isneginf(logits[:, 0]).all()  # banned ids cost nothing per step: -inf output bias
            assert torch.allclose(logits[:, 1:], expected[:, t, 1:], atol=1e-5)
        for ours, theirs in zip(decoder.state(), final):
            assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("settings", [
    dict(temperature=1.0), dict(temperature=1.5, top_k=10), dict(temperature=0.8, top_p=0.9, min_p=0.02),
    dict(temperature=0), dict(temperature=1.2, repetition_penalty=1.3, no_repeat_ngram_size=3),
])
def test_fast_path_draws_the_same_tokens_as_the_reference_path(settings):
    model = _random_model()
    config = GenerationConfig(max_tokens=200, num_samples=4, **settings)
    runs = []
    for fast in (True, False):
        generator = torch.Generator().manual_seed(11)
        runs.append(torch.stack(list(generate_tokens(model, [3, 4, 5], config, generator, banned=(0,), fast=fast))))
    assert runs[0].shape == (200, 4)
    assert torch.equal(runs[0], runs[1])
    assert not (runs[0] == 0).any()


def test_fast_path_equals_reference_on_a_trained_model(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    config = GenerationConfig(max_tokens=150, num_samples=3, temperature=0.9)
    runs = [torch.stack(list(generate_tokens(lm.model, ids, config, torch.Generator().manual_seed(5), (0,), fast)))
            for fast in (True, False)]
    assert torch.equal(runs[0], runs[1])


def test_other_cells_fall_back_to_the_reference_path():
    for cell in ("gru", "rnn"):
        model = _random_model(cell=cell)
        assert not supports_fast_decoding(model)
        with pytest.raises(ValueError, match="LSTM models only"):
            FastLSTMDecoder(model, 1)
        config = GenerationConfig(max_tokens=30, seed=1)
        tokens = list(generate_tokens(model, [1, 2], config, torch.Generator().manual_seed(1)))
        assert len(tokens) == 30


def test_decode_steps_yields_the_logits_each_token_was_drawn_from(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    config = GenerationConfig(max_tokens=20, temperature=0)
    drawn = [(tokens.clone(), logits.clone()) for tokens, logits in decode_steps(lm.model, ids, config, banned=(0,))]
    for tokens, logits in drawn:
        assert torch.equal(tokens, logits.argmax(-1))
    # And they are the model's own logits for that position (teacher forcing over the whole text).
    full = ids + [int(t) for t, _ in drawn]
    with torch.no_grad():
        expected, _ = lm.model(torch.tensor([full]))
    for position, (_, logits) in enumerate(drawn):
        assert torch.allclose(logits[0, 1:], expected[0, len(ids) - 1 + position, 1:], atol=1e-4)


def test_no_repeat_ngram_generation_never_repeats_an_ngram(lm):
    text = lm.generate("the ", max_tokens=150, temperature=0, no_repeat_ngram_size=4)
    full = "the " + text
    grams = [full[i : i + 4] for i in range(len(full) - 3)]
    assert len(grams) == len(set(grams))
    assert lm.generate("the ", max_tokens=150, temperature=0) != text  # greedy alone does loop on this model


# ----- beam search -------------------------------------------------------------------------------------
class Markov(torch.nn.Module):
    """A hand-made model over {a, b, c}: the next-token distribution depends only on the last token.

    After 'a': b 0.5, c 0.4, a 0.1 (greedy takes b); after 'b': a 0.34, b 0.33, c 0.33; after 'c': c 0.9.
    So from the prompt 'a', greedy writes 'b' then 'a' then 'b' (0.5 * 0.34 * 0.5 = 0.085), while 'ccc'
    has probability 0.4 * 0.9 * 0.9 = 0.324.
    """

    tokenizer = CharTokenizer.fit("abc")  # ids: 0 unknown, a 1, b 2, c 3
    table = torch.tensor([
        [0.25, 0.25, 0.25, 0.25],  # after the unknown symbol (never used)
        [0.0, 0.1, 0.5, 0.4],      # after a
        [0.0, 0.34, 0.33, 0.33],   # after b
        [0.0, 0.05, 0.05, 0.9],    # after c
    ])

    def __init__(self):
        super().__init__()
        self.output = torch.nn.Linear(1, 1)

    def init_state(self, batch, device=None):
        return (torch.zeros(1, batch, 1),)

    def forward(self, tokens, state):
        logits = self.table[tokens].clamp_min(1e-12).log()  # [B, T, V]
        return logits, (tokens[:, -1].float()[None, :, None],)

    def probability(self, prompt, continuation):
        ids = self.tokenizer.encode(prompt + continuation).tolist()
        value = 1.0
        for previous, token in zip(ids[len(prompt) - 1 :], ids[len(prompt) :]):
            value *= float(self.table[previous, token])
        return value


def test_beam_search_finds_the_most_probable_sequence_where_greedy_does_not():
    import itertools
    import math

    from lstmgen.beam_search import beam_search

    model, tokenizer = Markov(), Markov.tokenizer
    prompt = tokenizer.encode("a").tolist()
    every = {"".join(s): model.probability("a", "".join(s)) for s in itertools.product("abc", repeat=3)}
    best = max(every, key=every.get)
    assert best == "ccc"
    greedy = "".join(pieces[0] for pieces in generate_text(model, tokenizer, prompt, GenerationConfig(max_tokens=3, temperature=0)))
    assert greedy == "bab" and every[greedy] < every[best]
    found = beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=3, num_beams=2, num_samples=2))
    assert found[0].text == best
    # The runner-up is the second survivor of the search (not necessarily the second most probable string):
    # after two steps the beams are 'cc' (0.36) and 'ba' (0.17), so 'bab' (0.085) beats 'bcc' (0.149), pruned at 'bc'.
    assert found[1].text == "bab"
    assert found[0].log_probability == pytest.approx(math.log(every["ccc"]), abs=1e-5)
    assert found[0].score == pytest.approx(found[0].log_probability / 3)
    # One beam is greedy search.
    assert beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=3, num_beams=1))[0].text == "bab"


def test_beam_search_stop_strings_and_length_penalty():
    import math

    from lstmgen.beam_search import beam_search

    model, tokenizer = Markov(), Markov.tokenizer
    prompt = tokenizer.encode("a").tolist()
    # Stopping at 'a': 'b' then 'a' (0.5 * 0.34 = 0.17) ends as the text 'b' after two tokens; twelve c's
    # (0.4 * 0.9^11 = 0.126) are less probable in total, so ranking by probability alone picks 'b' ...
    short = beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=12, num_beams=3, stop=("a",), length_penalty=0.0))
    assert short[0].text == "b" and short[0].token_ids == (2, 1)
    assert short[0].log_probability == pytest.approx(math.log(0.17), abs=1e-5)
    # ... while per-token probability (length_penalty 1) picks the long, likely run of c's.
    long = beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=12, num_beams=3, stop=("a",), length_penalty=1.0))
    assert long[0].text == "c" * 12
    assert long[0].score == pytest.approx(math.log(0.4 * 0.9**11) / 12, abs=1e-5)


def test_language_model_beam_search_and_streaming(lm):
    found = lm.beam_search("the ", max_tokens=20, num_beams=4, num_samples=3)
    assert len(found) == 3 and [h.score for h in found] == sorted((h.score for h in found), reverse=True)
    assert lm.samples("the ", max_tokens=20, num_beams=4, num_samples=3) == [h.text for h in found]
    assert lm.generate("the ", max_tokens=20, num_beams=4) == found[0].text
    # The log-probability is the model's own, recomputed by teacher forcing.
    ids = lm.tokenizer.encode("the ").tolist() + list(found[0].token_ids)
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids]))
    logits[..., 0] = float("-inf")
    log_p = torch.log_softmax(logits[0, :-1].double(), -1).gather(-1, torch.tensor(ids[1:])[:, None])[3:].sum()
    assert found[0].log_probability == pytest.approx(float(log_p), abs=1e-3)
    # Greedy is a beam of one, and beam search can only do as well or better.
    greedy_ids = lm.tokenizer.encode("the " + lm.generate("the ", max_tokens=20, temperature=0)).tolist()
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([greedy_ids]))
    logits[..., 0] = float("-inf")
    greedy_log_p = torch.log_softmax(logits[0, :-1].double(), -1).gather(-1, torch.tensor(greedy_ids[1:])[:, None])[3:].sum()
    assert found[0].log_probability >= float(greedy_log_p) - 1e-6


def test_fast_decoder_sees_weight_changes():
    model = _random_model()
    config = GenerationConfig(max_tokens=30, temperature=0)
    before = torch.stack(list(generate_tokens(model, [1, 2], config)))
    with torch.no_grad():
        model.output.bias[before[5, 0]] += 100.0  # in place: the version counter moves
    after = torch.stack(list(generate_tokens(model, [1, 2], config)))
    assert (after[1:] == before[5, 0]).all()
    model.output.bias.data[before[5, 0]] -= 200.0  # through .data: the counter does not move, the sum does
    again = torch.stack(list(generate_tokens(model, [1, 2], config)))
    assert torch.equal(again, torch.stack(list(generate_tokens(model, [1, 2], config, fast=False))))
    assert not (again[1:] == before[5, 0]).any()
