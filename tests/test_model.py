from dataclasses import replace

import pytest
import torch

from lstmgen.config import ConfigError, ModelConfig
from lstmgen.model import RecurrentLanguageModel


@pytest.mark.parametrize("cell, count", [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_shapes_and_state(tiny_model, cell, count):
    model = tiny_model(vocab_size=11, cell=cell, embedding_size=8, hidden_size=12)
    state = model.init_state(3)
    assert len(state) == count and all(s.shape == (2, 3, 12) for s in state)
    logits, new_state = model(torch.randint(0, 11, (3, 5)), state)
    assert logits.shape == (3, 5, 11)
    assert all(s.shape == (2, 3, 12) for s in new_state)


def test_state_carries_the_sequence(tiny_model):
    model = tiny_model(vocab_size=7, embedding_size=4, hidden_size=8)
    tokens = torch.randint(0, 7, (2, 10))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_weight_tying(tiny_model):
    model = tiny_model(vocab_size=9, hidden_size=16, tie_weights=True)
    assert model.output.weight is model.embedding.weight
    with pytest.raises(ConfigError, match="embedding_size == hidden_size"):
        ModelConfig(vocab_size=9, embedding_size=8, hidden_size=16, tie_weights=True)


def test_evaluation_mode_restores_the_module_however_it_ends(tiny_model):
    from lstmgen.model import evaluation_mode

    model = tiny_model(dropout=0.5)
    model.train()
    with pytest.raises(RuntimeError):
        with evaluation_mode(model):
            assert not model.training and torch.is_inference_mode_enabled()
            raise RuntimeError("a failure inside")
    assert model.training and not torch.is_inference_mode_enabled()
    with evaluation_mode(model, inference=False):
        assert not torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weight_dropout_masks_the_recurrent_weights_in_training_only(tiny_model, cell):
    model = tiny_model(vocab_size=9, cell=cell, embedding_size=6, hidden_size=10, weight_dropout=0.5)
    plain = tiny_model(vocab_size=9, cell=cell, embedding_size=6, hidden_size=10)
    plain.load_state_dict(model.state_dict())
    tokens = torch.randint(0, 9, (3, 7))
    model.train(), plain.train()
    torch.manual_seed(1)
    first, _ = model(tokens)
    second, _ = model(tokens)
    assert not torch.allclose(first, second)  # a new mask each window
    assert not torch.allclose(first, plain(tokens)[0])
    first.sum().backward()  # the gradient reaches the raw weights through the mask
    assert all(getattr(model.rnn, f"weight_hh_l{layer}").grad.abs().sum() > 0 for layer in range(2))
    model.eval(), plain.eval()
    assert torch.equal(model(tokens)[0], plain(tokens)[0])  # eval reads the raw weights: no mask, no scaling
    assert model.rnn.weight_hh_l0 is model.rnn._flat_weights[model.rnn._flat_weights_names.index("weight_hh_l0")]


def test_weight_dropout_is_checked():
    with pytest.raises(ConfigError, match="weight_dropout"):
        ModelConfig(vocab_size=9, weight_dropout=1.0)


def test_input_dropout_drops_embedded_inputs_in_training_only():
    config = ModelConfig(vocab_size=9, embedding_size=6, hidden_size=10, num_layers=1, input_dropout=0.5)
    torch.manual_seed(0)
    model, plain = RecurrentLanguageModel(config), RecurrentLanguageModel(replace(config, input_dropout=0.0))
    plain.load_state_dict(model.state_dict())  # no weights of its own: the same checkpoint serves both
    tokens = torch.randint(0, 9, (3, 7))
    model.train(), plain.train()
    assert not torch.allclose(model(tokens)[0], plain(tokens)[0])
    model.eval(), plain.eval()
    assert torch.equal(model(tokens)[0], plain(tokens)[0])
    assert "input_dropout" not in plain.config.to_dict() and model.config.to_dict()["input_dropout"] == 0.5
    with pytest.raises(ConfigError, match="input_dropout"):
        ModelConfig(vocab_size=9, input_dropout=1.0)
