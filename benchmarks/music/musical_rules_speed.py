"""What the musical rules cost per step: ``LanguageModel.samples`` on an ABC model with the rules (the defaults) and
without them (whole_bars=False, min_bars=0), in one stream and in 100, after an ABC header.

    .venv/bin/python benchmarks/music/musical_rules_speed.py --run runs/abc-folk-5 --threads 2

A step's time is the call's wall time over its longest sample's tokens (the batch steps until every sample ends);
best of ``--repeats``. Prints JSON with the machine record.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lstmgen import LanguageModel
from lstmgen.system.runtime import machine_record

HEADER = "X:1\nM:6/8\nL:1/8\nK:D\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="an ABC run directory")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = LanguageModel.load(args.run)
    header_tokens = len(model.tokenizer.encode(HEADER))
    report = {"benchmark": "musical_rules_speed", "run": args.run, "tokens": args.tokens}
    for streams in (1, 100):
        for rules, options in (("on", {}), ("off", {"whole_bars": False, "min_bars": 0})):
            best = None
            for repeat in range(args.repeats):
                started = time.perf_counter()
                samples = model.samples(HEADER, temperature=1.0, max_tokens=args.tokens, num_samples=streams, seed=repeat, **options)
                seconds = time.perf_counter() - started
                steps = max(len(model.tokenizer.encode(HEADER + sample, unknown="replace")) - header_tokens for sample in samples)
                per_step = 1000 * seconds / max(steps, 1)
                best = per_step if best is None else min(best, per_step)
            report[f"streams_{streams}_rules_{rules}_ms_per_step"] = round(best, 3)
    report["machine"] = machine_record(args.threads)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
