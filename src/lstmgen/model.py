"""The recurrent language model: embedding -> N recurrent layers -> dropout -> linear over the vocabulary.

Every caller (training, evaluation, sampling, the server, SeqGAN rollouts) uses only two methods:

    logits, state = model(tokens, state)     tokens [B, T] int64 -> logits [B, T, V]
    state = model.init_state(batch_size)

The loss lives outside the model, since SeqGAN needs per-token log-probabilities rather than a mean.
``state`` is always a tuple of tensors of shape [num_layers, B, H]: (h, c) for an LSTM, (h,) otherwise.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .config import ModelConfig

State = tuple[torch.Tensor, ...]

class Cell(NamedTuple):
    module: type[nn.RNNBase]  # the torch layer
    states: int  # state tensors it carries (an LSTM: h and c)
    gates: int  # blocks of H rows in its weights (an LSTM: input, forget, cell, output)


# Cell type (config.CELL_TYPES) -> what it is; the one table every caller reads.
CELLS: dict[str, Cell] = {
    "lstm": Cell(nn.LSTM, states=2, gates=4),
    "gru": Cell(nn.GRU, states=1, gates=3),
    "rnn": Cell(nn.RNN, states=1, gates=1),
}


class RecurrentLanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        cell, self._state_count, _ = CELLS[config.cell]
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.rnn = cell(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.output.weight = self.embedding.weight
        self._initialise()

    def _initialise(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1 if self.config.tie_weights else 1.0)
        if self.config.cell == "lstm":
            # A forget-gate bias of 1 lets the cell keep its memory from the first step (Jozefowicz et al. 2015).
            # PyTorch orders the gates (input, forget, cell, output) in blocks of H along dim 0.
            hidden = self.config.hidden_size
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden].fill_(1.0)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zero state for ``batch_size`` streams: a tuple of [num_layers, B, H] tensors."""
        device = device if device is not None else self.output.weight.device
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        return tuple(torch.zeros(shape, device=device) for _ in range(self._state_count))

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """tokens [B, T] -> logits [B, T, V] and the state after the last token."""
        if state is None:
            state = self.init_state(tokens.shape[0], tokens.device)
        embedded = self.embedding(tokens)  # [B, T, E]
        rnn_state = state if self._state_count == 2 else state[0]
        if self.training and self.config.weight_dropout > 0:
            # Weight drop (Merity et al. 2018): each layer's W_hh [gates*H, H] with one DropConnect mask for the
            # whole window, every step and stream; the gradient reaches the raw weights, which eval reads.
            dropped = {f"weight_hh_l{layer}": F.dropout(getattr(self.rnn, f"weight_hh_l{layer}"), self.config.weight_dropout)
                       for layer in range(self.config.num_layers)}
            outputs, rnn_state = functional_call(self.rnn, dropped, (embedded, rnn_state))  # outputs [B, T, H]
        else:
            outputs, rnn_state = self.rnn(embedded, rnn_state)  # outputs [B, T, H]
        new_state = tuple(rnn_state) if self._state_count == 2 else (rnn_state,)
        logits = self.output(self.dropout(outputs))  # [B, T, V]
        return logits, new_state

    def parameter_table(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, shape, count) for each parameter, tied weights counted once."""
        return [(name, tuple(p.shape), p.numel()) for name, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the graph between truncated-BPTT windows while keeping the values."""
    return tuple(s.detach() for s in state)



@contextlib.contextmanager
def evaluation_mode(model: nn.Module, inference: bool = True) -> Iterator[None]:
    """Eval mode (no dropout) and no autograd inside; the module's previous mode is restored however it ends.

    ``inference`` uses torch's inference mode (fastest); False uses ``no_grad``, whose outputs may later
    enter a computation with gradients (SeqGAN's rewards multiply the generator's log-probabilities).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode() if inference else torch.no_grad():
            yield
    finally:
        model.train(was_training)
