"""A user's corpus as GAN sequences: windows after each line break, regions kept apart, clear errors."""

from __future__ import annotations

import pytest
import torch

from lstmgen.config import ConfigError
from lstmgen.gan.config import GanConfig
from lstmgen.gan.language_scores import lm_score, reverse_lm_score
from lstmgen.gan.sequences import mle_epoch
from lstmgen.gan.text import corpus_sequences, decode_texts, decode_words, load_sequences, save_sequences
from lstmgen.gan.trainer import new_generator
from lstmgen.tokenizers import CharTokenizer, TokenizerError, WordTokenizer
from lstmgen.training.optimizers import make_optimizer

LINES = "".join(f"line {i:03d} says hello\n" for i in range(100))


def test_windows_start_after_each_line_break():
    tokenizer = CharTokenizer.fit(LINES)
    data = corpus_sequences(LINES, tokenizer, 8)
    assert data.start_token == int(tokenizer.encode("\n")[0])
    texts = decode_texts(data.train, tokenizer)
    assert texts[0] == "line 001" and all(t.startswith("line ") for t in texts)  # the first line has no line break before it
    assert len(data.train) + len(data.validation) + len(data.test) <= 99
    # the regions come in order and never share a window: the test windows are the corpus's last lines
    assert decode_texts(data.test, tokenizer)[-1] == "line 099" and decode_texts(data.validation, tokenizer)[-1] < "line 090"
    assert decode_words(data.test[:1], tokenizer) == [["line", "09" + decode_texts(data.test[:1], tokenizer)[0][-1]]]


def test_word_windows_and_the_saved_file(tmp_path):
    tokenizer = WordTokenizer.fit(LINES)
    data = corpus_sequences(LINES, tokenizer, 3)
    assert decode_words(data.train[:1], tokenizer) == [["line", "001", "says"]]
    save_sequences(tmp_path / "data.npz", data)
    loaded = load_sequences(tmp_path / "data.npz")
    assert torch.equal(loaded.test, data.test) and loaded.start_token == data.start_token
    assert loaded.corpus_sha256 == data.corpus_sha256 and len(loaded.corpus_sha256) == 64


def test_a_sequence_length_beyond_the_corpus_is_a_clear_error():
    # 2,200 characters: the last tenth (the test region) cannot hold a window of 300
    with pytest.raises(ConfigError, match="sequence_length 300 is beyond this corpus.*test .0 of at least 2.*--sequence-length"):
        corpus_sequences(LINES, CharTokenizer.fit(LINES), 300)
    with pytest.raises(ConfigError, match="beyond this corpus.*0 line breaks"):  # the model knows line breaks, the text has none
        corpus_sequences("one line without a break " * 20, CharTokenizer.fit("one line without a break\n"), 3)
    with pytest.raises(ConfigError, match="no line break"):
        corpus_sequences("no break at all", CharTokenizer.fit("no break at all"), 3)


def test_symbols_the_model_lacks_are_listed():
    with pytest.raises(TokenizerError, match="'Z'"):
        corpus_sequences(LINES + "Zebra\n", CharTokenizer.fit(LINES), 8)
    data = corpus_sequences(LINES + "Zebra\n", CharTokenizer.fit(LINES), 8, unknown="skip")
    assert len(data.test) > 0


def test_language_scores_prefer_the_data_they_came_from():
    tokenizer = CharTokenizer.fit(LINES)
    data = corpus_sequences(LINES, tokenizer, 8)
    noise = torch.randint(1, tokenizer.vocab_size, (300, 8), generator=torch.Generator().manual_seed(0))
    on_real = reverse_lm_score(data.train.repeat(3, 1), data.test, tokenizer.vocab_size, data.start_token, epochs=8)
    on_noise = reverse_lm_score(noise, data.test, tokenizer.vocab_size, data.start_token, epochs=8)
    assert on_real["reverse_lm_score"] < on_noise["reverse_lm_score"] - 0.5
    assert 1 <= on_real["reverse_lm_epoch"] <= 8
    torch.manual_seed(0)  # a judge trained on the real windows scores them above noise
    judge = new_generator(tokenizer.vocab_size, 16, 32, GanConfig(generator_init_std=0.0))
    optimizer = make_optimizer("adam", judge, 1e-2)
    for _ in range(5):
        mle_epoch(judge, optimizer, data.train, 16, data.start_token, 5.0)
    assert lm_score(judge, data.test, data.start_token) < lm_score(judge, noise, data.start_token) - 0.5
