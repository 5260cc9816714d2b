"""Repairing what a crash leaves in a run directory, so that every crash point leaves a resumable run.

A training process killed at any moment (SIGKILL, power cut, out of memory) can leave:

* no ``last/`` (or ``best/``), between the two renames of a checkpoint swap, but complete checkpoints
  beside it: ``.last.old`` (the previous one) and ``.last.XXXXXXXX`` (the new one, its manifest written);
* staging directories of a checkpoint or token store that was being written (``.last.XXXXXXXX``,
  ``.data.XXXXXXXX``), and ``.NAME.old`` directories that were being deleted;
* a ``best/`` older than ``last/`` says it should be: the trainer saves ``last/`` first, then ``best/``;
* records in ``RUN/metrics.jsonl`` written after the last checkpoint, which the resumed run writes again
  (duplicates), or, before the first checkpoint, a ``metrics.jsonl`` that makes ``--out`` refuse the
  directory while ``--resume`` finds nothing to resume.

``recover_run_directory`` repairs all of these and says what it did; it changes nothing in a healthy
run, reads little (it verifies only what it may move), and is meant to be called at every start of
``lstmgen train`` (``--out`` and ``--resume``) with the run lock held (``lstmgen.system.run_directory``), so that no
other process is writing the directory meanwhile.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..checkpoint import MAX_JSON_BYTES, CheckpointError, checkpoint_step, is_complete, recoverable_checkpoint, write_manifest
from ..system import durable
from ..system.run_directory import BEST, CHECKPOINTS, LAST, METRICS, STORE
from ..system.untrusted import parse_json, read_regular


def recover_run_directory(run_dir: str | os.PathLike) -> list[str]:
    """Repair a run directory after a crash; returns one line per repair (empty for a healthy run).

    Safe to call on any directory: it touches only ``last/``, ``best/``, ``data/``, the hidden directories
    lstmgen writes beside them, and ``metrics.jsonl``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        return []
    repairs: list[str] = []
    for name in CHECKPOINTS:
        repairs += _recover_checkpoint(run / name)
    repairs += _recover_best(run)
    repairs += _recover_store(run / STORE)
    repairs += _recover_metrics(run)
    if repairs:
        durable.sync_directory(run)
    return repairs


def recover_checkpoints(run_dir: str | os.PathLike, names: tuple[str, ...]) -> list[str]:
    """Repair the checkpoints ``names`` of a directory (a swap a crash interrupted, staging directories): what
    ``recover_run_directory`` does for best/ and last/, for runs that write other checkpoints (``gan train``)."""
    run = Path(run_dir)
    if not run.is_dir():
        return []
    repairs = [line for name in names for line in _recover_checkpoint(run / name)]
    if repairs:
        durable.sync_directory(run)
    return repairs


def _recover_checkpoint(target: Path) -> list[str]:
    if os.path.lexists(target):
        if not is_complete(target, legacy=True):
            return []  # damaged in place: nothing here knows better; loading it reports what is wrong
        removed = _remove(durable.leftovers(target))
        return [f"removed {', '.join(removed)} (left by an interrupted write; {target.name}/ is complete)"] if removed else []
    found = recoverable_checkpoint(target)
    if found is None:
        removed = _remove(durable.leftovers(target))
        return [f"removed {', '.join(removed)} (incomplete checkpoints left by a crash)"] if removed else []
    os.replace(found, target)
    durable.sync_directory(target.parent)
    removed = _remove(durable.leftovers(target))
    line = f"restored {target.name}/ (step {checkpoint_step(target)}) from {found.name}, where a crash between two renames left it"
    return [line + (f"; removed {', '.join(removed)}" if removed else "")]


def _extra(directory: Path) -> dict[str, Any]:
    try:
        config = parse_json(read_regular(directory / "config.json", CheckpointError, MAX_JSON_BYTES), "config.json", CheckpointError)
    except CheckpointError:
        return {}
    extra = config.get("extra") if isinstance(config, dict) else None
    return extra if isinstance(extra, dict) else {}


def _recover_best(run: Path) -> list[str]:
    """``best/`` from ``last/`` when the run was killed after saving an improved ``last/`` but before its ``best/``.

    The trainer writes both from the same model, metrics and extra, ``best/`` without trainer_state.pt, so
    a copy of ``last/`` without that file (and its manifest rewritten) is exactly the ``best/`` it would have
    written.
    """
    last, best = run / LAST, run / BEST
    extra = _extra(last)
    steps, record = extra.get("steps"), extra.get("best_val")
    if not isinstance(steps, int) or not isinstance(record, dict) or record.get("step") != steps:
        return []  # last/ is not the best model (or does not say)
    if os.path.lexists(best) and (checkpoint_step(best) or -1) >= steps:
        return []
    if not is_complete(last):  # only a verified last/ is copied (checkpoints older than manifests are left alone)
        return []
    staging = durable.staging_directory(best)
    try:
        for path in last.iterdir():
            if path.is_file() and path.name not in ("trainer_state.pt", "manifest.json"):
                shutil.copyfile(path, staging / path.name)
                durable.sync_file(staging / path.name)
        write_manifest(staging)
        durable.swap_directory(staging, best)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [f"wrote best/ from last/ (step {steps}): the run was stopped after saving last/ and before best/"]


def _recover_store(target: Path) -> list[str]:
    """A token store swap interrupted between its renames (``.data.old`` without ``data/``), and staging directories."""
    repairs = []
    retired = durable.retired_name(target)
    if not os.path.lexists(target) and (retired / "meta.json").is_file() and (retired / "tokens.bin").is_file():
        os.replace(retired, target)
        durable.sync_directory(target.parent)
        repairs.append(f"restored {target.name}/ from {retired.name}, where a crash between two renames left it")
    removed = _remove(durable.leftovers(target))
    if removed:
        repairs.append(f"removed {', '.join(removed)} (a token store being written when the run stopped; it is prepared again)")
    return repairs


def _recover_metrics(run: Path) -> list[str]:
    """RUN/metrics.jsonl as last/ knows it: the history up to the last checkpoint, which the resumed run continues.

    Records appended after that checkpoint describe steps the resumed run repeats (and records again).
    Without any checkpoint, the records describe no model that exists: the file goes, so the same
    command can start the run again.
    """
    path = run / METRICS
    if not path.is_file():
        return []
    last = run / LAST
    if os.path.lexists(last):
        if not is_complete(last, legacy=True) or not (last / METRICS).is_file():
            return []
        kept = (last / METRICS).read_bytes()
        current = path.read_bytes()
        if current == kept:
            return []
        dropped = current.count(b"\n") - kept.count(b"\n")
        durable.write_file_atomically(path, kept)
        return [f"rewrote {METRICS} from last/ (step {checkpoint_step(last)}): dropped {max(dropped, 0)} record(s) written "
                "after the last checkpoint, which the resumed run writes again"]
    if os.path.lexists(run / BEST):
        return []  # best/ without last/: not a state lstmgen's trainer leaves; keep everything for a person to look at
    records = path.read_bytes().count(b"\n")
    path.unlink()
    durable.sync_directory(run)
    return [f"removed {METRICS} ({records} record(s) of a run that stopped before its first checkpoint): start it again "
            "with the same command"]


def _remove(paths: list[Path]) -> list[str]:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    return [path.name for path in paths]
