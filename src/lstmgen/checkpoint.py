"""Self-describing checkpoints: one directory that loads with nothing else (no corpus, no flags).

    config.json          format version, library version, model config, tokenizer kind, training config
    tokenizer.json       the vocabulary
    model.safetensors    the weights (no pickle)
    trainer_state.pt     optimizer, step, RNG states, data cursor, carried state (loaded weights_only=True)
    metrics.jsonl        the evaluation history of the run so far

A checkpoint is written into a temporary directory beside its target and renamed into place, so a
crash never leaves a half-written one. A training run directory holds ``best/`` and ``last/``
checkpoints; loading a run directory picks ``best/``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ConfigError, ModelConfig, TrainConfig
from .model import RecurrentLanguageModel
from .tokenizers import Tokenizer, TokenizerError, tokenizer_from_dict
from .version import __version__

FORMAT = "lstmgen-checkpoint"
FORMAT_VERSION = 1
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, foreign or too new; the message says which file and why."""


@dataclass
class Checkpoint:
    path: Path
    model: RecurrentLanguageModel
    tokenizer: Tokenizer
    train_config: TrainConfig | None
    trainer_state: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_checkpoint_dir(path: str | os.PathLike, prefer: str = "best") -> Path:
    """A checkpoint directory itself, or the ``best/`` (or ``last/``) checkpoint of a run directory."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the directory does not exist")
    if (path / "config.json").exists():
        return path
    order = ("best", "last") if prefer == "best" else ("last", "best")
    for name in order:
        if (path / name / "config.json").exists():
            return path / name
    raise CheckpointError(
        f"{path} is not a checkpoint: it has no config.json (nor best/ or last/ checkpoints); "
        "point at a directory written by lstmgen train"
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_checkpoint(
    path: str | os.PathLike,
    model: RecurrentLanguageModel,
    tokenizer: Tokenizer,
    train_config: TrainConfig | None = None,
    trainer_state: dict[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically to ``path`` (replacing any checkpoint there) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "lstmgen_version": __version__,
            "model": model.config.to_dict(),
            "tokenizer": tokenizer.kind,
            "train": train_config.to_dict() if train_config is not None else None,
            "extra": extra or {},
        }
        _write_json(staging / "config.json", config)
        _write_json(staging / "tokenizer.json", tokenizer.to_dict())
        # safetensors refuses shared storage: save tied weights once (the output shares the embedding).
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_weights:
            tensors.pop("output.weight", None)
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": FORMAT})
        if trainer_state is not None:
            torch.save(trainer_state, staging / "trainer_state.pt")
        with open(staging / "metrics.jsonl", "w", encoding="utf-8") as handle:
            for record in metrics or []:
                handle.write(json.dumps(record) + "\n")
        # Swap into place: move any old checkpoint aside, rename the new one in, then delete the old.
        retired = None
        if target.exists():
            retired = target.with_name(f".{target.name}.old")
            if retired.exists():
                shutil.rmtree(retired)
            os.replace(target, retired)
        os.replace(staging, target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} ({what}) is unreadable or not valid JSON: {error}") from error


def load_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    with_trainer_state: bool = False,
    prefer: str = "best",
) -> Checkpoint:
    """Load a checkpoint (or a run directory's best one) onto ``device``, whatever device trained it."""
    directory = resolve_checkpoint_dir(path, prefer=prefer)
    config = _read_json(directory / "config.json", "checkpoint config")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory}/config.json is not an lstmgen checkpoint config (no format {FORMAT!r})")
    missing = [name for name in REQUIRED_FILES if not (directory / name).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is incomplete: missing {', '.join(missing)}")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {directory} has format version {version}, newer than this lstmgen "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade lstmgen to load it"
        )
    try:
        model_config = ModelConfig.from_dict(config["model"])
        train_config = TrainConfig.from_dict(config["train"]) if config.get("train") else None
    except (KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"{directory}/config.json has an invalid model or training config: {error}") from error
    try:
        tokenizer = tokenizer_from_dict(_read_json(directory / "tokenizer.json", "tokenizer"))
    except TokenizerError as error:
        raise CheckpointError(f"{directory}/tokenizer.json: {error}") from error
    if tokenizer.vocab_size != model_config.vocab_size:
        raise CheckpointError(
            f"checkpoint {directory}: tokenizer.json has {tokenizer.vocab_size} symbols but the model "
            f"expects {model_config.vocab_size}; the files come from different runs"
        )
    model = RecurrentLanguageModel(model_config)
    try:
        tensors = load_file(str(directory / "model.safetensors"), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{directory}/model.safetensors is corrupt or not a safetensors file: {error}") from error
    if model_config.tie_weights:
        tensors.setdefault("output.weight", tensors.get("embedding.weight"))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{directory}/model.safetensors does not match config.json: {error}") from error
    model.to(device)
    trainer_state = None
    if with_trainer_state:
        state_path = directory / "trainer_state.pt"
        if not state_path.exists():
            raise CheckpointError(f"checkpoint {directory} has no trainer_state.pt, so training cannot resume from it")
        try:
            trainer_state = torch.load(state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for corrupt or unsafe files
            raise CheckpointError(f"{state_path} is corrupt or holds unsafe objects: {error}") from error
    metrics = []
    if (directory / "metrics.jsonl").exists():
        for line in (directory / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    metrics.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise CheckpointError(f"{directory}/metrics.jsonl has a malformed line: {error}") from error
    return Checkpoint(directory, model, tokenizer, train_config, trainer_state, metrics, config.get("extra") or {})
