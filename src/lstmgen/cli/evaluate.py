"""``lstmgen eval CKPT FILE``: a full pass over FILE with carried state, and the cold-start measure."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = ("Full pass over FILE with carried state: nats/token, bits/token and perplexity; and the "
               "cold-start measure (line starts scored from a fresh state beside the same tokens in context).")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="text file to score (- for stdin)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of FILE")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = automatic)")


def run(args: argparse.Namespace) -> int:
    from ..data.corpus import read_corpus
    from ..language_model import LanguageModel
    from ..system.runtime import set_threads

    set_threads(args.threads)
    model = LanguageModel.load(args.checkpoint)
    report = model.evaluate(read_corpus([args.file], encoding=args.encoding).text)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"{report.nats:.4f} nats/token")
    print(f"{report.bits:.4f} bits/token")
    print(f"perplexity {report.perplexity:.4f}")
    print(f"{report.tokens:,} tokens scored ({model.tokenizer.kind} tokenizer), {report.unknown} unknown")
    if report.bits_per_character is not None:  # the scale every tokenizer shares
        print(f"{report.bits_per_character:.4f} bits/char ({report.characters:,} characters), {report.bits_per_byte:.4f} bits/byte")
    if report.cold_start is not None:
        cold = report.cold_start
        print(f"cold start   {cold.fresh_nats:.4f} nats/token from a fresh state vs {cold.context_nats:.4f} in context "
              f"(x{cold.ratio:.3f}; {cold.segments} segments, first token given, next {cold.segment_tokens - 1} scored)")
    return 0
