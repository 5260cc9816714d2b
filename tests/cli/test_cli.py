import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY_TEXT
from lstmgen.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


TINY_FLAGS = ["--max-steps", "30", "--eval-interval", "15", "--batch-size", "4", "--seq-length", "16", "--hidden-size", "32",
              "--embedding-size", "16", "--num-layers", "1", "--sample-length", "20", "--threads", "1", "--no-progress"]


def test_train_generate_eval_info_end_to_end(tmp_path, tiny_file, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run(capsys, "train", tiny_file, "--out", out, *TINY_FLAGS)
    assert code == 0, stderr
    assert "best validation" in stdout and "temperature 1.2" in stderr and "step     30" in stderr

    code, stdout, _ = run(capsys, "generate", out, "--prompt", "the ", "--length", "50", "--temperature", "0.5", "--seed", "1",
                          "--num-samples", "3")
    assert code == 0
    assert stdout.count("=== sample") == 3 and stdout.count("the ") >= 3
    again = run(capsys, "generate", out, "--prompt", "the ", "--length", "50", "--temperature", "0.5", "--seed", "1", "--num-samples", "3")[1]
    assert again == stdout

    code, stdout, _ = run(capsys, "eval", out, tiny_file)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].endswith(" nats/token") and float(lines[0].split()[0]) > 0
    assert lines[1].endswith(" bits/token") and lines[2].startswith("perplexity")

    code, stdout, _ = run(capsys, "info", out)
    assert code == 0
    assert "LSTM 1 x 32" in stdout and "total" in stdout and "best val" in stdout
    info = json.loads(run(capsys, "info", out, "--json")[1])
    assert info["parameters"] == sum(row["count"] for row in info["parameter_table"])


def test_resume_from_cli(tmp_path, tiny_file, capsys):
    out = tmp_path / "run"
    flags = [f if f != "30" else "10" for f in TINY_FLAGS]
    assert run(capsys, "train", tiny_file, "--out", out, *flags)[0] == 0
    code, stdout, stderr = run(capsys, "train", "--resume", out, "--max-steps", "20", "--no-progress")
    assert code == 0, stderr
    assert "resuming" in stderr and "step     20" in stderr


@pytest.mark.parametrize("argv, message", [
    (["generate", "/no/such/run"], "does not exist"),
    (["train", "/no/such/corpus.txt"], "neither a file"),
    (["train", "--learning-rate", "-1", "--max-steps", "1"], "learning_rate must be positive"),
    (["generate", "{run}", "--temperature", "-0.5"], "temperature must be >= 0"),
    (["generate", "{run}", "--prompt", "QQQ"], "vocabulary lacks"),
    (["generate", "{run}", "--top-p", "1.5"], "top_p must be in"),
])
def test_errors_are_one_clear_line(capsys, tiny_run, tmp_path, argv, message):
    argv = [a.replace("{run}", str(tiny_run)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("lstmgen: error:") and message in err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU, so --device cuda is not an error here")
def test_a_device_the_machine_lacks_is_one_clear_line(capsys, tiny_run):
    code, _, err = run(capsys, "generate", str(tiny_run), "--device", "cuda", "--length", "5")
    assert code == 2 and err.startswith("lstmgen: error:") and "no CUDA GPU" in err


def test_empty_and_binary_corpora_from_cli(tmp_path, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    assert "is empty" in run(capsys, "train", tmp_path / "empty.txt")[2]
    assert "binary" in run(capsys, "train", tmp_path / "binary.bin")[2]


@pytest.mark.parametrize("command", ["train", "generate", "eval", "info", "presets"])
def test_help_works_without_a_model(command):
    result = subprocess.run([sys.executable, "-m", "lstmgen", command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: lstmgen" in result.stdout


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).parent / "lstmgen"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("lstmgen ")


def test_stdin_corpus(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "lstmgen", "train", "-", "--out", str(out), *TINY_FLAGS[:-3], "--no-progress",
                             "--sample-length", "0"], input=TINY_TEXT.encode(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    assert (out / "best" / "model.safetensors").exists()


def test_help_imports_neither_torch_nor_the_commands():
    code = ("import sys; from lstmgen.cli import build_parser; build_parser(['--help']).format_help(); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('lstmgen.cli.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
    result = subprocess.run([sys.executable, "-c", code.replace("['--help']", "['train', '--help']").replace(".format_help()", "")],
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "['lstmgen.cli.flags', 'lstmgen.cli.train']"  # only the command asked about, and no torch
    result = subprocess.run([sys.executable, "-c", code.replace("['--help']", "['prepare', '--help']").replace(".format_help()", "")],
                            capture_output=True, text=True, timeout=120, check=True)
    assert "torch" not in result.stdout  # lstmgen prepare tokenizes without torch


def test_prepare_runs_without_torch(tmp_path):
    """``lstmgen prepare`` (the data stage) never imports torch: run with torch made unimportable."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    code = ("import sys; sys.modules['torch'] = None; from lstmgen.cli import main; "
            f"sys.exit(main(['prepare', {str(corpus)!r}, '--out', {str(tmp_path / 'store')!r}, '--no-progress']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "store" / "tokens.bin").exists()


def test_every_config_field_is_a_flag():
    import dataclasses

    from lstmgen.cli import build_parser
    from lstmgen.config import GenerationConfig, ModelConfig, TrainConfig

    for command, classes in (("generate", [GenerationConfig]), ("train", [TrainConfig, ModelConfig])):
        parser = build_parser([command])
        actions = {action.dest: action for sub in parser._subparsers._group_actions for action in sub.choices[command]._actions}
        for cls in classes:
            for item in dataclasses.fields(cls):
                if item.name == "vocab_size":
                    continue  # set by the tokenizer
                assert item.name in actions, f"{cls.__name__}.{item.name} has no flag on lstmgen {command}"
                assert item.metadata["help"] in actions[item.name].help
    generate = build_parser(["generate"]).parse_args(["generate", "x", "--length", "7", "--stop", "a", "--stop", "b", "--top-p", "0.5"])
    assert (generate.max_tokens, generate.stop, generate.top_p, generate.temperature) == (7, ["a", "b"], 0.5, 1.0)
    train = build_parser(["train"]).parse_args(["train", "--hidden-size", "64", "--sample-temperatures", "0.5,1"])
    assert (train.hidden_size, train.sample_temperatures, train.batch_size) == (64, [0.5, 1.0], None)  # unset: the preset's
    # A plan may choose a switch (the word plan ties a full softmax), so train offers both --name and --no-name, unset by default.
    assert [build_parser(["train"]).parse_args(["train", *flag]).tie_weights for flag in ([], ["--tie-weights"], ["--no-tie-weights"])] \
        == [None, True, False]


def test_a_bad_flag_value_names_the_field(capsys, tiny_run):
    code, _, err = run(capsys, "generate", tiny_run, "--top-p", "1.5")
    assert code == 2 and "top_p must be in (0, 1]" in err


def test_train_saves_a_chat_template_that_info_shows(tmp_path, capsys):
    corpus = tmp_path / "dialogues.txt"
    corpus.write_text("user: hi\nassistant: hello.\n\n" * 60, encoding="utf-8")
    out = tmp_path / "chat"
    # as typed in a shell: the \n arrives as a backslash and an n
    code, _, stderr = run(capsys, "train", corpus, "--out", out, "--documents", "blank-lines", "--chat-template", "{role}: {content}\\n",
                          *TINY_FLAGS)
    assert code == 0, stderr
    code, stdout, _ = run(capsys, "info", out)
    assert code == 0 and "chat         template '{role}: {content}\\n'" in stdout
    code, stdout, _ = run(capsys, "info", out, "--json")
    assert json.loads(stdout)["chat_template"] == "{role}: {content}\n"
    code, _, stderr = run(capsys, "train", corpus, "--out", tmp_path / "bad", "--chat-template", "{content} by {role}", *TINY_FLAGS)
    assert code != 0 and "chat_template must hold {role} once and then {content}" in stderr
