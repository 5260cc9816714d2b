"""The adaptive softmax (lstmgen.model.adaptive): exact log-probabilities when read, the cheap loss when trained, the
fast decoders, the checkpoint, the config's checks, and a word model trained, scored and sampled through it."""

from __future__ import annotations

import json

import pytest
import torch

from lstmgen import LanguageModel, train
from lstmgen.checkpoint import load_checkpoint, parameter_count, save_checkpoint
from lstmgen.config import ConfigError, GenerationConfig, ModelConfig
from lstmgen.decoding.fast_lstm import FastLSTMDecoder
from lstmgen.decoding.fast_mogrifier import FastMogrifierDecoder
from lstmgen.model import RecurrentLanguageModel
from lstmgen.model.adaptive import automatic_cutoffs
from lstmgen.tokenizers import CharTokenizer

CUTOFFS = (20, 60)  # a head of 20 ids and 2 clusters (40 and 40 ids) over a vocabulary of 100


def _model(cell: str = "lstm", **fields) -> RecurrentLanguageModel:
    torch.manual_seed(3)
    config = ModelConfig(vocab_size=100, cell=cell, embedding_size=12, hidden_size=16, num_layers=2, adaptive_softmax=CUTOFFS,
                         **fields)
    return RecurrentLanguageModel(config).eval()


def test_the_model_reads_exact_log_probabilities_and_trains_on_the_same_numbers():
    model = _model()
    tokens = torch.randint(0, 100, (3, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_probabilities, _ = model(tokens)  # [3, 9, 100]
        losses, _ = model(tokens[:, :-1], None, tokens[:, 1:])  # [3, 8]
    assert log_probabilities.shape == (3, 9, 100)
    torch.testing.assert_close(log_probabilities.exp().sum(-1), torch.ones(3, 9))  # a whole distribution at every position
    # Logits a softmax leaves as they are: sampling and scoring read the probabilities the model trains on.
    torch.testing.assert_close(torch.log_softmax(log_probabilities, -1), log_probabilities)
    expected = -log_probabilities[:, :-1].gather(2, tokens[:, 1:, None])[..., 0]
    torch.testing.assert_close(losses, expected)
    assert (tokens < 20).any() and (tokens >= 60).any()  # targets in the head and in the last cluster were scored


@pytest.mark.parametrize("cell, decoder", [("lstm", FastLSTMDecoder), ("mogrifier", FastMogrifierDecoder)])
def test_the_fast_decoders_step_the_same_distribution_with_banned_ids_at_minus_infinity(cell, decoder):
    model = _model(cell)
    tokens = torch.randint(0, 100, (4, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole, _ = model(tokens)  # [4, 6, 100]
    fast = decoder(model, 4, banned=[5, 70])
    fast.load_state(model.init_state(4))
    stepped = torch.stack([fast.step(tokens[:, t]).clone() for t in range(6)], dim=1)
    assert torch.isinf(stepped[..., [5, 70]]).all() and (stepped[..., [5, 70]] < 0).all()
    kept = [i for i in range(100) if i not in (5, 70)]
    torch.testing.assert_close(stepped[..., kept], whole[..., kept], atol=1e-5, rtol=1e-5)


def test_the_config_checks_the_cutoffs_and_leaves_them_out_of_a_full_softmax_checkpoint():
    for cutoffs, vocab in (((60, 20), 100), ((20, 100), 100), ((0, 20), 100), ((20, 20), 100)):
        with pytest.raises(ConfigError, match="adaptive_softmax cutoffs must be increasing"):
            ModelConfig(vocab_size=vocab, adaptive_softmax=cutoffs)
    with pytest.raises(ConfigError, match="adaptive_softmax and tie_weights exclude each other"):
        ModelConfig(vocab_size=100, embedding_size=16, hidden_size=16, tie_weights=True, adaptive_softmax=(20,))
    assert "adaptive_softmax" not in ModelConfig(vocab_size=100).to_dict()  # older versions still read such configs
    read = ModelConfig.from_dict(json.loads(json.dumps(ModelConfig(vocab_size=100, adaptive_softmax=CUTOFFS).to_dict())))
    assert read.adaptive_softmax == CUTOFFS and read == ModelConfig(vocab_size=100, adaptive_softmax=CUTOFFS)
    assert automatic_cutoffs(8_000) == () and automatic_cutoffs(9_000) == (2000,) and automatic_cutoffs(14_299) == (2000, 8000)
    assert automatic_cutoffs(50_000) == (2000, 8000, 32000)


def test_a_checkpoint_keeps_the_adaptive_softmax(tmp_path):
    model = _model()
    assert parameter_count(model.config) == model.num_parameters()
    tokenizer = CharTokenizer.fit("".join(chr(0x4E00 + i) for i in range(99)))  # 99 symbols + the unknown one = 100 ids
    assert tokenizer.vocab_size == 100
    save_checkpoint(tmp_path / "ckpt", model, tokenizer)
    loaded = load_checkpoint(tmp_path / "ckpt").model.eval()
    tokens = torch.randint(0, 100, (2, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens)[0], model(tokens)[0], atol=0, rtol=0)
    assert loaded.config.adaptive_softmax == CUTOFFS


WORDS = [f"w{i}" for i in range(60)]


def _word_text(count: int = 6_000) -> str:
    """Words following a fixed successor rule most of the time, with Zipf-like frequencies (the ids the word tokenizer
    gives are ordered by frequency, as an adaptive softmax needs)."""
    generator = torch.Generator().manual_seed(5)
    weights = 1.0 / torch.arange(1, len(WORDS) + 1, dtype=torch.float)
    words, current = [], 0
    for _ in range(count):
        if torch.rand((), generator=generator) < 0.7:
            current = (current * 7 + 3) % len(WORDS)
        else:
            current = int(torch.multinomial(weights, 1, generator=generator))
        words.append(WORDS[current])
    return " ".join(words)


def test_a_word_model_with_an_adaptive_softmax_trains_scores_and_samples_as_a_user_runs_it(tmp_path):
    text = _word_text()
    result = train(text=text, out_dir=tmp_path / "run", tokenizer="word", model={"adaptive_softmax": (10, 30)}, max_steps=120,
                   eval_interval=120, sample_length=0, threads=1, progress=False, log=lambda line: None)
    history = [point["val_nats"] for point in result.history if "val_nats" in point]
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.model.config.adaptive_softmax == (10, 30)
    report = lm.evaluate(text=text[-4_000:])
    assert report.nats < 0.8 * torch.log(torch.tensor(float(lm.tokenizer.vocab_size))).item()  # it learnt the rule
    assert history and abs(history[-1] - result.best_val["val_nats"]) < 1e-9
    # Greedy through the fast decoder is the argmax of the model's own distribution, step after step.
    prompt = "w3 "
    greedy = lm.generate(prompt, GenerationConfig(max_tokens=12, temperature=0.0))
    ids = lm.tokenizer.encode(prompt).tolist()
    with torch.no_grad():
        for _ in range(12):
            log_probabilities, _ = lm.model(torch.tensor([ids]))
            ids.append(int(log_probabilities[0, -1].argmax()))
    assert greedy == lm.tokenizer.decode(ids[len(lm.tokenizer.encode(prompt)):])
    # A seeded sample is the same twice and stays in the vocabulary of the corpus.
    sampled = [lm.generate(prompt, GenerationConfig(max_tokens=20, temperature=0.8, seed=4)) for _ in range(2)]
    assert sampled[0] == sampled[1] and set(sampled[0].split()) <= set(WORDS) | {"<unk>"}
