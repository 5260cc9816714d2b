"""The GPU path in under 5 minutes: train the default and the tf-tutorial model on Tiny Shakespeare at each
precision for a fixed budget, then generate; prints JSON.

    python benchmarks/scale/gpu_smoke.py --corpus ../shared/data/tinyshakespeare/input.txt --seconds 30

For each (preset, precision): tokens/s, the validation loss reached, the peak GPU memory, and generation
speed (characters/s) for 1 and 256 streams; precisions this GPU cannot run are reported as refused, with
lstmgen's message. Then the checkpoint is loaded on the CPU (a GPU-trained checkpoint must load anywhere).
CI never needs a GPU; without one this script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from lstmgen import ConfigError, LanguageModel, train
from lstmgen.system.runtime import machine_record

PRESETS = ("default", "tf-tutorial")
PRECISIONS = ("fp32", "bf16", "fp16")


def generation_speed(lm: LanguageModel, streams: int, tokens: int) -> float:
    lm.samples("ROMEO:", max_tokens=4, num_samples=streams, seed=0)
    torch.cuda.synchronize()
    started = time.perf_counter()
    texts = lm.samples("ROMEO:", max_tokens=tokens, num_samples=streams, seed=1)
    torch.cuda.synchronize()
    return sum(len(text) for text in texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seconds", type=float, default=30.0, help="training budget per (preset, precision)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_smoke", "status": "no CUDA GPU visible to PyTorch: nothing measured"}))
        sys.exit(2)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for preset in PRESETS:
            for precision in PRECISIONS:
                out = Path(scratch) / f"{preset}-{precision}"
                torch.cuda.reset_peak_memory_stats()
                try:
                    result = train([args.corpus], out_dir=out, preset=preset, device="cuda", precision=precision,
                                   time_budget=args.seconds / 60, eval_interval=0, max_epochs=None, sample_length=0,
                                   progress=False, log=lambda line: None)
                except ConfigError as error:
                    rows.append({"preset": preset, "precision": precision, "status": f"refused: {error}"})
                    continue
                record = result.history[-1]
                lm = LanguageModel.load(out, device="cuda")
                rows.append({
                    "preset": preset, "precision": precision, "status": "ok", "steps": result.steps,
                    "tokens_per_second": record["tokens_per_second"], "val_nats": record.get("val_nats"),
                    "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                    "generate_1_stream_chars_per_s": round(generation_speed(lm, 1, 300)),
                    "generate_256_streams_chars_per_s": round(generation_speed(lm, 256, 100)),
                    "loads_on_cpu": LanguageModel.load(out, device="cpu").model.output.weight.device.type == "cpu",
                })
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "gpu_smoke", "gpu": torch.cuda.get_device_name(), "machine": machine_record(),
                      "cudnn": torch.backends.cudnn.version(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
