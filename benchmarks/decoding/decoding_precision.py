"""Decoding speed and likelihood at each weight precision (fp32, fp16, bf16, int8), side by side in one run; prints JSON.

    python benchmarks/decoding/decoding_precision.py --checkpoint runs/large-ts --corpus ../shared/data/tinyshakespeare/input.txt

For a trained model (``--checkpoint``; without one, a random 2x512 character model, for speed only):

* **one stream**: characters per second of ``LanguageModel.generate`` (600 characters after a 100-character
  prompt, temperature 1, seeded), for each precision, interleaved over ``--repeats``, median;
* **the single-stream bound**: steps per second of the decoder's matrix products alone at each precision (the
  weights read once per character, nothing else): no single stream decodes faster, whatever the loop around it;
  the JSON gives each precision's rate as a fraction of it;
* **64 streams**: characters per second of ``LanguageModel.samples`` (64 samples together; also after the
  prompt, which is read once as one stream before the 64 split: the rate of the steps themselves), and the fraction
  of the fp32 matrix-multiply bound measured in the same run: the per-token multiply-adds of the model
  (layer 0's recurrent product, the fused products of the layers above, the output layer) at the machine's
  fp32 GFLOP/s, which is measured both for those very shapes ([64, K] x [K, N], timed alone right after each
  repeat's 64 streams: the bound; the fraction is the median of the repeats' own ratios, since a shared machine's
  speed moves between repeats) and for a large square product (the machine's peak, for reference). The
  **interleaved** fraction times the 64 streams' steps and the bound's products in alternating chunks of 10 steps
  within one generation (``interleaved_fraction``): the least noisy of the three on a shared machine;
* **likelihood**: the validation text (the last 10% of ``--corpus``) read through the same stepped decoder
  at each precision, in 64 parallel segments each warmed up by the same decoder on the 256 tokens before it,
  in nats per character; the change from fp32 is the cost of the precision. (The model's full pass in fp32
  is reported beside it: the two protocols agree to a few thousandths.)

Every figure carries the CPU's flags: bf16 runs in hardware only with AVX-512-BF16 or AMX, fp16 with AVX2 and F16C, int8 everywhere.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

import lstmgen
from lstmgen import LanguageModel
from lstmgen.config import ModelConfig
from lstmgen.data.corpus import read_corpus
from lstmgen.decoding import Stepper
from lstmgen.decoding.fast_lstm import FastLSTMDecoder
from lstmgen.decoding.projections import DECODING_PRECISIONS, PrecisionError, at_decoding_precision, check_precision
from lstmgen.model import RecurrentLanguageModel
from lstmgen.system.runtime import machine_record
from lstmgen.tokenizers import CharTokenizer

PROMPT_CHARS = 100
WARMUP = 256


def per_token_macs(config: ModelConfig) -> int:
    """Multiply-adds of one decoding step: h @ W_hh0, the fused [x, h] @ W of each later layer, the output layer."""
    hidden, layers = config.hidden_size, config.num_layers
    return hidden * 4 * hidden + (layers - 1) * 2 * hidden * 4 * hidden + hidden * config.vocab_size


def step_shapes(config: ModelConfig) -> list[tuple[int, int]]:
    hidden = config.hidden_size
    return [(hidden, 4 * hidden)] + [(2 * hidden, 4 * hidden)] * (config.num_layers - 1) + [(hidden, config.vocab_size)]


def gflops(shapes: list[tuple[int, int]], rows: int, seconds: float = 1.0) -> float:
    """fp32 GFLOP/s of [rows, K] x [K, N] products of these shapes, timed alone, back to back."""
    operands = [(torch.randn(rows, k), torch.randn(k, n), torch.empty(rows, n)) for k, n in shapes]
    flops = sum(2 * rows * k * n for k, n in shapes)
    with torch.inference_mode():
        for x, w, out in operands * 5:
            torch.mm(x, w, out=out)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for x, w, out in operands:
                torch.mm(x, w, out=out)
            count += 1
        return flops * count / (time.perf_counter() - started) / 1e9


def single_stream(lm: LanguageModel, prompt: str, tokens: int) -> float:
    lm.generate(prompt, max_tokens=5, seed=0)  # the weights laid out for this precision, once
    started = time.perf_counter()
    text = lm.generate(prompt, max_tokens=tokens, temperature=1.0, seed=1)
    return len(text) / (time.perf_counter() - started)


def many_streams(lm: LanguageModel, prompt: str, streams: int, tokens: int) -> tuple[float, float]:
    """(characters/s of the whole call, characters/s after the prompt): the second subtracts a call that only
    reads the prompt and draws one token per stream (the prompt is one stream, stepped before the 64 split)."""
    lm.samples(prompt, max_tokens=2, num_samples=streams, seed=0)
    started = time.perf_counter()
    lm.samples(prompt, max_tokens=1, temperature=1.0, num_samples=streams, seed=1)
    prompt_seconds = time.perf_counter() - started
    started = time.perf_counter()
    texts = lm.samples(prompt, max_tokens=tokens, temperature=1.0, num_samples=streams, seed=1)
    seconds = time.perf_counter() - started
    characters = sum(map(len, texts))
    return characters / seconds, characters * (tokens - 1) / tokens / max(seconds - prompt_seconds, 1e-9)


def interleaved_fraction(lm: LanguageModel, prompt: str, streams: int, tokens: int, shapes: list[tuple[int, int]], chunk: int = 10) -> float:
    """The fp32 bound's time over the 64 streams' time for the same steps, the two timed in alternating chunks.

    The streams' steps (``LanguageModel.stream_batch``, what ``samples`` iterates, after the prompt and the first
    token) run ``chunk`` at a time; after each chunk, as many steps of the bound: the step's [streams, K] x [K, N]
    products alone through ``torch.mm``. Both see the machine in the same state, so a shared machine's speed,
    which moves by a quarter within seconds, cancels out of the ratio.
    """
    operands = [(torch.randn(streams, k), torch.randn(k, n), torch.empty(streams, n)) for k, n in shapes]

    def bound_steps(count: int) -> None:
        with torch.inference_mode():
            for _ in range(count):
                for x, w, out in operands:
                    torch.mm(x, w, out=out)

    bound_steps(5)
    steps = lm.stream_batch(prompt, max_tokens=tokens, temperature=1.0, num_samples=streams, seed=1)
    next(steps)  # the prompt and the first token
    generation = bound = 0.0
    finished = False
    while not finished:
        count, started = 0, time.perf_counter()
        for _ in range(chunk):
            if next(steps, None) is None:
                finished = True
                break
            count += 1
        generation += time.perf_counter() - started
        started = time.perf_counter()
        bound_steps(count)
        bound += time.perf_counter() - started
    return bound / generation


def products_bound(lm: LanguageModel, streams: int, seconds: float = 1.0) -> float:
    """Steps per second of the decoder's matrix products alone (nothing else of a step), at the model's precision:
    the most characters per second ``streams`` streams could decode if everything else cost nothing."""
    decoder = FastLSTMDecoder(lm.decoding_model, streams)
    views = decoder._views(streams)

    def products() -> None:
        decoder.hidden0(views.h0, views.gates, accumulate=True)
        for layer in range(1, decoder.layers):
            decoder.layer_projections[layer - 1](views.inputs[layer - 1], views.gates)
        decoder.output(views.top_hidden, views.logits)

    with torch.inference_mode():
        for _ in range(20):
            products()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            products()
            count += 1
        return streams * count / (time.perf_counter() - started)


def stepped_nats(lm: LanguageModel, tokens: np.ndarray, precision: str, segments: int = 64) -> float:
    """Mean NLL (nats/token) of tokens[WARMUP + 1:], read in ``segments`` parallel streams by the stepped decoder."""
    ids = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    length = (len(ids) - WARMUP - 1) // segments
    starts = WARMUP + torch.arange(segments) * length  # each segment predicts ids[start + 1 .. start + length]
    stepper = Stepper(at_decoding_precision(lm.model, precision), ())
    prompts = torch.stack([ids[s - WARMUP : s + 1] for s in starts.tolist()])  # [S, WARMUP + 1], ends at the segment's first token
    total = 0.0
    logits = stepper.prefill(prompts, segments)  # [S, V]: predicts ids[start + 1]
    with torch.inference_mode():
        for offset in range(1, length + 1):
            targets = ids[starts + offset]
            total += float(torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum"))
            if offset < length:
                logits = stepper.step(targets)
    return total / (segments * length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="a trained model (default: random 2x512 character model, speed only)")
    parser.add_argument("--corpus", default=None, help="text whose last 10%% is the validation text (needs --checkpoint)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=600, help="characters of the single stream")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--stream-tokens", type=int, default=150, help="characters of each of the many streams")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        base = LanguageModel.load(args.checkpoint)
    else:
        tokenizer = CharTokenizer([chr(ord("!") + i) for i in range(64)])
        base = LanguageModel(RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_size=64, hidden_size=512,
                                                                num_layers=2)), tokenizer)
    config = base.model.config
    if config.cell != "lstm":  # its bound times the LSTM decoder's own products
        parser.error(f"this benchmark reads LSTM checkpoints (this one is a {config.cell}); time a Mogrifier LSTM's decoding with "
                     "benchmarks/decoding/generation_speed.py --models 1x512,1x512-mogrifier, or generate --precision")
    precisions, refused = [], {}
    for precision in DECODING_PRECISIONS:
        try:
            check_precision(precision, torch.device("cpu"))
            precisions.append(precision)
        except PrecisionError as error:
            refused[precision] = str(error)
    models = {precision: base.with_precision(precision) for precision in precisions}
    text = read_corpus([args.corpus]).text if args.corpus else None
    prompt = text[:PROMPT_CHARS] if text else "".join(base.tokenizer.token_text(1 + i % (base.tokenizer.vocab_size - 1)) for i in range(PROMPT_CHARS))
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved: a busy moment slows every precision alike
        for precision, lm in models.items():
            runs.setdefault(f"{precision}_single_chars_per_s", []).append(single_stream(lm, prompt, args.tokens))
            whole, after_prompt = many_streams(lm, prompt, args.streams, args.stream_tokens)
            runs.setdefault(f"{precision}_{args.streams}_streams_chars_per_s", []).append(whole)
            runs.setdefault(f"{precision}_{args.streams}_streams_after_prompt_chars_per_s", []).append(after_prompt)
            runs.setdefault(f"{precision}_single_products_bound_chars_per_s", []).append(products_bound(lm, 1))
            if precision == "fp32":  # the bound beside the rate in every repeat: the machine's speed moves between repeats
                runs.setdefault("fp32_gflops_at_step_shapes", []).append(gflops(step_shapes(config), args.streams, seconds=0.5))
                achieved = 2 * per_token_macs(config) / 1e9
                runs.setdefault("fraction_of_step_shape_bound", []).append(achieved * whole / runs["fp32_gflops_at_step_shapes"][-1])
                runs.setdefault("after_prompt_fraction_of_step_shape_bound", []).append(
                    achieved * after_prompt / runs["fp32_gflops_at_step_shapes"][-1])
                runs.setdefault("interleaved_fraction_of_step_shape_bound", []).append(
                    interleaved_fraction(lm, prompt, args.streams, args.stream_tokens, step_shapes(config)))
    median = {key: round(statistics.median(values), 1) for key, values in runs.items()}
    for precision in precisions:
        median[f"{precision}_single_fraction_of_products_bound"] = round(
            median[f"{precision}_single_chars_per_s"] / median[f"{precision}_single_products_bound_chars_per_s"], 3)
    for precision in precisions[1:]:
        median[f"{precision}_over_fp32_single"] = round(median[f"{precision}_single_chars_per_s"] / median["fp32_single_chars_per_s"], 2)
    macs = per_token_macs(config)
    peak = gflops([(2048, 2048)], 2048, seconds=2.0)
    achieved = 2 * macs * median[f"fp32_{args.streams}_streams_chars_per_s"] / 1e9
    steady = 2 * macs * median[f"fp32_{args.streams}_streams_after_prompt_chars_per_s"] / 1e9
    # The fractions are medians of each repeat's own ratio (the rate over the bound timed right after it).
    matmul = {"per_token_multiply_adds": macs, "weight_bytes_fp32": 4 * macs,
              "fp32_gflops_at_step_shapes": median.pop("fp32_gflops_at_step_shapes"), "fp32_gflops_square_2048": round(peak, 1),
              f"fp32_{args.streams}_streams_gflops": round(achieved, 1),
              "fraction_of_step_shape_bound": round(statistics.median(runs["fraction_of_step_shape_bound"]), 3),
              "fraction_of_square_peak": round(achieved / peak, 3),
              f"fp32_{args.streams}_streams_after_prompt_gflops": round(steady, 1),
              "after_prompt_fraction_of_step_shape_bound": round(statistics.median(runs["after_prompt_fraction_of_step_shape_bound"]), 3),
              "interleaved_fraction_of_step_shape_bound": round(statistics.median(runs["interleaved_fraction_of_step_shape_bound"]), 3)}
    for key in ("fraction_of_step_shape_bound", "after_prompt_fraction_of_step_shape_bound", "interleaved_fraction_of_step_shape_bound"):
        median.pop(key)
    likelihood = None
    if text and args.checkpoint:
        tokens = base.tokenizer.encode(text[int(len(text) * 0.9):])  # the usual split's validation text
        likelihood = {"full_pass_fp32_nats": round(base.evaluate(text[int(len(text) * 0.9):]).nats, 5)}
        for precision in precisions:
            likelihood[f"stepped_{precision}_nats"] = round(stepped_nats(base, tokens, precision, args.streams), 5)
        for precision in precisions[1:]:
            likelihood[f"{precision}_minus_fp32"] = round(likelihood[f"stepped_{precision}_nats"] - likelihood["stepped_fp32_nats"], 5)
    print(json.dumps({
        "benchmark": "decoding_precision", "lstmgen": lstmgen.__version__, "machine": machine_record(args.threads),
        "model": config.to_dict(), "checkpoint": args.checkpoint, "refused": refused, "median": median, "matmul": matmul,
        "likelihood": likelihood, "runs": {k: [round(v, 3 if "fraction" in k else 1) for v in vs] for k, vs in runs.items()},
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
