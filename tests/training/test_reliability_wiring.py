"""The run lock, crash recovery, the divergence policy and the resume data rule, wired into `lstmgen train`.

The lock tests start real `lstmgen train` processes (a wrapper slows each step down so that a run is
still live while a second command tries the same directory).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lstmgen import train
from lstmgen.checkpoint import load_checkpoint, write_manifest
from lstmgen.config import ConfigError
from lstmgen.training.divergence import DivergenceError
from lstmgen.training.state import check_trainer_state

SOURCE = str(Path(__file__).resolve().parents[2] / "src")
TEXT = "the quick brown fox jumps over the lazy dog. a stitch in time saves nine.\n" * 40
SETTINGS = dict(batch_size=4, seq_length=16, max_steps=20, eval_interval=10, sample_length=0, threads=1, warmup_steps=2,
                learning_rate=1e-2)
MODEL = dict(embedding_size=8, hidden_size=16, num_layers=1)
FLAGS = ["--preset", "small", "--batch-size", "4", "--seq-length", "16", "--eval-interval", "5", "--sample-length", "0",
         "--threads", "1", "--embedding-size", "8", "--hidden-size", "16", "--num-layers", "1", "--no-progress"]
# `lstmgen train` with a pause after every step, printing STEP n, so that the run stays live for the test.
SLOW_TRAIN = """
import sys, time
import lstmgen.training.trainer as training
real = training.Trainer.train_step
def train_step(self):
    loss = real(self)
    print("STEP", self.step, flush=True)
    time.sleep(0.05)
    return loss
training.Trainer.train_step = train_step
from lstmgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _quiet(line: str) -> None:
    pass


def _lstmgen(*arguments: str, slow: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-c", SLOW_TRAIN] if slow else [sys.executable, "-m", "lstmgen"]
    return subprocess.Popen([*command, "train", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": SOURCE, "OMP_NUM_THREADS": "1"})


def _wait_for_step(process: subprocess.Popen) -> None:
    for line in process.stdout:
        if line.startswith("STEP"):
            return
    raise AssertionError(f"the run ended before its first step: {process.wait()} {process.stderr.read()}")


def _refused(process: subprocess.Popen, holder: subprocess.Popen) -> str:
    _, error = process.communicate(timeout=120)
    assert process.returncode != 0, error
    assert f"is in use by process {holder.pid}" in error and "one training process at a time" in error, error
    return error


@pytest.mark.slow
def test_a_live_run_refuses_a_second_run_an_overwrite_and_a_second_resume(tmp_path):
    corpus, run = tmp_path / "corpus.txt", tmp_path / "run"
    corpus.write_text(TEXT, encoding="utf-8")
    first = _lstmgen(str(corpus), "--out", str(run), "--max-steps", "100000", *FLAGS, slow=True)
    try:
        _wait_for_step(first)
        _refused(_lstmgen(str(corpus), "--out", str(run), "--max-steps", "10", *FLAGS), first)
        _refused(_lstmgen(str(corpus), "--out", str(run), "--overwrite", "--max-steps", "10", *FLAGS), first)
        _refused(_lstmgen("--resume", str(run), "--max-steps", "10"), first)
        assert first.poll() is None  # still training, untouched
        first.send_signal(signal.SIGTERM)  # finishes its step, saves last/, exits 0
        assert first.wait(120) == 0
    finally:
        first.kill()
        first.wait(30)
    step = load_checkpoint(run, prefer="last").extra["steps"]
    resumed = _lstmgen("--resume", str(run), "--max-steps", str(step + 100000), slow=True)
    try:
        _wait_for_step(resumed)
        _refused(_lstmgen("--resume", str(run), "--max-steps", str(step + 5)), resumed)
    finally:
        resumed.kill()
        resumed.wait(30)
    # SIGKILL leaves no stale lock: the next resume runs.
    finished = _lstmgen("--resume", str(run), "--max-steps", str(step + 5))
    _, error = finished.communicate(timeout=180)
    assert finished.returncode == 0, error


def _tiny_run(tmp_path: Path, **overrides) -> Path:
    run = tmp_path / "run"
    train(text=TEXT, out_dir=run, model=MODEL, progress=False, log=_quiet, preset="small", **{**SETTINGS, **overrides})
    return run


def test_resume_repairs_a_crash_between_the_renames_of_a_checkpoint_swap(tmp_path):
    run = _tiny_run(tmp_path, max_steps=10)
    os.replace(run / "last", run / ".last.old")  # what a kill between the two renames leaves
    lines: list[str] = []
    result = train(resume=run, max_steps=20, progress=False, log=lines.append)
    assert result.steps == 20 and any("recovered" in line and "restored last/" in line for line in lines), lines
    assert not (run / ".last.old").exists()


def test_a_crash_before_the_first_checkpoint_can_be_started_again_and_resume_says_so(tmp_path):
    run = _tiny_run(tmp_path, max_steps=10)
    shutil.rmtree(run / "last")
    shutil.rmtree(run / "best")  # left: data/ and metrics.jsonl, as a kill before the first save leaves them
    lines: list[str] = []
    with pytest.raises(ConfigError, match=r"holds no checkpoint to resume .* start the run again .*--out"):
        train(resume=run, progress=False, log=lines.append)
    assert any("removed metrics.jsonl" in line for line in lines), lines  # which made --out refuse the directory
    result = train(text=TEXT, out_dir=run, model=MODEL, progress=False, log=_quiet, preset="small", **SETTINGS)
    assert result.steps == 20
    with pytest.raises(ConfigError, match="no such run directory"):
        train(resume=tmp_path / "typo", progress=False, log=_quiet)
    assert not (tmp_path / "typo").exists()  # resume of a wrong path creates nothing


def _tamper(run: Path, change) -> None:
    """Edit extra.data of both checkpoints and write their manifests again, as a deliberate attacker would."""
    for name in ("last", "best"):
        path = run / name / "config.json"
        config = json.loads(path.read_text())
        change(config["extra"]["data"])
        path.write_text(json.dumps(config))
        write_manifest(run / name)


@pytest.mark.parametrize("sources", ["/", ["/etc/passwd"], [str(Path(__file__))]])
def test_recorded_sources_never_steer_what_resume_reads(tmp_path, sources):
    run = _tiny_run(tmp_path, max_steps=10)
    digest = load_checkpoint(run, prefer="last").extra["data"]["store_sha256"]
    _tamper(run, lambda data: data.update(sources=sources, source_hashes=sources))
    result = train(resume=run, max_steps=20, progress=False, log=_quiet)
    assert result.steps == 20
    data = load_checkpoint(run, prefer="last").extra["data"]
    assert data["store_sha256"] == digest and data["sources"] != sources  # trained on RUN/data, which records its own


@pytest.mark.parametrize("store", ["/etc", "../elsewhere", ["data"], 7])
def test_a_recorded_store_outside_the_run_is_never_opened_unless_named_again(tmp_path, store):
    run = _tiny_run(tmp_path, max_steps=10)
    _tamper(run, lambda data: data.update(store=store))
    with pytest.raises(ConfigError, match="outside the run directory"):
        train(resume=run, max_steps=20, progress=False, log=_quiet)


def test_a_store_named_again_must_be_the_one_the_run_was_trained_on(tmp_path):
    run = _tiny_run(tmp_path, max_steps=10)
    other = tmp_path / "other"
    train(text=TEXT.replace("fox", "cat"), out_dir=other, model=MODEL, progress=False, log=_quiet, preset="small", **{**SETTINGS, "max_steps": 1})
    with pytest.raises(ConfigError, match="is not the one .* was trained on"):
        train(data=other / "data", resume=run, max_steps=20, progress=False, log=_quiet)


def _finite(run: Path, name: str) -> bool:
    checkpoint = load_checkpoint(run, prefer=name)  # refuses non-finite weights
    return all(bool(torch.isfinite(value).all()) for value in checkpoint.model.state_dict().values())


@pytest.mark.parametrize("optimizer, rate", [("sgd", 1e6), ("adamw", 10.0)])
def test_a_diverging_run_never_saves_a_non_finite_best(tmp_path, optimizer, rate):
    run = tmp_path / "run"
    lines: list[str] = []
    try:
        result = train(text=TEXT, out_dir=run, model=MODEL, progress=False, log=lines.append, preset="small",
                       **{**SETTINGS, "optimizer": optimizer, "learning_rate": rate, "warmup_steps": 0, "grad_clip": 0.0,
                          "max_steps": 30, "eval_interval": 5})
    except DivergenceError as error:
        assert "Lower --learning-rate" in str(error)
    else:
        assert result.best_val is None or math.isfinite(result.best_val["val_nats"])
    for name in ("best", "last"):
        if (run / name).exists():
            assert _finite(run, name)
            best = load_checkpoint(run, prefer=name).extra["best_val"]
            assert best is None or math.isfinite(best["val_nats"])


def test_a_non_finite_step_is_skipped_rolled_back_and_the_lower_rate_survives_resume(tmp_path, monkeypatch):
    import lstmgen.training.trainer as training
    from lstmgen.model import RecurrentLanguageModel

    real = RecurrentLanguageModel.forward
    poisoned = {13}  # the step (1-based) whose loss is NaN

    def poisoned_forward(self, tokens, state=None, targets=None):
        output, state = real(self, tokens, state, targets)
        if targets is not None and trainer_step["next"] in poisoned:  # the training loss of that step
            output = output * math.nan
        return output, state

    trainer_step = {"next": 0}
    real_step = training.Trainer.train_step

    def counting_step(self):
        trainer_step["next"] = self.step + 1
        return real_step(self)

    monkeypatch.setattr(RecurrentLanguageModel, "forward", poisoned_forward)
    monkeypatch.setattr(training.Trainer, "train_step", counting_step)
    lines: list[str] = []
    run = tmp_path / "run"
    result = train(text=TEXT, out_dir=run, model=MODEL, progress=False, log=lines.append, preset="small",
                   **{**SETTINGS, "schedule": "constant", "warmup_steps": 0})
    assert result.steps == 20
    assert any("step 13: a non-finite loss or gradient" in line and "x0.5" in line for line in lines), lines
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "skipped_steps" not in records[0] and records[1]["skipped_steps"] == 1
    assert records[0]["learning_rate"] == SETTINGS["learning_rate"] and records[1]["learning_rate"] == SETTINGS["learning_rate"] / 2
    state = load_checkpoint(run, prefer="last", state_check=check_trainer_state).trainer_state
    assert state["divergence"]["learning_rate_scale"] == 0.5
    resumed = train(resume=run, max_steps=21, progress=False, log=_quiet)
    assert resumed.history[-1]["learning_rate"] == SETTINGS["learning_rate"] / 2
