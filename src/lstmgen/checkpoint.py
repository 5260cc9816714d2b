"""Self-describing checkpoints: one directory that loads with nothing else (no corpus, no flags).

    config.json          format version, library version, model config, tokenizer kind, training config
    tokenizer.json       the vocabulary
    model.safetensors    the weights (no pickle)
    trainer_state.pt     optimizer, step, RNG states, data cursor, carried state (loaded weights_only=True)
    metrics.jsonl        the evaluation history of the run so far
    manifest.json        every other file's size and SHA-256, written last

**Writing.** A checkpoint is written into a staging directory beside its target, each file fsynced,
``manifest.json`` last, then swapped into place (``lstmgen.system.durable``): a crash leaves the old checkpoint
or the new one, and a staging directory with a manifest that verifies is known to be complete, which is
how ``resolve_checkpoint_dir`` and ``lstmgen.training.recovery`` find a checkpoint that a crash left between the
two renames of the swap. A failed write (a full disk) is a ``CheckpointError`` that leaves the previous
checkpoint as it was. Weights that are not finite are refused: nothing is written that loading refuses.

**Loading** treats the directory as untrusted input. Each file is read only if it is a regular file of a
plausible size (``lstmgen.system.untrusted``: a FIFO or a link to /dev/zero cannot hang it); the format and
version are checked first; then each file's bytes against ``manifest.json`` (a flipped byte anywhere is
refused; checkpoints written before manifests existed load unverified); the configuration against its
bounds and a parameter cap, and the weights' names, shapes and dtypes against the model it describes,
all before anything is allocated; the weights must be finite; ``trainer_state.pt`` is unpickled with
``weights_only=True`` and its structure checked (``lstmgen.training.state``). Every problem is a
``CheckpointError`` that names the file. No path recorded in a checkpoint is ever followed.

A training run directory holds ``best/`` and ``last/`` checkpoints; loading a run directory picks ``best/``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save_file

from .config import ConfigError, ModelConfig, TrainConfig
from .model import CELLS, RecurrentLanguageModel, mogrifier_parameter_count
from .model.adaptive import adaptive_parameter_count
from .system import durable
from .system.run_directory import BEST, METRICS, checkpoint_order, looks_like_run
from .system.untrusted import decode_utf8, parse_json, read_regular
from .tokenizers import TOKENIZERS, Tokenizer, TokenizerError, tokenizer_from_dict
from .version import __version__

FORMAT = "lstmgen-checkpoint"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "lstmgen-checkpoint-manifest"
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
# Caps that refuse absurd files before they are read. The JSON files of a checkpoint stay far below
# 256 MiB (a word vocabulary of a million words is about 15 MB); a safetensors header is a few KB.
MAX_JSON_BYTES = 256 << 20
MAX_HEADER_BYTES = 16 << 20
# The largest model a checkpoint may describe: 2**32 parameters, 16 GiB of float32 weights (and an
# optimizer state twice that). Far beyond the LSTMs lstmgen trains; it refuses a config.json that
# asks for terabytes before anything is allocated. Raise it here if you really have such a model.
MAX_PARAMETERS = 1 << 32


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, foreign or too new, or cannot be written; the message says which file and why."""


@dataclass
class Checkpoint:
    path: Path
    model: RecurrentLanguageModel
    tokenizer: Tokenizer
    train_config: TrainConfig | None
    trainer_state: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# ----- finding a checkpoint ----------------------------------------------------------------------------
def resolve_checkpoint_dir(path: str | os.PathLike, prefer: str = BEST) -> Path:
    """A checkpoint directory itself, or the ``best/`` (or ``last/``) checkpoint of a run directory.

    When a crash left a run without ``last/`` (or ``best/``) but with a complete checkpoint beside it
    (``.last.old``, or a staging directory whose manifest verifies), that one is used: it is what the
    interrupted swap was putting in place, or what it was replacing.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the directory does not exist")
    if os.path.lexists(path / "config.json"):
        return path
    for name in checkpoint_order(prefer):
        if os.path.lexists(path / name / "config.json"):
            return path / name
        left = recoverable_checkpoint(path / name)
        if left is not None:
            return left
    hint = "point at a directory written by lstmgen train"
    if looks_like_run(path):
        hint = ("the run stopped before its first checkpoint was written: start it again with the same command "
                "(lstmgen.training.recovery.recover_run_directory clears what it left)")
    raise CheckpointError(f"{path} is not a checkpoint: it has no config.json (nor best/ or last/ checkpoints); {hint}")


def checkpoint_step(directory: Path) -> int | None:
    """The training step a checkpoint was saved at (``extra.steps`` of its config.json), if it says."""
    try:
        config = parse_json(read_regular(directory / "config.json", CheckpointError, MAX_JSON_BYTES), "config.json", CheckpointError)
    except CheckpointError:
        return None
    steps = (config.get("extra") or {}).get("steps") if isinstance(config, dict) and isinstance(config.get("extra"), dict) else None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def is_complete(directory: Path, legacy: bool = False) -> bool:
    """Whether ``directory`` holds a whole checkpoint: its manifest verifies every file it lists (or, with
    ``legacy``, it has no manifest but holds the required files, as a checkpoint written before manifests did)."""
    if not directory.is_dir():
        return False
    files = _Files(directory)
    try:
        if files.load_manifest() is None:
            return legacy and all((directory / name).is_file() for name in REQUIRED_FILES)
        for name in files.manifest:
            files.read(name, limit=None)
        return True
    except CheckpointError:
        return False


def recoverable_checkpoint(target: Path) -> Path | None:
    """The complete checkpoint a crash left beside a missing ``target``: the newest (by step) of its
    verified staging directories and ``.NAME.old`` (which was ``target`` until the swap moved it aside)."""
    if os.path.lexists(target):
        return None
    retired = durable.retired_name(target)
    complete = [path for path in durable.leftovers(target) if is_complete(path, legacy=path == retired)]
    if not complete:
        return None
    return max(complete, key=lambda path: (checkpoint_step(path) or -1, path != retired))


# ----- writing ---------------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    model: RecurrentLanguageModel,
    tokenizer: Tokenizer,
    train_config: TrainConfig | None = None,
    trainer_state: dict[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically and durably to ``path`` (replacing any checkpoint there) and return the path."""
    target = Path(path)
    # safetensors refuses shared storage: save tied weights once (the output shares the embedding).
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    if model.config.tie_weights:
        tensors.pop("output.weight", None)
    broken = [name for name, value in tensors.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise CheckpointError(f"refusing to write {target}: the weights {', '.join(broken)} hold NaN or infinite values (the "
                              "run diverged: lower the learning rate or clip gradients); the previous checkpoint there is kept")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lstmgen_version": __version__,
        "model": model.config.to_dict(),
        "tokenizer": tokenizer.kind,
        "train": train_config.to_dict() if train_config is not None else None,
        "extra": extra or {},
    }
    staging = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = durable.staging_directory(target)
        durable.write_file(staging / "tokenizer.json", _json_bytes(tokenizer.to_dict()))
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": FORMAT})
        durable.sync_file(staging / "model.safetensors")
        if trainer_state is not None:
            with open(staging / "trainer_state.pt", "wb") as handle:
                torch.save(trainer_state, handle)
                handle.flush()
                os.fsync(handle.fileno())
        durable.write_file(staging / METRICS, "".join(json.dumps(record) + "\n" for record in metrics or []).encode("utf-8"))
        durable.write_file(staging / "config.json", _json_bytes(config))
        write_manifest(staging)  # last: its presence marks the staging directory as complete
        durable.swap_directory(staging, target)
    except (OSError, SafetensorError, RuntimeError) as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise CheckpointError(f"could not write {target}: {_write_failure(error, target.parent)}; the previous checkpoint "
                              "there (if any) is intact") from error
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    for left in durable.leftovers(target):  # what earlier crashes left beside it: the new checkpoint supersedes them
        shutil.rmtree(left, ignore_errors=True)
    return target


def write_manifest(directory: Path) -> None:
    """Record the size and SHA-256 of every file of the checkpoint in ``directory`` in its manifest.json."""
    files = {}
    for path in sorted(directory.iterdir()):
        if path.name != MANIFEST and path.is_file():
            files[path.name] = {"bytes": path.stat().st_size, "sha256": durable.file_sha256(path)}
    durable.write_file(directory / MANIFEST, _json_bytes({"format": MANIFEST_FORMAT, "files": files}))


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_failure(error: BaseException, directory: Path) -> str:
    """What went wrong, in words: 'no space left on device', ... (safetensors and torch wrap the OS error)."""
    number = error.errno if isinstance(error, OSError) else None
    found = re.search(r"os error (\d+)", str(error))
    number = number or (int(found.group(1)) if found else None)
    if number:
        reason = os.strerror(number)
        reason = reason[:1].lower() + reason[1:]
    else:
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = None
    if number != errno.ENOSPC and free is not None and free < (1 << 20):
        reason += f" (the disk has {free:,} bytes free: no space left on device?)"
    return reason


# ----- reading -------------------------------------------------------------------------------------
class _Files:
    """A checkpoint directory's files, each read through ``read_regular`` and checked against manifest.json."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest: dict[str, dict[str, Any]] | None = None

    def load_manifest(self) -> dict[str, dict[str, Any]] | None:
        path = self.directory / MANIFEST
        if not os.path.lexists(path):
            return None
        data = parse_json(read_regular(path, CheckpointError, MAX_JSON_BYTES, "checkpoint manifest"), str(path), CheckpointError)
        files = data.get("files") if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
        if not isinstance(files, dict) or not all(
                isinstance(entry, dict) and _is_count(entry.get("bytes")) and isinstance(entry.get("sha256"), str)
                and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) for entry in files.values()):
            raise CheckpointError(f"{path} is corrupt: it is not a manifest of file sizes and SHA-256 hashes")
        unlisted = [name for name in REQUIRED_FILES if name not in files]
        if unlisted:
            raise CheckpointError(f"{path} is corrupt: it does not list {', '.join(unlisted)}")
        self.manifest = files
        return files

    def read(self, name: str, limit: int | None = MAX_JSON_BYTES, at_least: int = 0) -> bytes:
        path = self.directory / name
        entry = None
        if self.manifest is not None:
            entry = self.manifest.get(name)
            if entry is None:
                raise CheckpointError(f"{path} is not listed in {MANIFEST}: it was added after the checkpoint was written")
            limit = entry["bytes"] if limit is None else min(limit, entry["bytes"])
        data = read_regular(path, CheckpointError, limit)
        if len(data) < at_least:
            raise CheckpointError(f"{path} is corrupt (truncated): it holds {len(data):,} bytes, less than the {at_least:,} its "
                                  "config.json's model needs")
        if entry is not None:
            self.verify(name, data)
        return data

    def verify(self, name: str, data: bytes) -> None:
        entry = (self.manifest or {}).get(name)
        if entry is not None and (len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]):
            raise CheckpointError(
                f"{self.directory / name} is corrupt: its size or SHA-256 does not match {MANIFEST} (it changed after the "
                f"checkpoint was written). Restore it from a copy; if you edited it on purpose, delete {MANIFEST} to load "
                "the checkpoint unverified")

    def json(self, name: str) -> Any:
        return parse_json(self.read(name), str(self.directory / name), CheckpointError)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parameter_count(config: ModelConfig) -> int:
    """Parameters of the model ``config`` describes, by formula (nothing is built): embedding V x E; per
    layer G gates of H x (input + H) weights and 2 G H biases; the output H x V (unless tied) and V biases, or an
    adaptive softmax's head and clusters."""
    gates = CELLS[config.cell].gates
    vocabulary, embedding, hidden = config.vocab_size, config.embedding_size, config.hidden_size
    layers = sum(gates * hidden * ((embedding if layer == 0 else hidden) + hidden + 2) for layer in range(config.num_layers))
    if config.cell == "mogrifier":  # and each layer's gating matrices
        layers += sum(mogrifier_parameter_count(embedding if layer == 0 else hidden, hidden, config.mogrifier_rounds,
                                                config.mogrifier_rank) for layer in range(config.num_layers))
    if config.adaptive_softmax:
        return vocabulary * embedding + layers + adaptive_parameter_count(hidden, vocabulary, config.adaptive_softmax)
    return vocabulary * embedding + layers + (0 if config.tie_weights else hidden * vocabulary) + vocabulary


def expected_tensors(config: ModelConfig) -> dict[str, torch.Tensor]:
    """Name -> a meta tensor of the shape and dtype model.safetensors must hold for ``config`` (no memory used)."""
    with torch.device("meta"):
        tensors = RecurrentLanguageModel(config).state_dict()
    if config.tie_weights:
        tensors.pop("output.weight", None)
    return dict(tensors)


def _check_config(config: Any, directory: Path) -> None:
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory}/config.json is not an lstmgen checkpoint config (no format {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {directory} has format version {version!r}, newer than this lstmgen "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade lstmgen to load it"
        )


def _read_configs(config: dict[str, Any], directory: Path) -> tuple[ModelConfig, TrainConfig | None, dict[str, Any]]:
    source = f"{directory}/config.json"
    try:
        model_config = ModelConfig.from_dict(config.get("model"))
        train = config.get("train")
        train_config = None if train is None or train == {} else TrainConfig.from_dict(train)
    except (KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"{source} has an invalid model or training config: {error}") from error
    extra = config.get("extra")
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise CheckpointError(f"{source} has an 'extra' entry of type {type(extra).__name__}, expected an object")
    best, steps, data = extra.get("best_val"), extra.get("steps"), extra.get("data")
    if best is not None and not (isinstance(best, dict) and all(
            isinstance(best.get(key), (int, float)) and not isinstance(best.get(key), bool) for key in best
            if key.startswith("val_") or key in ("step", "train_loss"))):
        raise CheckpointError(f"{source} has a 'best_val' record that is not an evaluation record of numbers")
    if steps is not None and not _is_count(steps):
        raise CheckpointError(f"{source} has 'steps' = {steps!r}, expected a count of steps")
    if data is not None and not isinstance(data, dict):
        raise CheckpointError(f"{source} has a 'data' entry of type {type(data).__name__}, expected an object")
    if not isinstance(config.get("tokenizer"), str):
        raise CheckpointError(f"{source} names no tokenizer kind")
    parameters = parameter_count(model_config)
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(
            f"{source} describes a model of {parameters:,} parameters ({parameters * 4 / 2**30:,.1f} GiB of float32), more "
            f"than lstmgen loads ({MAX_PARAMETERS:,}: lstmgen.checkpoint.MAX_PARAMETERS); the file is corrupt or hostile")
    return model_config, train_config, extra


def _read_tokenizer(data: Any, source: str, kind: str) -> Tokenizer:
    known = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(known, str) or known not in TOKENIZERS:
        raise CheckpointError(f"{source} names no known tokenizer kind ({', '.join(TOKENIZERS)})")
    try:
        tokenizer = tokenizer_from_dict(data)  # checks every field's type first
    except TokenizerError as error:
        raise CheckpointError(f"{source}: {error}") from error
    if data["kind"] != kind:
        raise CheckpointError(f"{source} holds a {data['kind']} tokenizer but config.json says {kind}; the files come from different runs")
    return tokenizer


def _read_weights(files: _Files, config: ModelConfig) -> dict[str, torch.Tensor]:
    """The tensors of model.safetensors, checked against the model ``config`` describes before any is used."""
    source = f"{files.directory}/model.safetensors"
    expected = expected_tensors(config)
    size = sum(tensor.numel() * tensor.element_size() for tensor in expected.values())
    data = files.read("model.safetensors", limit=size + 8 + MAX_HEADER_BYTES, at_least=size + 8)
    try:
        tensors = load_tensors(data)
    except Exception as error:  # the native parser raises several types for malformed bytes
        raise CheckpointError(f"{source} is corrupt or not a safetensors file: {error}") from error
    if set(tensors) != set(expected):
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"{source} does not match config.json: missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise CheckpointError(f"{source} does not match config.json: {name} is {tensor.dtype} {list(tensor.shape)}, the model "
                                  f"needs {expected[name].dtype} {list(expected[name].shape)}")
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{source} holds NaN or infinite values in {name}: the run that wrote it diverged, or the file "
                                  "is corrupt; load another checkpoint (last/ or best/ of an earlier step)")
    return tensors


def _read_metrics(files: _Files) -> list[dict[str, Any]]:
    source = f"{files.directory}/metrics.jsonl"
    text = decode_utf8(files.read(METRICS), source, CheckpointError)
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # as written: one record per line break
        if not line.strip():
            continue
        record = parse_json(line, f"{source} line {number}", CheckpointError)
        if not isinstance(record, dict) or ("step" in record and not _is_count(record["step"])):
            raise CheckpointError(f"{source} line {number} is not an evaluation record (a JSON object with an integer step)")
        records.append(record)
    return records


# What a checkpoint's user checks its trainer state with before reading it: called as
# ``check(state, model_config, source, train_config)``, it raises CheckpointError naming what is wrong.
# Each writer of a trainer state owns its check (``training.state``, ``gan.state``): this module knows neither.
StateCheck = Callable[[Any, ModelConfig, str, "TrainConfig | None"], None]


def _read_trainer_state(files: _Files, config: ModelConfig, check: StateCheck, train_config: TrainConfig | None) -> dict[str, Any]:
    path = files.directory / "trainer_state.pt"
    if not os.path.lexists(path):
        raise CheckpointError(f"checkpoint {files.directory} has no trainer_state.pt, so training cannot resume from it")
    data = files.read("trainer_state.pt", limit=None)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"{path} is corrupt or holds unsafe objects: {error}") from error
    check(state, config, str(path), train_config)
    return state


# A trainer may swap a run's checkpoint while it is read (every evaluation replaces last/, and best/ when it
# improves): a load that fails while the directory it read was replaced is read again, from the new one.
SWAP_RETRIES = 8


def load_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    prefer: str = BEST,
    state_check: StateCheck | None = None,
) -> Checkpoint:
    """Load a checkpoint (or a run directory's ``prefer``red one) onto ``device``, whatever device trained it.

    With ``state_check`` (the trainer's own check of what it wrote: ``training.state.check_trainer_state``,
    ``gan.state.check_gan_state``) the trainer state is read too, with ``weights_only=True``, and checked.

    Safe to call on a run that is training: every file comes from one checkpoint, old or new. A read that a
    swap interrupted (files from both, or a file removed under it) is told apart from a corrupt checkpoint
    by the directory itself: if it is no longer the directory that was read, the load starts again.
    """
    for attempt in range(SWAP_RETRIES):
        directory = resolve_checkpoint_dir(path, prefer=prefer)
        identity = _identity(directory)
        try:
            return _load(directory, device, state_check)
        except CheckpointError:
            if identity is not None and _identity(directory) == identity:
                raise  # the same directory throughout: the files really are as the error says
            time.sleep(0.01 * (attempt + 1))  # a writer replaced it mid-read: read the checkpoint now in place
    return _load(resolve_checkpoint_dir(path, prefer=prefer), device, state_check)  # the last try: its error stands


def _identity(directory: Path) -> tuple[int, int, int] | None:
    """Which directory ``directory`` names now, None while it names none (mid-swap): its device and inode, and its
    ctime, which every rename and every new entry moves on. The inode alone can mislead: a trainer that swaps
    every step frees the old directory's inode, and a later staging directory may get it again (seen 1 in
    10,000 loads at --eval-interval 1)."""
    try:
        status = os.stat(directory)
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_ctime_ns


def _load(directory: Path, device: torch.device | str, state_check: StateCheck | None) -> Checkpoint:
    files = _Files(directory)
    raw_config = read_regular(directory / "config.json", CheckpointError, MAX_JSON_BYTES, "checkpoint config")
    config = parse_json(raw_config, f"{directory}/config.json", CheckpointError)
    _check_config(config, directory)  # first: a newer format may check its files another way
    if files.load_manifest() is not None:
        files.verify("config.json", raw_config)
    missing = [name for name in (*REQUIRED_FILES, *(files.manifest or ())) if not os.path.lexists(directory / name)]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is incomplete: missing {', '.join(dict.fromkeys(missing))}")
    model_config, train_config, extra = _read_configs(config, directory)
    tokenizer = _read_tokenizer(files.json("tokenizer.json"), f"{directory}/tokenizer.json", config["tokenizer"])
    if tokenizer.vocab_size != model_config.vocab_size:
        raise CheckpointError(
            f"checkpoint {directory}: tokenizer.json has {tokenizer.vocab_size} symbols but the model "
            f"expects {model_config.vocab_size}; the files come from different runs"
        )
    tensors = _read_weights(files, model_config)
    if model_config.tie_weights:
        tensors["output.weight"] = tensors["embedding.weight"]
    model = RecurrentLanguageModel(model_config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{directory}/model.safetensors does not match config.json: {error}") from error
    model.to(device)
    trainer_state = _read_trainer_state(files, model_config, state_check, train_config) if state_check is not None else None
    metrics = _read_metrics(files) if os.path.lexists(directory / METRICS) else []
    return Checkpoint(directory, model, tokenizer, train_config, trainer_state, metrics, extra)

