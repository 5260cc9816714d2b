"""Training precision: fp32, or mixed precision through ``torch.amp`` (bf16; fp16 with a gradient scaler).

    fp32   plain float32 everywhere (the default)
    bf16   autocast to bfloat16: on a CUDA GPU that supports it, and on CPUs with AVX-512 or AMX (fast where the
           CPU has AVX-512-BF16 or AMX: the LSTM and the matmuls run in bf16; measured in docs/benchmarks.md;
           refused on an AVX2-only CPU, where oneDNN has no bf16 kernels)
    fp16   autocast to float16 with a GradScaler (loss scaling, so small gradients do not flush to zero):
           CUDA only (cuDNN's LSTM runs it; PyTorch's CPU kernels have no fast fp16 path)

The weights, the optimizer and the loss stay float32; only the forward pass's matmuls and recurrences run in
the reduced type. Checkpoints are float32 whatever the precision, so they load anywhere.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from ..config import TRAINING_PRECISIONS, ConfigError
from ..system.runtime import cpu_runs_bf16

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_training_precision(name: str, device: torch.device) -> None:
    """Refuse, with what to use instead, a training precision this device cannot run (a ConfigError)."""
    if name not in TRAINING_PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(TRAINING_PRECISIONS)}, got {name!r}", "precision")
    if name == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision fp16 needs a CUDA GPU (the device is {device}); on a CPU use fp32, or bf16 where the CPU "
                          "has AVX-512 or AMX", "precision")
    if name == "bf16" and device.type == "cpu" and not cpu_runs_bf16():
        raise ConfigError("precision bf16 on a CPU needs AVX-512 (or AMX): PyTorch's CPU bf16 kernels (oneDNN's) cannot "
                          "run on this one (AVX2 only); use fp32", "precision")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU does not support bf16; use fp16 or fp32", "precision")
    if name != "fp32" and device.type == "mps":
        raise ConfigError("mixed precision on mps is not supported by lstmgen yet; use fp32", "precision")


class Precision:
    def __init__(self, name: str, device: torch.device) -> None:
        check_training_precision(name, device)
        self.name, self.device = name, device
        self.dtype = _DTYPES.get(name)
        self.scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Before clipping: the gradients in their true scale."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)  # skips the step when the scaled gradients overflowed
        self.scaler.update()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch to the device; to a GPU through pinned memory, without waiting for the copy."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
