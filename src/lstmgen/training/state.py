"""What the Trainer's ``trainer_state.pt`` must hold before it touches it: keys, types and shapes.

``torch.load(weights_only=True)`` guarantees that the file holds only tensors and plain data, not that it
holds the right ones. An empty dict, a string step, a data cursor without its batch size or a carried
state of another shape used to surface as a ``KeyError``, ``TypeError`` or shape error deep inside
``Trainer.load_state_dict`` (or worse, as NaN weights a few steps later). These checks say instead which
entry of which file is wrong. ``check_trainer_state`` mirrors what ``Trainer.state_dict`` writes: change them
together. ``load_checkpoint(..., state_check=check_trainer_state)`` runs it; the GAN trainer's own check
(``gan.state``) is built from the same ``StateChecker``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import torch

from ..checkpoint import CheckpointError
from ..config import ModelConfig, TrainConfig
from ..model import RecurrentLanguageModel, state_shapes
from .optimizers import parameter_groups

ErrorClass = type[Exception]
CPU_GENERATOR_BYTES = torch.get_rng_state().numel()  # the size of a CPU generator's state (5,056 bytes)


class StateChecker:
    """Raises ``error`` with '{source}: entry X ...' for the first problem found."""

    def __init__(self, state: Any, source: str, error: ErrorClass) -> None:
        self.state, self.source, self.error = state, source, error
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            self.fail(f"holds {type(state).__name__}, not the dictionary of named entries a trainer state is")

    def fail(self, problem: str) -> None:
        raise self.error(f"{self.source} {problem}; the file is corrupt or from another program: resume from another "
                         "checkpoint or start the run again")

    def entry(self, key: str, kinds: type | tuple[type, ...], required: bool = True) -> Any:
        if key not in self.state:
            if required:
                self.fail(f"has no {key!r} entry")
            return None
        value = self.state[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            names = " or ".join(kind.__name__ for kind in _as_tuple(kinds))
            self.fail(f"has {key!r} of type {type(value).__name__}, expected {names}")
        return value

    def integer(self, key: str, low: int = 0, container: dict | None = None, name: str | None = None) -> int:
        container = self.state if container is None else container
        if key not in container:
            self.fail(f"has no {name or repr(key)} entry")
        value = container[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.fail(f"has {name or key!r} = {value!r}, expected an integer >= {low}")
        return value

    def generator_state(self, value: Any, name: str, size: int | None = CPU_GENERATOR_BYTES) -> None:
        if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.ndim != 1 or (size and value.numel() != size):
            self.fail(f"has {name} that is not a random-generator state (a 1-D uint8 tensor{f' of {size} bytes' if size else ''})")

    def json_text(self, key: str, accept: Callable[[Any], bool], expected: str, required: bool = True) -> Any:
        text = self.entry(key, str, required)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = _INVALID
        if value is _INVALID or not accept(value):
            self.fail(f"has {key!r} that is not {expected}")
        return value

    def optimizer(self, value: Any, name: str, shapes: list[list[torch.Size]] | None = None) -> None:
        """An optimizer's state_dict: {"state": {index: {...}}, "param_groups": [{"params": [index, ...], ...}]};
        with ``shapes`` (one list per parameter group), the parameters' number, grouping and shapes too."""
        if not isinstance(value, dict) or not isinstance(value.get("state"), dict) or not isinstance(value.get("param_groups"), list):
            self.fail(f"has {name} that is not an optimizer state (a dict with 'state' and 'param_groups')")
        groups = value["param_groups"]
        if not all(isinstance(group, dict) and isinstance(group.get("params"), list) for group in groups):
            self.fail(f"has {name} with a parameter group that lists no parameters")
        indices = [index for group in groups for index in group["params"]]
        if not all(isinstance(index, int) and not isinstance(index, bool) for index in indices) or len(set(indices)) != len(indices):
            self.fail(f"has {name} whose parameter groups do not list distinct parameter numbers")
        if shapes is not None:
            if [len(group["params"]) for group in groups] != [len(group) for group in shapes]:
                self.fail(f"has {name} for groups of {[len(g['params']) for g in groups]} parameters, but the model has "
                          f"groups of {[len(group) for group in shapes]}")
            by_index = {index: shape for group, group_shapes in zip(groups, shapes) for index, shape in zip(group["params"], group_shapes)}
        for index, entries in value["state"].items():
            if not isinstance(entries, dict) or (shapes is not None and index not in by_index):
                self.fail(f"has {name} with state for parameter {index!r}, which no parameter group lists")
            for key, tensor in entries.items():
                if not isinstance(tensor, torch.Tensor):
                    continue
                if shapes is not None and tensor.ndim > 0 and tensor.shape != by_index[index]:
                    self.fail(f"has {name} state {key!r} of parameter {index} with shape {list(tensor.shape)}, but the "
                              f"parameter has shape {list(by_index[index])}")
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    self.fail(f"has {name} state {key!r} of parameter {index} holding NaN or infinite values")


_INVALID = object()


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _best_record(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and ("val_nats" not in value or is_number(value["val_nats"])))


def parameter_shapes(config: ModelConfig) -> list[list[torch.Size]]:
    """The shapes of the model's parameters in the optimizer's groups, in order (built on the meta device:
    nothing is allocated)."""
    with torch.device("meta"):
        model = RecurrentLanguageModel(config)
    return [[parameter.shape for parameter in group["params"]] for group in parameter_groups(model, 0.0)]


def check_trainer_state(state: Any, config: ModelConfig, source: str, train_config: TrainConfig | None = None) -> None:
    """Raise CheckpointError unless ``state`` holds what ``Trainer.load_state_dict`` reads, with the shapes the
    model of ``config`` needs (and the batch and window of the checkpoint's own ``train_config``, which a
    resumed run keeps)."""
    if isinstance(state, dict) and "phase" in state and "pg_optimizer" in state:
        raise CheckpointError(f"{source} is the state of a GAN run (lstmgen gan train), not of lstmgen train: "
                              "continue it with lstmgen gan train --resume")
    check = StateChecker(state, source, CheckpointError)
    check.integer("step")
    check.integer("evaluations_without_improvement")
    elapsed = check.entry("elapsed", (int, float))
    if not math.isfinite(elapsed) or elapsed < 0:
        check.fail(f"has 'elapsed' = {elapsed!r}, expected a finite number of seconds >= 0")
    check.generator_state(check.entry("torch_rng", torch.Tensor), "'torch_rng'")
    for value in check.entry("rank_rng", list, required=False) or []:
        check.generator_state(value, "an entry of 'rank_rng'")
    for value in check.entry("cuda_rng", list, required=False) or []:
        check.generator_state(value, "an entry of 'cuda_rng'", size=None)
    check.entry("grad_scaler", dict, required=False)
    cursor = check.entry("data", dict)
    batch_size = check.integer("batch_size", 1, cursor, "'data' batch_size")
    check.integer("seq_length", 1, cursor, "'data' seq_length")
    check.integer("epoch", 0, cursor, "'data' epoch")
    check.integer("window", 0, cursor, "'data' window")
    if train_config is not None and (batch_size, cursor["seq_length"]) != (train_config.batch_size, train_config.seq_length):
        check.fail(f"has a data cursor for batches of {batch_size} x {cursor['seq_length']}, but config.json trains on "
                   f"{train_config.batch_size} x {train_config.seq_length}")
    carried = check.entry("recurrent_state", (list, tuple))
    shapes = [list(shape) for shape in state_shapes(config, batch_size)]  # [L, B, H] each (and [1, B, 1]: the label read last)
    if len(carried) != len(shapes):
        check.fail(f"has a 'recurrent_state' of {len(carried)} tensors; this {config.cell.upper()} model carries {len(shapes)}")
    for tensor, shape in zip(carried, shapes):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.float32 or list(tensor.shape) != shape:
            described = f"{tensor.dtype} {list(tensor.shape)}" if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            check.fail(f"has a 'recurrent_state' tensor of {described}; the model needs float32 {shape} "
                       "(layers, streams, hidden size)")
        if not bool(torch.isfinite(tensor).all()):
            check.fail("has a 'recurrent_state' holding NaN or infinite values")
    check.json_text("best_val", _best_record, "JSON of null or an evaluation record")
    guard = check.entry("divergence", dict, required=False)  # lstmgen.training.divergence; absent in older checkpoints
    if guard is not None:
        check.integer("failures", 0, guard, "'divergence' failures")
        check.integer("total_failures", 0, guard, "'divergence' total_failures")
        scale = guard.get("learning_rate_scale")
        if not is_number(scale) or not 0 < scale <= 1:
            check.fail(f"has a 'divergence' learning_rate_scale of {scale!r}, expected a number in (0, 1]")
    check.optimizer(check.entry("optimizer", dict), "'optimizer'", parameter_shapes(config))


def check_history(records: list[dict[str, Any]], source: str) -> None:
    """Raise CheckpointError unless every record of a training run's history (``metrics.jsonl``) has what the
    Trainer and the loss plot read: an integer step and a numeric train_loss."""
    for number, record in enumerate(records, start=1):
        step, loss = record.get("step"), record.get("train_loss")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0 or not is_number(loss):
            raise CheckpointError(f"{source} record {number} is not an evaluation record of lstmgen train (it needs an integer "
                                  "step and a numeric train_loss); the file is corrupt: restore it from a copy")
