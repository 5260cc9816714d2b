"""Export a model's one-step decoder to ONNX, checked against PyTorch with onnxruntime.

    report = export_checkpoint("runs/demo", "model.onnx")       # model.onnx + model.onnx.json
    print(report.max_logit_difference)

The graph is one recurrent step for any number of streams:

    tokens  int64   [B, 1]        one token per stream
    h       float32 [L, B, H]     (and c for an LSTM) the state before the token
 -> logits  float32 [B, V]        the next-token logits (raw: nothing suppressed)
    next_h  float32 [L, B, H]     (and next_c) the state after it, fed back as h (and c) at the next step

B is dynamic; the time axis is fixed at 1, so a prompt is fed one token at a time: asked for a dynamic time
axis too, torch's exporter declared the logits with the traced length, and for some models fixed the
tokens' length as well. The sidecar
``model.onnx.json`` holds what a program needs to generate with onnxruntime and numpy alone: the input and
output names and shapes, which output feeds which state input, the sizes, the tokenizer (the checkpoint's
``tokenizer.json``), the ids never to generate, and the check's result.

The export goes through torch's own exporter (``torch.onnx.export(dynamo=True)``, the default and maintained
path since torch 2.9; it needs ``onnxscript``) into a staging directory; the file is checked with
``onnx.checker`` and run with onnxruntime beside the PyTorch model on random tokens for a few steps of
carried state, and moved into place only when the two agree within the tolerance.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .model import CELLS, RecurrentLanguageModel, State, device_of, evaluation_mode
from .tokenizers import Tokenizer
from .version import __version__

SIDECAR_FORMAT = "lstmgen-onnx"
SIDECAR_FORMAT_VERSION = 1
DEFAULT_OPSET = 20  # torch 2.13's default; onnxruntime reads it from 1.17 on
TOLERANCE = 1e-4  # max abs difference allowed between onnxruntime's logits (and state) and PyTorch's
CHECK_BATCH_SIZES = (1, 3)  # 1: how generation runs; 3: not the example batch the graph was traced with (2)
CHECK_STEPS = 4
STATE_NAMES = ("h", "c")  # the state tensors in the model's order: (h, c) for an LSTM, (h,) otherwise
REQUIRED_MODULES = ("onnx", "onnxruntime", "onnxscript")  # onnxscript: torch's exporter translates through it
ONNXRUNTIME_TYPES = {"tensor(int64)": "int64", "tensor(float)": "float32"}  # onnxruntime's names -> numpy's


class ExportError(ValueError):
    """An export cannot be made or does not match PyTorch; the message says how to fix it."""


@dataclass(frozen=True)
class Check:
    """onnxruntime against PyTorch on the same random tokens, each carrying its own state."""

    max_logit_difference: float
    max_state_difference: float
    steps: int
    batch_sizes: tuple[int, ...]
    tolerance: float

    def describe(self) -> str:
        batches = " and ".join(map(str, self.batch_sizes))
        return (f"onnxruntime matches PyTorch: max abs difference {self.max_logit_difference:.3g} in the logits, "
                f"{self.max_state_difference:.3g} in the state ({self.steps} steps of carried state, batches of {batches}; "
                f"tolerance {self.tolerance:g})")


@dataclass(frozen=True)
class ExportReport:
    path: Path  # the ONNX graph
    sidecar: Path  # what a program needs besides the graph (model.onnx.json)
    opset: int
    check: Check

    @property
    def max_logit_difference(self) -> float:
        return self.check.max_logit_difference


class OneStep(nn.Module):
    """The model's forward for one token per stream, the state as separate tensors (ONNX has no tuples)."""

    def __init__(self, model: RecurrentLanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new_state = self.model(tokens, tuple(state))  # tokens [B, 1] -> logits [B, 1, V]
        return (logits[:, -1], *new_state)  # [B, V], then each [L, B, H]


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the sidecar of an exported graph lies: beside it, named after it (model.onnx -> model.onnx.json)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def require_onnx() -> None:
    """Import the optional packages the export needs, or say how to install them."""
    missing = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}, which is not installed: pip install 'lstmgen[onnx]'")


def state_names(model: RecurrentLanguageModel) -> tuple[str, ...]:
    """The state inputs in the model's order; a model reading its label beside every token adds "label" [1, B, 1]
    (the label read last, as a float: 0 none, i + 1 label i; a label id fed as a token replaces it)."""
    return STATE_NAMES[: CELLS[model.config.cell].states] + (("label",) if model.config.label_inputs else ())


def export_onnx(model: RecurrentLanguageModel, tokenizer: Tokenizer, path: str | os.PathLike, opset: int | None = None,
                tolerance: float = TOLERANCE, source: str | None = None) -> ExportReport:
    """Export ``model``'s one-step decoder to ``path`` with its sidecar, after checking it against PyTorch."""
    require_onnx()
    opset = DEFAULT_OPSET if opset is None else opset
    if not isinstance(opset, int) or opset < 1:
        raise ExportError(f"the ONNX opset must be a positive integer (default {DEFAULT_OPSET}), got {opset!r}")
    if not tolerance >= 0:
        raise ExportError(f"the tolerance must be >= 0 (default {TOLERANCE:g}), got {tolerance!r}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ExportError(f"the tokenizer has {tokenizer.vocab_size} symbols but the model {model.config.vocab_size}; "
                          "export a model with its own tokenizer")
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"{target} is a directory; --out names the file to write, e.g. {target / 'model.onnx'}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staged = staging / target.name
        if device_of(model).type != "cpu":  # export and check a CPU copy; the caller's model stays where it is
            model = copy.deepcopy(model).cpu()
        _export_graph(model, staged, opset)
        _check_graph(staged, opset)
        session = _session(staged)
        check = verify_onnx(session, model, tolerance)
        sidecar = _sidecar(model, tokenizer, session, opset, check, source)
        sidecar_path(staged).write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for name in os.listdir(staging):  # the graph, its sidecar, and the weights file of a graph over 2 GB
            os.replace(staging / name, target.parent / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(target, sidecar_path(target), opset, check)


def export_checkpoint(checkpoint: str | os.PathLike, path: str | os.PathLike, format: str = "onnx", opset: int | None = None,
                      tolerance: float = TOLERANCE) -> ExportReport:
    """Export a checkpoint (or a run directory's best one) in ``format`` (only "onnx" so far)."""
    exporter = FORMATS.get(format)
    if exporter is None:
        raise ExportError(f"unknown export format {format!r}; known: {', '.join(FORMATS)} (--format onnx)")
    require_onnx()
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    return exporter(loaded.model, loaded.tokenizer, path, opset, tolerance, str(loaded.path))


def verify_onnx(session: Any, model: RecurrentLanguageModel, tolerance: float = TOLERANCE, steps: int = CHECK_STEPS,
                batch_sizes: Sequence[int] = CHECK_BATCH_SIZES, seed: int = 0) -> Check:
    """Step an onnxruntime session (or a graph's path) and the PyTorch model on the same random tokens from a
    fresh state, each carrying its own state; raise ``ExportError`` when they differ by more than ``tolerance``."""
    if not hasattr(session, "run"):
        session = _session(Path(session))
    names = state_names(model)
    outputs = ["logits", *(f"next_{name}" for name in names)]
    generator = torch.Generator().manual_seed(seed)
    logit_difference = state_difference = 0.0
    device = device_of(model)
    with evaluation_mode(model):
        for batch in batch_sizes:
            state: State = model.init_state(batch)
            onnx_state = {name: s.cpu().numpy() for name, s in zip(names, state)}
            for _ in range(steps):
                tokens = torch.randint(model.config.vocab_size, (batch, 1), generator=generator)  # [B, 1]
                logits, state = model(tokens.to(device), state)  # [B, 1, V], each [L, B, H]
                onnx_logits, *onnx_new_state = session.run(outputs, {"tokens": tokens.numpy(), **onnx_state})
                logit_difference = max(logit_difference, float(np.abs(onnx_logits - logits[:, -1].cpu().numpy()).max()))
                for mine, theirs in zip(onnx_new_state, state):
                    state_difference = max(state_difference, float(np.abs(mine - theirs.cpu().numpy()).max()))
                onnx_state = dict(zip(names, onnx_new_state))
    check = Check(logit_difference, state_difference, steps, tuple(batch_sizes), tolerance)
    if not (logit_difference <= tolerance and state_difference <= tolerance):  # NaN fails too
        raise ExportError(f"the ONNX graph does not match PyTorch: max abs difference {logit_difference:.3g} in the logits and "
                          f"{state_difference:.3g} in the state, above the tolerance {tolerance:g}; nothing was written. "
                          "Try another --opset, or allow more with --tolerance if the difference is float rounding")
    return check


# ----- internals -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence torch's exporter while it runs: its warnings (deprecations inside torch, skipped torchvision ops)
    are not the user's to act on, and the onnxruntime check below is what tells whether the graph is right."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)  # a failed opset conversion logs a traceback and goes on; we check the opset
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export_graph(model: RecurrentLanguageModel, path: Path, opset: int) -> None:
    names = state_names(model)
    example_batch = 2  # torch.export specialises sizes 0 and 1, so the traced batch must be at least 2
    example = (torch.zeros(example_batch, 1, dtype=torch.long), *model.init_state(example_batch, "cpu"))
    batch = torch.export.Dim("batch")
    # dynamic_shapes follows forward's signature: tokens [B, 1], then the *state tuple, each [L, B, H]
    dynamic_shapes = ({0: batch}, tuple({1: batch} for _ in names))
    was_training = model.training
    model.eval()
    try:
        with _quiet_exporter():
            program = torch.onnx.export(OneStep(model), example, dynamo=True, opset_version=opset, verbose=False,
                                        input_names=["tokens", *names], output_names=["logits", *(f"next_{n}" for n in names)],
                                        dynamic_shapes=dynamic_shapes)
            program.save(str(path), external_data=None)  # one file, unless the weights pass protobuf's 2 GB
    except Exception as error:  # torch.export and the translation raise many types
        raise ExportError(f"torch.onnx.export failed at opset {opset} ({_summary(error)}); "
                          f"try the default --opset {DEFAULT_OPSET}") from error
    finally:
        model.train(was_training)


def _check_graph(path: Path, opset: int) -> None:
    """onnx.checker's full check (types and shapes inferred), and the opset asked for: torch's exporter keeps
    its own opset (18) when it cannot convert the graph, with a logged traceback as the only sign."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportError(f"torch's exporter wrote an invalid ONNX graph at opset {opset}: {error}; try another --opset") from error
    graph = onnx.load(str(path), load_external_data=False)
    found = next((entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")), None)
    if found != opset:
        raise ExportError(f"torch's exporter could not convert the graph to opset {opset} (it stays at {found}); "
                          f"choose another --opset, e.g. the default {DEFAULT_OPSET}")


def _summary(error: Exception) -> str:
    """One line from an exporter error: its exception summary line if it has one (torch's run to pages)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    summary = next((line for line in lines if line.startswith("<class ")), lines[0] if lines else "")
    return f"{type(error).__name__}: {summary}"[:400]


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the check's batches are tiny; more threads would only spin
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _describe(values: Sequence[Any]) -> list[dict[str, Any]]:
    """Name, element type and shape (symbolic dimensions by name, e.g. "batch") of onnxruntime's inputs or outputs."""
    return [{"name": v.name, "type": ONNXRUNTIME_TYPES.get(v.type, v.type), "shape": list(v.shape)} for v in values]


def _sidecar(model: RecurrentLanguageModel, tokenizer: Tokenizer, session: Any, opset: int, check: Check,
             source: str | None) -> dict[str, Any]:
    import onnx
    import onnxruntime

    config = model.config
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_FORMAT_VERSION,
        "lstmgen_version": __version__,
        "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "checkpoint": source,
        "opset": opset,
        "inputs": _describe(session.get_inputs()),
        "outputs": _describe(session.get_outputs()),
        # Each step feeds the outputs named here back as the inputs of the next step; a fresh state is zeros.
        "state": [{"input": name, "output": f"next_{name}"} for name in state_names(model)],
        "cell": config.cell,
        "num_layers": config.num_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "tokenizer": tokenizer.to_dict(),  # what the checkpoint's tokenizer.json holds
        "never_generated": list(tokenizer.never_generated),  # set these logits to -inf before choosing a token
        "check": {"max_abs_logit_difference": check.max_logit_difference, "max_abs_state_difference": check.max_state_difference,
                  "steps": check.steps, "batch_sizes": list(check.batch_sizes), "tolerance": check.tolerance},
    }


# format name -> exporter(model, tokenizer, path, opset, tolerance, source)
FORMATS: dict[str, Callable[..., ExportReport]] = {"onnx": export_onnx}
