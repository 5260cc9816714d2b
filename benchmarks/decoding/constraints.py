"""Constrained decoding: how often the samples satisfy the constraint, and what it costs per token; prints JSON.

    nice -n 19 python benchmarks/decoding/constraints.py --threads 1
    python benchmarks/decoding/constraints.py --char-run runs/shakespeare --bpe-run runs/shakespeare-bpe

On a character model and a BPE model (random weights in the "small" shape unless ``--char-run`` /
``--bpe-run`` name trained checkpoints; the tokenizers are fitted on ``--corpus``, digits added to the
character one, which the date needs), side by side in one run:

* ``date``: 100 samples (one batch) under ``--regex '[A-Z][a-z]+ [0-9]{1,2}, [0-9]{4}'``; the share that
  match it as a whole (bar: 100/100), their finish reasons, a few of them;
* ``acrostic``: 10 samples under ``--line-starts ABCDEFGHIJ``: 100 lines, the share starting with their letter
  (bar: 100/100);
* ``cost``: seconds per decoding step with each constraint (date, acrostic, must-include, bad-words) against
  the same decoding unconstrained for the same number of steps, at 1 and at 100 streams, the automaton already
  built (its one-time build is reported apart, as ``build_ms``). Bar: constrained <= 1.5x unconstrained per token.

Runs are interleaved within each repeat, so a busy machine slows both alike; medians over ``--repeats``.
Record the results in docs/generation.md ("Constraints").
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch

import lstmgen
from lstmgen import LanguageModel
from lstmgen.config import GenerationConfig, ModelConfig
from lstmgen.decoding import decode
from lstmgen.decoding.automaton import _AUTOMATA
from lstmgen.decoding.constraints import build_constraint
from lstmgen.model import RecurrentLanguageModel
from lstmgen.system.runtime import machine_record
from lstmgen.tokenizers import CharTokenizer

DATE = r"[A-Z][a-z]+ [0-9]{1,2}, [0-9]{4}"
LETTERS = "ABCDEFGHIJ"
SHAPE = dict(embedding_size=64, hidden_size=128, num_layers=2)  # the `small` preset


def load(run: str | None, kind: str, corpus: str, bpe_vocab: int) -> tuple[torch.nn.Module, object]:
    """(model, tokenizer): a trained checkpoint's, or random weights over a tokenizer fitted on the corpus."""
    if run:
        model = LanguageModel.load(run)
        return model.decoding_model, model.tokenizer
    if kind == "char":
        tokenizer = CharTokenizer.fit(corpus + "0123456789")
    else:
        from lstmgen.tokenizers.subword import SubwordTokenizer

        tokenizer = SubwordTokenizer.train("bpe", [corpus], vocab_size=bpe_vocab)
    torch.manual_seed(0)
    return RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, **SHAPE)).eval(), tokenizer


def run(model, tokenizer, config: GenerationConfig, seed: int = 1) -> tuple[list[str], list[str | None], int, float]:
    """(texts, finish reasons, steps, seconds) of one decode from a line break."""
    prompt = tokenizer.encode("\n").tolist()
    texts, reasons, steps = [""] * config.num_samples, [None] * config.num_samples, 0
    started = time.perf_counter()
    for record in decode(model, tokenizer, prompt, config, torch.Generator().manual_seed(seed), prompt_text="\n"):
        steps += 1
        for row, text in enumerate(record.texts):
            texts[row] += text
            reasons[row] = record.finish_reasons[row] or reasons[row]
    return texts, reasons, steps, time.perf_counter() - started


def quality(model, tokenizer, tokens: int) -> dict:
    texts, reasons, steps, _ = run(model, tokenizer, GenerationConfig(regex=DATE, max_tokens=tokens, num_samples=100))
    dates = {"matching": sum(bool(re.fullmatch(DATE, text)) for text in texts), "samples": len(texts),
             "finish_reasons": {reason: reasons.count(reason) for reason in set(reasons)}, "steps": steps, "examples": texts[:5]}
    texts, reasons, steps, _ = run(model, tokenizer, GenerationConfig(line_starts=LETTERS, max_tokens=tokens * 10, num_samples=10))
    lines = [line for text in texts for line in text.split("\n")[: len(LETTERS)]]
    starting = sum(all(line[:1] == letter for line, letter in zip(text.split("\n"), LETTERS)) for text in texts)
    acrostic = {"lines": len(lines), "lines_starting_right": sum(line[:1] == LETTERS[i % len(LETTERS)] for i, line in enumerate(lines)),
                "samples_all_right": starting, "finish_reasons": {reason: reasons.count(reason) for reason in set(reasons)},
                "steps": steps, "example": texts[0][:400]}
    return {"date": dates, "acrostic": acrostic}


COSTS = {
    "date": dict(regex=DATE),
    "acrostic": dict(line_starts=LETTERS),
    "must_include": dict(must_include=("love", "night")),
    "bad_words": dict(bad_words=("the", "and", "love")),
}


def cost(model, tokenizer, tokens: int, batches: list[int], repeats: int) -> dict:
    """Seconds per step, constrained and not, for the same steps; the automaton's one-time build apart."""
    results = {}
    for name, settings in COSTS.items():
        for batch in batches:
            constrained = GenerationConfig(max_tokens=tokens * (10 if name == "acrostic" else 1), num_samples=batch, **settings)
            _AUTOMATA.pop(tokenizer, None)  # the build, timed once from nothing
            started = time.perf_counter()
            build_constraint(tokenizer, constrained, batch, tokenizer.encode("\n").tolist(), "\n")
            build_ms = (time.perf_counter() - started) * 1000
            per_step: dict[str, list[float]] = {"constrained": [], "unconstrained": []}
            steps = None
            for repeat in range(repeats + 1):  # the first is a warm-up
                _, _, steps, seconds = run(model, tokenizer, constrained, seed=repeat)
                plain = GenerationConfig(max_tokens=steps, num_samples=batch)
                _, _, plain_steps, plain_seconds = run(model, tokenizer, plain, seed=repeat)
                if repeat:
                    per_step["constrained"].append(seconds / steps)
                    per_step["unconstrained"].append(plain_seconds / plain_steps)
            medians = {key: statistics.median(values) for key, values in per_step.items()}
            results[f"{name}_batch{batch}"] = {
                "build_ms": round(build_ms, 1), "steps_last_run": steps,
                "constrained_us_per_step": round(medians["constrained"] * 1e6, 1),
                "unconstrained_us_per_step": round(medians["unconstrained"] * 1e6, 1),
                "ratio": round(medians["constrained"] / medians["unconstrained"], 3),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="../shared/data/tinyshakespeare/input.txt", help="text the tokenizers are fitted on")
    parser.add_argument("--corpus-chars", type=int, default=300_000, help="characters of the corpus to fit on")
    parser.add_argument("--char-run", default=None, help="a trained character checkpoint (default: random weights)")
    parser.add_argument("--bpe-run", default=None, help="a trained BPE checkpoint (default: random weights)")
    parser.add_argument("--bpe-vocab", type=int, default=2048, help="BPE vocabulary fitted when --bpe-run is not given")
    parser.add_argument("--tokens", type=int, default=60, help="max tokens per date sample (acrostic: 10x)")
    parser.add_argument("--batches", default="1,100", help="comma-separated stream counts for the cost")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the cost; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = Path(args.corpus).read_text(encoding="utf-8")[: args.corpus_chars]
    results = {}
    for kind, checkpoint in (("char", args.char_run), ("bpe", args.bpe_run)):
        model, tokenizer = load(checkpoint, kind, corpus, args.bpe_vocab)
        with torch.inference_mode():
            results[kind] = {"checkpoint": checkpoint or f"random weights {SHAPE}", "vocab_size": tokenizer.vocab_size,
                             **quality(model, tokenizer, args.tokens),
                             "cost": cost(model, tokenizer, args.tokens, [int(b) for b in args.batches.split(",")], args.repeats)}
    ratios = [entry["ratio"] for kind in results.values() for entry in kind["cost"].values()]
    print(json.dumps({
        "benchmark": "constraints", "lstmgen": lstmgen.__version__, "machine": machine_record(args.threads),
        "pattern": DATE, "letters": LETTERS,
        "bars": {"date_matching": {kind: f"{r['date']['matching']}/{r['date']['samples']}" for kind, r in results.items()},
                 "acrostic_lines": {kind: f"{r['acrostic']['lines_starting_right']}/{r['acrostic']['lines']}" for kind, r in results.items()},
                 "worst_cost_ratio": max(ratios), "cost_bar": 1.5},
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
