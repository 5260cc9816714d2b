"""benchmarks/training/baseline_loops.py --beside-default: lstmgen's default and pytorch/examples'
word_language_model trained one after the other on the same tokens, each scored on the same held-out text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "training" / "baseline_loops.py"


@pytest.mark.slow
def test_the_word_loop_runs_beside_lstmgens_default_on_the_same_tokens(tmp_path):
    words = [f"w{i}" for i in range(40)]
    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(words[(i * 7) % 40] for i in range(6_000)) + "\n", encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--loop", "word-language-model", "--beside-default", "--corpus", str(corpus),
                             "--minutes", "0.03", "--threads", "1"], capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    default, loop = report["lstmgen_default"], report["best"]
    assert default["steps"] > 0 and loop["steps"] > 0 and default["plan"]["train"]["optimizer"] == "sgd"  # the word recipe
    assert report["tokenizer"] == "word" and report["vocab_size"] == 41  # 40 words and the unknown one, in both
    for scored in (default, loop):
        assert 0 < scored["val_bits_per_char"] < 10 and 0 < scored["val_nats_per_token"] < 10
    assert report["ratio_bits_per_char"] == pytest.approx(default["val_bits_per_char"] / loop["val_bits_per_char"], abs=1e-4)
