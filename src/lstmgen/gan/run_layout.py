"""A ``gan train`` run directory: the names of what it holds, how its inputs are written, and how they are read back.

    RUN/
      start/           the model the run started from (--init-from), copied in first: every seed starts from it
      data.npz         the corpus cut into the GAN's windows (train, validation, test), written next, atomically
      gan_run.json     the seeds, the preset, the settings, the starting checkpoint and data.npz's SHA-256, written
                       last: a run without it stopped before it began, and the same command starts it again
      mle/             the first seed's starting model as the GAN saw it (after MLE pre-training where the preset
                       has it): the report's MLE model
      last/            the first seed's generator (so ``lstmgen generate RUN`` loads it), resumable
      seeds/N/         every other seed's run: its own last/ and mle/
      report.json, report.md, curves.png    ``lstmgen gan report``

The run files are read like checkpoints (``system.untrusted``: regular files of bounded size, JSON checked
entry by entry, the windows never unpickled, and data.npz held to the SHA-256 that gan_run.json recorded),
so a damaged file is a ``GanRunError`` that names it, never a traceback or a resume on other data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..config import ConfigError
from ..system import durable
from ..system.run_directory import LAST
from ..system.untrusted import parse_json, read_regular
from .config import GanConfig
from .text import TextSequences, save_sequences, sequences_from_bytes

START = "start"
DATA_FILE = "data.npz"
RUN_FILE = "gan_run.json"
MLE = "mle"
MLE_BEST = "mle-best"
SEEDS = "seeds"
REPORT_FILES = ("report.json", "report.md", "curves.png")
CHECKPOINTS = (START, MLE, MLE_BEST, LAST)  # every checkpoint a gan train run writes (crash recovery looks at each)
RUN_FILE_BYTES = 1 << 20


class GanRunError(ValueError):
    """A ``gan train`` run's files are missing, damaged or from another program (the message names the file)."""


def seed_run_directory(out_dir: Path, seeds: Sequence[int], seed: int) -> Path:
    """The first seed's run is the run directory itself (so ``lstmgen generate RUN`` loads it); the others are below."""
    return out_dir if seed == seeds[0] else out_dir / SEEDS / str(seed)


def run_directories(out_dir: str | os.PathLike) -> list[Path]:
    """Every seed's run directory of a ``gan train`` run, the first first."""
    out_dir = Path(out_dir)
    others = sorted((p for p in (out_dir / SEEDS).glob("*") if p.name.isdigit() and (p / LAST).exists()), key=lambda p: int(p.name)) \
        if (out_dir / SEEDS).is_dir() else []
    return [out_dir, *others]


def holds_gan_run(out_dir: Path) -> bool:
    """Whether a run began here (its inputs all written: gan_run.json is the last of them)."""
    return (out_dir / RUN_FILE).exists()


def leftovers(out_dir: Path) -> list[str]:
    """What a run that stopped before gan_run.json was written left (nothing was trained from it)."""
    return [name for name in (START, DATA_FILE, MLE, MLE_BEST, LAST, SEEDS) if os.path.lexists(out_dir / name)]


def clear_gan_run(out_dir: Path) -> None:
    """Remove what a ``gan train`` run wrote in ``out_dir``, for --overwrite (and the leftovers of one that never began)."""
    for name in (START, MLE, MLE_BEST, LAST, SEEDS):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    for name in (DATA_FILE, RUN_FILE, *REPORT_FILES):
        (out_dir / name).unlink(missing_ok=True)


# ----- the inputs: written in an order a crash cannot break ------------------------------------------------
def write_inputs(out_dir: Path, data: TextSequences, record: dict[str, Any]) -> None:
    """data.npz, then gan_run.json (with data.npz's SHA-256, and its own: ``record_sha256`` of its other entries):
    each atomic, the second the mark that the run began. The caller has written start/ (a checkpoint) before."""
    record = {**record, "data_sha256": save_sequences(out_dir / DATA_FILE, data)}
    text = json.dumps({**record, "record_sha256": _record_digest(record)}, indent=2) + "\n"
    durable.write_file_atomically(out_dir / RUN_FILE, text.encode("utf-8"))


def _record_digest(record: dict[str, Any]) -> str:
    """The SHA-256 of a run record's entries (record_sha256 aside), in a canonical form: whatever changes what the
    record says changes it."""
    entries = {key: value for key, value in record.items() if key != "record_sha256"}
    return hashlib.sha256(json.dumps(entries, sort_keys=True, ensure_ascii=True).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """gan_run.json, checked."""

    seeds: tuple[int, ...]
    preset: str
    gan: GanConfig
    data_sha256: str | None  # None in runs written before the hash was recorded
    fields: dict[str, Any]


def read_run_record(out_dir: Path) -> RunRecord:
    path = out_dir / RUN_FILE
    source = str(path)
    record = parse_json(read_regular(path, GanRunError, RUN_FILE_BYTES, "the GAN run's settings"), source, GanRunError)

    def fail(problem: str) -> None:
        raise GanRunError(f"{source} {problem}; the file is corrupt or from another program: start the run again "
                          "(lstmgen gan train ... --overwrite)")

    if not isinstance(record, dict):
        fail(f"holds {type(record).__name__}, not the object of settings a GAN run writes")
    if "record_sha256" in record and record["record_sha256"] != _record_digest(record):  # absent in runs written before it
        raise GanRunError(f"{source} changed after the run wrote it (its entries do not match its record_sha256): restore it "
                          "from a copy, or start the run again (lstmgen gan train ... --overwrite); --rounds on --resume "
                          "lengthens a run")
    seeds = record.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        fail("has no 'seeds' list of distinct non-negative integers")
    preset = record.get("preset")
    if not isinstance(preset, str):
        fail("has no 'preset' name")
    settings = record.get("gan")
    if not isinstance(settings, dict):
        fail("has no 'gan' settings object")
    try:
        gan = GanConfig.from_dict(settings)
    except (ConfigError, TypeError, ValueError) as problem:
        fail(f"has 'gan' settings a GAN run cannot have ({problem})")
    digest = record.get("data_sha256")
    if digest is not None and (not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest)):
        fail("has a 'data_sha256' that is not a SHA-256 hex digest")
    return RunRecord(tuple(seeds), preset, gan, digest, record)


def read_inputs(out_dir: Path, record: RunRecord, vocab_size: int) -> TextSequences:
    """data.npz, held to the SHA-256 gan_run.json recorded and to the model's vocabulary and the run's window length."""
    path = out_dir / DATA_FILE
    raw = read_regular(path, GanRunError, what="the GAN run's windows")
    if record.data_sha256 is not None and hashlib.sha256(raw).hexdigest() != record.data_sha256:
        raise GanRunError(f"{path} changed after the run wrote it (its SHA-256 is not the one {RUN_FILE} recorded): restore it "
                          "from a copy, or start the run again (lstmgen gan train ... --overwrite)")
    data = sequences_from_bytes(raw, str(path), GanRunError)
    if data.train.shape[1] != record.gan.sequence_length:
        raise GanRunError(f"{path} holds windows of {data.train.shape[1]} tokens, but {RUN_FILE} trains on {record.gan.sequence_length}")
    largest = max(int(region.max()) for region in (data.train, data.validation, data.test))
    if largest >= vocab_size or data.start_token >= vocab_size:
        raise GanRunError(f"{path} holds token id {max(largest, data.start_token)}, beyond the model's vocabulary of {vocab_size}: "
                          "the windows are not this run's")
    return data


__all__ = ["START", "DATA_FILE", "RUN_FILE", "MLE", "MLE_BEST", "SEEDS", "REPORT_FILES", "CHECKPOINTS", "GanRunError",
           "seed_run_directory", "run_directories", "holds_gan_run", "leftovers", "clear_gan_run", "write_inputs", "RunRecord",
           "read_run_record", "read_inputs"]
