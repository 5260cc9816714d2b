"""The command-line arguments the experiments share (the CLI and the benchmark scripts both use these)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ..gan.config import GAN_PRESETS, GanConfig


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


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny settings that finish in a few minutes (for tests)")
    parser.add_argument("--preset", choices=sorted(GAN_PRESETS), help="GAN schedule (default oracle-2h; quick with --quick)")
    parser.add_argument("--set", action="append", default=[], type=gan_setting, metavar="FIELD=VALUE",
                        help="override one GanConfig field, e.g. --set rounds=50 (repeatable)")
    parser.add_argument("--out", default=default_out, metavar="DIR", help="output directory (run, results.json, plots)")
    parser.add_argument("--seed", type=int, help="random seed of the data and the run")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def common_changes(args: argparse.Namespace, quick: dict[str, Any]) -> dict[str, Any]:
    """The experiment-config values the common arguments set (the quick settings first, then the flags)."""
    changes: dict[str, Any] = dict(quick) if args.quick else {}
    changes["threads"] = args.threads
    changes["gan_overrides"] = {**changes.get("gan_overrides", {}), **dict(args.set)}
    if args.preset:
        changes["preset"] = args.preset
    if args.seed is not None:
        changes["seed"] = args.seed
    return changes


def integers(text: str) -> tuple[int, ...]:
    """Comma-separated integers (seeds): '88,89,90'."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one seed")
    return values


def preset_names(text: str) -> tuple[str, ...]:
    """Comma-separated GAN preset names: 'dense-oracle,oracle-2h'."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in GAN_PRESETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown GAN preset(s) {', '.join(unknown) or text!r}; known: {', '.join(GAN_PRESETS)}")
    return names
