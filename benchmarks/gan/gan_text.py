"""`lstmgen gan train` on a real corpus, from a model trained for a few minutes; prints JSON.

    python benchmarks/gan/gan_text.py --threads 2 --out runs/gan-nietzsche          # lower-cased Nietzsche, 5-minute model
    python benchmarks/gan/gan_text.py --model runs/nietzsche-5min --out runs/gan-n   # reuse a trained model

Step 1 (skipped with --model): `lstmgen train CORPUS --lowercase --time-budget MINUTES` (the default preset) into
OUT/model. Step 2: `lstmgen gan train CORPUS --init-from OUT/model` (the dense-text preset, seeds 88, 89, 90, any
--set overrides) into OUT/gan, which ends with its report (OUT/gan/report.md, report.json, curves.png). The JSON
holds the report's summary, the wall and CPU seconds of each step and the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lstmgen import train
from lstmgen.experiments.arguments import gan_setting, integers
from lstmgen.gan import fine_tune
from lstmgen.system.runtime import machine_record

CORPUS = "../shared/data/nietzsche/nietzsche.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=CORPUS)
    parser.add_argument("--model", help="a trained model to start from (default: train one for --minutes)")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--out", default="runs/gan-nietzsche")
    parser.add_argument("--seeds", type=integers, default=(88, 89, 90))
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE")
    parser.add_argument("--report-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--unknown", choices=("error", "skip", "replace"), default="error",
                        help="characters of the corpus the model lacks (e.g. ones only in its held-out part)")
    args = parser.parse_args()
    out = Path(args.out)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    timings: dict[str, dict[str, float]] = {}
    model = args.model
    if model is None:
        model = str(out / "model")
        wall, cpu = time.perf_counter(), time.process_time()
        train([args.corpus], out_dir=model, lowercase=True, time_budget=args.minutes, threads=args.threads, progress=False,
              log=say, overwrite=True)
        timings["train_model"] = {"wall": round(time.perf_counter() - wall, 1), "cpu": round(time.process_time() - cpu, 1)}
    wall, cpu = time.perf_counter(), time.process_time()
    report = fine_tune([args.corpus], init_from=model, out_dir=out / "gan", overrides=dict(args.set), seeds=args.seeds,
                       unknown=args.unknown, overwrite=True, log=say, progress=False, threads=args.threads,
                       report_settings={"samples": args.report_samples})
    timings["gan_train_and_report"] = {"wall": round(time.perf_counter() - wall, 1), "cpu": round(time.process_time() - cpu, 1)}
    print(json.dumps({
        "settings": vars(args) | {"set": dict(args.set)},
        "position": report.get("position"), "discriminator": report.get("discriminator"),
        "timings_seconds": timings,
        "machine": machine_record(),
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
