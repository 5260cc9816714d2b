"""``lstmgen gan train CORPUS --init-from CKPT`` as a user runs it: a tiny corpus in seconds, the report, generation
from the result, ``lstmgen gan report``, exact resume, and clear errors for impossible settings."""

from __future__ import annotations

import json

import pytest
import torch

from lstmgen import load_checkpoint
from lstmgen.cli import main
from lstmgen.gan.state import check_gan_state
from lstmgen.system.run_directory import RunLock

SMALL = ["--sequence-length", "24", "--set", "eval_interval=2", "--set", "adversarial_batch_size=32", "--set", "d_samples=64",
         "--set", "d_holdout=8", "--threads", "1", "--no-progress"]
REPORT = ["--report-samples", "20", "--reverse-samples", "40", "--temperatures", "0.8,1.0,1.2", "--reverse-temperatures", "1.0"]


def test_gan_train_then_generate_and_report(tiny_run, tiny_file, tmp_path, capsys):
    run = tmp_path / "gan"
    assert main(["gan", "train", str(tiny_file), "--init-from", str(tiny_run), "--out", str(run), "--seeds", "1,2",
                 "--rounds", "4", *SMALL, *REPORT]) == 0
    printed = capsys.readouterr().out
    assert "delta NLL-test at matched BLEU-5" in printed and "Verdict: the GAN is" in printed
    report = json.loads((run / "report.json").read_text())
    assert set(report["curves"]) == {"mle", "gan seed 1", "gan seed 2"}
    assert [p["temperature"] for p in report["curves"]["mle"]] == [0.8, 1.0, 1.2]
    assert "reverse_lm_score" in report["curves"]["gan seed 2"][1] and report["position"]["summary"]["delta_nll_test"]["n"] <= 2
    assert set(report["discriminator"]["gan seed 1"]) >= {"accuracy_held_out", "spearman_reward_vs_judge"}
    assert (run / "curves.png").stat().st_size > 1000
    # the GAN moved the model, and what generate, eval and info load is the first seed's final generator
    start, final = load_checkpoint(tiny_run).model, load_checkpoint(run).model
    assert load_checkpoint(run).path == run / "last"
    assert any(not torch.equal(a, b) for a, b in zip(start.state_dict().values(), final.state_dict().values()))
    assert main(["generate", str(run), "--length", "30", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.strip()) >= 10
    assert main(["info", str(run)]) == 0 and "dense GAN, 4 rounds" in capsys.readouterr().out
    assert main(["gan", "report", str(run), *REPORT, "--threads", "1"]) == 0
    assert "Verdict" in capsys.readouterr().out


def test_resume_gives_the_uninterrupted_result(tiny_run, tiny_file, tmp_path):
    common = [str(tiny_file), "--init-from", str(tiny_run), "--seeds", "1,2", "--no-report", *SMALL]
    assert main(["gan", "train", *common, "--out", str(tmp_path / "whole"), "--rounds", "4"]) == 0
    assert main(["gan", "train", *common, "--out", str(tmp_path / "split"), "--rounds", "2"]) == 0
    assert main(["gan", "train", "--resume", str(tmp_path / "split"), "--rounds", "4", "--no-report", "--no-progress"]) == 0
    for seed_dir in ("", "seeds/2"):
        whole = load_checkpoint(tmp_path / "whole" / seed_dir, prefer="last", state_check=check_gan_state)
        split = load_checkpoint(tmp_path / "split" / seed_dir, prefer="last", state_check=check_gan_state)
        for (name, a), b in zip(whole.model.state_dict().items(), split.model.state_dict().values()):
            torch.testing.assert_close(a, b, msg=f"{seed_dir} {name}")
        for a, b in zip(whole.trainer_state["discriminator"].values(), split.trainer_state["discriminator"].values()):
            torch.testing.assert_close(a, b)
        # equal up to float32 rounding carried through the rounds, as the weights are (assert_close): a resumed run's
        # freshly loaded tensors can take other vectorised paths (seen: relative differences of 4e-10 to 1.3e-6); a
        # resume that restored the wrong state would draw other samples and differ by percents
        losses = [r.get("pg_loss") for r in whole.metrics], [r.get("pg_loss") for r in split.metrics]
        assert [loss is None for loss in losses[0]] == [loss is None for loss in losses[1]]
        assert [x for x in losses[0] if x is not None] == pytest.approx([x for x in losses[1] if x is not None], rel=1e-4)


@pytest.mark.parametrize("extra, message", [
    (["--sequence-length", "5000"], "sequence_length 5000 is beyond this corpus"),
    (["--rounds", "-1"], "rounds must be >= 0"),
    (["--set", "discount=2"], "discount must be in"),
    (["--set", "method=wgan"], "method must be one of"),
    (["--seeds", "1,1"], "distinct seeds"),
    (["--report-samples", "1"], "--report-samples must be at least 2"),
])
def test_impossible_settings_are_clear_errors(tiny_run, tiny_file, tmp_path, capsys, extra, message):
    assert main(["gan", "train", str(tiny_file), "--init-from", str(tiny_run), "--out", str(tmp_path / "gan"), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_a_tokenizer_lacking_the_corpus_symbols_is_named(tiny_run, tmp_path, capsys):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("ΩΨΦ zzz\n" * 50, encoding="utf-8")
    assert main(["gan", "train", str(foreign), "--init-from", str(tiny_run), "--out", str(tmp_path / "gan")]) == 2
    error = capsys.readouterr().err
    assert "vocabulary lacks" in error and "'Ω'" in error and "--unknown" in error


def test_gan_train_needs_a_model_and_a_fresh_directory(tiny_run, tiny_file, tmp_path, capsys):
    assert main(["gan", "train", str(tiny_file), "--out", str(tmp_path / "gan")]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert main(["gan", "report", str(tmp_path)]) == 2
    assert "not a gan train run" in capsys.readouterr().err
    assert main(["gan", "train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err and not (tmp_path / "nothing").exists()
    assert main(["gan", "train", "--resume", str(tmp_path)]) == 2
    assert "not a gan train run" in capsys.readouterr().err


def test_a_gan_run_directory_in_use_is_refused(tiny_run, tiny_file, tmp_path, capsys):
    run = tmp_path / "gan"
    with RunLock(run):  # another process's live run, as the kernel sees it (flock on a second open of the file)
        assert main(["gan", "train", str(tiny_file), "--init-from", str(tiny_run), "--out", str(run), "--rounds", "1",
                     "--no-report", *SMALL]) == 2
        assert "is in use by process" in capsys.readouterr().err
        assert not (run / "last").exists()
    assert main(["gan", "train", str(tiny_file), "--init-from", str(tiny_run), "--out", str(run), "--rounds", "1",
                 "--no-report", *SMALL]) == 0
    assert (run / "last").exists()
