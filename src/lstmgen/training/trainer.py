"""The training loop: an explicit loop that reads top to bottom, with one hook.

    for each step:  next window [B, T] -> forward with the carried state -> cross-entropy -> backward
                    -> clip the gradient norm -> optimizer step -> learning rate for the next step
                    -> detach the state (truncated BPTT)
    every eval_interval steps (and at the end): full validation pass -> log line -> samples
                    -> save last/ (and best/ when validation improved) -> hook -> early stopping

A step whose loss or gradient norm is not finite is not applied (``lstmgen.training.divergence``): the weights and
optimizer go back to the state of the last evaluation that scored a finite loss, the learning rate is
halved from then on, and after ``DIVERGENCE_RETRIES`` such steps without a good evaluation between them the
run stops with ``DivergenceError``. A non-finite validation loss is never saved as ``best/``.

Everything a run needs to continue exactly (optimizer, step, RNG state, data cursor, the carried
recurrent state, the history) goes into ``last/trainer_state.pt``; ``Trainer.resume`` restores it.
Ctrl-C or SIGTERM finishes the current step, saves ``last/`` and returns: a killed run loses nothing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import GenerationConfig, TrainConfig
from ..data.batches import BatchIterator
from ..decoding import decode, encode_prompt, make_generator
from ..evaluation.static import evaluate, scored_text_size, segment_starts
from ..model import RecurrentLanguageModel, detach_state
from ..system import run_directory
from ..system.console import Log, default_log, graceful_interrupts, progress_bar, show_progress
from ..system.runtime import available_cores, resolve_device, set_threads
from ..tokenizers import Tokenizer
from .distributed import World
from .divergence import DivergenceGuard, is_finite_step, is_improvement
from .optimizers import make_optimizer
from .precision import Precision, to_device
from .records import TensorBoardMirror, append_record, plot_loss_curve
from .state import check_history, check_trainer_state

# A hook sees every evaluation record; returning True stops training (after saving).
Hook = Callable[["Trainer", dict[str, Any]], "bool | None"]


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then constant or cosine down to ``final_lr_fraction``.

    ``progress`` in [0, 1] is how far the run is: by steps, or by the time budget when there is one,
    so a time-limited run anneals to its deadline.
    """
    if config.warmup_steps and step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.learning_rate
    progress = min(max(progress, 0.0), 1.0)
    floor = config.final_lr_fraction
    return config.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


DEFAULT_EPOCHS = 10.0
DIVERGENCE_RETRIES = 5  # non-finite steps since the last good evaluation before the run stops (lstmgen.training.divergence)
RESET_STREAM = 0x5EED  # salts the stream-reset draws, so they never coincide with another use of the seed


def planned_steps(config: TrainConfig, steps_per_epoch: int) -> int | None:
    """Steps the run may take: ``max_steps``, else ``max_epochs``; with neither, a time budget alone
    decides (None), and without a budget either, ``DEFAULT_EPOCHS`` epochs."""
    if config.max_steps:
        return config.max_steps
    if config.max_epochs is None and config.time_budget:
        return None
    epochs = config.max_epochs if config.max_epochs is not None else DEFAULT_EPOCHS
    return max(1, math.ceil(epochs * steps_per_epoch))


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    stop_reason: str
    best_val: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    validation: str = ""  # which text the validation figures are on (an official split, --val's file, the corpus's end)


class Trainer:
    """The training loop for one process, or for one rank of a torchrun job (``world``, lstmgen.training.distributed)."""

    def __init__(
        self,
        model: RecurrentLanguageModel,
        tokenizer: Tokenizer,
        train_tokens: np.ndarray,
        val_tokens: np.ndarray | None,
        config: TrainConfig,
        out_dir: str | Path,
        hook: Hook | None = None,
        log: Log | None = None,
        progress: bool | None = None,
        data_info: dict[str, Any] | None = None,
        world: World | None = None,
        tensorboard: str | Path | None = None,
    ) -> None:
        self.config = config
        self.world = world or World()
        # Several processes share the cores: each takes its share unless told otherwise.
        self.threads = set_threads(config.threads or (max(1, available_cores() // self.world.local_size) if self.world.active else 0))
        self.device = resolve_device(config.device, self.world.local_rank)
        self.precision = Precision(config.precision, self.device)
        torch.manual_seed(config.seed + self.world.rank)  # dropout differs by rank; rank 0 draws as a single process does
        self.model = model.to(self.device)
        # What a step runs. An adaptive softmax's cluster gets no gradient in a batch with no target in it: DDP must look
        # for such parameters each step rather than wait for their gradients.
        self.forward = (DistributedDataParallel(self.model, find_unused_parameters=bool(getattr(self.model, "adaptive", False)))
                        if self.world.active else self.model)
        self.tokenizer = tokenizer
        self.rows = self.world.rows(config.batch_size)  # this rank's streams of the global batch
        self.batches = BatchIterator(train_tokens, config.batch_size, config.seq_length, rows=self.rows)
        self.val_tokens = val_tokens if val_tokens is not None and len(val_tokens) >= 2 else None
        self.cold_start_positions = (
            segment_starts(self.val_tokens, tokenizer) if self.val_tokens is not None else None
        )
        self.data_info = data_info or {}
        # The held-out text's size, for bits per character (the store counts them; see metrics.LossReport).
        sizes = (self.data_info.get("characters", {}).get("val"), self.data_info.get("bytes", {}).get("val"))
        self.val_text_size = (scored_text_size(tokenizer, self.val_tokens[0], *sizes) if self.val_tokens is not None and all(sizes)
                              else (None, None))
        self.out_dir = Path(out_dir)
        self.hook = hook
        self.log = (log or default_log) if self.world.is_main else (lambda line: None)
        self.progress = show_progress(progress) and self.world.is_main
        self.optimizer = make_optimizer(config.optimizer, model, config.learning_rate, config.weight_decay)
        self.tensorboard = TensorBoardMirror(tensorboard) if tensorboard is not None and self.world.is_main else None
        self.total_steps = planned_steps(config, self.batches.steps_per_epoch)  # None: the time budget decides
        self.eval_interval = config.eval_interval or self.batches.steps_per_epoch
        # Everything below is the resumable state.
        self.step = 0
        self.elapsed = 0.0  # seconds of training so far, across resumptions
        self.state = model.init_state(self.local_batch, self.device)  # this rank's streams: [L, B/W, H] each
        self.history: list[dict[str, Any]] = []
        self.best_val: dict[str, Any] | None = None
        self.evaluations_without_improvement = 0
        # Remembers the weights and optimizer state of the last good evaluation (here: the initial ones).
        self.guard = DivergenceGuard(self.model, self.optimizer, max_failures=DIVERGENCE_RETRIES)

    @property
    def local_batch(self) -> int:
        return self.rows[1] - self.rows[0]

    # ----- resumable state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The resumable state of the whole run; under torchrun every rank must call it (it gathers)."""
        rng = self.world.gather_rows(torch.get_rng_state()[None], dim=0)  # [W, n]: every rank's generator
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "optimizer": self.optimizer.state_dict(),
            # Independent tensors, not views of ``rng``: torch.save keeps views sharing one storage, and
            # torch.set_rng_state on a loaded view with a storage offset (rank 1's row) crashes the process.
            "torch_rng": rng[0].clone(),
            "rank_rng": [row.clone() for row in rng],
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "grad_scaler": self.precision.scaler.state_dict() if self.precision.scaler is not None else {},
            "data": self.batches.state_dict(),
            # Every stream of the global batch, [L, B, H], so a run resumes at any world size.
            "recurrent_state": [self.world.gather_rows(s.detach().cpu()) for s in self.state],
            "best_val": json.dumps(self.best_val),
            "evaluations_without_improvement": self.evaluations_without_improvement,
            "divergence": self.guard.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], history: list[dict[str, Any]]) -> None:
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.optimizer.load_state_dict(state["optimizer"])
        generators = state.get("rank_rng") or [state["torch_rng"]]
        # .clone(): checkpoints written before the rows were saved apart hold views at an offset (see state_dict).
        if len(generators) == self.world.size:
            torch.set_rng_state(generators[self.world.rank].clone())
        else:  # another world size: the ranks' dropout streams cannot continue, so they are reseeded (documented)
            torch.set_rng_state(generators[0].clone()) if self.world.rank == 0 else torch.manual_seed(self.config.seed + self.world.rank + self.step)
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if state.get("grad_scaler") and self.precision.scaler is not None:
            self.precision.scaler.load_state_dict(state["grad_scaler"])
        self.batches.load_state_dict(state["data"])
        first, last = self.rows
        self.state = tuple(s[:, first:last].to(self.device) for s in state["recurrent_state"])
        self.best_val = json.loads(state["best_val"])
        self.evaluations_without_improvement = int(state["evaluations_without_improvement"])
        self.history = list(history)
        # The checkpoint's weights and optimizer are the last good state (checkpoints hold only finite weights).
        self.guard.remember()
        self.guard.load_state_dict(state.get("divergence", {}))

    @classmethod
    def resume(cls, run_dir: str | Path, train_tokens: np.ndarray, val_tokens: np.ndarray | None, config: TrainConfig | None = None, **kwargs: Any) -> "Trainer":
        """Continue a run from its ``last/`` checkpoint; ``config`` may change how long it runs."""
        checkpoint = load_checkpoint(run_dir, prefer=run_directory.LAST, state_check=check_trainer_state)
        check_history(checkpoint.metrics, str(checkpoint.path / run_directory.METRICS))
        config = config or checkpoint.train_config
        trainer = cls(checkpoint.model, checkpoint.tokenizer, train_tokens, val_tokens, config, run_dir, **kwargs)
        trainer.load_state_dict(checkpoint.trainer_state, checkpoint.metrics)
        return trainer

    # ----- the loop --------------------------------------------------------------------------------
    def _progress(self) -> float:
        by_steps = self.step / self.total_steps if self.total_steps else 0.0
        if self.config.time_budget:
            return max(by_steps, self.elapsed / (self.config.time_budget * 60))
        return by_steps

    def _stop_reason(self) -> str | None:
        if self.total_steps is not None and self.step >= self.total_steps:
            return "max steps" if self.config.max_steps else "max epochs"
        if self.config.time_budget and self.elapsed >= self.config.time_budget * 60:
            return "time budget"
        return None

    def _reset_streams(self) -> None:
        """Reset each stream's carried state to the fresh state with probability state_reset_probability.

        The draw is for the global batch and depends only on (seed, step), not on any RNG the run carries, so a
        resumed run resets the same streams at the same steps, and every rank the same streams of its share.
        """
        probability = self.config.state_reset_probability
        if probability <= 0:
            return
        first, last = self.rows
        reset = (np.random.default_rng((self.config.seed, self.step, RESET_STREAM)).random(self.config.batch_size) < probability)[first:last]
        if probability >= 1 or reset.all():
            self.state = self.model.init_state(self.local_batch, self.device)
        elif reset.any():
            mask = torch.from_numpy(reset).to(self.device)[None, :, None]  # [1, b, 1] over states [L, b, H]
            fresh = self.model.init_state(self.local_batch, self.device)
            self.state = tuple(torch.where(mask, f, s) for f, s in zip(fresh, self.state))

    def train_step(self) -> float:
        inputs, targets, starts_epoch = self.batches.next_batch()  # [b, T] each: this rank's streams
        if starts_epoch:
            self.state = self.model.init_state(self.local_batch, self.device)
        else:
            self._reset_streams()
        for group in self.optimizer.param_groups:  # the scale is 1 until a diverging step lowered it
            group["lr"] = learning_rate(self.config, self.step, self._progress()) * self.guard.learning_rate_scale
        inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
        with self.precision.autocast():
            losses, state = self.forward(inputs, self.state, targets)  # [b, T]: each target's NLL
            # The mean over this rank's b x T tokens: DDP averages the ranks' equal shares into the global mean.
            loss = losses.mean()
        self.optimizer.zero_grad(set_to_none=True)
        self.precision.backward(loss)
        norm = None
        if self.config.grad_clip > 0:
            self.precision.unscale(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        elif self.precision.scaler is None:
            norm = torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        if self.precision.scaler is not None:
            norm = None  # a loss scaler expects overflowing gradients now and then: it skips those steps itself
        self.step += 1
        if not self._finite_everywhere(is_finite_step(loss, norm)):
            self._skip_step("a non-finite loss or gradient")
            return math.nan
        self.precision.step(self.optimizer)
        self.state = detach_state(state)
        return loss.item()

    def _finite_everywhere(self, finite: bool) -> bool:
        """Under torchrun every rank must take the same decision (one reduction per step; none in one process)."""
        return finite if not self.world.active else self.world.max([0.0 if finite else 1.0])[0] == 0.0

    def _skip_step(self, what: str) -> None:
        """Do not apply this step: the last good weights and optimizer state come back, the learning rate is
        lowered, the carried state restarts (it may hold NaN); DivergenceError after too many (lstmgen.training.divergence)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.guard.check(math.nan, step=self.step)
        self.state = self.model.init_state(self.local_batch, self.device)
        self.log(f"step {self.step}: {what}; went back to the weights of the last good evaluation and lowered the learning "
                 f"rate to x{self.guard.learning_rate_scale:g} ({self.guard.failures} of {self.guard.max_failures} tries)")

    def _share(self, stop_requested: bool) -> bool:
        """Make every rank agree: the elapsed time (so the schedule and the budget match) and any stop request."""
        if not self.world.active:
            return stop_requested
        self.elapsed, flag = self.world.max([self.elapsed, float(stop_requested)])
        return flag > 0

    def run(self) -> TrainResult:
        self.model.train()
        if self.world.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        stop = threading.Event()
        reason = self._stop_reason()
        losses: list[float] = []
        tokens_since = 0
        window_start = time.perf_counter()
        bar = progress_bar(self.total_steps, self.step, self.progress)
        with graceful_interrupts(stop), bar:
            while reason is None:
                started = time.perf_counter()
                losses.append(self.train_step())
                tokens_since += self.config.batch_size * self.config.seq_length
                self.elapsed += time.perf_counter() - started
                interrupted = self._share(stop.is_set())
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
                reason = self._stop_reason() or ("interrupted" if interrupted else None)
                if self.step % self.eval_interval == 0 or reason is not None:
                    speed = tokens_since / max(time.perf_counter() - window_start, 1e-9)
                    started = time.perf_counter()
                    record = self._evaluate_and_save(self._mean_loss(losses), speed)
                    self.elapsed += time.perf_counter() - started
                    losses, tokens_since, window_start = [], 0, time.perf_counter()
                    hooked = bool(reason is None and self.hook is not None and self.world.is_main and self.hook(self, record))
                    if self._share(hooked) and reason is None:
                        reason = "stopped by hook"
                    if reason is None and self.config.patience and self.evaluations_without_improvement >= self.config.patience:
                        reason = "early stopping"
        self.log(f"stopped after {self.step} steps ({self.elapsed / 60:.1f} min): {reason}")
        if self.world.is_main:
            self._plot()
        if self.tensorboard is not None:
            self.tensorboard.close()
        return TrainResult(self.out_dir, self.step, reason, self.best_val, self.history, str(self.data_info.get("validation", "")))

    def _mean_loss(self, losses: list[float]) -> float:
        """The training loss since the last evaluation, over every rank's streams (skipped steps, NaN, left out)."""
        finite = [value for value in losses if math.isfinite(value)]
        total, count = self.world.sum([float(np.sum(finite)), float(len(finite))])
        return total / count if count else math.nan

    # ----- evaluation, samples, checkpoints ----------------------------------------------------------
    def _evaluate_and_save(self, train_loss: float, tokens_per_second: float) -> dict[str, Any]:
        # A finite step can still overflow a weight to inf (SGD with a huge learning rate): never evaluate or save
        # such weights. The weights are the same on every rank, so every rank decides alike.
        if not all(bool(torch.isfinite(parameter).all()) for parameter in self.model.parameters()):
            self._skip_step("the last step left non-finite weights")
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": round(self.batches.progress, 4),
            "train_loss": train_loss,
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "tokens_per_second": round(tokens_per_second, 1),
            "elapsed": round(self.elapsed, 2),
        }
        improved = False
        if self.val_tokens is not None:
            # Sharded by rows across the ranks and summed: the exact full pass whatever the world size.
            report = evaluate(self.model, self.val_tokens, unknown=self.data_info.get("val_unknown", 0),
                              cold_start_positions=self.cold_start_positions, shard=(self.world.rank, self.world.size),
                              reduce=self.world.sum if self.world.active else None, characters=self.val_text_size[0],
                              bytes=self.val_text_size[1])
            record.update(val_nats=report.nats, val_bits=report.bits, val_perplexity=report.perplexity)
            if report.bits_per_character is not None:
                record.update(val_bits_per_char=report.bits_per_character, val_bits_per_byte=report.bits_per_byte)
            if report.cold_start is not None:
                record.update(val_cold_start_nats=report.cold_start.fresh_nats,
                              val_cold_start_context_nats=report.cold_start.context_nats,
                              val_cold_start_ratio=report.cold_start.ratio)
            improved = is_improvement(report.nats, self.best_val)  # never a NaN model
            good = math.isfinite(report.nats)
        else:
            improved = good = math.isfinite(train_loss)  # no validation data: the latest model is the best we know
        if good:
            self.guard.remember()
        if self.guard.total_failures:
            record["skipped_steps"] = self.guard.total_failures
        self.evaluations_without_improvement = 0 if improved else self.evaluations_without_improvement + 1
        if improved:
            self.best_val = dict(record)
        self.history.append(record)
        trainer_state = self.state_dict()  # every rank takes part: it gathers the streams' states
        if not self.world.is_main:
            return record
        append_record(self.out_dir, record)
        if self.tensorboard is not None:
            self.tensorboard.record(record)
        line = f"step {self.step:>6} | epoch {record['epoch']:.2f} | train {train_loss:.4f}"
        if "val_nats" in record:
            line += f" | val {record['val_nats']:.4f} nats ({record['val_bits']:.3f} bits)"
            if "val_bits_per_char" in record and self.tokenizer.kind != "char":
                line += f" = {record['val_bits_per_char']:.3f} bits/char"
        if "val_cold_start_nats" in record:
            line += f" | cold start {record['val_cold_start_nats']:.3f} vs {record['val_cold_start_context_nats']:.3f} (x{record['val_cold_start_ratio']:.2f})"
        line += f" | {tokens_per_second:,.0f} tok/s | {self.elapsed / 60:.1f} min" + (" | best" if improved else "")
        self.log(line)
        self._samples()
        self._save(run_directory.LAST, trainer_state)
        if improved:
            self._save(run_directory.BEST)
        return record

    def _samples(self) -> None:
        config = self.config
        if config.sample_length == 0 or not config.sample_temperatures:
            return
        try:
            prompt_ids = encode_prompt(self.tokenizer, config.sample_prompt, unknown="replace")
        except ValueError as error:
            self.log(f"--- no samples: {error} (set --sample-prompt)")
            return
        for temperature in config.sample_temperatures:
            generation = GenerationConfig(max_tokens=config.sample_length, temperature=temperature)
            # A private generator: samples must not consume the training RNG (exact resume depends on it).
            generator = make_generator(config.seed + self.step, self.device)
            text = "".join(record.texts[0] for record in decode(self.model, self.tokenizer, prompt_ids, generation, generator,
                                                                      prompt_text=config.sample_prompt))
            self.log(f"--- temperature {temperature}:\n{config.sample_prompt}{text}")

    def _save(self, name: str, trainer_state: dict[str, Any] | None = None) -> None:
        save_checkpoint(
            self.out_dir / name,
            self.model,
            self.tokenizer,
            self.config,
            trainer_state=trainer_state,
            metrics=self.history,
            extra={"data": self.data_info, "best_val": self.best_val, "steps": self.step, "world_size": self.world.size},
        )

    def _plot(self) -> None:
        plot_loss_curve(self.history, self.out_dir / run_directory.LOSS_PLOT)
