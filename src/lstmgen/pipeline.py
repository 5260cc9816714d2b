"""``train``: from a corpus to a run directory (read -> split -> fit the tokenizer -> encode -> Trainer).

    from lstmgen import train
    result = train(["my.txt"], out_dir="runs/mine", time_budget=3)   # keywords set TrainConfig fields
    train(resume="runs/mine")                                         # continue exactly where it stopped
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .checkpoint import load_checkpoint, resolve_checkpoint_dir
from .config import ConfigError, ModelConfig, TrainConfig
from .corpus import read_corpus
from .data import split_contiguous
from .model import RecurrentLanguageModel
from .presets import get_preset
from .tokenizers import Tokenizer, fit_tokenizer
from .training import Hook, Trainer, TrainResult


# ----- training ------------------------------------------------------------------------------------
def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_configs(vocab_size: int, preset: str = "default", model_overrides: dict[str, Any] | None = None,
                  train_overrides: dict[str, Any] | None = None) -> tuple[ModelConfig, TrainConfig]:
    """Preset values, then explicit overrides (unset = None values are ignored)."""
    spec = get_preset(preset)
    model_values = {**spec["model"], **{k: v for k, v in (model_overrides or {}).items() if v is not None}}
    train_values = {**spec["train"], **{k: v for k, v in (train_overrides or {}).items() if v is not None}}
    return ModelConfig(vocab_size=vocab_size, **model_values), TrainConfig.from_dict(train_values)


def preset_train_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    spec = get_preset(preset)
    return TrainConfig.from_dict({**spec["train"], **{k: v for k, v in overrides.items() if v is not None}})


def train(
    corpus: Sequence[str] = (),
    out_dir: str | os.PathLike = "runs/latest",
    preset: str = "default",
    val: str | None = None,
    text: str | None = None,
    resume: str | os.PathLike | None = None,
    model: dict[str, Any] | None = None,
    hook: Hook | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
    encoding: str = "utf-8",
    encoding_errors: str = "strict",
    glob: str = "*.txt",
    overwrite: bool = False,
    **train_overrides: Any,
) -> TrainResult:
    """Train (or resume) a model and write its run directory; keyword arguments set ``TrainConfig`` fields.

    ``corpus`` names files, directories, globs, ``-`` or named corpora (empty = the embedded default);
    ``text`` passes the training text directly instead; ``val`` names a validation file to use instead of
    splitting off the end of the corpus; ``model`` overrides ``ModelConfig`` fields of the preset.
    """
    if resume is not None:
        return _resume(Path(resume), corpus, val, text, hook, log, progress, encoding, encoding_errors, glob, train_overrides)
    _prepare_out_dir(Path(out_dir), overwrite)
    config = preset_train_config(preset, **train_overrides)
    if val is not None:
        config = replace(config, val_fraction=0.0)
    corpus_text, sources = _read(corpus, text, encoding, encoding_errors, glob)
    # The vocabulary comes from the training part only, so held-out text is scored honestly.
    train_text = split_contiguous(corpus_text, config.val_fraction, config.test_fraction).train
    tokenizer = fit_tokenizer(config.tokenizer, train_text, lowercase=config.lowercase, min_frequency=config.min_frequency)
    model_config, _ = build_configs(tokenizer.vocab_size, preset, model)
    train_tokens, val_tokens, data_info = _datasets(tokenizer, corpus_text, config, val, encoding, encoding_errors)
    data_info.update(sources=list(sources), val_source=val, corpus_sha256=_sha256_text(corpus_text), preset=preset)
    torch.manual_seed(config.seed)  # the initial weights depend on the seed only
    network = RecurrentLanguageModel(model_config)
    trainer = Trainer(network, tokenizer, train_tokens, val_tokens, config, out_dir, hook=hook, log=log, progress=progress, data_info=data_info)
    _announce(trainer, log)
    return trainer.run()


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory unless asked to replace the old one."""
    if not any((out_dir / name).exists() for name in ("last", "best", "metrics.jsonl")):
        return
    if not overwrite:
        raise ConfigError(f"{out_dir} already holds a training run; continue it with --resume {out_dir}, "
                          "choose another --out, or pass --overwrite to replace it")
    for name in ("last", "best"):
        if (out_dir / name).exists():
            shutil.rmtree(out_dir / name)
    for name in ("metrics.jsonl", "loss.png"):
        (out_dir / name).unlink(missing_ok=True)


def _read(corpus: Sequence[str], text: str | None, encoding: str, errors: str, glob: str) -> tuple[str, tuple[str, ...]]:
    if text is not None:
        if corpus:
            raise ConfigError("pass either a corpus or text=..., not both")
        if not text.strip():
            raise ConfigError("the training text is empty")
        return text, ("<text>",)
    read = read_corpus(list(corpus), encoding=encoding, errors=errors, pattern=glob)
    return read.text, read.sources


def _datasets(tokenizer: Tokenizer, corpus_text: str, config: TrainConfig, val: str | None, encoding: str, errors: str):
    """Encode the training part and the held-out text; count held-out symbols the vocabulary lacks."""
    parts = split_contiguous(corpus_text, config.val_fraction, config.test_fraction)
    val_text = read_corpus([val], encoding=encoding, errors=errors).text if val is not None else parts.val
    train_tokens = tokenizer.encode(parts.train, unknown="replace")
    val_tokens = tokenizer.encode(val_text, unknown="replace")
    unknown = sum(tokenizer.unknown_symbols(val_text).values())
    info = {"train_tokens": int(len(train_tokens)), "val_tokens": int(len(val_tokens)), "val_unknown": unknown,
            "test_characters": len(parts.test)}
    return train_tokens, (val_tokens if len(val_tokens) >= 2 else None), info


def _announce(trainer: Trainer, log: Callable[[str], None] | None) -> None:
    say = log or trainer.log
    model, data = trainer.model, trainer.data_info
    say(
        f"model: {model.config.cell.upper()} {model.config.num_layers}x{model.config.hidden_size}, embedding "
        f"{model.config.embedding_size}, {model.num_parameters():,} parameters | vocabulary {trainer.tokenizer.vocab_size} "
        f"({trainer.tokenizer.kind}) | train {data.get('train_tokens', 0):,} tokens, validation {data.get('val_tokens', 0):,} | "
        f"{trainer.batches.steps_per_epoch} steps/epoch | {trainer.threads} thread(s) on {trainer.device}"
    )


def _resume(run_dir: Path, corpus, val, text, hook, log, progress, encoding, errors, glob, overrides) -> TrainResult:
    checkpoint = load_checkpoint(run_dir, prefer="last")
    data = checkpoint.extra.get("data", {})
    sources = list(corpus) or [s for s in data.get("sources", []) if s != "<text>"]
    if text is None and not sources and data.get("sources") == ["<text>"]:
        raise ConfigError(f"{run_dir} was trained on text passed from Python; pass the same text=... to resume")
    corpus_text, _ = _read(sources, text, encoding, errors, glob)
    if data.get("corpus_sha256") and _sha256_text(corpus_text) != data["corpus_sha256"]:
        raise ConfigError(
            f"the corpus differs from the one {run_dir} was trained on (SHA-256 mismatch); "
            "resume with the same corpus files, or start a new run"
        )
    how_long = {k: v for k, v in overrides.items() if k in ("max_epochs", "max_steps", "time_budget", "patience", "threads") and v is not None}
    config = replace(checkpoint.train_config, **how_long)
    val = val if val is not None else data.get("val_source")
    train_tokens, val_tokens, data_info = _datasets(checkpoint.tokenizer, corpus_text, config, val, encoding, errors)
    data_info = {**data, **data_info}
    trainer = Trainer.resume(run_dir, train_tokens, val_tokens, config, hook=hook, log=log, progress=progress, data_info=data_info)
    (log or trainer.log)(f"resuming {resolve_checkpoint_dir(run_dir, prefer='last')} at step {trainer.step}")
    return trainer.run()
