"""A hand-stepped LSTM for decoding one token at a time, with no per-token overhead beyond the matmuls.

``torch.nn.LSTM`` is built for sequences: called on one token it pays its set-up cost every step
(through oneDNN, milliseconds per call on a small CPU). Decoding needs the opposite trade-off, so this
module steps the same weights by hand:

* layer 0 never multiplies the embedding: ``embedding @ W_ih0^T + b_ih0 + b_hh0`` is precomputed once as
  a [V, 4H] table, so its input term is one row lookup;
* every later layer does one fused matmul, ``[x, h] @ [W_ih, W_hh]^T + b`` ([B, In+H] x [In+H, 4H]);
* every tensor a step touches is allocated once, up front; each step writes into the same buffers with
  ``out=`` and in-place operations (gates [B, 4H], cell state [B, H], logits [B, V]);
* ids that must never be generated get a -inf output bias, so masking them costs nothing per step (an
  adaptive softmax's log-probabilities instead get them filled with -inf, ``projections.output_projection``);
* a model that reads its label beside every token (``label_inputs``) adds one more row lookup, the label's
  ``embedding @ W_ih0^T`` from a [labels + 1, 4H] table, for the label each stream read last;
* a step may feed fewer streams than the decoder holds: the leading ones step, the others are dropped
  (SeqGAN's rollouts finish their shortest completions first), and ``select`` reorders or repeats
  streams (beam search).

The arithmetic is PyTorch's own LSTM (gates i, f, g, o in blocks of H; the candidate's weights doubled, so
that one sigmoid gives all four gates, tanh(g) being 2 sigmoid(2g) - 1), so the logits match the
reference path to float rounding and, for a fixed seed, the sampled tokens are the same (tested).
Only LSTM cells are supported here; the Mogrifier LSTM has its own decoder (``fast_mogrifier.py``), which shares
``LSTMStreams`` (the streams' buffers and the LSTM update) and the weight cache with this one; GRU and vanilla
RNN models decode through ``model.forward``.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import torch

from ..model import RecurrentLanguageModel, State
from . import projections
from .projections import Projection


def supports_fast_decoding(model: torch.nn.Module) -> bool:
    """True for an LSTM ``RecurrentLanguageModel`` (the only kind this module knows how to step)."""
    return (
        isinstance(model, RecurrentLanguageModel)
        and model.config.cell == "lstm"
        and not getattr(model.rnn, "proj_size", 0)
        and not getattr(model.rnn, "bidirectional", False)
    )


class _Weights:
    """The model's LSTM weights in the layout the decoder reads, at a precision; built once per version of the weights."""

    def __init__(self, model: RecurrentLanguageModel, banned: Sequence[int], precision: str = "fp32") -> None:
        rnn, hidden = model.rnn, model.config.hidden_size
        device, dtype = model.embedding.weight.device, model.embedding.weight.dtype
        with torch.no_grad():
            bias0 = _bias(rnn, 0, hidden, device, dtype)
            # [V, E] @ [E, 4H] + [4H] -> [V, 4H]: layer 0's input term for every token, once (fp32 at every precision).
            self.table = _doubled_candidate(torch.addmm(bias0, model.embedding.weight.detach(), rnn.weight_ih_l0.detach().t()), hidden)
            self.hidden0 = Projection(_doubled_candidate(rnn.weight_hh_l0.detach().t(), hidden), None, precision)  # [H, 4H]
            # Layers >= 1: [In + H, 4H] so that [x, h] @ W is one matmul.
            self.layers = [
                Projection(_doubled_candidate(torch.cat([getattr(rnn, f"weight_ih_l{l}").detach(),
                                                         getattr(rnn, f"weight_hh_l{l}").detach()], dim=1).t(), hidden),
                           _doubled_candidate(_bias(rnn, l, hidden, device, dtype), hidden), precision)
                for l in range(1, model.config.num_layers)  # noqa: E741 (l: a layer, as in PyTorch's weight names)
            ]
            self.output = projections.output_projection(model, banned, precision)  # h [n, H] -> logits [n, V]
            # [labels + 1, E] @ [E, 4H] -> [labels + 1, 4H]: layer 0's input term of each label (row 0: none, zeros).
            self.labels = (_doubled_candidate(model.label_embedding.weight.detach() @ rnn.weight_ih_l0.detach().t(), hidden)
                           if model.label_inputs else None)
            self.first_label = model.first_label


def _doubled_candidate(gates: torch.Tensor, hidden: int) -> torch.Tensor:
    """A copy of [..., 4H] gate weights (or biases) with the candidate block g (the third H) doubled.

    So one sigmoid over all four gates also gives the candidate: tanh(g) = 2 sigmoid(2g) - 1. Doubling is exact
    in every precision the decoder reads (a power of two: int8's per-column scale doubles, its integers stay).
    """
    doubled = gates.clone().contiguous()
    doubled[..., 2 * hidden : 3 * hidden] *= 2
    return doubled


def _bias(rnn: torch.nn.Module, layer: int, hidden: int, device, dtype) -> torch.Tensor:
    if not rnn.bias:
        return torch.zeros(4 * hidden, device=device, dtype=dtype)
    return (getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")).detach()


# model -> (what its weights were, the weights laid out for decoding). Rebuilding costs a copy of every
# weight (tens of milliseconds for a 2x512 model), so consecutive generations share one. The key holds each
# parameter's version counter (bumped by optimizers and in-place edits) and its sum (which also catches
# writes through ``.data``, invisible to the counter): reading the weights once is far cheaper than copying.
_CACHE: "weakref.WeakKeyDictionary[RecurrentLanguageModel, tuple[tuple, Any]]" = weakref.WeakKeyDictionary()


def _weights(model: RecurrentLanguageModel, banned: Sequence[int], precision: str, build: Callable = _Weights):
    """``build(model, banned, precision)``: the weights laid out for a decoder, cached per version of the weights."""
    with torch.no_grad():
        key = (tuple((p.data_ptr(), p._version, p.dtype, str(p.device), float(p.sum())) for p in model.parameters()), tuple(banned),
               precision, projections.SMALLEST_REDUCED, build)
    cached = _CACHE.get(model)
    if cached is None or cached[0] != key:
        cached = (key, build(model, banned, precision))
        _CACHE[model] = cached
    return cached[1]


class LSTMStreams:
    """What every hand-stepped LSTM decoder shares: the (h, c) of up to ``batch_size`` streams in preallocated buffers
    (loaded, appended, read, selected) and the LSTM update in place. A decoder sets ``batch_size``, ``layers``,
    ``rows``, ``cells`` (c of each layer, [B, H]) and ``_cache``, and says where layer l's h lies (``_hidden``) and
    which views a step of n streams uses (``_make_views``: cells, gate blocks, scratch, outputs, many_rows)."""

    batch_size: int
    layers: int
    rows: int
    cells: list[torch.Tensor]
    _cache: dict[int, Any]
    # A model reading its label beside every token (label_inputs): each label's input term [labels + 1, ...] (row 0:
    # none), the first label id, and the label each stream read last ([B] label rows); set by ``_label_buffers``.
    label_table: torch.Tensor | None = None
    first_label: int = 0
    labels: torch.Tensor
    label_terms: torch.Tensor | None

    def _label_buffers(self, table: torch.Tensor | None, first_label: int, batch_size: int, device) -> None:
        self.label_table, self.first_label = table, first_label
        self.labels = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.label_terms = (torch.zeros(batch_size, table.shape[1], device=device, dtype=table.dtype)
                            if table is not None else None)

    def _read_labels(self, tokens: torch.Tensor, labels: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
        """Each stream's label after ``tokens`` [n] (a label id read now replaces the one before) -> its input term
        [n, ...], written into ``terms`` (views of ``labels`` and ``label_terms``' leading n rows)."""
        torch.where(tokens >= self.first_label, tokens - (self.first_label - 1), labels, out=labels)
        return torch.index_select(self.label_table, 0, labels, out=terms)

    def _hidden(self, layer: int) -> torch.Tensor:
        raise NotImplementedError

    def _make_views(self, n: int) -> Any:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, logits: bool = True) -> torch.Tensor | None:
        """Feed one token to each of the leading n streams, tokens [n] -> logits [n, V] (a reused buffer), or None."""
        raise NotImplementedError

    def load_state(self, state: State) -> None:
        """Copy a model state (h [L, n, H], c [L, n, H], n <= batch_size; the label [1, n, 1]) into the leading n rows."""
        rows = state[0].shape[1]
        if rows > self.batch_size:
            raise ValueError(f"a state of {rows} streams does not fit a decoder of {self.batch_size}")
        self._copy_in(state, 0)
        self.rows = rows

    def _copy_in(self, state: State, start: int) -> None:
        h, c, *label = state
        end = start + h.shape[1]
        for layer in range(self.layers):
            self._hidden(layer)[start:end].copy_(h[layer])
            self.cells[layer][start:end].copy_(c[layer])
        if self.label_table is not None:
            self.labels[start:end].copy_(label[0][0, :, 0].long())

    def append(self, state: State) -> int:
        """Copy a model state (h [L, k, H], c [L, k, H]) into the k rows after the current streams; returns the first.

        The batching engine adds a request's streams this way while the others keep their rows."""
        start, added = self.rows, state[0].shape[1]
        if start + added > self.batch_size:
            raise ValueError(f"{start} + {added} streams do not fit a decoder of {self.batch_size}")
        self._copy_in(state, start)
        self.rows = start + added
        return start

    def state(self) -> State:
        """The current state as the model's (h, c) tuple of [L, n, H] tensors (copies; and the label, [1, n, 1])."""
        n = self.rows
        h = torch.stack([self._hidden(layer)[:n] for layer in range(self.layers)])
        c = torch.stack([cell[:n] for cell in self.cells])
        if self.label_table is not None:
            return h, c, self.labels[:n].to(h.dtype)[None, :, None]
        return h, c

    def select(self, rows: torch.Tensor) -> None:
        """Keep the streams ``rows`` [k] (reordered, repeated or dropped) as the leading k streams."""
        if len(rows) > self.batch_size:
            raise ValueError(f"cannot select {len(rows)} streams in a decoder of {self.batch_size}")
        for layer in range(self.layers):
            hidden, cell = self._hidden(layer), self.cells[layer]
            hidden[: len(rows)] = hidden[: self.rows].index_select(0, rows)
            cell[: len(rows)] = cell[: self.rows].index_select(0, rows)
        self.labels[: len(rows)] = self.labels[: self.rows].index_select(0, rows)
        self.rows = len(rows)

    def _views(self, n: int) -> Any:
        """The buffers' leading n rows, made once per n (slicing every step would cost more than the cell)."""
        views = self._cache.get(n)
        if views is None:
            views = self._cache[n] = self._make_views(n)
        return views

    def _cell(self, v: Any, layer: int) -> None:
        """PyTorch's LSTM cell on gates [n, 4H] (i, f, 2g, o: the candidate's weights are doubled), in place; the new
        h goes to v.outputs[layer].

        tanh(x) = 2 sigmoid(2x) - 1: PyTorch's CPU tanh takes about nine times its sigmoid's time ([64, 512] on one
        thread: 78 against 8.5 microseconds), so one sigmoid covers all four gates, and on more than a few rows
        the tanh of the cell too; the logits match ``model.forward``'s to float rounding (tested).
        """
        cell, input_gate = v.cells[layer], v.input
        v.gates.sigmoid_()  # i, f, sigmoid(2g), o
        cell.mul_(v.forget)  # c = f * c
        cell.addcmul_(input_gate, v.candidate, value=2.0)  # + 2 i sigmoid(2g) ...
        cell.sub_(input_gate)  # ... - i, that is + i * tanh(g)
        out = v.outputs[layer]
        if v.many_rows:  # h = o * tanh(c) = 2 o sigmoid(2c) - o
            torch.mul(cell, 2.0, out=v.scratch).sigmoid_()
            torch.mul(v.output_gate, v.scratch, out=out)
            out.mul_(2.0).sub_(v.output_gate)
        else:
            torch.tanh(cell, out=v.scratch)
            torch.mul(v.output_gate, v.scratch, out=out)  # h = o * tanh(c)


class FastLSTMDecoder(LSTMStreams):
    """Steps an LSTM language model one token at a time for up to B streams.

        decoder = FastLSTMDecoder(model, batch_size=B, banned=(0,))
        decoder.load_state(state)          # the state after the prompt (from model.forward)
        logits = decoder.step(tokens)      # tokens [B] int64 -> logits [B, V] (a buffer, reused next step)

    ``lstmgen.decoding.Stepper`` drives it; nothing else should need to.

    The weights are laid out for decoding (transposed, fused, the embedding folded into layer 0) once per
    version of the model's parameters and shared by later decoders of the same model.
    """

    def __init__(self, model: RecurrentLanguageModel, batch_size: int, banned: Sequence[int] = ()) -> None:
        if not supports_fast_decoding(model):
            raise ValueError("FastLSTMDecoder steps LSTM models only; decode other cells through model.forward")
        hidden, layers = model.config.hidden_size, model.config.num_layers
        device, dtype = model.embedding.weight.device, model.embedding.weight.dtype
        precision = projections.decoding_precision(model)  # projections.at_decoding_precision chose it
        weights = _weights(model, banned, precision)
        self.table, self.hidden0, self.layer_projections, self.output = weights.table, weights.hidden0, weights.layers, weights.output
        self._label_buffers(weights.labels, weights.first_label, batch_size, device)
        self.precision = precision
        self.batch_size, self.hidden, self.layers = batch_size, hidden, layers
        self.rows = batch_size  # streams still stepping: always the leading rows of every buffer
        self._cache: dict[int, _Views] = {}
        vocab = model.config.vocab_size
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

    def _make_views(self, n: int) -> "_Views":
        return _Views(self, n)

    def step(self, tokens: torch.Tensor, logits: bool = True) -> torch.Tensor | None:
        """Feed one token to each of the leading n streams, tokens [n] -> logits [n, V] (a reused buffer).

        Streams beyond n are dropped. ``logits=False`` only advances the state and returns None (a prompt's
        positions before its last: a word model's output layer is most of a step). No autograd context is
        needed: every tensor involved is detached, so nothing records a graph.
        """
        n = len(tokens)
        if n > self.rows:
            raise ValueError(f"{n} tokens for {self.rows} streams: a step feeds at most one token per stream")
        self.rows = n
        v = self._views(n)
        torch.index_select(self.table, 0, tokens, out=v.gates)  # x @ W_ih0 + biases
        if self.label_table is not None:  # + the label read last (a label id read now replaces it) @ W_ih0
            v.gates.add_(self._read_labels(tokens, v.labels, v.label_terms))
        self.hidden0(v.h0, v.gates, accumulate=True)  # + h @ W_hh0
        # Layer 0's new h goes to layer 1's x half (or to h0 for a one-layer model); h0 is read above first.
        self._cell(v, 0)
        if self.layers > 1:
            v.h0.copy_(v.outputs[0])
        for layer in range(1, self.layers):
            self.layer_projections[layer - 1](v.inputs[layer - 1], v.gates)  # [x, h] @ [W_ih, W_hh] + b
            self._cell(v, layer)
            if layer < self.layers - 1:
                v.own_hidden[layer].copy_(v.outputs[layer])
        if not logits:
            return None
        self.output(v.top_hidden, v.logits)
        return v.logits


class _Views:
    """The leading n rows of every buffer of a decoder, and where each layer's new h is written."""

    def __init__(self, decoder: FastLSTMDecoder, n: int) -> None:
        hidden, layers = decoder.hidden, decoder.layers
        self.gates, self.scratch, self.logits = decoder.gates[:n], decoder.scratch[:n], decoder.logits[:n]
        self.h0 = decoder.h0[:n]
        self.labels = decoder.labels[:n]
        self.label_terms = decoder.label_terms[:n] if decoder.label_terms is not None else None
        self.cells = [cell[:n] for cell in decoder.cells]
        self.inputs = [buffer[:n] for buffer in decoder.inputs]  # [x_l, h_l] of layers l >= 1
        self.own_hidden = [self.h0] + [buffer[:, hidden:] for buffer in self.inputs]  # h_l, where layer l reads it
        # Layer l's new h goes to the next layer's x half; the top layer's to its own h slot (h0 for one layer).
        self.outputs = [self.inputs[layer][:, :hidden] for layer in range(layers - 1)] + [self.own_hidden[layers - 1]]
        self.top_hidden = self.own_hidden[layers - 1]
        # The gate blocks of gates [n, 4H] (PyTorch's order i, f, g, o), sliced once: a slice costs about
        # a microsecond, as much as a pointwise op on a few hundred values.
        gates = self.gates
        self.input, self.forget = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        self.candidate, self.output_gate = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        # From 4,096 values the sigmoid form of the cell's tanh is the faster (four cheap ops against one slow one;
        # one thread, H = 512: 11.6 against 8.6 us at 8 rows, 6.7 against 7.8 at 4).
        self.many_rows = n * hidden >= 4096
