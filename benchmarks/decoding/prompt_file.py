"""Many prompts at once: ``lstmgen generate --prompt-file`` against one ``--prompt`` call per prompt, in one process.

    .venv/bin/python benchmarks/decoding/prompt_file.py --checkpoint runs/demo        # 64 prompts, 256 tokens each
    .venv/bin/python benchmarks/decoding/prompt_file.py --prompts 8 --length 32       # a quick check that it runs

Both ways run the CLI's own entry point (``lstmgen.cli.main``) in this process, on the threads it picks, with
the same prompts and seeds (prompt i: seed S + i, which is what ``--prompt-file --seed S`` gives it), and
``--output`` to a file, so neither pays for a terminal. The separate calls load the checkpoint each time,
as separate commands do; the API rows take that away: ``LanguageModel.generate`` per prompt against one
``generate_many``. Prints JSON: seconds and generated tokens per second each way, and their ratios (the
issue's bar: the prompt file at least 4x the separate calls). Without ``--checkpoint``, a checkpoint with
random weights of the ``large`` preset's shape (2x512; speed does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import torch

import lstmgen
from lstmgen import CharTokenizer, GenerationConfig, LanguageModel, ModelConfig, RecurrentLanguageModel, save_checkpoint
from lstmgen.cli import main as cli
from lstmgen.data.corpus import default_corpus_text
from lstmgen.system.runtime import generation_threads, machine_record
from lstmgen.training.presets import PRESETS

STARTS = ["The ", "In the ", "A ", "It was ", "When ", "Some ", "This ", "For "]


def random_checkpoint(directory: Path) -> Path:
    tokenizer = CharTokenizer.fit(default_corpus_text())
    torch.manual_seed(0)
    model = RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, **PRESETS["large"]["model"]))
    return save_checkpoint(directory / "large", model, tokenizer)


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli(argv)
    if code:
        raise SystemExit(f"lstmgen {' '.join(argv)} failed with {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a run or checkpoint (default: random weights of the large preset's shape)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--length", type=int, default=256, help="tokens per sample")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = Path(args.checkpoint) if args.checkpoint else random_checkpoint(scratch)
        model = LanguageModel.load(checkpoint)
        prompts = [STARTS[i % len(STARTS)] for i in range(args.prompts)]
        prompts = [p for p in prompts if not model.tokenizer.unknown_symbols(p)] or ["\n"] * args.prompts
        prompts = (prompts * args.prompts)[: args.prompts]
        prompt_file = scratch / "prompts.txt"
        prompt_file.write_text("".join(p.replace("\n", "\\n") + "\n" for p in prompts), encoding="utf-8")
        common = ["--length", str(args.length), "--temperature", "0.8"]

        quiet(["generate", str(checkpoint), "--prompt", prompts[0], "--length", "16", "--output", str(scratch / "warm.jsonl")])
        started = time.perf_counter()
        for index, prompt in enumerate(prompts):
            quiet(["generate", str(checkpoint), "--prompt", prompt, *common, "--seed", str(args.seed + index),
                   "--output", str(scratch / f"one-{index}.jsonl")])
        separate = time.perf_counter() - started
        started = time.perf_counter()
        quiet(["generate", str(checkpoint), "--prompt-file", str(prompt_file), *common, "--seed", str(args.seed),
               "--output", str(scratch / "all.jsonl")])
        together = time.perf_counter() - started
        same = [json.loads(line)["text"] for line in (scratch / "all.jsonl").read_text().splitlines()] == \
               [json.loads((scratch / f"one-{i}.jsonl").read_text())["text"] for i in range(len(prompts))]

        configs = [GenerationConfig(max_tokens=args.length, temperature=0.8, seed=args.seed + i) for i in range(len(prompts))]
        generation_threads(1)
        started = time.perf_counter()
        for prompt, config in zip(prompts, configs):
            model.generate(prompt, config)
        api_separate = time.perf_counter() - started
        generation_threads(len(prompts))
        started = time.perf_counter()
        model.generate_many(prompts, configs)
        api_together = time.perf_counter() - started

    tokens = len(prompts) * args.length
    print(json.dumps({
        "benchmark": "prompt_file", "lstmgen": lstmgen.__version__,
        "model": {"checkpoint": args.checkpoint or "random weights, large preset (2x512)", **model.info()["model"]},
        "prompts": len(prompts), "tokens_per_sample": args.length,
        "cli": {"separate_prompt_calls_s": round(separate, 3), "prompt_file_s": round(together, 3),
                "separate_tokens_per_s": round(tokens / separate, 1), "prompt_file_tokens_per_s": round(tokens / together, 1),
                "ratio": round(separate / together, 2), "same_texts": same},
        "api": {"generate_each_s": round(api_separate, 3), "generate_many_s": round(api_together, 3),
                "ratio": round(api_separate / api_together, 2)},
        "bar": {"ratio_at_least": 4.0, "met": separate / together >= 4.0},
        "machine": machine_record(),
    }, indent=2))


if __name__ == "__main__":
    main()
