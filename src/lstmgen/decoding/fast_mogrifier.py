"""A hand-stepped Mogrifier LSTM for decoding one token at a time: ``FastLSTMDecoder``'s counterpart.

The model's ``MogrifierLSTM`` (lstmgen.model) runs a time loop built for training; one token at a time it would pay
its per-window set-up (weights scaled, concatenated, transposed) every step. This decoder lays the weights out
once per version of the parameters (the same ``step_weights`` the model's loop reads: the factors 2 folded into
them, the LSTM's products fused) and steps preallocated buffers in place:

* each layer keeps [x_l, h_l] in one buffer [B, In + H]: the rounds gate its two halves in place (a product into a
  small buffer, a sigmoid, a multiply), then one product reads the whole buffer for the four gates;
* layer 0's x is the embedding row (a lookup): the LSTM decoder's table of ``embedding @ W_ih0`` does not apply,
  since x is gated by h before any product reads it;
* the LSTM update, the streams (load, append, select, state) and the weight cache are the LSTM decoder's own
  (``fast_lstm.LSTMStreams``); the candidate's weights are doubled as there, so one sigmoid gives all four gates;
* the products run at the decoding precision (``projections.Projection``: fp32, fp16, bf16, int8); the mogrifier
  matrices of a character model are small enough to stay fp32 at every precision (``SMALLEST_REDUCED``).

The logits match ``model.forward``'s to float rounding and, for a fixed seed, the sampled tokens are the same (tested).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..model import RecurrentLanguageModel
from . import projections
from .fast_lstm import LSTMStreams, _doubled_candidate, _weights
from .projections import Projection


def supports_mogrifier_decoding(model: torch.nn.Module) -> bool:
    """True for a Mogrifier LSTM ``RecurrentLanguageModel``."""
    return isinstance(model, RecurrentLanguageModel) and model.config.cell == "mogrifier"


class _MogrifierWeights:
    """The model's weights in the layout the decoder reads, at a precision; built once per version of the weights."""

    def __init__(self, model: RecurrentLanguageModel, banned: Sequence[int], precision: str = "fp32") -> None:
        rnn, hidden = model.rnn, model.config.hidden_size
        with torch.no_grad():
            self.embedding = model.embedding.weight.detach()  # [V, E]: layer 0's x, one row per token (fp32)
            # Per layer: each round's chain of products ([in, out], or a low-rank pair [in, k], [k, out]) and the gates'
            # product [In + H, 4H] with its bias, the candidate doubled (fast_lstm's one-sigmoid update).
            self.layers = []
            for layer in range(model.config.num_layers):
                weights = rnn.step_weights(layer)
                rounds = [[Projection(matrix.detach(), None, precision) for matrix in chain] for chain in weights.rounds]
                gates = Projection(_doubled_candidate(weights.fused().detach(), hidden), _doubled_candidate(weights.bias.detach(), hidden),
                                   precision)
                self.layers.append((rounds, gates))
            self.output = projections.output_projection(model, banned, precision)  # h [n, H] -> logits [n, V]
            # A model reading its label beside every token: the label's embedding [labels + 1, E], added to x_0.
            self.labels = model.label_embedding.weight.detach() if model.label_inputs else None
            self.first_label = model.first_label


class FastMogrifierDecoder(LSTMStreams):
    """Steps a Mogrifier LSTM language model one token at a time for up to B streams; used as ``FastLSTMDecoder`` is.

        decoder = FastMogrifierDecoder(model, batch_size=B, banned=(0,))
        decoder.load_state(state)          # the state after the prompt (from model.forward)
        logits = decoder.step(tokens)      # tokens [B] int64 -> logits [B, V] (a buffer, reused next step)
    """

    def __init__(self, model: RecurrentLanguageModel, batch_size: int, banned: Sequence[int] = ()) -> None:
        if not supports_mogrifier_decoding(model):
            raise ValueError("FastMogrifierDecoder steps Mogrifier LSTM models only; decode other cells through their own "
                             "decoder or model.forward")
        config = model.config
        hidden, layers = config.hidden_size, config.num_layers
        device, dtype = model.embedding.weight.device, model.embedding.weight.dtype
        self.precision = projections.decoding_precision(model)  # projections.at_decoding_precision chose it
        weights = _weights(model, banned, self.precision, _MogrifierWeights)
        self.embedding, self.layer_weights, self.output = weights.embedding, weights.layers, weights.output
        self._label_buffers(weights.labels, weights.first_label, batch_size, device)
        self.batch_size, self.hidden, self.layers = batch_size, hidden, layers
        self.rows = batch_size  # streams still stepping: always the leading rows of every buffer
        self._cache: dict[int, _Views] = {}
        self.widths = [config.embedding_size] + [hidden] * (layers - 1)  # In of each layer
        empty = lambda *shape: torch.zeros(*shape, device=device, dtype=dtype)  # noqa: E731
        # inputs[l] = [x_l, h_l]: the rounds gate both halves in place, then one product reads the buffer. h_l holds the
        # layer's carried h between steps (the new h is written there), and x_l a copy of the layer below's new h.
        self.inputs = [empty(batch_size, width + hidden) for width in self.widths]
        self.cells = [empty(batch_size, hidden) for _ in range(layers)]
        self.gates = empty(batch_size, 4 * hidden)
        self.scratch = empty(batch_size, hidden)
        self.logits = empty(batch_size, config.vocab_size)
        # The rounds' products before their sigmoid: [B, In_l] for the x rounds, [B, H] for the h rounds, and [B, k]
        # between the two factors of a low-rank matrix.
        self.round_x = [empty(batch_size, width) for width in self.widths]
        self.round_h = empty(batch_size, hidden)
        self.middle = empty(batch_size, max(config.mogrifier_rank, 1))

    def _hidden(self, layer: int) -> torch.Tensor:
        """Layer ``layer``'s h, [B, H] (the right half of its input buffer)."""
        return self.inputs[layer][:, self.widths[layer] :]

    def _make_views(self, n: int) -> "_Views":
        return _Views(self, n)

    def step(self, tokens: torch.Tensor, logits: bool = True) -> torch.Tensor | None:
        """Feed one token to each of the leading n streams, tokens [n] -> logits [n, V] (a reused buffer).

        As ``FastLSTMDecoder.step``: streams beyond n are dropped; ``logits=False`` only advances the state."""
        n = len(tokens)
        if n > self.rows:
            raise ValueError(f"{n} tokens for {self.rows} streams: a step feeds at most one token per stream")
        self.rows = n
        v = self._views(n)
        torch.index_select(self.embedding, 0, tokens, out=v.x[0])  # x_0 [n, E]: the embedding rows
        if self.label_table is not None:  # + the embedding of the label read last (a label id read now replaces it)
            v.x[0].add_(self._read_labels(tokens, v.labels, v.label_terms))
        for layer in range(self.layers):
            if layer:
                v.x[layer].copy_(v.h[layer - 1])  # the layer below's new h
            rounds, gate_projection = self.layer_weights[layer]
            x, h = v.x[layer], v.h[layer]
            for index, chain in enumerate(rounds):
                # Odd rounds (index 0, 2, ...) gate x by h, even ones h by x: z = source @ M; target *= sigmoid(z).
                source, target, z = (h, x, v.round_x[layer]) if index % 2 == 0 else (x, h, v.round_h)
                if len(chain) == 1:
                    chain[0](source, z)
                else:  # a low-rank pair, [in, k] then [k, out]
                    chain[0](source, v.middle)
                    chain[1](v.middle, z)
                target.mul_(z.sigmoid_())
            gate_projection(v.inputs[layer], v.gates)  # [x, h] @ [W_ih, W_hh] + b
            self._cell(v, layer)  # the new h into h_l
        if not logits:
            return None
        self.output(v.h[-1], v.logits)
        return v.logits


class _Views:
    """The leading n rows of every buffer of a decoder, with the names ``LSTMStreams._cell`` reads."""

    def __init__(self, decoder: FastMogrifierDecoder, n: int) -> None:
        hidden = decoder.hidden
        self.gates, self.scratch, self.logits = decoder.gates[:n], decoder.scratch[:n], decoder.logits[:n]
        self.cells = [cell[:n] for cell in decoder.cells]
        self.inputs = [buffer[:n] for buffer in decoder.inputs]
        self.x = [buffer[:, :width] for buffer, width in zip(self.inputs, decoder.widths)]
        self.h = [buffer[:, width:] for buffer, width in zip(self.inputs, decoder.widths)]
        self.outputs = self.h  # each layer's new h replaces its own (read by the gates' product first)
        self.round_x = [buffer[:n] for buffer in decoder.round_x]
        self.round_h, self.middle = decoder.round_h[:n], decoder.middle[:n]
        self.labels = decoder.labels[:n]
        self.label_terms = decoder.label_terms[:n] if decoder.label_terms is not None else None
        gates = self.gates
        self.input, self.forget = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        self.candidate, self.output_gate = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        self.many_rows = n * hidden >= 4096  # as fast_lstm's _Views: the sigmoid form of the cell's tanh from 4,096 values
