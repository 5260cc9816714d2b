"""lstmgen.model.mogrifier: the Mogrifier LSTM cell (--cell mogrifier) computes the paper's equations and trains."""

import pytest
import torch
import torch.nn.functional as F

from lstmgen import load_checkpoint, save_checkpoint
from lstmgen.config import ConfigError, ModelConfig
from lstmgen.model.mogrifier import MogrifierLSTM, mogrifier_multiply_adds
from lstmgen.tokenizers import CharTokenizer


def _paper(rnn: MogrifierLSTM, inputs: torch.Tensor, state) -> torch.Tensor:
    """The paper's equations written out, one layer after another (no folded factors, no fused products)."""
    h_all, c_all = state
    outputs = inputs
    for layer in range(rnn.num_layers):
        h, c = h_all[layer], c_all[layer]
        steps = []
        for x in outputs.unbind(1):
            for round_ in range(1, rnn.rounds + 1):
                name = f"mogrify_l{layer}_{round_}"
                matrix = (getattr(rnn, name + "_left") @ getattr(rnn, name + "_right")) if hasattr(rnn, name + "_left") else getattr(rnn, name)
                if round_ % 2:
                    x = 2 * torch.sigmoid(h @ matrix.t()) * x  # x = 2 sigmoid(Q h) x
                else:
                    h = 2 * torch.sigmoid(x @ matrix.t()) * h  # h = 2 sigmoid(R x) h
            gates = (x @ getattr(rnn, f"weight_ih_l{layer}").t() + getattr(rnn, f"bias_ih_l{layer}")
                     + h @ getattr(rnn, f"weight_hh_l{layer}").t() + getattr(rnn, f"bias_hh_l{layer}"))
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            steps.append(h)
        outputs = torch.stack(steps, 1)
    return outputs


@pytest.mark.parametrize("layers, rounds, rank", [(1, 5, 0), (2, 5, 0), (2, 4, 3), (2, 6, 7), (1, 1, 0)])
def test_the_cell_computes_the_papers_equations(tiny_model, layers, rounds, rank):
    model = tiny_model(vocab_size=11, cell="mogrifier", embedding_size=8, hidden_size=12, num_layers=layers,
                       mogrifier_rounds=rounds, mogrifier_rank=rank)
    tokens = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(0))
    state = tuple(torch.randn(s.shape, generator=torch.Generator().manual_seed(1)) * 0.5 for s in model.init_state(3))
    with torch.no_grad():
        embedded = model.embedding(tokens)
        outputs, (h, c) = model.rnn(embedded, state)
        expected = _paper(model.rnn, embedded, state)
    assert outputs.shape == (3, 7, 12) and h.shape == c.shape == (layers, 3, 12)
    assert torch.allclose(outputs, expected, atol=1e-6)
    assert torch.allclose(h[-1], outputs[:, -1])
    logits, new_state = model(tokens, state)
    assert logits.shape == (3, 7, 11) and len(new_state) == 2


def test_zero_rounds_is_pytorchs_lstm(tiny_model):
    mogrifier = tiny_model(vocab_size=9, cell="mogrifier", embedding_size=6, hidden_size=10, mogrifier_rounds=0)
    lstm = tiny_model(vocab_size=9, cell="lstm", embedding_size=6, hidden_size=10)
    lstm.load_state_dict(mogrifier.state_dict())  # the LSTM part has nn.LSTM's parameter names and layout
    tokens = torch.randint(0, 9, (2, 8))
    with torch.no_grad():
        ours, (h, c) = mogrifier(tokens)
        theirs, (h_lstm, c_lstm) = lstm(tokens)
    assert torch.allclose(ours, theirs, atol=1e-5) and torch.allclose(c, c_lstm, atol=1e-5)


def test_the_rank_factorises_the_gating_matrices(tiny_model):
    full = tiny_model(cell="mogrifier", embedding_size=16, hidden_size=24)
    low = tiny_model(cell="mogrifier", embedding_size=16, hidden_size=24, mogrifier_rank=4)
    shapes = dict((name, tuple(p.shape)) for name, p in low.rnn.named_parameters())
    assert shapes["mogrify_l0_1_left"] == (16, 4) and shapes["mogrify_l0_1_right"] == (4, 24)  # Q [In, H] = [In, k] [k, H]
    assert shapes["mogrify_l0_2_left"] == (24, 4) and shapes["mogrify_l0_2_right"] == (4, 16)  # R [H, In]
    assert low.num_parameters() < full.num_parameters()
    # A rank-4 pair costs fewer multiply-adds per step than the full 16 x 24 matrix; a rank-20 one would not (multiplied out).
    assert mogrifier_multiply_adds(16, 24, 5, 4) == 5 * 4 * 40 < mogrifier_multiply_adds(16, 24, 5, 0) == 5 * 16 * 24
    assert mogrifier_multiply_adds(16, 24, 5, 15) == mogrifier_multiply_adds(16, 24, 5, 0)


def test_training_lowers_the_loss(tiny_model):
    model = tiny_model(vocab_size=7, cell="mogrifier", embedding_size=8, hidden_size=16, num_layers=2, dropout=0.1, weight_dropout=0.2)
    model.train()
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5, 6] * 4, [6, 5, 4, 3, 2, 1, 0] * 4])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        logits, _ = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 7), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for name, p in model.named_parameters() if "mogrify" in name)
    assert losses[-1] < 0.5 * losses[0]


def test_weight_dropout_masks_the_recurrent_weights_in_training_only(tiny_model):
    model = tiny_model(vocab_size=9, cell="mogrifier", embedding_size=6, hidden_size=10, weight_dropout=0.5)
    plain = tiny_model(vocab_size=9, cell="mogrifier", embedding_size=6, hidden_size=10)
    plain.load_state_dict(model.state_dict())
    tokens = torch.randint(0, 9, (3, 7))
    model.train(), plain.train()
    torch.manual_seed(1)
    first, _ = model(tokens)
    assert not torch.allclose(first, model(tokens)[0]) and not torch.allclose(first, plain(tokens)[0])  # a new mask each window
    first.sum().backward()
    assert all(getattr(model.rnn, f"weight_hh_l{layer}").grad.abs().sum() > 0 for layer in range(2))
    model.eval(), plain.eval()
    assert torch.equal(model(tokens)[0], plain(tokens)[0])


def test_checkpoint_round_trip_keeps_the_cells_settings(tmp_path, tiny_model):
    model = tiny_model(vocab_size=6, cell="mogrifier", embedding_size=8, hidden_size=16, mogrifier_rounds=3, mogrifier_rank=2)
    save_checkpoint(tmp_path / "ckpt", model, CharTokenizer.fit("abcde"))
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.model.config == model.config and loaded.model.config.mogrifier_rounds == 3
    tokens = torch.randint(0, 6, (2, 9))
    assert torch.equal(model(tokens)[0], loaded.model.eval()(tokens)[0])


def test_the_cells_knobs_are_checked():
    with pytest.raises(ConfigError, match="mogrifier_rounds applies to the mogrifier cell only"):
        ModelConfig(vocab_size=9, mogrifier_rounds=3)
    with pytest.raises(ConfigError, match="mogrifier_rank must be"):
        ModelConfig(vocab_size=9, cell="mogrifier", mogrifier_rank=-1)
    assert "mogrifier_rounds" not in ModelConfig(vocab_size=9).to_dict()  # other cells' configs read as before
    assert ModelConfig(vocab_size=9, cell="mogrifier", mogrifier_rounds=2).to_dict()["mogrifier_rounds"] == 2
    with pytest.raises(ValueError, match="batch_first"):
        MogrifierLSTM(4, 8, batch_first=False)


def test_dynamic_evaluation_adapts_a_copy(tiny_model):
    from lstmgen import LanguageModel
    from lstmgen.evaluation.dynamic import DynamicEvaluation

    text = "zebra quilts vex jumpy wizards; " * 20
    tokenizer = CharTokenizer.fit(text)
    lm = LanguageModel(tiny_model(vocab_size=tokenizer.vocab_size, cell="mogrifier", num_layers=1), tokenizer)
    before = [parameter.detach().clone() for parameter in lm.model.parameters()]
    static = lm.evaluate(text)
    dynamic = lm.evaluate(text, dynamic=DynamicEvaluation(learning_rate=1e-2, decay=0.0, segment_length=20, streams=1))
    assert dynamic.nats < 0.9 * static.nats, (dynamic.nats, static.nats)
    assert all(torch.equal(a, b) for a, b in zip(before, lm.model.parameters()))
