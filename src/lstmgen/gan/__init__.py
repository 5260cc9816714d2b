"""SeqGAN with an lstmgen LSTM as the generator: discriminator, rollouts, adversarial trainer.

    GanConfig, gan_preset, GAN_PRESETS    the settings and the named schedules (seqgan-paper, oracle-2h, quick)
    Discriminator                         SeqGAN's CNN sequence classifier
    rollout_rewards                       batched Monte-Carlo rollout rewards [B, T]
    SeqGANTrainer                         MLE pre-training, D pre-training, adversarial rounds; checkpoints, resume
    load_oracle                           the synthetic benchmark's oracle as a RecurrentLanguageModel

BLEU (``lstmgen.gan.bleu``) needs NLTK, the ``bleu`` extra, and is not imported here. The oracle benchmark and
the COCO captions study are experiments, in ``lstmgen.experiments``.
"""

from .config import GAN_PRESETS, GanConfig, gan_preset
from .discriminator import Discriminator, train_discriminator
from .oracle import load_oracle
from .rollout import policy_gradient_loss, rollout_rewards
from .trainer import SeqGANTrainer

__all__ = ["GAN_PRESETS", "GanConfig", "gan_preset", "Discriminator", "train_discriminator", "load_oracle",
           "policy_gradient_loss", "rollout_rewards", "SeqGANTrainer"]
