"""From event streams to per-frame CLIP features: the event-frame module, CLIP preprocessing, the image tower."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from neuroclip.errors import ConfigError
from neuroclip.frames.functional import CLIP_MEAN, CLIP_STD, ENCODINGS, NORMALIZATIONS, encode, to_clip_input


@dataclasses.dataclass(frozen=True)
class FrameConfig:
    """How a recording becomes CLIP input. Defaults are NeuroCLIP's: T = 10 equal-count frames, the discrimination
    map with threshold 0, bilinear resize to the CLIP input size, x/255 - 0.5."""

    encoding: str = "discrimination"
    n_frames: int = 10
    split_by: str = "number"
    threshold: float = 0.0
    normalization: str = "neuroclip"

    def __post_init__(self):
        if self.encoding not in ENCODINGS or self.encoding == "counts":
            image_encodings = [name for name in ENCODINGS if name != "counts"]
            raise ConfigError(f"encoding for CLIP must be one of {', '.join(image_encodings)}; got {self.encoding!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {self.normalization!r}")
        if not isinstance(self.n_frames, int) or self.n_frames < 1:
            raise ConfigError(f"n_frames must be a positive integer, got {self.n_frames!r}")
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise ConfigError(f"threshold must be a finite number >= 0, got {self.threshold!r}")


def clip_frames(stream, config: FrameConfig, size: int, *, mean: Sequence[float] = CLIP_MEAN,
                std: Sequence[float] = CLIP_STD) -> torch.Tensor:
    """One recording as CLIP input [T, 3, size, size]; ``mean``/``std`` (the backbone's ``image_mean``/``image_std``)
    apply with ``normalization='clip'``."""
    images = encode(stream, config.encoding, config.n_frames, config.split_by, threshold=config.threshold)
    return to_clip_input(images, size, config.normalization, mean=mean, std=std)


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
