"""The oracle benchmark as a protocol (Yu et al. 2017, Table 1): MLE once, GAN variants x seeds from it, every
model swept over temperature and every GAN run placed on the MLE curve; prints JSON.

    python benchmarks/gan/seqgan_oracle.py --threads 2 --out runs/gan-protocol                 # dense-oracle x seeds 88,89,90
    python benchmarks/gan/seqgan_oracle.py --variants dense-oracle,oracle-2h --out runs/both   # SeqGAN too (~27 min a seed)
    python benchmarks/gan/seqgan_oracle.py --quick --out /tmp/seqgan-quick                     # minutes: a smoke run
    python benchmarks/gan/seqgan_oracle.py --out runs/gan-protocol --resume                    # continue an interrupted run
    python benchmarks/gan/seqgan_oracle.py --pause-while /tmp/busy ...   # before each phase, wait while that file exists

The experiment is ``lstmgen.experiments.seqgan_oracle`` (the same as ``lstmgen gan oracle``), with the oracle
in this project's shared data by default. results.json, results.md and temperature_curves.png land in --out;
the JSON adds the machine and CPU time (process time, all threads) next to the wall-clock phase timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lstmgen.experiments import seqgan_oracle
from lstmgen.system.runtime import machine_record

ORACLE = "../shared/data/seqgan-oracle/oracle_params.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    seqgan_oracle.add_arguments(parser, oracle_default=ORACLE)
    parser.add_argument("--pause-while", metavar="FILE", help="before each phase, wait while FILE exists (another job is timing)")
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    paused = []

    def pause(phase: str) -> None:
        if args.pause_while is None:
            return
        started = time.perf_counter()
        while Path(args.pause_while).exists():
            time.sleep(30)
        if time.perf_counter() - started > 1:
            paused.append({"before": phase, "seconds": round(time.perf_counter() - started, 1)})
            print(f"paused {paused[-1]['seconds']} s before {phase}", file=sys.stderr, flush=True)

    report = seqgan_oracle.run_oracle_benchmark(seqgan_oracle.from_arguments(args), args.out, resume=args.resume,
                                                log=lambda line: print(line, file=sys.stderr, flush=True), progress=False,
                                                pause=pause)
    report["paused"] = paused  # waiting time, not counted in the phases' timings
    report["machine"] = machine_record()
    report["process"] = {"wall_seconds": round(time.perf_counter() - wall - sum(p["seconds"] for p in paused), 1),
                         "cpu_seconds": round(time.process_time() - cpu, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
