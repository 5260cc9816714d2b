import pytest
import torch

from lstmgen import GenerationConfig, LanguageModel
from lstmgen.generation import generate_text, generate_tokens
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
    calls = []
    original = lm.model.forward

    def counting(tokens, state=None):
        calls.append(tokens.shape[1])
        return original(tokens, state)

    monkeypatch.setattr(lm.model, "forward", counting)
    lm.generate("the quick", max_tokens=10, temperature=0.5, seed=1)
    assert calls == [9] + [1] * 9  # prefill once, then one token per step


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
