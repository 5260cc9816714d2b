"""Training throughput as a fraction of the machine's fp32 matrix-multiply peak, measured in the same run; prints JSON.

    python benchmarks/training/training_throughput.py --corpus ../shared/data/tinyshakespeare/input.txt
    python benchmarks/training/training_throughput.py --corpus ../shared/data/tinyshakespeare/input.txt --profile

For each model shape (the default's 1x384 at batch 32 x 50 in fp32 and in bf16, and a 2x512 at 64 x 100) it
trains ``--steps`` real steps through ``lstmgen.train`` and reads the tokens per second the trainer itself
reports (its clock covers the steps, not the evaluation). A step of an LSTM language model costs about
3 x 2 x (multiply-adds per token) floating-point operations per token (forward, and the backward pass's two
products per weight), so FLOP/s = tokens/s x 6 x multiply-adds; the peak is a 2048 x 2048 fp32 product timed
right before, with the same threads. ``--profile`` adds where the default's step loop spends its time
(cProfile, the 12 largest own-time entries): what is Python around the step and what is PyTorch's kernels.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time

import torch

import lstmgen
from lstmgen import train
from lstmgen.config import ModelConfig
from lstmgen.system.runtime import cpu_summary, machine_record
from lstmgen.training.budget import per_token_multiply_adds

SHAPES = {
    "1x384 fp32 (b32 x 50)": (dict(embedding_size=64, hidden_size=384, num_layers=1), dict(batch_size=32, seq_length=50)),
    "1x384 bf16 (b32 x 50)": (dict(embedding_size=64, hidden_size=384, num_layers=1), dict(batch_size=32, seq_length=50, precision="bf16")),
    "2x512 fp32 (b64 x 100)": (dict(embedding_size=128, hidden_size=512, num_layers=2), dict(batch_size=64, seq_length=100)),
    "2x512 bf16 (b64 x 100)": (dict(embedding_size=128, hidden_size=512, num_layers=2), dict(batch_size=64, seq_length=100, precision="bf16")),
}


def peak_gflops(seconds: float = 2.0, size: int = 2048) -> float:
    a, b, out = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    for _ in range(3):
        torch.mm(a, b, out=out)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(a, b, out=out)
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - started) / 1e9


def measure(corpus: str, model: dict, settings: dict, steps: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        result = train([corpus], out_dir=out, preset="cpu-4min", model={**model, "dropout": 0.0}, max_steps=steps,
                       eval_interval=steps, sample_length=0, progress=False, log=lambda line: None, **settings)
    return result.history[-1]["tokens_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name, (model, settings) in SHAPES.items():
        if settings.get("precision") == "bf16" and "avx512_bf16" not in cpu_summary() and "amx_bf16" not in cpu_summary():
            continue
        peak = peak_gflops()
        rate = measure(args.corpus, model, {**settings, "threads": args.threads}, args.steps)
        macs = per_token_multiply_adds(ModelConfig(vocab_size=65, **model))
        achieved = rate * 6 * macs / 1e9
        results[name] = {"tokens_per_second": round(rate), "multiply_adds_per_token": macs, "gflops": round(achieved, 1),
                         "fp32_peak_gflops": round(peak, 1), "fraction_of_fp32_peak": round(achieved / peak, 3)}
        print(json.dumps({name: results[name]}), file=sys.stderr)
    profile = None
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        measure(args.corpus, *SHAPES["1x384 fp32 (b32 x 50)"], args.steps)
        profiler.disable()
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(12)
        profile = buffer.getvalue().splitlines()
    print(json.dumps({
        "benchmark": "training_throughput", "lstmgen": lstmgen.__version__,
        "machine": machine_record(args.threads), "steps": args.steps,
        "results": results, "profile": profile,
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
