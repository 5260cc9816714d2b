"""The ``lstmgen`` command: one table of thin subcommands over the library, each imported only when used.

Each subcommand lives in a module here with ``configure(parser)`` (its flags, most derived from the config
dataclasses' fields), ``run(args) -> int`` (build the configs, call the library, print) and optionally a
``DESCRIPTION`` for its ``--help``. ``lstmgen
--help`` imports none of them (nor torch). Library errors (ValueError subclasses with a message that says
how to fix things) become one line on stderr and exit status 2; Ctrl-C becomes status 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..version import __version__

# name -> (module under lstmgen.cli, one-line help). The order is the order of `lstmgen --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("prepare", "tokenize a corpus of any size once into a token store that training memory-maps"),
    "train": ("train", "train a model on a corpus or a token store (or resume a run)"),
    "generate": ("generate", "generate text from a checkpoint"),
    "eval": ("evaluate", "score a text under a model (nats, bits per token, perplexity, cold start)"),
    "info": ("info", "describe a checkpoint: model, parameters, tokenizer, training"),
    "presets": ("presets", "list the presets and their settings"),
    "sweep": ("sweep", "measure what temperature does to the samples (entropy, NLL, diversity, invented words)"),
    "export": ("export", "export the one-step decoder as ONNX, checked against PyTorch with onnxruntime"),
    "serve": ("serve", "serve a checkpoint over HTTP: OpenAI-style completions and a web playground"),
    "gan": ("gan", "GAN fine-tuning on your corpus (SeqGAN or dense rewards), placed on the temperature curve; the benchmarks"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` (if any) is configured, so others are never imported."""
    parser = argparse.ArgumentParser(prog="lstmgen", description="Train recurrent (LSTM) language models and generate text.")
    parser.add_argument("--version", action="version", version=f"lstmgen {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((word for word in argv if not word.startswith("-")), None)
    for name, (module, text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".",
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        if name == chosen:
            command = importlib.import_module(f"{__name__}.{module}")
            sub.description = getattr(command, "DESCRIPTION", sub.description)
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
