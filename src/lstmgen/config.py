"""Typed, self-validating configuration: what to build, how to train it, how to generate.

Each dataclass checks itself on creation and raises ``ConfigError`` with a message that says which
value is wrong and what is allowed, so the CLI, the Python API and the server share one set of rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration value is impossible; the message says which and what is allowed."""


CELL_TYPES = ("lstm", "gru", "rnn")
TOKENIZER_KINDS = ("char", "word", "byte")
OPTIMIZERS = ("adamw", "adam", "rmsprop", "sgd")
SCHEDULES = ("cosine", "constant")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _from_mapping(cls, values: Mapping[str, Any]):
    """Build a config dataclass from a mapping, naming any key the dataclass does not have."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**values)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the recurrent language model: embedding -> recurrent layers -> dropout -> linear."""

    vocab_size: int
    cell: str = "lstm"
    embedding_size: int = 128
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.0
    tie_weights: bool = False

    def __post_init__(self) -> None:
        _require(self.vocab_size >= 2, f"vocab_size must be at least 2, got {self.vocab_size}")
        _require(self.cell in CELL_TYPES, f"cell must be one of {', '.join(CELL_TYPES)}, got {self.cell!r}")
        _require(self.embedding_size >= 1, f"embedding_size must be positive, got {self.embedding_size}")
        _require(self.hidden_size >= 1, f"hidden_size must be positive, got {self.hidden_size}")
        _require(self.num_layers >= 1, f"num_layers must be at least 1, got {self.num_layers}")
        _require(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _require(
            not self.tie_weights or self.embedding_size == self.hidden_size,
            "tie_weights needs embedding_size == hidden_size "
            f"(got {self.embedding_size} and {self.hidden_size}); set both to the same value or turn tying off",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ModelConfig":
        return _from_mapping(cls, values)


@dataclass(frozen=True)
class TrainConfig:
    """Everything about one training run except the corpus itself."""

    # data
    tokenizer: str = "char"
    lowercase: bool = False
    min_frequency: int = 1  # word tokenizer: rarer words become <unk>
    val_fraction: float = 0.1  # the last 10%: the usual split, so figures compare with published ones
    test_fraction: float = 0.0
    batch_size: int = 64
    seq_length: int = 128  # truncated-BPTT window T
    # Each window, each stream's carried state is reset to the fresh state with this probability, so the
    # model learns to read from the state generation starts every prompt in (1 = every window starts
    # fresh: stateless training, as the Keras and TensorFlow examples do). See docs/guide.md, "Cold start".
    state_reset_probability: float = 0.05
    # optimisation
    optimizer: str = "adamw"
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    schedule: str = "cosine"
    warmup_steps: int = 50
    final_lr_fraction: float = 0.02  # cosine anneals to learning_rate * this
    # how long
    max_epochs: float | None = None  # unset: 10 epochs, or no epoch limit when there is a time budget
    max_steps: int | None = None
    time_budget: float | None = None  # minutes; the cosine schedule anneals to it
    # evaluation, samples, stopping
    eval_interval: int = 200  # steps between validation passes and checkpoints; 0 = once per epoch
    patience: int = 0  # stop after this many evaluations without improvement; 0 = never
    sample_prompt: str = ""
    sample_length: int = 200
    sample_temperatures: tuple[float, ...] = (0.2, 0.5, 1.0, 1.2)
    # machine
    seed: int = 1234
    threads: int = 0  # 0 = choose from the cores that are free now
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_temperatures", tuple(float(t) for t in self.sample_temperatures))
        _require(self.tokenizer in TOKENIZER_KINDS, f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got {self.tokenizer!r}")
        _require(self.min_frequency >= 1, f"min_frequency must be at least 1, got {self.min_frequency}")
        _require(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _require(0.0 <= self.test_fraction < 1.0, f"test_fraction must be in [0, 1), got {self.test_fraction}")
        _require(
            self.val_fraction + self.test_fraction < 0.9,
            "val_fraction + test_fraction must leave at least 10% of the corpus for training",
        )
        _require(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        _require(self.seq_length >= 1, f"seq_length must be at least 1, got {self.seq_length}")
        _require(
            0.0 <= self.state_reset_probability <= 1.0,
            f"state_reset_probability must be in [0, 1] (0 = never reset, 1 = every window), got {self.state_reset_probability}",
        )
        _require(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        _require(self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}")
        _require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _require(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 = no clipping), got {self.grad_clip}")
        _require(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        _require(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        _require(0.0 <= self.final_lr_fraction <= 1.0, f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}")
        _require(self.max_epochs is None or self.max_epochs > 0, f"max_epochs must be positive, got {self.max_epochs}")
        _require(self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}")
        _require(
            self.time_budget is None or self.time_budget > 0,
            f"time_budget is in minutes and must be positive, got {self.time_budget}",
        )
        _require(self.eval_interval >= 0, f"eval_interval must be >= 0 (0 = once per epoch), got {self.eval_interval}")
        _require(self.patience >= 0, f"patience must be >= 0 (0 = no early stopping), got {self.patience}")
        _require(self.sample_length >= 0, f"sample_length must be >= 0, got {self.sample_length}")
        _require(all(t >= 0 for t in self.sample_temperatures), "sample_temperatures must all be >= 0")
        _require(self.threads >= 0, f"threads must be >= 0 (0 = automatic), got {self.threads}")
        _require(
            self.device in ("auto", "cpu") or self.device.startswith("cuda"),
            f"device must be auto, cpu or cuda[:N], got {self.device!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["sample_temperatures"] = list(self.sample_temperatures)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        return _from_mapping(cls, values)


@dataclass(frozen=True)
class GenerationConfig:
    """How to turn next-token distributions into text; shared by the library, the CLI and the server.

    Sampling (``num_beams == 1``) runs these processors, in this order, on the logits of each step:
    repetition penalty, no-repeat n-gram, temperature, top-k, top-p, min-p; then one token is drawn per
    sample. Temperature 0 means greedy decoding (always the most likely token; the penalties still
    apply, the truncations cannot change the choice). ``num_samples`` samples are drawn together in one
    batch, independently; ``seed`` makes them reproducible.

    Beam search (``num_beams > 1``) keeps the ``num_beams`` most probable continuations at each step
    and returns the ``num_samples`` best, ranked by log-probability / length ** length_penalty. It is
    deterministic, so temperature, top-k, top-p, min-p and seed do not apply and are rejected.
    """

    max_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_samples: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    min_p: float | None = None
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        object.__setattr__(self, "stop", stop)
        _require(self.max_tokens >= 0, f"max_tokens must be >= 0, got {self.max_tokens}")
        _require(self.temperature >= 0, f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        _require(self.top_k is None or self.top_k >= 1, f"top_k must be at least 1 (or unset), got {self.top_k}")
        _require(
            self.top_p is None or 0.0 < self.top_p <= 1.0, f"top_p must be in (0, 1] (or unset), got {self.top_p}"
        )
        _require(
            self.min_p is None or 0.0 <= self.min_p <= 1.0, f"min_p must be in [0, 1] (or unset), got {self.min_p}"
        )
        _require(
            self.repetition_penalty > 0,
            f"repetition_penalty must be positive (1 = none, >1 discourages repeats), got {self.repetition_penalty}",
        )
        _require(
            self.no_repeat_ngram_size >= 0,
            f"no_repeat_ngram_size must be >= 0 (0 = off), got {self.no_repeat_ngram_size}",
        )
        _require(self.num_samples >= 1, f"num_samples must be at least 1, got {self.num_samples}")
        _require(self.num_beams >= 1, f"num_beams must be at least 1 (1 = no beam search), got {self.num_beams}")
        _require(all(isinstance(s, str) and s for s in stop), "stop strings must be non-empty strings")
        if self.num_beams == 1:
            _require(
                self.length_penalty == 1.0,
                f"length_penalty only applies to beam search; set num_beams > 1 or leave it at 1 (got {self.length_penalty})",
            )
            return
        ignored = [
            name
            for name, value, default in (
                ("temperature", self.temperature, 1.0), ("top_k", self.top_k, None), ("top_p", self.top_p, None),
                ("min_p", self.min_p, None), ("seed", self.seed, None),
            )
            if value != default
        ]
        _require(
            not ignored,
            f"beam search (num_beams={self.num_beams}) is deterministic and ranks continuations by the model's own "
            f"probabilities, so it ignores {', '.join(ignored)}; leave them unset (temperature at 1), or use num_beams=1 to sample",
        )
        _require(
            self.num_samples <= self.num_beams,
            f"beam search returns at most num_beams={self.num_beams} continuations; num_samples must be <= num_beams, "
            f"got {self.num_samples}",
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["stop"] = list(self.stop)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "GenerationConfig":
        return _from_mapping(cls, values)
