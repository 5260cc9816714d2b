"""Budget-aware defaults: the model and training settings that train best in the time (or steps) a run has.

``lstmgen train`` without a preset plans its run here. What trains best depends on how many tokens the run
will see: a small model learns fastest at first, a larger one ends lower given more tokens, and a larger one
on a small corpus needs dropout not to learn it by heart. So the plan is:

1. **tokens the run will see**: for a time budget, a throughput probe times a few real training steps of
   each candidate size on this machine (the fastest of a few, about half a second a size); for a step or
   epoch limit, steps x batch x window;
2. **the size**: the largest candidate that would see at least ``TOKENS_PER_MULTIPLY_ADD`` tokens per
   multiply-add of its per-token forward pass. The constant is calibrated on Tiny Shakespeare at 4 minutes
   (docs/benchmarks.md): 1x384 (which sees about 9 tokens per multiply-add there) beat 1x256 (about 18);
   1x512 would see about 3. So 6 keeps the tuned 4-minute model and grows it with the budget;
3. **the rest follows the size and the passes over the corpus**: the learning rate falls with the width
   (AdamW, ``1.5e-2 * sqrt(384 / hidden)``), dropout rises with the number of epochs the run will make, and
   AdamW's decoupled weight decay is ``CHARACTER_WEIGHT_DECAY`` (0.1, against TrainConfig's general 0.01: at
   4 minutes on Tiny Shakespeare it took the default from 1.485 to 1.425 nats/char, docs/benchmarks.md).
   The precision stays what the user chose (fp32 by default): the plan never changes the arithmetic.

Character-like vocabularies (characters, bytes) get one LSTM layer with a 64-wide embedding. Word and subword
vocabularies get a recipe instead (``WORD_RECIPE_*``): pytorch/examples word_language_model's optimisation
(2x200, SGD 20, clip 0.25, batch 20 x 35) with dropout from the epochs the run will make, which beat that
example at equal time on COCO captions where the character plan's settings lost to it (docs/benchmarks.md); past
8,000 ids an adaptive softmax, and with it a 2x400 with weight drop (``WORD_WIDE_MODEL``) where the run sees
enough tokens to train one; up to 8,000 a full softmax tied to the embedding. Everything the user sets
explicitly is kept as it is; the plan only fills in the rest, and says what it chose and why (``Plan.describe``).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..config import ModelConfig, TrainConfig
from ..model import CELLS, RecurrentLanguageModel, mogrifier_multiply_adds
from ..model.adaptive import adaptive_multiply_adds, automatic_cutoffs
from .optimizers import make_optimizer

TOKENS_PER_MULTIPLY_ADD = 6.0  # tokens seen per multiply-add of the per-token forward pass, at the widest worth training
# A run also gathers batches, evaluates and saves between its steps, and the probe takes its fastest step: a
# 30-minute 1x768 run made 11.6k tokens/s where the probe reads 16.8k (docs/benchmarks.md).
PROBE_EFFICIENCY = 0.7
CHARACTER_WIDTHS = (128, 192, 256, 384, 512, 640, 768, 1024, 1280, 1536)
CHARACTER_VOCABULARY = 1024  # at most this many ids: characters or bytes (a 64-wide embedding, no tying)
CHARACTER_WEIGHT_DECAY = 0.1  # AdamW's decoupled decay for the character plan (0.01 -> 0.1: 1.485 -> 1.425 at 4 min)


@dataclass
class Plan:
    """What the budget-aware default chose: model fields, training fields, and the reasons."""

    model: dict[str, Any]  # the fields it chose (the user's own are not repeated here)
    train: dict[str, Any]
    shape: ModelConfig  # the model it describes, the user's fields included
    tokens: float  # tokens the run is expected to see
    epochs: float  # passes over the training text that makes
    reasons: list[str] = field(default_factory=list)
    probe: dict[int, float] = field(default_factory=dict)  # hidden size -> measured tokens per second

    def describe(self) -> str:
        shape = self.shape
        chosen = ", ".join(f"{k} {v}" for k, v in {**self.model, **self.train}.items() if k not in ("hidden_size", "num_layers"))
        return (f"budget-aware default: {shape.cell.upper()} {shape.num_layers}x{shape.hidden_size} ({chosen}); "
                + "; ".join(self.reasons))


CHARACTER_FIELDS = ("embedding_size", "hidden_size", "num_layers", "dropout", "tie_weights")  # the model fields the plan chooses


def per_token_multiply_adds(config: ModelConfig) -> int:
    """Multiply-adds of the forward pass per token: every recurrent layer's gates and the output layer."""
    hidden, layers, gates = config.hidden_size, config.num_layers, CELLS[config.cell].gates
    recurrent = gates * hidden * (config.embedding_size + hidden) + (layers - 1) * gates * hidden * 2 * hidden
    if config.cell == "mogrifier":  # the gating rounds before each layer's update
        recurrent += sum(mogrifier_multiply_adds(config.embedding_size if layer == 0 else hidden, hidden, config.mogrifier_rounds,
                                                 config.mogrifier_rank) for layer in range(layers))
    if config.adaptive_softmax:
        return recurrent + adaptive_multiply_adds(hidden, config.adaptive_softmax)
    return recurrent + hidden * config.vocab_size


def learning_rate_for(hidden: int) -> float:
    """AdamW's peak rate for a width: 1.5e-2 at 384 (the width it was tuned at), falling as 1 / sqrt(width)."""
    return round(1.5e-2 * math.sqrt(384 / hidden), 5)


# The Mogrifier's rounds multiply x and h by up to 2 each, compounding: at the LSTM's rate it diverged (1x192, 1.5 min on
# Tiny Shakespeare: AdamW 0.021 blew up at step 268 and settled at the unigram's 3.8 nats); at 0.006 it trained (1.59).
MOGRIFIER_LEARNING_RATE_SCALE = 0.3


def dropout_for(epochs: float) -> float:
    """More passes over the same text, more dropout: none below 3 epochs, 0.1 at 6, 0.3 at 24, at most 0.5."""
    if epochs < 3:
        return 0.0
    return round(min(max(0.1 * math.log2(epochs / 3), 0.0), 0.5), 2)


# Word and subword vocabularies: pytorch/examples word_language_model's optimisation (plain SGD at a high rate,
# tight clipping, 2x200, batch 20 x 35), measured to beat that example at equal time on COCO captions with
# the dropout the epochs call for (docs/benchmarks.md). Untied, as the example is; ``_word_plan`` ties a full softmax.
WORD_RECIPE_MODEL = {"embedding_size": 200, "hidden_size": 200, "num_layers": 2, "tie_weights": False}
# A wider word model where a run sees enough tokens to train it: 2x400 with the dropout of the example's medium model
# (0.5) and weight drop on the recurrent weights (AWD-LSTM's; 0.3). At 5 minutes it beat the recipe on two word corpora
# with an adaptive softmax (Tiny Shakespeare 4.5541 against 4.5981 nats/word, the standard library 3.6245 against
# 3.6755), seeing about 0.39 tokens per multiply-add of its forward pass; on Tiny Shakespeare's BPE-4,096 ids (a full
# softmax) it lost (4.4946 against about 4.387): so only vocabularies with an adaptive softmax widen
# (docs/benchmarks.md). Calibrated at 5 minutes on 2 cores only: below 0.3 the recipe's 2x200 stays.
WORD_WIDE_MODEL = {"embedding_size": 400, "hidden_size": 400, "dropout": 0.5, "weight_dropout": 0.3}
WORD_TOKENS_PER_MULTIPLY_ADD = 0.3
WORD_WIDTH_FIELDS = ("embedding_size", "hidden_size", "num_layers", "tie_weights")  # the user fixing any keeps the recipe's width
WORD_RECIPE_TRAIN = {"optimizer": "sgd", "learning_rate": 20.0, "grad_clip": 0.25, "weight_decay": 0.0, "batch_size": 20,
                     "seq_length": 35, "warmup_steps": 0, "final_lr_fraction": 0.05}


# Validation passes over a word plan's run: the example validates once per epoch, lstmgen every 200 steps by default,
# which cost a fifth of a 5-minute BPE run on Tiny Shakespeare (19 passes, each scoring 10 % of the corpus and a cold start).
WORD_EVALUATIONS = 8


def word_dropout_for(epochs: float) -> float:
    """The word recipe's dropout: the example's 0.2 up to 3 epochs, then +0.1 per doubling, at most 0.5 (at 24)."""
    if epochs <= 3:
        return 0.2
    return round(min(0.2 + 0.1 * math.log2(epochs / 3), 0.5), 2)


def candidate(vocab_size: int, hidden: int, model_fixed: dict[str, Any]) -> ModelConfig:
    """A character-like vocabulary's model of this width: one layer, a 64-wide embedding; the user's fields kept."""
    values: dict[str, Any] = {"embedding_size": 64, "hidden_size": hidden, "num_layers": 1, "tie_weights": False}
    values.update(model_fixed)
    if values["tie_weights"] and "embedding_size" not in model_fixed:
        values["embedding_size"] = values["hidden_size"]  # the user asked for tying: the embedding follows the width
    values.setdefault("dropout", 0.0)
    return ModelConfig(vocab_size=vocab_size, **values)


def probe_rate(config: ModelConfig, train: TrainConfig, tokens: np.ndarray, autocast: Callable[[], Any], batch: int,
               steps: int = 6, seconds: float = 0.5) -> float:
    """Tokens per second of real training steps (``batch`` streams) of a fresh model of this shape: two warm-up
    steps, then up to ``steps`` timed one by one (stopping once ``seconds`` have passed), and the fastest taken.

    The fastest, not the mean: on a shared machine a step is only ever slowed by what else runs, so the
    fastest is the closest reading of what the machine can do (three steps summed read 19k-59k tokens/s for
    the same 1x384 shape on one machine); ``PROBE_EFFICIENCY`` then discounts what a run does between steps.
    """
    torch.manual_seed(0)
    model = RecurrentLanguageModel(config)
    optimizer = make_optimizer(train.optimizer, model, train.learning_rate, train.weight_decay)
    window = train.seq_length
    span = max(len(tokens) - window - 1, 1)
    starts = np.random.default_rng(0).integers(0, span, size=batch)
    rows = np.stack([np.asarray(tokens[s : s + window + 1], dtype=np.int64) for s in starts])
    if rows.shape[1] < window + 1:
        return 0.0  # a corpus shorter than one window: nothing to measure, and the smallest size will do
    batch_tokens = torch.from_numpy(rows)
    inputs, targets = batch_tokens[:, :-1], batch_tokens[:, 1:]
    state = model.init_state(batch)
    fastest, spent = math.inf, 0.0
    for step in range(steps + 2):
        started = time.perf_counter()
        with autocast():
            losses, _ = model(inputs, state, targets)  # [batch, window], as the trainer computes it
            loss = losses.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip or 1.0)
        optimizer.step()
        elapsed = time.perf_counter() - started
        spent += elapsed
        if step >= 2:
            fastest = min(fastest, elapsed)
            if spent > seconds:
                break
    return batch * window / fastest


def plan_default(
    vocab_size: int,
    words: bool,
    train_tokens: np.ndarray,
    config: TrainConfig,
    explicit_train: Sequence[str],
    model_fixed: dict[str, Any],
    device: torch.device,
    probe_batch: int | None = None,
    combine: Callable[[list[float]], list[float]] = lambda values: values,
) -> Plan:
    """The budget-aware default for this corpus and limit; ``explicit_train`` names the TrainConfig fields the
    user set (kept), ``model_fixed`` the model fields (kept). Under torchrun each rank probes ``probe_batch``
    streams (its share) and ``combine`` sums the ranks' rates, so every rank makes the same plan."""
    precision = config.precision
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" and device.type == "cpu" else _no_autocast
    if words:
        return _word_plan(vocab_size, train_tokens, config, explicit_train, model_fixed, autocast, probe_batch, combine)
    reasons: list[str] = []
    train_values: dict[str, Any] = {}
    widths = [model_fixed["hidden_size"]] if "hidden_size" in model_fixed else list(CHARACTER_WIDTHS)
    per_step = config.batch_size * config.seq_length
    fixed_tokens = None
    if config.max_steps:
        fixed_tokens = float(config.max_steps * per_step)
    elif config.max_epochs is not None or not config.time_budget:
        epochs = config.max_epochs if config.max_epochs is not None else 10.0
        fixed_tokens = float(epochs * len(train_tokens))
    chosen, tokens, probe = widths[0], 0.0, {}
    for width in widths:
        shape = candidate(vocab_size, width, model_fixed)
        if fixed_tokens is not None:
            seen = fixed_tokens
        else:
            rate = combine([probe_rate(shape, config, train_tokens, autocast, probe_batch or config.batch_size)])[0]
            probe[width] = round(rate)
            seen = rate * PROBE_EFFICIENCY * config.time_budget * 60
        if width != widths[0] and seen < TOKENS_PER_MULTIPLY_ADD * per_token_multiply_adds(shape):
            break  # too big to be trained in this budget; every larger width is too
        chosen, tokens = width, seen
    shape = candidate(vocab_size, chosen, model_fixed)
    epochs = tokens / max(len(train_tokens), 1)
    model_values = {k: v for k, v in shape.to_dict().items() if k in CHARACTER_FIELDS and k not in model_fixed}
    if "dropout" not in model_fixed:
        model_values["dropout"] = dropout_for(epochs)
    if "learning_rate" not in explicit_train:
        scale = MOGRIFIER_LEARNING_RATE_SCALE if shape.cell == "mogrifier" else 1.0
        train_values["learning_rate"] = round(learning_rate_for(chosen) * scale, 5)
        if scale != 1.0:
            reasons.append(f"learning rate x{scale:g} for the mogrifier cell (the LSTM's rate diverged)")
    if "weight_decay" not in explicit_train and config.optimizer == "adamw":
        train_values["weight_decay"] = CHARACTER_WEIGHT_DECAY
    how = (f"{config.time_budget:g} min at the probed {probe[chosen]:,} tokens/s" if fixed_tokens is None
           else f"{'max_steps' if config.max_steps else 'max_epochs'}")
    reasons.insert(0, f"width {chosen}: the widest that sees >= {TOKENS_PER_MULTIPLY_ADD:g} tokens per multiply-add "
                      f"({tokens / 1e6:.1f}M tokens from {how}, {per_token_multiply_adds(shape) / 1e6:.2f}M multiply-adds per token)")
    reasons.append(f"dropout {model_values.get('dropout', shape.dropout)} for {epochs:.1f} epochs of the training text")
    shape = ModelConfig.from_dict({**shape.to_dict(), **model_values})
    return Plan(model=model_values, train=train_values, shape=shape, tokens=tokens, epochs=epochs, reasons=reasons, probe=probe)


def _word_plan(vocab_size: int, train_tokens: np.ndarray, config: TrainConfig, explicit_train: Sequence[str],
               model_fixed: dict[str, Any], autocast: Callable[[], Any], probe_batch: int | None,
               combine: Callable[[list[float]], list[float]]) -> Plan:
    """The word recipe (``WORD_RECIPE_*``) with the user's explicit settings kept, and dropout from the epochs
    the run will make (a time budget's from a probe of the recipe's model on this machine), and a full softmax tied
    to the embedding unless the user set tying, or an embedding size other than the width. With an adaptive
    softmax and no width of the user's, ``WORD_WIDE_MODEL`` instead where it would see at least
    ``WORD_TOKENS_PER_MULTIPLY_ADD`` tokens per multiply-add (a time budget probes it too)."""
    train_values = {k: v for k, v in WORD_RECIPE_TRAIN.items() if k not in explicit_train}
    if "optimizer" in explicit_train or "learning_rate" in explicit_train:
        # SGD's rate of 20 means nothing to another optimizer, nor a rate chosen for AdamW to SGD: keep the pair as given.
        train_values.pop("optimizer", None)
        train_values.pop("learning_rate", None)
    settings = replace(config, **train_values)
    values = {**WORD_RECIPE_MODEL, "dropout": 0.0, **model_fixed}
    cutoffs = automatic_cutoffs(vocab_size)
    if cutoffs and "adaptive_softmax" not in model_fixed and not values["tie_weights"]:
        values["adaptive_softmax"] = cutoffs
    # A full softmax (up to 8,000 ids: BPE, small word vocabularies) shares its [V, H] matrix with the embedding (Press &
    # Wolf 2017; Inan et al. 2017) unless the user chose otherwise: on the standard library's BPE-4,096 ids at 5 minutes
    # the tied 2x200 scored 4.2756 nats/token against 4.3786 untied, at the same speed (docs/benchmarks.md, "Tied
    # embeddings for a full softmax"). An adaptive softmax has no such matrix to share: large vocabularies stay untied.
    tied_reason = None
    if (not values.get("adaptive_softmax") and "tie_weights" not in model_fixed
            and model_fixed.get("embedding_size", values["hidden_size"]) == values["hidden_size"]):
        values["tie_weights"] = True
        tied_reason = (f"tied embedding and output weights: a full softmax over {vocab_size:,} ids, where tying "
                       "measured better at equal time (docs/benchmarks.md)")
    if values["tie_weights"] and "embedding_size" not in model_fixed:
        values["embedding_size"] = values["hidden_size"]  # tied (the user's choice or the plan's): the embedding follows the width
    model_values = {k: values[k] for k in (*WORD_RECIPE_MODEL, "adaptive_softmax") if k in values and k not in model_fixed}
    shape = ModelConfig(vocab_size=vocab_size, **values)
    per_step = settings.batch_size * settings.seq_length
    probe: dict[int, float] = {}

    def seen(candidate: ModelConfig) -> tuple[float, str]:
        """Tokens a run of this shape will see, and how that was worked out."""
        if settings.max_steps:
            return float(settings.max_steps * per_step), "max_steps"
        if settings.max_epochs is not None or not settings.time_budget:
            return float((settings.max_epochs if settings.max_epochs is not None else 10.0) * len(train_tokens)), "max_epochs"
        batch = max(1, (probe_batch or config.batch_size) * settings.batch_size // max(config.batch_size, 1))  # this rank's share
        rate = combine([probe_rate(candidate, settings, train_tokens, autocast, batch)])[0]
        probe[candidate.hidden_size] = round(rate)
        return rate * PROBE_EFFICIENCY * settings.time_budget * 60, f"{settings.time_budget:g} min at the probed {round(rate):,} tokens/s"

    wide_reason, tokens = None, None
    if shape.adaptive_softmax and not any(name in model_fixed for name in WORD_WIDTH_FIELDS):
        wide = ModelConfig.from_dict({**shape.to_dict(), **{k: v for k, v in WORD_WIDE_MODEL.items() if k not in model_fixed}})
        wide_tokens, wide_how = seen(wide)
        per_token = per_token_multiply_adds(wide)
        if wide_tokens >= WORD_TOKENS_PER_MULTIPLY_ADD * per_token:  # the recipe's own probe is then not needed
            shape, tokens, how = wide, wide_tokens, wide_how
            model_values.update({k: v for k, v in WORD_WIDE_MODEL.items() if k not in model_fixed})
        wide_reason = (f"width {shape.hidden_size}: 2x400 (dropout 0.5, weight drop 0.3) "
                       f"{'sees' if shape is wide else 'would see only'} {wide_tokens / per_token:.2f} tokens per multiply-add "
                       f"({wide_tokens / 1e6:.1f}M tokens, {per_token / 1e6:.2f}M multiply-adds per token; it widens at "
                       f"{WORD_TOKENS_PER_MULTIPLY_ADD:g})")
    if tokens is None:
        tokens, how = seen(shape)
    epochs = tokens / max(len(train_tokens), 1)
    if "dropout" not in model_fixed and "dropout" not in model_values:
        model_values["dropout"] = word_dropout_for(epochs)
    if "eval_interval" not in explicit_train and config.eval_interval:
        # About WORD_EVALUATIONS passes (never more often than asked): the time they save trains.
        train_values["eval_interval"] = max(config.eval_interval, int(round(tokens / per_step / WORD_EVALUATIONS, -2)))
    reasons = ["word vocabulary: pytorch/examples word_language_model's optimisation (SGD 20, clip 0.25, 2x200, "
               "batch 20 x 35), measured better than it at equal time (docs/benchmarks.md)",
               f"dropout {model_values.get('dropout', shape.dropout)} for {epochs:.1f} epochs of the training text "
               f"({tokens / 1e6:.1f}M tokens from {how})"]
    if wide_reason:
        reasons.append(wide_reason)
    if tied_reason:
        reasons.append(tied_reason)
    if model_values.get("adaptive_softmax"):
        reasons.append(f"an adaptive softmax over the {vocab_size:,} ids (cutoffs {', '.join(map(str, shape.adaptive_softmax))}): "
                       "a full softmax would be most of each step")
    shape = ModelConfig.from_dict({**shape.to_dict(), **model_values})
    return Plan(model=model_values, train=train_values, shape=shape, tokens=tokens, epochs=epochs, reasons=reasons, probe=probe)


def _no_autocast() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()
