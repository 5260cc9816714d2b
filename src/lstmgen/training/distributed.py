"""Several processes (and machines) through ``torchrun`` and plain ``torch.distributed``: no home-made engine.

    torchrun --nproc-per-node 2 -m lstmgen train corpus.txt --batch-size 32          # one machine, 2 processes
    torchrun --nnodes 2 --node-rank 0 --master-addr HOST --nproc-per-node 4 -m lstmgen train ...   # machine 0 of 2

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; ``World.from_environment``
joins the process group (gloo on a CPU, NCCL on CUDA) with a timeout, so a stalled or dead rank ends the job
with an error instead of a hang. How training stays exact (docs/distributed.md):

* rank r owns streams [r B/W, (r+1) B/W) of the global batch B (B must divide by W) and carries their state;
  each rank's loss is the mean over its equal share of tokens, so DDP's averaged gradient is the gradient of
  the global mean, and every rank clips and steps the same way;
* the learning rate, the stream resets and the stopping decision are the same on every rank (the elapsed
  time and the stop requests are shared by one small all-reduce per step);
* validation is sharded by rows and the sums (NLL, token counts) are all-reduced: the exact full pass;
* rank 0 alone logs, samples and writes checkpoints, after gathering every rank's streams' state, so a run
  resumes at the same or another world size.

Only tensors cross between processes (no pickled objects: a process group is not an authenticated channel).
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist

from ..config import ConfigError

DEFAULT_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; World() is a single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: torch.device, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> "World":
        """The world torchrun describes in the environment (joining its process group), or a single process."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        world = cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")),
                    int(os.environ.get("LOCAL_WORLD_SIZE", str(size))))
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds))
        return world

    def rows(self, batch_size: int) -> tuple[int, int]:
        """This rank's streams [first, last) of the global batch."""
        if batch_size % self.size:
            raise ConfigError(f"the batch of {batch_size} streams cannot be shared by {self.size} processes; use a batch size "
                              f"divisible by {self.size} (e.g. {batch_size - batch_size % self.size or self.size})", "batch_size")
        share = batch_size // self.size
        return self.rank * share, (self.rank + 1) * share

    # ----- collectives (no-ops for a single process) ---------------------------------------------------------
    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over the ranks, in float64."""
        return self._reduce(values, "SUM")

    def max(self, values: Sequence[float]) -> list[float]:
        """Element-wise maximum over the ranks (shared elapsed time, stop requests)."""
        return self._reduce(values, "MAX")

    def _reduce(self, values: Sequence[float], operation: str) -> list[float]:
        if not self.active:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(tensor, op=getattr(dist.ReduceOp, operation))
        return tensor.tolist()

    def gather_rows(self, tensor: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Every rank's rows of ``tensor`` (on the CPU), concatenated along ``dim`` in rank order."""
        if not self.active:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def close(world: World, finished: bool = False) -> None:
    """Leave the process group. ``finished`` (the run ended without an error on this rank): wait for every rank
    first, so none tears its connections down while another is still writing (rank 0's last checkpoint) or
    talking; a rank that destroys early can make a peer's gloo threads abort it at exit (seen across two
    "machines": SIGABRT on one node, the other node's torchrun then waiting for it at its exit barrier).

    The finished trainer is first collected: it sits in a reference cycle, and in a torchrun job it holds the DDP
    wrapper, whose reducer holds the process group, so ``destroy_process_group`` alone only drops the registry's
    reference. Left to the cyclic collector, the group could be destroyed during interpreter shutdown, where
    gloo's threads sometimes abort the rank ("terminate called without an active exception", SIGABRT, after
    a run that had finished: seen once in CI)."""
    gc.collect()
    if world.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
