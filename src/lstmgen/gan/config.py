"""GAN settings: one validated dataclass, and the named schedules (presets) stored as data.

Two adversarial methods share the trainer (``method``):

* ``seqgan`` (Yu et al. 2017): a CNN discriminator scores whole sequences; every prefix's reward is the mean
  score of Monte-Carlo rollouts that complete it. ``seqgan-paper`` is the schedule of the authors' code
  (LantaoYu/SeqGAN), about 45 hours on 2 CPU cores, almost all of it discriminator training; ``oracle-2h``
  keeps the paper's generator, discriminator, MLE schedule, batch, rounds and learning rates but retrains the
  discriminator far less and halves the rollouts (docs/gan.md says why and what it costs).
* ``dense`` (the recipe of de Masson d'Autume et al. 2019, "Training language GANs from scratch",
  deepmind-research ``scratchgan/``): a recurrent discriminator scores every prefix at once, so each token
  gets a reward without rollouts: 2 D - 1, discounted, minus a moving-average baseline; large batches, a
  regularised discriminator (dropout, L2, layer norm) and one D update per G update. ``dense-oracle`` is its
  schedule on the oracle benchmark, ``dense-text`` the default of ``lstmgen gan train`` on a user's corpus.

``quick`` is for tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import ConfigError

METHODS = ("seqgan", "dense")
REWARDS = ("discriminator", "constant")
POLICY_GRADIENT_REDUCTIONS = ("sum", "mean")  # of the policy-gradient loss over a batch's tokens (rollout.policy_gradient_loss)
PAPER_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class GanConfig:
    """Everything about one GAN run except the data and the generator's shape."""

    method: str = "seqgan"  # METHODS: Monte-Carlo rollouts and a CNN critic, or dense per-prefix rewards (module docstring)
    sequence_length: int = 20
    start_token: int = 0  # fed as the first input; the oracle's start token is also an ordinary word
    batch_size: int = 64  # generator batch (MLE and policy gradient)
    # The authors draw every generator weight and bias from N(0, 0.1); lstmgen's own initialisation (embedding
    # N(0, 1), forget-gate bias 1) ends MLE on the oracle ~0.25 nats worse. 0 keeps lstmgen's initialisation.
    generator_init_std: float = 0.1
    # MLE pre-training of the generator (Adam, constant rate, gradient norm clipped)
    pretrain_epochs: int = 120
    generator_learning_rate: float = 0.01
    grad_clip: float = 5.0
    # the discriminator: SeqGAN's CNN
    discriminator_embedding: int = 64
    filter_sizes: tuple[int, ...] = PAPER_FILTER_SIZES
    num_filters: tuple[int, ...] = PAPER_NUM_FILTERS
    discriminator_dropout: float = 0.25
    discriminator_l2: float = 0.2  # on the output layer, as tf.nn.l2_loss (sum of squares / 2)
    discriminator_learning_rate: float = 1e-4
    discriminator_beta1: float = 0.9  # Adam's first-moment decay (ScratchGAN: 0.5 for both networks)
    discriminator_batch_size: int = 64
    # the dense method's recurrent discriminator: embedding (discriminator_embedding) + position signal -> linear
    # -> one LSTM layer with layer norm -> one logit per prefix. Its L2 (discriminator_l2) covers every weight.
    discriminator_hidden: int = 128
    discriminator_layer_norm: bool = True
    # discriminator pre-training: d-steps of fresh negatives, epochs over each
    pretrain_d_steps: int = 50
    pretrain_d_epochs: int = 3
    d_samples: int = 10_000  # negatives per d-step (as many positives are drawn from the real data)
    # adversarial rounds
    rounds: int = 200
    g_steps: int = 1
    rollouts: int = 16
    rollout_update_rate: float = 0.8  # the rollout policy is a delayed copy: theta_r <- r theta_r + (1 - r) theta
    adversarial_batch_size: int = 64  # generated sequences per g-step (SeqGAN: 64; ScratchGAN: 512)
    adversarial_beta1: float = 0.9  # Adam's first-moment decay for the adversarial generator updates
    # dense rewards: the return of token t is sum_{s >= t} discount^(s-t) (2 D(y_<=s) - 1); the baseline is a
    # moving average of the batch's mean return, b <- baseline_decay * b + (1 - baseline_decay) * mean (ScratchGAN's
    # 0.23 and 0.08: a short horizon, and a baseline that is mostly the current batch's mean)
    discount: float = 0.23
    baseline_decay: float = 0.08
    # "discriminator": SeqGAN. "constant": every token's reward is 1 and no discriminator is trained -- the
    # ablation that shows how much of the adversarial phase is plain REINFORCE on the generator's own samples.
    reward: str = "discriminator"
    adversarial_learning_rate: float = 0.01
    # "sum" (the authors' code) over the batch's B x T tokens, then the gradient norm is clipped at grad_clip: every
    # adversarial step has the same size. "mean" divides by B x T, so steps shrink with the rewards as D wins.
    # On the oracle benchmark SeqGAN ends at the same point either way (docs/gan.md).
    policy_gradient_reduction: str = "sum"
    d_steps: int = 15
    d_epochs: int = 3
    adversarial_d_samples: int = 10_000
    # Real sequences held out from D's positives (the last d_holdout of the training set; MLE still uses them
    # all): after every d-step D is scored on them and on as many fresh negatives, which shows whether it
    # generalises or memorises its positives. 0 = none. With d_gate a d-step is kept only if it does not raise
    # that held-out loss (D and its optimizer are rolled back otherwise): early stopping of D, step by step.
    d_holdout: int = 0
    d_gate: bool = False
    # bookkeeping
    eval_interval: int = 10  # rounds (and MLE epochs after the first mle_eval_epochs) between evaluations, checkpoints
    mle_eval_epochs: int = 20  # evaluate (and checkpoint) after every one of the first MLE epochs: NLL-test peaks early
    seed: int = 88  # the authors' SEED

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_sizes", tuple(int(w) for w in self.filter_sizes))
        object.__setattr__(self, "num_filters", tuple(int(n) for n in self.num_filters))
        _require(self.method in METHODS, f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        positive = ["sequence_length", "batch_size", "discriminator_embedding", "discriminator_batch_size", "rollouts",
                    "d_samples", "adversarial_d_samples", "eval_interval", "adversarial_batch_size", "discriminator_hidden"]
        for name in positive:
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        at_least_zero = ["mle_eval_epochs", "pretrain_epochs", "pretrain_d_steps", "pretrain_d_epochs", "rounds", "g_steps", "d_steps", "d_epochs"]
        for name in at_least_zero:
            _require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("generator_learning_rate", "adversarial_learning_rate", "discriminator_learning_rate"):
            _require(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        _require(self.generator_init_std >= 0, f"generator_init_std must be >= 0 (0 = lstmgen's own init), got {self.generator_init_std}")
        _require(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 = no clipping), got {self.grad_clip}")
        _require(len(self.filter_sizes) == len(self.num_filters) and len(self.filter_sizes) > 0,
                 "filter_sizes and num_filters must be non-empty and of the same length "
                 f"(got {len(self.filter_sizes)} and {len(self.num_filters)})")
        _require(all(w >= 1 for w in self.filter_sizes) and all(n >= 1 for n in self.num_filters),
                 "filter sizes and filter counts must all be at least 1")
        _require(self.method != "seqgan" or max(self.filter_sizes) <= self.sequence_length,
                 f"the widest filter ({max(self.filter_sizes)}) is longer than the sequences ({self.sequence_length}); "
                 "give narrower filter_sizes, or use method=dense")
        for name in ("discriminator_beta1", "adversarial_beta1", "discount", "baseline_decay"):
            _require(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1), got {getattr(self, name)}")
        _require(0.0 <= self.discriminator_dropout < 1.0, f"discriminator_dropout must be in [0, 1), got {self.discriminator_dropout}")
        _require(self.discriminator_l2 >= 0, f"discriminator_l2 must be >= 0, got {self.discriminator_l2}")
        _require(self.d_holdout >= 0, f"d_holdout must be >= 0, got {self.d_holdout}")
        _require(not self.d_gate or self.d_holdout > 0, "d_gate needs held-out real sequences: set d_holdout (e.g. 1000)")
        _require(self.reward in REWARDS, f"reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        _require(self.reward == "discriminator" or self.method == "seqgan",
                 "reward=constant is an ablation of SeqGAN's rollouts; the dense method's rewards come from its discriminator")
        _require(self.policy_gradient_reduction in POLICY_GRADIENT_REDUCTIONS,
                 f"policy_gradient_reduction must be one of {', '.join(POLICY_GRADIENT_REDUCTIONS)}, got {self.policy_gradient_reduction!r}")
        _require(0.0 <= self.rollout_update_rate < 1.0, f"rollout_update_rate must be in [0, 1), got {self.rollout_update_rate}")

    @property
    def trains_discriminator(self) -> bool:
        """False for the constant-reward ablation: no D pre-training, no d-steps, no rollouts."""
        return self.reward == "discriminator"

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["filter_sizes"], values["num_filters"] = list(self.filter_sizes), list(self.num_filters)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "GanConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"GanConfig has no field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**values)


GAN_PRESETS: dict[str, dict[str, Any]] = {
    "seqgan-paper": {
        "description": "the authors' schedule (LantaoYu/SeqGAN): 120 MLE epochs, 50x3 D pre-training epochs on 10k+10k, "
                       "200 rounds of 1 g-step (16 rollouts) and 15x3 D epochs; about 45 hours on 2 CPU cores",
        "gan": {},
    },
    "oracle-2h": {
        "description": "the paper's models, MLE schedule, batch, rounds and learning rates, with the discriminator "
                       "retrained on 1,024 fresh negatives once per round instead of 15x3 epochs on 10,000, and 8 rollouts",
        "gan": {"pretrain_d_steps": 10, "pretrain_d_epochs": 1, "d_samples": 5_000, "rollouts": 8,
                "d_steps": 1, "d_epochs": 1, "adversarial_d_samples": 1_024, "eval_interval": 10},
    },
    "dense-oracle": {
        "description": "dense rewards (ScratchGAN's recipe) from the oracle benchmark's MLE generator: recurrent D of 128 "
                       "with layer norm, dropout 0.1, L2 1e-6; batches of 512; rewards 2D-1 discounted by 0.23, baseline "
                       "decay 0.08; one D update per G update; Adam beta1 0.5",
        "gan": {"method": "dense", "pretrain_d_steps": 10, "pretrain_d_epochs": 1, "d_samples": 5_000,
                "discriminator_dropout": 0.1, "discriminator_l2": 1e-6, "discriminator_learning_rate": 1e-3,
                "discriminator_beta1": 0.5, "discriminator_batch_size": 256, "adversarial_batch_size": 512,
                "adversarial_learning_rate": 1e-4, "adversarial_beta1": 0.5, "d_steps": 1, "rounds": 600, "eval_interval": 50},
    },
    "dense-text": {
        "description": "lstmgen gan train's default: dense rewards from the user's trained model, sequences of 64 "
                       "tokens from line starts, batches of 256, 300 G updates",
        "gan": {"method": "dense", "sequence_length": 64, "generator_init_std": 0.0, "pretrain_epochs": 0,
                "pretrain_d_steps": 5, "pretrain_d_epochs": 1, "d_samples": 1_024,
                "discriminator_dropout": 0.1, "discriminator_l2": 1e-6, "discriminator_learning_rate": 1e-3,
                "discriminator_beta1": 0.5, "discriminator_batch_size": 128, "adversarial_batch_size": 256,
                "adversarial_learning_rate": 1e-4, "adversarial_beta1": 0.5, "d_steps": 1, "rounds": 300, "eval_interval": 50,
                "d_holdout": 256, "mle_eval_epochs": 0},
    },
    "quick": {
        "description": "a few minutes on a laptop: for tests and smoke runs, not for results",
        "gan": {"pretrain_epochs": 10, "batch_size": 64, "filter_sizes": (1, 2, 3, 5), "num_filters": (16, 16, 16, 16),
                "discriminator_embedding": 16, "pretrain_d_steps": 2, "pretrain_d_epochs": 1, "d_samples": 512,
                "rounds": 5, "rollouts": 4, "d_steps": 1, "d_epochs": 1, "adversarial_d_samples": 256, "eval_interval": 5,
                "mle_eval_epochs": 0},
    },
    "quick-dense": {
        "description": "the dense method in a few seconds: for tests and smoke runs, not for results",
        "gan": {"method": "dense", "pretrain_epochs": 10, "discriminator_embedding": 16, "discriminator_hidden": 16,
                "pretrain_d_steps": 2, "pretrain_d_epochs": 1, "d_samples": 256, "d_steps": 1, "rounds": 5,
                "adversarial_batch_size": 128, "adversarial_learning_rate": 1e-3, "adversarial_beta1": 0.5,
                "discriminator_learning_rate": 1e-3, "discriminator_beta1": 0.5, "discriminator_dropout": 0.1,
                "discriminator_l2": 1e-6, "eval_interval": 5, "mle_eval_epochs": 0},
    },
}


def gan_preset(name: str, **overrides: Any) -> GanConfig:
    """The GanConfig of a named schedule, with field overrides."""
    if name not in GAN_PRESETS:
        raise ConfigError(f"unknown GAN preset {name!r}; known: {', '.join(GAN_PRESETS)}")
    return GanConfig.from_dict({**GAN_PRESETS[name]["gan"], **overrides})
