"""Peak memory of a tiny char model on a corpus of many distinct symbols (docs/reliability.md, "Size bounds").

    PYTHONPATH=src python benchmarks/scale/wide_vocabulary.py DISTINCT LENGTH STEPS RUN_DIR
    PYTHONPATH=src python benchmarks/scale/wide_vocabulary.py 50000 300000 20 /tmp/wide   # the documented run

The text holds DISTINCT code points from U+4E00 on (each once, then random ones up to LENGTH characters);
a 1-layer LSTM (embedding 8, hidden 16) trains for STEPS steps with one evaluation at the end. Prints JSON
with the peak resident memory (ru_maxrss) and the time.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time

from lstmgen import train
from lstmgen.system.runtime import machine_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("distinct", type=int, help="distinct code points in the text")
    parser.add_argument("length", type=int, help="characters of the text")
    parser.add_argument("steps", type=int, help="training steps")
    parser.add_argument("run_dir", help="the run's directory (overwritten)")
    args = parser.parse_args()
    distinct, length, steps, out = args.distinct, args.length, args.steps, args.run_dir
    points = [c for c in range(0x4E00, 0x4E00 + 2 * distinct) if not 0xD800 <= c < 0xE000][:distinct]
    rng = random.Random(0)
    text = "".join(chr(points[i]) if i < distinct else chr(rng.choice(points)) for i in range(length))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.time()
    train(text=text, out_dir=out, preset="small", tokenizer="char", model=dict(embedding_size=8, hidden_size=16, num_layers=1),
          batch_size=8, seq_length=32, max_steps=steps, eval_interval=steps, sample_length=0, threads=1, progress=False,
          log=lambda line: None, overwrite=True)
    with open(f"{out}/last/config.json", encoding="utf-8") as handle:
        vocabulary = json.load(handle)["model"]["vocab_size"]
    print(json.dumps({"distinct": distinct, "length": length, "steps": steps, "vocabulary": vocabulary,
                      "seconds": round(time.time() - started, 1), "rss_before_training_mib": round(before / 1024),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "machine": machine_record()}))


if __name__ == "__main__":
    main()
