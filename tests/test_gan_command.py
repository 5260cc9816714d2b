"""``lstmgen gan oracle --quick`` end to end: the trained generators beat the untrained one on NLL-oracle."""

from __future__ import annotations

import json

import pytest
from conftest import shared_file

from lstmgen.cli import main


@pytest.mark.slow
def test_quick_oracle_run_improves_nll_oracle(tmp_path, capsys):
    oracle = shared_file("seqgan-oracle", "oracle_params.npz")
    status = main(["gan", "oracle", "--quick", "--oracle", str(oracle), "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    table = report["table"]
    assert abs(report["oracle_self_nll"]["mean"] - 5.75) < 0.15
    assert table["mle"]["nll_oracle"] < table["random"]["nll_oracle"] - 0.5
    assert table["seqgan"]["nll_oracle"] < table["random"]["nll_oracle"] - 0.5
    assert table["mle"]["nll_test"] < table["random"]["nll_test"]
    assert (tmp_path / "temperature_curves.png").stat().st_size > 0
    assert "SeqGAN lies" in (tmp_path / "results.md").read_text() or "outside the range" in (tmp_path / "results.md").read_text()


def test_gan_presets_command(capsys):
    assert main(["gan", "presets"]) == 0
    assert "seqgan-paper" in capsys.readouterr().out


def test_bad_setting_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["gan", "oracle", "--set", "no_such_field=1"])
    assert "no field" in capsys.readouterr().err
