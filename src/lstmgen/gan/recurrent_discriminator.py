"""The dense method's discriminator: a recurrent network that scores every prefix of a sequence at once.

    tokens [B, T] -> embedding [B, T, E] -> dropout -> + position signal [B, T, P] -> linear [B, T, H]
                  -> one LSTM layer with layer norm [B, T, H] -> linear -> logits [B, T]

Logit t says whether the prefix y_1..y_t looks real, so one pass gives a reward for every token and no
rollouts are needed (de Masson d'Autume et al. 2019, deepmind-research ``scratchgan/discriminator_nets.py``:
embedding 64 with dropout, a position signal of 8, a linear layer to the LSTM's width, a layer-normalised
LSTM, one logit per step). It is trained on every prefix with binary cross-entropy, with an L2 penalty
(``tf.nn.l2_loss``: sum of squares / 2) over all its weights.

The layer norm is Ba et al.'s, as Sonnet's ``LSTM(use_layer_norm=True)`` applies it: over the four gates'
pre-activations together, and over the cell before its tanh. ``torch.nn.LSTM`` has no layer norm, so the
recurrence is written out; its input projections are computed for all positions in one matrix product.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..model import evaluation_mode

POSITION_FEATURES = 8  # ScratchGAN's position_dim


def position_signal(length: int, features: int = POSITION_FEATURES) -> torch.Tensor:
    """A fixed sinusoidal signal of each position, [length, features] (sines then cosines of geometric rates)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # [T, 1]
    rates = torch.exp(-math.log(1e4) * torch.arange(features // 2, dtype=torch.float32) / max(features // 2, 1))  # [P/2]
    return torch.cat([torch.sin(position * rates), torch.cos(position * rates)], dim=1)  # [T, P]


class RecurrentDiscriminator(nn.Module):
    def __init__(self, vocab_size: int, embedding_size: int = 64, hidden_size: int = 128, dropout: float = 0.1,
                 layer_norm: bool = True) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.input_projection = nn.Linear(embedding_size + POSITION_FEATURES, hidden_size)
        self.gates_input = nn.Linear(hidden_size, 4 * hidden_size, bias=False)  # x W for all positions at once
        self.gates_hidden = nn.Linear(hidden_size, 4 * hidden_size)  # h U + b, one step at a time
        self.gate_norm = nn.LayerNorm(4 * hidden_size) if layer_norm else nn.Identity()
        self.cell_norm = nn.LayerNorm(hidden_size) if layer_norm else nn.Identity()
        self.output = nn.Linear(hidden_size, 1)
        with torch.no_grad():
            self.gates_hidden.bias[hidden_size : 2 * hidden_size].fill_(1.0)  # forget gate open at first

    @classmethod
    def from_config(cls, vocab_size: int, config: Any) -> "RecurrentDiscriminator":
        return cls(vocab_size, config.discriminator_embedding, config.discriminator_hidden, config.discriminator_dropout,
                   config.discriminator_layer_norm)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] -> logits [B, T]: logit t scores the prefix y_1..y_t (high = real)."""
        batch, length = tokens.shape
        embedded = self.dropout(self.embedding(tokens))  # [B, T, E]
        position = position_signal(length).to(embedded.device).expand(batch, -1, -1)  # [B, T, P]
        inputs = self.gates_input(self.input_projection(torch.cat([embedded, position], dim=2)))  # [B, T, 4H]
        h = inputs.new_zeros(batch, self.hidden_size)
        c = inputs.new_zeros(batch, self.hidden_size)
        outputs = []
        for t in range(length):
            gates = self.gate_norm(inputs[:, t] + self.gates_hidden(h))  # [B, 4H], gate order i, f, g, o
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(self.cell_norm(c))
            outputs.append(h)
        return self.output(torch.stack(outputs, dim=1)).squeeze(2)  # [B, T, H] -> [B, T]

    def prefix_probabilities(self, tokens: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """P(real) of every prefix, [B, T], in eval mode (no dropout), without gradients."""
        with evaluation_mode(self, inference=False):  # the rewards later multiply log-probabilities with gradients
            return torch.cat([torch.sigmoid(self(chunk)) for chunk in tokens.split(batch_size)])

    def real_probability(self, tokens: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """P(real) of each whole sequence [B, T] -> [B]: the score of its longest prefix."""
        return self.prefix_probabilities(tokens, batch_size)[:, -1]

    def weight_penalty(self) -> torch.Tensor:
        return sum(parameter.square().sum() for parameter in self.parameters()) / 2

    def training_loss(self, tokens: torch.Tensor, labels: torch.Tensor, l2: float) -> tuple[torch.Tensor, int, int]:
        """Binary cross-entropy over every prefix of tokens [B, T] (each row's label [B]) + L2; (loss, correct, scored)."""
        logits = self(tokens)  # [B, T]
        targets = labels.float()[:, None].expand_as(logits)
        loss = F.binary_cross_entropy_with_logits(logits, targets) + l2 * self.weight_penalty()
        correct = int(((logits > 0) == (targets > 0.5)).sum())
        return loss, correct, logits.numel()
