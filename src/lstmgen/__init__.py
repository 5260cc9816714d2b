"""lstmgen: train recurrent (LSTM) language models on any text and generate from them.

The public API:

    LanguageModel          load a checkpoint, generate, stream, score text
    train                  train (or resume) a model from files, named corpora or a string
    ModelConfig, TrainConfig, GenerationConfig   the validated configurations
    RecurrentLanguageModel the torch module: forward(tokens, state) -> (logits, state), init_state(batch)

Each name is imported on first use (PEP 562), so ``lstmgen --help`` starts without loading torch, and
applications that only generate (the server) never load the training code.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "LanguageModel": "language_model",
    "train": "pipeline",
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "ConfigError": "config", "GenerationConfig": "config", "ModelConfig": "config", "TrainConfig": "config",
    "CorpusError": "corpus", "read_corpus": "corpus",
    "DataError": "data",
    "LossReport": "metrics",
    "RecurrentLanguageModel": "model",
    "PRESETS": "presets",
    "ByteTokenizer": "tokenizers", "CharTokenizer": "tokenizers", "TokenizerError": "tokenizers", "WordTokenizer": "tokenizers",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lstmgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
