"""Presets: named model and training settings, stored as data. Every preset is tested.

``default`` is what ``lstmgen train`` uses when no preset is named; its figures on Tiny Shakespeare and
Nietzsche are in docs/benchmarks.md. The classic set-ups are reproduced as closely as a stateful
truncated-BPTT trainer allows (the differences are listed in docs/guide.md, "Presets").
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "description": "what trains best on a 2-core CPU in minutes: 1x384 LSTM, small batches, a high learning rate (docs/benchmarks.md)",
        "model": {"embedding_size": 64, "hidden_size": 384, "num_layers": 1, "dropout": 0.1},
        "train": {"batch_size": 32, "seq_length": 50, "learning_rate": 1.5e-2, "grad_clip": 5.0, "warmup_steps": 50},
    },
    "small": {
        "description": "2x128 LSTM: fast to train and to sample, a quick look at a corpus",
        "model": {"embedding_size": 64, "hidden_size": 128, "num_layers": 2, "dropout": 0.0},
        "train": {"batch_size": 50, "seq_length": 50, "learning_rate": 3e-2, "grad_clip": 5.0},
    },
    "medium": {
        "description": "1x512 LSTM with dropout: for runs of 10 minutes or more",
        "model": {"embedding_size": 64, "hidden_size": 512, "num_layers": 1, "dropout": 0.2},
        "train": {"batch_size": 32, "seq_length": 50, "learning_rate": 1e-2, "grad_clip": 5.0},
    },
    "large": {
        "description": "2x512 LSTM with dropout: for long runs (an hour or more on a CPU, or a GPU)",
        "model": {"embedding_size": 128, "hidden_size": 512, "num_layers": 2, "dropout": 0.2},
        "train": {"batch_size": 64, "seq_length": 100, "learning_rate": 3e-3, "grad_clip": 5.0},
    },
    "keras-nietzsche": {
        "description": "the Keras book example: lower-cased Nietzsche, one LSTM of 128, RMSprop 0.01, batch 128, windows of 60",
        "model": {"embedding_size": 64, "hidden_size": 128, "num_layers": 1},
        "train": {
            "lowercase": True, "batch_size": 128, "seq_length": 60, "optimizer": "rmsprop",
            "learning_rate": 0.01, "weight_decay": 0.0, "grad_clip": 0.0, "schedule": "constant",
            "warmup_steps": 0, "max_epochs": 60, "eval_interval": 0, "sample_length": 400,
            "sample_temperatures": [0.2, 0.5, 1.0, 1.2],
        },
    },
    "tf-tutorial": {
        "description": "the TensorFlow text-generation tutorial: embedding 256 -> LSTM 1024, Adam 1e-3, batch 64, windows of 100",
        "model": {"embedding_size": 256, "hidden_size": 1024, "num_layers": 1},
        "train": {
            "batch_size": 64, "seq_length": 100, "optimizer": "adam", "learning_rate": 1e-3,
            "weight_decay": 0.0, "grad_clip": 0.0, "schedule": "constant", "warmup_steps": 0,
            "max_epochs": 20, "eval_interval": 0, "sample_prompt": "ROMEO:", "sample_length": 500,
            "sample_temperatures": [0.2, 0.5, 1.0, 1.2],
        },
    },
    "char-rnn": {
        "description": "Karpathy's char-rnn defaults: 2x128 LSTM, windows of 50, batch 50, learning rate 2e-3",
        "model": {"embedding_size": 128, "hidden_size": 128, "num_layers": 2},
        "train": {
            "batch_size": 50, "seq_length": 50, "optimizer": "adam", "learning_rate": 2e-3,
            "weight_decay": 0.0, "grad_clip": 5.0, "schedule": "constant", "warmup_steps": 0, "max_epochs": 50,
        },
    },
}


def get_preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"no preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
