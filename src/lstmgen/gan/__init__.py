"""GAN training with an lstmgen LSTM as the generator: SeqGAN's rollouts or dense per-prefix rewards.

    GanConfig, gan_preset, GAN_PRESETS    the settings and the named schedules (seqgan-paper, oracle-2h, dense-oracle, ...)
    Discriminator, RecurrentDiscriminator SeqGAN's CNN; the dense method's recurrent per-prefix critic
    rollout_rewards                       batched Monte-Carlo rollout rewards [B, T]
    SeqGANTrainer                         MLE pre-training, D pre-training, adversarial rounds (either method); resume
    fine_tune, report_run                 ``lstmgen gan train`` and ``lstmgen gan report``: a user's corpus and model
    lstmgen.gan.curve                     every run placed on its MLE model's temperature curve
    load_oracle                           the synthetic benchmark's oracle as a RecurrentLanguageModel
    state, run_layout                     the trainer state's check and the names of a ``gan train`` run directory

BLEU (``lstmgen.evaluation.bleu``) needs NLTK, the ``bleu`` extra, and is imported only by the report. The oracle
benchmark and the COCO captions study are experiments, in ``lstmgen.experiments``.
"""

from .config import GAN_PRESETS, GanConfig, gan_preset
from .discriminator import Discriminator, train_discriminator
from .fine_tune import fine_tune
from .oracle import load_oracle
from .recurrent_discriminator import RecurrentDiscriminator
from .report import report_run
from .rollout import policy_gradient_loss, rollout_rewards
from .trainer import SeqGANTrainer

__all__ = ["GAN_PRESETS", "GanConfig", "gan_preset", "Discriminator", "RecurrentDiscriminator", "train_discriminator",
           "fine_tune", "report_run", "load_oracle", "policy_gradient_loss", "rollout_rewards", "SeqGANTrainer"]
