"""Optimizers by name, over parameter groups that decay weight matrices only; shared by training and SeqGAN."""

from __future__ import annotations

from typing import Any, Callable

import torch

Groups = list[dict[str, Any]]

OPTIMIZERS: dict[str, Callable[[Groups, float], torch.optim.Optimizer]] = {
    "adamw": lambda groups, rate: torch.optim.AdamW(groups, lr=rate),
    "adam": lambda groups, rate: torch.optim.Adam(groups, lr=rate),
    # alpha 0.9 is Keras's RMSprop rho (PyTorch's default is 0.99); the Keras preset relies on it.
    "rmsprop": lambda groups, rate: torch.optim.RMSprop(groups, lr=rate, alpha=0.9, eps=1e-7),
    "sgd": lambda groups, rate: torch.optim.SGD(groups, lr=rate),
}


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> Groups:
    """Decay weight matrices only: biases and the embedding table are left alone, as is usual."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and not name.startswith("embedding") else plain).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def make_optimizer(name: str, model: torch.nn.Module, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer ``name`` (adamw, adam, rmsprop, sgd) over ``model``'s parameter groups."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](parameter_groups(model, weight_decay), learning_rate)
