"""Command-line flags derived from the config dataclasses' fields: names, types, choices, help.

A field ``batch_size`` becomes ``--batch-size`` (or its metadata's ``flag``), typed from its annotation,
with the field's help text, allowed values and bounds in the help. ``defaults`` None leaves every flag
unset unless given (the preset decides); otherwise each flag defaults to the field's own default.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Iterable

from ..config import AUTOMATIC_PRECISION, DECODING_PRECISIONS, describe_bounds, field_types


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """--precision of the weights token-by-token decoding reads (lstmgen.decoding.projections)."""
    parser.add_argument("--precision", default="fp32", choices=(*DECODING_PRECISIONS, AUTOMATIC_PRECISION),
                        help="weights for decoding on a CPU: fp32 as trained; fp16 (x86-64 CPUs with AVX2), bf16 (CPUs with "
                             "AVX-512-BF16 or AMX) or int8 (any x86-64 CPU) decode faster at a small measured cost in "
                             "likelihood (docs/benchmarks.md); auto picks the fastest measured for this CPU (int8 with VNNI, "
                             "fp16 with AVX2, else fp32) and says which")


def announce_precision(model: Any) -> None:
    """On stderr, the precision --precision auto chose and why (nothing when the user named one)."""
    if getattr(model, "precision_reason", None):
        print(f"lstmgen: decoding precision {model.precision}: {model.precision_reason}", file=sys.stderr)


def floats(text: str) -> list[float]:
    """Comma-separated numbers: '0.2,0.5,1.0'."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def whole_numbers(text: str) -> list[int]:
    """Comma-separated whole numbers: '2000,10000'; 'none' (or nothing) for an empty list."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers (or none), got {text!r}") from None


def token_number(text: str) -> tuple[int, float]:
    """'65=100' -> (65, 100.0): a token id and a number (logit_bias)."""
    token, separator, number = text.partition("=")
    try:
        if separator and token.strip().isdigit():
            return int(token), float(number)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected TOKEN_ID=NUMBER (e.g. 65=100), got {text!r}")


def flag_name(item: dataclasses.Field) -> str:
    return item.metadata.get("flag") or "--" + item.name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *, use_defaults: bool,
                     skip: Iterable[str] = (), only: Iterable[str] | None = None) -> list[str]:
    """Add one flag per field of ``cls`` (but ``skip``; or just ``only``); returns the field names added."""
    types = field_types(cls)
    added = []
    only = None if only is None else set(only)
    for item in dataclasses.fields(cls):
        if item.name in skip or (only is not None and item.name not in only):
            continue
        base, _ = types[item.name]
        meta = item.metadata
        text = meta.get("help", "")
        bounds = meta.get("bounds")
        if bounds:
            text += f"; {describe_bounds(bounds, base is int)}"
        if meta.get("hint"):
            text += f" ({meta['hint']})"
        options: dict[str, Any] = {"dest": item.name, "help": text}
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = None
        if base is bool:  # on by default, or unset (a plan may choose it): --name and --no-name
            both = default or not use_defaults
            options.update(action=argparse.BooleanOptionalAction if both else "store_true", default=(default if use_defaults else None))
        elif base is dict:  # --logit-bias 65=100 10=-5 (repeatable)
            options.update(type=token_number, nargs="+", action="extend", metavar="ID=BIAS", default=None)
        elif base is tuple:
            element = typing_element(cls, item.name)
            if element is float:
                options.update(type=floats, metavar="X,Y,...", default=(list(default) if use_defaults else None))
                options["help"] += " (comma-separated)"
            elif element is int:
                options.update(type=whole_numbers, metavar="N,M,...", default=(list(default) if use_defaults else None))
                options["help"] += " (comma-separated)"
            elif meta.get("many"):
                options.update(action="extend", nargs="+", metavar="WORD", default=(list(default) if use_defaults else None))
            else:
                options.update(action="append", default=(list(default) if use_defaults else None))
        else:
            options.update(type=base, default=(default if use_defaults else None))
            if meta.get("choices"):
                options["choices"] = list(meta["choices"])
        parser.add_argument(flag_name(item), **options)
        added.append(item.name)
    return added


def typing_element(cls: type, name: str) -> type:
    """The element type of a tuple[X, ...] field."""
    import typing

    return typing.get_args(typing.get_type_hints(cls)[name])[0]


def config_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The values of the given fields that were set on the command line (None = not given)."""
    values = vars(args)
    return {name: (tuple(values[name]) if isinstance(values[name], list) else values[name])
            for name in names if values.get(name) is not None}
