"""``lstmgen gan ...``: thin subcommands over lstmgen.gan (oracle benchmark, COCO captions, presets)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from .config import GAN_PRESETS, GanConfig


def gan_setting(text: str) -> tuple[str, Any]:
    """FIELD=VALUE for a GanConfig field; VALUE is JSON when it parses as JSON, else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    names = {f.name for f in dataclasses.fields(GanConfig)}
    if key not in names:
        raise argparse.ArgumentTypeError(f"GanConfig has no field {key!r}; known: {', '.join(sorted(names))}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny settings that finish in a few minutes (for tests)")
    parser.add_argument("--preset", choices=sorted(GAN_PRESETS), help="GAN schedule (default oracle-2h; quick with --quick)")
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE",
                        help="override one GanConfig field, e.g. --set rounds=50 (repeatable)")
    parser.add_argument("--out", default=default_out, metavar="DIR", help="output directory (run, results.json, plots)")
    parser.add_argument("--seed", type=int, help="random seed of the data and the run")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_gan_command(subparsers) -> None:
    parser = subparsers.add_parser("gan", help="SeqGAN: adversarial training, the oracle benchmark, COCO captions",
                                   description="SeqGAN (Yu et al. 2017) with an lstmgen LSTM as the generator.")
    commands = parser.add_subparsers(dest="gan_command", required=True, metavar="GAN_COMMAND")

    oracle = commands.add_parser("oracle", help="the synthetic oracle benchmark (NLL-oracle, NLL-test, temperature curves)",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _common(oracle, "runs/seqgan-oracle")
    oracle.add_argument("--oracle", default="../shared/data/seqgan-oracle/oracle_params.npz", help="oracle_params.npz")
    oracle.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    oracle.set_defaults(handler=_oracle)

    coco = commands.add_parser("coco", help="word-level MLE and SeqGAN on COCO captions, BLEU and self-BLEU",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _common(coco, "runs/seqgan-coco")
    coco.add_argument("--data", default="../shared/data/coco-captions", help="directory with train.txt and test.txt")
    coco.add_argument("--samples", type=int, help="generated captions per BLEU figure")
    coco.set_defaults(handler=_coco)

    presets = commands.add_parser("presets", help="list the GAN schedules")
    presets.set_defaults(handler=_presets)


def _log(args: argparse.Namespace):
    return lambda line: print(line, file=sys.stderr, flush=True)


def _oracle(args: argparse.Namespace) -> int:
    from .oracle_benchmark import QUICK, OracleBenchmarkConfig, run_oracle_benchmark

    base = QUICK if args.quick else OracleBenchmarkConfig()
    changes: dict[str, Any] = {"oracle_path": args.oracle, "threads": args.threads, "gan_overrides": dict(args.set)}
    if args.preset:
        changes["preset"] = args.preset
    if args.seed is not None:
        changes["seed"] = args.seed
    config = dataclasses.replace(base, **changes)
    report = run_oracle_benchmark(config, args.out, resume=args.resume, log=_log(args), progress=not args.no_progress and None)
    if report.get("status") == "done":
        print(json.dumps({k: report[k] for k in ("oracle_self_nll", "table", "seqgan_position", "mle_early_stopped_epoch",
                                                  "timings_seconds", "total_seconds")}, indent=2))
        print(f"full results: {args.out}/results.json, results.md, temperature_curves.png", file=sys.stderr)
    else:
        print(json.dumps(report, indent=2))
    return 0


def _coco(args: argparse.Namespace) -> int:
    from .coco import QUICK, CocoBenchmarkConfig, run_coco_benchmark

    base = QUICK if args.quick else CocoBenchmarkConfig()
    changes: dict[str, Any] = {"data_dir": args.data, "threads": args.threads,
                               "gan_overrides": {**base.gan_overrides, **dict(args.set)}}
    if args.preset:
        changes["preset"] = args.preset
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.samples is not None:
        changes["samples"] = args.samples
    report = run_coco_benchmark(dataclasses.replace(base, **changes), args.out, log=_log(args),
                                progress=not args.no_progress and None)
    print(json.dumps({"rows": report["rows"], "timings_seconds": report["timings_seconds"]}, indent=2))
    return 0


def _presets(args: argparse.Namespace) -> int:
    for name, spec in GAN_PRESETS.items():
        print(f"{name:<14} {spec['description']}")
        print(f"{'':<14} {json.dumps(spec['gan'])}")
    return 0
