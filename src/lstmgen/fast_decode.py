"""A hand-stepped LSTM for decoding one token at a time, with no per-token overhead beyond the matmuls.

``torch.nn.LSTM`` is built for sequences: called on one token it pays its set-up cost every step
(through oneDNN, milliseconds per call on a small CPU). Decoding needs the opposite trade-off, so this
module steps the same weights by hand:

* layer 0 never multiplies the embedding: ``embedding @ W_ih0^T + b_ih0 + b_hh0`` is precomputed once as
  a [V, 4H] table, so its input term is one row lookup;
* every later layer does one fused matmul, ``[x, h] @ [W_ih, W_hh]^T + b`` ([B, In+H] x [In+H, 4H]);
* every tensor a step touches is allocated once, up front; each step writes into the same buffers with
  ``out=`` and in-place operations (gates [B, 4H], cell state [B, H], logits [B, V]);
* ids that must never be generated get a -inf output bias, so masking them costs nothing per step.

The arithmetic is PyTorch's own LSTM (gates i, f, g, o in blocks of H), so the logits match the
reference path to float rounding and, for a fixed seed, the sampled tokens are the same (tested).
Only LSTM cells are supported; GRU and vanilla RNN models decode through ``model.forward``.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import torch

from .model import RecurrentLanguageModel, State


def supports_fast_decoding(model: torch.nn.Module) -> bool:
    """True for an LSTM ``RecurrentLanguageModel`` (the only kind this module knows how to step)."""
    return (
        isinstance(model, RecurrentLanguageModel)
        and model.config.cell == "lstm"
        and not getattr(model.rnn, "proj_size", 0)
        and not getattr(model.rnn, "bidirectional", False)
    )


class _Weights:
    """The model's LSTM weights in the layout the decoder reads; built once per version of the weights."""

    def __init__(self, model: RecurrentLanguageModel, banned: Sequence[int]) -> None:
        rnn, hidden = model.rnn, model.config.hidden_size
        device, dtype = model.output.weight.device, model.output.weight.dtype
        with torch.no_grad():
            bias0 = _bias(rnn, 0, hidden, device, dtype)
            # [V, E] @ [E, 4H] + [4H] -> [V, 4H]: layer 0's input term for every token, once.
            self.table = torch.addmm(bias0, model.embedding.weight.detach(), rnn.weight_ih_l0.detach().t()).contiguous()
            self.weight_hh0 = rnn.weight_hh_l0.detach().t().contiguous()  # [H, 4H]
            # Layers >= 1: [In + H, 4H] so that [x, h] @ W is one matmul.
            self.weights = [
                torch.cat([getattr(rnn, f"weight_ih_l{l}").detach(), getattr(rnn, f"weight_hh_l{l}").detach()], dim=1).t().contiguous()
                for l in range(1, model.config.num_layers)
            ]
            self.biases = [_bias(rnn, l, hidden, device, dtype) for l in range(1, model.config.num_layers)]
            self.output_weight = model.output.weight.detach().t().contiguous()  # [H, V]
            self.output_bias = model.output.bias.detach().clone()
            if len(banned):
                self.output_bias[torch.as_tensor(list(banned), dtype=torch.long, device=device)] = float("-inf")


def _bias(rnn: torch.nn.Module, layer: int, hidden: int, device, dtype) -> torch.Tensor:
    if not rnn.bias:
        return torch.zeros(4 * hidden, device=device, dtype=dtype)
    return (getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")).detach()


# model -> (what its weights were, the weights laid out for decoding). Rebuilding costs a copy of every
# weight (tens of milliseconds for a 2x512 model), so consecutive generations share one. The key holds each
# parameter's version counter (bumped by optimizers and in-place edits) and its sum (which also catches
# writes through ``.data``, invisible to the counter): reading the weights once is far cheaper than copying.
_CACHE: "weakref.WeakKeyDictionary[RecurrentLanguageModel, tuple[tuple, _Weights]]" = weakref.WeakKeyDictionary()


def _weights(model: RecurrentLanguageModel, banned: Sequence[int]) -> _Weights:
    with torch.no_grad():
        key = (tuple((p.data_ptr(), p._version, p.dtype, str(p.device), float(p.sum())) for p in model.parameters()), tuple(banned))
    cached = _CACHE.get(model)
    if cached is None or cached[0] != key:
        cached = (key, _Weights(model, banned))
        _CACHE[model] = cached
    return cached[1]


class FastLSTMDecoder:
    """Steps an LSTM language model one token at a time for a fixed batch of B streams.

        decoder = FastLSTMDecoder(model, batch_size=B, banned=(0,))
        decoder.load_state(state)          # the state after the prompt (from model.forward)
        logits = decoder.step(tokens)      # tokens [B] int64 -> logits [B, V] (a buffer, reused next step)

    The weights are laid out for decoding (transposed, fused, the embedding folded into layer 0) once per
    version of the model's parameters and shared by later decoders of the same model.
    """

    def __init__(self, model: RecurrentLanguageModel, batch_size: int, banned: Sequence[int] = ()) -> None:
        if not supports_fast_decoding(model):
            raise ValueError("FastLSTMDecoder steps LSTM models only; decode other cells through model.forward")
        hidden, layers = model.config.hidden_size, model.config.num_layers
        device, dtype = model.output.weight.device, model.output.weight.dtype
        weights = _weights(model, banned)
        self.table, self.weight_hh0 = weights.table, weights.weight_hh0
        self.weights, self.biases = weights.weights, weights.biases
        self.output_weight, self.output_bias = weights.output_weight, weights.output_bias
        self.batch_size, self.hidden, self.layers = batch_size, hidden, layers
        vocab = self.output_bias.shape[0]
        empty = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)  # noqa: E731
        # inputs[l] = [x_l, h_l] of layer l >= 1, so the fused matmul reads one contiguous buffer [B, 2H];
        # layer 0 keeps its h in h0. The new h of layer l is written straight into inputs[l+1]'s x half.
        self.h0 = empty(batch_size, hidden)
        self.inputs = [empty(batch_size, 2 * hidden) for _ in range(1, layers)]
        self.cells = [empty(batch_size, hidden) for _ in range(layers)]
        self.gates = empty(batch_size, 4 * hidden)
        self.scratch = empty(batch_size, hidden)
        self.logits = empty(batch_size, vocab)

    def _hidden(self, layer: int) -> torch.Tensor:
        """Layer ``layer``'s h, [B, H] (a view into the buffer the next matmul reads)."""
        return self.h0 if layer == 0 else self.inputs[layer - 1][:, self.hidden :]

    def load_state(self, state: State) -> None:
        """Copy a model state (h [L, B, H], c [L, B, H]) into the decoder's buffers."""
        h, c = state
        for layer in range(self.layers):
            self._hidden(layer).copy_(h[layer])
            self.cells[layer].copy_(c[layer])

    def state(self) -> State:
        """The current state as the model's (h, c) tuple of [L, B, H] tensors (copies)."""
        h = torch.stack([self._hidden(layer) for layer in range(self.layers)])
        c = torch.stack(list(self.cells))
        return h, c

    def _cell(self, layer: int, out: torch.Tensor) -> None:
        """PyTorch's LSTM cell on self.gates [B, 4H] (i, f, g, o), in place; the new h goes to ``out``."""
        hidden, gates, cell = self.hidden, self.gates, self.cells[layer]
        gates[:, : 2 * hidden].sigmoid_()  # i, f
        gates[:, 3 * hidden :].sigmoid_()  # o
        gates[:, 2 * hidden : 3 * hidden].tanh_()  # g
        cell.mul_(gates[:, hidden : 2 * hidden])  # c = f * c
        cell.addcmul_(gates[:, :hidden], gates[:, 2 * hidden : 3 * hidden])  # c += i * g
        torch.tanh(cell, out=self.scratch)
        torch.mul(gates[:, 3 * hidden :], self.scratch, out=out)  # h = o * tanh(c)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per stream, tokens [B] -> logits [B, V] for the next one (a reused buffer).

        No autograd context is needed: every tensor involved is detached, so nothing records a graph.
        """
        torch.index_select(self.table, 0, tokens, out=self.gates)  # x @ W_ih0 + biases
        self.gates.addmm_(self.h0, self.weight_hh0)  # + h @ W_hh0
        # Layer 0's new h goes to layer 1's x half (or to h0 for a one-layer model); h0 is read above first.
        self._cell(0, self.inputs[0][:, : self.hidden] if self.layers > 1 else self.h0)
        if self.layers > 1:
            self.h0.copy_(self.inputs[0][:, : self.hidden])
        for layer in range(1, self.layers):
            inputs = self.inputs[layer - 1]  # [B, 2H] = [x, h]
            torch.addmm(self.biases[layer - 1], inputs, self.weights[layer - 1], out=self.gates)
            last = layer == self.layers - 1
            target = inputs[:, self.hidden :] if last else self.inputs[layer][:, : self.hidden]
            self._cell(layer, target)
            if not last:
                inputs[:, self.hidden :].copy_(target)
        torch.addmm(self.output_bias, self._hidden(self.layers - 1), self.output_weight, out=self.logits)
        return self.logits
