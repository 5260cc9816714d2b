"""tokenizers.labels: label ids after any kind's vocabulary, never text, saved in tokenizer.json."""

from __future__ import annotations

import pytest

from lstmgen.tokenizers import LabelError, LabelledTokenizer, fit_vocabulary, label_id, labels_of, tokenizer_from_dict

TEXT = "the cat sat on the mat. The dog ran; naïve café!\n" * 20
KINDS = ["char", "word", "byte", "bpe"]


def labelled(kind: str, labels=("poe", "austen")) -> LabelledTokenizer:
    if kind == "bpe":
        pytest.importorskip("tokenizers", reason="the subword extra is not installed")
    base = fit_vocabulary(kind, [TEXT], vocab_size=300, documents=True)
    return LabelledTokenizer(base, labels)


@pytest.mark.parametrize("kind", KINDS)
def test_label_ids_follow_the_vocabulary_and_are_never_text(kind):
    tokenizer = labelled(kind)
    base_size = tokenizer.base.vocab_size
    assert tokenizer.vocab_size == base_size + 2
    assert [tokenizer.label_id("poe"), tokenizer.label_id("austen")] == [base_size, base_size + 1]
    assert {base_size, base_size + 1} <= set(tokenizer.never_generated)
    ids = tokenizer.encode("the cat sat").tolist()
    assert max(ids) < base_size  # no text encodes to a label
    with_labels = [tokenizer.end_of_document, tokenizer.label_id("poe")] + ids
    assert tokenizer.decode(with_labels) == tokenizer.base.decode(ids)
    decoder = tokenizer.stream_decoder()
    assert "".join(decoder.feed(i) for i in with_labels) == tokenizer.base.decode(ids)
    assert tokenizer.token_text(tokenizer.label_id("austen")) == ""


@pytest.mark.parametrize("kind", KINDS)
def test_the_label_set_survives_the_json_round_trip(kind):
    tokenizer = labelled(kind)
    data = tokenizer.to_dict()
    assert data["labels"] == ["poe", "austen"] and data["kind"] == kind
    again = tokenizer_from_dict(data)
    assert isinstance(again, LabelledTokenizer) and labels_of(again) == ("poe", "austen")
    assert again.vocab_size == tokenizer.vocab_size and again.to_dict() == data
    assert again.encode("the mat").tolist() == tokenizer.encode("the mat").tolist()


def test_a_tokenizer_json_without_labels_loads_as_before():
    base = fit_vocabulary("char", [TEXT], documents=True)
    again = tokenizer_from_dict(base.to_dict())
    assert not isinstance(again, LabelledTokenizer) and labels_of(again) == ()
    with pytest.raises(LabelError, match="trained without labels"):
        label_id(again, "poe")


def test_an_unknown_label_lists_the_known_ones():
    with pytest.raises(LabelError, match=r"unknown label 'shelley'.*'poe', 'austen'"):
        labelled("char").label_id("shelley")


@pytest.mark.parametrize("labels, message", [([], "non-empty list"), (["a", "a"], "distinct"), (["a", ""], "non-empty string"),
                                             (["two\nlines"], "one line"), ("poe", "non-empty list"), ([3], "non-empty string")])
def test_malformed_label_sets_are_refused(labels, message):
    data = {**fit_vocabulary("char", [TEXT], documents=True).to_dict(), "labels": labels}
    with pytest.raises(LabelError, match=message):
        tokenizer_from_dict(data)


def test_labels_need_document_mode():
    with pytest.raises(LabelError, match="document mode"):
        LabelledTokenizer(fit_vocabulary("char", [TEXT]), ["poe"])
