"""``--adapt-to`` measured: a passage from another corpus, read by a model trained on one corpus; the NLL of the
passage's second half before and after the model read its first half with dynamic evaluation's updates.

    .venv/bin/python benchmarks/training/adapt_to.py --checkpoint runs/ts4 --corpus ../shared/data/nietzsche/nietzsche.txt

The passage is ``--characters`` characters from the corpus's last 10 % (held out from any model trained on it).
Prints JSON, with a sample of the adapted model's continuation of the first half.
"""

from __future__ import annotations

import argparse
import json

from lstmgen import LanguageModel
from lstmgen.data.corpus import read_corpus
from lstmgen.evaluation.dynamic import DynamicEvaluation
from lstmgen.system.runtime import machine_record, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--characters", type=int, default=20_000)
    parser.add_argument("--learning-rates", default="1e-3,3e-3,1e-2")
    parser.add_argument("--decay", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    lm = LanguageModel.load(args.checkpoint)
    text = read_corpus([args.corpus]).text
    start = int(len(text) * 0.9)
    passage = text[start : start + args.characters]
    first, second = passage[: len(passage) // 2], passage[len(passage) // 2 :]
    before = lm.evaluate(second)
    results = []
    for rate in (float(v) for v in args.learning_rates.split(",")):
        adapted = lm.adapted_to(first, DynamicEvaluation(learning_rate=rate, decay=args.decay, streams=1))
        after = adapted.evaluate(second)
        results.append({"learning_rate": rate, "decay": args.decay, "nats_after": after.nats,
                        "relative_fall": round(1 - after.nats / before.nats, 4),
                        "sample": adapted.generate(first, max_tokens=300, temperature=0.8, seed=1, unknown="replace")})
    print(json.dumps({"benchmark": "adapt_to", "checkpoint": args.checkpoint, "corpus": args.corpus, "passage_characters": len(passage),
                      "nats_before": before.nats, "unknown_symbols_in_second_half": before.unknown, "results": results,
                      "machine": machine_record(threads)}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
