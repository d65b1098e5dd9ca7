"""This process's place in a ``torchrun`` job, shared by feature extraction and SpikeCLIP training: join the job the
environment describes, split batches across the processes, sum across them, wait for the others. Without torchrun
everything runs as rank 0 of 1."""

from __future__ import annotations

import dataclasses
import math
import os

import torch

from neuroclip.devices import resolve_device


@dataclasses.dataclass
class Processes:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            moved = tensor.to(self.device)
            torch.distributed.all_reduce(moved)
            return moved.to(tensor.device)
        return tensor

    def close(self):
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def join_processes(device: str | torch.device | None = None) -> Processes:
    """Join the torchrun job described by the environment (WORLD_SIZE, RANK, LOCAL_RANK), if any, on ``device``
    (``cuda`` means this rank's GPU, ``cuda:LOCAL_RANK``); without torchrun, rank 0 of 1 on ``device``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
        owns = True
    return Processes(rank, world, local_rank, chosen, owns)


def current_processes() -> Processes:
    """This process's place in an already joined job (rank 0 of 1 when there is none); the device is the CPU."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return Processes(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                         int(os.environ.get("LOCAL_RANK", "0")))
    return Processes()


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, processes_: Processes, shuffle: bool = True,
                  drop_last: bool = False) -> list[list[int]]:
    """This process's batches of an epoch: a permutation drawn from (seed, epoch), cut into global batches of
    ``batch_size * world`` of which each process takes its slice. With several processes a last partial batch is
    padded by wrapping around (as DistributedSampler pads), so every process runs the same number of steps."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    world, rank = processes_.world, processes_.rank
    global_size = batch_size * world
    batches = []
    for start in range(0, n, global_size):
        chunk = order[start:start + global_size]
        if len(chunk) < global_size:
            if drop_last:
                break
            if world > 1:
                per_rank = math.ceil(len(chunk) / world)
                chunk = (chunk * (per_rank * world // len(chunk) + 1))[:per_rank * world]
                batches.append(chunk[rank * per_rank:(rank + 1) * per_rank])
                continue
        batches.append(chunk[rank * batch_size:(rank + 1) * batch_size])
    return batches


class _FixedBatches(torch.utils.data.Sampler):
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def batch_loader(dataset, batches: list[list[int]], workers: int, device: torch.device):
    """A DataLoader over ``dataset`` that yields exactly ``batches`` (lists of indices), in order."""
    return torch.utils.data.DataLoader(dataset, batch_sampler=_FixedBatches(batches), num_workers=workers,
                                       pin_memory=device.type == "cuda")


def to_device(value, device: torch.device):
    """A tensor, or the tensors of a list/tuple, moved to ``device`` (anything else as is)."""
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
