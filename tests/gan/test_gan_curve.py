"""Placing a run on the MLE temperature curve, on hand-built curves; sweeps and diagnostics on tiny models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import make_tiny_model
from lstmgen.gan.curve import at_temperature, caccia_scalar, compare, matched, plot_panels, spread, sweep, verdict
from lstmgen.gan.diagnostics import ranks, spearman

# An MLE curve: cooling lowers NLL-oracle and raises NLL-test.
MLE = [{"temperature": t, "nll_oracle": q, "nll_test": n, "entropy": 0.0}
       for t, q, n in ((0.8, 8.0, 10.0), (1.0, 9.0, 9.0), (1.2, 10.0, 8.5))]


def _gan(nll_oracle: float, nll_test: float) -> list[dict]:
    return [{"temperature": 1.0, "nll_oracle": nll_oracle, "nll_test": nll_test, "entropy": 1.0},
            {"temperature": 1.2, "nll_oracle": nll_oracle + 1, "nll_test": nll_test - 1, "entropy": 2.0}]


def test_matched_interpolates_along_the_curve():
    # quality 8.5 lies halfway between T 0.8 and 1.0: the curve's NLL-test there is 9.5, its temperature 0.9
    result = matched(MLE, {"nll_oracle": 8.5, "nll_test": 9.7}, "nll_oracle")
    assert result["delta_nll_test"] == pytest.approx(0.2) and result["matched_temperature"] == pytest.approx(0.9)
    below = matched(MLE, {"nll_oracle": 9.5, "nll_test": 8.0}, "nll_oracle")
    assert below["delta_nll_test"] == pytest.approx(8.0 - 8.75)
    assert matched(MLE, {"nll_oracle": 7.0, "nll_test": 1.0}, "nll_oracle") == {"delta_nll_test": None, "matched_temperature": None}
    bleu_curve = [{"temperature": t, "bleu5": b, "nll_test": n} for t, b, n in ((0.8, 0.3, 3.0), (1.0, 0.2, 2.0))]  # higher = better
    assert matched(bleu_curve, {"bleu5": 0.25, "nll_test": 2.0}, "bleu5")["delta_nll_test"] == pytest.approx(-0.5)


def test_caccia_scalar_is_the_minimum_sum():
    curve = [{**p, "nll_test": p["nll_test"] - (0.5 if p["temperature"] == 1.0 else 0.0)} for p in MLE]
    assert caccia_scalar(curve, "nll_oracle") == {"caccia": 17.5, "caccia_temperature": 1.0}


def test_spread_and_verdict():
    assert spread([1.0, 3.0]) == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2)), "n": 2, "missing": 0, "values": [1.0, 3.0]}
    assert spread([None])["mean"] is None and math.isnan(spread([1.0])["sd"])
    assert verdict({"mean": 0.3, "sd": 0.1, "n": 3}).startswith("dominated")
    assert verdict({"mean": 0.05, "sd": 0.1, "n": 3}).startswith("on the MLE curve")
    assert verdict({"mean": -0.3, "sd": 0.1, "n": 3}).startswith("below")
    assert verdict({"mean": None}).startswith("outside")


def test_compare_summarises_the_seeds():
    position = compare(MLE, [_gan(8.5, 9.7), _gan(8.5, 9.9), _gan(8.5, 9.8)], "nll_oracle", "nll_oracle")
    assert [seed["delta_nll_test"] for seed in position["per_seed"]] == pytest.approx([0.2, 0.4, 0.3])
    assert position["summary"]["delta_nll_test"]["mean"] == pytest.approx(0.3)
    assert position["verdict"].startswith("dominated")
    assert position["summary"]["caccia"]["mean"] == pytest.approx(8.5 + 9.8)
    assert position["reference_caccia"]["caccia"] == 18.0


def test_sweep_measures_every_temperature(tmp_path):
    model = make_tiny_model(vocab_size=9, embedding_size=4, hidden_size=6, num_layers=1)
    test = torch.randint(0, 9, (40, 5), generator=torch.Generator().manual_seed(0))
    curve = sweep(model, test, lambda s: {"mean_token": float(s.float().mean())}, (0.5, 1.0, 2.0), samples=300, seed=1)
    assert [p["temperature"] for p in curve] == [0.5, 1.0, 2.0]
    entropies = [p["entropy"] for p in curve]
    assert entropies[0] < entropies[1] < entropies[2] <= math.log(9) + 0.05  # hotter = more entropy, at most uniform's
    assert at_temperature(curve)["temperature"] == 1.0
    with pytest.raises(ValueError, match="no point at temperature"):
        at_temperature(curve, 0.7)
    assert plot_panels([{"curves": {"m": curve}, "x": "entropy", "y": "nll_test", "x_label": "x", "y_label": "y"}],
                       str(tmp_path / "c.png"), "t") and (tmp_path / "c.png").stat().st_size > 1000


def test_spearman_with_ties():
    assert list(ranks(np.array([3.0, 1.0, 3.0, 2.0]))) == [2.5, 0.0, 2.5, 1.0]
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
