"""Decoding speed: the library's fast path against the two usual ways, side by side in one run; prints JSON.

    nice -n 19 python benchmarks/decoding/generation_speed.py --threads 1
    python benchmarks/decoding/generation_speed.py --threads 2 --models 2x512 --repeats 5
    nice -n 19 python benchmarks/decoding/generation_speed.py --threads 1 --models 1x512,1x512-mogrifier,2x512,2x512-mogrifier

(the last: the Mogrifier LSTM's decoding, through its own hand-stepped decoder, beside the LSTM's, model by model)

For each model (untrained random weights: speed does not depend on the values) and each path it
measures characters per second for one stream and for 64 streams in one batch, and the time to the
first character after a 100-character prompt:

* ``fast``: ``lstmgen.decoding.decode`` as the library runs it (hand-stepped LSTM or Mogrifier LSTM, sampling at
  temperature 1 with a seeded generator, each token decoded to text and checked for stop strings);
* ``reference``: the same iterator with ``fast=False`` (``model.forward`` per token, oneDNN disabled);
* ``a_nn_lstm``: the obvious loop, ``model(tokens[:, None], state)`` per token with PyTorch's defaults;
* ``b_window``: the Keras text-generation example's way: re-run the last 60 characters from a zero
  state for every new character.

Paths are interleaved within each repeat, so a busy machine slows them alike; the JSON reports the
median over repeats and the ratios of ``fast`` to the others. Record results in docs/generation.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import lstmgen
from lstmgen.config import GenerationConfig, ModelConfig
from lstmgen.decoding import decode
from lstmgen.model import RecurrentLanguageModel
from lstmgen.system.runtime import machine_record
from lstmgen.tokenizers import CharTokenizer

MODELS = {
    "2x512": ModelConfig(vocab_size=65, embedding_size=64, hidden_size=512, num_layers=2),
    "small": ModelConfig(vocab_size=65, embedding_size=64, hidden_size=128, num_layers=2),  # the `small` preset
    "1x512": ModelConfig(vocab_size=65, embedding_size=64, hidden_size=512, num_layers=1),  # the budget default's shape
}
# Each model again as a Mogrifier LSTM (lstmgen's default rounds and rank): "2x512-mogrifier", ...
MODELS.update({f"{name}-mogrifier": ModelConfig.from_dict({**config.to_dict(), "cell": "mogrifier"}) for name, config in list(MODELS.items())})
WINDOW = 60
PROMPT = 100
TOKENIZER = CharTokenizer([chr(ord("!") + i) for i in range(64)])  # 65 ids: the models' vocabulary


def _sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


def library(model: RecurrentLanguageModel, batch: int, tokens: int, fast: bool) -> tuple[float, float]:
    """(characters per second after the first, seconds to the first) through lstmgen.decoding.decode."""
    prompt = torch.randint(1, 65, (PROMPT,), generator=torch.Generator().manual_seed(0)).tolist()
    config = GenerationConfig(max_tokens=tokens + 1, num_samples=batch, seed=1)
    generator = torch.Generator().manual_seed(1)
    started = time.perf_counter()
    steps = decode(model, TOKENIZER, prompt, config, generator, fast=fast)
    next(steps)
    first = time.perf_counter()
    count = sum(1 for _ in steps)
    return count * batch / (time.perf_counter() - first), first - started


@torch.inference_mode()
def obvious(model: RecurrentLanguageModel, batch: int, tokens: int) -> float:
    """(a): step nn.LSTM one token at a time with PyTorch's default settings."""
    generator = torch.Generator().manual_seed(1)
    state = model.init_state(batch)
    token = torch.ones(batch, dtype=torch.long)
    logits, state = model(token[:, None], state)
    started = time.perf_counter()
    for _ in range(tokens):
        token = _sample(logits[:, -1], generator)
        logits, state = model(token[:, None], state)
    return tokens * batch / (time.perf_counter() - started)


@torch.inference_mode()
def window(model: RecurrentLanguageModel, batch: int, tokens: int) -> float:
    """(b): re-run the last 60 characters from a zero state for every new character."""
    generator = torch.Generator().manual_seed(1)
    text = torch.randint(1, 65, (batch, WINDOW), generator=generator)
    started = time.perf_counter()
    for _ in range(tokens):
        logits, _ = model(text[:, -WINDOW:], model.init_state(batch))
        text = torch.cat([text, _sample(logits[:, -1], generator)[:, None]], dim=1)
    return tokens * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--models", default="2x512,small", help="comma-separated: " + ",".join(MODELS))
    parser.add_argument("--batch", type=int, default=64, help="streams for the batched measurement")
    parser.add_argument("--tokens", type=int, default=400, help="characters per stream for the fast and reference paths")
    parser.add_argument("--slow-tokens", type=int, default=60, help="characters per stream for (a)")
    parser.add_argument("--window-tokens", type=int, default=8, help="characters per stream for (b)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}
    for name in args.models.split(","):
        model = RecurrentLanguageModel(MODELS[name]).eval()
        runs: dict[str, list[float]] = {}

        def record(key: str, value: float) -> None:
            runs.setdefault(key, []).append(value)

        for _ in range(args.repeats):
            for batch, label in ((1, "single"), (args.batch, f"batch{args.batch}")):
                speed, first = library(model, batch, args.tokens if batch == 1 else max(args.tokens // 4, 20), fast=True)
                record(f"fast_{label}_chars_per_s", speed)
                if batch == 1:
                    record("fast_first_char_ms_after_100_char_prompt", first * 1000)
                speed, _ = library(model, batch, max(args.tokens // 4, 20), fast=False)
                record(f"reference_{label}_chars_per_s", speed)
                record(f"a_nn_lstm_{label}_chars_per_s", obvious(model, batch, args.slow_tokens if batch == 1 else max(args.slow_tokens // 4, 5)))
                record(f"b_window_{label}_chars_per_s", window(model, batch, args.window_tokens if batch == 1 else max(args.window_tokens // 4, 2)))
        medians = {key: round(statistics.median(values), 1) for key, values in runs.items()}
        for label in ("single", f"batch{args.batch}"):
            fast = medians[f"fast_{label}_chars_per_s"]
            for other in ("reference", "a_nn_lstm", "b_window"):
                medians[f"ratio_fast_to_{other}_{label}"] = round(fast / medians[f"{other}_{label}_chars_per_s"], 1)
        results[name] = {"model": MODELS[name].to_dict(), "median": medians, "runs": {k: [round(v, 1) for v in vs] for k, vs in runs.items()}}
    print(json.dumps({
        "benchmark": "generation_speed", "lstmgen": lstmgen.__version__, "machine": machine_record(args.threads),
        "prompt_chars": PROMPT, "window": WINDOW, "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
