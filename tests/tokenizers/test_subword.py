"""lstmgen.tokenizers.subword: byte-level BPE and unigram tokenizers learned with Hugging Face tokenizers."""

from __future__ import annotations

import pytest

pytest.importorskip("tokenizers", reason="the bpe and unigram tokenizers need the subword extra: pip install 'lstmgen[subword]'")

import tokenizers  # noqa: E402
from conftest import TINY_TEXT  # noqa: E402
from lstmgen import LanguageModel, train  # noqa: E402
from lstmgen.tokenizers import fit_vocabulary, tokenizer_from_dict  # noqa: E402
from lstmgen.tokenizers.subword import byte_alphabet  # noqa: E402

QUIET = dict(progress=False, log=lambda line: None)
HARD = "naïve café — 東京 🎉 über Ærø\u00a0x\ttab"


def _varied_text(words: int = 6000) -> str:
    """Made-up English-like text with many distinct words, so a unigram model has pieces to learn."""
    import random

    rng = random.Random(0)
    syllables = ["the", "an", "st", "ing", "er", "on", "qu", "ick", "br", "own", "fo", "x", "la", "zy", "do", "g", "ca", "fé"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    lines = [" ".join(rng.choice(vocabulary) for _ in range(10)) for _ in range(words // 10)]
    return "\n".join(lines) + "\n" + TINY_TEXT


def test_the_byte_alphabet_is_the_librarys():
    assert set(byte_alphabet()) == set(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    assert sorted(byte_alphabet().values()) == list(range(256))


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_any_text_round_trips_and_streams_without_splitting_a_character(kind):
    text = _varied_text()
    tokenizer = fit_vocabulary(kind, [text[i : i + 5000] for i in range(0, len(text), 5000)], vocab_size=400)
    assert 256 < tokenizer.vocab_size <= 400 and tokenizer.unknown_id is None  # at most asked: a tiny text runs out of merges
    for sample in (HARD, "unseen: ₿ ŋ ǅ 𝔘", text[:200]):
        ids = tokenizer.encode(sample)
        assert tokenizer.decode(ids) == sample
        decoder = tokenizer.stream_decoder()
        pieces = [decoder.feed(token) for token in ids]
        assert "".join(pieces) == sample and "\ufffd" not in "".join(pieces)  # no character was split across pieces
    assert len(tokenizer.encode(text[:1000])) < 600  # pieces were learned: far fewer tokens than characters
    again = tokenizer_from_dict(tokenizer.to_dict())
    assert again.encode(HARD).tolist() == tokenizer.encode(HARD).tolist()


def test_a_bpe_model_trains_generates_and_reloads(tmp_path):
    train(text=TINY_TEXT, out_dir=tmp_path / "run", tokenizer="bpe", vocab_size=300, model=dict(embedding_size=16, hidden_size=32),
          batch_size=4, seq_length=16, max_steps=20, eval_interval=20, sample_length=10, threads=1, **QUIET)
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.tokenizer.kind == "bpe" and lm.config.vocab_size == lm.tokenizer.vocab_size <= 300
    records = list(lm.decode("naïve ", max_tokens=30, seed=1))
    text = "".join(r.texts[0] for r in records)
    # A barely trained model may sample byte runs that are no UTF-8 (shown as U+FFFD); the text is what its bytes say.
    # The prompt's last token, " ", was taken back (token healing): the first token repeats it, the text does not.
    assert " " + text == lm.tokenizer.decode([r.tokens[0] for r in records])
    report = lm.evaluate(TINY_TEXT[-500:])
    assert report.bits_per_character is not None and report.bits_per_character < report.bits  # a token holds several characters


def test_a_vocabulary_smaller_than_the_bytes_is_refused():
    from lstmgen.tokenizers import TokenizerError

    with pytest.raises(TokenizerError, match="must exceed the 256 byte symbols"):
        fit_vocabulary("bpe", [TINY_TEXT], vocab_size=200)
