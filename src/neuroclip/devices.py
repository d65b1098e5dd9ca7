"""Which device a run uses: one place that turns ``--device`` into a torch device, or says why it cannot."""

from __future__ import annotations

import contextlib
import os

import torch

from neuroclip.errors import ConfigError


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(spec: str | torch.device | None = None) -> torch.device:
    """``spec`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``; None: :func:`default_device`) as a device this machine has,
    or a :class:`ConfigError` naming what is missing and what to pass instead."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "auto")):
        return default_device()
    try:
        device = torch.device(spec.strip() if isinstance(spec, str) else spec)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {spec!r}; use cpu, cuda, cuda:N (N-th GPU) or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(f"device {spec!r}: no CUDA GPU is visible to torch {torch.__version__} ({build}); "
                              "use --device cpu, or install a CUDA build of torch")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {spec!r}: this machine has {count} CUDA GPU(s), numbered 0..{count - 1}")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {spec!r}: Apple's MPS backend is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps", "meta"):
        raise ConfigError(f"device {spec!r} is not supported; use cpu, cuda, cuda:N or mps")
    return device


def fp16_autocast(enabled: bool, device: torch.device):
    """fp16 autocast on CUDA when ``enabled`` (what the released SpikeCLIP scripts train with, with a gradient
    scaler); a no-op context elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


MAX_DEFAULT_WORKERS = 16
# A worker packs a 640x480 recording of 1 M events in 5.4 ms (benchmarks/host_work.py: 43 ms per batch of 8, one
# core of our CPU machine; 7 ms with the DataLoader's hand-over), 140-185 recordings/s: feeding ViT-B-32 on an H100
# (1,172 such recordings/s, bf16, T = 10; results/gpu_paths_h100.json) takes 7 to 9 workers, more with real files to
# read. The cap bounds start-up and shared memory on hosts with many cores.


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (what taskset, cgroups cpusets and SLURM grant), not
    the machine's count; shared among the processes of this node under torchrun (``LOCAL_WORLD_SIZE``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local = 1
    return max(1, cores // local)


def default_workers(device: torch.device) -> int:
    """DataLoader workers when the user names none: on an accelerator, this process's usable cores less one (for
    the main process), at most 16; they only read and pack events, the frames are made on the device. On the CPU,
    0, because framing in the main process keeps the cores for the model."""
    if device.type == "cpu":
        return 0
    return max(0, min(MAX_DEFAULT_WORKERS, usable_cores() - 1))
