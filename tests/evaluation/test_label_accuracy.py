"""evaluation.labels and generation under a label, on a tiny model trained in seconds on two labelled styles."""

from __future__ import annotations

import json

import pytest

from conftest import STYLE_WORDS, labelled_records
from lstmgen import LanguageModel
from lstmgen.tokenizers import LabelError

ALPHABETS = {label: set("".join(words)) for label, words in STYLE_WORDS.items()}  # {a, b, c} and {X, Y, Z}


@pytest.fixture(scope="module")
def labelled_lm(labelled_run) -> LanguageModel:
    return LanguageModel.load(labelled_run)


def share_in(texts: list[str], alphabet: set[str]) -> float:
    letters = [character for text in texts for character in text if not character.isspace()]
    return sum(character in alphabet for character in letters) / max(1, len(letters))


@pytest.mark.parametrize("label", sorted(STYLE_WORDS))
def test_each_label_writes_in_its_own_style(labelled_lm, label):
    samples = labelled_lm.samples(label=label, num_samples=8, max_tokens=60, seed=0)
    assert sum(len(sample) for sample in samples) > 100  # real text, not ends of document at once
    other = next(name for name in ALPHABETS if name != label)
    assert share_in(samples, ALPHABETS[label]) >= 0.9, samples
    assert share_in(samples, ALPHABETS[other]) <= 0.05, samples
    # The same label through generate() and decode(): the prompt follows the label.
    assert set(labelled_lm.generate("", label=label, max_tokens=30, seed=1).replace(" ", "")) <= ALPHABETS[label] | {"\n"}


def test_the_label_set_is_in_the_checkpoint(labelled_lm, labelled_run, tmp_path):
    assert labelled_lm.labels == ("UP", "low")
    assert labelled_lm.info()["tokenizer"]["labels"] == ["UP", "low"]
    saved = json.loads((labelled_run / "best" / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["labels"] == ["UP", "low"]
    copy = LanguageModel.load(labelled_lm.save(tmp_path / "copy"))
    assert copy.labels == ("UP", "low") and copy.tokenizer.to_dict() == labelled_lm.tokenizer.to_dict()
    # Label ids are never drawn: even where the model is unsure, every sample decodes from text ids.
    record = next(iter(copy.decode(label="low", max_tokens=5, seed=3, num_samples=16, temperature=3.0)))
    assert all(token not in copy.tokenizer.never_generated for token in record.tokens)


def test_unknown_labels_and_unlabelled_models_are_clear_errors(labelled_lm, lm):
    with pytest.raises(LabelError, match=r"unknown label 'poe'; this model knows 2 labels: 'UP', 'low'"):
        labelled_lm.generate(label="poe")
    with pytest.raises(LabelError, match="trained without labels"):
        lm.generate("the", label="low")


def test_label_accuracy_is_high_on_held_out_documents(labelled_lm):
    held_out = labelled_records(40, seed=7)
    report = labelled_lm.evaluate_labels((record["label"], record["text"]) for record in held_out)
    assert report.documents == 40 and report.accuracy >= 0.95
    assert set(report.per_label) == {"UP", "low"} and report.majority == 0.5
    assert all(score.documents == 20 and 0 < score.nats < 2.0 for score in report.per_label.values())
    assert sum(report.confusion["UP"].values()) == 20
    data = report.to_dict()
    assert data["label_accuracy"] == report.accuracy and data["labels"]["low"]["documents"] == 20
    assert "label accuracy" in report.describe() and report.protocol in report.describe()


def test_a_label_that_does_not_fit_the_text_scores_worse(labelled_lm):
    # Swap the labels: the model now guesses the other label for (almost) every document.
    swapped = [({"UP": "low", "low": "UP"}[record["label"]], record["text"]) for record in labelled_records(20, seed=8)]
    report = labelled_lm.evaluate_labels(swapped)
    assert report.accuracy <= 0.05
    honest = labelled_lm.evaluate_labels((r["label"], r["text"]) for r in labelled_records(20, seed=8))
    assert report.nats > honest.nats + 0.05  # less likely under the wrong label (mostly its first tokens: the text soon shows its style)


def test_label_accuracy_refuses_unknown_labels(labelled_lm, lm):
    with pytest.raises(LabelError, match="unknown label 'poe'"):
        labelled_lm.evaluate_labels([("poe", "abc")])
    with pytest.raises(LabelError, match="trained without labels"):
        lm.evaluate_labels([("low", "abc")])


def test_beam_search_and_candidates_follow_the_label(labelled_lm):
    for label, alphabet in ALPHABETS.items():
        found = labelled_lm.beam_search(label=label, num_beams=3, num_samples=2, max_tokens=20)
        assert all(hypothesis.text.replace(" ", "") and set(hypothesis.text.replace(" ", "")) <= alphabet for hypothesis in found)
        candidates = labelled_lm.next_token_candidates("", 3, label=label)
        assert candidates[0][0] in alphabet  # a document under this label starts with one of its letters
