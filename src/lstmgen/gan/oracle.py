"""The SeqGAN synthetic-data oracle, ported into an lstmgen ``RecurrentLanguageModel``.

The authors' oracle (``oracle_params.npz``, arrays stored ``x @ W`` as [in, out]) runs

    i = s(x Wi + h Ui + bi)   f = s(x Wf + h Uf + bf)   o = s(x Wog + h Uog + bog)   g = tanh(x Wc + h Uc + bc)
    c = f * c + i * g         h = o * tanh(c)           logits = h Wout + bout

``torch.nn.LSTM`` computes the same with gates stacked (i, f, g, o) and weights stored [out, in], so
weight_ih = cat([Wi, Wf, Wc, Wog], dim=1).T, weight_hh likewise from the U's, bias_ih the concatenated
biases and bias_hh zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import ModelConfig
from ..model import RecurrentLanguageModel
from ..tokenizers import WordTokenizer

ORACLE_ARRAYS = ("embedding", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wog", "Uog", "bog", "Wc", "Uc", "bc", "Wout", "bout")


def read_oracle_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        missing = [name for name in ORACLE_ARRAYS if name not in archive.files]
        if missing:
            raise ValueError(f"{path} is not a SeqGAN oracle: it lacks {', '.join(missing)}")
        return {name: archive[name].astype(np.float32) for name in ORACLE_ARRAYS}


def oracle_model(arrays: dict[str, np.ndarray]) -> RecurrentLanguageModel:
    """An lstmgen LSTM that computes exactly the oracle's recurrence."""
    vocab_size, embedding_size = arrays["embedding"].shape
    hidden_size = arrays["Ui"].shape[0]
    model = RecurrentLanguageModel(ModelConfig(vocab_size=vocab_size, embedding_size=embedding_size, hidden_size=hidden_size))
    tensor = lambda name: torch.from_numpy(arrays[name])  # noqa: E731
    with torch.no_grad():
        model.embedding.weight.copy_(tensor("embedding"))
        model.rnn.weight_ih_l0.copy_(torch.cat([tensor("Wi"), tensor("Wf"), tensor("Wc"), tensor("Wog")], dim=1).T)
        model.rnn.weight_hh_l0.copy_(torch.cat([tensor("Ui"), tensor("Uf"), tensor("Uc"), tensor("Uog")], dim=1).T)
        model.rnn.bias_ih_l0.copy_(torch.cat([tensor("bi"), tensor("bf"), tensor("bc"), tensor("bog")]))
        model.rnn.bias_hh_l0.zero_()
        model.output.weight.copy_(tensor("Wout").T)
        model.output.bias.copy_(tensor("bout"))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # the oracle is frozen
    return model


def load_oracle(path: str | Path) -> RecurrentLanguageModel:
    return oracle_model(read_oracle_arrays(path))


def oracle_tokenizer(vocab_size: int = 5000) -> WordTokenizer:
    """Ids have no text in the synthetic task: name them w1..w{V-1} (id 0, the start token, shows as <unk>)."""
    return WordTokenizer([f"w{i}" for i in range(1, vocab_size)])
