"""lstmgen: train recurrent (LSTM) language models on any text and generate from them.

The public API:

    LanguageModel          load a checkpoint, generate, stream, score text
    train                  train (or resume) a model from files, named corpora or a string
    ModelConfig, TrainConfig, GenerationConfig   the validated configurations
    RecurrentLanguageModel the torch module: forward(tokens, state) -> (logits, state), init_state(batch)

Each name is imported on first use (PEP 562), so ``lstmgen --help`` starts without loading torch, and
applications that only generate (the server) never load the training code.

The package, one folder per stage of the data flow (docs/guide.md, "Architecture in one screen"):

    system/       how lstmgen meets the machine: threads, console, durable writes, untrusted reads, locks, run layout
    config.py     ModelConfig, TrainConfig, GenerationConfig: every knob once
    tokenizers/   text <-> token ids: char, word, byte, subword, one registry table
    model/        the recurrent LM: forward(tokens, state) -> (logits, state); init_state(batch); the cells
    data/         corpora, documents, the token store, TBPTT batches
    decoding/     processors, choosers, the stepper, the fast LSTM, generation, beam search
    checkpoint.py one self-describing checkpoint directory
    evaluation/   held-out loss, measures, the temperature sweep, BLEU
    language_model.py, export.py   LanguageModel (load, generate, score) and ONNX export
    training/     the training path: pipeline, trainer, budget, presets, ... (start at training/pipeline.py)
    gan/          SeqGAN and dense-reward adversarial fine-tuning
    experiments/  studies with fixed data and reports (the oracle, COCO)
    cli/, server/ the edges: ``lstmgen`` and ``lstmgen serve``
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "LanguageModel": "language_model",
    "train": "training.pipeline",
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "ConfigError": "config", "GenerationConfig": "config", "ModelConfig": "config", "TrainConfig": "config",
    "CorpusError": "data.corpus", "read_corpus": "data.corpus",
    "DataError": "data.batches",
    "LossReport": "evaluation.measures",
    "RecurrentLanguageModel": "model",
    "PRESETS": "training.presets",
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
