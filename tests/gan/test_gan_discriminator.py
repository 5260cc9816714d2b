"""The discriminator learns to tell real sequences from uniform noise; exact fast sampling; the presets."""

from __future__ import annotations

import pytest
import torch

from lstmgen.config import ConfigError
from lstmgen.gan.config import GAN_PRESETS, PAPER_FILTER_SIZES, PAPER_NUM_FILTERS, GanConfig, gan_preset
from lstmgen.gan.discriminator import Discriminator, held_out_scores, make_discriminator_optimizer, train_discriminator


def _real(count: int, generator: torch.Generator) -> torch.Tensor:
    # "Real" data: a random walk that moves by +1 or +2 through a 30-token vocabulary.
    steps = torch.randint(1, 3, (count, 12), generator=generator)
    start = torch.randint(0, 30, (count, 1), generator=generator)
    return (start + steps.cumsum(dim=1)) % 30


def test_discriminator_separates_real_from_uniform_noise():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    config = GanConfig(sequence_length=12, discriminator_embedding=16, filter_sizes=(1, 2, 3), num_filters=(16, 16, 16),
                       discriminator_learning_rate=1e-3)
    discriminator = Discriminator.from_config(30, config)
    optimizer = make_discriminator_optimizer(discriminator, config)
    noise = lambda n: torch.randint(0, 30, (n, 12), generator=generator)  # noqa: E731
    before = discriminator.real_probability(_real(500, generator)).mean() - discriminator.real_probability(noise(500)).mean()
    train_discriminator(discriminator, optimizer, _real(1000, generator), noise(1000), epochs=3, batch_size=64,
                        l2=config.discriminator_l2, generator=generator)
    real_scores = discriminator.real_probability(_real(500, generator))
    noise_scores = discriminator.real_probability(noise(500))
    accuracy = ((real_scores > 0.5).float().mean() + (noise_scores < 0.5).float().mean()) / 2
    assert abs(float(before)) < 0.2
    assert accuracy > 0.95


def test_held_out_scores_expose_a_discriminator_that_memorises():
    """Real and fake drawn from one distribution: D can only memorise its training set, and held-out data shows it."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    config = GanConfig(sequence_length=12, discriminator_embedding=16, filter_sizes=(1, 2, 3), num_filters=(32, 32, 32),
                       discriminator_learning_rate=3e-3, discriminator_dropout=0.0)
    discriminator = Discriminator.from_config(30, config)
    optimizer = make_discriminator_optimizer(discriminator, config)
    real, fake = _real(64, generator), _real(64, generator)
    trained = train_discriminator(discriminator, optimizer, real, fake, epochs=150, batch_size=64, l2=0.0, generator=generator)
    seen = held_out_scores(discriminator, real, fake)
    unseen = held_out_scores(discriminator, _real(500, generator), _real(500, generator))
    assert trained["d_accuracy"] > 0.8 and seen["d_heldout_accuracy"] > 0.95  # it knows its training set
    assert abs(unseen["d_heldout_accuracy"] - 0.5) < 0.1  # and nothing else
    assert unseen["d_heldout_loss"] > seen["d_heldout_loss"] + 0.5
    p_real = discriminator.real_probability(real)  # the loss is the plain cross-entropy of both halves
    p_fake = discriminator.real_probability(fake)
    expected = -torch.cat([p_real.log(), (1 - p_fake).log()]).mean()
    assert abs(seen["d_heldout_loss"] - float(expected)) < 1e-5
    assert seen["d_heldout_real_accuracy"] == float((p_real > 0.5).float().mean())


def test_paper_discriminator_shape():
    config = gan_preset("seqgan-paper")
    assert config.filter_sizes == PAPER_FILTER_SIZES and config.num_filters == PAPER_NUM_FILTERS
    discriminator = Discriminator.from_config(5000, config)
    assert discriminator.embedding.embedding_dim == 64 and discriminator.output.in_features == 1720
    assert [c.kernel_size[0] for c in discriminator.convolutions] == list(PAPER_FILTER_SIZES)
    assert discriminator(torch.zeros(3, 20, dtype=torch.long)).shape == (3, 2)


@pytest.mark.parametrize("name", sorted(GAN_PRESETS))
def test_every_gan_preset_is_valid(name):
    assert GanConfig.from_dict(gan_preset(name).to_dict()) == gan_preset(name)


def test_gan_config_says_what_is_wrong():
    with pytest.raises(ConfigError, match="widest filter"):
        GanConfig(sequence_length=10)
    with pytest.raises(ConfigError, match="same length"):
        GanConfig(filter_sizes=(1, 2), num_filters=(3,))
