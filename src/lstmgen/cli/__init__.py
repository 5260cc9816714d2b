"""The ``lstmgen`` command: one table of thin subcommands over the library, each imported only when used.

Each subcommand lives in a module here with ``configure(parser)`` (its flags, most derived from the config
dataclasses' fields), ``run(args) -> int`` (build the configs, call the library, print) and optionally a
``DESCRIPTION`` for its ``--help``. The table says which commands read a checkpoint: those get the CKPT
argument first. ``lstmgen
--help`` imports none of them (nor torch). Library errors (ValueError subclasses with a message that says
how to fix things) become one line on stderr and exit status 2; Ctrl-C becomes status 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NamedTuple, Sequence

from ..version import __version__


class Command(NamedTuple):
    module: str  # under lstmgen.cli
    help: str  # one line
    reads_checkpoint: bool = False  # takes CKPT, a checkpoint or run directory, as its first argument


# The order is the order of `lstmgen --help`.
COMMANDS: dict[str, Command] = {
    "prepare": Command("prepare", "tokenize a corpus of any size once into a token store that training memory-maps"),
    "train": Command("train", "train a model on a corpus or a token store (or resume a run)"),
    "generate": Command("generate", "generate text from a checkpoint", reads_checkpoint=True),
    "eval": Command("evaluate", "score a text under a model (nats, bits per token, perplexity, cold start)", reads_checkpoint=True),
    "info": Command("info", "describe a checkpoint: model, parameters, tokenizer, training", reads_checkpoint=True),
    "presets": Command("presets", "list the presets and their settings"),
    "sweep": Command("sweep", "measure what temperature does to the samples (entropy, NLL, diversity, invented words)",
                     reads_checkpoint=True),
    "export": Command("export", "export the one-step decoder as ONNX, checked against PyTorch with onnxruntime", reads_checkpoint=True),
    "serve": Command("serve", "serve a checkpoint over HTTP: OpenAI-style completions and a web playground", reads_checkpoint=True),
    "gan": Command("gan", "GAN fine-tuning on your corpus (SeqGAN or dense rewards), placed on the temperature curve; the benchmarks"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` (if any) is configured, so others are never imported."""
    parser = argparse.ArgumentParser(prog="lstmgen", description="Train recurrent (LSTM) language models and generate text.")
    parser.add_argument("--version", action="version", version=f"lstmgen {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((word for word in argv if not word.startswith("-")), None)
    for name, entry in COMMANDS.items():
        sub = subparsers.add_parser(name, help=entry.help, description=entry.help[:1].upper() + entry.help[1:] + ".",
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if name == chosen:
            command = importlib.import_module(f"{__name__}.{entry.module}")
            sub.description = getattr(command, "DESCRIPTION", sub.description)
            if entry.reads_checkpoint:
                sub.add_argument("checkpoint", metavar="CKPT", help="checkpoint or run directory (a run directory means its best/)")
            if hasattr(command, "run"):
                sub.set_defaults(handler=command.run)  # a command with subcommands (gan) sets one handler for each
            command.configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lstmgen generate ... | head`
        return 0
    except (ValueError, OSError) as error:
        print(f"lstmgen: error: {error}", file=sys.stderr)
        return 2
