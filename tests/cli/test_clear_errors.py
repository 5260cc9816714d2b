"""Bad settings and damaged run files found by trying the paths a user takes: each a one-line error that names
the flag or the file, and exit status 2, never a traceback or a silent resume."""

import json
import shutil

import pytest
import torch

from lstmgen.cli import main

FLAGS = ["--max-steps", "20", "--eval-interval", "10", "--batch-size", "4", "--seq-length", "16", "--hidden-size", "32",
         "--embedding-size", "16", "--sample-length", "0", "--threads", "1", "--no-progress"]


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(arg) for arg in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    return copy


def test_generate_refuses_an_unknown_device(capsys, tiny_run):
    code, err = _run(capsys, "generate", tiny_run, "--device", "bogus")
    assert code == 2 and "--device must be" in err


def test_serve_refuses_an_unknown_device(capsys, tiny_run):
    code, err = _run(capsys, "serve", tiny_run, "--device", "bogus", "--port", "0")
    assert code == 2 and "--device must be" in err


def test_a_metrics_record_without_a_step_is_refused_on_resume(capsys, run_copy):
    last = run_copy / "last"
    (last / "manifest.json").unlink()  # nothing verifies the files now: the records themselves are checked
    (last / "metrics.jsonl").write_text(json.dumps({"train_loss": 1.0}) + "\n", encoding="utf-8")
    code, err = _run(capsys, "train", "--resume", run_copy, "--max-steps", "60", "--no-progress")
    assert code == 2 and "metrics.jsonl record 1" in err


def test_a_data_cursor_past_the_epoch_is_refused_on_resume(capsys, run_copy):
    last = run_copy / "last"
    (last / "manifest.json").unlink()
    state = torch.load(last / "trainer_state.pt", weights_only=True)
    state["data"]["window"] = 10**9
    torch.save(state, last / "trainer_state.pt")
    code, err = _run(capsys, "train", "--resume", run_copy, "--max-steps", "60", "--no-progress")
    assert code == 2 and "data cursor stands at window 1000000000" in err


def test_a_min_frequency_no_word_reaches_names_the_flag(capsys, tiny_file, tmp_path):
    code, err = _run(capsys, "train", tiny_file, "--out", tmp_path / "run", "--tokenizer", "word", "--min-frequency", 10**9, *FLAGS)
    assert code == 2 and "--min-frequency" in err and "vocab_size" not in err


def test_an_out_that_is_a_file_is_named(capsys, tiny_file, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a run", encoding="utf-8")
    code, err = _run(capsys, "train", tiny_file, "--out", target, *FLAGS)
    assert code == 2 and "is a file, not a run directory" in err and "Errno" not in err
    assert target.read_text(encoding="utf-8") == "not a run"
