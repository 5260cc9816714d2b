"""``lstmgen gan ...``: the SeqGAN experiments (lstmgen.experiments) and the GAN schedules."""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = "SeqGAN (Yu et al. 2017) with an lstmgen LSTM as the generator."


def configure(parser: argparse.ArgumentParser) -> None:
    from ..experiments import seqgan_coco, seqgan_oracle

    commands = parser.add_subparsers(dest="gan_command", required=True, metavar="GAN_COMMAND")
    oracle = commands.add_parser("oracle", help="the synthetic oracle benchmark (NLL-oracle, NLL-test, temperature curves)",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    seqgan_oracle.add_arguments(oracle)
    oracle.set_defaults(handler=_oracle)
    coco = commands.add_parser("coco", help="word-level MLE and SeqGAN on COCO captions, BLEU and self-BLEU",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    seqgan_coco.add_arguments(coco)
    coco.set_defaults(handler=_coco)
    presets = commands.add_parser("presets", help="list the GAN schedules")
    presets.set_defaults(handler=_presets)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _oracle(args: argparse.Namespace) -> int:
    from ..experiments.seqgan_oracle import from_arguments, run_oracle_benchmark

    report = run_oracle_benchmark(from_arguments(args), args.out, resume=args.resume, log=_log,
                                  progress=False if args.no_progress else None)
    if report.get("status") == "done":
        print(json.dumps({k: report[k] for k in ("oracle_self_nll", "table", "seqgan_position", "mle_early_stopped_epoch",
                                                  "timings_seconds", "total_seconds")}, indent=2))
        print(f"full results: {args.out}/results.json, results.md, temperature_curves.png", file=sys.stderr)
    else:
        print(json.dumps(report, indent=2))
    return 0


def _coco(args: argparse.Namespace) -> int:
    from ..experiments.seqgan_coco import from_arguments, run_coco_benchmark

    report = run_coco_benchmark(from_arguments(args), args.out, log=_log, progress=False if args.no_progress else None)
    print(json.dumps({"rows": report["rows"], "timings_seconds": report["timings_seconds"]}, indent=2))
    return 0


def _presets(args: argparse.Namespace) -> int:
    from ..gan.config import GAN_PRESETS

    for name, spec in GAN_PRESETS.items():
        print(f"{name:<14} {spec['description']}")
        print(f"{'':<14} {json.dumps(spec['gan'])}")
    return 0
