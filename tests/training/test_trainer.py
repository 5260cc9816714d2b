import json
import os
import signal

import numpy as np
import pytest
import torch

import lstmgen.system.runtime as runtime
from conftest import TINY_MODEL, TINY_SETTINGS, TINY_TEXT
from lstmgen import ConfigError, LanguageModel, TrainConfig, load_checkpoint, train
from lstmgen.training.trainer import learning_rate

QUIET = dict(progress=False, log=lambda line: None)


def test_tiny_model_overfits_tiny_corpus(tmp_path):
    text = "abcdefgh" * 40
    result = train(text=text, out_dir=tmp_path / "run", val_fraction=0.1, model=dict(embedding_size=8, hidden_size=32),
                   batch_size=4, seq_length=16, max_steps=150, eval_interval=50, learning_rate=2e-2, sample_length=0,
                   threads=1, **QUIET)
    assert result.best_val["val_nats"] < 0.05  # a cyclic text is perfectly predictable
    lm = LanguageModel.load(tmp_path / "run")
    assert lm.generate("abc", max_tokens=16, temperature=0) == "defghabcdefghabc"


def test_run_directory_contents(tiny_run):
    assert {p.name for p in tiny_run.iterdir()} >= {"best", "last", "metrics.jsonl", "loss.png"}
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40]
    assert all({"train_loss", "val_nats", "val_bits", "val_perplexity", "tokens_per_second", "elapsed"} <= r.keys() for r in records)
    assert records[-1]["val_bits"] == pytest.approx(records[-1]["val_nats"] / np.log(2))


def _weights(path):
    return load_checkpoint(path, prefer="last").model.state_dict()


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


RESUME_SETTINGS = {**TINY_SETTINGS, "max_steps": 30, "eval_interval": 10}
# dropout and weight dropout: their masks' random streams must resume too
RESUME_MODEL = dict(embedding_size=16, hidden_size=24, num_layers=2, dropout=0.2, weight_dropout=0.3)


def test_resume_equals_uninterrupted(tmp_path):
    train(text=TINY_TEXT, out_dir=tmp_path / "whole", model=RESUME_MODEL, **RESUME_SETTINGS, **QUIET)
    stopped = train(text=TINY_TEXT, out_dir=tmp_path / "split", model=RESUME_MODEL, hook=lambda trainer, record: record["step"] == 10,
                    **RESUME_SETTINGS, **QUIET)
    assert stopped.steps == 10 and stopped.stop_reason == "stopped by hook"
    resumed = train(resume=tmp_path / "split", **QUIET)
    assert resumed.steps == 30
    _assert_same_weights(_weights(tmp_path / "whole"), _weights(tmp_path / "split"))
    history = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert history == [10, 20, 30]
    assert load_checkpoint(tmp_path / "split").model.config.weight_dropout == 0.3


def test_interrupt_saves_and_resumes_exactly(tmp_path):
    """Ctrl-C (SIGINT) in the middle of a run: the step finishes, last/ is saved, and resuming loses nothing."""
    train(text=TINY_TEXT, out_dir=tmp_path / "whole", model=RESUME_MODEL, **RESUME_SETTINGS, **QUIET)

    def interrupt(trainer, record):
        if record["step"] == 10:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while training continues

    stopped = train(text=TINY_TEXT, out_dir=tmp_path / "split", model=RESUME_MODEL, hook=interrupt, **RESUME_SETTINGS, **QUIET)
    assert stopped.stop_reason == "interrupted" and stopped.steps == 11
    train(resume=tmp_path / "split", **QUIET)
    _assert_same_weights(_weights(tmp_path / "whole"), _weights(tmp_path / "split"))


def test_early_stopping(tmp_path):
    # A learning rate this high cannot improve for long; patience 1 ends the run early.
    result = train(text=TINY_TEXT, out_dir=tmp_path / "run", model=TINY_MODEL, patience=1, schedule="constant",
                   **{**TINY_SETTINGS, "learning_rate": 5.0, "max_steps": 400, "eval_interval": 5, "grad_clip": 0.0}, **QUIET)
    assert result.stop_reason == "early stopping" and result.steps < 400


def test_learning_rate_schedule():
    config = TrainConfig(learning_rate=1.0, warmup_steps=10, final_lr_fraction=0.1)
    assert learning_rate(config, 0, 0.0) == pytest.approx(0.1)
    assert learning_rate(config, 10, 0.0) == pytest.approx(1.0)
    assert learning_rate(config, 50, 0.5) == pytest.approx(0.55)
    assert learning_rate(config, 100, 1.0) == pytest.approx(0.1)
    constant = TrainConfig(learning_rate=0.5, warmup_steps=0, schedule="constant")
    assert learning_rate(constant, 77, 0.9) == 0.5


def test_planned_steps():
    from lstmgen.training.trainer import planned_steps

    assert planned_steps(TrainConfig(max_steps=7), 100) == 7
    assert planned_steps(TrainConfig(max_epochs=1.5), 100) == 150
    assert planned_steps(TrainConfig(), 100) == 1000  # no limit named: 10 epochs
    assert planned_steps(TrainConfig(time_budget=2.0), 100) is None  # the budget alone decides
    assert planned_steps(TrainConfig(time_budget=2.0, max_epochs=2), 100) == 200


def test_fp16_training_needs_a_gpu(tmp_path):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train(text=TINY_TEXT, out_dir=tmp_path / "fp16", model=TINY_MODEL, precision="fp16", device="cpu",
              **{**TINY_SETTINGS, "max_steps": 2}, **QUIET)


def test_bf16_training_is_refused_on_an_avx2_only_cpu(tmp_path, monkeypatch):
    # oneDNN, which runs PyTorch's CPU bf16, cannot even build the LSTM there: a clear refusal instead of its error.
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"sse2", "avx", "avx2", "fma", "f16c"}))
    with pytest.raises(ConfigError, match="bf16 on a CPU needs AVX-512"):
        train(text=TINY_TEXT, out_dir=tmp_path / "bf16", model=TINY_MODEL, precision="bf16", device="cpu",
              **{**TINY_SETTINGS, "max_steps": 2}, **QUIET)
    assert not (tmp_path / "bf16").exists()  # refused before anything is read, probed or written
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}))
    assert runtime.cpu_runs_bf16()  # AVX-512 without its bf16 instructions: emulated, slower, but it runs


@pytest.mark.skipif(not runtime.cpu_runs_bf16(), reason="this CPU runs no bf16 (AVX2 only); the refusal is tested above")
def test_bf16_trains_on_a_cpu(tmp_path):
    result = train(text=TINY_TEXT, out_dir=tmp_path / "bf16", model=TINY_MODEL, precision="bf16", device="cpu",
                   **{**TINY_SETTINGS, "max_steps": 20}, **QUIET)
    weights = load_checkpoint(tmp_path / "bf16").model.state_dict()
    assert all(w.dtype == torch.float32 for w in weights.values())  # checkpoints stay float32
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] + 1.0 and np.isfinite(result.best_val["val_nats"])


def test_devices_are_validated():
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig(device="tpu")
    from lstmgen.system.runtime import resolve_device

    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="no Metal"):
            resolve_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"
