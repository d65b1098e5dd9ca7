"""From event streams to per-frame CLIP features with a backbone's image tower (recording -> CLIP input is
:mod:`neuroclip.frames.clip_input`; its names are importable from here as well)."""

from __future__ import annotations

import os

import torch

from neuroclip.errors import ConfigError
from neuroclip.frames.clip_input import FrameConfig, clip_frames, file_clip_frames

__all__ = ["FrameConfig", "clip_frames", "frame_features"]


def frame_features(recordings, backbone, config: FrameConfig = FrameConfig(), batch_size: int = 16, *,
                   format: str | None = None, reading: dict | None = None) -> torch.Tensor:
    """Raw per-frame CLIP image features [N, T, C] of N recordings, ``batch_size`` recordings at a time.

    A recording is an ``EventStream`` or a file path; files are read only when their batch is encoded (large ones
    in a streamed format piece by piece, :func:`~neuroclip.frames.clip_input.file_clip_frames`, with ``format`` and
    ``reading``), so memory holds one batch of frames, not every recording.
    """
    recordings = list(recordings)
    sizes = dict(size=backbone.image_size, mean=backbone.image_mean, std=backbone.image_std)

    def frames(item):
        if isinstance(item, (str, os.PathLike)):
            return file_clip_frames(item, config, format=format, reading=reading, **sizes)
        return clip_frames(item, config, **sizes)

    if not recordings:
        raise ConfigError("no recordings to encode")
    features = None
    for start in range(0, len(recordings), batch_size):
        images = torch.stack([frames(item) for item in recordings[start:start + batch_size]])
        encoded = backbone.encode_images(images.flatten(0, 1)).cpu()
        if features is None:  # allocated once: per-batch outputs kept in a list fragment the heap (see extract)
            features = torch.empty(len(recordings), images.shape[1], encoded.shape[-1])
        features[start:start + images.shape[0]] = encoded.reshape(images.shape[0], images.shape[1], -1)
    return features
