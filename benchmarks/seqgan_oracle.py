"""The SeqGAN oracle benchmark (Yu et al. 2017, Table 1) with temperature curves; prints JSON.

    python benchmarks/seqgan_oracle.py --out runs/seqgan-oracle                  # the 2-hour schedule (oracle-2h)
    python benchmarks/seqgan_oracle.py --quick --out /tmp/seqgan-quick           # minutes: a smoke run
    python benchmarks/seqgan_oracle.py --out runs/seqgan-oracle --resume         # continue an interrupted run
    python benchmarks/seqgan_oracle.py --preset seqgan-paper --out runs/paper    # the authors' schedule (~45 h here)

Same as ``lstmgen gan oracle``; results.json, results.md and temperature_curves.png land in --out. The
JSON adds the machine and CPU time (process time, all threads) next to the wall-clock phase timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import torch

from lstmgen.gan.command import gan_setting
from lstmgen.gan.config import GAN_PRESETS
from lstmgen.gan.oracle_benchmark import QUICK, OracleBenchmarkConfig, run_oracle_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--preset", choices=sorted(GAN_PRESETS))
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE")
    parser.add_argument("--oracle", default="../shared/data/seqgan-oracle/oracle_params.npz")
    parser.add_argument("--out", default="runs/seqgan-oracle")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    config = QUICK if args.quick else OracleBenchmarkConfig()
    changes = {"oracle_path": args.oracle, "threads": args.threads, "gan_overrides": dict(args.set)}
    if args.preset:
        changes["preset"] = args.preset
    if args.seed is not None:
        changes["seed"] = args.seed
    config = dataclasses.replace(config, **changes)
    wall, cpu = time.perf_counter(), time.process_time()
    report = run_oracle_benchmark(config, args.out, resume=args.resume, log=lambda line: print(line, file=sys.stderr, flush=True),
                                  progress=False)
    report["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                         "threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg()}
    report["process"] = {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
