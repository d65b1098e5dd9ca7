"""Small composable transforms over :mod:`neuroclip.frames.functional`, in the style of tonic's.

Each transform is a frozen dataclass: its fields are the parameters (validated when it is built, so a bad value fails
early with :class:`~neuroclip.errors.ConfigError`) and calling it applies the pure function. Chain them with
:class:`Compose`::

    to_clip = Compose((ToCountFrames(n_frames=10), Discrimination(threshold=0), ToCLIPInput()))
    images = to_clip(stream)                      # [10, 3, 224, 224], NeuroCLIP's input

:class:`NeuroCLIPFrames` is that chain as one object, with per-dataset presets and a batched torch path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from neuroclip.errors import ConfigError
from neuroclip.frames import functional as FF
from neuroclip.frames import tensors as FT


def _validate_split(transform) -> None:
    """Check a transform's split fields now rather than at the first call."""
    FF.check_split_by(transform.split_by)
    FF._check_int("n_frames", transform.n_frames, 1)
    if transform.split_by == "count":
        if transform.events_per_frame is None:
            raise ConfigError("split_by='count' needs events_per_frame, the number of events in each frame")
        FF.split_by_count(0, transform.events_per_frame, transform.overlap)
    elif transform.split_by == "window":
        if transform.window_us is None:
            raise ConfigError("split_by='window' needs window_us, the length of each frame in microseconds")
        FF.split_by_window(np.zeros(0, np.int64), transform.window_us, transform.overlap)
    else:
        FF._check_int("overlap", transform.overlap, 0)


@dataclasses.dataclass(frozen=True)
class ToCountFrames:
    """Events (EventStream or structured array) to per-polarity counts ``[T, 2, H, W]`` (:func:`count_frames`).

    ``split_by``: ``'number'`` (default, NeuroCLIP's equal event count), ``'time'`` (equal durations), ``'count'``
    (``events_per_frame`` per frame) or ``'window'`` (``window_us`` per frame); ``overlap`` in events or µs.
    """

    sensor_size: tuple[int, int] | None = None
    n_frames: int = FF.NEUROCLIP_FRAMES
    split_by: str = "number"
    events_per_frame: int | None = None
    window_us: int | None = None
    overlap: int = 0
    dtype: str = "int32"

    def __post_init__(self):
        _validate_split(self)
        if np.dtype(self.dtype).kind not in "iuf":
            raise ConfigError(f"dtype must name a numeric type such as 'int32', got {self.dtype!r}")

    def __call__(self, events) -> np.ndarray:
        return FF.count_frames(
            events,
            self.sensor_size,
            self.n_frames,
            self.split_by,
            events_per_frame=self.events_per_frame,
            window_us=self.window_us,
            overlap=self.overlap,
            dtype=self.dtype,
        )


@dataclasses.dataclass(frozen=True)
class Discrimination:
    """NeuroCLIP's discrimination map: counts ``[..., 2, H, W]`` to uint8 grey ``[..., 1, H, W]``
    (:func:`discrimination`: 127 background, OFF > threshold → 255, ON > threshold → 0)."""

    threshold: float = 0

    def __post_init__(self):
        FF._check_real("threshold", self.threshold)

    @classmethod
    def for_dataset(cls, dataset: str) -> Discrimination:
        """NeuroCLIP's threshold for ``'nmnist'``, ``'cifar10dvs'`` or ``'esimagenet'``."""
        return cls(threshold=_dataset_threshold(dataset))

    def __call__(self, counts):
        return FF.discrimination(counts, self.threshold)


@dataclasses.dataclass(frozen=True)
class EventCLIPHistogram:
    """EventCLIP's grey histogram on white: counts ``[..., 2, H, W]`` to uint8 ``[..., 1, H, W]``
    (:func:`eventclip_histogram`)."""

    hot_pixel_sigmas: float = 10.0
    nonzero_statistics: bool = False

    def __post_init__(self):
        FF._check_real("hot_pixel_sigmas", self.hot_pixel_sigmas)

    def __call__(self, counts):
        return FF.eventclip_histogram(counts, self.hot_pixel_sigmas, self.nonzero_statistics)


@dataclasses.dataclass(frozen=True)
class EventBindColour:
    """EventBind's two-colour histogram: counts ``[..., 2, H, W]`` to uint8 RGB ``[..., 3, H, W]``
    (:func:`eventbind_colour`: white, ON red, OFF blue, both black)."""

    def __call__(self, counts):
        return FF.eventbind_colour(counts)


@dataclasses.dataclass(frozen=True)
class ToTimeSurface:
    """Events to exponential time surfaces at each segment's end: float32 ``[T, 2, H, W]`` (:func:`time_surface`)."""

    sensor_size: tuple[int, int] | None = None
    n_frames: int = FF.NEUROCLIP_FRAMES
    split_by: str = "number"
    events_per_frame: int | None = None
    window_us: int | None = None
    overlap: int = 0
    decay_us: float = 50_000.0

    def __post_init__(self):
        _validate_split(self)
        FF._check_real("decay_us", self.decay_us, positive=True)

    def __call__(self, events) -> np.ndarray:
        array, size = FF.event_array(events, self.sensor_size)
        _, stops = FF.segment_bounds(
            array["t"],
            self.split_by,
            self.n_frames,
            events_per_frame=self.events_per_frame,
            window_us=self.window_us,
            overlap=self.overlap,
        )
        return FF.time_surface(array, size, stops, self.decay_us)


@dataclasses.dataclass(frozen=True)
class ToVoxelGrid:
    """Events to a voxel grid with ``n_bins`` time bins: float32 ``[n_bins, 1, H, W]`` (:func:`voxel_grid`)."""

    sensor_size: tuple[int, int] | None = None
    n_bins: int = FF.NEUROCLIP_FRAMES

    def __post_init__(self):
        FF._check_int("n_bins", self.n_bins, 1)

    def __call__(self, events) -> np.ndarray:
        return FF.voxel_grid(events, self.sensor_size, self.n_bins)


@dataclasses.dataclass(frozen=True)
class TimeSurfaceImage:
    """Time surfaces ``[..., 2, H, W]`` to uint8 RGB (ON red, OFF blue, on black)."""

    def __call__(self, surface):
        return FF.time_surface_image(surface)


@dataclasses.dataclass(frozen=True)
class VoxelGridImage:
    """A voxel grid to uint8 grey (128 + 127 * v / max|v|)."""

    def __call__(self, grid):
        return FF.voxel_grid_image(grid)


@dataclasses.dataclass(frozen=True)
class ToCLIPInput:
    """Images ``[..., C, H, W]`` (C = 1 or 3, 0..255) to CLIP input ``[..., 3, size, size]`` (:func:`to_clip_input`):
    bilinear resize (align_corners=False), grey to 3 channels, ``'neuroclip'`` (x/255 - 0.5), ``'clip'`` (CLIP
    mean/std) or ``'none'`` (x/255) normalisation."""

    size: int = FF.CLIP_INPUT_SIZE
    normalization: str = "neuroclip"
    dtype: torch.dtype = torch.float32

    def __post_init__(self):
        FF._check_int("size", self.size, 1)
        if self.normalization not in FF.NORMALIZATIONS:
            raise ConfigError(
                f"normalization must be one of {', '.join(FF.NORMALIZATIONS)}; got {self.normalization!r}"
            )

    def __call__(self, images) -> torch.Tensor:
        return FT.to_clip_input(images, self.size, self.normalization, self.dtype)


@dataclasses.dataclass(frozen=True)
class Compose:
    """Apply transforms in order (any callables)."""

    transforms: tuple[Callable[[Any], Any], ...]

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for transform in self.transforms:
            if not callable(transform):
                raise ConfigError(f"Compose takes callables; {transform!r} is not one")

    def __call__(self, data):
        for transform in self.transforms:
            data = transform(data)
        return data


@dataclasses.dataclass(frozen=True)
class EncodeFrames:
    """Events to the frames of a named encoding (:data:`~neuroclip.frames.functional.ENCODINGS`, :func:`encode`)."""

    encoding: str = "discrimination"
    n_frames: int = FF.NEUROCLIP_FRAMES
    split_by: str = "number"
    sensor_size: tuple[int, int] | None = None
    events_per_frame: int | None = None
    window_us: int | None = None
    overlap: int = 0
    threshold: float = 0
    hot_pixel_sigmas: float = 10.0
    decay_us: float = 50_000.0

    def __post_init__(self):
        object.__setattr__(self, "encoding", FF.check_encoding(self.encoding))
        _validate_split(self)
        FF._check_real("threshold", self.threshold)
        FF._check_real("hot_pixel_sigmas", self.hot_pixel_sigmas)
        FF._check_real("decay_us", self.decay_us, positive=True)

    def __call__(self, events) -> np.ndarray:
        return FF.encode(
            events,
            self.encoding,
            self.n_frames,
            self.split_by,
            sensor_size=self.sensor_size,
            events_per_frame=self.events_per_frame,
            window_us=self.window_us,
            overlap=self.overlap,
            threshold=self.threshold,
            hot_pixel_sigmas=self.hot_pixel_sigmas,
            decay_us=self.decay_us,
        )


def _dataset_threshold(dataset: str) -> float:
    key = str(dataset).lower().replace("-", "").replace("_", "")
    if key not in FF.DISCRIMINATION_THRESHOLDS:
        raise ConfigError(
            f"no NeuroCLIP preset for dataset {dataset!r}; presets: {', '.join(FF.DISCRIMINATION_THRESHOLDS)}. "
            "Pass threshold= yourself for other data."
        )
    return FF.DISCRIMINATION_THRESHOLDS[key]


@dataclasses.dataclass(frozen=True)
class NeuroCLIPFrames:
    """NeuroCLIP's whole event-frame module: a stream to CLIP input ``[T, 3, size, size]``.

    Split into ``n_frames`` segments (``split_by``), count per polarity, discrimination map with ``threshold``,
    bilinear resize to ``size``, 3 channels, ``normalization``. The defaults are the released code's (T = 10,
    ``'number'``, threshold 0, 224, ``x/255 - 0.5``); :meth:`for_dataset` gives the per-dataset threshold.
    :meth:`batch` does a list of streams at once with torch, on ``device``.
    """

    n_frames: int = FF.NEUROCLIP_FRAMES
    split_by: str = "number"
    threshold: float = 0
    size: int = FF.CLIP_INPUT_SIZE
    normalization: str = "neuroclip"
    dtype: torch.dtype = torch.float32

    def __post_init__(self):
        FF._check_int("n_frames", self.n_frames, 1)
        if self.split_by not in ("number", "time"):
            raise ConfigError(f"NeuroCLIPFrames splits by 'number' or 'time'; got {self.split_by!r}")
        FF._check_real("threshold", self.threshold)
        ToCLIPInput(self.size, self.normalization, self.dtype)

    @classmethod
    def for_dataset(cls, dataset: str, **overrides) -> NeuroCLIPFrames:
        """The preset for ``'nmnist'`` / ``'esimagenet'`` (threshold 0) or ``'cifar10dvs'`` (threshold 1)."""
        return cls(**{"threshold": _dataset_threshold(dataset), **overrides})

    def __call__(self, events, sensor_size=None) -> torch.Tensor:
        counts = FF.count_frames(events, sensor_size, self.n_frames, self.split_by)
        return FT.to_clip_input(FF.discrimination(counts, self.threshold), self.size, self.normalization, self.dtype)

    def batch(self, streams: Sequence | FT.EventBatch, device=None, sensor_size=None) -> torch.Tensor:
        """``[B, T, 3, size, size]`` for a list of streams (or an :class:`EventBatch`), computed on ``device``."""
        counts = FT.batch_count_frames(streams, self.n_frames, self.split_by, sensor_size=sensor_size, device=device)
        return FT.to_clip_input(FF.discrimination(counts, self.threshold), self.size, self.normalization, self.dtype)
