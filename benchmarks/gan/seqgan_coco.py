"""Word-level MLE and GAN runs on the Image COCO captions (Texygen's set-up), every model swept over temperature:
BLEU-2/5 against self-BLEU-2/5 and NLL-test, each GAN run placed on the MLE curve at matched BLEU-5; prints JSON.

    python benchmarks/gan/seqgan_coco.py --out runs/seqgan-coco                         # SeqGAN (oracle-2h) x 3 seeds
    python benchmarks/gan/seqgan_coco.py --variants dense-oracle,oracle-2h --out runs/coco-both
    python benchmarks/gan/seqgan_coco.py --out /tmp/coco --set rounds=20 --samples 500  # a reduced run

The experiment is ``lstmgen.experiments.seqgan_coco`` (the same as ``lstmgen gan coco``), with the captions in
this project's shared data by default. BLEU: each generated caption against all 10,000 test captions;
self-BLEU: each generated caption against the other generated captions; NLTK sentence BLEU, smoothing method 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from lstmgen.experiments import seqgan_coco
from lstmgen.system.runtime import machine_record

CAPTIONS = "../shared/data/coco-captions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    seqgan_coco.add_arguments(parser, data_default=CAPTIONS)
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    report = seqgan_coco.run_coco_benchmark(seqgan_coco.from_arguments(args), args.out, resume=args.resume,
                                            log=lambda line: print(line, file=sys.stderr, flush=True), progress=False)
    report["process"] = {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}
    report["machine"] = machine_record()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
