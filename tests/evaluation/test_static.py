import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmgen.evaluation.static import evaluate


def test_full_pass_matches_a_direct_computation(tiny_model):
    model, tokens = tiny_model(vocab_size=9, embedding_size=8, hidden_size=16), np.random.default_rng(0).integers(0, 9, 300)
    with torch.no_grad():
        logits, _ = model.eval()(torch.from_numpy(tokens[None, :-1]))
        direct = F.cross_entropy(logits[0], torch.from_numpy(tokens[1:])).item()
    report = evaluate(model, tokens, batch_size=1, seq_length=37)
    assert report.tokens == 299
    assert report.nats == pytest.approx(direct, rel=1e-5)
    # Chunks scored side by side, each warmed up on the whole text before it, give the same figure.
    assert evaluate(model, tokens, batch_size=5, seq_length=20, warmup=300).nats == pytest.approx(direct, rel=1e-5)


class _PlainModel(torch.nn.Module):
    """The model contract alone (``forward(tokens, state)``, ``init_state``, an ``output`` layer): no ``config``,
    as the baseline loops in benchmarks/ score their own models."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, 8)
        self.rnn = torch.nn.LSTM(8, 16, batch_first=True)
        self.output = torch.nn.Linear(16, vocab)

    def init_state(self, batch: int, device="cpu"):
        return torch.zeros(1, batch, 16, device=device), torch.zeros(1, batch, 16, device=device)

    def forward(self, tokens, state):
        hidden, state = self.rnn(self.embedding(tokens), state)
        return self.output(hidden), state


def test_a_model_with_the_contract_alone_is_scored_and_its_cold_start_measured():
    torch.manual_seed(0)
    model, tokens = _PlainModel(9), np.random.default_rng(1).integers(0, 9, 300)
    with torch.no_grad():
        logits, _ = model.eval()(torch.from_numpy(tokens[None, :-1]), model.init_state(1))
        direct = F.cross_entropy(logits[0], torch.from_numpy(tokens[1:])).item()
    report = evaluate(model, tokens, batch_size=3, seq_length=25, warmup=300, cold_start_positions=[10, 120])
    assert report.nats == pytest.approx(direct, rel=1e-5)
    assert report.cold_start is not None and report.cold_start.fresh_nats > 0
