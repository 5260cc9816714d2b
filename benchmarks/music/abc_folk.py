"""The ABC bar: ``lstmgen train abc-folk --tokenizer abc`` for a time budget, then 100 samples at temperature 1.0 and
0.8: the held-out NLL per note (compare benchmarks/training/baseline_loops.py --loop char-rnn --corpus abc-folk
--tokenizer abc), the share that parse with music21 and the share whose bars add up to the meter (``lstmgen.music.abc``'s
check), beside the same shares for held-out real tunes (random tunes of the validation region).

    .venv/bin/python benchmarks/music/abc_folk.py --minutes 5 --out runs/abc-folk-5

Each temperature is sampled with generation's defaults (the musical rules on: decoding/musical_rules.py) and again
with them off (whole_bars=False, min_bars=0). The bar (issue 32): at T = 1.0, at least 97 % of samples parse and the meter share is at least 0.9x the
held-out tunes' share; at T = 0.8, at least 1.0x. Prints JSON with the machine record.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from lstmgen import LanguageModel, train
from lstmgen.data.store import TokenStore
from lstmgen.evaluation.musical import notes_in_tokens
from lstmgen.evaluation.static import evaluate
from lstmgen.music.abc import split_tunes
from lstmgen.music.measures import abc_measures
from lstmgen.system.runtime import machine_record


def heldout_tunes(run: Path, model: LanguageModel, count: int, seed: int) -> tuple[list[str], str]:
    """``count`` random whole tunes of the run's validation region (its token store), and the region's text."""
    import numpy as np

    meta = json.loads((run / "data" / "meta.json").read_text())
    start, end = meta["regions"]["val"]
    tokens = np.fromfile(run / "data" / "tokens.bin", dtype=meta["dtype"])[start:end]
    # The region's tokens as text, a blank line where a document (a tune) ends.
    pieces, current = [], []
    for token in tokens.tolist():
        if token == model.tokenizer.end_of_document:
            pieces.append(model.tokenizer.decode(current))
            current = []
        else:
            current.append(token)
    tunes = [tune.text for piece in pieces for tune in split_tunes(piece)]
    return random.Random(seed).sample(tunes, min(count, len(tunes))), "\n\n".join(pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="the training budget")
    parser.add_argument("--out", default="runs/abc-folk", help="the run directory (replaced)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--temperatures", default="1.0,0.8")
    parser.add_argument("--max-tokens", type=int, default=1000, help="tokens per sample at most (a tune ends at its end-of-document)")
    parser.add_argument("--heldout", type=int, default=100, help="held-out real tunes to check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    started = time.perf_counter()
    result = train(["abc-folk"], out_dir=out, tokenizer="abc", time_budget=args.minutes, overwrite=True, threads=args.threads,
                   seed=args.seed, log=lambda line: print(line, file=sys.stderr), progress=False)
    trained_seconds = time.perf_counter() - started
    model = LanguageModel.load(out)
    real, _ = heldout_tunes(out, model, args.heldout, args.seed)
    # The validation region scored as benchmarks/training/baseline_loops.py scores its loop (the same function, tokens, notes).
    store = TokenStore.open(out / "data")
    loss = evaluate(model.model, store.val, unknown=store.info()["val_unknown"])
    notes = notes_in_tokens(store.val, model.tokenizer)
    report = {"benchmark": "abc_folk", "minutes": args.minutes, "run": str(out), "trained_seconds": round(trained_seconds, 1),
              "steps": result.steps, "stop_reason": result.stop_reason, "vocabulary": model.tokenizer.vocab_size,
              "validation": {"nats_per_token": loss.nats, "bits_per_token": loss.bits, "tokens": loss.tokens, "notes": notes,
                             "nats_per_note": loss.nats * loss.tokens / notes if notes else None},
              "heldout": abc_measures(real), "temperatures": []}
    real_share = report["heldout"]["meter_share"]
    for temperature in (float(value) for value in args.temperatures.split(",")):
        # Generation's defaults (the musical rules: whole bars, at least 8 of them), then the same draw without the rules.
        for rules, options in (("on", {}), ("off", {"whole_bars": False, "min_bars": 0})):
            samples = model.samples("", temperature=temperature, num_samples=args.samples, max_tokens=args.max_tokens, seed=args.seed,
                                    **options)
            measured = abc_measures(samples)
            report["temperatures"].append({"temperature": temperature, "musical_rules": rules, **measured,
                                           "meter_ratio_to_heldout": measured["meter_share"] / real_share if real_share else None,
                                           "unfinished": sum(1 for sample in samples
                                                             if len(model.tokenizer.encode(sample, unknown="replace")) >= args.max_tokens),
                                           "example": samples[0]})
    report["machine"] = machine_record(args.threads or None)
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
