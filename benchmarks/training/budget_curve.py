"""Quality against budget: `lstmgen train`'s default at several wall-clock budgets, beside the plain char-rnn loop.

    python benchmarks/training/budget_curve.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 1,2,4,8,15,30 \
        --out runs/budget-curve.json
    python benchmarks/training/baseline_loops.py --loop char-rnn --corpus ../shared/data/tinyshakespeare/input.txt \
        --minutes 1,2,4,8,15,30 > runs/char-rnn-curve.json
    python benchmarks/training/budget_curve.py --plot runs/budget-curve.json --baseline runs/char-rnn-curve.json \
        --png docs/images/quality_vs_budget.png

The Mogrifier LSTM beside the LSTM, both at each budget, one after the other in one run (issue 28's bar):

    python benchmarks/training/budget_curve.py --corpus ../shared/data/tinyshakespeare/input.txt --minutes 4,30 \
        --cells lstm,mogrifier --out runs/budget-curve-mogrifier.json

(``--mogrifier-rounds`` and ``--mogrifier-rank`` set the Mogrifier's knobs; unset, lstmgen's defaults.) Each point
says its cell; ``--plot`` draws one curve per cell.

Each budget is its own run (the default plans a different model for each, and its schedule anneals to
the deadline), one after the other; the JSON holds each run's best full-pass validation loss, its steps,
and what the plan chose. ``--plot`` draws the curves (validation nats per character against minutes, on a
log axis) from saved JSON instead of training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Sequence

import lstmgen
from lstmgen import LanguageModel, train
from lstmgen.config import CELL_TYPES
from lstmgen.system.runtime import machine_record


def run(corpus: str, minutes: list[float], lowercase: bool, preset: str, threads: int | None = None,
        cells: Sequence[str] = ("lstm",), cell_options: dict | None = None) -> dict:
    """Each budget, each cell in turn; ``cell_options`` (mogrifier_rounds, mogrifier_rank) go to the cells that take them."""
    points = []
    for budget in minutes:
        for cell in cells:
            model = {"cell": cell, **((cell_options or {}) if cell == "mogrifier" else {})}
            with tempfile.TemporaryDirectory() as out:
                started = time.time()
                result = train([corpus], out_dir=out, preset=preset, time_budget=budget, lowercase=lowercase or None,
                               threads=threads, progress=False, sample_length=0, log=lambda line: None, model=model)
                wall = time.time() - started
                info = LanguageModel.load(out).info()
            best = result.best_val or {}
            points.append({"minutes": budget, "cell": cell, "model": info["model"], "steps": result.steps,
                           "wall_seconds": round(wall, 1), "best_val_nats": best.get("val_nats"), "best_at_step": best.get("step"),
                           "plan": info["training"]["data"].get("plan")})
            print(json.dumps(points[-1]), file=sys.stderr)
    return {"benchmark": "budget_curve", "lstmgen": lstmgen.__version__, "machine": machine_record(), "corpus": corpus,
            "lowercase": lowercase, "preset": preset, "cells": list(cells), "cell_options": cell_options or {}, "points": points}


def plot(curve_path: str, baseline_path: str | None, png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = json.loads(open(curve_path, encoding="utf-8").read())
    figure, axes = plt.subplots(figsize=(7, 4.2))
    cells = curve.get("cells", ["lstm"])
    for cell in cells:  # one curve per cell (older results hold the LSTM's only)
        points = [(p["minutes"], p["best_val_nats"]) for p in curve["points"] if p.get("cell", "lstm") == cell]
        label = "lstmgen train (budget-aware default)" + (f", --cell {cell}" if len(cells) > 1 or cell != "lstm" else "")
        axes.plot(*zip(*points), marker="o", label=label)
        for minutes, nats in points:
            axes.annotate(f"{nats:.3f}", (minutes, nats), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    if baseline_path:
        baseline = json.loads(open(baseline_path, encoding="utf-8").read())
        marks = [(p["minutes"], p["val_nats_per_token"]) for p in baseline["curve"]]
        axes.plot(*zip(*marks), marker="s", linestyle="--", label="plain char-rnn loop (2x128, Adam 2e-3)")
    axes.set_xscale("log")
    ticks = sorted({p["minutes"] for p in curve["points"]})
    axes.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    axes.set_xlabel("training budget (minutes, 2 CPU cores)")
    axes.set_ylabel("validation loss (nats/char, full pass)")
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(curve["corpus"].rsplit("/", 1)[-1] + " — last 10% held out", fontsize=9)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="text file (to train)")
    parser.add_argument("--minutes", default="1,2,4,8,15,30")
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--threads", type=int, default=None, help="threads of every run (default: lstmgen's automatic choice, "
                        "which reads the load at start)")
    parser.add_argument("--cells", default="lstm", help="cells to train at each budget, one after the other (comma-separated: "
                        "lstm,mogrifier runs the two side by side)")
    parser.add_argument("--mogrifier-rounds", type=int, help="the mogrifier cell's rounds (default: lstmgen's)")
    parser.add_argument("--mogrifier-rank", type=int, help="the mogrifier cell's rank (default: lstmgen's, full rank)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--plot", metavar="CURVE_JSON", help="draw saved results instead of training")
    parser.add_argument("--baseline", metavar="LOOP_JSON", help="benchmarks/training/baseline_loops.py --loop char-rnn output to draw beside it")
    parser.add_argument("--png", default="quality_vs_budget.png")
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.baseline, args.png)
        return
    if not args.corpus:
        parser.error("--corpus is needed to train (or --plot to draw saved results)")
    cells = [cell.strip() for cell in args.cells.split(",") if cell.strip()]
    unknown = sorted(set(cells) - set(CELL_TYPES))
    if unknown:
        parser.error(f"--cells: unknown cell(s) {', '.join(unknown)}; known: {', '.join(CELL_TYPES)}")
    options = {name: value for name, value in (("mogrifier_rounds", args.mogrifier_rounds), ("mogrifier_rank", args.mogrifier_rank))
               if value is not None}
    result = run(args.corpus, [float(m) for m in args.minutes.split(",")], args.lowercase, args.preset, args.threads, cells, options)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
