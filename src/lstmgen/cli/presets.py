"""``lstmgen presets``: the named settings, as stored in lstmgen.training.presets."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    """No flags: the presets are printed as JSON."""


def run(args: argparse.Namespace) -> int:
    from ..training.presets import PRESETS

    for name, spec in PRESETS.items():
        print(f"{name:<16} {spec['description']}")
        print(f"{'':<16} model {json.dumps(spec['model'])}")
        print(f"{'':<16} train {json.dumps(spec['train'])}")
    return 0
