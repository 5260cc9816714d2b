"""Every crash point leaves a resumable run (lstmgen.training.recovery, and the swap in lstmgen.checkpoint).

A kill is simulated in a forked child: at the chosen point it calls ``os._exit``, which, like SIGKILL, runs
no ``finally`` block, no cleanup and no flush. The child's writes are real writes to the real directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import traceback

import pytest
import torch

import lstmgen.checkpoint as checkpoint_module
import lstmgen.system.durable as durable
from conftest import TINY_TEXT
from lstmgen import load_checkpoint, save_checkpoint, train
from lstmgen.checkpoint import is_complete
from lstmgen.tokenizers import CharTokenizer
from lstmgen.training.recovery import recover_run_directory

KILLED = 137
QUIET = dict(progress=False, log=lambda line: None)
SETTINGS = dict(batch_size=4, seq_length=16, max_steps=30, eval_interval=10, sample_length=0, threads=1, warmup_steps=5,
                learning_rate=1e-2)
MODEL = dict(embedding_size=16, hidden_size=24, num_layers=2, dropout=0.2)


def in_child(work, timeout: float = 120.0) -> int:
    """Run ``work`` in a forked child and return its exit status (KILLED when it 'died' at a crash point)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            work()
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the child still ran after {timeout} s")
        time.sleep(0.01)


class CrashPoints:
    """Counts the effectful steps of a save (writes, renames, removals) and dies before step ``at``, or, for a
    write, halfway through it (half the bytes on disk)."""

    def __init__(self, monkeypatch, at: int) -> None:
        self.at, self.count = at, 0
        real_write, real_replace, real_rmtree, real_save = durable.write_file, os.replace, shutil.rmtree, checkpoint_module.save_file

        def write(path, data):
            if self._due():
                with open(path, "wb") as handle:
                    handle.write(data[: len(data) // 2])
                os._exit(KILLED)
            real_write(path, data)

        def step(real):
            def wrapped(*args, **kwargs):
                if self._due():
                    os._exit(KILLED)
                return real(*args, **kwargs)
            return wrapped

        monkeypatch.setattr(durable, "write_file", write)
        monkeypatch.setattr(os, "replace", step(real_replace))
        monkeypatch.setattr(shutil, "rmtree", step(real_rmtree))
        monkeypatch.setattr(checkpoint_module, "save_file", step(real_save))
        monkeypatch.setattr(torch, "save", step(torch.save))

    def _due(self) -> bool:
        self.count += 1
        return self.count == self.at


def _weights(path, prefer="last"):
    return load_checkpoint(path, prefer=prefer).model.state_dict()


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_a_kill_at_every_step_of_a_save_leaves_a_loadable_and_recoverable_checkpoint(tmp_path, tiny_model, monkeypatch):
    tokenizer = CharTokenizer.fit("abcde")
    old_model, new_model = tiny_model(vocab_size=6, seed=1), tiny_model(vocab_size=6, seed=2)
    old_weights, new_weights = old_model.state_dict(), new_model.state_dict()
    state = {"step": 1, "note": torch.arange(5)}
    outcomes = []
    for at in range(1, 40):
        run = tmp_path / f"crash{at}"
        save_checkpoint(run / "last", old_model, tokenizer, trainer_state=state, extra={"steps": 10})

        def killed_save():
            CrashPoints(monkeypatch, at)
            save_checkpoint(run / "last", new_model, tokenizer, trainer_state=state, extra={"steps": 20})

        status = in_child(killed_save)
        assert status in (0, KILLED), f"the save failed otherwise at step {at}"
        # Without any repair, loading (and so resuming) finds a whole checkpoint: the old one or the new one.
        found = _weights(run)
        assert _same(found, old_weights) or _same(found, new_weights), at
        repairs = recover_run_directory(run)
        assert is_complete(run / "last") and durable.leftovers(run / "last") == [], (at, repairs)
        recovered = _weights(run)
        assert _same(recovered, found), at  # the repair keeps what loading found
        outcomes.append(("new" if _same(recovered, new_weights) else "old", status, bool(repairs)))
        assert recover_run_directory(run) == []  # a repaired run needs nothing more
        if status == 0:
            break
    else:
        pytest.fail("the save never completed: more crash points than expected")
    assert outcomes[-1] == ("new", 0, False)
    assert ("old", KILLED, True) in outcomes and ("new", KILLED, True) in outcomes  # killed between the renames: both kinds
    assert len(outcomes) >= 8


def test_the_newest_complete_checkpoint_is_restored_between_the_renames(tmp_path, tiny_model):
    tokenizer = CharTokenizer.fit("abcde")
    run = tmp_path / "run"
    save_checkpoint(run / "last", tiny_model(vocab_size=6, seed=1), tokenizer, extra={"steps": 10})
    save_checkpoint(tmp_path / "new", tiny_model(vocab_size=6, seed=2), tokenizer, extra={"steps": 20})
    os.replace(run / "last", run / ".last.old")  # the state between the two renames of a swap
    os.replace(tmp_path / "new", run / ".last.k3j4h5g6")
    os.mkdir(run / ".last.zzzzzzzz")  # a staging directory killed early: no manifest
    assert load_checkpoint(run, prefer="last").extra["steps"] == 20  # the loader finds it without writing anything
    assert sorted(path.name for path in run.iterdir()) == [".last.k3j4h5g6", ".last.old", ".last.zzzzzzzz"]
    repairs = recover_run_directory(run)
    assert any("restored last/ (step 20) from .last.k3j4h5g6" in line for line in repairs), repairs
    assert sorted(path.name for path in run.iterdir()) == ["last"]


def test_a_staging_directory_with_a_corrupt_file_is_never_restored(tmp_path, tiny_model):
    tokenizer = CharTokenizer.fit("abcde")
    run = tmp_path / "run"
    save_checkpoint(run / "last", tiny_model(vocab_size=6, seed=1), tokenizer, extra={"steps": 10})
    save_checkpoint(tmp_path / "new", tiny_model(vocab_size=6, seed=2), tokenizer, extra={"steps": 20})
    os.replace(run / "last", run / ".last.old")
    os.replace(tmp_path / "new", run / ".last.k3j4h5g6")
    data = bytearray((run / ".last.k3j4h5g6" / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (run / ".last.k3j4h5g6" / "model.safetensors").write_bytes(bytes(data))
    recover_run_directory(run)
    assert load_checkpoint(run, prefer="last").extra["steps"] == 10


def _kill_when(monkeypatch, predicate):
    """In the child: die (no cleanup) when save_checkpoint is called for a target that ``predicate`` accepts."""
    real = checkpoint_module.save_checkpoint

    def save(path, *args, **kwargs):
        if predicate(path, kwargs):
            os._exit(KILLED)
        return real(path, *args, **kwargs)

    monkeypatch.setattr("lstmgen.training.trainer.save_checkpoint", save)


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_a_crash_before_the_first_checkpoint_leaves_a_run_the_same_command_restarts(tmp_path, monkeypatch):
    run = tmp_path / "run"

    def killed_run():
        _kill_when(monkeypatch, lambda path, kwargs: True)  # at the first save: metrics.jsonl is written, last/ is not
        train(text=TINY_TEXT, out_dir=run, model=MODEL, **SETTINGS, **QUIET)

    assert in_child(killed_run) == KILLED
    assert (run / "metrics.jsonl").exists() and not (run / "last").exists()  # --out refuses this, --resume finds nothing
    with pytest.raises(ValueError, match="stopped before its first checkpoint"):  # and says what to do
        load_checkpoint(run, prefer="last")
    assert recover_run_directory(run) == ["removed metrics.jsonl (1 record(s) of a run that stopped before its first "
                                          "checkpoint): start it again with the same command"]
    assert train(text=TINY_TEXT, out_dir=run, model=MODEL, **SETTINGS, **QUIET).steps == 30
    assert _steps(run / "metrics.jsonl") == [10, 20, 30]


def test_records_after_the_last_checkpoint_are_dropped_and_a_stale_best_is_rewritten(tmp_path, monkeypatch):
    whole, run = tmp_path / "whole", tmp_path / "run"
    train(text=TINY_TEXT, out_dir=whole, model=MODEL, **SETTINGS, **QUIET)

    def killed_after_last():  # step 20 improves: last/ is written, then the kill comes before best/
        _kill_when(monkeypatch, lambda path, kwargs: path.name == "best" and json.loads(
            (path.parent / "last" / "config.json").read_text())["extra"]["steps"] == 20)
        train(text=TINY_TEXT, out_dir=run, model=MODEL, **SETTINGS, **QUIET)

    assert in_child(killed_after_last) == KILLED
    assert json.loads((run / "best" / "config.json").read_text())["extra"]["steps"] == 10  # stale
    repairs = recover_run_directory(run)
    assert repairs == ["wrote best/ from last/ (step 20): the run was stopped after saving last/ and before best/"]
    assert sorted(path.name for path in (run / "best").iterdir()) == sorted(
        name for name in os.listdir(run / "last") if name != "trainer_state.pt")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl"):
        assert (run / "best" / name).read_bytes() == (run / "last" / name).read_bytes()  # exactly what the trainer writes

    def killed_before_last():  # resumed at 20, killed at 30 after metrics.jsonl got its record, before last/
        _kill_when(monkeypatch, lambda path, kwargs: path.name == "last" and kwargs["trainer_state"]["step"] == 30)
        train(resume=run, **QUIET)

    assert in_child(killed_before_last) == KILLED
    assert _steps(run / "metrics.jsonl") == [10, 20, 30]
    assert recover_run_directory(run)[0].startswith("rewrote metrics.jsonl from last/ (step 20): dropped 1 record(s)")
    train(resume=run, **QUIET)
    assert _steps(run / "metrics.jsonl") == [10, 20, 30]  # without the repair: [10, 20, 30, 30]
    assert _same(_weights(run), _weights(whole)) and _same(_weights(run, "best"), _weights(whole, "best"))


def test_a_token_store_swap_interrupted_between_its_renames_is_restored(tmp_path):
    run = tmp_path / "run"
    (run / ".data.old").mkdir(parents=True)
    for name in ("meta.json", "tokens.bin", "tokenizer.json"):
        (run / ".data.old" / name).write_text("x")
    (run / ".data.q1w2e3r4").mkdir()
    repairs = recover_run_directory(run)
    assert repairs[0] == "restored data/ from .data.old, where a crash between two renames left it"
    assert sorted(path.name for path in run.iterdir()) == ["data"]


def test_recovery_leaves_a_healthy_run_and_other_directories_alone(tiny_run, tmp_path):
    before = {path.name: path.stat().st_mtime_ns for path in tiny_run.rglob("*")}
    assert recover_run_directory(tiny_run) == []
    assert {path.name: path.stat().st_mtime_ns for path in tiny_run.rglob("*")} == before
    (tmp_path / "notes").mkdir()
    (tmp_path / "metrics.jsonl.bak").write_text("x")
    assert recover_run_directory(tmp_path) == [] and recover_run_directory(tmp_path / "absent") == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.jsonl.bak", "notes"]
