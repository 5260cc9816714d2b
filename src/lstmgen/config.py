"""Typed, self-validating configuration: what to build, how to train it, how to generate.

Every knob is declared once, here, as a dataclass field with its metadata (``knob``): help text, bounds,
allowed values, and the names it goes by on the command line and in the server's requests. Each
dataclass checks itself on creation from that metadata (types, bounds, choices) plus the rules that tie
fields together, and raises ``ConfigError`` with the field it is about and a message that says what is
allowed. The CLI's flags (``lstmgen.cli.flags``) and the server's request schema (``lstmgen.server.schemas``)
are derived from the same fields, so the library, the CLI and the server share one set of rules.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

CELL_TYPES = ("lstm", "gru", "rnn", "mogrifier")
TOKENIZER_KINDS = ("char", "word", "byte", "symbols", "abc", "midi", "bpe", "unigram")
OPTIMIZERS = ("adamw", "adam", "rmsprop", "sgd")
SCHEDULES = ("cosine", "constant")
DEVICES = "auto, cpu, cuda[:N] or mps"
# "precision" means two things, so they have two names: the arithmetic training runs in (train --precision,
# training.precision; weights and checkpoints stay fp32) and the weights token-by-token decoding reads
# (generate --precision, decoding.projections), with "auto" asking for the fastest measured on the CPU.
TRAINING_PRECISIONS = ("fp32", "bf16", "fp16")
DECODING_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
AUTOMATIC_PRECISION = "auto"
SEED_BOUNDS = dict(ge=-(2**63), le=2**64 - 1)  # what torch.Generator.manual_seed takes


class ConfigError(ValueError):
    """A configuration value is impossible; ``field`` names it (None when several are at fault)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def knob(default: Any = dataclasses.MISSING, help: str = "", *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, choices: tuple[str, ...] | None = None, hint: str = "",
         flag: str | None = None, request: str | None = None, default_factory: Any = dataclasses.MISSING,
         many: bool = False) -> Any:
    """A dataclass field with what every surface needs to know about it.

    ``ge``/``gt``/``le``/``lt`` bound numbers (None values are always allowed for optional fields);
    ``choices`` lists allowed strings; ``hint`` is appended to error messages ("0 = greedy");
    ``flag`` is the command-line flag when it is not ``--field-name``; ``request`` the server's name for it;
    ``many``: a list flag that takes several values at once (``--bad-words a b``) rather than one per use.
    """
    metadata = {"help": help, "bounds": {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None},
                "choices": choices, "hint": hint, "flag": flag, "request": request, "many": many}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _require(condition: bool, message: str, field: str | None = None) -> None:
    if not condition:
        raise ConfigError(message, field)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value:,}" if abs(value) >= 10_000 else str(value)


def describe_bounds(bounds: Mapping[str, float], integer: bool) -> str:
    """'at least 1', '>= 0', 'positive', 'in (0, 1]', ... for a field's bounds."""
    if bounds == SEED_BOUNDS:
        return "any 64-bit integer"
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high:
        return f"in {'[' if low[0] == 'ge' else '('}{_number(low[1])}, {_number(high[1])}{']' if high[0] == 'le' else ')'}"
    if low:
        if low == ("gt", 0):
            return "positive"
        return f"at least {_number(low[1])}" if integer and low[0] == "ge" and low[1] >= 1 else f"{'>=' if low[0] == 'ge' else '>'} {_number(low[1])}"
    if high:
        return f"{'<=' if high[0] == 'le' else '<'} {_number(high[1])}"
    return "valid"


def _within(value: float, bounds: Mapping[str, float]) -> bool:
    return (("ge" not in bounds or value >= bounds["ge"]) and ("gt" not in bounds or value > bounds["gt"])
            and ("le" not in bounds or value <= bounds["le"]) and ("lt" not in bounds or value < bounds["lt"]))


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Field name -> (base type, optional) for a config dataclass: int, float, bool, str, tuple or dict."""
    hints = typing.get_type_hints(cls)
    types = {}
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        arguments = typing.get_args(hint)
        optional = type(None) in arguments
        base = typing.get_origin(hint) or hint
        if optional:
            (base,) = [a for a in arguments if a is not type(None)]
            base = typing.get_origin(base) or base
        types[item.name] = (base, optional)
    return types


def _check_fields(config: Any) -> None:
    """Types, bounds and choices of every field, from its metadata; numbers are normalised (1 -> 1.0 for floats)."""
    for item, (base, optional) in zip(dataclasses.fields(config), field_types(type(config)).values()):
        name, value, meta = item.name, getattr(config, item.name), item.metadata
        hint = f" ({meta['hint']})" if meta.get("hint") else ""
        if value is None:
            _require(optional, f"{name} must be set{hint}", name)
            continue
        if base is bool:
            _require(isinstance(value, bool), f"{name} must be true or false, got {value!r}", name)
        elif base is int:
            _require(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an integer, got {value!r}", name)
        elif base is float:
            _require(isinstance(value, (int, float)) and not isinstance(value, bool), f"{name} must be a number, got {value!r}", name)
            _require(math.isfinite(value), f"{name} must be a finite number, got {value!r}", name)
            object.__setattr__(config, name, float(value))
        elif base is str:
            _require(isinstance(value, str), f"{name} must be a string, got {value!r}", name)
        elif base is tuple:
            _require(isinstance(value, (tuple, list)), f"{name} must be a list, got {value!r}", name)
            object.__setattr__(config, name, tuple(value))
        elif base is dict:  # token id -> number (logit_bias): the bounds apply to the numbers
            object.__setattr__(config, name, _token_map(name, value, meta.get("bounds") or {}, hint))
            continue
        bounds = meta.get("bounds") or {}
        if bounds and base in (int, float):
            _require(_within(value, bounds), f"{name} must be {describe_bounds(bounds, base is int)}{hint}, got {value}", name)
        choices = meta.get("choices")
        if choices:
            _require(value in choices, f"{name} must be one of {', '.join(choices)}, got {value!r}", name)


def _token_map(name: str, value: Any, bounds: Mapping[str, float], hint: str) -> dict[int, float]:
    """A mapping (or pairs) of token id -> number, normalised to {int: float} sorted by id.

    Ids may be integers or strings of digits (JSON object keys are strings, as in OpenAI's logit_bias);
    whether an id is in the model's vocabulary is checked where the vocabulary is known.
    """
    if not isinstance(value, Mapping):
        _require(isinstance(value, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in value),
                 f"{name} must map token ids to numbers, got {value!r}", name)
        value = dict(value)
    normalised: dict[int, float] = {}
    for key, number in value.items():
        token = key if isinstance(key, int) and not isinstance(key, bool) else None
        if isinstance(key, str) and key.strip().isdigit():
            token = int(key)
        _require(token is not None and token >= 0, f"{name} keys must be token ids (integers >= 0), got {key!r}", name)
        _require(isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number),
                 f"{name}[{key}] must be a finite number, got {number!r}", name)
        _require(_within(number, bounds), f"{name}[{key}] must be {describe_bounds(bounds, False)}{hint}, got {number}", name)
        normalised[token] = float(number)
    return dict(sorted(normalised.items()))


def check_value(cls: type, name: str, value: Any) -> Any:
    """Check one value against the bounds of field ``name`` of config class ``cls`` (for code that takes a
    knob's value on its own, such as a logits processor); returns it, or raises ConfigError naming the field."""
    item = next(f for f in dataclasses.fields(cls) if f.name == name)
    base, _ = field_types(cls)[name]
    bounds, hint = item.metadata.get("bounds") or {}, item.metadata.get("hint")
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
             f"{name} must be a finite number, got {value!r}", name)
    _require(_within(value, bounds), f"{name} must be {describe_bounds(bounds, base is int)}{f' ({hint})' if hint else ''}, got {value}", name)
    return value


def _from_mapping(cls, values: Mapping[str, Any]):
    """Build a config dataclass from a mapping, naming any key the dataclass does not have."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{cls.__name__} must be a mapping of field names to values, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in set(values) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}", unknown[0])
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise ConfigError(f"{cls.__name__}: {error}") from None


class _Config:
    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        return _from_mapping(cls, values)


@dataclass(frozen=True)
class ModelConfig(_Config):
    """Shape of the recurrent language model: embedding -> recurrent layers -> dropout -> linear.

    The upper bounds refuse sizes no CPU or GPU could hold before anything is allocated.
    """

    vocab_size: int = knob(help="symbols the model predicts over (set by the tokenizer)", ge=2, le=1 << 24)
    cell: str = knob("lstm", "recurrent cell (mogrifier: an LSTM whose input and state gate each other first, Melis et al. "
                     "2020)", choices=CELL_TYPES)
    embedding_size: int = knob(128, "token embedding size", ge=1, le=1 << 16)
    hidden_size: int = knob(512, "recurrent state size per layer", ge=1, le=1 << 16)
    num_layers: int = knob(1, "number of recurrent layers", ge=1, le=64)
    dropout: float = knob(0.0, "dropout between layers and before the output", ge=0.0, lt=1.0)
    # word_language_model drops the embedded inputs too (AWD-LSTM's dropouti): a word model's embedding is most of its
    # weights, and a small corpus shows each word to it only a few hundred times.
    input_dropout: float = knob(0.0, "dropout on the token embeddings the first layer reads, while training", ge=0.0, lt=1.0)
    # DropConnect on the hidden-to-hidden weights (AWD-LSTM's weight drop): the regulariser that reaches the
    # recurrence itself, which dropout between layers and before the output does not.
    weight_dropout: float = knob(0.0, "dropout on the recurrent (hidden-to-hidden) weights while training, one mask per "
                                 "window (AWD-LSTM's weight drop)", ge=0.0, lt=1.0)
    tie_weights: bool = knob(False, "share the embedding and output weights (needs embedding size = hidden size)")
    # Grave et al. 2017 (lstmgen.model.adaptive): a word model's softmax over tens of thousands of words is most of its
    # step; the frequent words keep a full-width head, the rare ones share narrower clusters. Needs frequency-ordered ids.
    adaptive_softmax: tuple[int, ...] = knob(help="an adaptive softmax with these cutoffs (increasing ids; the ids below the "
                                             "first are the head, each later range a cluster a quarter as wide as the one "
                                             "before), for large vocabularies", default_factory=tuple,
                                             hint="empty = a full softmax")
    # Set by a labelled tokenizer (its labels are the vocabulary's last ids): lstmgen.model's "labels beside every token".
    label_inputs: int = knob(0, "labels whose embedding is added to every token's (the label read last); 0 = the label is "
                             "read once, as a token", ge=0, le=1 << 20)
    # The Mogrifier LSTM's own knobs (lstmgen.model.mogrifier): the paper's best is 5 rounds; full rank is cheap when the
    # input is a narrow embedding, a rank saves weights where the input is wide (word models, upper layers).
    mogrifier_rounds: int = knob(5, "mogrifier cell: rounds in which the input and the state gate each other before "
                                 "each LSTM update", ge=0, le=16, hint="0 = a plain LSTM")
    mogrifier_rank: int = knob(0, "mogrifier cell: rank of its gating matrices (each a product of two thin ones)",
                               ge=0, le=1 << 16, hint="0 = full rank")

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.cell != "mogrifier":
            for name in ("mogrifier_rounds", "mogrifier_rank"):
                default = next(f.default for f in dataclasses.fields(self) if f.name == name)
                _require(getattr(self, name) == default,
                         f"{name} applies to the mogrifier cell only; use --cell mogrifier or leave it at {default} "
                         f"(got {getattr(self, name)} with cell {self.cell})", name)
        _require(
            not self.tie_weights or self.embedding_size == self.hidden_size,
            "tie_weights needs embedding_size == hidden_size "
            f"(got {self.embedding_size} and {self.hidden_size}); set both to the same value or turn tying off",
            "tie_weights",
        )
        object.__setattr__(self, "adaptive_softmax", tuple(self.adaptive_softmax))  # a list when read from JSON
        cutoffs = self.adaptive_softmax
        _require(all(isinstance(c, int) and not isinstance(c, bool) for c in cutoffs)
                 and all(a < b for a, b in zip((0, *cutoffs), (*cutoffs, self.vocab_size))),
                 f"adaptive_softmax cutoffs must be increasing whole numbers between 0 and the vocabulary size ({self.vocab_size}), "
                 f"got {list(cutoffs)}", "adaptive_softmax")
        _require(not (cutoffs and self.tie_weights), "adaptive_softmax and tie_weights exclude each other (the adaptive "
                 "head has no [V, H] matrix to share with the embedding): turn one off", "adaptive_softmax")
        _require(self.label_inputs < self.vocab_size, f"label_inputs ({self.label_inputs}) must be below vocab_size "
                 f"({self.vocab_size}): the labels are the vocabulary's last ids", "label_inputs")

    def to_dict(self) -> dict[str, Any]:
        """The fields; a cell's own knobs only for that cell, the adaptive softmax and the input dropout only where
        they are used, so other models' configs read as they did before them (and load in lstmgen versions that
        predate them)."""
        values = super().to_dict()
        if self.cell != "mogrifier":
            del values["mogrifier_rounds"], values["mogrifier_rank"]
        if not self.adaptive_softmax:
            del values["adaptive_softmax"]
        if not self.input_dropout:
            del values["input_dropout"]
        return values


@dataclass(frozen=True)
class TrainConfig(_Config):
    """Everything about one training run except the corpus itself."""

    # data
    tokenizer: str = knob("char", "token unit", choices=TOKENIZER_KINDS)
    lowercase: bool = knob(False, "lower-case the text before tokenizing (prompts too)")
    min_frequency: int = knob(1, "word tokenizer: words seen fewer times become <unk> (bpe: merges seen fewer times are not learned)", ge=1)
    vocab_size: int = knob(4096, "bpe and unigram tokenizers: the number of subword tokens to learn (the model's vocabulary)",
                           ge=258, le=1 << 20)
    documents: str = knob("", "document mode: 'lines', 'blank-lines' or a separator string: each document ends with an "
                          "end-of-document token, where generation stops (empty = off)")
    # Saved with the checkpoint, so `lstmgen serve` can answer /v1/chat/completions (lstmgen.server.chat).
    chat_template: str = knob("", "the format of one turn of the dialogues in the corpus, with {role} and {content}, e.g. "
                              "'{role}: {content}\\n' (best with --documents: one conversation per document); saved in the "
                              "checkpoint so the server can answer chat requests (empty = no chat)")
    labels: str = knob("", "labelled documents: the corpus is JSON Lines (jsonl), csv, tsv or one directory per label "
                       "(directories), or 'auto' (by extension); each label becomes a token read before its document",
                       hint="empty = unlabelled text")
    text_field: str = knob("text", "labelled data: the JSON field or table column holding a document's text")
    label_field: str = knob("label", "labelled data: the JSON field or table column holding a document's label")
    # The last 10%: the usual split, so figures compare with published ones.
    val_fraction: float = knob(0.1, "fraction at the end of the corpus held out for validation", ge=0.0, lt=1.0)
    test_fraction: float = knob(0.0, "fraction at the very end held out as a test set", ge=0.0, lt=1.0)
    batch_size: int = knob(64, "parallel streams B per step", ge=1, le=1 << 20)
    seq_length: int = knob(128, "truncated-BPTT window T in tokens", ge=1, le=1 << 20)
    # Each window, each stream's carried state is reset to the fresh state with this probability, so the
    # model learns to read from the state generation starts every prompt in (1 = every window starts
    # fresh: stateless training, as the Keras and TensorFlow examples do). See docs/guide.md, "Cold start".
    state_reset_probability: float = knob(0.05, "chance per window that a stream's carried state is reset to the fresh "
                                          "state generation starts from", ge=0.0, le=1.0, hint="0 = never, 1 = every window")
    # optimisation
    optimizer: str = knob("adamw", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = knob(3e-3, "peak learning rate", gt=0.0)
    weight_decay: float = knob(0.01, "decoupled weight decay on weight matrices", ge=0.0)
    grad_clip: float = knob(1.0, "clip the gradient norm to this", ge=0.0, hint="0 = no clipping")
    schedule: str = knob("cosine", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup_steps: int = knob(50, "linear warm-up steps", ge=0)
    final_lr_fraction: float = knob(0.02, "the cosine schedule anneals to learning_rate times this", ge=0.0, le=1.0)
    # how long
    max_epochs: float | None = knob(None, "stop after this many passes over the training text (unset: 10, or no limit "
                                    "with a time budget)", gt=0.0)
    max_steps: int | None = knob(None, "stop after this many steps (overrides max_epochs)", ge=1)
    time_budget: float | None = knob(None, "stop after this many minutes; the cosine schedule anneals to it", gt=0.0,
                                     hint="minutes")
    # evaluation, samples, stopping
    eval_interval: int = knob(200, "steps between validation passes, samples and checkpoints", ge=0, hint="0 = once per epoch")
    patience: int = knob(0, "stop after this many evaluations without improvement", ge=0, hint="0 = never")
    sample_prompt: str = knob("", "prompt for the samples printed at each evaluation (default: a line break)")
    sample_length: int = knob(200, "length of those samples in tokens", ge=0, le=100_000, hint="0 = none")
    sample_temperatures: tuple[float, ...] = knob(help="temperatures of those samples",
                                                  default_factory=lambda: (0.2, 0.5, 1.0, 1.2))
    # machine
    seed: int = knob(1234, "random seed: the same seed and settings give the same run", **SEED_BOUNDS)
    threads: int = knob(0, "CPU threads", ge=0, hint="0 = automatic: the cores free now (shared between torchrun's processes)")
    device: str = knob("auto", "where to train: " + DEVICES)
    precision: str = knob("fp32", "arithmetic of the forward pass: fp32, bf16 (CPU or GPU) or fp16 (CUDA, with loss "
                          "scaling); weights and checkpoints stay fp32", choices=TRAINING_PRECISIONS)
    distributed_timeout: float = knob(300.0, "under torchrun: seconds a rank waits for the others before the job ends "
                                      "with an error (a dead or stalled rank never hangs the job)", gt=0.0)

    def __post_init__(self) -> None:
        _check_fields(self)
        temperatures = self.sample_temperatures
        _require(all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t >= 0 for t in temperatures),
                 f"sample_temperatures must all be numbers >= 0, got {list(temperatures)}", "sample_temperatures")
        object.__setattr__(self, "sample_temperatures", tuple(float(t) for t in temperatures))
        _require(
            self.val_fraction + self.test_fraction < 0.9,
            "val_fraction + test_fraction must leave at least 10% of the corpus for training", "val_fraction",
        )
        if self.chat_template:
            role, content = self.chat_template.find("{role}"), self.chat_template.find("{content}")
            _require(self.chat_template.count("{role}") == 1 and self.chat_template.count("{content}") == 1 and 0 <= role < content,
                     "chat_template must hold {role} once and then {content} once, e.g. '{role}: {content}\\n', "
                     f"got {self.chat_template!r}", "chat_template")
        _require(
            self.device in ("auto", "cpu", "mps") or self.device == "cuda" or (self.device.startswith("cuda:") and self.device[5:].isdigit()),
            f"device must be {DEVICES}, got {self.device!r}", "device",
        )


# The most streams one generation call steps together (samples or beams): each holds a recurrent state and
# a row of logits per step ([B, V] floats), so a million would ask for gigabytes before the first token.
MAX_STREAMS = 1024


@dataclass(frozen=True)
class GenerationConfig(_Config):
    """How to turn next-token distributions into text; shared by the library, the CLI and the server.

    Sampling (``num_beams == 1``) runs these processors, in this order, on the logits of each step:
    repetition penalty, no-repeat n-gram, presence/frequency penalties, logit bias, temperature, top-k, top-p,
    min-p; then one token is drawn per
    sample. Temperature 0 means greedy decoding (always the most likely token; the penalties still
    apply, the truncations cannot change the choice). ``num_samples`` samples are drawn together in one
    batch, independently; ``seed`` makes them reproducible.

    Beam search (``num_beams > 1``) keeps the ``num_beams`` most probable continuations at each step
    and returns the ``num_samples`` best, ranked by log-probability / length ** length_penalty. It is
    deterministic, so temperature, top-k, top-p, min-p and seed do not apply and are rejected.
    """

    max_tokens: int = knob(200, "tokens to generate per sample", ge=0, flag="--length")
    temperature: float = knob(1.0, "reweights the distribution as p^(1/T): <1 more predictable, >1 more surprising",
                              ge=0.0, hint="0 = greedy")
    top_k: int | None = knob(None, "sample only among the k most likely tokens", ge=1)
    top_p: float | None = knob(None, "sample only among the most likely tokens totalling probability p", gt=0.0, le=1.0)
    num_samples: int = knob(1, "independent samples, generated together in one batch (beam search: how many of the "
                            "best continuations)", ge=1, le=MAX_STREAMS, request="n",
                            hint=f"at most {MAX_STREAMS:,} streams in one call; call again for more")
    seed: int | None = knob(None, "random seed for reproducible samples", **SEED_BOUNDS)
    stop: tuple[str, ...] = knob(help="stop a sample at this string (repeatable)", default_factory=tuple)
    min_p: float | None = knob(None, "sample only among tokens at least this fraction as likely as the best one", ge=0.0, le=1.0)
    repetition_penalty: float = knob(1.0, ">1 makes tokens already in the text less likely", gt=0.0, hint="1 = none")
    no_repeat_ngram_size: int = knob(0, "never repeat an n-gram of this many tokens", ge=0, hint="0 = off")
    num_beams: int = knob(1, "beam search with this many beams", ge=1, le=MAX_STREAMS, hint=f"1 = sample; at most {MAX_STREAMS:,}")
    length_penalty: float = knob(1.0, "beam search: rank continuations by log-probability / length^this")
    # OpenAI's penalties (not the repetition penalty above): logit[j] -= count[j] * frequency_penalty +
    # (count[j] > 0) * presence_penalty, count[j] = times token j was generated so far (the prompt not counted).
    presence_penalty: float = knob(0.0, "OpenAI's presence penalty: subtracted once from the logit of every token already "
                                   "generated (the prompt does not count); < 0 favours them", ge=-2.0, le=2.0, hint="0 = none")
    frequency_penalty: float = knob(0.0, "OpenAI's frequency penalty: subtracted from a token's logit once per time it was "
                                    "generated so far (the prompt does not count); < 0 favours repeats", ge=-2.0, le=2.0,
                                    hint="0 = none")
    logit_bias: dict[int, float] | None = knob(None, "OpenAI's logit_bias: token id -> a number added to that token's logit "
                                               "(-100 bans it, 100 all but forces it)", ge=-100.0, le=100.0)
    label: str | None = knob(None, "generate under this label (a model trained on labelled documents: lstmgen info lists them)")
    token_healing: bool = knob(True, "subword models: take back the prompt's last token and start with a token that extends it "
                                     "(a prompt ending in a space then continues with a word, as the corpus does)")
    # Constraints (decoding/constraints.py): a token the text could not continue from is never drawn.
    regex: str = knob("", "the generated text must match this regular expression as a whole (Python syntax; no lookarounds, "
                          "backreferences or \\b); a sample ends once its match can grow no longer", hint="empty = none")
    line_starts: str = knob("", "an acrostic: line i of the generated text starts with the i-th character of this; the sample "
                                "ends after the last line", hint="empty = none")
    must_include: tuple[str, ...] = knob(help="words that must appear in the generated text (the model writes freely until the "
                                              "tokens left are just enough to spell the missing ones)", default_factory=tuple, many=True)
    bad_words: tuple[str, ...] = knob(help="words never to write: their token sequences are banned (Hugging Face's bad_words_ids, "
                                           "by text)", default_factory=tuple, many=True)
    # Musical rules (decoding/musical_rules.py): music models only; other models ignore them.
    whole_bars: bool = knob(True, "ABC models: every bar adds up to the tune's meter (M:, L:): a note that would overfill a bar, "
                                  "or a bar line before the bar is full, is never drawn (a pickup, a bar beside a repeat and the "
                                  "final bar may be short)")
    min_bars: int = knob(8, "music models (ABC, MIDI) trained on whole pieces: a piece does not end before this many bars",
                         ge=0, hint="0 = it may end anywhere")

    def __post_init__(self) -> None:
        for name in ("stop", "must_include", "bad_words"):  # one string is a list of one
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))
        _check_fields(self)
        _require(all(isinstance(s, str) and s for s in self.stop), "stop strings must be non-empty strings", "stop")
        for name in ("must_include", "bad_words"):
            _require(all(isinstance(s, str) and s for s in getattr(self, name)), f"{name} must be non-empty strings", name)
        _require("\n" not in self.line_starts, "line_starts holds the first character of each line, so no line break", "line_starts")
        if self.num_beams == 1:
            _require(
                self.length_penalty == 1.0,
                f"length_penalty only applies to beam search; set num_beams > 1 or leave it at 1 (got {self.length_penalty})",
                "length_penalty",
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
            "num_beams",  # beam search is what rules the sampling settings out
        )
        _require(
            self.num_samples <= self.num_beams,
            f"beam search returns at most num_beams={self.num_beams} continuations; num_samples must be <= num_beams, "
            f"got {self.num_samples}",
            "num_beams",
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
