"""The recurrent language model: embedding -> N recurrent layers -> dropout -> linear over the vocabulary (or an
adaptive softmax, ``lstmgen.model.adaptive``, for a large one).

Every caller (training, evaluation, sampling, the server, SeqGAN rollouts) uses only two methods:

    logits, state = model(tokens, state)     tokens [B, T] int64 -> logits [B, T, V]
    state = model.init_state(batch_size)

Training asks for each target's NLL instead, ``losses, state = model(tokens, state, targets)`` [B, T]: an
adaptive softmax computes it without the whole distribution. Reducing it to a loss is the caller's (SeqGAN
needs the per-token log-probabilities, a trainer their mean).
``state`` is a tuple of tensors of shape [num_layers, B, H]: (h, c) for an LSTM (and the Mogrifier LSTM,
``MogrifierLSTM`` below), (h,) otherwise; a model that reads its label beside every token (``label_inputs``)
carries one more, the label read last, [1, B, 1] (``state_shapes`` gives them all). Code that moves streams works
along dim 1 and never needs to know which.

**Labels beside every token.** A labelled tokenizer puts each document's label id (the last ``label_inputs``
ids of the vocabulary) before the document. Read once, a label's hold on the state fades over a few hundred
characters, and samples drift into the style of the larger labels. With ``label_inputs`` the model adds the
embedding of the label read last to every token's embedding, so each step is conditioned on it (CTRL's
control code, given at every position as in a conditional LSTM).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..config import ModelConfig
from .adaptive import adaptive_output, log_probabilities, token_losses
from .mogrifier import MogrifierLSTM, mogrifier_multiply_adds, mogrifier_parameter_count  # noqa: F401 (re-exported)

State = tuple[torch.Tensor, ...]


def _no_options(config: ModelConfig) -> dict:
    return {}


class Cell(NamedTuple):
    module: type[nn.Module]  # the torch layer: nn.LSTM's constructor and call (batch_first, num_layers, dropout)
    states: int  # state tensors it carries (an LSTM: h and c)
    gates: int  # blocks of H rows in its weights (an LSTM: input, forget, cell, output)
    options: Callable[[ModelConfig], dict] = _no_options  # the cell's own constructor arguments, from the config


# Cell type (config.CELL_TYPES) -> what it is; the one table every caller reads.
CELLS: dict[str, Cell] = {
    "lstm": Cell(nn.LSTM, states=2, gates=4),
    "gru": Cell(nn.GRU, states=1, gates=3),
    "rnn": Cell(nn.RNN, states=1, gates=1),
    # An LSTM whose input and state gate each other first (MogrifierLSTM above); its LSTM weights are named as nn.LSTM's.
    "mogrifier": Cell(MogrifierLSTM, states=2, gates=4,
                      options=lambda config: {"rounds": config.mogrifier_rounds, "rank": config.mogrifier_rank}),
}


def state_shapes(config: ModelConfig, batch_size: int) -> list[tuple[int, ...]]:
    """The shape of each state tensor for ``batch_size`` streams: [L, B, H] per recurrent state, [1, B, 1] for the label."""
    shape = (config.num_layers, batch_size, config.hidden_size)
    return [shape] * CELLS[config.cell].states + ([(1, batch_size, 1)] if config.label_inputs else [])


class RecurrentLanguageModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        cell = CELLS[config.cell]
        self._state_count = cell.states
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.rnn = cell.module(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            **cell.options(config),
        )
        self.dropout = nn.Dropout(config.dropout)
        # [H] -> logits over V; with an adaptive softmax (lstmgen.model.adaptive), exact log-probabilities over V.
        self.adaptive = bool(config.adaptive_softmax)
        self.output = (adaptive_output(config.hidden_size, config.vocab_size, config.adaptive_softmax) if self.adaptive
                       else nn.Linear(config.hidden_size, config.vocab_size))
        self.label_inputs = config.label_inputs
        self.first_label = config.vocab_size - config.label_inputs  # the label ids are the vocabulary's last ones
        if self.label_inputs:
            # Row 0: no label read yet (a stream's start); row i + 1: label i.
            self.label_embedding = nn.Embedding(self.label_inputs + 1, config.embedding_size)
        if config.tie_weights:
            self.output.weight = self.embedding.weight
        self._initialise()

    def _initialise(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1 if self.config.tie_weights else 1.0)
        if self.config.cell in ("lstm", "mogrifier"):
            # A forget-gate bias of 1 lets the cell keep its memory from the first step (Jozefowicz et al. 2015).
            # PyTorch orders the gates (input, forget, cell, output) in blocks of H along dim 0.
            hidden = self.config.hidden_size
            for name, parameter in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden].fill_(1.0)
        if self.label_inputs:
            nn.init.normal_(self.label_embedding.weight, std=0.1)
            with torch.no_grad():
                self.label_embedding.weight[0].zero_()

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zero state for ``batch_size`` streams: a tuple of [num_layers, B, H] tensors (and [1, B, 1]: no label yet)."""
        device = device if device is not None else self.embedding.weight.device
        return tuple(torch.zeros(shape, device=device) for shape in state_shapes(self.config, batch_size))

    def forward(self, tokens: torch.Tensor, state: State | None = None,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """tokens [B, T] -> logits [B, T, V] and the state after the last token; given ``targets`` [B, T], each
        target's negative log-probability [B, T] (fp32) instead of the logits: the training loss, which an
        adaptive softmax computes without the whole distribution."""
        if state is None:
            state = self.init_state(tokens.shape[0], tokens.device)
        embedded = self.embedding(tokens)  # [B, T, E]
        if self.training and self.config.input_dropout > 0:
            embedded = F.dropout(embedded, self.config.input_dropout)
        if self.label_inputs:
            state, label = state[:-1], state[-1]
            current = self.current_labels(tokens, label)  # [B, T]
            embedded = embedded + self.label_embedding(current)
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
        if self.label_inputs:
            new_state = (*new_state, current[:, -1:].to(label.dtype).T[:, :, None])  # [1, B, 1]
        top = self.dropout(outputs)  # [B, T, H]
        if targets is not None:
            if self.adaptive:
                return token_losses(self.output, top, targets), new_state
            logits = self.output(top).float()  # [B, T, V]; rows of [B*T, V] below (a transposed view is slower)
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").view_as(targets), new_state
        if self.adaptive:
            return log_probabilities(self.output, top), new_state  # [B, T, V], normalised
        return self.output(top), new_state  # [B, T, V]

    def current_labels(self, tokens: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The label each position reads beside its token: the last label id at or before it in ``tokens`` [B, T],
        else the one carried in ``label`` [1, B, 1]; as label_embedding rows [B, T] (0 = none, i + 1 = label i)."""
        is_label = tokens >= self.first_label  # [B, T]
        carried = label[0].long().expand_as(tokens)  # [B, T]
        if tokens.shape[1] == 1:  # one step (and the ONNX graph, which has no cummax)
            return torch.where(is_label, tokens - self.first_label + 1, carried)
        positions = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
        last = torch.where(is_label, positions, -1).cummax(dim=1).values  # [B, T]: the last label's position, or -1
        read = torch.gather(tokens, 1, last.clamp(min=0)) - self.first_label + 1  # [B, T]
        return torch.where(last >= 0, read, carried)

    def parameter_table(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, shape, count) for each parameter, tied weights counted once."""
        return [(name, tuple(p.shape), p.numel()) for name, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def device_of(model: nn.Module) -> torch.device:
    """Where a model's weights live: any module with parameters (ours, a baseline loop's, a test's hand-made one)."""
    return next(model.parameters()).device


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
