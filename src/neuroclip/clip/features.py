"""From event streams to per-frame CLIP features with a backbone's image tower (recording -> CLIP input is
:mod:`neuroclip.frames.clip_input`; its names are importable from here as well)."""

from __future__ import annotations

import torch

from neuroclip.errors import ConfigError
from neuroclip.frames.clip_input import FrameConfig, clip_frames

__all__ = ["FrameConfig", "clip_frames", "frame_features"]


def frame_features(streams, backbone, config: FrameConfig = FrameConfig(), batch_size: int = 16) -> torch.Tensor:
    """Raw per-frame CLIP image features [N, T, C] of N recordings, ``batch_size`` recordings at a time."""
    streams = list(streams)
    outputs = []
    for start in range(0, len(streams), batch_size):
        images = torch.stack([clip_frames(s, config, backbone.image_size, mean=backbone.image_mean,
                                          std=backbone.image_std) for s in streams[start:start + batch_size]])
        features = backbone.encode_images(images.flatten(0, 1))
        outputs.append(features.reshape(images.shape[0], images.shape[1], -1).cpu())
    if not outputs:
        raise ConfigError("no recordings to encode")
    return torch.cat(outputs)
