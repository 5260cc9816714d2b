"""Peak memory of a tiny char model on a corpus of many distinct symbols (docs/reliability.md, "Size bounds").

    PYTHONPATH=src python benchmarks/wide_vocabulary.py DISTINCT LENGTH STEPS RUN_DIR
    PYTHONPATH=src python benchmarks/wide_vocabulary.py 50000 300000 20 /tmp/wide   # the documented run

The text holds DISTINCT code points from U+4E00 on (each once, then random ones up to LENGTH characters);
a 1-layer LSTM (embedding 8, hidden 16) trains for STEPS steps with one evaluation at the end. Prints JSON
with the peak resident memory (ru_maxrss) and the time.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time

from lstmgen import train


def main() -> None:
    distinct, length, steps, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
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
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
