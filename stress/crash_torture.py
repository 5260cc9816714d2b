"""Crash torture: SIGKILL a real `lstmgen train` at random moments, resume it each time, compare with a run never killed.

    PYTHONPATH=src python stress/crash_torture.py                       # 4 configurations x 6 kills
    PYTHONPATH=src python stress/crash_torture.py --kills-per-run 2 --configs 1

Each configuration (char or word tokenizer, dropout 0 or 0.2; a 2-layer LSTM, 200 steps, an evaluation and
checkpoint every 10 steps, one thread) is first trained without interruption. Then the same run is started,
killed with SIGKILL at a planned moment, restarted, killed again, ... until it finishes. The moments
(seeded) are of six kinds:

    step             at the end of a random training step (the n-th of the process; one before the first checkpoint)
    time             at a random wall-clock moment after the start (during start-up and the token store's
                     preparation, mid-step, mid-evaluation, mid-write: wherever it falls)
    in_write         inside a checkpoint write: right after its staging directory appears
    between_renames  between the two renames of a checkpoint swap: the old directory moved aside, the new one not in place
    after_metrics    after RUN/metrics.jsonl got the evaluation's record, before last/ is written
    before_best      after last/ is written, before best/ (when the evaluation improved)

The window kinds are widened: the process, when armed for one, says so on stdout and sleeps 0.5 s inside
it, so the kill lands there; nothing it computes changes. Every process is the real CLI (``lstmgen.cli.main``)
run by a small wrapper that prints ``STEP n`` after each step (to measure the work a kill loses) and arms
the window. A restart is ``lstmgen train --resume RUN``; when that finds no checkpoint (a kill before the
first one), the original command (``lstmgen train CORPUS --out RUN ...``) as a user would.

The pipeline takes the run lock and calls ``recover_run_directory(RUN)`` at every start (``--out`` and
``--resume``) itself, and logs each repair as ``recovered RUN: ...``; the wrapper adds nothing to that.

At the end last/ (weights, optimizer state, RNG states, data cursor, carried state, metrics), best/ and
RUN/metrics.jsonl must be bit-identical to the uninterrupted run's, timing fields aside (elapsed,
tokens_per_second). Prints JSON: kills survived / total, the work lost per kill, and each failure with why.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from lstmgen.system.runtime import machine_record

SOURCE = Path(__file__).resolve().parents[1] / "src"
TIMING_FIELDS = ("elapsed", "tokens_per_second")
PAUSE_SECONDS = 0.5
KINDS = ("step", "time", "in_write", "between_renames", "after_metrics", "before_best")

# The process that is killed: the real CLI, plus STEP lines and, when armed, a pause inside one window.
WRAPPER = r"""
import os, sys, time
event = os.environ.get("TORTURE_EVENT", "")
kind, _, value = event.partition(":")
armed = {"count": 0}

def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def window(name):
    if kind == name:
        armed["count"] += 1
        if armed["count"] == int(value):
            say(f"WINDOW {name}")
            time.sleep(float(os.environ["TORTURE_PAUSE"]))

import lstmgen.system.durable as durable, lstmgen.training.trainer as training
real_step, real_run = training.Trainer.train_step, training.Trainer.run
taken = {"steps": 0}
def train_step(self):
    loss = real_step(self)
    taken["steps"] += 1
    say(f"STEP {self.step}")
    if kind == "step" and taken["steps"] == int(value):  # the value-th step of this process
        time.sleep(float(os.environ["TORTURE_PAUSE"]))
    return loss
def run(self):
    say(f"START {self.step}")
    return real_run(self)
training.Trainer.train_step, training.Trainer.run = train_step, run

real_staging = durable.staging_directory
def staging_directory(target):
    path = real_staging(target)
    if target.name == "last":
        window("in_write")
    return path
durable.staging_directory = staging_directory

real_replace = os.replace
def replace(source, destination, *args, **kwargs):
    real_replace(source, destination, *args, **kwargs)
    if str(destination).endswith("/.last.old"):
        window("between_renames")
os.replace = replace

real_save = training.save_checkpoint
def save_checkpoint(path, *args, **kwargs):
    window("after_metrics" if path.name == "last" else "before_best")
    return real_save(path, *args, **kwargs)
training.save_checkpoint = save_checkpoint

arguments = sys.argv[1:]
run_dir = arguments[arguments.index("--resume") + 1] if "--resume" in arguments else arguments[arguments.index("--out") + 1]
from lstmgen.cli import main
sys.exit(main(arguments))
"""


@dataclass(frozen=True)
class Configuration:
    tokenizer: str
    dropout: float

    @property
    def name(self) -> str:
        return f"{self.tokenizer}-dropout{self.dropout:g}"


@dataclass
class Launch:
    """One process: how it ended, the steps it reached, what it printed on stderr."""

    command: str  # "fresh" or "resume"
    started_at_step: int | None = None
    last_step: int | None = None
    steps_taken: int = 0
    killed: bool = False
    returncode: int | None = None
    stderr: str = ""
    seconds: float = 0.0
    first_step_seconds: float = 0.0


@dataclass
class Kill:
    kind: str
    value: str
    step_at_kill: int | None
    durable_step: int | None  # the step the next process resumed from (0: started again from scratch)
    lost_steps: int | None


def training_arguments(config: Configuration, steps: int, interval: int) -> list[str]:
    return ["--max-steps", str(steps), "--eval-interval", str(interval), "--batch-size", "4", "--seq-length", "16",
            "--embedding-size", "16", "--hidden-size", "32", "--num-layers", "2", "--dropout", str(config.dropout),
            "--tokenizer", config.tokenizer, "--sample-length", "0", "--threads", "1", "--warmup-steps", "5",
            "--learning-rate", "0.01", "--seed", "7", "--no-progress"]


def launch(arguments: list[str], command: str, event: str | None, kill_after: float | None = None,
           timeout: float = 600.0) -> Launch:
    """Run the wrapper; kill it (SIGKILL) when the armed event is announced, or ``kill_after`` seconds in."""
    environment = {**os.environ, "PYTHONPATH": str(SOURCE), "TORTURE_EVENT": event or "", "TORTURE_PAUSE": str(PAUSE_SECONDS),
                   "OMP_NUM_THREADS": "1"}
    kind, _, value = (event or "").partition(":")
    result = Launch(command)
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([sys.executable, "-c", WRAPPER, "train", *arguments], stdout=subprocess.PIPE, stderr=errors,
                                   env=environment, text=True, bufsize=1)
        try:
            while True:
                wait = 0.05 if kill_after is None else max(0.0, min(0.05, started + kill_after - time.monotonic()))
                ready, _, _ = select.select([process.stdout], [], [], wait)
                if ready:
                    line = process.stdout.readline()
                    if not line:
                        break
                    word, _, number = line.strip().partition(" ")
                    if word == "START":
                        result.started_at_step = int(number)
                    elif word == "STEP":
                        result.first_step_seconds = result.first_step_seconds or time.monotonic() - started
                        result.last_step = int(number)
                        result.steps_taken += 1
                        if kind == "step" and result.steps_taken == int(value):
                            result.killed = _kill(process)
                    elif word == "WINDOW":
                        result.killed = _kill(process)
                if kill_after is not None and time.monotonic() - started >= kill_after and process.poll() is None:
                    result.killed = _kill(process)
                if result.killed or time.monotonic() - started > timeout:
                    break
        finally:
            if process.poll() is None and not result.killed:
                process.kill()
            result.returncode = process.wait()
            process.stdout.close()
            errors.seek(0)
            result.stderr = errors.read()
    result.seconds = time.monotonic() - started
    return result


def _kill(process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    return True


def plan_kills(config_index: int, kills: int, interval: int, startup: float, per_step: float, rng: random.Random) -> list[str]:
    """The events to kill at, in order: every kind once per six kills, shuffled (seeded), with values that keep each
    kill within a few checkpoints of the previous one, so that each comes before the run ends. before_best goes
    early: late in a run validation may stop improving, and then there is no best/ write left to kill."""
    kinds = [KINDS[index % len(KINDS)] for index in range(kills)]
    rng.shuffle(kinds)
    kinds.sort(key=lambda kind: kind != "before_best")  # stable: the others keep their shuffled order
    if config_index == 0 and "step" in kinds:  # the first configuration starts with a kill before any checkpoint
        kinds.remove("step")
        kinds.insert(0, "step")
    events = []
    for index, kind in enumerate(kinds):
        if kind == "step":  # the value-th step of the process
            value = rng.randrange(1, interval) if (config_index == 0 and index == 0) else rng.randrange(1, 3 * interval)
        elif kind == "time":  # seconds after the start: during start-up (imports, the token store) or within 2.5 checkpoints
            value = round(rng.uniform(0.3 * startup, startup + 2.5 * interval * per_step), 2)
        elif kind == "before_best":
            value = 1
        else:  # the value-th such window of the process; the second configuration's after_metrics is at a fresh start's first save
            value = 1 if (kind == "after_metrics" and config_index == 1) else rng.randrange(1, 3)
        events.append(f"{kind}:{value}")
    if config_index == 1:  # the first kill lands in the first save of the run: metrics.jsonl written, no checkpoint yet
        events.remove(next(event for event in events if event.startswith("after_metrics")))
        events.insert(0, "after_metrics:1")
    return events


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in path.read_text().splitlines() if line.strip()]


def compare(reference: Path, run: Path) -> list[str]:
    """What differs between the final state of an uninterrupted run and a tortured one (empty: bit-identical)."""
    import torch
    from safetensors.torch import load_file

    problems = []
    for name in ("last", "best"):
        a, b = reference / name / "model.safetensors", run / name / "model.safetensors"
        if not b.exists():
            problems.append(f"{name}/ is missing")
            continue
        if a.read_bytes() != b.read_bytes():
            x, y = load_file(a), load_file(b)
            problems.append(f"{name}/model.safetensors differs ({sum(not torch.equal(x[k], y[k]) for k in x)} tensors)")
        if _records(reference / name / "metrics.jsonl") != _records(run / name / "metrics.jsonl"):
            problems.append(f"{name}/metrics.jsonl differs")
    state_a = torch.load(reference / "last" / "trainer_state.pt", weights_only=True)
    if (run / "last" / "trainer_state.pt").exists():
        state_b = torch.load(run / "last" / "trainer_state.pt", weights_only=True)
        for key in state_a:
            if key == "elapsed":
                continue
            a_value, b_value = state_a[key], state_b.get(key)
            if key == "best_val":
                a_value, b_value = _untimed(a_value), _untimed(b_value)
            if not _equal(a_value, b_value):
                problems.append(f"last/trainer_state.pt differs in {key!r}")
    if _records(reference / "metrics.jsonl") != _records(run / "metrics.jsonl"):
        steps = [record["step"] for record in _records(run / "metrics.jsonl")]
        problems.append(f"RUN/metrics.jsonl differs: steps {steps}")
    return problems


def _untimed(text: str | None) -> Any:
    value = json.loads(text) if text else None
    return {k: v for k, v in value.items() if k not in TIMING_FIELDS} if isinstance(value, dict) else value


def _equal(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def torture(config: Configuration, events: list[str], corpus: Path, work: Path, reference: Path, steps: int,
            interval: int) -> dict[str, Any]:
    """Kill a run at each event in turn, restarting it each time, then let it finish and compare it with ``reference``.

    A kill is survived when the next process carries on (resumed from a checkpoint, or, with none, started again by
    the original command) and the run then finishes."""
    run = work / f"{config.name}-killed"
    arguments = training_arguments(config, steps, interval)
    fresh, resume = [str(corpus), "--out", str(run), *arguments], ["--resume", str(run)]
    kills: list[Kill] = []
    failures: list[str] = []
    launches: list[Launch] = []
    pending = list(events)
    command = "fresh"
    while True:
        event = pending[0] if pending else None
        kill_after = float(event.partition(":")[2]) if event and event.startswith("time:") else None
        armed = None if kill_after is not None else event
        result = launch(fresh if command == "fresh" else resume, command, armed, kill_after)
        if command == "resume" and not result.killed and result.returncode != 0 and (
                "holds no checkpoint to resume" in result.stderr
                or "no such run directory" in result.stderr):  # killed before --out was even created
            launches.append(result)
            result = launch(fresh, "fresh", armed, kill_after)  # no checkpoint yet: start it again, as the message says
        launches.append(result)
        for kill in kills:  # the kills since the last process that got going resume (or restart) from here
            if kill.durable_step is None and result.started_at_step is not None:
                kill.durable_step = result.started_at_step
                kill.lost_steps = None if kill.step_at_kill is None else kill.step_at_kill - result.started_at_step
        if "Traceback" in result.stderr:
            failures.append(f"a traceback after {len(kills)} kill(s): {result.stderr.strip().splitlines()[-1]}")
        if result.killed:
            kind, _, value = pending.pop(0).partition(":")
            kills.append(Kill(kind, value, result.last_step, None, None))
            command = "resume"
            continue
        if result.returncode != 0:
            last_line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
            failures.append(f"stuck after kill {len(kills)} ({kills[-1].kind}:{kills[-1].value}): exit {result.returncode}: {last_line}"
                            if kills else f"the first process failed: {last_line}")
        break
    finished = not failures and (run / "last").exists()
    differences = compare(reference, run) if finished else []
    return {
        "configuration": config.name,
        "kills": [asdict(kill) for kill in kills],
        "kills_total": len(kills),
        "kills_survived": len(kills) if finished else max(len(kills) - 1, 0),
        "events_not_reached": pending,  # the run ended before these moments came
        "processes": len(launches),
        "finished": finished,
        "failures": failures,
        "differences_from_uninterrupted": differences,
        "bit_identical": finished and not differences,
        "repairs": [line.partition(": ")[2] for launch_ in launches for line in launch_.stderr.splitlines()
                    if line.startswith(f"recovered {run}: ")],
        "seconds": round(sum(launch_.seconds for launch_ in launches), 1),
    }


def reference_run(config: Configuration, corpus: Path, work: Path, steps: int, interval: int) -> tuple[Path, float, float]:
    """The uninterrupted run, its start-up time (to the first step) and its time per step (evaluations included)."""
    run = work / f"{config.name}-uninterrupted"
    result = launch([str(corpus), "--out", str(run), *training_arguments(config, steps, interval)], "fresh", None)
    if result.returncode != 0:
        raise SystemExit(f"the uninterrupted {config.name} run failed: {result.stderr}")
    return run, result.first_step_seconds, (result.seconds - result.first_step_seconds) / steps


def corpus_file(work: Path, characters: int = 20_000) -> Path:
    from lstmgen.data.corpus import default_corpus_text

    path = work / "corpus.txt"
    path.write_text(default_corpus_text()[:characters], encoding="utf-8")
    return path


def add_torture_arguments(parser: argparse.ArgumentParser, kills: int) -> None:
    """The flags every torture script takes (this one, distributed_torture.py, gan_torture.py)."""
    parser.add_argument("--kills-per-run", type=int, default=kills)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it (default: a temporary one)")


@contextlib.contextmanager
def work_directory(keep: Path | None, prefix: str) -> Iterator[Path]:
    """Where a torture works: ``keep`` (kept afterwards, to look at), or a temporary directory removed at the end."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        yield Path(temporary)


CONFIGURATIONS = [Configuration("char", 0.0), Configuration("word", 0.2), Configuration("char", 0.2), Configuration("word", 0.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=4, help="how many of the four configurations")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--interval", type=int, default=10)
    add_torture_arguments(parser, kills=6)
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    with work_directory(args.keep, "lstmgen-torture-") as work:
        corpus = corpus_file(work)
        for index, config in enumerate(CONFIGURATIONS[: args.configs]):
            reference, startup, per_step = reference_run(config, corpus, work, args.steps, args.interval)
            events = plan_kills(index, args.kills_per_run, args.interval, startup, per_step, random.Random(args.seed * 100 + index))
            outcome = torture(config, events, corpus, work, reference, args.steps, args.interval)
            outcome["uninterrupted"] = {"startup_s": round(startup, 2), "per_step_ms": round(per_step * 1000, 1)}
            results.append(outcome)
            print(f"{config.name}: {outcome['kills_survived']}/{outcome['kills_total']} survived, "
                  f"bit-identical {outcome['bit_identical']}, {outcome['failures'] or ''} {outcome['differences_from_uninterrupted'] or ''}",
                  file=sys.stderr, flush=True)
    chosen = results
    lost = [kill["lost_steps"] for result in chosen for kill in result["kills"] if kill["lost_steps"] is not None]
    summary = {
        "kills_total": sum(result["kills_total"] for result in chosen),
        "kills_survived": sum(result["kills_survived"] for result in chosen),
        "runs_bit_identical": f"{sum(result['bit_identical'] for result in chosen)}/{len(chosen)}",
        "kills_by_kind": {kind: sum(kill["kind"] == kind for result in chosen for kill in result["kills"]) for kind in KINDS},
        "lost_steps": {"mean": round(sum(lost) / len(lost), 1) if lost else None, "max": max(lost) if lost else None,
                       "all": lost},
    }
    print(json.dumps({
        "benchmark": "crash_torture",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "stress/crash_torture.py " + " ".join(sys.argv[1:]),
        "settings": {"steps": args.steps, "eval_and_checkpoint_interval": args.interval, "kills_per_run": args.kills_per_run,
                     "seed": args.seed, "window_pause_s": PAUSE_SECONDS},
        "summary": summary,
        "runs": results,
        "wall_s": round(time.monotonic() - started, 1),
        "machine": machine_record(),
    }, indent=2))


if __name__ == "__main__":
    main()
