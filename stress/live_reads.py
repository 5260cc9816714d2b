"""Readers racing a live run: load a run directory over and over while ``lstmgen train`` swaps its checkpoints.

    PYTHONPATH=src python stress/live_reads.py                        # 10,000 loads at --eval-interval 1
    PYTHONPATH=src python stress/live_reads.py --loads 2000 --no-retry   # the same without re-reading (the old behaviour)

A real ``lstmgen train`` process (a 2-layer LSTM of 64, one thread, an evaluation and a checkpoint swap of last/
after every step, and of best/ whenever validation improves) runs while this process calls
``LanguageModel.load(RUN)`` (best/, what generate, eval and serve read) and ``load_checkpoint(RUN, prefer="last")``
in turn, as fast as it can. Every load must return one consistent checkpoint, old or new: its weights must be
those its manifest lists (the loader verifies every file against it) and its step one the run wrote. Counted: loads,
failures by message, false corruption reports (a "corrupt" message while the files on disk are whole), and the
loads a swap interrupted that were read again. ``--no-retry`` sets ``checkpoint.SWAP_RETRIES`` to 0: how often a
reader meets a swap at all. Prints JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lstmgen.checkpoint as checkpoint_module
from crash_torture import corpus_file
from lstmgen import LanguageModel, load_checkpoint
from lstmgen.system.runtime import machine_record

SOURCE = Path(__file__).resolve().parents[1] / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10_000)
    parser.add_argument("--no-retry", action="store_true", help="read each checkpoint once, as lstmgen did before (SWAP_RETRIES = 0)")
    args = parser.parse_args()
    if args.no_retry:
        checkpoint_module.SWAP_RETRIES = 0
    reads = collections.Counter()
    original = checkpoint_module._load

    def counted(*arguments, **keywords):
        reads["reads"] += 1
        return original(*arguments, **keywords)

    checkpoint_module._load = counted
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="live-reads-") as work:
        run = Path(work) / "run"
        corpus = corpus_file(Path(work), 200_000)
        environment = {**os.environ, "PYTHONPATH": str(SOURCE), "OMP_NUM_THREADS": "1"}
        trainer = subprocess.Popen([sys.executable, "-m", "lstmgen", "train", str(corpus), "--out", str(run), "--max-steps", "1000000",
                                    "--eval-interval", "1", "--batch-size", "4", "--seq-length", "16", "--hidden-size", "64",
                                    "--num-layers", "2", "--embedding-size", "16", "--sample-length", "0", "--threads", "1",
                                    "--val-fraction", "0.002", "--no-progress"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment, text=True)
        failures: collections.Counter = collections.Counter()
        steps = set()
        try:
            while not (run / "last" / "config.json").exists() or not (run / "best" / "config.json").exists():
                if trainer.poll() is not None:
                    raise SystemExit(f"the training run ended before its first checkpoints:\n{trainer.stderr.read()[-2000:]}")
                time.sleep(0.05)
            reading = time.monotonic()
            for index in range(args.loads):
                try:
                    if index % 2:
                        loaded = load_checkpoint(run, prefer="last")
                        steps.add(loaded.extra.get("steps"))
                    else:
                        LanguageModel.load(run)
                except Exception as error:  # noqa: BLE001 (every way a load can fail is counted)
                    failures[f"{type(error).__name__}: {str(error)[:160]}"] += 1
            reading = time.monotonic() - reading
            alive = trainer.poll() is None
        finally:
            trainer.kill()
            trainer.wait()
    false_corruption = sum(count for message, count in failures.items() if "corrupt" in message)
    print(json.dumps({
        "benchmark": "live_reads", "loads": args.loads, "retry": not args.no_retry, "failures": sum(failures.values()),
        "false_corruption_reports": false_corruption, "reads": reads["reads"], "reads_again_after_a_swap": reads["reads"] - args.loads,
        "distinct_steps_read": len(steps), "trainer_alive_throughout": alive, "reading_seconds": round(reading, 1),
        "failure_messages": dict(failures.most_common(10)), "command": "stress/live_reads.py " + " ".join(sys.argv[1:]),
        "wall_s": round(time.monotonic() - started, 1), "machine": machine_record(threads=1),
    }, indent=2))


if __name__ == "__main__":
    main()
