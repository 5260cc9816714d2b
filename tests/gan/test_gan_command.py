"""``lstmgen gan oracle --quick`` end to end: the protocol trains MLE once, both GAN methods from it for two seeds,
sweeps every model over temperature and places each GAN run on the MLE curves."""

from __future__ import annotations

import json

import pytest

from conftest import shared_file
from lstmgen.cli import main


@pytest.mark.slow
def test_quick_oracle_protocol_places_every_run_on_the_curve(tmp_path, capsys):
    oracle = shared_file("seqgan-oracle", "oracle_params.npz")
    status = main(["gan", "oracle", "--quick", "--oracle", str(oracle), "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    assert status == 0
    assert "delta NLL-test at matched NLL-oracle" in capsys.readouterr().out
    report = json.loads((tmp_path / "results.json").read_text())
    curves = report["curves"]
    one = {name: next(p for p in curve if p["temperature"] == 1.0) for name, curve in curves.items()}
    assert one["mle"]["nll_oracle"] < one["random"]["nll_oracle"] - 0.5 and one["mle"]["nll_test"] < one["random"]["nll_test"]
    assert set(report["gan_curves"]) == {"quick", "quick-dense"} and set(report["gan_curves"]["quick-dense"]) == {"1", "2"}
    for variant in ("quick", "quick-dense"):
        position = report["positions"][variant]["mle"]
        assert len(position["per_seed"]) == 2 and position["verdict"]
        assert all(p["nll_oracle"] < one["random"]["nll_oracle"] - 0.5 for p in report["gan_curves"][variant]["1"])
        assert set(report["discriminator"][variant]["1"]) >= {"accuracy_held_out", "spearman_reward_vs_judge"}
    # the early-stopped MLE was chosen on the validation sequences
    history = [json.loads(line) for line in (tmp_path / "mle" / "mle" / "metrics.jsonl").read_text().splitlines()]
    best = min((r for r in history if r["phase"] == "mle"), key=lambda r: r["nll_validation"])
    assert report["mle_early_stopped_epoch"] == best["unit"]
    assert (tmp_path / "temperature_curves.png").stat().st_size > 0
    # a resume reads finished runs and sweeps back, and writes diagnostics a finished run is missing
    missing = tmp_path / "quick-dense" / "seed-2" / "discriminator.json"
    missing.unlink()
    assert main(["gan", "oracle", "--quick", "--oracle", str(oracle), "--out", str(tmp_path), "--no-progress", "--threads", "1",
                 "--resume"]) == 0
    resumed = json.loads((tmp_path / "results.json").read_text())
    assert resumed["curves"] == report["curves"] and resumed["gan_curves"] == report["gan_curves"]
    assert resumed["discriminator"]["quick-dense"]["2"] == report["discriminator"]["quick-dense"]["2"]


def test_gan_presets_command(capsys):
    assert main(["gan", "presets"]) == 0
    assert "seqgan-paper" in capsys.readouterr().out


def test_bad_setting_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["gan", "oracle", "--set", "no_such_field=1"])
    assert "no field" in capsys.readouterr().err


def test_an_interrupted_protocol_exits_130_and_says_how_to_go_on(monkeypatch, tmp_path, capsys):
    from lstmgen.experiments import seqgan_oracle

    monkeypatch.setattr(seqgan_oracle, "run_oracle_benchmark",
                        lambda *args, **kwargs: {"status": "interrupted", "phase": "dense-oracle seed 89", "timings_seconds": {}})
    assert main(["gan", "oracle", "--oracle", str(tmp_path / "unused.npz"), "--out", str(tmp_path)]) == 130
    assert "--resume" in capsys.readouterr().err
