"""Cold start on Tiny Shakespeare: does a prompt typed into a fresh model read like the corpus?

    python benchmarks/training/cold_start.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 2
    python benchmarks/training/cold_start.py --corpus ../shared/data/tinyshakespeare/input.txt --run runs/ts   # an existing run

Trains ``lstmgen train``'s defaults on the first 90% for the budget (unless --run names a run), then finds
every speech in the held-out 10% (a name line such as "ROMEO:" after a blank line, and what follows) and
scores the first 40 characters of each: from a fresh state (the first character given, as a prompt's
first symbol would be; the next 39 scored) and in context (the full validation pass, all the text before
them read). The bar: fresh / context <= 1.15. Also greedy and sampled continuations of "ROMEO:" and two
other names from a fresh state. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lstmgen
from lstmgen import LanguageModel, train
from lstmgen.data.batches import split_contiguous
from lstmgen.evaluation.static import evaluate
from lstmgen.system.runtime import machine_record

SPEECH = re.compile(r"(?<=\n\n)[A-Z][A-Za-z' ]*:\n")
SEGMENT = 40
PROMPTS = ("ROMEO:", "JULIET:", "KING RICHARD II:")


def measure(lm: LanguageModel, held_out: str) -> dict:
    tokens = lm.tokenizer.encode(held_out, unknown="replace")
    if len(tokens) != len(held_out):
        raise SystemExit("this benchmark needs a character-level model (one token per character)")
    positions = np.array([m.start() for m in SPEECH.finditer(held_out) if m.start() + SEGMENT <= len(held_out)])
    report = evaluate(lm.model, tokens, cold_start_positions=positions, cold_start_tokens=SEGMENT)
    cold = report.cold_start
    samples = {}
    for prompt in PROMPTS:
        samples[prompt] = {
            "greedy": lm.generate(prompt, max_tokens=60, temperature=0),
            "t0.5": lm.generate(prompt, max_tokens=120, temperature=0.5, seed=1),
        }
    greedy = samples["ROMEO:"]["greedy"]
    return {
        "val_nats": report.nats, "speeches": cold.segments, "fresh_nats": cold.fresh_nats, "context_nats": cold.context_nats,
        "ratio": cold.ratio, "bar_ratio": 1.15, "ratio_met": cold.ratio <= 1.15,
        "greedy_after_romeo_starts_with_newline": greedy.startswith("\n"), "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="Tiny Shakespeare (input.txt)")
    parser.add_argument("--run", help="measure this run directory instead of training one")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a TrainConfig field")
    args = parser.parse_args()
    text = Path(args.corpus).read_text(encoding="utf-8")
    held_out = split_contiguous(text, 0.1).val
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    result: dict = {"benchmark": "cold_start", "lstmgen": lstmgen.__version__, "corpus": args.corpus, "overrides": overrides}
    with tempfile.TemporaryDirectory() as scratch:
        run = args.run
        if run is None:
            run = str(Path(scratch) / "run")
            started = time.time()
            trained = train([args.corpus], out_dir=run, time_budget=args.minutes, threads=args.threads, progress=False,
                            sample_length=0, log=lambda line: print(line, file=sys.stderr), **overrides)
            result.update(budget_minutes=args.minutes, wall_seconds=round(time.time() - started, 1), steps=trained.steps)
        result.update(measure(LanguageModel.load(run), held_out))
    result["machine"] = machine_record()
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
