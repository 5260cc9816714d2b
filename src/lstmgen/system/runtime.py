"""Where computation runs: device choice, CPU thread count and the CPU's feature flags.

Measured on 2-core machines: when another process holds one of the cores, a 2-thread PyTorch run can
be 10-100x slower than a 1-thread one, because every parallel region waits for the busy core. So the
automatic thread count uses only the cores that are free right now (measured over a quarter second),
and users can always set it themselves (``--threads``). torch is imported inside the functions that need
it, so the server's limits (and ``lstmgen serve --help``) can count cores without it.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _busy_cores(interval: float = 0.25) -> float | None:
    """How many cores other processes kept busy over the last ``interval`` seconds (Linux /proc/stat).

    Sampled now rather than the 1-minute load average, which lags minutes behind after a busy period.
    """
    def read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total_before, idle_before = read()
        time.sleep(interval)
        total_after, idle_after = read()
    except (OSError, ValueError, IndexError):
        return None
    total = total_after - total_before
    if total <= 0:
        return None
    cores = os.cpu_count() or 1
    return cores * (1 - (idle_after - idle_before) / total)


def automatic_threads() -> int:
    """Cores not already busy with other work, at least 1."""
    cores = available_cores()
    busy = _busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            busy = 0.0
    return max(1, min(cores, cores - int(round(busy))))


def set_threads(threads: int = 0) -> int:
    """Set PyTorch's intra-op thread count (0 = automatic) and return it."""
    import torch

    count = threads if threads > 0 else automatic_threads()
    torch.set_num_threads(count)
    return count


def resolve_device(device: str = "auto", local_rank: int = 0) -> "torch.device":
    """auto (a CUDA GPU if PyTorch sees one, else mps on Apple silicon, else the CPU), cpu, cuda[:N] or mps.

    Under torchrun, ``cuda`` means this process's GPU: cuda:LOCAL_RANK.
    """
    import torch

    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise ValueError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps is not None and mps.is_available())
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for, but PyTorch sees no CUDA GPU; use --device cpu")
        if device == "cuda":
            device = f"cuda:{local_rank}"
    if device == "mps" and not mps_available:
        raise ValueError("device 'mps' was asked for, but this PyTorch has no Metal (mps) backend here (it needs Apple "
                         "silicon and macOS); use --device cpu")
    return torch.device(device)


def generation_threads(num_samples: int, threads: int = 0) -> int:
    """One-token steps of a few streams are too small to split across threads; a batch of many is not."""
    if threads > 0:
        return set_threads(threads)
    return set_threads(1 if num_samples <= 4 else 0)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_summary() -> str:
    """The flags that decide decoding speed, for benchmark reports: e.g. 'avx2 avx512f avx512_bf16 avx512_vnni'."""
    wanted = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
              "asimd", "bf16", "i8mm")
    present = [flag for flag in wanted if flag in cpu_flags()]
    return " ".join(present) or "unknown"


def cpu_runs_bf16() -> bool:
    """Whether PyTorch's CPU bf16 kernels (oneDNN's) run here at all: on x86 they need AVX-512 (BW, VL and DQ; emulated
    without AVX-512-BF16, native with it), AVX-NE-CONVERT or AMX; an AVX2-only CPU fails to build even an LSTM.
    Other architectures (and a CPU whose flags cannot be read) are not refused."""
    flags = cpu_flags()
    if not flags or not ({"avx2", "sse2"} & flags):  # not an x86 CPU, or flags unknown
        return True
    return {"avx512bw", "avx512vl", "avx512dq"} <= flags or bool({"avx_ne_convert", "amx_bf16"} & flags)


def machine_record(threads: int | None = None) -> dict:
    """What a benchmark's JSON says about where it ran: the CPU (model name and the flags of ``cpu_summary``),
    its cores (all, and those this process may use), the torch threads (``threads``, else PyTorch's count now),
    the 1/5/15-minute load averages at the call (benchmarks call it when they print: the load at the end),
    and the Python, PyTorch and platform versions. Fields that cannot be read here are None."""
    import torch

    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):  # not on Unix
        load = None
    return {"cpu": model, "architecture": platform.machine(), "cores": os.cpu_count(), "cores_available": available_cores(),
            "threads": threads or torch.get_num_threads(), "cpu_flags": cpu_summary(), "load_average": load,
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}
