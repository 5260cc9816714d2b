"""Crash torture of 2-rank torchrun runs: SIGKILL a rank (or the whole job) at random moments, resume, compare.

    PYTHONPATH=src python stress/distributed_torture.py                    # 2 runs x 12 kills, then the 1-rank resume
    PYTHONPATH=src python stress/distributed_torture.py --runs 1 --kills-per-run 3

Each run (a 2-layer LSTM, char tokens; the first with dropout 0.2, the second with word tokens and no dropout;
batch 4, so 2 streams per rank; an evaluation and checkpoint every 10 steps; one thread per rank) is first
trained by ``torchrun --standalone --nproc-per-node 2`` without interruption. Then the same run is started and
killed at a random moment (seeded: the k-th of K kills aims at a random step of the k-th K-th of the run,
timed from the uninterrupted run; a step already passed becomes a kill during start-up, so a kill can fall in
start-up, the process group's rendezvous, a step, an evaluation or a checkpoint write) by one of three blows,
in turn:

    rank0   SIGKILL to rank 0 (the rank that holds the run lock and writes checkpoints); torchrun ends the job
    rank1   SIGKILL to rank 1; its peer fails its next collective and torchrun ends the job
    job     SIGKILL to every process of the job at once (a machine lost)

then restarted, as a user would, with ``torchrun ... lstmgen train --resume RUN`` (or, before the first
checkpoint, the original command). After the planned kills the run finishes, and last/ (weights, optimizer,
RNG states, data cursor, carried state, metrics), best/ and RUN/metrics.jsonl must be bit-identical to the
uninterrupted 2-rank run's (``crash_torture.compare``), timing fields aside.

Last, the change of world size: a 2-rank run without dropout stopped at the middle checkpoint is resumed by one
process and compared with the uninterrupted 2-rank run within the documented tolerance (docs/distributed.md:
float32 weights within 1e-5; with dropout the ranks' dropout streams are reseeded, so it is measured without).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crash_torture import Configuration, add_torture_arguments, compare, corpus_file, training_arguments, work_directory
from lstmgen.system.runtime import machine_record

SOURCE = Path(__file__).resolve().parents[1] / "src"
BLOWS = ("rank0", "rank1", "job")


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SOURCE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}


def torchrun(arguments: list[str], ranks: int = 2) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]
    return [*launcher, "-m", "lstmgen", "train", *arguments] if ranks > 1 else [sys.executable, "-m", "lstmgen", "train", *arguments]


def _workers(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's worker processes (read from /proc: their RANK environment variable)."""
    found = {}
    for task in Path(f"/proc/{launcher}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                environment = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environment:
                if entry.startswith(b"RANK="):
                    found[int(entry[5:])] = int(child)
    return found


def run_once(arguments: list[str], kill_after: float | None, blow: str | None, timeout: float = 600.0) -> dict[str, Any]:
    """One launch of the job; with ``kill_after``, the blow lands that many seconds in (if the job still runs)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(torchrun(arguments), stdout=output, stderr=subprocess.STDOUT, env=_environment(),
                                   start_new_session=True)
        landed = False
        try:
            while process.poll() is None and time.monotonic() - started < timeout:
                if kill_after is not None and not landed and time.monotonic() - started >= kill_after:
                    if blow == "job":
                        os.killpg(process.pid, signal.SIGKILL)
                        landed = True
                    else:
                        victim = _workers(process.pid).get(0 if blow == "rank0" else 1)
                        if victim is not None:
                            os.kill(victim, signal.SIGKILL)
                            landed = True
                        elif time.monotonic() - started > kill_after + 30:
                            break
                time.sleep(0.02)
        finally:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # nothing of the job may live on (a rank would hold the run lock)
            except ProcessLookupError:
                pass
            process.wait()
        output.seek(0)
        text = output.read()
    return {"returncode": process.returncode, "killed": landed, "seconds": round(time.monotonic() - started, 2),
            "segfault": "SIGSEGV" in text or "Segmentation fault" in text, "tail": text[-1500:]}


def _has_checkpoint(run: Path) -> bool:
    return any(os.path.lexists(run / name) for name in ("last", "best"))


def _durable_step(run: Path) -> int:
    from lstmgen.checkpoint import checkpoint_step

    return (checkpoint_step(run / "last") or 0) if os.path.lexists(run / "last") else 0


def torture(config: Configuration, corpus: Path, work: Path, steps: int, interval: int, kills: int, rng: random.Random) -> dict[str, Any]:
    arguments = training_arguments(config, steps, interval)
    reference = work / f"{config.name}-reference"
    whole = run_once([str(corpus), "--out", str(reference), *arguments], None, None)
    if whole["returncode"] != 0:
        raise SystemExit(f"the uninterrupted 2-rank run failed:\n{whole['tail']}")
    short = run_once([str(corpus), "--out", str(work / f"{config.name}-short"), *arguments[:1], str(interval), *arguments[2:]], None, None)
    # the job's start-up (interpreters, rendezvous, the token store) and its time per step, from the two runs
    per_step = max((whole["seconds"] - short["seconds"]) / max(steps - interval, 1), 1e-3)
    startup = max(short["seconds"] - interval * per_step, 0.5)
    run = work / f"{config.name}-killed"
    results, failures = [], []
    for index in range(kills):
        blow = BLOWS[index % len(BLOWS)]
        command = ["--resume", str(run)] if _has_checkpoint(run) else [str(corpus), "--out", str(run), *arguments]
        # The k-th of K kills aims at a random step of the k-th K-th of the run, so the kills spread over it and each
        # lands before the run can finish; a step the run has passed already gets a kill during start-up instead.
        target = rng.uniform(index / kills, (index + 1) / kills) * steps
        ahead = target - _durable_step(run)
        when = round(startup + ahead * per_step if ahead > 0 else rng.uniform(0.3 * startup, startup), 2)
        launch = run_once(command, when, blow)
        results.append({"blow": blow, "after_seconds": when, "landed": launch["killed"], "returncode": launch["returncode"],
                        "segfault": launch["segfault"]})
        if launch["segfault"] or (not launch["killed"] and launch["returncode"] != 0):
            failures.append({"kill": index, "blow": blow, "why": "the launch failed by itself", "tail": launch["tail"]})
    for attempt in range(3):  # finish the run: resume until it completes (a kill can land after the last save)
        command = ["--resume", str(run)] if _has_checkpoint(run) else [str(corpus), "--out", str(run), *arguments]
        final = run_once(command, None, None)
        if final["returncode"] == 0:
            break
    else:
        failures.append({"why": "the run did not finish after the kills", "tail": final["tail"]})
    problems = compare(reference, run) if not failures else []
    if problems:
        failures.append({"why": "differs from the uninterrupted run", "problems": problems})
    landed = sum(result["landed"] for result in results)
    return {"configuration": config.name, "kills_planned": kills, "kills_landed": landed, "kills": results,
            "bit_identical": not problems and not failures, "failures": failures, "reference_seconds": whole["seconds"]}


def world_size_change(corpus: Path, work: Path, steps: int, interval: int) -> dict[str, Any]:
    """A 2-rank run resumed by one process at its middle checkpoint, against the uninterrupted 2-rank run."""

    from lstmgen import load_checkpoint

    config = Configuration("char", 0.0)
    # A constant rate after warm-up: the first half, trained as a run of steps // 2, then follows the same schedule.
    arguments = [*training_arguments(config, steps, interval), "--schedule", "constant"]
    reference = work / "world-reference"
    if run_once([str(corpus), "--out", str(reference), *arguments], None, None)["returncode"] != 0:
        raise SystemExit("the uninterrupted 2-rank run failed")
    split = work / "world-split"
    middle = [*arguments]
    middle[middle.index("--max-steps") + 1] = str(steps // 2)
    if run_once([str(corpus), "--out", str(split), *middle], None, None)["returncode"] != 0:
        raise SystemExit("the first half failed")
    one = subprocess.run(torchrun(["--resume", str(split), "--max-steps", str(steps), "--threads", "1"], ranks=1), capture_output=True,
                         text=True, env=_environment(), timeout=600)
    if one.returncode != 0:
        raise SystemExit(f"the 1-process resume failed:\n{one.stderr[-2000:]}")
    a = load_checkpoint(reference, prefer="last").model.state_dict()
    b = load_checkpoint(split, prefer="last").model.state_dict()
    largest = max(float((a[name] - b[name]).abs().max()) for name in a)
    return {"steps": steps, "resumed_at": steps // 2, "largest_weight_difference": largest, "tolerance": 1e-5,
            "within_tolerance": largest <= 1e-5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs to torture (char with dropout 0.2; word without)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--interval", type=int, default=10)
    add_torture_arguments(parser, kills=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with work_directory(args.keep, "distributed-torture-") as work:
        corpus = corpus_file(work)
        configurations = [Configuration("char", 0.2), Configuration("word", 0.0)][: args.runs]
        runs = [torture(config, corpus, work, args.steps, args.interval, args.kills_per_run, rng) for config in configurations]
        change = world_size_change(corpus, work, args.steps, args.interval)
    print(json.dumps({
        "benchmark": "distributed_torture",
        "kills_landed": sum(run["kills_landed"] for run in runs),
        "runs_bit_identical": sum(run["bit_identical"] for run in runs), "runs": len(runs),
        "world_size_change": change, "details": runs,
        "command": "stress/distributed_torture.py " + " ".join(sys.argv[1:]),
        "wall_s": round(time.monotonic() - started, 1), "machine": machine_record(threads=1),
    }, indent=2))


if __name__ == "__main__":
    main()
