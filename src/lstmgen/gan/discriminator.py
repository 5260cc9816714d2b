"""SeqGAN's discriminator, a CNN sequence classifier (Zhang & LeCun 2015; Kim 2014), and the training of
either method's discriminator (``make_discriminator`` picks the CNN or ``RecurrentDiscriminator``).

    tokens [B, T] -> embedding [B, E, T] -> for each width w: conv1d(n_w maps) -> ReLU -> max over time
                  -> concat [B, sum n_w] -> one highway layer -> dropout -> linear -> 2 logits (fake, real)

The loss is cross-entropy plus ``l2 * (|W|^2 + |b|^2) / 2`` on the output layer (tf.nn.l2_loss), as in
the authors' code. ``real_probability`` is the reward SeqGAN gives a finished sequence.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..model import evaluation_mode
from .config import GanConfig
from .recurrent_discriminator import RecurrentDiscriminator


class Discriminator(nn.Module):
    def __init__(self, vocab_size: int, embedding_size: int = 64, filter_sizes=(1, 2, 3), num_filters=(100, 100, 100),
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.convolutions = nn.ModuleList(nn.Conv1d(embedding_size, n, w) for w, n in zip(filter_sizes, num_filters))
        features = sum(num_filters)
        self.highway_transform = nn.Linear(features, features)  # H(x)
        self.highway_gate = nn.Linear(features, features)  # T(x)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(features, 2)
        for convolution in self.convolutions:  # the authors' truncated_normal(stddev=0.1), bias 0.1
            nn.init.trunc_normal_(convolution.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(convolution.bias, 0.1)

    @classmethod
    def from_config(cls, vocab_size: int, config: GanConfig) -> "Discriminator":
        return cls(vocab_size, config.discriminator_embedding, config.filter_sizes, config.num_filters,
                   config.discriminator_dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] -> logits [B, 2] (index 1 = real)."""
        embedded = self.embedding(tokens).transpose(1, 2)  # [B, E, T]
        pooled = [F.relu(conv(embedded)).amax(dim=2) for conv in self.convolutions]  # each [B, n_w]
        features = torch.cat(pooled, dim=1)  # [B, F]
        gate = torch.sigmoid(self.highway_gate(features))
        features = gate * F.relu(self.highway_transform(features)) + (1 - gate) * features
        return self.output(self.dropout(features))

    def real_probability(self, tokens: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """P(real) for each sequence [B, T] -> [B], in eval mode (no dropout), in chunks to bound memory."""
        with evaluation_mode(self, inference=False):  # the rewards later multiply log-probabilities with gradients
            return torch.cat([self(chunk).softmax(dim=-1)[:, 1] for chunk in tokens.split(batch_size)])

    def output_penalty(self) -> torch.Tensor:
        return (self.output.weight.square().sum() + self.output.bias.square().sum()) / 2

    def training_loss(self, tokens: torch.Tensor, labels: torch.Tensor, l2: float) -> tuple[torch.Tensor, int, int]:
        """Cross-entropy of tokens [B, T] against labels [B] + L2 on the output layer; (loss, correct, scored)."""
        logits = self(tokens)  # [B, 2]
        loss = F.cross_entropy(logits, labels) + l2 * self.output_penalty()
        return loss, int((logits.argmax(-1) == labels).sum()), len(labels)


AnyDiscriminator = Discriminator | RecurrentDiscriminator
DISCRIMINATORS = {"seqgan": Discriminator, "dense": RecurrentDiscriminator}  # GanConfig.method -> its discriminator


def make_discriminator(vocab_size: int, config: GanConfig) -> AnyDiscriminator:
    return DISCRIMINATORS[config.method].from_config(vocab_size, config)


def make_discriminator_optimizer(discriminator: nn.Module, config: GanConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(discriminator.parameters(), lr=config.discriminator_learning_rate,
                            betas=(config.discriminator_beta1, 0.999))


def train_discriminator(
    discriminator: AnyDiscriminator,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    epochs: int,
    batch_size: int,
    l2: float,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """``epochs`` shuffled passes over real [N, T] (label 1) and fake [M, T] (label 0); mean loss and accuracy
    (over sequences for the CNN, over prefixes for the recurrent discriminator)."""
    data = torch.cat([real, fake])
    labels = torch.cat([torch.ones(len(real), dtype=torch.long), torch.zeros(len(fake), dtype=torch.long)])
    discriminator.train()
    losses, correct, seen = [], 0, 0
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            index = order[start : start + batch_size]
            loss, right, scored = discriminator.training_loss(data[index], labels[index], l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += right
            seen += scored
    return {"d_loss": float(sum(losses) / max(len(losses), 1)) if losses else math.nan,
            "d_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def held_out_scores(discriminator: AnyDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """D on sequences it was never trained on: cross-entropy (no penalty) and accuracy on real [N, T] and fake [M, T].

    The training accuracy cannot tell a discriminator that learned what real sequences look like from one
    that memorised its positives; this can: a memorising D calls held-out real sequences fake.
    """
    p_real_of_real, p_real_of_fake = discriminator.real_probability(real), discriminator.real_probability(fake)
    labels = torch.cat([torch.ones_like(p_real_of_real), torch.zeros_like(p_real_of_fake)])
    loss = F.binary_cross_entropy(torch.cat([p_real_of_real, p_real_of_fake]), labels)
    real_accuracy, fake_accuracy = float((p_real_of_real > 0.5).float().mean()), float((p_real_of_fake < 0.5).float().mean())
    return {"d_heldout_loss": float(loss), "d_heldout_real_accuracy": real_accuracy,
            "d_heldout_accuracy": (real_accuracy + fake_accuracy) / 2}
