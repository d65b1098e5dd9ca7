"""A tiny CLIP whose weights come from numpy's seeded generator, so they are the same on every machine and torch
version (torch's own initialisers may change between releases)."""

from __future__ import annotations

import math

import numpy as np
import torch

from neuroclip.clip import load_backbone


def seeded_tiny_clip(seed: int = 0, architecture: str = "neuroclip-tiny-vit"):
    backbone = load_backbone(architecture, None, device="cpu")
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, parameter in sorted(backbone.model.named_parameters()):
            shape = tuple(parameter.shape)
            if name == "logit_scale":
                values = np.full(shape, math.log(100.0))
            elif parameter.ndim == 1 and name.endswith("weight"):  # normalisation scales
                values = 1.0 + 0.1 * rng.standard_normal(shape)
            elif parameter.ndim <= 1:
                values = 0.02 * rng.standard_normal(shape)
            else:
                fan_in = int(np.prod(shape[1:])) if parameter.ndim > 1 else shape[0]
                values = rng.standard_normal(shape) / math.sqrt(fan_in)
            parameter.copy_(torch.from_numpy(values.astype(np.float32)))
    return backbone
