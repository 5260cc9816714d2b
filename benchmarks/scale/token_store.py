"""The token store at scale: `lstmgen prepare` throughput and peak memory, and a training loop's peak memory,
for generated corpora of growing size; prints JSON.

    python benchmarks/scale/token_store.py --sizes 100,1000,2000 --dir /tmp/corpora
    python benchmarks/scale/token_store.py --sizes 100 --tokenizers char,byte,word

Each corpus is Tiny Shakespeare's lines shuffled and repeated (seeded) up to SIZE megabytes. Every command
runs in its own process; its peak resident memory comes from the kernel (``wait4``'s ``ru_maxrss``). The
training loop is `lstmgen train STORE` with the defaults for a fixed number of steps, evaluated on a
validation region of 0.1% of the corpus (so that the held-out pass stays short at 2 GB); the bar is a peak
memory independent of the corpus size (within 10% from 100 MB to 2 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lstmgen.system.runtime import machine_record

SHAKESPEARE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def make_corpus(path: Path, megabytes: int, seed: int = 0) -> Path:
    if path.exists() and path.stat().st_size >= megabytes * 1_000_000:
        return path
    lines = SHAKESPEARE.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(seed)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < megabytes * 1_000_000:
            text = "".join(rng.sample(lines, len(lines)))
            handle.write(text)
            written += len(text.encode("utf-8"))
    return path


def run(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak resident memory (MB) of one command, in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    _, status, usage = os.wait4(process.pid, 0)
    output, errors = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "output": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,2000", help="corpus sizes in MB, comma-separated")
    parser.add_argument("--tokenizers", default="char,byte", help="tokenizers to prepare every size with")
    parser.add_argument("--word-size", type=int, default=100, help="also prepare this size with the word tokenizer (0 = no)")
    parser.add_argument("--train-steps", type=int, default=300, help="steps of the training loop measured on each char store")
    parser.add_argument("--dir", default=None, help="where the corpora and stores go (default: a temporary directory)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    directory = Path(args.dir or tempfile.mkdtemp(prefix="lstmgen-stores-"))
    directory.mkdir(parents=True, exist_ok=True)
    lstmgen = [sys.executable, "-m", "lstmgen"]
    rows = []
    for size in sizes:
        corpus = make_corpus(directory / f"corpus-{size}mb.txt", size)
        megabytes = corpus.stat().st_size / 1e6
        kinds = args.tokenizers.split(",") + (["word"] if size == args.word_size and "word" not in args.tokenizers else [])
        for kind in kinds:
            store = directory / f"store-{size}mb-{kind}"
            result = run([*lstmgen, "prepare", str(corpus), "--out", str(store), "--tokenizer", kind, "--val-fraction", "0.001",
                          "--no-progress"])
            row = {"corpus_mb": round(megabytes, 1), "tokenizer": kind, "prepare_seconds": result["seconds"],
                   "prepare_mb_per_s": round(megabytes / result["seconds"], 1), "prepare_peak_rss_mb": result["peak_rss_mb"]}
            if kind == "char" and args.train_steps:
                trained = run([*lstmgen, "train", str(store), "--out", str(directory / f"run-{size}mb"), "--overwrite",
                               "--max-steps", str(args.train_steps), "--eval-interval", str(args.train_steps), "--sample-length", "0",
                               "--no-progress"])
                row.update(train_seconds=trained["seconds"], train_peak_rss_mb=trained["peak_rss_mb"])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "token_store", "machine": machine_record(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
