"""lstmgen generate --prompt-file / --output / --format / --output-dir: many prompts in one batch, samples to files."""

import json

import pytest

from lstmgen import LanguageModel
from lstmgen.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_prompt_file_writes_one_record_per_sample_each_as_its_own_prompt_and_seed_would(tiny_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the quick \n\na stitch\\nin\nthe lazy \n", encoding="utf-8")
    out = tmp_path / "samples.jsonl"
    code, _, err = run(capsys, "generate", tiny_run, "--prompt-file", prompts, "--length", "25", "--seed", "7",
                       "--num-samples", "2", "--output", out, "--threads", "1")
    assert code == 0 and "wrote 6 samples of 3 prompts" in err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["prompt_index"], r["sample"]) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [r["prompt"] for r in records[::2]] == ["the quick ", "a stitch\nin", "the lazy "]  # \n in a line: a line break
    assert [r["seed"] for r in records[::2]] == [7, 8, 9]  # prompt i: seed S + i
    assert all(r["tokens"] == 25 and r["finish_reason"] == "length" and r["mean_logprob"] < 0 for r in records)
    assert records[0]["settings"] == {"max_tokens": 25, "num_samples": 2}
    # Each prompt's samples are what one --prompt call with its seed writes.
    single = tmp_path / "single.jsonl"
    assert run(capsys, "generate", tiny_run, "--prompt", "a stitch\nin", "--length", "25", "--seed", "8", "--num-samples", "2",
               "--output", single, "--threads", "1")[0] == 0
    alone = [json.loads(line)["text"] for line in single.read_text(encoding="utf-8").splitlines()]
    assert alone == [records[2]["text"], records[3]["text"]]
    lm = LanguageModel.load(tiny_run)
    assert lm.samples("the lazy ", max_tokens=25, seed=9, num_samples=2)[0] == records[4]["text"]


def test_json_lines_prompts_carry_their_own_settings(tiny_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "the ", "max_tokens": 5, "temperature": 0}) + "\n"
                       + json.dumps({"prompt": "a ", "stop": " ", "max_tokens": 200, "seed": 3}) + "\n", encoding="utf-8")
    directory = tmp_path / "samples"
    code, out, _ = run(capsys, "generate", tiny_run, "--prompt-file", prompts, "--output-dir", directory, "--threads", "1")
    assert code == 0 and out == ""
    files = sorted(path.name for path in directory.iterdir())
    assert files == ["prompt-0001-sample-1.txt", "prompt-0002-sample-1.txt"]
    lm = LanguageModel.load(tiny_run)
    greedy = lm.generate("the ", max_tokens=5, temperature=0)
    assert (directory / files[0]).read_text(encoding="utf-8") == "the " + greedy + "\n"
    second = (directory / files[1]).read_text(encoding="utf-8")
    assert second.startswith("a ") and " " not in second[2:-1]  # stopped at its own stop string


def test_text_format_and_the_terminal(tiny_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the \na \n", encoding="utf-8")
    out = tmp_path / "samples.txt"
    assert run(capsys, "generate", tiny_run, "--prompt-file", prompts, "--length", "10", "--seed", "1", "--output", out,
               "--format", "text", "--threads", "1")[0] == 0
    texts = out.read_text(encoding="utf-8").split("\n\n")
    assert texts[0].startswith("the ") and len(texts[0]) == len("the ") + 10 and texts[1].startswith("a ")
    code, printed, _ = run(capsys, "generate", tiny_run, "--prompt-file", prompts, "--length", "10", "--seed", "1", "--threads", "1")
    assert code == 0 and printed.startswith("=== prompt 1, sample 1\nthe ") and "=== prompt 2, sample 1\na " in printed
    assert texts[0] in printed


@pytest.mark.parametrize("content, message", [
    ("", "holds no prompt"),
    ("the \nZebra\n", "line 2: the text contains characters"),
    ('{"prompt": "the ", "temprature": 1}\n', "line 1: unknown settings ['temprature']"),
    ('{"prompt": "the "}\nnot json\n', "line 2: not JSON"),
    ('{"text": "the "}\n', 'line 1: expected an object with a "prompt" string'),
    ('{"prompt": "the ", "temperature": -1}\n', "line 1: "),
])
def test_bad_prompt_files_are_clear_errors_naming_the_line(tiny_run, tmp_path, capsys, content, message):
    prompts = tmp_path / "prompts.jsonl" if content.startswith("{") else tmp_path / "prompts.txt"
    prompts.write_text(content, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "generate", tiny_run, "--prompt-file", prompts, "--output", out, "--threads", "1")
    assert code != 0 and message in err and "Traceback" not in err
    assert not out.exists()  # nothing written when a prompt is bad


def test_a_missing_prompt_file_and_beam_search_are_refused(tiny_run, tmp_path, capsys):
    code, _, err = run(capsys, "generate", tiny_run, "--prompt-file", tmp_path / "absent.txt")
    assert code != 0 and "does not exist" in err
    (tmp_path / "p.txt").write_text("the \n", encoding="utf-8")
    code, _, err = run(capsys, "generate", tiny_run, "--prompt-file", tmp_path / "p.txt", "--num-beams", "2")
    assert code != 0 and "beam search" in err
