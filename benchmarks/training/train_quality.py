"""Train a preset on a corpus under a wall-clock budget; print JSON with speed and validation loss over time.

    python benchmarks/training/train_quality.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 4
    python benchmarks/training/train_quality.py --corpus ../shared/data/nietzsche/nietzsche.txt --lowercase --minutes 5
    python benchmarks/training/train_quality.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 4 \
        --set model.cell=mogrifier --set model.mogrifier_rounds=5 --set model.mogrifier_rank=0

The corpus is split as usual: the first 90% trains, the last 10% is validation (a full pass with
carried state, in nats per character). Record results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import lstmgen
from lstmgen import train
from lstmgen.system.runtime import machine_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="text file")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--eval-interval", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a TrainConfig field, or model.FIELD for ModelConfig (repeatable)")
    args = parser.parse_args()
    train_overrides, model_overrides = {}, {}
    for item in args.set:
        key, value = item.split("=", 1)
        parsed = json.loads(value) if value[:1] in "0123456789-[{tfn" else value
        (model_overrides if key.startswith("model.") else train_overrides)[key.removeprefix("model.")] = parsed
    curve, plan = [], []
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        result = train(
            [args.corpus], out_dir=out, preset=args.preset, time_budget=args.minutes, lowercase=args.lowercase or None,
            threads=args.threads, eval_interval=args.eval_interval, model=model_overrides, progress=False,
            log=lambda line: (plan.append(line) if line.startswith("budget-aware") else None, print(line, file=sys.stderr)),
            hook=lambda trainer, record: curve.append(record) and None, sample_length=0, **train_overrides,
        )
        wall = time.time() - started
    best = result.best_val or {}
    print(json.dumps({
        "benchmark": "train_quality", "lstmgen": lstmgen.__version__,
        "machine": machine_record(), "corpus": args.corpus,
        "preset": args.preset, "overrides": {**train_overrides, **{f"model.{k}": v for k, v in model_overrides.items()}},
        "plan": plan[0] if plan else None, "lowercase": args.lowercase, "budget_minutes": args.minutes, "wall_seconds": round(wall, 1), "steps": result.steps,
        "tokens_per_second": round(sum(r["tokens_per_second"] for r in curve) / max(len(curve), 1)),
        "best_val_nats": best.get("val_nats"), "best_val_bits": best.get("val_bits"),
        "final_val_nats": result.history[-1].get("val_nats") if result.history else None,
        "curve": [{k: r.get(k) for k in ("step", "elapsed", "epoch", "train_loss", "val_nats", "val_bits")} for r in result.history],
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
