"""Crash torture of ``lstmgen gan train``: SIGKILL it at random moments in every phase, restart it, compare.

    PYTHONPATH=src python stress/gan_torture.py                       # 4 runs x 6 kills
    PYTHONPATH=src python stress/gan_torture.py --runs 1 --kills-per-run 3

A small character model is trained first (``lstmgen train``, a few seconds). Each run is then a two-seed
``gan train`` of the ``quick-dense`` preset from it (MLE pre-training, discriminator pre-training, adversarial
rounds; sequences of 24 tokens, a checkpoint after every unit), first without interruption. Then the same
run is started and killed (SIGKILL) at a random moment: the k-th of K kills aims at a random point of the k-th
K-th of the run's work (timed from the uninterrupted run; a point already passed becomes a kill during
start-up), so kills land in start-up, while the inputs (start/, data.npz, gan_run.json) are written, and in
every phase of either seed, mid-unit and mid-write alike. The
restart is what a user would type: ``lstmgen gan train --resume RUN`` once gan_run.json exists, else the
original command again (never --overwrite). A kill that leaves a run neither command continues is a failure.

At the end every seed's last/ (weights, trainer state: discriminator, rollout policy, optimizers, RNG states,
phase), its mle/ and the run's start/ must be bit-identical to the uninterrupted run's, timing fields aside
(phase_seconds, phase_cpu_seconds, and the seconds of each record). Prints JSON: kills landed, the phase
each hit, and each failure with why.
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

from crash_torture import _equal, add_torture_arguments, corpus_file, work_directory
from lstmgen.system.runtime import machine_record

SOURCE = Path(__file__).resolve().parents[1] / "src"
TIMING_KEYS = ("seconds", "cpu_seconds", "eval_seconds")
TIMING_STATE = ("phase_seconds", "phase_cpu_seconds")
SEEDS = "1,2"


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SOURCE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}


def lstmgen(*arguments: str, kill_after: float | None = None, timeout: float = 600.0) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen([sys.executable, "-m", "lstmgen", *arguments], stdout=output, stderr=subprocess.STDOUT,
                                   env=_environment(), start_new_session=True)
        killed = False
        try:
            process.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            if kill_after is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
            process.wait()
        output.seek(0)
        text = output.read()
    return {"returncode": process.returncode, "killed": killed, "seconds": round(time.monotonic() - started, 2), "tail": text[-2000:]}


def gan_arguments(corpus: Path, start: Path, out: Path) -> list[str]:
    return ["gan", "train", str(corpus), "--init-from", str(start), "--out", str(out), "--preset", "quick-dense", "--seeds", SEEDS,
            "--sequence-length", "24", "--set", "eval_interval=1", "--set", "d_holdout=8", "--set", "d_samples=64",
            "--set", "adversarial_batch_size=64", "--set", "pretrain_epochs=12", "--set", "pretrain_d_steps=10", "--rounds", "60", "--threads", "1",
            "--no-progress", "--no-report"]


def phase_of(run: Path) -> str:
    """Where the run stands, as the files say: before its inputs, which seed, which phase."""
    from lstmgen.checkpoint import load_checkpoint

    if not (run / "gan_run.json").exists():
        return "inputs" if run.exists() else "nothing"
    for seed_dir, seed in ((run, "seed 1"), (run / "seeds" / "2", "seed 2")):
        if not os.path.lexists(seed_dir / "last"):
            return f"{seed}: before its first checkpoint"
        phase = load_checkpoint(seed_dir, prefer="last").extra.get("phase")
        if phase != "done":
            return f"{seed}: {phase}"
    return "done"


UNITS = {"mle": 12, "d_pretrain": 10, "adversarial": 60}  # per seed, as gan_arguments sets them
PHASES = ("mle", "d_pretrain", "adversarial", "done")


def fraction_done(run: Path) -> float:
    """The share of the run's units (both seeds, every phase) its checkpoints hold."""
    from lstmgen.checkpoint import load_checkpoint

    total, done = 2 * sum(UNITS.values()), 0
    for seed_dir in (run, run / "seeds" / "2"):
        if os.path.lexists(seed_dir / "last"):
            extra = load_checkpoint(seed_dir, prefer="last").extra
            phase = extra.get("phase", "mle")
            finished = PHASES.index(phase) if phase in PHASES else 0
            done += sum(UNITS[name] for name in PHASES[:finished]) + (extra.get("completed", 0) if phase != "done" else 0)
    return min(done / total, 1.0)


def _records(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in metrics]


def compare(reference: Path, run: Path) -> list[str]:
    """What differs between the uninterrupted run and the tortured one (empty: bit-identical)."""
    from lstmgen.checkpoint import load_checkpoint
    from lstmgen.gan.state import check_gan_state

    problems = []
    for name in ("start", "mle", "seeds/2/mle", "last", "seeds/2/last"):
        a, b = reference / name / "model.safetensors", run / name / "model.safetensors"
        if not b.exists():
            problems.append(f"{name}/ is missing")
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{name}/model.safetensors differs")
    for seed_dir in ("", "seeds/2"):
        if not (run / seed_dir / "last").exists():
            continue
        x = load_checkpoint(reference / seed_dir, prefer="last", state_check=check_gan_state)
        y = load_checkpoint(run / seed_dir, prefer="last", state_check=check_gan_state)
        for key, value in x.trainer_state.items():
            if key not in TIMING_STATE and not _equal(value, y.trainer_state.get(key)):
                problems.append(f"{seed_dir or '.'}/last trainer state differs in {key!r}")
        if _records(x.metrics) != _records(y.metrics):
            problems.append(f"{seed_dir or '.'}/last metrics differ")
    return problems


def torture(index: int, corpus: Path, start: Path, work: Path, kills: int, rng: random.Random) -> dict[str, Any]:
    reference = work / f"run{index}-reference"
    whole = lstmgen(*gan_arguments(corpus, start, reference))
    if whole["returncode"] != 0:
        raise SystemExit(f"the uninterrupted gan train failed:\n{whole['tail']}")
    run = work / f"run{index}-killed"
    results, failures = [], []
    startup = 2.0  # seconds to a running process (imports, the model, the inputs): a rough, conservative figure
    for number in range(kills):
        before = phase_of(run)
        if before == "done":
            break
        resume = (run / "gan_run.json").exists()
        command = ["gan", "train", "--resume", str(run), "--threads", "1", "--no-progress", "--no-report"] if resume \
            else gan_arguments(corpus, start, run)
        # The k-th of K kills aims at a random point of the k-th K-th of the run's work, so the kills spread over
        # every phase of both seeds; a point the run has passed already gets a kill during start-up instead.
        target = rng.uniform(number / kills, (number + 1) / kills)
        ahead = target - fraction_done(run)
        work_seconds = max(whole["seconds"] - startup, 1.0)
        when = round(startup + ahead * work_seconds if ahead > 0 else rng.uniform(0.2 * startup, startup), 2)
        if before == "nothing" and index % 2:  # every other run's first kill aims at the inputs being written
            when = round(rng.uniform(0.5 * startup, 1.5 * startup), 2)
        launch = lstmgen(*command, kill_after=when)
        results.append({"after_seconds": when, "landed": launch["killed"], "state_before": before, "state_after": phase_of(run),
                        "command": "resume" if resume else "original", "returncode": launch["returncode"]})
        if not launch["killed"] and launch["returncode"] != 0:
            failures.append({"kill": number, "why": "a restart failed by itself", "tail": launch["tail"]})
            break
    for _ in range(3):
        resume = (run / "gan_run.json").exists()
        command = ["gan", "train", "--resume", str(run), "--threads", "1", "--no-progress", "--no-report"] if resume \
            else gan_arguments(corpus, start, run)
        final = lstmgen(*command)
        if final["returncode"] == 0 and phase_of(run) == "done":
            break
    else:
        failures.append({"why": "the run did not finish after the kills", "tail": final["tail"]})
    problems = compare(reference, run) if not failures else []
    if problems:
        failures.append({"why": "differs from the uninterrupted run", "problems": problems})
    return {"run": index, "kills_landed": sum(result["landed"] for result in results), "kills": results,
            "bit_identical": not failures, "failures": failures, "reference_seconds": whole["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4)
    add_torture_arguments(parser, kills=6)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with work_directory(args.keep, "gan-torture-") as work:
        corpus = corpus_file(work)
        start = work / "start-model"
        trained = lstmgen("train", str(corpus), "--out", str(start), "--max-steps", "60", "--eval-interval", "30", "--hidden-size", "32",
                          "--embedding-size", "16", "--sample-length", "0", "--threads", "1", "--no-progress")
        if trained["returncode"] != 0:
            raise SystemExit(f"training the starting model failed:\n{trained['tail']}")
        runs = [torture(index, corpus, start, work, args.kills_per_run, rng) for index in range(args.runs)]
    # where each kill landed, as the files said after it (the last durable state: the phase it interrupted)
    states = sorted({kill["state_after"] for run in runs for kill in run["kills"] if kill["landed"]})
    print(json.dumps({
        "benchmark": "gan_torture", "kills_landed": sum(run["kills_landed"] for run in runs),
        "runs_bit_identical": sum(run["bit_identical"] for run in runs), "runs": len(runs), "states_killed_in": states,
        "details": runs, "command": "stress/gan_torture.py " + " ".join(sys.argv[1:]),
        "wall_s": round(time.monotonic() - started, 1), "machine": machine_record(threads=1),
    }, indent=2))


if __name__ == "__main__":
    main()
