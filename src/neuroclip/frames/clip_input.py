"""Recording -> CLIP input: the one description of how a stream becomes the ``[T, 3, S, S]`` images a CLIP image
tower reads (the encoding and each of its parameters, the split into T frames, the normalisation), and the function
that does it. The CLIP input size S and mean/std come from the backbone."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from neuroclip.errors import ConfigError
from neuroclip.frames.functional import (
    CLIP_MEAN,
    CLIP_STD,
    COUNT_ENCODINGS,
    encode,
    images_from_counts,
    time_surface_image,
)
from neuroclip.frames.names import ENCODINGS, NEUROCLIP_FRAMES, NORMALIZATIONS, encoding_parts
from neuroclip.frames.tensors import (
    EventBatch,
    PackedEvents,
    batch_count_frames,
    batch_time_surface,
    batch_voxel_grid,
    batch_voxel_grid_image,
    stack_events,
    to_clip_input,
)

# parameters added after feature caches were first written: a cache key records them only when they differ from
# these defaults, so features cached before stay valid
_LATER_FIELDS = {"hot_pixel_sigmas": 10.0, "decay_us": 50_000.0}


@dataclasses.dataclass(frozen=True)
class FrameConfig:
    """How a recording becomes CLIP input. Defaults are NeuroCLIP's: T = 10 equal-count frames, the discrimination
    map with threshold 0, bilinear resize to the CLIP input size, x/255 - 0.5.

    Per encoding, the parameters used are ``threshold`` (discrimination), ``hot_pixel_sigmas`` (eventclip) and
    ``decay_us`` (time_surface); see :func:`neuroclip.frames.encode`. An encoding that names a pair
    (``discrimination+voxel_grid``) makes ``n_frames`` frames of each part, :attr:`n_images` in all.
    """

    encoding: str = "discrimination"
    n_frames: int = NEUROCLIP_FRAMES
    split_by: str = "number"
    threshold: float = 0.0
    normalization: str = "neuroclip"
    hot_pixel_sigmas: float = _LATER_FIELDS["hot_pixel_sigmas"]
    decay_us: float = _LATER_FIELDS["decay_us"]

    def __post_init__(self):
        if self.encoding not in ENCODINGS or self.encoding == "counts":
            image_encodings = [name for name in ENCODINGS if name != "counts"]
            raise ConfigError(f"encoding for CLIP must be one of {', '.join(image_encodings)}; got {self.encoding!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {self.normalization!r}")
        if self.split_by not in ("number", "time"):
            raise ConfigError(f"split_by must be 'number' or 'time' (T frames for CLIP), got {self.split_by!r}")
        if isinstance(self.n_frames, bool) or not isinstance(self.n_frames, int) or self.n_frames < 1:
            raise ConfigError(f"n_frames must be a positive integer, got {self.n_frames!r}")
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise ConfigError(f"threshold must be a finite number >= 0, got {self.threshold!r}")
        if not np.isfinite(self.hot_pixel_sigmas) or self.hot_pixel_sigmas <= 0:
            raise ConfigError(f"hot_pixel_sigmas must be a finite number > 0, got {self.hot_pixel_sigmas!r}")
        if not np.isfinite(self.decay_us) or self.decay_us <= 0:
            raise ConfigError(f"decay_us must be a finite number > 0 (microseconds), got {self.decay_us!r}")

    def encode(self, stream) -> np.ndarray:
        """The T images of ``stream`` in this encoding, before resizing (uint8 ``[T, C, H, W]``)."""
        return encode(stream, self.encoding, self.n_frames, self.split_by, threshold=self.threshold,
                      hot_pixel_sigmas=self.hot_pixel_sigmas, decay_us=self.decay_us)

    @property
    def n_images(self) -> int:
        """How many images CLIP encodes per recording: T for each part of the encoding."""
        return self.n_frames * len(encoding_parts(self.encoding))

    def record(self) -> dict:
        """The fields as a dict for result files and cache keys (later parameters only when not at default)."""
        fields = dataclasses.asdict(self)
        return {key: value for key, value in fields.items()
                if key not in _LATER_FIELDS or value != _LATER_FIELDS[key]}


def clip_frames(stream, config: FrameConfig, size: int, *, mean: Sequence[float] = CLIP_MEAN,
                std: Sequence[float] = CLIP_STD) -> torch.Tensor:
    """One recording as CLIP input [T, 3, size, size]; ``mean``/``std`` (the backbone's ``image_mean``/``image_std``)
    apply with ``normalization='clip'``."""
    return to_clip_input(config.encode(stream), size, config.normalization, mean=mean, std=std)


# a file larger than this, in a format read in pieces, is framed piece by piece: a whole read holds 15 bytes per
# event (1.9 to 7.5 times the file), and on our 2-core CPU the pieces take longer (benchmarks/streaming.py,
# classify of 150 M events: 1.1 GB against 3.5 GB of peak memory, 17.9 s against 13.4 s)
STREAM_ABOVE_BYTES = 256 * 2**20


def file_clip_frames(path, config: FrameConfig, size: int, *, mean: Sequence[float] = CLIP_MEAN,
                     std: Sequence[float] = CLIP_STD, format: str | None = None, reading: dict | None = None,
                     stream_above_bytes: int = STREAM_ABOVE_BYTES) -> torch.Tensor:
    """A recording file as CLIP input [T, 3, size, size], equal to :func:`clip_frames` of its whole read. A file
    over ``stream_above_bytes`` in a format read in pieces (:data:`neuroclip.events.io.STREAMED`) is framed piece
    by piece (:func:`neuroclip.frames.streamed.encode_recording`), so memory holds one piece of events and the
    frames whatever the file's size; others are read whole. ``format`` forces a reader, ``reading`` holds reader
    options (``layout``, ``sensor_size``). An empty file or one too short for T frames is an error naming the
    file."""
    from neuroclip.frames.streamed import encode_recording

    images, _ = encode_recording(path, config.encoding, config.n_frames, config.split_by, threshold=config.threshold,
                                 hot_pixel_sigmas=config.hot_pixel_sigmas, decay_us=config.decay_us, format=format,
                                 stream_above_bytes=stream_above_bytes, **(reading or {}))
    return to_clip_input(images, size, config.normalization, mean=mean, std=std)


def frames_on_device(config: FrameConfig) -> bool:
    """Whether :func:`clip_frames_batch` frames this encoding on the device in one batched pass: every encoding
    (the count-based ones from batched counts; time_surface and voxel_grid by their own batched passes)."""
    return all(part in (*COUNT_ENCODINGS, "time_surface", "voxel_grid") for part in encoding_parts(config.encoding))


def needs_times(config: FrameConfig) -> bool:
    """Whether framing reads the events' timestamps (so packed batches must carry them): the time split, the time
    surface and the voxel grid."""
    return config.split_by == "time" or any(part in ("time_surface", "voxel_grid")
                                            for part in encoding_parts(config.encoding))


def _device_images(batch, config: FrameConfig, device) -> torch.Tensor:
    """The encoding's uint8 images ``[B, T, C, H, W]`` of a batch, made on its device."""
    if len(parts := encoding_parts(config.encoding)) > 1:
        return torch.cat([_device_images(batch, dataclasses.replace(config, encoding=part), device)
                          for part in parts], dim=1)
    if config.encoding == "voxel_grid":
        return batch_voxel_grid_image(batch_voxel_grid(batch, config.n_frames, device=device))
    if config.encoding == "time_surface":
        return time_surface_image(batch_time_surface(batch, config.n_frames, config.split_by, config.decay_us,
                                                     device=device))
    counts = batch_count_frames(batch, config.n_frames, config.split_by, device=device)
    return images_from_counts(counts, config.encoding, threshold=config.threshold,
                              hot_pixel_sigmas=config.hot_pixel_sigmas)


def clip_frames_batch(streams, config: FrameConfig, size: int, *, mean: Sequence[float] = CLIP_MEAN,
                      std: Sequence[float] = CLIP_STD, device=None) -> torch.Tensor:
    """CLIP input ``[B, T, 3, size, size]`` of several recordings (EventStreams, an :class:`EventBatch`, or a
    :class:`PackedEvents`: one copy to ``device``, not blocking when pinned), equal to stacking :func:`clip_frames`
    of each. Everything after reading runs batched on ``device`` (the frames of every encoding, the resize, the
    normalisation: a GPU does it without the CPU); recordings of different sensor sizes (one batch has one frame
    shape) are framed one recording at a time on the CPU and moved to ``device``. Equal to the CPU path for the
    count encodings and the voxel grid (on a CPU, bit for bit); time surfaces may differ in the last bit of
    float32 ``exp`` before they are rounded to 8-bit images."""
    batched = isinstance(streams, EventBatch | PackedEvents)
    if not batched:
        streams = list(streams)
    one_size = batched or len({stream.sensor_size for stream in streams}) == 1
    if frames_on_device(config) and one_size:
        batch = streams if batched else stack_events(streams, device=device)
        return to_clip_input(_device_images(batch, config, device), size, config.normalization, mean=mean, std=std)
    if batched:
        raise ConfigError(f"{config.encoding} frames are made one recording at a time: pass EventStreams")
    frames = torch.stack([clip_frames(stream, config, size, mean=mean, std=std) for stream in streams])
    return frames if device is None else frames.to(device)


def student_frames(stream, n_frames: int, split_by: str = "number", size: int | None = None,
                   resize_mode: str = "area", binary: bool = False) -> torch.Tensor:
    """A recording as a spiking image tower's input ``[T, 2, size, size]`` float32 (SpikeCLIP's event student):
    ``n_frames`` per-polarity count frames, resized to ``size`` (``area`` keeps the counts' mass per area; None:
    the sensor's size), and binarised (count > 0) when ``binary``, so the first convolution is spike-driven too."""
    from neuroclip.frames.functional import count_frames

    return _student_input(count_frames(stream, n_frames=n_frames, split_by=split_by), size, resize_mode, binary)


def file_student_frames(path, n_frames: int, split_by: str = "number", size: int | None = None,
                        resize_mode: str = "area", binary: bool = False, *, format: str | None = None,
                        reading: dict | None = None, stream_above_bytes: int = STREAM_ABOVE_BYTES) -> torch.Tensor:
    """A recording file as the student's input, equal to :func:`student_frames` of its whole read: a file over
    ``stream_above_bytes`` in a format read in pieces is counted piece by piece (as :func:`file_clip_frames`), so
    memory holds one piece of events and the frames. An empty file is an error naming the file; a recording with
    fewer events than frames gives empty frames, as :func:`student_frames` does (the student's T is fixed)."""
    from neuroclip.frames.streamed import encode_recording

    counts, _ = encode_recording(path, "counts", n_frames, split_by, format=format,
                                 stream_above_bytes=stream_above_bytes, fill_frames=False, **(reading or {}))
    return _student_input(counts, size, resize_mode, binary)


def _student_input(counts: np.ndarray, size: int | None, resize_mode: str, binary: bool) -> torch.Tensor:
    from torch.nn import functional as F

    x = torch.from_numpy(np.ascontiguousarray(counts)).float()
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode=resize_mode,
                          **({"align_corners": False} if resize_mode in ("bilinear", "bicubic") else {}))
    return (x > 0).float() if binary else x
