"""SeqGAN with an lstmgen LSTM as the generator: discriminator, rollouts, adversarial trainer, benchmarks.

    GanConfig, gan_preset, GAN_PRESETS    the settings and the named schedules (seqgan-paper, oracle-2h, quick)
    Discriminator                         SeqGAN's CNN sequence classifier
    rollout_rewards                       batched Monte-Carlo rollout rewards [B, T]
    SeqGANTrainer                         MLE pre-training, D pre-training, adversarial rounds; checkpoints, resume
    load_oracle                           the synthetic benchmark's oracle as a RecurrentLanguageModel
    run_oracle_benchmark                  the oracle benchmark (lstmgen.gan.oracle_benchmark)

BLEU and the COCO captions experiment live in ``lstmgen.gan.bleu`` and ``lstmgen.gan.coco`` (they need NLTK,
the ``bleu`` extra) and are not imported here.
"""

from .config import GAN_PRESETS, GanConfig, gan_preset
from .discriminator import Discriminator, train_discriminator
from .oracle import load_oracle
from .rollout import policy_gradient_loss, rollout_rewards
from .trainer import SeqGANTrainer

__all__ = ["GAN_PRESETS", "GanConfig", "gan_preset", "Discriminator", "train_discriminator", "load_oracle",
           "policy_gradient_loss", "rollout_rewards", "SeqGANTrainer"]
