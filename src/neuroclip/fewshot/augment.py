"""Training augmentation of NeuroCLIP's few-shot recipe, as pre-encoded views (optional, off by default).

The released code augments every training sample afresh each epoch, on the count tensor [T, 2, H, W] before the
event-frame mapping, with one random draw shared by all T frames and both polarities (trainers/fewshot.py
``forward_backward``, torchvision transforms): RandomRotation(10 deg), RandomHorizontalFlip(0.5), RandomAffine(
degrees=0, shear=(-5, 5)), nearest interpolation, fill 0. That needs the CLIP image tower inside the training
loop. Here a fixed number of augmented views per training recording is drawn and encoded once; the trainer draws
one of them per recording per epoch.

The three transforms are composed into one affine map about the frame centre and resampled once with nearest
neighbour (torchvision resamples after each of them); out-of-frame pixels get 0 events.

:class:`EventViewConfig` is the alternative at the event level (ours, not the released code's): each view is one
draw of :func:`neuroclip.events.augment.augment_events` (shift, rotation, zoom, event dropping) applied to the
recording before framing, then framed and encoded by the same path as the unaugmented features
(:func:`neuroclip.frames.clip_input.clip_frames`), so it works with every encoding and never mirrors a digit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from neuroclip.errors import ConfigError
from neuroclip.events.augment import EventAugmentConfig, augment_events
from neuroclip.frames import functional as FF
from neuroclip.frames.tensors import to_clip_input

# the encodings made of counts alone (frames.images_from_counts), less the raw counts, which are no image
COUNT_ENCODINGS = tuple(name for name in FF.COUNT_ENCODINGS if name != "counts")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random draws (NeuroCLIP's values) and the number of views per recording."""

    rotation_degrees: float = 10.0
    flip_probability: float = 0.5
    shear_degrees: float = 5.0
    n_views: int = 8
    level: str = "counts"  # where the transform acts (recorded in results; EventViewConfig's is "events")

    def __post_init__(self):
        if isinstance(self.n_views, bool) or not isinstance(self.n_views, int) or self.n_views < 1:
            raise ConfigError(f"n_views must be a positive integer, got {self.n_views!r}")
        if self.level != "counts":
            raise ConfigError(f"AugmentConfig works on count frames (level 'counts'), got {self.level!r}")
        if not 0 <= self.flip_probability <= 1:
            raise ConfigError(f"flip_probability must be in [0, 1], got {self.flip_probability!r}")
        if not (0 <= self.rotation_degrees <= 180 and 0 <= self.shear_degrees < 90):
            raise ConfigError("rotation_degrees must be in [0, 180] and shear_degrees in [0, 90)")


@dataclasses.dataclass(frozen=True)
class EventViewConfig:
    """``n_views`` event-level augmented views per recording: each one draw of ``events`` (uniform ranges; by
    default the SpikeCLIP alignment's: shift 3 px, rotation 10 deg, zoom 10 %, up to 30 % of events dropped)."""

    events: EventAugmentConfig = EventAugmentConfig(shift_px=3.0, rotate_degrees=10.0, scale=0.1, drop=0.3)
    n_views: int = 8
    level: str = "events"

    def __post_init__(self):
        if isinstance(self.n_views, bool) or not isinstance(self.n_views, int) or self.n_views < 1:
            raise ConfigError(f"n_views must be a positive integer, got {self.n_views!r}")
        if self.level != "events":
            raise ConfigError(f"EventViewConfig works on events (level 'events'), got {self.level!r}")
        if not isinstance(self.events, EventAugmentConfig) or not self.events.active:
            raise ConfigError("EventViewConfig needs an EventAugmentConfig that changes something")


@dataclasses.dataclass(frozen=True)
class AffineDraw:
    """One random draw: rotation and x-shear in degrees, and whether to flip horizontally."""

    rotation: float = 0.0
    flip: bool = False
    shear: float = 0.0


def draw_augmentations(n: int, config: AugmentConfig, rng: np.random.Generator) -> list[AffineDraw]:
    return [AffineDraw(float(rng.uniform(-config.rotation_degrees, config.rotation_degrees)),
                       bool(rng.random() < config.flip_probability),
                       float(rng.uniform(-config.shear_degrees, config.shear_degrees))) for _ in range(n)]


def affine_counts(counts, draw: AffineDraw) -> np.ndarray:
    """Apply rotate -> flip -> x-shear (about the centre, nearest neighbour, fill 0) to every frame and polarity of
    counts [..., H, W]; returns a numpy array of counts' dtype."""
    array = np.asarray(counts.cpu() if isinstance(counts, torch.Tensor) else counts)
    height, width = array.shape[-2:]
    angle, shear = math.radians(draw.rotation), math.radians(draw.shear)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    flip = np.array([[-1.0, 0.0], [0.0, 1.0]]) if draw.flip else np.eye(2)
    shearing = np.array([[1.0, math.tan(shear)], [0.0, 1.0]])
    inverse = np.linalg.inv(shearing @ flip @ rotation)  # output pixel -> source pixel
    ys, xs = np.mgrid[0:height, 0:width]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    source = inverse @ np.stack([xs.ravel() - centre_x, ys.ravel() - centre_y])
    source_x = np.rint(source[0] + centre_x).astype(np.int64)
    source_y = np.rint(source[1] + centre_y).astype(np.int64)
    inside = (source_x >= 0) & (source_x < width) & (source_y >= 0) & (source_y < height)
    flat = array.reshape(*array.shape[:-2], height * width)
    out = np.zeros_like(flat)
    out[..., inside] = flat[..., source_y[inside] * width + source_x[inside]]
    return out.reshape(array.shape)


def _counts_to_images(counts: np.ndarray, frame_config) -> np.ndarray:
    if frame_config.encoding not in COUNT_ENCODINGS:
        raise ConfigError(f"augmentation works on count-based encodings ({', '.join(COUNT_ENCODINGS)}); the frame "
                          f"encoding is {frame_config.encoding!r}")
    return FF.images_from_counts(counts, frame_config.encoding, threshold=frame_config.threshold,
                                 hot_pixel_sigmas=frame_config.hot_pixel_sigmas)


def augmented_clip_frames(stream, frame_config, image_size: int, draws: list[AffineDraw], *,
                          mean=FF.CLIP_MEAN, std=FF.CLIP_STD) -> torch.Tensor:
    """CLIP input [V, T, 3, S, S] of one recording under each draw (the same draw for all its frames); ``mean`` and
    ``std`` are the backbone's, used by ``normalization='clip'``."""
    counts = FF.encode(stream, "counts", frame_config.n_frames, frame_config.split_by)
    views = [_counts_to_images(affine_counts(counts, draw), frame_config) for draw in draws]
    return to_clip_input(np.stack(views), image_size, frame_config.normalization, mean=mean, std=std)


def event_view_frames(stream, frame_config, image_size: int, config: EventViewConfig, rng: np.random.Generator, *,
                      mean=FF.CLIP_MEAN, std=FF.CLIP_STD) -> torch.Tensor:
    """CLIP input [V, T, 3, S, S] of ``config.n_views`` event-level draws of one recording, each framed by
    :func:`~neuroclip.frames.clip_input.clip_frames` (the path of the unaugmented features)."""
    from neuroclip.frames.clip_input import clip_frames

    return torch.stack([clip_frames(augment_events(stream, config.events, rng), frame_config, image_size, mean=mean,
                                    std=std) for _ in range(config.n_views)])


def augmented_view_features(dataset, indices, backbone, frame_config=None,
                            config: AugmentConfig | EventViewConfig = AugmentConfig(), seed: int = 0,
                            batch_size: int = 8) -> np.ndarray:
    """Raw per-frame CLIP features [n, V, T, C] (float32) of ``config.n_views`` augmented views of each recording
    ``dataset[i]`` for i in ``indices`` (count-level :class:`AugmentConfig` or event-level
    :class:`EventViewConfig`). The draws depend only on ``seed`` and the recording's index, so a recording gets
    the same views whichever runs ask for it."""
    from neuroclip.clip.features import FrameConfig

    frame_config = frame_config or FrameConfig()
    mean, std = backbone.image_mean, backbone.image_std
    if isinstance(config, EventViewConfig):
        def frames_of(stream, index: int) -> torch.Tensor:
            return event_view_frames(stream, frame_config, backbone.image_size, config,
                                     np.random.default_rng([int(seed), index]), mean=mean, std=std)
    else:
        if frame_config.encoding not in COUNT_ENCODINGS:
            raise ConfigError(f"augmentation works on count-based encodings ({', '.join(COUNT_ENCODINGS)}); the "
                              f"frame encoding is {frame_config.encoding!r}")

        def frames_of(stream, index: int) -> torch.Tensor:
            draws = draw_augmentations(config.n_views, config, np.random.default_rng([int(seed), index]))
            return augmented_clip_frames(stream, frame_config, backbone.image_size, draws, mean=mean, std=std)
    indices = [int(i) for i in np.asarray(indices).ravel()]
    outputs = []
    for start in range(0, len(indices), batch_size):
        stacked = torch.stack([frames_of(dataset[index][0], index)
                               for index in indices[start:start + batch_size]])  # [b, V, T, 3, S, S]
        with torch.no_grad():
            encoded = backbone.encode_images(stacked.flatten(0, 2))
        outputs.append(encoded.reshape(*stacked.shape[:3], -1).cpu().numpy().astype(np.float32))
    if not outputs:
        raise ConfigError("no recordings to augment")
    return np.concatenate(outputs)


def view_provider(dataset, backbone, frame_config=None, config: AugmentConfig | EventViewConfig = AugmentConfig(),
                  seed: int = 0):
    """A callable ``positions -> [n, V, T, C]`` for :func:`neuroclip.fewshot.protocol.run_fewshot`'s ``views``,
    for train features whose positions are the dataset's indices (as ``extract_features`` returns them)."""

    def views(positions):
        return augmented_view_features(dataset, positions, backbone, frame_config, config, seed)

    return views


VIEW_KINDS = {
    "events": "event-level: shift 3 px, rotation 10 deg, zoom 10 %, up to 30 % of events dropped, before framing",
    "counts": "the released code's: rotation 10 deg, horizontal flip (p 0.5), x-shear 5 deg of the count frames",
    "counts-noflip": "the released code's without the flip (a mirrored digit is another glyph)",
}


def view_config(kind: str | None, n_views: int, encoding: str) -> AugmentConfig | EventViewConfig | None:
    """The views ``neuroclip fewshot --augment KIND --augment-views N`` asks for (None when N is 0), or a
    ConfigError naming the option at fault."""
    if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 0:
        raise ConfigError(f"--augment-views must be an integer >= 0, got {n_views!r}")
    if kind is not None and kind not in VIEW_KINDS:
        raise ConfigError(f"--augment {kind!r} is unknown; choose one of {', '.join(VIEW_KINDS)}")
    if n_views == 0:
        if kind is not None:
            raise ConfigError(f"--augment {kind} needs --augment-views N with N >= 1 (0, the default, is off)")
        return None
    kind = kind or "events"
    if kind == "events":
        return EventViewConfig(n_views=n_views)
    if encoding not in COUNT_ENCODINGS:
        raise ConfigError(f"--augment {kind} transforms count frames, which the {encoding!r} encoding is not made "
                          f"of ({', '.join(COUNT_ENCODINGS)}); use --augment events")
    return AugmentConfig(n_views=n_views, flip_probability=0.5 if kind == "counts" else 0.0)
