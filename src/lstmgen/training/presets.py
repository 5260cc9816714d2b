"""Presets: named model and training settings, stored as data. Every preset is tested.

``default`` is what ``lstmgen train`` uses when no preset is named; its figures on Tiny Shakespeare and
Nietzsche are in docs/benchmarks.md. The classic set-ups are reproduced as closely as a stateful
truncated-BPTT trainer allows (the differences are listed in docs/guide.md, "Presets").
"""

from __future__ import annotations

from typing import Any

from ..config import ConfigError

# What the classic examples share: a constant learning rate with no warm-up, decay or clipping, and samples at
# the four temperatures of the Keras book after every epoch.
CLASSIC_TRAINING = {"weight_decay": 0.0, "grad_clip": 0.0, "schedule": "constant", "warmup_steps": 0, "eval_interval": 0,
                    "sample_temperatures": [0.2, 0.5, 1.0, 1.2]}



def _sized(description: str, embedding: int, hidden: int, layers: int, dropout: float, batch: int, window: int,
           rate: float, **train: Any) -> dict[str, Any]:
    """A preset that sets the model's size and the batch, window and learning rate that suit it (AdamW, clip 5)."""
    return {"description": description,
            "model": {"embedding_size": embedding, "hidden_size": hidden, "num_layers": layers, "dropout": dropout},
            "train": {"batch_size": batch, "seq_length": window, "learning_rate": rate, "grad_clip": 5.0, **train}}


PRESETS: dict[str, dict[str, Any]] = {
    #                   description                                                  emb  hidden layers dropout batch window rate
    "default": _sized("budget-aware: for characters the width, learning rate, dropout and weight decay are chosen from the time budget "
                      "(or step limit), the corpus and a throughput probe; for words and subwords a measured SGD recipe with "
                      "dropout from the epochs (lstmgen.training.budget); explicit flags win", 64, 384, 1, 0.1,
                      32, 50, 1.5e-2, warmup_steps=50),
    "cpu-4min": _sized("the fixed default tuned for 4 minutes on 2 CPU cores before the default became budget-aware: "
                       "1x384 LSTM, small batches, a high learning rate", 64, 384, 1, 0.1, 32, 50, 1.5e-2, warmup_steps=50),
    "small": _sized("2x128 LSTM: fast to train and to sample, a quick look at a corpus", 64, 128, 2, 0.0, 50, 50, 3e-2),
    "medium": _sized("1x512 LSTM with dropout: for runs of 10 minutes or more", 64, 512, 1, 0.2, 32, 50, 1e-2),
    "large": _sized("2x512 LSTM with dropout: for long runs (an hour or more on a CPU, or a GPU)", 128, 512, 2, 0.2, 64, 100, 3e-3),
    "keras-nietzsche": {
        "description": "the Keras book example: lower-cased Nietzsche, one LSTM of 128, RMSprop 0.01, batch 128, windows of 60",
        "model": {"embedding_size": 64, "hidden_size": 128, "num_layers": 1},
        "train": {**CLASSIC_TRAINING, "lowercase": True, "batch_size": 128, "seq_length": 60, "optimizer": "rmsprop",
                  "learning_rate": 0.01, "max_epochs": 60, "sample_length": 400},
    },
    "tf-tutorial": {
        "description": "the TensorFlow text-generation tutorial: embedding 256 -> LSTM 1024, Adam 1e-3, batch 64, windows of 100",
        "model": {"embedding_size": 256, "hidden_size": 1024, "num_layers": 1},
        "train": {**CLASSIC_TRAINING, "batch_size": 64, "seq_length": 100, "optimizer": "adam", "learning_rate": 1e-3,
                  "max_epochs": 20, "sample_prompt": "ROMEO:", "sample_length": 500},
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
