"""The labelled path end to end through the CLI: prepare, train, resume, info, generate --label, eval --labels."""

from __future__ import annotations

import json

import pytest

from conftest import STYLE_WORDS, labelled_records, write_json_lines
from lstmgen import LanguageModel
from lstmgen.cli import main

TINY = ["--hidden-size", "32", "--embedding-size", "16", "--num-layers", "1", "--batch-size", "8", "--seq-length", "32",
        "--eval-interval", "10", "--sample-length", "0", "--threads", "1", "--no-progress", "--learning-rate", "0.01"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_info_and_eval_with_labels(labelled_run, tmp_path, capsys):
    code, out, _ = run(capsys, "generate", labelled_run, "--label", "low", "--length", "40", "--seed", "2")
    assert code == 0 and set(out.strip().replace(" ", "")) <= set("".join(STYLE_WORDS["low"])), out
    code, out, err = run(capsys, "generate", labelled_run, "--label", "poe")
    assert code != 0 and "unknown label 'poe'" in err and "'UP', 'low'" in err and "Traceback" not in err
    code, out, _ = run(capsys, "info", labelled_run)
    assert code == 0 and "labels       2: UP, low" in out
    held = write_json_lines(tmp_path / "held.jsonl", labelled_records(20, seed=3))
    code, out, _ = run(capsys, "eval", labelled_run, held, "--labels", "auto", "--json")
    report = json.loads(out)
    assert code == 0 and report["documents"] == 20 and report["label_accuracy"] >= 0.9 and set(report["labels"]) == {"UP", "low"}
    code, out, _ = run(capsys, "eval", labelled_run, held, "--labels", "jsonl")
    assert code == 0 and out.startswith("label accuracy") and "protocol: labels" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "abc"}\n', encoding="utf-8")
    code, _, err = run(capsys, "eval", labelled_run, bad, "--labels", "jsonl")
    assert code != 0 and "bad.jsonl:1: no 'label' field" in err


def test_unlabelled_models_refuse_a_label(tiny_run, capsys):
    code, _, err = run(capsys, "generate", tiny_run, "--label", "low")
    assert code != 0 and "trained without labels" in err


def test_train_reports_bad_labelled_data_clearly(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("body,label\nhello,a\n", encoding="utf-8")
    code, _, err = run(capsys, "train", rows, "--labels", "csv", "--out", tmp_path / "run", *TINY)
    assert code != 0 and "rows.csv:1: no column 'text'" in err and "Traceback" not in err


@pytest.mark.parametrize("tokenizer", ["char", "word"])
def test_a_prepared_labelled_store_trains_and_resumes(tmp_path, capsys, tokenizer):
    corpus = write_json_lines(tmp_path / "styles.jsonl", labelled_records(120))
    code, out, _ = run(capsys, "prepare", corpus, "--labels", "jsonl", "--tokenizer", tokenizer, "--out", tmp_path / "store",
                       "--no-progress")
    assert code == 0, out
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", tmp_path / "store", "--out", run_dir, "--max-steps", "20", *TINY)
    assert code == 0, err
    code, _, err = run(capsys, "train", tmp_path / "store", "--resume", run_dir, "--max-steps", "30", "--no-progress")
    assert code == 0, err
    model = LanguageModel.load(run_dir)
    assert model.extra["steps"] == 30 and model.labels == ("UP", "low") and model.tokenizer.kind == tokenizer
    assert model.model.config.label_inputs == 2  # a labelled corpus: the label beside every token, by default
    assert model.generate(label="UP", max_tokens=5, seed=0) is not None
    # A labelled run trained from the corpus itself keeps its own store in the run directory and resumes on it.
    code, _, err = run(capsys, "train", corpus, "--labels", "jsonl", "--tokenizer", tokenizer, "--out", tmp_path / "run2",
                       "--max-steps", "20", *TINY)
    assert code == 0, err
    code, _, err = run(capsys, "train", "--resume", tmp_path / "run2", "--max-steps", "30", "--no-progress")
    assert code == 0, err
    meta = json.loads((tmp_path / "run2" / "data" / "meta.json").read_text(encoding="utf-8"))
    assert meta["settings"]["labelled"] == {"format": "jsonl", "text_field": "text", "label_field": "label"}
    assert set(meta["labels"]) == {"UP", "low"}


def test_a_prompt_file_gives_each_prompt_its_label(labelled_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "", "label": "UP", "seed": 1}\n{"prompt": "", "label": "low", "seed": 2}\n', encoding="utf-8")
    out = tmp_path / "samples.jsonl"
    code, _, err = run(capsys, "generate", labelled_run, "--prompt-file", prompts, "--output", out, "--length", "40")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [record["label"] for record in records] == ["UP", "low"]
    for record in records:
        assert record["text"].strip() and set(record["text"].replace(" ", "")) <= set("".join(STYLE_WORDS[record["label"]]))
    prompts.write_text('{"prompt": "", "label": "poe"}\n', encoding="utf-8")
    code, _, err = run(capsys, "generate", labelled_run, "--prompt-file", prompts, "--output", out)
    assert code != 0 and "unknown label 'poe'" in err and "Traceback" not in err


def test_label_inputs_can_be_turned_off_and_are_checked(tmp_path, capsys):
    corpus = write_json_lines(tmp_path / "styles.jsonl", labelled_records(60))
    code, _, err = run(capsys, "train", corpus, "--labels", "jsonl", "--out", tmp_path / "once", "--max-steps", "5",
                       "--label-inputs", "0", *TINY)
    assert code == 0, err
    once = LanguageModel.load(tmp_path / "once")
    assert once.model.config.label_inputs == 0 and not hasattr(once.model, "label_embedding")
    assert once.generate(label="UP", max_tokens=10, seed=0) is not None
    code, _, err = run(capsys, "train", corpus, "--labels", "jsonl", "--out", tmp_path / "bad", "--max-steps", "5",
                       "--label-inputs", "5", *TINY)
    assert code != 0 and "this corpus has 2 labels" in err and "Traceback" not in err
