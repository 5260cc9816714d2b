import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmgen.evaluation import evaluate


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
