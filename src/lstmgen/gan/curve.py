"""Every GAN run placed on its MLE model's temperature curve: did it beat simply cooling the MLE model?

Cooling a model (sampling at T < 1) raises the quality of its samples and costs coverage of held-out data;
any method that trades the same two things must be compared with that curve, not with the T = 1 point
(Caccia et al. 2020, "Language GANs Falling Short"). For each model and temperature a *sweep point* holds

    quality     NLL-oracle (lower = better) on the synthetic benchmark, BLEU-5 against held-out text (higher =
                better) on real text, as the caller's judge measures it on samples drawn at that temperature
    nll_test    the model's NLL of held-out sequences at that temperature (coverage; never the training data)
    entropy     the mean NLL of its own samples under itself at that temperature: its entropy rate in nats/token

and for each GAN run, against the MLE curve:

    delta_nll_test       the GAN's NLL-test at T = 1 minus the MLE curve's NLL-test at the same quality (linear
                         interpolation along the curve): > 0 = dominated by cooling, < 0 = below the curve
    matched_temperature  T*, the temperature at which the MLE model has the GAN's quality
    caccia               min over T of (quality in nats + NLL-test), Caccia et al.'s single number (lower = better)

Over seeds each is mean ± sd; the verdict is "dominated" when mean delta - sd > 0, "below the curve" when
mean + sd < 0, else "on the curve (within one sd)".
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..model import RecurrentLanguageModel
from .sequences import sample_sequences, sequence_nll

TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)
Point = dict[str, Any]
Judge = Callable[[torch.Tensor], dict[str, float]]  # samples [N, T] drawn at one temperature -> quality measures


def sweep(model: RecurrentLanguageModel, test: torch.Tensor, judge: Judge, temperatures: Sequence[float] = TEMPERATURES,
          samples: int = 2000, seed: int = 0, start_token: int = 0, suppress: Sequence[int] = ()) -> list[Point]:
    """One point per temperature: the judge's measures of ``samples`` draws, NLL-test of test [N, T], entropy."""
    points = []
    for temperature in temperatures:
        generator = torch.Generator().manual_seed(seed)  # the same draws' randomness at every temperature
        drawn = sample_sequences(model, samples, test.shape[1], start_token, temperature, generator, suppress=suppress)
        points.append({"temperature": float(temperature),
                       "nll_test": float(sequence_nll(model, test, start_token, temperature).mean()),
                       "entropy": float(sequence_nll(model, drawn, start_token, temperature).mean()),
                       **judge(drawn)})
    return points


def at_temperature(curve: Sequence[Point], temperature: float = 1.0) -> Point:
    for point in curve:
        if abs(point["temperature"] - temperature) < 1e-9:
            return point
    raise ValueError(f"the sweep has no point at temperature {temperature}")


def matched(curve: Sequence[Point], point: Point, quality: str) -> dict[str, float | None]:
    """The MLE ``curve`` at the ``point``'s quality: its NLL-test there (delta = point - curve) and temperature T*.

    None where the point's quality lies outside the curve's range (then no temperature of the model matches it).
    """
    qualities = np.array([p[quality] for p in curve], dtype=np.float64)
    order = np.argsort(qualities)
    xs = qualities[order]
    nll = np.array([p["nll_test"] for p in curve], dtype=np.float64)[order]
    temperature = np.array([p["temperature"] for p in curve], dtype=np.float64)[order]
    value = float(point[quality])
    if not xs[0] <= value <= xs[-1]:
        return {"delta_nll_test": None, "matched_temperature": None}
    return {"delta_nll_test": float(point["nll_test"] - np.interp(value, xs, nll)),
            "matched_temperature": float(np.interp(value, xs, temperature))}


def caccia_scalar(curve: Sequence[Point], quality_nats: str) -> dict[str, float]:
    """min over T of (quality in nats + NLL-test), and the temperature that reaches it."""
    best = min(curve, key=lambda p: p[quality_nats] + p["nll_test"])
    return {"caccia": float(best[quality_nats] + best["nll_test"]), "caccia_temperature": best["temperature"]}


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds (sd NaN for one seed); None values are left out and counted."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return {"mean": None, "sd": None, "n": 0, "missing": len(values)}
    sd = float(np.std(kept, ddof=1)) if len(kept) > 1 else math.nan
    return {"mean": float(np.mean(kept)), "sd": sd, "n": len(kept), "missing": len(values) - len(kept), "values": kept}


def verdict(delta: Mapping[str, Any]) -> str:
    """Dominated / below / on the curve from the seeds' delta NLL-test (mean ± one sd)."""
    if delta.get("mean") is None:
        return "outside the MLE curve's range of quality (no temperature matches it)"
    sd = delta["sd"] if delta["sd"] is not None and not math.isnan(delta["sd"]) else 0.0
    seeds = f"{delta['n']} seed{'s' if delta['n'] != 1 else ''}"
    if delta["mean"] - sd > 0:
        return f"dominated by cooling the MLE model (beyond one sd over {seeds})"
    if delta["mean"] + sd < 0:
        return f"below the MLE curve (beyond one sd over {seeds})"
    return f"on the MLE curve (within one sd over {seeds})"


def compare(reference: Sequence[Point], runs: Sequence[Sequence[Point]], quality: str, quality_nats: str) -> dict[str, Any]:
    """Place each run's sweep (one per seed) against the reference (MLE) sweep: per seed, then mean ± sd."""
    per_seed = []
    for curve in runs:
        point = at_temperature(curve)
        per_seed.append({quality: point[quality], "nll_test": point["nll_test"], "entropy": point["entropy"],
                         **matched(reference, point, quality), **caccia_scalar(curve, quality_nats)})
    keys = [quality, "nll_test", "entropy", "delta_nll_test", "matched_temperature", "caccia"]
    summary = {key: spread([seed[key] for seed in per_seed]) for key in keys}
    return {"per_seed": per_seed, "summary": summary, "verdict": verdict(summary["delta_nll_test"]),
            "reference_caccia": caccia_scalar(reference, quality_nats)}


def format_spread(value: Mapping[str, Any], digits: int = 3) -> str:
    if value.get("mean") is None:
        return "—"
    sd = value.get("sd")
    return f"{value['mean']:.{digits}f}" + ("" if sd is None or math.isnan(sd) else f" ± {sd:.{digits}f}")


def plot_panels(panels: Sequence[dict[str, Any]], path: str, title: str) -> str | None:
    """One PNG of side-by-side panels, each {"curves": {name: [points]}, "x": key, "y": key, "x_label", "y_label"}.

    Each curve is drawn through its temperatures (labelled), its T = 1 point marked. Needs matplotlib (the
    ``plots`` extra); without it nothing is drawn and None is returned.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes_list = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for axes, panel in zip(axes_list[0], panels):
        for name, curve in panel["curves"].items():
            xs, ys = [p[panel["x"]] for p in curve], [p[panel["y"]] for p in curve]
            line, = axes.plot(xs, ys, marker="o", markersize=3, label=name, linewidth=1.5 if name.startswith("mle") else 1.0)
            for p in curve:
                axes.annotate(f"{p['temperature']:g}", (p[panel["x"]], p[panel["y"]]), fontsize=6, xytext=(2, 2),
                              textcoords="offset points", color=line.get_color())
            one = [p for p in curve if abs(p["temperature"] - 1.0) < 1e-9]
            if one:
                axes.scatter([one[0][panel["x"]]], [one[0][panel["y"]]], marker="*", s=90, color=line.get_color(), zorder=5)
        axes.set_xlabel(panel["x_label"])
        axes.set_ylabel(panel["y_label"])
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)
