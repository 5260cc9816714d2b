"""``lstmgen train --cell mogrifier``: its knobs as flags, saved in the checkpoint; generate, info and resume read them."""

import json

import torch

from lstmgen import GenerationConfig, LanguageModel
from lstmgen.cli import main
from lstmgen.decoding import decode, make_generator

FLAGS = ["--max-steps", "10", "--eval-interval", "5", "--batch-size", "4", "--seq-length", "16", "--hidden-size", "32",
         "--embedding-size", "16", "--num-layers", "2", "--sample-length", "10", "--threads", "1", "--no-progress"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_generate_info_resume(tmp_path, tiny_file, capsys):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", tiny_file, "--out", out, "--cell", "mogrifier", "--mogrifier-rounds", "4",
                       "--mogrifier-rank", "3", "--weight-dropout", "0.2", *FLAGS)
    assert code == 0, err
    config = json.loads((out / "best" / "config.json").read_text(encoding="utf-8"))["model"]
    assert (config["cell"], config["mogrifier_rounds"], config["mogrifier_rank"]) == ("mogrifier", 4, 3)

    argv = ["generate", out, "--prompt", "the ", "--length", "40", "--seed", "5", "--num-samples", "2"]
    code, first, _ = run(capsys, *argv)
    assert code == 0 and first.count("=== sample") == 2 and first == run(capsys, *argv)[1]
    # The CLI's samples come through the hand-stepped decoder; the reference path draws the same tokens.
    lm = LanguageModel.load(out)
    config = GenerationConfig(max_tokens=40, seed=5, num_samples=2)
    prompt = lm.encode_prompt("the ")
    fast, reference = ([record.tokens for record in decode(lm.model, lm.tokenizer, prompt, config, make_generator(5), fast=fast)]
                       for fast in (True, False))
    assert fast == reference

    code, stdout, _ = run(capsys, "info", out)
    assert code == 0 and "MOGRIFIER 2 x 32" in stdout and "4 mogrifier rounds at rank 3" in stdout
    code, _, err = run(capsys, "train", "--resume", out, "--max-steps", "15", "--no-progress")
    assert code == 0 and "resuming" in err and "step     15" in err
    resumed = LanguageModel.load(out / "last")
    assert resumed.model.config.mogrifier_rank == 3
    assert not torch.equal(resumed.model.rnn.mogrify_l0_1_left, lm.model.rnn.mogrify_l0_1_left)  # it trained on


def test_the_cells_flags_with_another_cell_are_one_clear_line(tmp_path, tiny_file, capsys):
    code, _, err = run(capsys, "train", tiny_file, "--out", tmp_path / "run", "--mogrifier-rounds", "3", *FLAGS)
    assert code == 2 and "lstmgen: error: mogrifier_rounds applies to the mogrifier cell only" in err  # after the data is prepared
    assert "Traceback" not in err
