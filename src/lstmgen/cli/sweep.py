"""``lstmgen sweep CKPT``: the temperature study (lstmgen.evaluation.sweep) as a table, a JSON file and a PNG plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ..tokenizers import UNKNOWN_POLICIES
from .flags import floats

DESCRIPTION = ("Generate samples at each temperature and report the mean entropy (bits) of the reweighted "
               "next-token distribution, the model's NLL of the samples, distinct-1/2/3, repetition, and the share "
               "of generated words found in the training corpus. Writes a table, a JSON file and a PNG plot.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperatures", type=floats, default=[0.2, 0.5, 1.0, 1.2], help="comma-separated temperatures")
    parser.add_argument("--prompt", default="", help="text to start every sample from (default: a line break)")
    parser.add_argument("--length", type=int, default=300, help="tokens per sample")
    parser.add_argument("--num-samples", type=int, default=8, help="samples per temperature")
    parser.add_argument("--seed", type=int, default=1234, help="random seed (each temperature starts from it)")
    parser.add_argument("--text", metavar="FILE", help="held-out text: report the same measures for real text")
    parser.add_argument("--corpus", action="append", metavar="SOURCE",
                        help="training corpus for the known-words share (default: the sources the checkpoint records; repeatable)")
    parser.add_argument("--out", default="sweep", metavar="PREFIX", help="write PREFIX.json and PREFIX.png")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    parser.add_argument("--unknown", default="error", choices=UNKNOWN_POLICIES, help="prompt symbols the vocabulary lacks")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")


def _corpus_text(sources: Sequence[str] | None, recorded: Sequence[str], say) -> str | None:
    """The training corpus, from --corpus or the checkpoint's record; None (with a note) when unavailable."""
    from ..data.corpus import read_corpus

    if sources:
        return read_corpus(sources).text  # asked for explicitly: errors are the user's to see
    usable = [source for source in recorded if source != "<text>"]
    if not usable:
        say("note: the checkpoint records no readable corpus (trained from a string?); pass --corpus to get the known-words share")
        return None
    try:
        return read_corpus(usable).text
    except (OSError, ValueError) as error:
        say(f"note: cannot read the training corpus ({error}); pass --corpus to get the known-words share")
        return None


def run(args: argparse.Namespace) -> int:
    from ..data.corpus import read_corpus
    from ..evaluation.sweep import format_table, plot_sweep, temperature_sweep
    from ..language_model import LanguageModel
    from ..system.runtime import set_threads

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    set_threads(args.threads)
    lm = LanguageModel.load(args.checkpoint)
    corpus = _corpus_text(args.corpus, lm.extra.get("data", {}).get("sources", []), say)
    heldout = read_corpus([args.text]).text if args.text else None
    result = temperature_sweep(lm, args.temperatures, prompt=args.prompt, length=args.length, num_samples=args.num_samples,
                               seed=args.seed, corpus_text=corpus, heldout_text=heldout, unknown=args.unknown)
    print(format_table(result))
    json_path = Path(f"{args.out}.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {json_path}")
    if not args.no_plot:
        try:
            print(f"wrote {plot_sweep(result, f'{args.out}.png')}")
        except ImportError as error:
            say(f"note: no plot: {error}")
    return 0
