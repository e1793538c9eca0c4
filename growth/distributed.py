"""One run on several processes: DistributedDataParallel inside :func:`growth.train`, growth included.

Launch with ``torchrun --nproc-per-node N -m growth run RECIPE ...`` (the CLI starts the process group:
gloo on CPUs, NCCL on GPUs, one GPU per process), or start the group yourself before calling
:func:`growth.train`; with one process nothing changes.

How a run is split (:class:`Distributed`):

* **Data.** Every process draws the same global batches (same seed, same shuffle, same augmentation) and
  trains on its slice ``batch[rank::world]``: ``batch_size`` is the global batch, each process computes
  ``batch_size / world`` of it (it must divide).  Gradients are averaged by DDP, so the step is the
  single-process step on the whole batch, up to BatchNorm (statistics per slice, unless ``sync_bn``) and
  the order of floating-point sums.
* **Metrics** (training loss, accuracy, samples) are summed over the processes before they are recorded;
  every process evaluates the whole test split with the same weights, so every process holds the same
  History and every trigger takes the same decision.
* **Growth** runs in every process on the unwrapped model, with the same seeds and data, so the processes
  grow alike; the model is then wrapped anew (DDP broadcasts rank 0's weights and buffers), the
  optimizer rebuilt with its carried state, and the processes check that they took the same growth
  event (a mismatch raises).
* **Files.** Only rank 0 writes the History and the checkpoints; on resume every process reads rank 0's
  checkpoint.
* **BatchNorm** is per process by default; ``sync_bn=True`` (``GROWTH_SYNC_BN=1`` from the CLI) makes it
  synchronised for the steps, the model keeping its plain BatchNorms for growth, evaluation and files
  (on GPUs: torch's SyncBatchNorm has no CPU kernel).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Distributed", "current", "init_from_environment"]

SYNC_BN_ENV = "GROWTH_SYNC_BN"


def init_from_environment() -> bool:
    """Start the process group from torchrun's environment (``WORLD_SIZE`` > 1); True if one was started."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def current(sync_bn: bool | None = None) -> "Distributed | None":
    """The running process group as a :class:`Distributed` (None for a single process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    if sync_bn is None:
        sync_bn = os.environ.get(SYNC_BN_ENV, "").strip().lower() in {"1", "true", "yes"}
    return Distributed(rank=dist.get_rank(), world=dist.get_world_size(), sync_bn=sync_bn)


def _swap_norms(module: nn.Module, to_sync: bool) -> None:
    """Replace BatchNorm2d by SyncBatchNorm (or back), in place, sharing the parameters and buffers."""
    for name, child in module.named_children():
        plain = type(child) is nn.BatchNorm2d
        synced = isinstance(child, nn.SyncBatchNorm)
        if (to_sync and plain) or (not to_sync and synced):
            cls = nn.SyncBatchNorm if to_sync else nn.BatchNorm2d
            new = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            _swap_norms(child, to_sync)


@dataclass
class Distributed:
    """This process's place in the group; see the module docstring."""

    rank: int
    world: int
    sync_bn: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ValueError(f"batch_size={batch_size} is the global batch and must divide among {self.world} "
                             f"processes: use a multiple of {self.world}")

    def device(self, device: torch.device) -> torch.device:
        """A GPU per process (its local rank); the CPU stays the CPU (without ``sync_bn``: torch synchronises
        BatchNorm on GPUs only)."""
        if self.sync_bn and device.type != "cuda":
            raise ValueError(f"sync_bn=True needs GPUs (torch's SyncBatchNorm runs on CUDA only), the device is "
                             f"{device}: unset {SYNC_BN_ENV}, or run on GPUs")
        if device.type == "cuda":
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.rank)) % torch.cuda.device_count())
        return device

    def shard(self, loader: Iterable) -> Iterator:
        """This process's slice of every global batch."""
        for x, y in loader:
            yield x[self.rank::self.world], y[self.rank::self.world]

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model the steps run through: DDP (rank 0's weights broadcast), synchronised BN if asked."""
        if self.sync_bn:
            _swap_norms(model, to_sync=True)
        device = next(model.parameters()).device
        device_ids = [device.index] if device.type == "cuda" else None
        # a model holding several networks (a template net's members) computes with some of its parameters only
        partial = bool(getattr(model, "views", None) and model.views())
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=partial)

    def unwrap(self, wrapped: nn.Module) -> nn.Module:
        """The plain model again (growth, evaluation and files see BatchNorm2d)."""
        model = wrapped.module
        if self.sync_bn:
            _swap_norms(model, to_sync=False)
        return model

    def sum(self, *values: torch.Tensor) -> list[torch.Tensor]:
        """Every value summed over the processes (float64 on the CPU, so the sums are exact for counts)."""
        stacked = torch.stack([v.detach().to("cpu", torch.float64).reshape(()) for v in values])
        if dist.get_backend() == "nccl":
            stacked = stacked.cuda()
        dist.all_reduce(stacked)
        return list(stacked.cpu().unbind())

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, in every process (a choice that must not differ, such as a measured layout)."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def first_bad(self, step: int) -> int:
        """The earliest of the processes' first non-finite steps (-1: none had one)."""
        none = 2**62
        value = torch.tensor(step if step >= 0 else none, dtype=torch.int64)
        if dist.get_backend() == "nccl":
            value = value.cuda()
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return -1 if int(value) == none else int(value)

    def same(self, what: str, value: Any) -> None:
        """Raise if ``value`` differs between the processes (e.g. a growth event)."""
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        if any(v != values[0] for v in values):
            raise RuntimeError(f"the processes disagree on {what}: {values}; growth must be deterministic "
                               "(same seeds, same data) in every process")
