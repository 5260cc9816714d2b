"""decoding.generation.encode_prompt under a label, on every tokenizer kind (random weights: the path, not the style)."""

from __future__ import annotations

import pytest

from conftest import make_tiny_model
from lstmgen import LanguageModel
from lstmgen.decoding import encode_prompt
from lstmgen.decoding.healing import heal_prompt
from lstmgen.tokenizers import LabelledTokenizer, fit_vocabulary

TEXT = "the cat sat on the mat. the dog ran far away.\n" * 20


@pytest.mark.parametrize("kind", ["char", "word", "byte", "bpe", "unigram"])
def test_a_labelled_prompt_is_read_after_the_end_of_document_and_the_label(kind):
    if kind in ("bpe", "unigram"):
        pytest.importorskip("tokenizers", reason="the subword extra is not installed")
    tokenizer = LabelledTokenizer(fit_vocabulary(kind, [TEXT], vocab_size=300, documents=True), ["a", "b"])
    ids = encode_prompt(tokenizer, "the cat", label="b")
    assert ids[:2] == [tokenizer.end_of_document, tokenizer.label_id("b")]
    assert ids[2:] == tokenizer.encode("the cat").tolist()
    assert heal_prompt(tokenizer, encode_prompt(tokenizer, "", label="a")) == ([tokenizer.end_of_document, tokenizer.label_id("a")], None)
    lm = LanguageModel(make_tiny_model(vocab_size=tokenizer.vocab_size), tokenizer)
    for prompt in ("", "the "):  # a subword prompt ending in a space is healed; the label before it stays
        records = list(lm.decode(prompt, label="a", max_tokens=12, seed=0, num_samples=4, temperature=2.0))
        drawn = {token for record in records for token in record.tokens if token is not None}
        assert drawn and not drawn & {tokenizer.label_id("a"), tokenizer.label_id("b")}
        healed, _ = heal_prompt(tokenizer, encode_prompt(tokenizer, prompt, label="b"))
        assert healed[:2] == [tokenizer.end_of_document, tokenizer.label_id("b")]
