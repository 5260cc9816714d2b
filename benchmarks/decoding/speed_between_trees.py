"""Generation speed of two source trees of lstmgen, side by side in one run; prints JSON.

    python benchmarks/decoding/speed_between_trees.py --tree before=../main/src --tree after=src --repeats 5
    python benchmarks/decoding/speed_between_trees.py --tree before=../main/src --tree after=src --precisions fp32,int8

For a refactor that must not slow decoding down: each tree's ``LanguageModel`` (imported in a subprocess
with that tree first on ``sys.path``) loads the same random-weight checkpoints and times what a user
runs: ``lm.generate`` for one stream and ``lm.samples`` for 64 streams, characters per second after the
first token, plus ``lstmgen --help`` start-up time. ``--wide`` adds a 2x512 model of 17,000 ids (a word model's
size; its tokens are characters, so its characters per second are tokens per second). The trees take turns within each repeat (so a busy
machine slows both alike); the JSON has the medians and the ratio of each tree to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lstmgen.system.runtime import machine_record

MODELS = {"2x512": dict(embedding_size=64, hidden_size=512, num_layers=2), "small": dict(embedding_size=64, hidden_size=128, num_layers=2)}
# A word model's size: 17,000 ids (characters standing in for words: decoding's cost depends only on the count).
WIDE = {"2x512_17000_ids": dict(embedding_size=256, hidden_size=512, num_layers=2)}
WIDE_VOCABULARY = 17_000

# Run inside each tree's interpreter: prints {"single": chars/s, "batch": chars/s}.
MEASURE = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[3]))
from lstmgen import LanguageModel
lm = LanguageModel.load(sys.argv[1], precision=sys.argv[4]) if sys.argv[4] != "fp32" else LanguageModel.load(sys.argv[1])
tokens, batch = int(sys.argv[2]), 64
prompt = "abcdefghij" * 10
def speed(samples, count):
    lm.samples(prompt, max_tokens=5, num_samples=samples, seed=0)  # warm the caches
    started = time.perf_counter()
    texts = lm.samples(prompt, max_tokens=count, num_samples=samples, seed=1)
    return sum(len(t) for t in texts) / (time.perf_counter() - started)
print(json.dumps({"single": speed(1, tokens), "batch": speed(batch, max(tokens // 4, 20))}))
"""


def save_models(directory: Path, tree: str, wide: bool = False) -> dict[str, Path]:
    """Random-weight checkpoints, written by the first tree (every tree reads the same files)."""
    code = r"""
import sys, torch
from lstmgen import CharTokenizer, ModelConfig, RecurrentLanguageModel, save_checkpoint
symbols = [chr(ord("!") + i) for i in range(64)] + list("abcdefghij")
symbols += [chr(0x4E00 + i) for i in range(int(sys.argv[3]) - len(symbols))]  # CJK ideographs up to that many ids, none in the prompt
tokenizer = CharTokenizer(symbols)
torch.manual_seed(0)
model = RecurrentLanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, **eval(sys.argv[2])))
save_checkpoint(sys.argv[1], model, tokenizer)
"""
    paths = {}
    for name, shape in {**MODELS, **(WIDE if wide else {})}.items():
        paths[name] = directory / name
        symbols = WIDE_VOCABULARY if name in WIDE else 0  # 0: the 74 symbols alone
        subprocess.run([sys.executable, "-c", code, str(paths[name]), repr(shape), str(symbols)], check=True, env=_env(tree))
    return paths


def _env(tree: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}


def measure(tree: str, checkpoint: Path, tokens: int, threads: int, precision: str = "fp32") -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", MEASURE, str(checkpoint), str(tokens), str(threads), precision], check=True,
                            capture_output=True, text=True, env=_env(tree))
    return json.loads(result.stdout)


def help_seconds(tree: str) -> float:
    started = time.perf_counter()
    # What the console script runs: import lstmgen.cli, then main().
    subprocess.run([sys.executable, "-c", "import sys; from lstmgen.cli import main; sys.exit(main(['--help']))"], check=True,
                   capture_output=True, env=_env(tree))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=SRC", help="a name and an lstmgen src/ folder (2 or more)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=600, help="characters per single-stream measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precisions", default="fp32", help="comma-separated decoding precisions to time (fp32, fp16, bf16, int8)")
    parser.add_argument("--wide", action="store_true", help=f"also a 2x512 model of {WIDE_VOCABULARY:,} ids (a word model's size)")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    runs: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    with tempfile.TemporaryDirectory() as scratch:
        checkpoints = save_models(Path(scratch), next(iter(trees.values())), args.wide)
        for _ in range(args.repeats):
            for name, tree in trees.items():
                runs[name].setdefault("help_seconds", []).append(help_seconds(tree))
                for model, path in checkpoints.items():
                    for precision in args.precisions.split(","):
                        label = model if precision == "fp32" else f"{model}_{precision}"
                        for key, value in measure(tree, path, args.tokens, args.threads, precision).items():
                            runs[name].setdefault(f"{label}_{key}_chars_per_s", []).append(value)
    medians = {name: {key: round(statistics.median(values), 3 if key == "help_seconds" else 1) for key, values in keys.items()}
               for name, keys in runs.items()}
    first = next(iter(trees))
    ratios = {name: {key: round(value / medians[first][key], 3) for key, value in keys.items()} for name, keys in medians.items()}
    print(json.dumps({"benchmark": "speed_between_trees", "machine": machine_record(args.threads), "trees": trees, "median": medians, f"ratio_to_{first}": ratios,
                      "runs": {name: {k: [round(v, 3) for v in vs] for k, vs in keys.items()} for name, keys in runs.items()}},
                     indent=1))


if __name__ == "__main__":
    main()
