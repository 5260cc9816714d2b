"""lstmgen.language_model: what a Python user of a trained model sees."""

import pytest
import torch

from lstmgen import LanguageModel
from lstmgen.tokenizers import TokenizerError


def test_same_seed_same_text_and_streaming_equals_collected(lm):
    a = lm.generate("the ", max_tokens=60, temperature=0.8, seed=3)
    b = lm.generate("the ", max_tokens=60, temperature=0.8, seed=3)
    assert a == b and len(a) == 60
    assert "".join(lm.stream("the ", max_tokens=60, temperature=0.8, seed=3)) == a
    assert lm.generate("the ", max_tokens=60, temperature=0.8, seed=4) != a
    assert lm.samples("the ", max_tokens=60, temperature=0.8, seed=3)[0] == a


def test_greedy_follows_argmax_one_step_at_a_time(lm):
    text = lm.generate("the q", max_tokens=20, temperature=0)
    ids = lm.tokenizer.encode("the q").tolist()
    with torch.no_grad():
        for expected in text:
            logits, _ = lm.model(torch.tensor([ids]))  # the slow way: re-run the whole context
            logits[0, -1, 0] = float("-inf")  # the unknown symbol is never generated
            ids.append(int(logits[0, -1].argmax()))
            assert lm.tokenizer.decode(ids[-1:]) == expected


def test_decode_yields_records_and_samples_are_independent(lm):
    records = list(lm.decode("the ", max_tokens=10, num_samples=3, seed=1, logprobs=0))
    assert len(records) == 10 and all(len(r.tokens) == 3 and len(r.logprobs) == 3 for r in records)
    together = lm.samples("the ", max_tokens=40, num_samples=8, seed=5)
    assert len(together) == 8 and len(set(together)) > 1
    with pytest.raises(ValueError, match="beam search"):
        lm.decode("the ", num_beams=2)


def test_openais_penalties_and_logit_bias_as_overrides_and_token_id_prompts(lm):
    q = lm.tokenizer.encode("q").tolist()[0]
    assert lm.samples("the ", max_tokens=8, num_samples=2, seed=1, logit_bias={q: 100}) == ["q" * 8] * 2
    assert lm.beam_search("the ", max_tokens=5, num_beams=2, logit_bias={q: 100})[0].text == "q" * 5
    plain = lm.generate("the ", max_tokens=40, temperature=0)
    assert lm.generate("the ", max_tokens=40, temperature=0, frequency_penalty=2.0) != plain
    ids = lm.encode_prompt("the ")
    assert lm.generate(ids, max_tokens=20, seed=4) == lm.generate("the ", max_tokens=20, seed=4)  # ids read as their text
    assert [s.token_id for s in lm.score(ids)] == ids
    assert lm.samples(ids, max_tokens=6, num_beams=2) == lm.samples("the ", max_tokens=6, num_beams=2)
    with pytest.raises(ValueError, match="outside this model's vocabulary"):
        lm.generate([0, lm.tokenizer.vocab_size], max_tokens=3)


def test_unknown_prompt_characters(lm):
    with pytest.raises(TokenizerError, match="'Z'"):
        lm.generate("Zebra", max_tokens=5)
    assert len(lm.generate("Zebra", max_tokens=5, unknown="skip", seed=1)) == 5


def test_character_model_never_generates_the_unknown_symbol(lm):
    text = "".join(lm.samples("the ", max_tokens=300, temperature=3.0, num_samples=4, seed=2))
    assert "<unk>" not in text


def test_no_repeat_ngram_generation_never_repeats_an_ngram(lm):
    text = lm.generate("the ", max_tokens=150, temperature=0, no_repeat_ngram_size=4)
    full = "the " + text
    grams = [full[i : i + 4] for i in range(len(full) - 3)]
    assert len(grams) == len(set(grams))
    assert lm.generate("the ", max_tokens=150, temperature=0) != text  # greedy alone does loop on this model


def test_beam_search_through_the_language_model(lm):
    found = lm.beam_search("the ", max_tokens=20, num_beams=4, num_samples=3)
    assert lm.samples("the ", max_tokens=20, num_beams=4, num_samples=3) == [h.text for h in found]
    assert lm.generate("the ", max_tokens=20, num_beams=4) == found[0].text


def test_next_token_candidates_are_the_models_distribution(lm):
    candidates = lm.next_token_candidates("the quic", count=3)
    assert len(candidates) == 3 and candidates[0][1] >= candidates[1][1] >= candidates[2][1]
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([lm.tokenizer.encode("the quic").tolist()]))
    logits[0, -1, 0] = float("-inf")
    best = logits[0, -1].softmax(-1).max()
    assert candidates[0][1] == pytest.approx(float(best), abs=1e-5)
    cooled = lm.next_token_candidates("the quic", count=1, temperature=0.5)
    assert cooled[0][0] == candidates[0][0] and cooled[0][1] > candidates[0][1]


def test_score_gives_each_token_its_log_probability_in_context(lm):
    text = "the quick brown"
    scored = lm.score(text, top=2)
    assert [s.text for s in scored] == list(text)
    assert scored[0].logprob is None and scored[0].top is None
    ids = lm.tokenizer.encode(text).tolist()
    with torch.no_grad():
        logits, _ = lm.model(torch.tensor([ids[:-1]]))
    logits[..., 0] = float("-inf")
    log_p = torch.log_softmax(logits[0].double(), -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    assert [s.logprob for s in scored[1:]] == pytest.approx(log_p.tolist(), abs=1e-5)
    assert all(len(s.top) == 2 and s.top[0][1] >= s.logprob - 1e-9 for s in scored[1:])
    assert lm.score("t") == [type(scored[0])(ids[0], "t", None, None)]


def test_save_and_load_round_trip(lm, tmp_path):
    saved = LanguageModel.load(lm.save(tmp_path / "copy"))
    assert saved.generate("the ", max_tokens=30, seed=1) == lm.generate("the ", max_tokens=30, seed=1)
    assert saved.info()["parameters"] == lm.info()["parameters"]
