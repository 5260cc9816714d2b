"""lstmgen.decoding.generation: the per-step records, stop strings, and the same tokens on every stepping path."""

import pytest
import torch

from lstmgen import ConfigError, GenerationConfig
from lstmgen.decoding import FINISH_LENGTH, FINISH_STOP, decode, encode_prompt
from lstmgen.decoding.fast_lstm import FastLSTMDecoder
from lstmgen.tokenizers import CharTokenizer


def _tokens(model, tokenizer, prompt, config, seed=None, fast=None):
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return torch.tensor([record.tokens for record in decode(model, tokenizer, prompt, config, generator, fast=fast)])  # [steps, B]


class _Ids:
    """A tokenizer for random-weight models: every id is its own text; id 0 is never generated."""

    never_generated = (0,)
    end_of_document = None  # not a document-mode model

    def stream_decoder(self, context=(), context_text=None):
        class Decoder:
            def feed(self, token):
                return chr(0x4E00 + token)

        return Decoder()


@pytest.mark.parametrize("settings", [
    dict(temperature=1.0), dict(temperature=1.5, top_k=10), dict(temperature=0.8, top_p=0.9, min_p=0.02),
    dict(temperature=0), dict(temperature=1.2, repetition_penalty=1.3, no_repeat_ngram_size=3),
])
def test_the_fast_path_draws_the_same_tokens_as_the_reference_path(tiny_model, settings):
    model = tiny_model()
    config = GenerationConfig(max_tokens=200, num_samples=4, **settings)
    fast, reference = (_tokens(model, _Ids(), [3, 4, 5], config, seed=11, fast=path) for path in (True, False))
    assert fast.shape == (200, 4)
    assert torch.equal(fast, reference)
    assert not (fast == 0).any()  # the suppressed id never comes


def test_the_fast_path_equals_the_reference_on_a_trained_model(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    config = GenerationConfig(max_tokens=150, num_samples=3, temperature=0.9)
    fast, reference = (_tokens(lm.model, lm.tokenizer, ids, config, seed=5, fast=path) for path in (True, False))
    assert torch.equal(fast, reference)


def test_other_cells_decode_through_the_model(tiny_model):
    for cell in ("gru", "rnn"):
        tokens = _tokens(tiny_model(cell=cell), _Ids(), [1, 2], GenerationConfig(max_tokens=30), seed=1)
        assert tokens.shape == (30, 1)


def test_generation_steps_the_state_once_per_token(lm, monkeypatch):
    calls, steps = [], []
    original = lm.model.forward

    def counting(tokens, state=None):
        calls.append(tokens.shape[1])
        return original(tokens, state)

    monkeypatch.setattr(lm.model, "forward", counting)
    ids = lm.tokenizer.encode("the quick").tolist()
    config = GenerationConfig(max_tokens=10, temperature=0.5)
    list(decode(lm.model, lm.tokenizer, ids, config, fast=False))
    assert calls == [9] + [1] * 9  # reference path: prefill once, then one model step per token
    calls.clear()
    original_step = FastLSTMDecoder.step
    monkeypatch.setattr(FastLSTMDecoder, "step",
                        lambda self, tokens, logits=True: steps.append(len(tokens)) or original_step(self, tokens, logits))
    list(decode(lm.model, lm.tokenizer, ids, config))
    assert calls == [9] and steps == [1] * 9  # fast path: the prompt through forward once, then one step per token


def test_records_carry_the_models_log_probabilities_and_alternatives(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    config = GenerationConfig(max_tokens=20, temperature=0.7, seed=3)
    records = list(decode(lm.model, lm.tokenizer, ids, config, torch.Generator().manual_seed(3), logprobs=3, keep_logits=True))
    chosen = [record.tokens[0] for record in records]
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids + chosen[:-1]]))
    logits[..., 0] = float("-inf")  # the unknown symbol is never generated: not part of the distribution
    log_p = torch.log_softmax(logits[0, len(ids) - 1 :].double(), dim=-1)  # the positions that predicted each token
    for position, record in enumerate(records):
        assert record.logprobs[0] == pytest.approx(float(log_p[position, chosen[position]]), abs=1e-4)
        top = record.top_logprobs[0]
        assert len(top) == 3 and [v for _, v in top] == sorted((v for _, v in top), reverse=True)
        assert top[0][1] == pytest.approx(float(log_p[position].max()), abs=1e-4)
        assert record.pieces[0] == lm.tokenizer.decode([chosen[position]])
        assert record.logits.shape == (1, lm.tokenizer.vocab_size)
    assert [record.finish_reasons[0] for record in records] == [None] * 19 + [FINISH_LENGTH]
    assert "".join(record.texts[0] for record in records) == "".join(record.pieces[0] for record in records)


def test_batched_samples_are_independent(lm):
    ids = lm.tokenizer.encode("a ").tolist()
    rows = _tokens(lm.model, lm.tokenizer, ids, GenerationConfig(max_tokens=30, temperature=0, num_samples=4)).T.tolist()
    assert all(row == rows[0] for row in rows)  # greedy: every row the same, so no row influenced another
    config = GenerationConfig(max_tokens=40, num_samples=8)
    sampled = _tokens(lm.model, lm.tokenizer, ids, config, seed=5).T.tolist()
    assert len({tuple(row) for row in sampled}) > 1
    alone = _tokens(lm.model, lm.tokenizer, ids, GenerationConfig(max_tokens=40, num_samples=1), seed=5).T.tolist()
    assert len(alone[0]) == 40


def test_stop_strings_finish_a_sample_with_reason_stop(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    text = "".join(r.texts[0] for r in decode(lm.model, lm.tokenizer, ids, GenerationConfig(max_tokens=200, temperature=0)))
    stop = text[5:8]
    records = list(decode(lm.model, lm.tokenizer, ids, GenerationConfig(max_tokens=200, temperature=0, stop=(stop,))))
    assert "".join(r.texts[0] for r in records) == text[: text.find(stop)]
    assert records[-1].finish_reasons[0] == FINISH_STOP and len(records) < 200
    assert all(r.finish_reasons[0] is None for r in records[:-1])


def test_a_finished_sample_yields_nothing_while_the_others_go_on(lm):
    ids = lm.tokenizer.encode("the ").tolist()
    config = GenerationConfig(max_tokens=60, num_samples=6, stop=(" ",), seed=2)
    records = list(decode(lm.model, lm.tokenizer, ids, config, torch.Generator().manual_seed(2)))
    for sample in range(6):
        reasons = [r.finish_reasons[sample] for r in records]
        finished = next(i for i, reason in enumerate(reasons) if reason is not None)
        assert all(r.tokens[sample] is None and r.texts[sample] == "" for r in records[finished + 1 :])
        assert sum(r.tokens[sample] is not None for r in records) == finished + 1


def test_stop_string_streams_hold_back_partial_matches():
    tokenizer = CharTokenizer.fit("abcxyz")

    class Script(torch.nn.Module):
        """A model that emits 'abcxyabc...' deterministically (greedy)."""

        def __init__(self):
            super().__init__()
            self.output = torch.nn.Linear(1, 1)
            self.order = tokenizer.encode("abcxyabcxyzab").tolist()

        def init_state(self, batch, device=None):
            return (torch.zeros(1, batch, 1),)

        def forward(self, tokens, state):
            position = int(state[0][0, 0, 0])
            logits = torch.full((tokens.shape[0], tokens.shape[1], tokenizer.vocab_size), -10.0)
            logits[:, -1, self.order[position % len(self.order)]] = 10.0
            return logits, (state[0] + 1,)

    config = GenerationConfig(max_tokens=13, temperature=0, stop=("xyz",))
    pieces = [r.texts[0] for r in decode(Script(), tokenizer, [1], config)]
    assert "".join(pieces) == "abcxyabc"
    assert "".join(pieces[:5]) == "abc"  # "xy" was held back until it proved not to be the stop
    # Without a stop string the budget's end releases everything held back on the last step.
    config = GenerationConfig(max_tokens=5, temperature=0, stop=("xyz",))
    records = list(decode(Script(), tokenizer, [1], config))
    assert "".join(r.texts[0] for r in records) == "abcxy" and records[-1].texts[0] == "xy"


def test_encode_prompt_starts_an_empty_prompt_from_a_line_break(lm):
    assert encode_prompt(lm.tokenizer, "") == lm.tokenizer.encode("\n").tolist()
    with pytest.raises(ValueError, match="no line break"):
        encode_prompt(CharTokenizer.fit("abc"), "")
    with pytest.raises(ValueError, match="no known symbols"):
        encode_prompt(lm.tokenizer, "ZZZ", unknown="skip")


def test_max_tokens_zero_yields_nothing(lm):
    assert list(decode(lm.model, lm.tokenizer, [1, 2], GenerationConfig(max_tokens=0))) == []


def test_the_batched_text_path_yields_the_records_of_the_row_by_row_one(lm):
    # No stop strings: every sample's text is decoded in one pass over the rows. A stop string the model
    # cannot write ("\x00" is not in its vocabulary) sends the same generation row by row: the records agree.
    ids = lm.tokenizer.encode("the ").tolist()

    def records(stop):
        config = GenerationConfig(max_tokens=25, temperature=1.0, num_samples=5, stop=stop)
        return [(r.tokens, r.pieces, r.texts, r.finish_reasons, r.logprobs)
                for r in decode(lm.model, lm.tokenizer, ids, config, torch.Generator().manual_seed(4), logprobs=0)]

    together, row_by_row = records([]), records(["\x00\x00"])
    assert together == row_by_row and len(together) == 25
    assert together[-1][3] == (FINISH_LENGTH,) * 5 and together[0][3] == (None,) * 5


def test_decoding_with_a_large_bias_writes_the_favoured_token_and_penalties_change_greedy_text(tiny_model):
    tokenizer = CharTokenizer.fit("abcdefghij ")
    model = tiny_model(vocab_size=tokenizer.vocab_size)
    favoured = tokenizer.encode("e").tolist()[0]
    steps = list(decode(model, tokenizer, [favoured], GenerationConfig(max_tokens=12, num_samples=3, seed=1, logit_bias={favoured: 100})))
    assert all(token == favoured for step in steps for token in step.tokens)
    # greedy on a random model repeats itself; a frequency penalty of 2 makes each row leave its loop
    plain = [step.tokens[0] for step in decode(model, tokenizer, [favoured], GenerationConfig(max_tokens=30, temperature=0))]
    penalised = [step.tokens[0] for step in decode(model, tokenizer, [favoured], GenerationConfig(max_tokens=30, temperature=0,
                                                                                                   frequency_penalty=2.0))]
    assert len(set(penalised)) > len(set(plain))
    with pytest.raises(ConfigError, match="logit_bias"):
        list(decode(model, tokenizer, [favoured], GenerationConfig(max_tokens=3, logit_bias={500: 1})))
