"""``lstmgen gan ...``: the SeqGAN experiments (lstmgen.experiments) and the GAN schedules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DESCRIPTION = ("GAN training of an lstmgen LSTM: SeqGAN's Monte-Carlo rollouts (Yu et al. 2017) or dense per-prefix rewards "
               "(de Masson d'Autume et al. 2019), on your own corpus (train, report) or the benchmarks (oracle, coco); "
               "every run is placed on its MLE model's temperature curve.")


def configure(parser: argparse.ArgumentParser) -> None:
    from ..experiments import seqgan_coco, seqgan_oracle
    from ..experiments.arguments import gan_setting, integers
    from ..tokenizers import UNKNOWN_POLICIES

    commands = parser.add_subparsers(dest="gan_command", required=True, metavar="GAN_COMMAND")
    train = commands.add_parser("train", help="adversarial fine-tuning of a trained model on your corpus, then the report",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("corpus", nargs="*", metavar="CORPUS", help="files, directories, globs or - (as lstmgen train reads them)")
    train.add_argument("--init-from", metavar="CKPT", help="the trained model to start from (a run directory or checkpoint)")
    train.add_argument("--out", default="runs/gan", metavar="DIR", help="run directory (last/ is the first seed's generator)")
    train.add_argument("--resume", metavar="DIR", help="continue the gan train run in DIR exactly where it stopped")
    train.add_argument("--overwrite", action="store_true", help="replace a GAN run already in --out")
    train.add_argument("--preset", default="dense-text", help="GAN schedule (lstmgen gan presets)")
    train.add_argument("--method", choices=("seqgan", "dense"), help="dense rewards (default) or SeqGAN's rollouts")
    train.add_argument("--sequence-length", type=int, help="tokens per sequence, read after each line break (default 64)")
    train.add_argument("--rounds", type=int, help="generator updates")
    train.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE",
                       help="override one GanConfig field (repeatable)")
    train.add_argument("--seeds", type=integers, default=(88, 89, 90), metavar="S,...",
                       help="one run per seed from the same model; the report gives mean ± sd over them")
    train.add_argument("--unknown", default="error", choices=UNKNOWN_POLICIES, help="corpus symbols the model's vocabulary lacks")
    train.add_argument("--encoding", default="utf-8", help="text encoding of the corpus files")
    train.add_argument("--glob", default="*.txt", help="file pattern when a CORPUS is a directory")
    train.add_argument("--no-report", action="store_true", help="skip the report at the end (lstmgen gan report RUN makes it later)")
    _report_arguments(train)
    train.set_defaults(handler=_train)
    report = commands.add_parser("report", help="the comparison with cooling the starting model, for a gan train run",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    report.add_argument("run", metavar="RUN", help="a gan train run directory")
    _report_arguments(report)
    report.set_defaults(handler=_report)
    oracle = commands.add_parser("oracle", help="the synthetic oracle benchmark (NLL-oracle, NLL-test, temperature curves)",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    seqgan_oracle.add_arguments(oracle)
    oracle.set_defaults(handler=_oracle)
    coco = commands.add_parser("coco", help="word-level MLE and SeqGAN on COCO captions, BLEU and self-BLEU",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    seqgan_coco.add_arguments(coco)
    coco.set_defaults(handler=_coco)
    presets = commands.add_parser("presets", help="list the GAN schedules (presets)")
    presets.set_defaults(handler=_presets)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from .flags import floats

    parser.add_argument("--temperatures", type=floats, default=[0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4], metavar="T,...",
                        help="the report's temperature sweep")
    parser.add_argument("--report-samples", type=int, default=500, help="samples per temperature for BLEU-5 and self-BLEU-5")
    parser.add_argument("--reverse-temperatures", type=floats, default=[0.8, 1.0, 1.2], metavar="T,...",
                        help="temperatures at which a reverse LM is trained on samples (empty: none)")
    parser.add_argument("--reverse-samples", type=int, default=2000, help="samples a reverse LM trains on")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _report_settings(args: argparse.Namespace) -> dict:
    if args.report_samples < 2 or args.reverse_samples < 10:
        raise ValueError(f"--report-samples must be at least 2 and --reverse-samples at least 10 "
                         f"(got {args.report_samples} and {args.reverse_samples})")
    if not args.temperatures or min(args.temperatures) <= 0 or not any(abs(t - 1.0) < 1e-9 for t in args.temperatures):
        raise ValueError(f"--temperatures must be positive and include 1.0 (the GAN's own point), got {args.temperatures}")
    return {"temperatures": tuple(args.temperatures), "samples": args.report_samples,
            "reverse_temperatures": tuple(args.reverse_temperatures), "reverse_samples": args.reverse_samples}


def _train(args: argparse.Namespace) -> int:
    from ..gan.fine_tune import fine_tune

    overrides = dict(args.set)
    for name in ("method", "sequence_length", "rounds"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    settings = _report_settings(args)
    report = fine_tune(args.corpus, init_from=args.init_from, out_dir=args.out, preset=args.preset, overrides=overrides,
                       seeds=args.seeds, resume=args.resume, overwrite=args.overwrite, unknown=args.unknown, encoding=args.encoding,
                       glob=args.glob, log=_log, progress=False if args.no_progress else None, threads=args.threads,
                       report=not args.no_report, report_settings=settings)
    return _print_report(report, args.resume or args.out)


def _report(args: argparse.Namespace) -> int:
    from ..gan.report import report_run

    report = report_run(args.run, log=_log, threads=args.threads, **_report_settings(args))
    return _print_report(report, args.run)


def _print_report(report: dict, run: str) -> int:
    if report.get("status") == "interrupted":
        print(f"interrupted in {report['run']} ({report['phase']}); continue with lstmgen gan train --resume {run}", file=sys.stderr)
        return 130
    if "curves" in report:
        print((Path(run) / "report.md").read_text(encoding="utf-8"))
        print(f"report: {run}/report.json, report.md, curves.png; generate with: lstmgen generate {run}", file=sys.stderr)
    return 0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _oracle(args: argparse.Namespace) -> int:
    from ..experiments.seqgan_oracle import from_arguments, run_oracle_benchmark

    report = run_oracle_benchmark(from_arguments(args), args.out, resume=args.resume, log=_log,
                                  progress=False if args.no_progress else None)
    if report.get("status") == "done":
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
        print(f"full results: {args.out}/results.json, results.md, temperature_curves.png", file=sys.stderr)
        return 0
    return _interrupted(report, args.out)


def _coco(args: argparse.Namespace) -> int:
    from ..experiments.seqgan_coco import from_arguments, run_coco_benchmark

    report = run_coco_benchmark(from_arguments(args), args.out, resume=args.resume, log=_log,
                                progress=False if args.no_progress else None)
    if report.get("status") == "done":
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
        return 0
    return _interrupted(report, args.out)


def _interrupted(report: dict, out: str) -> int:
    """An interrupted protocol (Ctrl-C saved the run it was in): say where, and how to go on; exit 130 as gan train does."""
    print(json.dumps(report, indent=2))
    print(f"interrupted in phase {report.get('phase')!r}; continue with the same command and --resume (--out {out})", file=sys.stderr)
    return 130


def _presets(args: argparse.Namespace) -> int:
    from ..gan.config import GAN_PRESETS

    for name, spec in GAN_PRESETS.items():
        print(f"{name:<14} {spec['description']}")
        print(f"{'':<14} {json.dumps(spec['gan'])}")
    return 0
