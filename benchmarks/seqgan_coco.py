"""Word-level MLE and SeqGAN on the Image COCO captions (Texygen's set-up): BLEU-2..5 and self-BLEU-2..5; prints JSON.

    python benchmarks/seqgan_coco.py --out runs/seqgan-coco                         # oracle-2h schedule, 1,000 samples
    python benchmarks/seqgan_coco.py --out /tmp/coco --set rounds=20 --samples 500  # a reduced run

Same as ``lstmgen gan coco``. BLEU: each generated caption against all 10,000 test captions; self-BLEU:
each generated caption against the other generated captions; NLTK sentence BLEU, smoothing method 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from lstmgen.gan.coco import QUICK, CocoBenchmarkConfig, run_coco_benchmark
from lstmgen.gan.command import gan_setting
from lstmgen.gan.config import GAN_PRESETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--preset", choices=sorted(GAN_PRESETS))
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE")
    parser.add_argument("--data", default="../shared/data/coco-captions")
    parser.add_argument("--out", default="runs/seqgan-coco")
    parser.add_argument("--samples", type=int)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    config = QUICK if args.quick else CocoBenchmarkConfig()
    changes = {"data_dir": args.data, "threads": args.threads, "gan_overrides": {**config.gan_overrides, **dict(args.set)}}
    if args.preset:
        changes["preset"] = args.preset
    if args.samples:
        changes["samples"] = args.samples
    wall, cpu = time.perf_counter(), time.process_time()
    report = run_coco_benchmark(dataclasses.replace(config, **changes), args.out,
                                log=lambda line: print(line, file=sys.stderr, flush=True), progress=False)
    report["process"] = {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
                         "load_average_at_end": os.getloadavg()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
