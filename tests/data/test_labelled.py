"""data.labelled and the token store on labelled documents: the three formats, bad input, the per-label split."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import labelled_records, write_json_lines
from lstmgen.data.corpus import CorpusError
from lstmgen.data.labelled import labelled_corpus
from lstmgen.data.store import TokenStore, prepare
from lstmgen.tokenizers import LabelledTokenizer

RECORDS = [{"text": "once upon a time", "label": "tale"}, {"text": "BUY NOW", "label": "ad"},
           {"text": "the end, said he,\nand \"left\"", "label": "tale"}]
EXPECTED = [("tale", "once upon a time"), ("ad", "BUY NOW"), ("tale", "the end, said he,\nand \"left\"")]


def read(path, format="auto", **options):
    return [(d.label, d.text) for d in labelled_corpus([str(path)], format, **options).documents()]


def write_table(path, rows, delimiter):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerows(rows)
    return path


def test_json_lines_with_named_fields(tmp_path):
    assert read(write_json_lines(tmp_path / "a.jsonl", RECORDS)) == EXPECTED
    renamed = [{"body": r["text"], "who": r["label"], "other": 1} for r in RECORDS]
    path = write_json_lines(tmp_path / "b.jsonl", renamed)
    assert read(path, "jsonl", text_field="body", label_field="who") == EXPECTED


@pytest.mark.parametrize("format, delimiter", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_with_a_header(tmp_path, format, delimiter):
    rows = [["id", "label", "text"]] + [[str(i), r["label"], r["text"]] for i, r in enumerate(RECORDS)]
    path = write_table(tmp_path / f"a.{format}", rows, delimiter)
    assert read(path) == EXPECTED  # auto: by extension
    assert read(path, format) == EXPECTED


def test_one_directory_per_label(tmp_path):
    for index, (label, text) in enumerate(EXPECTED):
        (tmp_path / "docs" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs" / label / f"{index}.txt").write_text(text, encoding="utf-8")
    assert sorted(read(tmp_path / "docs")) == sorted(EXPECTED)


def test_blank_texts_are_skipped(tmp_path):
    path = write_json_lines(tmp_path / "a.jsonl", RECORDS + [{"text": "  \n", "label": "ad"}])
    assert read(path) == EXPECTED


@pytest.mark.parametrize("line, message", [
    ('{"text": "hi"}', r"a\.jsonl:2: no 'label' field"),
    ('{"label": "x"}', r"a\.jsonl:2: no 'text' field"),
    ('{"text": "hi", "label": ""}', r"a\.jsonl:2: the label \('label'\) is empty"),
    ('{"text": "hi", "label": null}', r"a\.jsonl:2: the label \('label'\) is empty"),
    ('{"text": 5, "label": "x"}', r"a\.jsonl:2: the text \('text'\) is a int"),
    ('[1, 2]', r"a\.jsonl:2: a list, not a JSON object"),
    ('{"text": "hi", ', r"a\.jsonl:2: not a JSON object"),
])
def test_bad_json_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        read(path)


def test_a_table_without_the_column_names_its_columns(tmp_path):
    path = write_table(tmp_path / "a.csv", [["words", "label"], ["hi", "x"]], ",")
    with pytest.raises(CorpusError, match=r"a\.csv:1: no column 'text' in the header \('words', 'label'\)"):
        read(path)
    short = write_table(tmp_path / "b.csv", [["text", "label"], ["hi", "x"], ["alone"]], ",")
    with pytest.raises(CorpusError, match=r"b\.csv:3: 1 columns"):
        read(short)
    empty = write_table(tmp_path / "c.csv", [["text", "label"], ["hi", " "]], ",")
    with pytest.raises(CorpusError, match=r"c\.csv:2: the label \('label'\) is empty"):
        read(empty)


def test_bad_directories(tmp_path):
    (tmp_path / "docs" / "poe").mkdir(parents=True)
    (tmp_path / "docs" / "austen").mkdir()
    (tmp_path / "docs" / "poe" / "a.txt").write_text("nevermore", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"label directory .*austen holds no files matching '\*\.txt'"):
        read(tmp_path / "docs")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CorpusError, match="outside a label directory"):
        read(tmp_path / "loose", "directories")


def test_formats_and_fields_are_checked(tmp_path):
    path = write_json_lines(tmp_path / "a.data", RECORDS)
    with pytest.raises(CorpusError, match="cannot tell the labelled format"):
        read(path)
    with pytest.raises(CorpusError, match="--labels must be one of"):
        labelled_corpus([str(path)], "yaml")
    with pytest.raises(CorpusError, match="two different names"):
        labelled_corpus([str(path)], "jsonl", text_field="x", label_field="x")
    with pytest.raises(CorpusError, match="no such file"):
        labelled_corpus([str(tmp_path / "missing.jsonl")], "jsonl")


@pytest.mark.parametrize("kind", ["char", "word", "byte"])
def test_the_store_writes_label_text_end_per_document_and_holds_out_every_label(tmp_path, kind):
    # Ordered by label (as a directory per label is): the split still holds out the end of each label's documents.
    records = sorted(labelled_records(100), key=lambda record: record["label"])
    corpus = labelled_corpus([str(write_json_lines(tmp_path / "a.jsonl", records))], "jsonl")
    store = prepare([], tmp_path / "store", tokenizer=kind, val_fraction=0.2, labelled=corpus)
    tokenizer = store.tokenizer
    assert isinstance(tokenizer, LabelledTokenizer) and tokenizer.labels == ("UP", "low")
    tokens = store.tokens.tolist()
    first_end = tokens.index(tokenizer.end_of_document)
    assert tokens[0] == tokenizer.label_id("UP") and tokenizer.decode(tokens[1:first_end]) == records[0]["text"]
    counts = store.meta["labels"]  # the last 20% of each label's characters: about 10 of its 50 documents
    assert all(sum(row.values()) == 50 and 7 <= row["val"] <= 13 and row["test"] == 0 for row in counts.values()), counts
    val = store.val.tolist()
    assert [val.count(tokenizer.label_id(label)) for label in ("UP", "low")] == [counts["UP"]["val"], counts["low"]["val"]]
    assert val[0] in (tokenizer.label_id("UP"), tokenizer.label_id("low")) and val[-1] == tokenizer.end_of_document
    again = TokenStore.open(tmp_path / "store")
    assert again.tokenizer.to_dict() == tokenizer.to_dict()


def test_labelled_records_are_whole_documents(tmp_path):
    corpus = labelled_corpus([str(write_json_lines(tmp_path / "a.jsonl", RECORDS))], "jsonl")
    with pytest.raises(CorpusError, match="drop --documents"):
        prepare([], tmp_path / "store", documents="lines", labelled=corpus)


def test_a_subword_store_carries_the_labels(tmp_path):
    pytest.importorskip("tokenizers", reason="the subword extra is not installed")
    corpus = labelled_corpus([str(write_json_lines(tmp_path / "a.jsonl", labelled_records(60)))], "jsonl")
    store = prepare([], tmp_path / "store", tokenizer="bpe", vocab_size=300, val_fraction=0.1, labelled=corpus)
    tokenizer = store.tokenizer
    assert tokenizer.kind == "bpe" and tokenizer.labels == ("UP", "low") and tokenizer.vocab_size == tokenizer.base.vocab_size + 2
    tokens = store.tokens.tolist()
    assert tokens.count(tokenizer.label_id("UP")) == 30 and tokens.count(tokenizer.end_of_document) == 60
    reused = prepare([], tmp_path / "store", tokenizer="bpe", vocab_size=300, val_fraction=0.1, labelled=corpus, reuse=True)
    assert reused.meta["seconds"] == store.meta["seconds"]  # the same sources and settings: the store is kept
