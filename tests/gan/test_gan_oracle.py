"""The oracle port: a hand-computed step of the authors' recurrence, and the oracle's NLL on its own samples."""

from __future__ import annotations

import numpy as np
import torch

from conftest import shared_file
from lstmgen.evaluation.measures import mean_and_error
from lstmgen.gan.oracle import ORACLE_ARRAYS, load_oracle, oracle_model, read_oracle_arrays
from lstmgen.gan.sequences import sample_sequences, sequence_nll


def reference_step(arrays: dict[str, np.ndarray], token: int, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the authors' recurrence in float64 NumPy: (logits, h, c) after feeding ``token``."""
    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    x = a["embedding"][token]
    i = sigmoid(x @ a["Wi"] + h @ a["Ui"] + a["bi"])
    f = sigmoid(x @ a["Wf"] + h @ a["Uf"] + a["bf"])
    o = sigmoid(x @ a["Wog"] + h @ a["Uog"] + a["bog"])
    g = np.tanh(x @ a["Wc"] + h @ a["Uc"] + a["bc"])
    c = f * c + i * g
    h = o * np.tanh(c)
    return h @ a["Wout"] + a["bout"], h, c


def _random_arrays(vocab=11, embedding=4, hidden=3, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"embedding": (vocab, embedding), "Wout": (hidden, vocab), "bout": (vocab,)}
    for gate in ("i", "f", "og", "c"):
        shapes.update({f"W{gate}": (embedding, hidden), f"U{gate}": (hidden, hidden), f"b{gate}": (hidden,)})
    return {name: rng.normal(size=shapes[name]).astype(np.float32) for name in ORACLE_ARRAYS}


def _check_steps(arrays, tokens):
    model = oracle_model(arrays)
    hidden = arrays["Ui"].shape[0]
    h, c = np.zeros(hidden), np.zeros(hidden)
    logits, _ = model(torch.tensor([tokens]))  # [1, T, V]
    for t, token in enumerate(tokens):
        expected, h, c = reference_step(arrays, token, h, c)
        np.testing.assert_allclose(logits[0, t].detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_port_matches_the_written_out_recurrence_on_random_weights():
    _check_steps(_random_arrays(), [0, 3, 7, 7, 1])


def test_port_of_a_single_step_by_hand():
    # V=2, E=H=1: one step from h = c = 0 can be done with a pencil.
    arrays = {name: np.zeros_like(v) for name, v in _random_arrays(vocab=2, embedding=1, hidden=1).items()}
    arrays["embedding"][:] = [[1.0], [0.0]]
    arrays["Wi"][:], arrays["Wf"][:], arrays["Wog"][:], arrays["Wc"][:] = 0.5, 9.0, -1.0, 2.0
    arrays["Wout"][:] = [[1.0, -1.0]]
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c = sigmoid(0.5) * np.tanh(2.0)  # f * 0 + i * g
    h = sigmoid(-1.0) * np.tanh(c)
    logits, _ = oracle_model(arrays)(torch.tensor([[0]]))
    np.testing.assert_allclose(logits[0, 0].detach().numpy(), [h, -h], rtol=1e-6)


def test_port_of_the_real_oracle():
    arrays = read_oracle_arrays(shared_file("seqgan-oracle", "oracle_params.npz"))
    _check_steps(arrays, [0, 4999, 12, 12, 300])


def test_oracle_nll_on_its_own_samples_is_about_5_75():
    oracle = load_oracle(shared_file("seqgan-oracle", "oracle_params.npz"))
    samples = sample_sequences(oracle, 1000, 20, generator=torch.Generator().manual_seed(0))
    mean, error = mean_and_error(sequence_nll(oracle, samples))
    assert abs(mean - 5.75) < 0.1, (mean, error)
