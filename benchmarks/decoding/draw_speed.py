"""The cost of drawing one token per row, by draw and by shape, side by side in one run; prints JSON.

    python benchmarks/decoding/draw_speed.py --threads 1

For logits [B, V] at the shapes generation meets (one and 64 streams of a character model, V = 66; one and
64 of a word or BPE model, V = 5,000 and 17,000), microseconds per call of:

* ``multinomial``: generation's draw (the softmax included), which picks one of the two below by size;
* ``race``: the exponential race (one Exp(1) value per id), what ``torch.multinomial(p, 1)`` computes;
* ``inverse_cdf``: one uniform per row against a float64 cumulative sum;
* ``torch.multinomial`` on the softmax, for reference;
* ``sample_categorical``: the two-level draw SeqGAN's rollouts use.

The draws are alternated over ``--repeats`` and the medians reported, with the CPU's flags.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from lstmgen.decoding.choosers import RACE_LIMIT, inverse_cdf, multinomial, race, sample_categorical
from lstmgen.system.runtime import machine_record

SHAPES = ((1, 66), (8, 66), (64, 66), (1, 5000), (64, 5000), (1, 17000), (64, 17000))


def microseconds(draw, budget: float) -> float:
    for _ in range(3):
        draw()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget:
        draw()
        count += 1
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="per draw, shape and repeat")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    results = {}
    with torch.inference_mode():
        for rows, vocab in SHAPES:
            logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(rows + vocab)) * 3
            draws = {
                "multinomial": lambda: multinomial(logits, generator),
                "race": lambda: race(logits.softmax(-1), generator),
                "inverse_cdf": lambda: inverse_cdf(logits.softmax(-1), generator),
                "torch.multinomial": lambda: torch.multinomial(logits.softmax(-1), 1, generator=generator),
                "sample_categorical": lambda: sample_categorical(logits, generator),
            }
            timings: dict[str, list[float]] = {name: [] for name in draws}
            for _ in range(args.repeats):
                for name, draw in draws.items():
                    timings[name].append(microseconds(draw, args.seconds))
            median = {name: round(statistics.median(values), 1) for name, values in timings.items()}
            median["race_over_inverse_cdf"] = round(median["race"] / median["inverse_cdf"], 2)
            median["multinomial_uses"] = "race" if rows * vocab <= RACE_LIMIT else "inverse_cdf"
            results[f"{rows}x{vocab}"] = median
    print(json.dumps({"benchmark": "draw_speed", "machine": machine_record(args.threads), "unit": "microseconds per call, softmax included",
                      "shapes": results}, indent=1))


if __name__ == "__main__":
    main()
