"""The SeqGAN oracle benchmark (Yu et al. 2017, Table 1) with temperature curves; prints JSON.

    python benchmarks/seqgan_oracle.py --out runs/seqgan-oracle                  # the 2-hour schedule (oracle-2h)
    python benchmarks/seqgan_oracle.py --quick --out /tmp/seqgan-quick           # minutes: a smoke run
    python benchmarks/seqgan_oracle.py --out runs/seqgan-oracle --resume         # continue an interrupted run
    python benchmarks/seqgan_oracle.py --preset seqgan-paper --out runs/paper    # the authors' schedule (~45 h here)

The experiment is ``lstmgen.experiments.seqgan_oracle`` (the same as ``lstmgen gan oracle``), with the oracle
in this project's shared data by default. results.json, results.md and temperature_curves.png land in --out;
the JSON adds the machine and CPU time (process time, all threads) next to the wall-clock phase timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from lstmgen.experiments import seqgan_oracle

ORACLE = "../shared/data/seqgan-oracle/oracle_params.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    seqgan_oracle.add_arguments(parser, oracle_default=ORACLE)
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    report = seqgan_oracle.run_oracle_benchmark(seqgan_oracle.from_arguments(args), args.out, resume=args.resume,
                                                log=lambda line: print(line, file=sys.stderr, flush=True), progress=False)
    report["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                         "threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg()}
    report["process"] = {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
