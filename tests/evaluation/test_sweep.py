import json
import math

import pytest
import torch

from lstmgen.cli import main
from lstmgen.evaluation.sweep import temperature_sweep


def _direct(lm, prompt, samples, temperature):
    """Mean entropy (bits) of softmax(logits / T) and mean NLL (nats), by teacher forcing each sample."""
    entropies, nlls = [], []
    for sample in samples:
        ids = lm.tokenizer.encode(prompt + sample).tolist()
        with torch.no_grad():
            logits, _ = lm.model(torch.tensor([ids[:-1]]))
        logits = logits[0, len(prompt) - 1 :].double()  # the positions that predicted the sample
        logits[:, 0] = float("-inf")  # the unknown symbol, never generated
        targets = torch.tensor(ids[len(prompt) :])
        nlls += (-torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0]).tolist()
        if temperature == 0:
            entropies += [0.0] * len(targets)
            continue
        p = torch.softmax(logits / temperature, -1)
        terms = torch.where(p > 0, p * torch.log2(p), torch.zeros_like(p))
        entropies += (-terms.sum(-1)).tolist()
    return sum(entropies) / len(entropies), sum(nlls) / len(nlls)


def test_sweep_entropy_and_nll_match_a_direct_computation(lm):
    result = temperature_sweep(lm, [0.0, 0.02, 1.0], prompt="the ", length=40, num_samples=3, seed=3)
    rows = {row["temperature"]: row for row in result["rows"]}
    for temperature, row in rows.items():
        assert len(row["samples"]) == 3 and all(len(s) == 40 for s in row["samples"])
        entropy, nll = _direct(lm, "the ", row["samples"], temperature)
        assert row["entropy_bits"] == pytest.approx(entropy, abs=1e-4)
        assert row["nll_nats"] == pytest.approx(nll, abs=1e-4)
        assert row["nll_bits"] == pytest.approx(nll / math.log(2))
    assert rows[0.0]["entropy_bits"] == 0.0
    assert rows[0.02]["entropy_bits"] < 0.05 < rows[1.0]["entropy_bits"]  # T -> 0 tends to the greedy one-hot
    # The model finds its own cold samples more likely than its warm ones.
    assert rows[0.0]["nll_nats"] < rows[1.0]["nll_nats"]


def test_sweep_command_writes_table_json_and_plot(tiny_run, tiny_file, tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["sweep", str(tiny_run), "--temperatures", "0.5,1.0", "--length", "30", "--num-samples", "2",
                 "--prompt", "the ", "--corpus", str(tiny_file), "--text", str(tiny_file), "--out", str(out), "--threads", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "entropy" in printed and "\n  0.5 " in printed and "\n text " in printed
    result = json.loads(out.with_suffix(".json").read_text())
    assert [row["temperature"] for row in result["rows"]] == [0.5, 1.0]
    for row in result["rows"] + [result["heldout"]]:
        assert 0 <= row["known_words"] <= 1 and len(row["samples"]) == 2
    assert result["heldout"]["known_words"] == 1.0  # the corpus's own words are all known
    assert out.with_suffix(".png").stat().st_size > 1000


def test_sweep_without_a_readable_corpus_says_so(tiny_run, tmp_path, capsys):
    # tiny_run was trained from a Python string: its recorded source is "<text>".
    code = main(["sweep", str(tiny_run), "--temperatures", "1", "--length", "10", "--num-samples", "1",
                 "--out", str(tmp_path / "s"), "--no-plot"])
    assert code == 0
    captured = capsys.readouterr()
    assert "pass --corpus" in captured.err
    assert json.loads((tmp_path / "s.json").read_text())["rows"][0]["known_words"] is None
    assert not (tmp_path / "s.png").exists()


def test_sweep_rejects_bad_temperatures(tiny_run, tmp_path, capsys):
    assert main(["sweep", str(tiny_run), "--temperatures", "-1", "--out", str(tmp_path / "s"), "--no-plot"]) == 2
    assert "temperatures must be >= 0" in capsys.readouterr().err
