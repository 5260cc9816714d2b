"""Training throughput on one machine: 1 process x N threads against N torchrun ranks x 1 thread, the same
global batch, side by side in one run; prints JSON (tokens/s and the validation loss each reached).

    python benchmarks/scale/distributed_speed.py --corpus ../shared/data/tinyshakespeare/input.txt --steps 400

Both runs train `lstmgen train`'s defaults for the same number of steps from the same seed, with dropout off
(so the two must end at the same validation loss: DDP is exact, see docs/distributed.md); the order of the
two runs alternates over the repeats, and each run's speed is its steps' tokens over its training time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lstmgen.system.runtime import machine_record


def train(command: list[str], corpus: str, out: Path, steps: int, threads: int) -> dict[str, float]:
    argv = [*command, "-m", "lstmgen", "train", corpus, "--out", str(out), "--overwrite", "--max-steps", str(steps),
            "--eval-interval", str(steps), "--sample-length", "0", "--dropout", "0", "--threads", str(threads), "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(argv, capture_output=True, text=True, env=environment)
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    record = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    return {"tokens_per_second": record["tokens_per_second"], "val_nats": record["val_nats"], "seconds": record["elapsed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    single, ranked = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            runs = [("single", [sys.executable], args.ranks), ("ranked", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                                         "--nproc-per-node", str(args.ranks)], 1)]
            for name, command, threads in (runs if repeat % 2 == 0 else runs[::-1]):
                result = train(command, args.corpus, Path(scratch) / name, args.steps, threads)
                (single if name == "single" else ranked).append(result)
                print(json.dumps({name: result}), file=sys.stderr, flush=True)
    median = lambda rows, key: statistics.median(row[key] for row in rows)  # noqa: E731
    print(json.dumps({
        "benchmark": "distributed_speed", "machine": machine_record(args.ranks),
        "steps": args.steps, "ranks": args.ranks,
        f"one_process_{args.ranks}_threads": {"tokens_per_second": median(single, "tokens_per_second"), "val_nats": single[0]["val_nats"]},
        f"{args.ranks}_ranks_1_thread": {"tokens_per_second": median(ranked, "tokens_per_second"), "val_nats": ranked[0]["val_nats"]},
        "ratio_ranks_to_one_process": round(median(ranked, "tokens_per_second") / median(single, "tokens_per_second"), 3),
        "runs": {"single": single, "ranked": ranked},
    }, indent=1))


if __name__ == "__main__":
    main()
