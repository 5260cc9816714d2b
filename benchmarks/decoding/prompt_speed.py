"""How long a prompt takes to read at each decoding precision, for a model with a large vocabulary; prints JSON.

    python benchmarks/decoding/prompt_speed.py --vocab 17000 --tokens 100 --threads 1
    python benchmarks/decoding/speed_between_trees.py ...   # (for whole generations; this one times only the prompt)

A random 2x512 LSTM over ``--vocab`` tokens (a word model's size), one ``--tokens``-token prompt read by
``Stepper.prefill`` (fp32: ``model.forward``; reduced precisions: stepped through the reduced weights), median of
``--repeats`` in milliseconds, with the CPU's flags. Run it with ``PYTHONPATH`` pointing at two trees to compare them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import lstmgen
from lstmgen.config import ModelConfig
from lstmgen.decoding import DECODING_PRECISIONS, PrecisionError, Stepper
from lstmgen.decoding.projections import at_decoding_precision, check_precision
from lstmgen.model import RecurrentLanguageModel
from lstmgen.system.runtime import machine_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=17000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RecurrentLanguageModel(ModelConfig(vocab_size=args.vocab, embedding_size=256, hidden_size=args.hidden, num_layers=2))
    prompt = torch.randint(1, args.vocab, (args.tokens,))
    milliseconds, refused = {}, {}
    for precision in DECODING_PRECISIONS:
        try:
            check_precision(precision, torch.device("cpu"))
        except PrecisionError as error:
            refused[precision] = str(error)
            continue
        Stepper(at_decoding_precision(model, precision)).prefill(prompt[:5])  # the weights laid out once
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            Stepper(at_decoding_precision(model, precision)).prefill(prompt)
            times.append(time.perf_counter() - started)
        milliseconds[precision] = round(statistics.median(times) * 1e3, 1)
    print(json.dumps({"benchmark": "prompt_speed", "lstmgen": lstmgen.__file__, "machine": machine_record(args.threads),
                      "model": f"2x{args.hidden}, vocabulary {args.vocab}", "prompt_tokens": args.tokens,
                      "median_ms": milliseconds, "refused": refused}, indent=1))


if __name__ == "__main__":
    main()
