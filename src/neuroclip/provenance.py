"""What produced a result: the versions every result file and checkpoint records, and the accuracy they report."""

from __future__ import annotations

import platform

import numpy as np
import torch


def versions() -> dict:
    """The package, torch and Python versions, as result files record them."""
    from neuroclip import __version__  # the package's __init__ imports the library; read it at call time

    # str(): torch's version is a TorchVersion, which weights-only checkpoint loading refuses to unpickle
    return {"neuroclip_version": __version__, "torch_version": str(torch.__version__),
            "python": platform.python_version()}


def hits(logits: torch.Tensor, labels, k: int = 1) -> torch.Tensor:
    """Per row, whether its label is among the ``k`` largest logits (``k`` is capped at the number of classes)."""
    labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    k = min(k, logits.shape[-1])
    return (logits.topk(k, dim=-1).indices == labels.to(logits.device).view(-1, 1)).any(dim=-1)


def accuracy(logits: torch.Tensor, labels, k: int = 1) -> float:
    """Top-``k`` accuracy: the share of rows whose label is among the ``k`` largest logits (``k`` is capped at the
    number of classes). An exact ratio of counts: a float32 mean would print 0.8999999761581421 for 0.9."""
    hit = hits(logits, labels, k)
    if hit.numel() == 0:
        return float("nan")
    return int(hit.sum()) / hit.numel()
