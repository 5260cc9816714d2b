"""The GAN loop, phase by phase, resumable after any unit of work:

    mle          pretrain_epochs epochs of teacher-forced cross-entropy (Adam, clipped), evaluated each epoch
    d_pretrain   pretrain_d_steps times: sample d_samples negatives, train D pretrain_d_epochs epochs on them
                 against as many real sequences
    adversarial  rounds times, by ``method``:
                 seqgan  g_steps x (sample a batch, rollout rewards [B, T], one policy-gradient step), move the
                         rollout policy toward the generator, then d_steps x (fresh negatives, d_epochs epochs)
                 dense   sample a batch, d_steps D updates on it against as many real sequences, then one
                         policy-gradient step with the updated D's per-prefix rewards (lstmgen.gan.dense)

With ``reward="constant"`` (an ablation of SeqGAN) every reward is 1 and the discriminator is never trained:
the adversarial phase becomes REINFORCE on the generator's own samples.

The generator is an lstmgen ``RecurrentLanguageModel``, trained with the core's optimizers
(``lstmgen.training.optimizers``) at the constant rates of the GanConfig, and the run talks to its user as training
does (``lstmgen.system.console``: log lines, progress bar, Ctrl-C saves ``last/``). Checkpoints are ordinary lstmgen
checkpoints of the generator (``last/`` with everything needed to resume in trainer_state.pt: the
discriminator, the rollout policy, the three optimizers, the reward baseline, the RNG states, the phase and
the history; ``mle/`` at the end of MLE; ``mle-best/`` at the MLE epoch with the lowest NLL on the
validation sequences, when the evaluation reports one: never chosen on test data).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..model import RecurrentLanguageModel
from ..system.console import Log, default_log, graceful_interrupts, progress_bar, show_progress
from ..system.run_directory import LAST
from ..system.runtime import set_threads
from ..tokenizers import Tokenizer
from ..training.optimizers import make_optimizer
from .config import GanConfig
from .dense import dense_policy_loss, discounted_returns, moving_baseline, prefix_rewards
from .discriminator import held_out_scores, make_discriminator, make_discriminator_optimizer, train_discriminator
from .rollout import policy_gradient_loss, rollout_rewards, update_rollout_policy
from .run_layout import MLE, MLE_BEST
from .sequences import mle_epoch, sample_sequences, token_log_probabilities
from .state import check_gan_state

PHASES = ("mle", "d_pretrain", "adversarial", "done")
Evaluation = Callable[[RecurrentLanguageModel], dict[str, float]]
Samples = Callable[[RecurrentLanguageModel], list[str]]  # a few decoded samples to show in the log


@dataclass
class GanResult:
    out_dir: Path
    phase: str
    history: list[dict[str, Any]] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    phase_cpu_seconds: dict[str, float] = field(default_factory=dict)


def new_generator(vocab_size: int, embedding_size: int, hidden_size: int, config: GanConfig) -> RecurrentLanguageModel:
    """An untrained one-layer LSTM generator, every parameter drawn from N(0, generator_init_std) as in the
    authors' code (generator_init_std 0: lstmgen's own initialisation). Seed torch before calling."""
    model = RecurrentLanguageModel(ModelConfig(vocab_size=vocab_size, embedding_size=embedding_size, hidden_size=hidden_size))
    if config.generator_init_std > 0:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0.0, config.generator_init_std)
    return model


class SeqGANTrainer:
    def __init__(
        self,
        generator: RecurrentLanguageModel,
        tokenizer: Tokenizer,
        real: torch.Tensor,
        config: GanConfig,
        out_dir: str | Path,
        evaluate: Evaluation | None = None,
        log: Log | None = None,
        progress: bool | None = None,
        threads: int = 0,
        suppress: Sequence[int] = (),
        show_samples: Samples | None = None,
    ) -> None:
        if real.ndim != 2 or real.shape[1] != config.sequence_length:
            raise ValueError(f"real sequences must be [N, {config.sequence_length}], got {tuple(real.shape)}")
        if config.d_holdout >= len(real):
            raise ValueError(f"d_holdout ({config.d_holdout}) must leave the discriminator some of the {len(real)} real sequences")
        set_threads(threads)
        torch.manual_seed(config.seed)
        self.config = config
        self.generator = generator
        self.tokenizer = tokenizer
        self.real = real.long().cpu()  # MLE's data
        # D's positives and the real sequences held out from them (empty unless d_holdout).
        self.d_real, self.d_heldout = self.real[: len(self.real) - config.d_holdout], self.real[len(self.real) - config.d_holdout :]
        self.out_dir = Path(out_dir)
        self.evaluate = evaluate
        self.show_samples = show_samples
        self.suppress = tuple(suppress)  # ids the generator never draws (the tokenizer's never_generated)
        self.log = log or default_log
        self.progress = show_progress(progress)
        vocab = generator.config.vocab_size
        self.discriminator = make_discriminator(vocab, config)
        self.rollout = copy.deepcopy(generator)
        # Two Adam optimizers over the same weights at constant rates, as in the authors' code (pre-training and
        # adversarial).
        self.mle_optimizer = make_optimizer("adam", generator, config.generator_learning_rate)
        self.pg_optimizer = make_optimizer("adam", generator, config.adversarial_learning_rate)
        for group in self.pg_optimizer.param_groups:
            group["betas"] = (config.adversarial_beta1, group["betas"][1])
        self.d_optimizer = make_discriminator_optimizer(self.discriminator, config)
        self.rng = torch.Generator().manual_seed(config.seed)  # every draw and shuffle of the run
        # Resumable state.
        self.phase = PHASES[0]
        self.completed = 0  # units (epochs, d-steps, rounds) completed in the current phase
        self.history: list[dict[str, Any]] = []
        self.phase_seconds = {phase: 0.0 for phase in PHASES[:-1]}  # wall clock
        self.phase_cpu_seconds = {phase: 0.0 for phase in PHASES[:-1]}  # process CPU time, all threads
        self.best_nll_validation: float | None = None
        self.d_steps_kept = [0, 0]  # with d_gate: d-steps kept, d-steps taken
        self.baseline = 0.0  # the dense method's moving-average reward baseline (ScratchGAN starts it at 0)

    # ----- resumable state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "completed": self.completed,
            "discriminator": self.discriminator.state_dict(),
            "rollout": self.rollout.state_dict(),
            "mle_optimizer": self.mle_optimizer.state_dict(),
            "pg_optimizer": self.pg_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "phase_seconds": json.dumps(self.phase_seconds),
            "phase_cpu_seconds": json.dumps(self.phase_cpu_seconds),
            "best_nll_validation": json.dumps(self.best_nll_validation),
            "d_steps_kept": json.dumps(self.d_steps_kept),
            "baseline": json.dumps(self.baseline),
        }

    def load_state_dict(self, state: dict[str, Any], history: list[dict[str, Any]]) -> None:
        self.phase, self.completed = str(state["phase"]), int(state["completed"])
        if self.phase == "done" and self.completed < self.config.rounds:
            self.phase = "adversarial"  # resumed with more rounds than the finished run had
        self.discriminator.load_state_dict(state["discriminator"])
        self.rollout.load_state_dict(state["rollout"])
        self.mle_optimizer.load_state_dict(state["mle_optimizer"])
        self.pg_optimizer.load_state_dict(state["pg_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.phase_seconds = json.loads(state["phase_seconds"])
        self.phase_cpu_seconds = json.loads(state["phase_cpu_seconds"])
        self.best_nll_validation = json.loads(state.get("best_nll_validation", "null"))  # runs before it chose on NLL-test
        self.d_steps_kept = json.loads(state.get("d_steps_kept", "[0, 0]"))  # absent in runs saved before d_gate
        self.baseline = json.loads(state.get("baseline", "0.0"))
        self.history = list(history)

    @classmethod
    def resume(cls, run_dir: str | Path, real: torch.Tensor, config: GanConfig | None = None, **kwargs: Any) -> "SeqGANTrainer":
        """Continue a run from ``last/``; ``config`` may change how long it runs (e.g. more rounds)."""
        checkpoint = load_checkpoint(run_dir, state_check=check_gan_state, prefer=LAST)
        if "gan" not in checkpoint.extra:
            raise ValueError(f"{run_dir} is not a GAN run (its checkpoint has no GAN settings)")
        config = config or GanConfig.from_dict(checkpoint.extra["gan"])
        trainer = cls(checkpoint.model, checkpoint.tokenizer, real, config, run_dir, **kwargs)
        trainer.load_state_dict(checkpoint.trainer_state, checkpoint.metrics)
        return trainer

    # ----- the phases --------------------------------------------------------------------------------
    def _units(self, phase: str) -> int:
        c = self.config
        d_pretrain = c.pretrain_d_steps if c.trains_discriminator else 0
        return {"mle": c.pretrain_epochs, "d_pretrain": d_pretrain, "adversarial": c.rounds}.get(phase, 0)

    def _fakes(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_sequences(self.generator, count, self.config.sequence_length, self.config.start_token,
                                generator=generator or self.rng, suppress=self.suppress)

    def _negatives(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        fake = self._fakes(count)
        pool = self.d_real
        real = pool[torch.randint(len(pool), (count,), generator=self.rng)] if count < len(pool) else pool
        return real, fake

    def _d_step(self, samples: int, epochs: int) -> dict[str, float]:
        real, fake = self._negatives(samples)
        if self.config.d_holdout:
            heldout_fake = self._fakes(len(self.d_heldout))  # negatives D is not trained on
            before = held_out_scores(self.discriminator, self.d_heldout, heldout_fake)
            saved = (copy.deepcopy(self.discriminator.state_dict()), copy.deepcopy(self.d_optimizer.state_dict())) if self.config.d_gate else None
        record = train_discriminator(self.discriminator, self.d_optimizer, real, fake, epochs,
                                     self.config.discriminator_batch_size, self.config.discriminator_l2, self.rng)
        if not self.config.d_holdout:
            return record
        after = held_out_scores(self.discriminator, self.d_heldout, heldout_fake)
        kept = saved is None or after["d_heldout_loss"] <= before["d_heldout_loss"]
        if not kept:  # the step made D worse on sequences it has not seen: undo it
            self.discriminator.load_state_dict(saved[0])
            self.d_optimizer.load_state_dict(saved[1])
        self.d_steps_kept = [self.d_steps_kept[0] + int(kept), self.d_steps_kept[1] + 1]
        return {**record, **(after if kept else before), "d_steps_kept": self.d_steps_kept[0], "d_steps_taken": self.d_steps_kept[1]}

    def _mle_unit(self) -> dict[str, Any]:
        loss = mle_epoch(self.generator, self.mle_optimizer, self.real, self.config.batch_size, self.config.start_token,
                         self.config.grad_clip, self.rng)
        return {"train_nll": loss}

    def _d_pretrain_unit(self) -> dict[str, Any]:
        return self._d_step(self.config.d_samples, self.config.pretrain_d_epochs)

    def _policy_step(self, loss: torch.Tensor) -> float:
        """One clipped Adam step of the generator on a policy-gradient loss; the gradient's norm before clipping."""
        self.pg_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.config.grad_clip if self.config.grad_clip > 0 else float("inf"))
        self.pg_optimizer.step()
        return float(norm)

    def _adversarial_unit(self) -> dict[str, Any]:
        return {"seqgan": self._seqgan_round, "dense": self._dense_round}[self.config.method]()

    def _seqgan_round(self) -> dict[str, Any]:
        c = self.config
        record: dict[str, Any] = {}
        for _ in range(c.g_steps):
            batch = self._fakes(c.adversarial_batch_size)
            if c.trains_discriminator:
                rewards = rollout_rewards(self.rollout, self.discriminator.real_probability, batch, c.rollouts, c.start_token, self.rng,
                                          self.suppress)
            else:
                rewards = torch.ones(batch.shape)  # [B, T]: the constant-reward ablation
            self.generator.train()
            log_probabilities = token_log_probabilities(self.generator, batch, c.start_token)  # [B, T]
            loss = policy_gradient_loss(log_probabilities, rewards, c.policy_gradient_reduction)
            norm = self._policy_step(loss)
            record.update(pg_loss=loss.item(), pg_grad_norm=norm, mean_reward=float(rewards.mean()),
                          final_reward=float(rewards[:, -1].mean()))
        if c.trains_discriminator:  # the constant-reward ablation never rolls out
            update_rollout_policy(self.rollout, self.generator, c.rollout_update_rate)
        for _ in range(c.d_steps if c.trains_discriminator else 0):
            record.update(self._d_step(c.adversarial_d_samples, c.d_epochs))
        return record

    def _dense_round(self) -> dict[str, Any]:
        """d_steps D updates on a fresh generated batch (one batch of real and fake), then one G update on that batch
        with the updated D's per-prefix rewards: ScratchGAN's order (D first, then G), on one batch for both."""
        c = self.config
        fake = self._fakes(c.adversarial_batch_size)  # [B, T]
        record: dict[str, Any] = {}
        for step in range(c.d_steps):
            negatives = fake if step == 0 else self._fakes(c.adversarial_batch_size)
            positives = self.d_real[torch.randint(len(self.d_real), (len(negatives),), generator=self.rng)]
            record.update(train_discriminator(self.discriminator, self.d_optimizer, positives, negatives, 1, 2 * len(negatives),
                                              c.discriminator_l2, self.rng))
        rewards = prefix_rewards(self.discriminator, fake)  # [B, T] in (-1, 1)
        returns = discounted_returns(rewards, c.discount)  # [B, T]
        self.baseline = moving_baseline(self.baseline, returns, c.baseline_decay)
        self.generator.train()
        log_probabilities = token_log_probabilities(self.generator, fake, c.start_token)  # [B, T]
        loss = dense_policy_loss(log_probabilities, returns - self.baseline)
        norm = self._policy_step(loss)
        record.update(pg_loss=loss.item(), pg_grad_norm=norm, mean_reward=float(rewards.mean()),
                      final_reward=float(rewards[:, -1].mean()), baseline=self.baseline)
        return record

    def run(self) -> GanResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        units = {"mle": self._mle_unit, "d_pretrain": self._d_pretrain_unit, "adversarial": self._adversarial_unit}
        total = sum(self._units(p) for p in PHASES[:-1])
        done_before = sum(self._units(p) for p in PHASES[: PHASES.index(self.phase)]) + self.completed
        stop = threading.Event()
        bar = progress_bar(total, min(done_before, total), self.progress, unit="unit")
        with graceful_interrupts(stop), bar:
            if self.phase == "mle" and self.completed == 0 and not self.history:
                self._evaluate_and_log({}, initial=True)
            while self.phase != "done" and not stop.is_set():
                if self.completed >= self._units(self.phase):
                    self._finish_phase()
                    continue
                bar.set_description(self.phase)
                started, cpu_started = time.perf_counter(), time.process_time()
                record = units[self.phase]()
                self.phase_seconds[self.phase] += time.perf_counter() - started
                self.phase_cpu_seconds[self.phase] += time.process_time() - cpu_started
                self.completed += 1
                bar.update(1)
                last_unit = self.completed >= self._units(self.phase)
                early_mle = self.phase == "mle" and self.completed <= self.config.mle_eval_epochs
                if early_mle or self.completed % self.config.eval_interval == 0 or last_unit:
                    self._evaluate_and_log(record)
                    self._save(LAST)
            if stop.is_set():
                self._save(LAST)
                self.log("interrupted: saved last/; resume with the same command and --resume")
        return GanResult(self.out_dir, self.phase, self.history, dict(self.phase_seconds), dict(self.phase_cpu_seconds))

    def _finish_phase(self) -> None:
        if self.phase == "mle":
            self._save(MLE, with_state=False)
        finished = self.completed
        self.phase = PHASES[PHASES.index(self.phase) + 1]
        self.completed = 0
        if self.phase == "adversarial":
            # The rollout policy starts as a copy of the pre-trained generator (then lags it by the update rate).
            self.rollout.load_state_dict(self.generator.state_dict())
        if self.phase == "done":
            self.completed = finished  # rounds done: a resume with more rounds carries on from here
            self._save(LAST)

    def _evaluate_and_log(self, record: dict[str, Any], initial: bool = False) -> None:
        record = {"phase": self.phase, "unit": self.completed, **record}
        if self.config.d_holdout and self.config.method == "dense" and self.phase == "adversarial":
            # SeqGAN's d-steps score D on the held-out sequences as they go; the dense D is scored here, when it is shown,
            # on negatives from a generator of its own: where a run is evaluated never changes what it trains on.
            negatives = self._fakes(len(self.d_heldout), torch.Generator().manual_seed(self.config.seed * 100_003 + self.completed))
            record.update(held_out_scores(self.discriminator, self.d_heldout, negatives))
        if self.evaluate is not None:
            started = time.perf_counter()
            record.update(self.evaluate(self.generator))
            record["eval_seconds"] = round(time.perf_counter() - started, 2)
        record["seconds"] = {k: round(v, 1) for k, v in self.phase_seconds.items()}
        record["cpu_seconds"] = {k: round(v, 1) for k, v in self.phase_cpu_seconds.items()}
        self.history.append(record)
        shown = " | ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k not in ("seconds", "cpu_seconds"))
        self.log(shown)
        if self.show_samples is not None:
            for text in self.show_samples(self.generator):
                self.log(f"  sample: {text!r}")
        validation = record.get("nll_validation")
        if self.phase == "mle" and validation is not None and (self.best_nll_validation is None or validation < self.best_nll_validation):
            self.best_nll_validation = validation
            self._save(MLE_BEST, with_state=False)

    def _save(self, name: str, with_state: bool = True) -> None:
        save_checkpoint(
            self.out_dir / name,
            self.generator,
            self.tokenizer,
            None,  # no TrainConfig: the GanConfig in extra["gan"] describes this run
            trainer_state=self.state_dict() if with_state else None,
            metrics=self.history,
            extra={"gan": self.config.to_dict(), "phase": self.phase, "completed": self.completed, "suppress": list(self.suppress)},
        )
