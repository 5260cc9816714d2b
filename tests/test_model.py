import pytest
import torch

from lstmgen.config import ConfigError, ModelConfig
from lstmgen.model import RecurrentLanguageModel


@pytest.mark.parametrize("cell, count", [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_shapes_and_state(cell, count):
    model = RecurrentLanguageModel(ModelConfig(vocab_size=11, cell=cell, embedding_size=8, hidden_size=12, num_layers=2))
    state = model.init_state(3)
    assert len(state) == count and all(s.shape == (2, 3, 12) for s in state)
    logits, new_state = model(torch.randint(0, 11, (3, 5)), state)
    assert logits.shape == (3, 5, 11)
    assert all(s.shape == (2, 3, 12) for s in new_state)


def test_state_carries_the_sequence():
    torch.manual_seed(0)
    model = RecurrentLanguageModel(ModelConfig(vocab_size=7, embedding_size=4, hidden_size=8, num_layers=2)).eval()
    tokens = torch.randint(0, 7, (2, 10))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_weight_tying():
    model = RecurrentLanguageModel(ModelConfig(vocab_size=9, embedding_size=16, hidden_size=16, tie_weights=True))
    assert model.output.weight is model.embedding.weight
    with pytest.raises(ConfigError, match="embedding_size == hidden_size"):
        ModelConfig(vocab_size=9, embedding_size=8, hidden_size=16, tie_weights=True)


@pytest.mark.parametrize("values, message", [
    (dict(vocab_size=1), "vocab_size"), (dict(vocab_size=5, cell="transformer"), "cell must be one of"),
    (dict(vocab_size=5, dropout=1.0), "dropout"), (dict(vocab_size=5, num_layers=0), "num_layers"),
])
def test_impossible_model_configs(values, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**values)
