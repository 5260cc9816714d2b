"""Generation speed of a 2×512 MIDI model (miditok REMI vocabulary) in one stream: events per second, through the
same decoding core as every lstmgen model (the hand-stepped LSTM, sampling at temperature 1, each event decoded
to text). Untrained random weights: speed does not depend on their values.

    .venv/bin/python benchmarks/music/midi_speed.py --threads 2 --events 2000 --repeats 3

The bar (issue 32): at least 500 events/s on 2 cores. Prints JSON with the machine record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from lstmgen import LanguageModel, ModelConfig, RecurrentLanguageModel
from lstmgen.system.runtime import machine_record, set_threads
from lstmgen.tokenizers.midi import MidiTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--events", type=int, default=2000, help="events generated per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    tokenizer = MidiTokenizer()  # no end-of-document id: every run generates all its events
    torch.manual_seed(0)
    model = RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_size=args.hidden_size,
                                               hidden_size=args.hidden_size, num_layers=args.num_layers))
    lm = LanguageModel(model, tokenizer)
    rates = []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        events = 0
        for step in lm.decode("Bar_None", max_tokens=args.events, temperature=1.0, seed=repeat):  # a bar starts a piece
            events += sum(token is not None for token in step.tokens)
        rates.append(events / (time.perf_counter() - started))
    print(json.dumps({"benchmark": "midi_speed", "model": f"{args.num_layers}x{args.hidden_size}", "vocabulary": tokenizer.vocab_size,
                      "events_per_repeat": args.events, "events_per_second": statistics.median(rates), "all": rates,
                      "machine": machine_record(threads)}, indent=1))


if __name__ == "__main__":
    main()
