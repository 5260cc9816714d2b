"""lstmgen.decoding.beam_search: exact answers on a hand-made Markov model, and the model's own log-probabilities."""

import itertools
import math

import pytest
import torch

from lstmgen import GenerationConfig
from lstmgen.decoding import FINISH_LENGTH, FINISH_STOP, beam_search, decode
from lstmgen.decoding.beam_search import _score
from lstmgen.tokenizers import CharTokenizer


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
    model, tokenizer = Markov(), Markov.tokenizer
    prompt = tokenizer.encode("a").tolist()
    every = {"".join(s): model.probability("a", "".join(s)) for s in itertools.product("abc", repeat=3)}
    best = max(every, key=every.get)
    assert best == "ccc"
    greedy = "".join(r.texts[0] for r in decode(model, tokenizer, prompt, GenerationConfig(max_tokens=3, temperature=0)))
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


def test_hypotheses_say_why_they_ended():
    model, tokenizer = Markov(), Markov.tokenizer
    prompt = tokenizer.encode("a").tolist()
    found = beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=12, num_beams=3, stop=("a",), length_penalty=0.0))
    assert found[0].finish_reason == FINISH_STOP
    assert beam_search(model, tokenizer, prompt, GenerationConfig(max_tokens=3, num_beams=2))[0].finish_reason == FINISH_LENGTH


def test_beam_search_log_probability_is_the_models_own(lm):
    found = lm.beam_search("the ", max_tokens=20, num_beams=4, num_samples=3)
    assert len(found) == 3 and [h.score for h in found] == sorted((h.score for h in found), reverse=True)
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


def test_the_beam_score_saturates_instead_of_raising():
    # length ** length_penalty alone raised OverflowError (5 ** 1000) or ZeroDivisionError (5 ** -1000 == 0).
    assert _score(-3.0, 5, 1.0) == -0.6  # the ordinary case is the plain quotient
    assert _score(-3.0, 5, 1000.0) == 0.0 and _score(-3.0, 5, -1000.0) == float("-inf")
    assert _score(-1e5, 10, 308.5) == pytest.approx(-(10**-303.5), rel=1e-12)  # 10 ** 308.5 overflows; the quotient does not
    assert _score(0.0, 5, -1e308) == 0.0  # a certain continuation scores 0 at any length
    # The meaning holds: with a positive penalty the longer of two equally probable continuations ranks higher.
    assert _score(-3.0, 2, 300.0) < _score(-3.0, 3, 300.0)


def test_beam_search_ranks_with_the_logit_bias_and_openais_penalties(tiny_model):
    tokenizer = CharTokenizer.fit("abcdefghij ")
    model = tiny_model(vocab_size=tokenizer.vocab_size)
    favoured = tokenizer.encode("c").tolist()[0]
    found = beam_search(model, tokenizer, [favoured], GenerationConfig(max_tokens=8, num_beams=3, logit_bias={favoured: 100}))
    assert found[0].text == "c" * 8
    # a presence penalty of 2 counted per beam on its own tokens: the best beam never repeats a token it could avoid
    plain = beam_search(model, tokenizer, [favoured], GenerationConfig(max_tokens=8, num_beams=3))[0]
    penalised = beam_search(model, tokenizer, [favoured], GenerationConfig(max_tokens=8, num_beams=3, presence_penalty=2.0))[0]
    assert len(set(penalised.token_ids)) > len(set(plain.token_ids))
