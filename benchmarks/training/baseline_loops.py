"""The plain loops lstmgen is measured against, on the same tokens and scored by the same full pass; prints JSON.

    python benchmarks/training/baseline_loops.py --loop char-rnn --corpus ../shared/data/tinyshakespeare/input.txt \
        --minutes 1,2,4,8,15,30
    python benchmarks/training/baseline_loops.py --loop word-language-model --corpus ../shared/data/coco-captions/train.txt \
        --val ../shared/data/coco-captions/test.txt --minutes 5

* ``char-rnn``: the loop everybody writes first (Karpathy's char-rnn defaults): embedding 128 → 2×128 LSTM →
  linear, batch 50 × window 50 with the state carried between windows, Adam 2e-3, gradient norm clipped at 5,
  a constant learning rate. It has no schedule, so one run gives every budget: the validation pass at each
  mark of ``--minutes`` is what a run of that length would report (the clock stops while it scores).
* ``word-language-model``: pytorch/examples ``word_language_model`` with its defaults: embedding 200 → 2×200
  LSTM → linear, dropout 0.2 (on the embedding, between the layers and before the output), weights uniform in
  ±0.1, batch 20 × window (bptt) 35 with the state carried, plain SGD at learning rate 20, gradient norm
  clipped at 0.25; after every epoch a validation pass, and the learning rate divided by 4 whenever it did not
  improve. Its clock runs through its validation passes, as lstmgen's does; it reports the best pass.

For a music corpus (``--corpus abc-folk --tokenizer abc``, ``--corpus bach-chorales --tokenizer midi``) the
store is read one piece per document, as ``lstmgen train`` reads it, and each pass also reports nats per note
(issue 32's bar: lstmgen's held-out NLL per note at least 4 % below char-rnn's for the same time).

Both read the token store ``lstmgen train`` builds from the same arguments (same tokenizer, same split, the
same unknown words), and both are scored by ``lstmgen.evaluation.static.evaluate``, so their bits per character
compare directly with ``benchmarks/training/train_quality.py`` and ``benchmarks/training/tokenizer_comparison.py``.

``--beside-default`` first trains lstmgen's default (``lstmgen.train`` with the same corpus, tokenizer, budget
and threads), then runs the loop on the token store that run made, one after the other in this process: both
are scored by the same call on the same held-out tokens, and ``ratio_bits_per_char`` is lstmgen's best over the
loop's (issue 28's word bar: at most 0.96).

    python benchmarks/training/baseline_loops.py --loop word-language-model --beside-default \
        --corpus ../shared/data/tinyshakespeare/input.txt --minutes 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import lstmgen
from lstmgen.data.corpus import resolve_sources
from lstmgen.data.store import TokenStore, prepare
from lstmgen.evaluation.musical import MUSIC_KINDS, notes_in_tokens
from lstmgen.evaluation.static import evaluate, scored_text_size
from lstmgen.system import run_directory
from lstmgen.system.runtime import machine_record
from lstmgen.tokenizers.registry import default_documents


class PlainLSTM(nn.Module):
    """embedding → LSTM → (dropout) → linear, with the ``forward(tokens, state)`` / ``init_state`` interface that
    ``lstmgen.evaluation.static.evaluate`` scores (the same function lstmgen's own runs are scored by)."""

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.embedding = nn.Embedding(vocab, embedding)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embedding, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.output = nn.Linear(hidden, vocab)

    def init_state(self, batch: int, device: torch.device | str = "cpu"):
        zeros = torch.zeros(self.layers, batch, self.hidden, device=device)
        return zeros, zeros.clone()

    def forward(self, tokens: torch.Tensor, state):
        hidden, state = self.rnn(self.drop(self.embedding(tokens)), state)  # [B, S, H]
        return self.output(self.drop(hidden)), state  # [B, S, V]


def columns(tokens: np.ndarray, batch: int) -> torch.Tensor:
    """pytorch/examples' ``batchify``: the stream cut into ``batch`` contiguous columns, [batch, length]."""
    length = len(tokens) // batch
    return torch.from_numpy(np.asarray(tokens[: length * batch], dtype=np.int64)).view(batch, length)


VAL_NOTES: dict[str, int] = {}  # the validation region's notes, for a music tokenizer (set in main)


def score(model: PlainLSTM, store, text_size) -> dict[str, float]:
    report = evaluate(model, store.val, unknown=store.info()["val_unknown"], characters=text_size[0], bytes=text_size[1])
    found = {"val_nats_per_token": report.nats, "val_bits_per_char": report.bits_per_character}
    if VAL_NOTES.get("notes"):
        found["val_nats_per_note"] = report.nats * report.tokens / VAL_NOTES["notes"]
    return found


def char_rnn(store, text_size, marks: list[float], seed: int) -> list[dict]:
    torch.manual_seed(seed)
    model = PlainLSTM(store.tokenizer.vocab_size, 128, 128, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    data, window = columns(store.train, 50), 50
    state, position, clock, steps, curve = model.init_state(50), 0, 0.0, 0, []
    for mark in marks:
        while clock < mark * 60:
            started = time.perf_counter()
            if position + window + 1 > data.shape[1]:
                position, state = 0, model.init_state(50)  # a new epoch starts the streams afresh
            inputs, targets = data[:, position : position + window], data[:, position + 1 : position + window + 1]
            state = tuple(s.detach() for s in state)
            logits, state = model(inputs, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            position, steps = position + window, steps + 1
            clock += time.perf_counter() - started
        curve.append({"minutes": mark, "steps": steps, **score(model, store, text_size)})
        model.train()
        print(json.dumps(curve[-1]), file=sys.stderr)
    return curve


def word_language_model(store, text_size, minutes: float, seed: int) -> list[dict]:
    torch.manual_seed(seed)
    model = PlainLSTM(store.tokenizer.vocab_size, 200, 200, 2, dropout=0.2)
    for weight in (model.embedding.weight, model.output.weight):
        nn.init.uniform_(weight, -0.1, 0.1)
    nn.init.zeros_(model.output.bias)
    data, window, rate = columns(store.train, 20), 35, 20.0
    clock, steps, epoch, best, curve = 0.0, 0, 0, None, []
    while clock < minutes * 60:
        epoch += 1
        state = model.init_state(20)
        model.train()
        for position in range(0, data.shape[1] - 1, window):
            started = time.perf_counter()
            inputs = data[:, position : min(position + window, data.shape[1] - 1)]
            targets = data[:, position + 1 : position + 1 + inputs.shape[1]]
            state = tuple(s.detach() for s in state)  # repackage_hidden
            model.zero_grad()
            logits, state = model(inputs, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(parameter.grad, alpha=-rate)
            steps += 1
            clock += time.perf_counter() - started
            if clock >= minutes * 60:
                break
        started = time.perf_counter()
        result = score(model, store, text_size)
        clock += time.perf_counter() - started
        curve.append({"epoch": epoch, "minutes": round(clock / 60, 2), "steps": steps, "learning_rate": rate, **result})
        print(json.dumps(curve[-1]), file=sys.stderr)
        if best is not None and result["val_nats_per_token"] >= best:
            rate /= 4.0  # the example anneals when the validation loss did not improve
        best = result["val_nats_per_token"] if best is None else min(best, result["val_nats_per_token"])
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loop", required=True, choices=("char-rnn", "word-language-model"))
    parser.add_argument("--corpus", required=True, help="text file")
    parser.add_argument("--val", default=None, help="validation file (default: the last 10%% of the corpus)")
    parser.add_argument("--tokenizer", default=None, help="default: char for char-rnn, word for word-language-model")
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--minutes", default="4", help="budget (word-language-model) or comma-separated marks (char-rnn)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave PyTorch's choice)")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--beside-default", action="store_true",
                        help="train lstmgen's default first, for the last mark of --minutes, and run the loop on its tokens")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kind = args.tokenizer or ("char" if args.loop == "char-rnn" else "word")
    marks = sorted(float(m) for m in args.minutes.split(","))
    default = None
    with tempfile.TemporaryDirectory() as directory:
        if args.beside_default:
            default, store = train_default(args, kind, marks[-1], Path(directory))
        else:
            store = prepare(resolve_sources([args.corpus]), directory, tokenizer=kind, lowercase=args.lowercase,
                            val_sources=resolve_sources([args.val]) if args.val else (), documents=default_documents(kind))
        if kind in MUSIC_KINDS:
            VAL_NOTES["notes"] = notes_in_tokens(store.val, store.tokenizer)
        meta = store.meta
        text_size = scored_text_size(store.tokenizer, store.val[0], meta["characters"]["val"], meta["bytes"]["val"])
        if default is not None:  # scored by the same call as the loop below, on the same held-out tokens
            default.update(score(default.pop("model"), store, text_size))
            if args.threads:
                torch.set_num_threads(args.threads)  # the default's automatic choice must not carry over to the loop
        started = time.time()
        curve = char_rnn(store, text_size, marks, args.seed) if args.loop == "char-rnn" else word_language_model(store, text_size, marks[-1], args.seed)
        info = store.info()
    best = min(curve, key=lambda point: point["val_nats_per_token"])
    print(json.dumps({
        "benchmark": "baseline_loops", "loop": args.loop, "lstmgen": lstmgen.__version__,
        "machine": machine_record(), "corpus": args.corpus, "val": args.val,
        "tokenizer": kind, "vocab_size": store.tokenizer.vocab_size, "train_tokens": info["train_tokens"],
        "val_tokens": info["val_tokens"], "val_unknown": info["val_unknown"], "wall_seconds": round(time.time() - started, 1),
        "best": best, "curve": curve,
        **({"lstmgen_default": default, "ratio_bits_per_char": round(default["val_bits_per_char"] / best["val_bits_per_char"], 4)}
           if default is not None else {}),
    }, indent=1))


def train_default(args: argparse.Namespace, kind: str, minutes: float, directory: Path):
    """lstmgen's default on the same corpus for ``minutes``: ({steps, wall_seconds, plan, model}, the run's token store)."""
    run = directory / "lstmgen-default"
    print(f"lstmgen's default for {minutes:g} minutes", file=sys.stderr, flush=True)
    started = time.time()
    result = lstmgen.train([args.corpus], out_dir=run, val=args.val, tokenizer=kind, lowercase=args.lowercase,
                           time_budget=minutes, threads=args.threads or None, progress=False, sample_length=0, log=lambda line: None)
    wall = time.time() - started
    model = lstmgen.LanguageModel.load(run)  # its best checkpoint, as lstmgen eval reads it
    plan = model.info()["training"]["data"].get("plan")
    store = TokenStore.open(run / run_directory.STORE)  # the tokens and the held-out region it trained and validated on
    print(f"lstmgen's default: {result.steps} steps; now the {args.loop} loop", file=sys.stderr, flush=True)
    return {"steps": result.steps, "wall_seconds": round(wall, 1), "plan": plan, "model": model.model}, store


if __name__ == "__main__":
    sys.exit(main())
