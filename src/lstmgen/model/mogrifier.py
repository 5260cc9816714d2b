"""The Mogrifier LSTM (Melis, Kočiský and Blunsom 2020), a cell of ``lstmgen.model.CELLS`` (``--cell mogrifier``).

Its class docstring says what it computes and how the time loop is written for a CPU; the hand-stepped decoder
(``decoding.fast_mogrifier``) reads the per-window weights ``MogrifierLSTM.step_weights`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

State = tuple[torch.Tensor, ...]

def factorised(rank: int, rows: int, columns: int) -> bool:
    """Whether a rows x columns mogrifier matrix is stored as two factors of ``rank`` (0 = full rank; a rank at
    or above the smaller side is full rank too)."""
    return 0 < rank < min(rows, columns)


def round_shape(round_: int, inputs: int, hidden: int) -> tuple[int, int]:
    """[out, in] of round ``round_``'s matrix (from 1): odd rounds Q^i [In, H] gate x by h, even R^i [H, In] h by x."""
    return (inputs, hidden) if round_ % 2 else (hidden, inputs)


def mogrifier_parameter_count(inputs: int, hidden: int, rounds: int, rank: int) -> int:
    """Weights of one layer's mogrifier matrices (the LSTM part not included)."""
    total = 0
    for round_ in range(1, rounds + 1):
        rows, columns = round_shape(round_, inputs, hidden)
        total += rank * (rows + columns) if factorised(rank, rows, columns) else rows * columns
    return total


def _multiplied_out(rank: int, rows: int, columns: int) -> bool:
    """Whether stepping a factorised matrix reads its product (computed once per window) rather than its two factors:
    the product when it costs fewer multiply-adds per step."""
    return rows * columns <= rank * (rows + columns)


def mogrifier_multiply_adds(inputs: int, hidden: int, rounds: int, rank: int) -> int:
    """Multiply-adds per token of one layer's mogrifier rounds, as the time loop computes them."""
    total = 0
    for round_ in range(1, rounds + 1):
        rows, columns = round_shape(round_, inputs, hidden)
        factors = factorised(rank, rows, columns) and not _multiplied_out(rank, rows, columns)
        total += rank * (rows + columns) if factors else rows * columns
    return total


@dataclass
class LayerWeights:
    """One layer's weights as a step reads them (``MogrifierLSTM.step_weights``), in ``x @ W`` form.

    ``rounds[i]`` is the chain of matrices of round i + 1: one [in, out] matrix, or two factors [in, k], [k, out];
    each is already scaled by the power of two that x or h is carried divided by. ``input_weight`` [4H, In] and
    ``hidden_weight`` [4H, H] are W_ih * 2^a and W_hh * 2^b for the x and h after the rounds; ``bias`` [4H] is
    b_ih + b_hh.
    """

    rounds: list[list[torch.Tensor]]
    input_weight: torch.Tensor
    hidden_weight: torch.Tensor
    bias: torch.Tensor

    def fused(self) -> torch.Tensor:
        """[In + H, 4H]: [W_ih * 2^a, W_hh * 2^b]^T, so that [x, h] @ it is the gates' two products in one."""
        return torch.cat([self.input_weight, self.hidden_weight], dim=1).t()


class MogrifierLSTM(nn.Module):
    """The Mogrifier LSTM (Melis, Kočiský and Blunsom 2020): an LSTM whose input and state gate each other first.

    Before each LSTM update the input x and the previous hidden state h take turns scaling each other, for r rounds
    (rounds counted from 1):

        odd i:   x <- 2 sigmoid(Q^i h) * x        Q^i [In, H]
        even i:  h <- 2 sigmoid(R^i x) * h        R^i [H, In]

    then the usual LSTM gates read the mogrified x and h (the cell state c is not mogrified; the new h is the output
    and the state carried to the next token). The paper's best setting is r = 5; r = 0 is a plain LSTM. Q^i and R^i
    may be low-rank, Q^i = Q_left [In, k] @ Q_right [k, H] (``rank`` k): fewer parameters, a regulariser the paper
    tuned. lstmgen's default is full rank: a character model's input is its 64-wide embedding, so a full Q^i or R^i
    holds In x H weights (32 k at H = 512, a tenth of the LSTM layer's 4 H (In + H)), and costs per step fewer
    multiply-adds than a factorised pair unless k < In H / (In + H) (57 there). Wide inputs (word models, layers
    above the first, where In = H) are where a rank pays: ``--mogrifier-rank 64`` on a 2 x 1024 model keeps each
    layer's five matrices at 0.66 M weights instead of 5.2 M.

    ``MogrifierLSTM`` has the interface of ``torch.nn.LSTM`` that the model uses (batch_first inputs [B, T, In], an
    (h, c) state of [L, B, H] each, dropout between layers) and the same parameter names for the LSTM part
    (``weight_ih_l{l}``, ``weight_hh_l{l}``, ``bias_ih_l{l}``, ``bias_hh_l{l}``, gates i, f, g, o in blocks of H), so
    weight drop (``functional_call`` on ``weight_hh_l{l}``), the forget-gate initialisation and checkpoints treat it
    as they treat an LSTM. The mogrifier matrices are ``mogrify_l{l}_{i}`` ([out, in]) or, at a low rank,
    ``mogrify_l{l}_{i}_left`` [out, k] and ``mogrify_l{l}_{i}_right`` [k, in].

    The time loop is written for a CPU, where each operation's fixed cost (dispatch, an autograd node) is as large
    as the arithmetic of a small cell:

    * nothing of a step can be computed ahead for the whole window: round 1 already gates x by h_{t-1}, and every
      later round and the LSTM's input product read what it produced; so the loop does the least per step;
    * the factors 2 are folded into the weights, once per window: x and h are carried divided by 2^(rounds applied
      to them) (exact: a power of two), so a round is a product, a sigmoid and a multiply; the next product reads
      the weight scaled by 2^(rounds the other side has had);
    * the LSTM update is PyTorch's own cell, ``torch.lstm_cell`` (one call per step: measured 1-8 % faster than the
      same arithmetic written out, with [x, h] fused into one product, from H = 128 to 512); a low-rank pair is
      multiplied out once per window when that costs fewer multiply-adds per step;
    * the loop stays Python with autograd: ``torch.jit.script`` of it was measured slower (115 against 105 ms for a
      forward and backward pass of a 32 x 64 window, H = 256, one thread), and a hand-written backward pass (an
      autograd.Function batching the weight gradients over the window) only 5-8 % faster (1.04-1.05 against
      1.11-1.12 s for 64 x 128, E = 64, H = 512; nn.LSTM takes 0.67-0.75 s there, this loop with 0 rounds 0.88 s):
      most of a window's time is the gate products, as for an LSTM.

    ``step_weights`` returns those per-window weights; the hand-stepped decoder (``decoding.fast_mogrifier``)
    reads the same ones, so decoding computes the same arithmetic.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, batch_first: bool = True,
                 rounds: int = 5, rank: int = 0) -> None:
        super().__init__()
        if not batch_first:
            raise ValueError("MogrifierLSTM reads batch_first inputs [B, T, In] only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.rounds, self.rank = dropout, rounds, rank
        self.batch_first, self.bias = True, True  # read as nn.LSTM's are (the fast decoder reads ``bias``)
        bound = 1.0 / math.sqrt(hidden_size)  # nn.LSTM's initialisation, uniform in [-1/sqrt(H), 1/sqrt(H)]
        for layer in range(num_layers):
            inputs = input_size if layer == 0 else hidden_size
            for name, shape in ((f"weight_ih_l{layer}", (4 * hidden_size, inputs)), (f"weight_hh_l{layer}", (4 * hidden_size, hidden_size)),
                                (f"bias_ih_l{layer}", (4 * hidden_size,)), (f"bias_hh_l{layer}", (4 * hidden_size,))):
                self.register_parameter(name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))
            for round_ in range(1, rounds + 1):
                rows, columns = round_shape(round_, inputs, hidden_size)
                # nn.Linear's initialisation of a columns -> rows map: 2 sigmoid(z) starts near 1, the LSTM's own update.
                if factorised(rank, rows, columns):
                    left = torch.empty(rows, rank).uniform_(-1 / math.sqrt(rank), 1 / math.sqrt(rank))
                    right = torch.empty(rank, columns).uniform_(-1 / math.sqrt(columns), 1 / math.sqrt(columns))
                    self.register_parameter(f"mogrify_l{layer}_{round_}_left", nn.Parameter(left))
                    self.register_parameter(f"mogrify_l{layer}_{round_}_right", nn.Parameter(right))
                else:
                    weight = torch.empty(rows, columns).uniform_(-1 / math.sqrt(columns), 1 / math.sqrt(columns))
                    self.register_parameter(f"mogrify_l{layer}_{round_}", nn.Parameter(weight))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, dropout={self.dropout}, "
                f"rounds={self.rounds}, rank={self.rank or 'full'}")

    def step_weights(self, layer: int) -> LayerWeights:
        """Layer ``layer``'s weights as every step of a window reads them (attribute reads, so weight drop's
        ``functional_call`` substitutes its masked ``weight_hh``)."""
        inputs = self.input_size if layer == 0 else self.hidden_size
        x_rounds = h_rounds = 0  # rounds applied so far to x and to h: each is carried divided by 2 ** that
        chains = []
        for round_ in range(1, self.rounds + 1):
            rows, columns = round_shape(round_, inputs, self.hidden_size)
            scale = 2.0 ** (h_rounds if round_ % 2 else x_rounds)  # the side this round reads
            if factorised(self.rank, rows, columns):
                left, right = getattr(self, f"mogrify_l{layer}_{round_}_left"), getattr(self, f"mogrify_l{layer}_{round_}_right")
                if _multiplied_out(self.rank, rows, columns):
                    chain = [(left @ right).t() * scale]  # [in, out]
                else:
                    chain = [right.t() * scale, left.t()]  # [in, k], [k, out]
            else:
                chain = [getattr(self, f"mogrify_l{layer}_{round_}").t() * scale]
            chains.append(chain)
            if round_ % 2:
                x_rounds += 1
            else:
                h_rounds += 1
        weight_ih, weight_hh = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
        bias = getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")
        return LayerWeights(chains, weight_ih * 2.0 ** x_rounds, weight_hh * 2.0 ** h_rounds, bias)

    def forward(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """inputs [B, T, In], state (h, c) of [L, B, H] -> outputs [B, T, H] (the top layer's h) and the final state."""
        h, c = state
        final_h, final_c = [], []
        outputs = inputs
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:  # between layers, as nn.LSTM
                outputs = F.dropout(outputs, self.dropout, training=True)
            outputs, layer_h, layer_c = self._layer(self.step_weights(layer), outputs, h[layer], c[layer])
            final_h.append(layer_h)
            final_c.append(layer_c)
        return outputs, (torch.stack(final_h), torch.stack(final_c))

    def _layer(self, weights: LayerWeights, inputs: torch.Tensor, h: torch.Tensor, c: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One layer over the window: inputs [B, T, In], h and c [B, H] -> outputs [B, T, H], the last h and c."""
        rounds = [(index % 2 == 0, chain) for index, chain in enumerate(weights.rounds)]  # (gates x?, matrices)
        outputs = []
        for x in inputs.unbind(1):  # x [B, In]
            v = h  # h divided by 2 ** (h rounds so far); x likewise
            for gates_x, chain in rounds:
                z = v if gates_x else x
                for matrix in chain:
                    z = z @ matrix  # [B, out]
                if gates_x:
                    x = torch.sigmoid(z) * x
                else:
                    v = torch.sigmoid(z) * v
            # PyTorch's own LSTM cell on the mogrified x and h (one call: its gate arithmetic runs in C++, fused on a GPU).
            h, c = torch.lstm_cell(x, (v, c), weights.input_weight, weights.hidden_weight, weights.bias, None)  # [B, H] each
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c
