"""A ``gan train`` run recovers from every point a crash can stop it at, and its files are checked like checkpoints:
a damaged gan_run.json or data.npz is an error naming the file, never a traceback, a hang or a resume on other data."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from lstmgen import load_checkpoint
from lstmgen.cli import main
from lstmgen.gan.state import check_gan_state
from lstmgen.system.run_directory import RunLock

SMALL = ["--sequence-length", "24", "--set", "eval_interval=2", "--set", "adversarial_batch_size=32", "--set", "d_samples=64",
         "--set", "d_holdout=8", "--threads", "1", "--no-progress", "--no-report"]


@pytest.fixture(scope="module")
def finished(tiny_run, tmp_path_factory):
    """A finished two-seed run (its files are copied and damaged by the tests)."""
    corpus = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    from conftest import TINY_TEXT

    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path_factory.mktemp("gan") / "run"
    assert main(["gan", "train", str(corpus), "--init-from", str(tiny_run), "--out", str(run), "--seeds", "1,2", "--rounds", "2",
                 *SMALL]) == 0
    return corpus, run


@pytest.fixture
def run_copy(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished[1], copy)
    return copy


def _weights(directory):
    return load_checkpoint(directory, prefer="last", state_check=check_gan_state).model.state_dict()


def test_a_run_stopped_before_it_began_starts_again_with_the_same_command(finished, tiny_run, tmp_path, capsys):
    corpus, _ = finished
    run = tmp_path / "gan"
    command = ["gan", "train", str(corpus), "--init-from", str(tiny_run), "--out", str(run), "--seeds", "1", "--rounds", "1", *SMALL]
    assert main(command) == 0
    (run / "gan_run.json").unlink()  # as if killed after start/ and data.npz were written, before gan_run.json
    shutil.rmtree(run / "last")
    shutil.rmtree(run / "mle")
    capsys.readouterr()
    assert main(["gan", "train", "--resume", str(run), "--no-progress"]) == 2
    assert "stopped before it began" in capsys.readouterr().err
    assert main(command) == 0  # no --overwrite needed: nothing was trained from what it left
    assert "a run that stopped before it began left them" in capsys.readouterr().err
    assert (run / "last").is_dir()


def test_a_run_stopped_before_its_first_checkpoint_resumes_to_the_uninterrupted_result(finished, tmp_path, run_copy):
    """Killed during the first seed's first unit (gan_run.json written, no mle/ or last/ yet): --resume trains it all."""
    for name in ("last", "mle", "mle-best", "seeds"):
        shutil.rmtree(run_copy / name, ignore_errors=True)
    assert main(["gan", "train", "--resume", str(run_copy), "--no-report", "--no-progress", "--threads", "1"]) == 0
    for seed_dir in ("", "seeds/2"):
        for (name, a), b in zip(_weights(finished[1] / seed_dir).items(), _weights(run_copy / seed_dir).values()):
            torch.testing.assert_close(a, b, msg=f"{seed_dir} {name}")


def test_every_seed_starts_from_the_model_the_run_started_from(finished, tiny_run):
    """Seeds are replicates: each begins at --init-from (a copy in start/), not at the first seed's MLE model."""
    run = finished[1]
    start = load_checkpoint(tiny_run).model.state_dict()
    for name, tensor in load_checkpoint(run / "start").model.state_dict().items():
        assert torch.equal(tensor, start[name])
    first = [r for r in load_checkpoint(run, prefer="last").metrics if r.get("unit") == 0][0]
    second = [r for r in load_checkpoint(run / "seeds" / "2", prefer="last").metrics if r.get("unit") == 0][0]
    assert first["nll_validation"] == pytest.approx(second["nll_validation"], abs=1e-6)  # the same model, scored alike


def _damage_json(path, value):
    """Write ``value`` as the run file, without its own hash (as a run written before record_sha256 existed), so that
    the structure checks themselves are what meets the damage."""
    if isinstance(value, dict):
        value = {key: entry for key, entry in value.items() if key != "record_sha256"}
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")


def test_a_run_file_changed_after_it_was_written_is_refused(run_copy, capsys):
    record = json.loads((run_copy / "gan_run.json").read_text(encoding="utf-8"))
    record["gan"]["discount"] = record["gan"].get("discount", 0.9) / 2  # a valid setting, but not the run's
    (run_copy / "gan_run.json").write_text(json.dumps(record), encoding="utf-8")
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    assert "gan_run.json changed after the run wrote it" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (lambda record: "{not json", "is not valid JSON"),
    (lambda record: [], "holds list"),
    (lambda record: {**record, "seeds": []}, "'seeds'"),
    (lambda record: {**record, "seeds": ["1"]}, "'seeds'"),
    (lambda record: {**record, "gan": "dense"}, "'gan' settings object"),
    (lambda record: {**record, "gan": {**record["gan"], "discount": 7}}, "'gan' settings a GAN run cannot have"),
    (lambda record: {**record, "gan": {**record["gan"], "no_such_setting": 1}}, "'gan' settings a GAN run cannot have"),
    (lambda record: {**record, "data_sha256": 5}, "'data_sha256'"),
    (lambda record: {key: value for key, value in record.items() if key != "preset"}, "'preset'"),
])
def test_a_damaged_run_file_is_named(run_copy, capsys, change, message):
    record = json.loads((run_copy / "gan_run.json").read_text(encoding="utf-8"))
    _damage_json(run_copy / "gan_run.json", change(record))
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "gan_run.json" in error and message in error and "Traceback" not in error


def test_a_fifo_in_place_of_the_run_file_is_refused_without_waiting(run_copy, capsys):
    (run_copy / "gan_run.json").unlink()
    os.mkfifo(run_copy / "gan_run.json")
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    assert "FIFO" in capsys.readouterr().err


def test_windows_changed_after_the_run_wrote_them_are_refused(run_copy, capsys):
    with np.load(run_copy / "data.npz") as saved:
        arrays = {name: saved[name] for name in saved.files}
    arrays["train"] = np.roll(arrays["train"], 1, axis=1)  # the same tokens in other windows: other data to train on
    np.savez_compressed(run_copy / "data.npz", **arrays)
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    assert "data.npz changed after the run wrote it" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "not a readable .npz archive"),
    (lambda raw: b"PK\x03\x04" + bytes(200), "not a readable .npz archive"),
    (lambda raw: b"", "not a readable .npz archive"),
])
def test_a_damaged_windows_file_is_named(run_copy, capsys, damage, message):
    record = json.loads((run_copy / "gan_run.json").read_text(encoding="utf-8"))
    _damage_json(run_copy / "gan_run.json", {**record, "data_sha256": None})  # a run from before the hash was recorded
    path = run_copy / "data.npz"
    path.write_bytes(damage(path.read_bytes()))
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "data.npz" in error and message in error and "Traceback" not in error


def test_windows_beyond_the_vocabulary_are_refused(run_copy, capsys):
    record = json.loads((run_copy / "gan_run.json").read_text(encoding="utf-8"))
    _damage_json(run_copy / "gan_run.json", {**record, "data_sha256": None})
    with np.load(run_copy / "data.npz") as saved:
        arrays = {name: saved[name] for name in saved.files}
    arrays["validation"][0, 0] = 10**6
    np.savez_compressed(run_copy / "data.npz", **arrays)
    assert main(["gan", "train", "--resume", str(run_copy), "--rounds", "3", "--no-report", "--no-progress"]) == 2
    assert "beyond the model's vocabulary" in capsys.readouterr().err


def test_the_report_refuses_a_live_or_unfinished_run(run_copy, capsys):
    with RunLock(run_copy):  # a run another process is training
        assert main(["gan", "report", str(run_copy), "--threads", "1"]) == 2
        assert "is in use by process" in capsys.readouterr().err
    assert not (run_copy / "report.json").exists()
    shutil.rmtree(run_copy / "seeds" / "2")  # the second seed never ran (a stopped run)
    assert main(["gan", "report", str(run_copy), "--threads", "1"]) == 2
    assert "seed(s) 2 have not finished" in capsys.readouterr().err
