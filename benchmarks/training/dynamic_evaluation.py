"""Dynamic evaluation against static evaluation of one checkpoint, side by side, with the windowed measure.

    .venv/bin/python benchmarks/training/dynamic_evaluation.py --checkpoint runs/ts4 --corpus ../shared/data/tinyshakespeare/input.txt

The held-out text is the corpus's last ``--val-fraction`` (the split lstmgen train validates on). Dynamic
evaluation's learning rate and decay are tuned on its first ``--tune-fraction`` (a grid; every setting tried is
printed), then three figures are given on the rest of it, which the tuning never saw, and on the whole of it:
static (carried state), dynamic (the tuned settings) and windowed (random windows from a fresh state, nanoGPT's
measure). Wall times are measured in the same process, static then dynamic. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

from lstmgen import LanguageModel
from lstmgen.data.corpus import read_corpus
from lstmgen.evaluation.dynamic import tune
from lstmgen.evaluation.static import windowed_evaluate
from lstmgen.system.runtime import machine_record, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--tune-fraction", type=float, default=0.25, help="share of the held-out text the settings are tuned on")
    parser.add_argument("--method", default="rms", choices=("rms", "sgd"))
    parser.add_argument("--segment", type=int, default=50)
    parser.add_argument("--streams", type=int, default=16, help="parts of the text read side by side (evaluation.dynamic)")
    parser.add_argument("--learn-fraction", type=float, default=0.75, help="the share of segments learned from (1: every one)")
    parser.add_argument("--learning-rates", default="1e-4,3e-4,1e-3,3e-3")
    parser.add_argument("--decays", default="0,1e-3,1e-2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lowercase", action="store_true", help="lower-case the corpus (a model trained with --lowercase)")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    lm = LanguageModel.load(args.checkpoint)
    text = read_corpus([args.corpus]).text
    text = text.lower() if args.lowercase else text
    held_out = text[int(len(text) * (1 - args.val_fraction)):]
    cut = int(len(held_out) * args.tune_fraction)
    tuning, rest = held_out[:cut], held_out[cut:]
    settings, tried = tune(lm.model, lm.tokenizer.encode(tuning, unknown="replace"),
                           learning_rates=[float(v) for v in args.learning_rates.split(",")],
                           decays=[float(v) for v in args.decays.split(",")], method=args.method, segment_length=args.segment,
                           streams=args.streams, learn_fraction=args.learn_fraction)
    results = {}
    for name, part in (("rest", rest), ("whole", held_out)):
        started = time.perf_counter()
        static = lm.evaluate(part)
        static_seconds = time.perf_counter() - started
        started = time.perf_counter()
        dynamic = lm.evaluate(part, dynamic=settings)
        dynamic_seconds = time.perf_counter() - started
        windowed = windowed_evaluate(lm.model, lm.tokenizer.encode(part, unknown="replace"))
        results[name] = {
            "characters": len(part), "static": static.to_dict(), "dynamic": dynamic.to_dict(), "windowed": windowed.to_dict(),
            "static_seconds": round(static_seconds, 2), "dynamic_seconds": round(dynamic_seconds, 2),
            "time_ratio": round(dynamic_seconds / static_seconds, 2),
            "relative_gain_bits_per_char": round(1 - dynamic.bits_per_character / static.bits_per_character, 4),
        }
    print(json.dumps({"benchmark": "dynamic_evaluation", "checkpoint": args.checkpoint, "corpus": args.corpus,
                      "tuned": {"learning_rate": settings.learning_rate, "decay": settings.decay, "protocol": settings.protocol,
                                "on_characters": len(tuning), "tried": tried},
                      "results": results, "machine": machine_record(threads)}, indent=1))


if __name__ == "__main__":
    main()
