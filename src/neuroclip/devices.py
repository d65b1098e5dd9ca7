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


def default_workers(device: torch.device) -> int:
    """DataLoader workers when the user names none: on an accelerator, up to 8 of this machine's cores read (and
    there only read and stack events: the frames are made on the device); on the CPU, 0, because framing in the
    main process keeps the cores for the model."""
    if device.type == "cpu":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))
