"""``lstmgen export CKPT --format onnx --out model.onnx``: the one-step decoder as ONNX, checked with onnxruntime."""

from __future__ import annotations

import argparse

DESCRIPTION = ("Export the model's one-step decoder (tokens [B, 1] and state -> logits [B, V] and the next state) "
               "as an ONNX graph with a JSON sidecar (names, shapes, tokenizer), after checking it against PyTorch "
               "with onnxruntime. Needs the onnx extra: pip install 'lstmgen[onnx]'.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="onnx", help="export format; onnx is the only one so far")
    parser.add_argument("--out", default="model.onnx", help="the file to write; the sidecar goes beside it as OUT.json")
    # The defaults are lstmgen.export's DEFAULT_OPSET and TOLERANCE (a test keeps them equal), written out so
    # that --help imports neither torch nor onnx.
    parser.add_argument("--opset", type=int, default=20, help="ONNX opset (20 is torch's default)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest max abs difference from PyTorch the check accepts")


def run(args: argparse.Namespace) -> int:
    from ..export import export_checkpoint

    report = export_checkpoint(args.checkpoint, args.out, format=args.format, opset=args.opset, tolerance=args.tolerance)
    print(f"wrote {report.path} ({report.path.stat().st_size:,} bytes, opset {report.opset}) and {report.sidecar}")
    print(report.check.describe())
    return 0
