"""Several tokenizers on one corpus at the same wall-clock budget, compared in bits per character.

    python benchmarks/training/tokenizer_comparison.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 5
    python benchmarks/training/tokenizer_comparison.py --corpus ../shared/data/coco-captions/train.txt \
        --val ../shared/data/coco-captions/test.txt --prompt "a " --minutes 5

Nats per token cannot be compared across tokenizers (a bpe token holds several characters); the total
negative log-likelihood of the same held-out text over its number of characters can. Each tokenizer trains
the same preset for the same minutes, one after the other in this process (so they share the machine's
conditions); the best validation pass of each is reported with its bits per character and per byte, and a
short sample from a fresh state so the numbers can be read beside the text.

A word model scores a held-out word it never saw as the single unknown symbol, which costs less than
spelling it: its bits per character is then a lower bound, and ``val_unknown`` says how many tokens that is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import lstmgen
from lstmgen import LanguageModel, train
from lstmgen.system.runtime import machine_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="text file")
    parser.add_argument("--val", default=None, help="validation file (default: the last 10%% of the corpus)")
    parser.add_argument("--tokenizers", default="char,word,byte,bpe", help="comma-separated (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget of each tokenizer")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--vocab-size", type=int, default=4096, help="for bpe and unigram")
    parser.add_argument("--prompt", default="ROMEO:", help="prompt of the sample printed beside each result")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a TrainConfig field, or model.FIELD for ModelConfig (repeatable), as train_quality.py")
    args = parser.parse_args()
    train_overrides, model_overrides = {}, {}
    for item in args.set:
        key, value = item.split("=", 1)
        parsed = json.loads(value) if value[:1] in "0123456789-[{tfn" else value
        (model_overrides if key.startswith("model.") else train_overrides)[key.removeprefix("model.")] = parsed
    results = []
    for kind in args.tokenizers.split(","):
        with tempfile.TemporaryDirectory() as out:
            started = time.time()
            result = train([args.corpus], val=args.val, out_dir=out, preset=args.preset, tokenizer=kind,
                           vocab_size=args.vocab_size, time_budget=args.minutes, threads=args.threads, progress=False,
                           sample_length=0, log=lambda line: None, model=model_overrides, **train_overrides)
            wall = time.time() - started
            model = LanguageModel.load(out)
            sample = model.generate(args.prompt, max_tokens=400, temperature=0.8, seed=0)[:300]
            info = model.info()
        best = result.best_val or {}
        results.append({
            "tokenizer": kind, "vocab_size": info["model"]["vocab_size"], "parameters": info["parameters"],
            "steps": result.steps, "wall_seconds": round(wall, 1),
            "tokens_per_second": round(sum(r["tokens_per_second"] for r in result.history) / max(len(result.history), 1)),
            "best_val_bits_per_char": best.get("val_bits_per_char"), "best_val_bits_per_byte": best.get("val_bits_per_byte"),
            "best_val_nats_per_token": best.get("val_nats"), "best_at_step": best.get("step"),
            "val_tokens": info["training"]["data"].get("val_tokens"),
            "val_unknown": info["training"]["data"].get("val_unknown"), "sample": args.prompt + sample,
        })
        print(json.dumps(results[-1]), file=sys.stderr)  # progress: one line per tokenizer as it finishes
    print(json.dumps({
        "benchmark": "tokenizer_comparison", "lstmgen": lstmgen.__version__,
        "machine": machine_record(), "corpus": args.corpus, "val": args.val,
        "preset": args.preset, "budget_minutes": args.minutes, "results": results,
        "overrides": {**train_overrides, **{f"model.{k}": v for k, v in model_overrides.items()}},
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
