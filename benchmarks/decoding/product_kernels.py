"""The decoder's per-step products through each kernel PyTorch offers, at 1 to 16 rows; prints JSON.

    python benchmarks/decoding/product_kernels.py --threads 1

The two products of a 2x512 LSTM step ([n, 512] x [512, 2048] and [n, 1024] x [1024, 2048], random weights)
through: MKL's ``torch.mm`` on [K, N] weights (the decoder's fp32 layout), the same on [N, K] weights transposed,
one ``mm`` per row, oneDNN's fp32 linear on weights packed for it, FBGEMM's fp16 GEMM through aten's call (the
decoder's fp16) and through ``quantized.linear_dynamic_fp16`` (the same kernel behind the quantized API), and
FBGEMM's dynamic int8. Microseconds per step, medians of ``--repeats`` with the kernels alternated, and the CPU's flags.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

from lstmgen.decoding.projections import _LINEAR_INT8, _VNNI, _int8_packed, fp16_kernel
from lstmgen.system.runtime import machine_record

SHAPES = ((512, 2048), (1024, 2048))


def kernels(rows: int) -> dict:
    weights = [torch.randn(k, n) / k ** 0.5 for k, n in SHAPES]
    columns = [w.t().contiguous() for w in weights]  # [N, K]
    inputs = [torch.randn(rows, k) for k, _ in SHAPES]
    outputs = [torch.empty(rows, n) for _, n in SHAPES]
    pairs = list(zip(inputs, outputs))
    found = {
        "mm [K, N]": lambda: [torch.mm(x, w, out=o) for w, (x, o) in zip(weights, pairs)],
        "mm [N, K] transposed": lambda: [torch.mm(x, c.t(), out=o) for c, (x, o) in zip(columns, pairs)],
        "one mm per row": lambda: [[torch.mm(x[i : i + 1], w, out=o[i : i + 1]) for i in range(rows)] for w, (x, o) in zip(weights, pairs)],
    }
    if torch.backends.mkldnn.is_available():
        linear = torch.ops.mkldnn._linear_pointwise.default
        packed = [torch.ops.mkldnn._reorder_linear_weight(c, 1) for c in columns]
        found["oneDNN fp32 linear"] = lambda: [linear(x, p, None, "none", [], "") for p, x in zip(packed, inputs)]
    if fp16_kernel():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            half = [torch.fbgemm_pack_gemm_matrix_fp16(c) for c in columns]
            quantized_half = [torch.ops.quantized.linear_prepack_fp16(c, None) for c in columns]
            torch.fbgemm_linear_fp16_weight_fp32_activation(inputs[0], half[0], None)  # spends the warn-once here
        aten_half = torch.ops.aten.fbgemm_linear_fp16_weight_fp32_activation.default
        dynamic_half = torch.ops.quantized.linear_dynamic_fp16.default
        found["fp16, aten (the decoder's)"] = lambda: [aten_half(x, p, None) for p, x in zip(half, inputs)]
        found["fp16, quantized.linear_dynamic_fp16"] = lambda: [dynamic_half(x, p) for p, x in zip(quantized_half, inputs)]
    if _LINEAR_INT8 is not None:
        eight = [_int8_packed(w) for w in weights]
        found["int8, FBGEMM dynamic"] = lambda: [_LINEAR_INT8(x, p, not _VNNI) for p, x in zip(eight, inputs)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}
    with torch.inference_mode():
        for rows in (int(r) for r in args.rows.split(",")):
            found = kernels(rows)
            times: dict[str, list[float]] = {name: [] for name in found}
            calls = max(5, 200 // rows)
            for _ in range(args.repeats):  # alternated: a busy moment slows every kernel alike
                for name, run in found.items():
                    run()
                    started = time.perf_counter()
                    for _ in range(calls):
                        run()
                    times[name].append((time.perf_counter() - started) / calls * 1e6)
            results[rows] = {name: round(statistics.median(values)) for name, values in times.items()}
    print(json.dumps({"benchmark": "product_kernels", "machine": machine_record(args.threads),
                      "shapes": [f"[n, {k}] x [{k}, {n}]" for k, n in SHAPES], "microseconds_per_step": results}, indent=1))


if __name__ == "__main__":
    main()
