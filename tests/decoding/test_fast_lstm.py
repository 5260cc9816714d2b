"""lstmgen.decoding.fast_lstm: the hand-stepped LSTM computes PyTorch's LSTM, for every shape it supports."""

import pytest
import torch

from lstmgen import GenerationConfig
from lstmgen.decoding.fast_lstm import FastLSTMDecoder, supports_fast_decoding
from lstmgen.decoding.fast_mogrifier import FastMogrifierDecoder
from lstmgen.decoding.generation import decode


# 3 streams of 24 take the cell's tanh as it is; 200 streams of 24 (4,800 values) its sigmoid form.
@pytest.mark.parametrize("layers, tie, streams", [(1, False, 3), (2, False, 3), (3, True, 3), (2, False, 200)])
def test_fast_decoder_matches_the_model_step_by_step(tiny_model, layers, tie, streams):
    model = tiny_model(num_layers=layers, tie_weights=tie)
    tokens = torch.randint(1, 30, (streams, 25), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, final = model(tokens)
        decoder = FastLSTMDecoder(model, streams, banned=(0,))
        assert decoder._views(streams).many_rows == (streams * 24 >= 4096)
        decoder.load_state(model.init_state(streams))
        for t in range(tokens.shape[1]):
            logits = decoder.step(tokens[:, t])
            assert torch.isneginf(logits[:, 0]).all()  # banned ids cost nothing per step: -inf output bias
            assert torch.allclose(logits[:, 1:], expected[:, t, 1:], atol=1e-5)
        for ours, theirs in zip(decoder.state(), final):
            assert torch.allclose(ours, theirs, atol=1e-5)


def test_other_cells_are_refused(tiny_model):
    for cell in ("gru", "rnn"):
        model = tiny_model(cell=cell)
        assert not supports_fast_decoding(model)
        with pytest.raises(ValueError, match="LSTM models only"):
            FastLSTMDecoder(model, 1)


class _Plain:
    """A stand-in tokenizer: ids are their own text; nothing is suppressed."""

    never_generated = ()
    end_of_document = None  # not a document-mode model

    def stream_decoder(self, context=(), context_text=None):
        class Decoder:
            def feed(self, token):
                return f"<{token}>"

        return Decoder()


def _greedy_tokens(model, fast=None):
    records = decode(model, _Plain(), [1, 2], GenerationConfig(max_tokens=30, temperature=0), fast=fast)
    return torch.tensor([record.tokens[0] for record in records])


def test_fast_decoder_sees_weight_changes(tiny_model):
    model = tiny_model()
    before = _greedy_tokens(model)
    with torch.no_grad():
        model.output.bias[before[5]] += 100.0  # in place: the version counter moves
    after = _greedy_tokens(model)
    assert (after[1:] == before[5]).all()
    model.output.bias.data[before[5]] -= 200.0  # through .data: the counter does not move, the sum does
    again = _greedy_tokens(model)
    assert torch.equal(again, _greedy_tokens(model, fast=False))
    assert not (again[1:] == before[5]).any()


@pytest.mark.parametrize("streams, cell", [(3, "lstm"), (200, "lstm"), (3, "mogrifier")])
def test_labels_beside_every_token_match_the_model_step_by_step(tiny_model, streams, cell):
    """A model reading its label beside every token (label_inputs): the decoder follows the label each stream read
    last, a label id read mid-stream replaces it, and its state carries it out (and back in) as the model's does."""
    model = tiny_model(label_inputs=3, cell=cell)  # ids 27, 28, 29 are labels
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 27, (streams, 30), generator=generator)
    tokens[:, 0] = torch.randint(27, 30, (streams,), generator=generator)
    tokens[: streams // 2, 12] = 29  # half the streams change label mid-way
    with torch.no_grad():
        expected, final = model(tokens)
        decoder = (FastLSTMDecoder if cell == "lstm" else FastMogrifierDecoder)(model, streams)
        decoder.load_state(model.init_state(streams))
        for t in range(tokens.shape[1]):
            assert torch.allclose(decoder.step(tokens[:, t]), expected[:, t], atol=1e-5)
            if t == 15:  # out and back in: the label survives a state round trip
                state = decoder.state()
                decoder.load_state(state)
        for ours, theirs in zip(decoder.state(), final, strict=True):
            assert torch.allclose(ours, theirs, atol=1e-5)
        assert final[-1][0, : streams // 2, 0].eq(3).all()  # the last label read: 29 is label 2, row 3
        # The model itself: reading in two pieces carries the label across (the second piece has no label id).
        first, state = model(tokens[:, :20])
        second, _ = model(tokens[:, 20:], state)
        assert torch.allclose(torch.cat([first, second], 1), expected, atol=1e-5)
        # The label changes the prediction: the same text after another label reads differently.
        relabelled = tokens.clone()
        relabelled[:, 0] = torch.where(tokens[:, 0] == 27, 28, 27)
        assert not torch.allclose(model(relabelled)[0][:, 5], expected[:, 5], atol=1e-3)
