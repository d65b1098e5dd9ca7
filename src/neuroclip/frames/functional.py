"""The event-frame module as pure functions: split a stream, count events per pixel, encode the counts as images.

The stages, each a function of arrays only:

1. **split** the time-sorted stream into segments, given as ``(starts, stops)`` event-index arrays
   (:func:`segment_bounds`);
2. **count** events per segment, polarity and pixel into ``[T, 2, H, W]`` (:func:`integrate_segments`, or
   :func:`count_frames` for both steps, or :func:`batch_count_frames` for a whole batch in one torch call);
3. **encode** the counts (or the events) as images (:func:`discrimination`, :func:`eventclip_histogram`,
   :func:`eventbind_colour`, :func:`time_surface`, :func:`voxel_grid`);
4. **to CLIP input**: resize, replicate to 3 channels, normalise (:func:`to_clip_input`).

Conventions:

* ``sensor_size`` is ``(width, height)``, as in :class:`~neuroclip.events.EventStream`; frames are ``[..., H, W]``.
* Count channel 0 holds the events with ``p == 0`` (OFF), channel 1 those with ``p != 0`` (ON). This is
  spikingjelly's convention, which NeuroCLIP inherits.
* Images are ``[..., C, H, W]`` with ``C = 1`` (grey) or ``C = 3`` (RGB), values on the 0..255 scale.

Defaults reproduce the released NeuroCLIP code: ``T = 10`` frames of equal event count, threshold 0, bilinear resize
to 224 and ``x/255 - 0.5``.

Edge cases (each has a test):

* more frames than events (``'number'``): ``N // T = 0``, so the first ``T - 1`` frames are zero and the last holds
  every event, exactly as spikingjelly does;
* a ``'time'`` segment with no events (a pause, or a span shorter than ``T`` µs): a zero frame, where spikingjelly
  raises ``IndexError``;
* no events at all: zero frames of the usual shape (``[T, 2, H, W]`` for ``'number'``/``'time'``, none for
  ``'count'``/``'window'``), so the discrimination map is uniform grey. The library does not raise here, so that a
  dataset with one empty sample still batches; the ``neuroclip frames`` command refuses an empty recording
  (:class:`~neuroclip.errors.EmptyStreamError`);
* events outside the declared sensor: :class:`~neuroclip.errors.InvalidEventsError` naming ``sensor_size`` and
  ``EventStream.crop_to_sensor()``;
* NaN, negative or non-integer counts and sizes: :class:`~neuroclip.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip.errors import ConfigError, InvalidEventsError
from neuroclip.events.io._common import kernels
from neuroclip.events.stream import EventStream, _sensor_size, as_events, check_events
from neuroclip.frames.names import (  # noqa: F401 (the names of the frame module, importable without torch)
    CLIP_INPUT_SIZE,
    CLIP_MEAN,
    CLIP_STD,
    DISCRIMINATION_THRESHOLDS,
    ENCODINGS,
    GREY,
    NEUROCLIP_FRAMES,
    NORMALIZATIONS,
    OFF_LEVEL,
    ON_LEVEL,
    SPLIT_METHODS,
    check_encoding,
    encoding_parts,
)

# --------------------------------------------------------------------------------------------------- parameters


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | Real):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, Real) and not isinstance(value, Integral):
        if not math.isfinite(value) or value != int(value):
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(name: str, value, *, positive: bool = False) -> float:
    kind = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name} must be a finite number {kind}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(f"{name} must be a finite number {kind}, got {value!r}")
    return value


def check_split_by(split_by: str) -> str:
    """Return ``split_by`` if it names a split method, else raise :class:`ConfigError` listing them."""
    if split_by not in SPLIT_METHODS:
        raise ConfigError(f"split_by must be one of {', '.join(SPLIT_METHODS)}; got {split_by!r}")
    return split_by


# --------------------------------------------------------------------------------------------------- events in


def event_array(events, sensor_size=None) -> tuple[np.ndarray, tuple[int, int]]:
    """The event array and ``(width, height)`` of ``events``: an :class:`EventStream`, a structured array or a dict.

    An EventStream was validated when it was built and is taken as it is. A raw array needs ``sensor_size`` and is
    validated here (coordinates inside the sensor, timestamps sorted), because every split assumes sorted time and
    an event outside the sensor would otherwise be counted at the wrong pixel.
    """
    if isinstance(events, EventStream):
        if sensor_size is None or _sensor_size(sensor_size) == events.sensor_size:
            return events.events, events.sensor_size
        array, size = events.events, _sensor_size(sensor_size)
    else:
        if sensor_size is None:
            raise ConfigError(
                "sensor_size is needed to turn a raw event array into frames; pass sensor_size=(width, height) "
                "or an EventStream"
            )
        array, size = as_events(events), _sensor_size(sensor_size)
    check_events(array, size)
    return array, size


# --------------------------------------------------------------------------------------------------- split


def split_by_number(n_events: int, n_frames: int = NEUROCLIP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Segments of equal event count, spikingjelly's ``split_by='number'``.

    With ``di = n_events // n_frames``, segment ``j`` is events ``[j*di, (j+1)*di)`` and the last segment runs to
    ``n_events``. When ``n_frames > n_events`` (so ``di = 0``) the first ``n_frames - 1`` segments are empty and the
    last holds every event, as in spikingjelly.
    """
    n_events = _check_int("n_events", n_events, 0)
    n_frames = _check_int("n_frames", n_frames, 1)
    di = n_events // n_frames
    starts = np.arange(n_frames, dtype=np.int64) * di
    stops = starts + di
    stops[-1] = n_events
    return starts, stops


def split_by_time(t: np.ndarray, n_frames: int = NEUROCLIP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Segments of equal duration, as spikingjelly's ``integrate_events_by_fixed_frames_number(split_by='time')``.

    With ``dt = (t[-1] - t[0]) // n_frames`` (integer division), segment ``j < n_frames - 1`` holds the events with
    ``t[0] + j*dt <= t < t[0] + (j+1)*dt`` and the last segment holds every event from ``t[0] + (n_frames-1)*dt`` on.
    Where spikingjelly fails (a segment with no events, or ``dt = 0``), this gives empty segments instead; with
    ``dt = 0`` every event falls in the last segment. Needs ``t`` sorted.
    """
    n_frames = _check_int("n_frames", n_frames, 1)
    t = np.asarray(t)
    if t.size == 0:
        return np.zeros(n_frames, np.int64), np.zeros(n_frames, np.int64)
    t0 = int(t[0])
    dt = (int(t[-1]) - t0) // n_frames
    starts = np.searchsorted(t, t0 + dt * np.arange(n_frames, dtype=np.int64), side="left").astype(np.int64)
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1] = t.size
    return starts, stops


def split_by_count(n_events: int, events_per_frame: int, overlap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``events_per_frame`` events, stepping by ``events_per_frame - overlap``; the last is partial.

    The windows are those of :meth:`EventStream.count_windows`: their number depends on the recording
    (``ceil(n_events / step)``; none for an empty stream). For long recordings.
    """
    n_events = _check_int("n_events", n_events, 0)
    events_per_frame = _check_int("events_per_frame", events_per_frame, 1)
    overlap = _check_int("overlap", overlap, 0)
    if overlap >= events_per_frame:
        raise ConfigError(f"overlap must be smaller than events_per_frame ({events_per_frame}), got {overlap}")
    starts = np.arange(0, n_events, events_per_frame - overlap, dtype=np.int64)
    return starts, np.minimum(starts + events_per_frame, n_events)


def split_by_window(t: np.ndarray, window_us: int, overlap_us: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``window_us`` microseconds from the first event, stepping by ``window_us - overlap_us``.

    The windows are those of :meth:`EventStream.time_windows`: window ``k`` holds the events with
    ``t[0] + k*step <= t < t[0] + k*step + window_us``, for every ``k`` whose start is not after the last event (the
    last window may be partial; none for an empty stream). For long recordings. Needs ``t`` sorted.
    """
    window_us = _check_int("window_us", window_us, 1)
    overlap_us = _check_int("overlap_us", overlap_us, 0)
    if overlap_us >= window_us:
        raise ConfigError(f"overlap_us must be smaller than window_us ({window_us}), got {overlap_us}")
    t = np.asarray(t)
    if t.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    step = window_us - overlap_us
    t0 = int(t[0])
    left = t0 + step * np.arange((int(t[-1]) - t0) // step + 1, dtype=np.int64)
    starts = np.searchsorted(t, left, side="left").astype(np.int64)
    stops = np.searchsorted(t, left + window_us, side="left").astype(np.int64)
    return starts, stops


def segment_bounds(
    t: np.ndarray,
    split_by: str = "number",
    n_frames: int = NEUROCLIP_FRAMES,
    *,
    events_per_frame: int | None = None,
    window_us: int | None = None,
    overlap: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` event-index arrays of the segments of a stream with sorted timestamps ``t``.

    ``split_by``: ``'number'`` (T segments of equal event count, the NeuroCLIP default), ``'time'`` (T segments of
    equal duration), ``'count'`` (windows of ``events_per_frame`` events) or ``'window'`` (windows of ``window_us``
    microseconds). ``overlap`` (events or microseconds) applies to ``'count'`` and ``'window'``.
    """
    check_split_by(split_by)
    if split_by == "number":
        return split_by_number(len(t), n_frames)
    if split_by == "time":
        return split_by_time(t, n_frames)
    if split_by == "count":
        if events_per_frame is None:
            raise ConfigError("split_by='count' needs events_per_frame, the number of events in each frame")
        return split_by_count(len(t), events_per_frame, overlap)
    if window_us is None:
        raise ConfigError("split_by='window' needs window_us, the length of each frame in microseconds")
    return split_by_window(t, window_us, overlap)


# --------------------------------------------------------------------------------------------------- count


def _pixel_index(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(p*H + y)*W + x`` for every event: the position in a flattened ``[2, H, W]`` frame."""
    dtype = np.int32 if 2 * width * height < 2**31 else np.int64
    index = np.not_equal(events["p"], 0).astype(dtype)
    index *= height
    index += events["y"]
    index *= width
    index += events["x"]
    return index


def _segment_gather(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The event index and segment number of every (event, segment) pair; overlapping segments repeat events."""
    lengths = stops - starts
    segment = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    first_of_segment = np.repeat(np.cumsum(lengths) - lengths, lengths)
    event = np.arange(int(lengths.sum()), dtype=np.int64) - first_of_segment + np.repeat(starts, lengths)
    return event, segment


def _check_bounds(starts, stops, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    stops = np.asarray(stops, dtype=np.int64).reshape(-1)
    if starts.shape != stops.shape:
        raise ConfigError(f"starts and stops must be equally long, got {starts.size} and {stops.size}")
    if starts.size and (starts.min() < 0 or stops.max() > n_events or np.any(stops < starts)):
        raise ConfigError(f"segment bounds must satisfy 0 <= start <= stop <= {n_events} (the number of events)")
    return starts, stops


# Strategy thresholds, measured with benchmarks/frames.py-style timings on one core (numpy 2.x):
# - few events into a small frame: one np.bincount over a combined index is cheapest (fewest Python calls);
# - otherwise one np.add.at per segment on an int32 view (numpy >= 1.25 runs it as a tight loop; 2-3x faster than
#   bincount there, which also needs an int64 output and a cast);
# - many segments: one np.add.at over the flat output, to avoid a Python call per segment.
_BINCOUNT_MAX_EVENTS = 8192
_BINCOUNT_MAX_BINS = 1 << 16
_LOOP_SEGMENTS = 32


def integrate_segments(events, sensor_size, starts, stops, dtype=np.int32) -> np.ndarray:
    """Count the events of each segment per polarity and pixel: ``[T, 2, H, W]`` with ``T = len(starts)``.

    ``frames[j, c, y, x]`` is the number of events with index in ``[starts[j], stops[j])`` at ``(x, y)`` whose
    polarity is OFF (``c = 0``, ``p == 0``) or ON (``c = 1``). Segments may overlap or be empty (an empty segment
    gives a zero frame). ``dtype`` is int32 by default; a smaller integer type is allowed and raises
    :class:`ConfigError` if a count does not fit.

    Speed: a pixel index ``(p*H + y)*W + x`` is computed once in int32, then counted with ``np.add.at`` per segment
    (or one ``np.bincount`` for small inputs); no per-event Python and no float copies.
    """
    array, (width, height) = event_array(events, sensor_size)
    starts, stops = _check_bounds(starts, stops, len(array))
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise ConfigError(f"dtype must be a numeric type such as np.int32, got {dtype}")
    return _integrate(array, width, height, starts, stops, dtype)


def _integrate(array: np.ndarray, width: int, height: int, starts, stops, dtype: np.dtype) -> np.ndarray:
    lengths = stops - starts
    longest = int(lengths.max()) if lengths.size else 0
    if dtype.kind in "iu" and longest > np.iinfo(dtype).max:
        # A count could overflow: count in int64, then check that the largest count really fits.
        wide = _integrate(array, width, height, starts, stops, np.dtype(np.int64))
        if wide.size and wide.max() > np.iinfo(dtype).max:
            raise ConfigError(
                f"a pixel receives {int(wide.max())} events in one frame, more than {dtype} holds; pass dtype=np.int32"
            )
        return wide.astype(dtype)

    n_frames, frame_size = len(starts), 2 * width * height
    if longest == 0:
        return np.zeros((n_frames, 2, height, width), dtype)
    first, last = int(starts.min()), int(stops.max())
    pixel = _pixel_index(array[first:last], width, height)
    contiguous = first == starts[0] and np.array_equal(starts[1:], stops[:-1])
    if contiguous and last - first <= _BINCOUNT_MAX_EVENTS and n_frames * frame_size <= _BINCOUNT_MAX_BINS:
        pixel += np.repeat(np.arange(n_frames, dtype=pixel.dtype) * frame_size, lengths)
        counts = np.bincount(pixel, minlength=n_frames * frame_size)
        return counts.astype(dtype, copy=False).reshape(n_frames, 2, height, width)
    frames = np.zeros((n_frames, frame_size), dtype)
    one = dtype.type(1)
    if n_frames <= _LOOP_SEGMENTS:
        for j in range(n_frames):
            if lengths[j]:
                np.add.at(frames[j], pixel[starts[j] - first : stops[j] - first], one)
    else:
        event, segment = _segment_gather(starts - first, stops - first)
        np.add.at(frames.reshape(-1), segment * frame_size + pixel[event], one)
    return frames.reshape(n_frames, 2, height, width)


def count_frames(
    events,
    sensor_size=None,
    n_frames: int = NEUROCLIP_FRAMES,
    split_by: str = "number",
    *,
    events_per_frame: int | None = None,
    window_us: int | None = None,
    overlap: int = 0,
    dtype=np.int32,
) -> np.ndarray:
    """Split a stream and count its events: ``[T, 2, H, W]`` per-polarity counts (NeuroCLIP's step 1).

    ``events`` is an :class:`EventStream` or a structured array / dict with fields t, x, y, p (then ``sensor_size``
    ``(width, height)`` is required). With the defaults (``n_frames=10, split_by='number'``) this equals
    spikingjelly's ``integrate_events_by_fixed_frames_number(events, 'number', 10, H, W)`` (which returns float64; we
    return int32). See :func:`segment_bounds` for the split methods. An empty stream gives zero frames (``T`` of them
    for ``'number'``/``'time'``, none for ``'count'``/``'window'``).
    """
    array, size = event_array(events, sensor_size)
    starts, stops = segment_bounds(
        array["t"], split_by, n_frames, events_per_frame=events_per_frame, window_us=window_us, overlap=overlap
    )
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise ConfigError(f"dtype must be a numeric type such as np.int32, got {dtype}")
    return _integrate(array, size[0], size[1], starts, stops, dtype)


# --------------------------------------------------------------------------------------------------- batched (torch)


@dataclasses.dataclass(frozen=True)
class EventBatch:
    """Several streams' events concatenated into 1-D torch tensors, with each stream's event count.

    ``t`` is int64 microseconds; ``x``, ``y`` int32; ``p`` uint8; ``lengths`` int64 ``[B]``. Events of sample ``b``
    are ``[offsets[b], offsets[b] + lengths[b])``, each sample sorted by time. Build one with :func:`stack_events`,
    which sets ``checked`` (its events were validated already, so :func:`batch_count_frames` need not check again).
    """

    t: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    p: torch.Tensor
    lengths: torch.Tensor
    sensor_size: tuple[int, int]
    checked: bool = False

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def to(self, device) -> EventBatch:
        return dataclasses.replace(
            self, **{name: getattr(self, name).to(device) for name in ("t", "x", "y", "p", "lengths")}
        )


def _batch_arrays(streams: Sequence, sensor_size, caller: str) -> tuple[list, tuple[int, int]]:
    """The event arrays of a batch's streams and their one sensor size (refused when they differ)."""
    if len(streams) == 0:
        raise ConfigError(f"{caller} needs at least one stream")
    arrays, sizes = zip(*(event_array(stream, sensor_size) for stream in streams), strict=True)
    if len(set(sizes)) != 1:
        raise ConfigError(
            f"the streams have different sensor sizes {sorted(set(sizes))}; pass sensor_size=(width, height) "
            "large enough for all of them"
        )
    return list(arrays), sizes[0]


def stack_events(streams: Sequence, sensor_size=None, device=None) -> EventBatch:
    """Concatenate EventStreams (or validated structured arrays, with ``sensor_size``) into an :class:`EventBatch`.

    All streams must share one sensor size (frames of a batch have one shape); pass ``sensor_size`` to choose it
    (every event must lie inside it).
    """
    arrays, size = _batch_arrays(streams, sensor_size, "stack_events")
    events = np.concatenate(arrays)
    return EventBatch(
        # astype copies: a field of a structured array is a strided view torch cannot wrap.
        t=torch.from_numpy(events["t"].astype(np.int64)).to(device),
        x=torch.from_numpy(events["x"].astype(np.int32)).to(device),
        y=torch.from_numpy(events["y"].astype(np.int32)).to(device),
        p=torch.from_numpy(events["p"].astype(np.uint8)).to(device),
        lengths=torch.tensor([len(a) for a in arrays], dtype=torch.int64, device=device),
        sensor_size=size,
        checked=True,
    )


# The smallest integer types a packed batch uses, in order of preference.
_PIXEL_DTYPES = ((np.int16, torch.int16), (np.int32, torch.int32), (np.int64, torch.int64))
_TORCH_FROM_NUMPY = {np.dtype(np_type): torch_type for np_type, torch_type in _PIXEL_DTYPES}
# Pixel indices below 2**24 (every Prophesee and iniVation sensor: 1280x720 gives 1,843,199) travel in 3 bytes,
# read back as int32 on the device: a quarter fewer bytes than int32 to write into shared memory, pin and copy.
_PIXEL_24_LIMIT = 1 << 24
_ALIGN = 8  # every section of a packed buffer starts on 8 bytes, so each can be viewed as its own dtype


def _aligned(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


@dataclasses.dataclass(frozen=True)
class PackedEvents:
    """A batch's events in few bytes, for the trip from DataLoader workers to the device; :meth:`unpack` gives the
    :class:`EventBatch` it stands for, and :func:`batch_count_frames` counts it directly (the same frames).

    Everything lives in one contiguous ``uint8`` ``buffer`` (one shared-memory segment from a worker, one pinned copy,
    one host-to-device copy), in sections viewed as:

    * ``lengths`` int64 ``[B]``: each sample's event count;
    * ``t0`` int64 ``[B]``: each sample's first timestamp (0 for an empty sample);
    * ``t`` ``[N]``: each event's timestamp minus its sample's ``t0``, int32 when every sample spans less than
      2**31 µs (about 35 minutes), int64 otherwise; None when packed with ``times=False`` (what the ``'number'``
      split needs: no time at all);
    * ``pixel`` ``[N]``: ``(p != 0) * H * W + y * W + x``, read as the smallest of int16/int32/int64 that holds
      ``2 * H * W - 1`` (``pixel_dtype``: int16 for N-MNIST's 34x34, int32 for 640x480 or 1280x720) and stored in
      ``pixel_bytes`` bytes each: the dtype's size, or 3 (little-endian) for int32 values below 2**24.

    ``max_span`` (the longest sample's last minus first timestamp, known when packing) spares the device a
    synchronisation when splitting by time. 2 bytes per event for N-MNIST split by number, 3 for 640x480 (7 with
    times), against the 17 of an :class:`EventBatch`.
    """

    buffer: torch.Tensor
    n_samples: int
    n_events: int
    sensor_size: tuple[int, int]
    pixel_dtype: torch.dtype
    time_dtype: torch.dtype | None
    max_span: int
    pixel_bytes: int = 0  # bytes per stored pixel index; 0: pixel_dtype's size

    def _sections(self) -> dict:
        """name -> (byte offset, count, dtype, bytes per item)."""
        b, n = self.n_samples, self.n_events
        sections, offset = {}, 0
        for name, count, dtype, size in (("lengths", b, torch.int64, 8), ("t0", b, torch.int64, 8),
                                         ("t", n, self.time_dtype, None),
                                         ("pixel", n, self.pixel_dtype, self.pixel_bytes or None)):
            if dtype is None:
                continue
            size = size or dtype.itemsize
            sections[name] = (offset, count, dtype, size)
            offset += _aligned(count * size)
        return sections

    def _view(self, name: str) -> torch.Tensor | None:
        section = self._sections().get(name)
        if section is None:
            return None
        offset, count, dtype, size = section
        raw = self.buffer[offset:offset + count * size]
        if size == dtype.itemsize:
            return raw.view(dtype)
        triplets = raw.view(count, 3).to(torch.int32)  # 3-byte little-endian pixel indices, as int32
        return triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)

    @property
    def lengths(self) -> torch.Tensor:
        return self._view("lengths")

    @property
    def t0(self) -> torch.Tensor:
        return self._view("t0")

    @property
    def t(self) -> torch.Tensor | None:
        """Timestamps relative to each sample's first (``t0``); None when packed without times."""
        return self._view("t")

    @property
    def pixel(self) -> torch.Tensor:
        return self._view("pixel")

    @property
    def device(self) -> torch.device:
        return self.buffer.device

    @property
    def nbytes(self) -> int:
        return int(self.buffer.numel())

    def __len__(self) -> int:
        return self.n_samples

    def pin_memory(self, device=None) -> PackedEvents:
        """The same batch in page-locked memory (what a DataLoader's ``pin_memory=True`` calls), so that :meth:`to`
        copies it to a GPU without blocking."""
        return dataclasses.replace(self, buffer=self.buffer.pin_memory())

    def to(self, device, non_blocking: bool | None = None) -> PackedEvents:
        """On ``device``, in one copy; ``non_blocking`` (default: when the buffer is pinned) lets the copy run
        behind the host."""
        if non_blocking is None:
            non_blocking = self.buffer.device.type == "cpu" and self.buffer.is_pinned()
        return dataclasses.replace(self, buffer=self.buffer.to(device, non_blocking=non_blocking))

    def unpack(self) -> EventBatch:
        """The :class:`EventBatch` these events stand for (on the same device; ``p`` as 0/1). Needs the times."""
        if self.t is None:
            raise ConfigError("these events were packed without their times (times=False): only the 'number' split "
                              "can use them; pack with times=True to unpack them")
        width, height = self.sensor_size
        pixel = self.pixel.to(torch.int64)
        on = pixel >= height * width
        pixel = pixel - on.to(torch.int64) * (height * width)
        lengths = self.lengths
        t = self.t.to(torch.int64) + torch.repeat_interleave(self.t0, lengths, output_size=self.n_events)
        return EventBatch(t=t, x=(pixel % width).to(torch.int32), y=(pixel // width).to(torch.int32),
                          p=on.to(torch.uint8), lengths=lengths.clone(), sensor_size=self.sensor_size, checked=True)


def _new_buffer(nbytes: int, shared: bool) -> torch.Tensor:
    if not shared:
        return torch.empty(nbytes, dtype=torch.uint8)
    # What torch's default_collate does in a worker: build the batch in shared memory at once, so that sending it to
    # the main process copies nothing more.
    storage = torch.empty(0, dtype=torch.uint8)._typed_storage()._new_shared(nbytes, device="cpu")
    return torch.empty(0, dtype=torch.uint8).set_(storage)


def pack_events(streams: Sequence, sensor_size=None, *, times: bool = True, shared: bool | None = None) -> PackedEvents:
    """EventStreams (or validated structured arrays, with ``sensor_size``) as one :class:`PackedEvents`: what
    :func:`stack_events` gives, in 2-8 bytes per event instead of 17. ``times=False`` leaves the timestamps out (the
    ``'number'`` split does not read them). ``shared`` (default: inside a DataLoader worker) builds the buffer in
    shared memory, so that handing it to the main process copies nothing."""
    arrays, (width, height) = _batch_arrays(streams, sensor_size, "pack_events")
    plane = width * height
    pixel_np, pixel_dtype = next((n, t) for n, t in _PIXEL_DTYPES if 2 * plane - 1 <= np.iinfo(n).max)
    three = pixel_np is np.int32 and 2 * plane - 1 < _PIXEL_24_LIMIT
    lengths = np.array([len(array) for array in arrays], dtype=np.int64)
    t0 = np.array([array["t"][0] if len(array) else 0 for array in arrays], dtype=np.int64)
    max_span = max(int(array["t"][-1]) - int(array["t"][0]) if len(array) else 0 for array in arrays)
    time_np = None if not times else np.dtype(np.int32 if max_span < 2**31 else np.int64)
    if shared is None:
        shared = torch.utils.data.get_worker_info() is not None
    n_samples, n_events = len(arrays), int(lengths.sum())
    layout = PackedEvents(torch.empty(0, dtype=torch.uint8), n_samples, n_events, (width, height), pixel_dtype,
                          None if time_np is None else _TORCH_FROM_NUMPY[time_np], max_span, 3 if three else 0)
    sections = layout._sections()
    last_offset, last_count, _, last_size = list(sections.values())[-1]
    buffer = _new_buffer(_aligned(last_offset + last_count * last_size), shared)
    raw = buffer.numpy()

    def view(name, dtype):
        offset, count, _, size = sections[name]
        return raw[offset:offset + count * size].view(dtype)

    view("lengths", np.int64)[:] = lengths
    view("t0", np.int64)[:] = t0
    pixels = view("pixel", np.uint8 if three else pixel_np)
    stamps = view("t", time_np) if time_np is not None else None
    fast = kernels()  # a numba pass where numba is importable: about 4x the numpy expression on 1 M events
    start = 0
    for array, first in zip(arrays, t0, strict=True):
        stop = start + len(array)
        if stop == start:
            continue
        pixel = pixels[3 * start:3 * stop] if three else pixels[start:stop]
        if fast is not None:
            (fast.pack_pixels24 if three else fast.pack_pixels)(array, width, height, pixel)
        else:
            # ((p != 0) * H + y) * W + x, computed in place in the output's own dtype (every partial value fits)
            value = np.empty(stop - start, np.int32) if three else pixel
            np.not_equal(array["p"], 0, out=value, casting="unsafe")
            np.multiply(value, height, out=value)
            np.add(value, array["y"], out=value, casting="unsafe")
            np.multiply(value, width, out=value)
            np.add(value, array["x"], out=value, casting="unsafe")
            if three:
                triplets = pixel.reshape(-1, 3)
                for byte in range(3):
                    np.right_shift(value, 8 * byte, out=triplets[:, byte], casting="unsafe")
        if stamps is not None:
            np.subtract(array["t"], first, out=stamps[start:stop], casting="unsafe")  # in int64, then stored
        start = stop
    return dataclasses.replace(layout, buffer=buffer)


def batch_count_frames(
    batch: EventBatch | PackedEvents | Sequence,
    n_frames: int = NEUROCLIP_FRAMES,
    split_by: str = "number",
    *,
    sensor_size=None,
    dtype: torch.dtype = torch.int32,
    device=None,
    validate: bool = True,
) -> torch.Tensor:
    """Per-polarity counts of a whole batch at once: ``[B, T, 2, H, W]``, on the batch's device.

    Equal to :func:`count_frames` on each stream (``split_by`` ``'number'`` or ``'time'``, with the same edge cases),
    computed without a loop over samples:

    1. the ``B*T`` segment lengths: for ``'number'`` from the event counts; for ``'time'`` by one ``searchsorted`` of
       the segment edges in a key ``t - t_first(b) + b*M`` that is sorted across the whole batch (``M`` > any span);
    2. every event's global segment ``b*T + j`` by one ``repeat_interleave`` of those lengths;
    3. one ``index_add_`` of ones at ``(segment*2 + polarity)*H*W + y*W + x`` into a flat int32 tensor.

    Runs on CUDA when the batch lives there (``batch.to('cuda')`` or ``device=``). ``validate`` checks that
    coordinates lie inside the sensor and that each sample is sorted by time (one synchronisation); a batch from
    :func:`stack_events` was checked already and is not checked again, nor is a :class:`PackedEvents` (from
    :func:`pack_events`, which validates what it packs).
    """
    n_frames = _check_int("n_frames", n_frames, 1)
    _check_split(split_by, "batch_count_frames")
    batch, packed = _on_device(batch, sensor_size, device)
    if split_by == "time":
        _require_times(batch, packed, "the 'time' split")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    frames = torch.zeros(n_samples * n_frames * 2 * height * width, dtype=dtype, device=batch.device)
    if total == 0:
        return frames.reshape(n_samples, n_frames, 2, height, width)
    segment = _batch_segments(batch, packed, _batch_lengths(batch, packed, validate), n_frames, split_by)
    index = segment * (2 * height * width)
    index += _batch_pixels(batch, packed)
    frames.index_add_(0, index, torch.ones(1, dtype=dtype, device=batch.device).expand(total))
    return frames.reshape(n_samples, n_frames, 2, height, width)


def _on_device(batch, sensor_size, device):
    """``(EventBatch or PackedEvents on device, whether packed)`` of what the batched encoders take."""
    packed = isinstance(batch, PackedEvents)
    if not isinstance(batch, EventBatch | PackedEvents):
        batch = stack_events(batch, sensor_size, device)
    elif device is not None:
        batch = batch.to(device)
    return batch, packed


def _n_events(batch, packed: bool) -> int:
    """The number of events in the whole batch."""
    return batch.n_events if packed else int(batch.x.numel())


def _check_split(split_by: str, caller: str) -> None:
    if split_by not in ("number", "time"):
        raise ConfigError(f"{caller} splits by 'number' or 'time' (a fixed T per sample); got {split_by!r}")


def _require_times(batch, packed: bool, what: str) -> None:
    if packed and batch.t is None:
        raise ConfigError(f"these events were packed without their times (times=False); {what} needs them: pack "
                          "with times=True")


def _batch_lengths(batch, packed: bool, validate: bool = True) -> torch.Tensor:
    """The samples' event counts (int64, on the batch's device), after checking an unchecked EventBatch when
    ``validate``."""
    lengths = batch.lengths.to(device=batch.device, dtype=torch.int64)
    if validate and not packed and not batch.checked:
        _check_batch(batch, *batch.sensor_size, lengths)
    return lengths


def _batch_segments(batch, packed: bool, lengths: torch.Tensor, n_frames: int, split_by: str) -> torch.Tensor:
    """Every event's global segment ``b*T + j`` (``split_by_number``'s or ``split_by_time``'s, per sample)."""
    n_samples, total = len(batch), _n_events(batch, packed)
    if split_by == "number":
        step = torch.div(lengths, n_frames, rounding_mode="floor")
        segment_lengths = step[:, None].repeat(1, n_frames)
        segment_lengths[:, -1] = lengths - step * (n_frames - 1)
    else:
        segment_lengths = _time_segment_lengths(batch.t, lengths, n_frames,
                                                max_span=batch.max_span if packed else None)
    return torch.repeat_interleave(
        torch.arange(n_samples * n_frames, device=batch.device), segment_lengths.reshape(-1), output_size=total
    )


def _first_and_span(t: torch.Tensor, lengths: torch.Tensor):
    """``(offsets, first, span)`` per sample: where its events start in ``t``, its first timestamp and its last
    minus its first (0 for an empty sample)."""
    total = t.numel()
    offsets = torch.cumsum(lengths, 0) - lengths
    nonempty = lengths > 0
    first = torch.where(nonempty, t[offsets.clamp(max=total - 1)], 0)
    last = torch.where(nonempty, t[(offsets + lengths - 1).clamp(min=0)], 0)
    return offsets, first, last - first


def _batch_pixels(batch, packed: bool) -> torch.Tensor:
    """Every event's ``(p != 0) * H * W + y * W + x``."""
    if packed:  # stored so already
        return batch.pixel
    width, height = batch.sensor_size
    pixel = batch.y.to(torch.int32) * width
    pixel += batch.x
    pixel += (batch.p != 0).to(torch.int32) * (height * width)
    return pixel


def batch_time_surface(batch, n_frames: int = NEUROCLIP_FRAMES, split_by: str = "number",
                       decay_us: float = 50_000.0, *, sensor_size=None, device=None,
                       validate: bool = True) -> torch.Tensor:
    """:func:`time_surface` of each sample at the ends of its ``split_by`` segments, for a whole batch at once:
    float32 ``[B, T, 2, H, W]`` on the batch's device. Each pixel's latest timestamp per segment by one
    ``scatter_reduce`` (amax), carried over the segments by a running maximum. The same values as the CPU function
    up to the last bit of ``exp`` (torch's and numpy's float32 exp may differ by one unit in the last place)."""
    n_frames = _check_int("n_frames", n_frames, 1)
    decay_us = _check_real("decay_us", decay_us, positive=True)
    _check_split(split_by, "batch_time_surface")
    batch, packed = _on_device(batch, sensor_size, device)
    _require_times(batch, packed, "batch_time_surface")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    plane = 2 * height * width
    surface = torch.zeros(n_samples, n_frames, 2, height, width, dtype=torch.float32, device=batch.device)
    if total == 0:
        return surface
    segment = _batch_segments(batch, packed, _batch_lengths(batch, packed, validate), n_frames, split_by)
    t = batch.t.to(torch.int64)  # relative to each sample's start when packed: ages are differences of times
    latest = torch.full((n_samples * n_frames * plane,), -1, dtype=torch.int64, device=batch.device)
    latest.scatter_reduce_(0, segment * plane + _batch_pixels(batch, packed), t, "amax")
    latest = torch.cummax(latest.view(n_samples, n_frames, plane), dim=1).values
    t_ref = torch.full((n_samples * n_frames,), -1, dtype=torch.int64, device=batch.device)
    t_ref.scatter_reduce_(0, segment, t, "amax")  # the segment's last event: times are sorted per sample
    t_ref = torch.cummax(t_ref.view(n_samples, n_frames, 1), dim=1).values
    values = torch.exp((t_ref - latest).to(torch.float32) / torch.tensor(-decay_us, dtype=torch.float32))
    values[(latest < 0) | (t_ref < 0).expand_as(latest)] = 0
    return values.view(n_samples, n_frames, 2, height, width)


def batch_voxel_grid(batch, n_bins: int = NEUROCLIP_FRAMES, *, sensor_size=None, device=None,
                     validate: bool = True) -> torch.Tensor:
    """:func:`voxel_grid` of each sample, for a whole batch at once: float32 ``[B, n_bins, 1, H, W]`` on the batch's
    device. The same shares (times normalised per sample in float64, cast to float32), added by ``index_add_``:
    every left share, then every right share. On a CPU the sums come in the same order as the numpy function's, so
    the grids are equal bit for bit; a GPU adds them in any order (differences in the last bits)."""
    n_bins = _check_int("n_bins", n_bins, 1)
    batch, packed = _on_device(batch, sensor_size, device)
    _require_times(batch, packed, "batch_voxel_grid")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    plane = height * width
    grid = torch.zeros(n_samples * n_bins * plane, dtype=torch.float32, device=batch.device)
    if total == 0:
        return grid.view(n_samples, n_bins, 1, height, width)
    lengths = _batch_lengths(batch, packed, validate)
    t = batch.t.to(torch.int64)
    _, first, span = _first_and_span(t, lengths)
    sample = torch.repeat_interleave(torch.arange(n_samples, device=batch.device), lengths, output_size=total)
    # per sample: (n_bins - 1) / span in float64, as the CPU function's Python division; 0 for a zero span
    factor = torch.where(span > 0, (n_bins - 1) / span.clamp(min=1).to(torch.float64), 0.0)
    tau = (t - first[sample]).to(torch.float64) * factor[sample]
    left = torch.clamp(torch.floor(tau).to(torch.int64), max=n_bins - 1)
    right_weight = tau - left
    pixel = _batch_pixels(batch, packed).to(torch.int64)
    on = pixel >= plane
    pixel = pixel - on.to(torch.int64) * plane
    sign = torch.where(on, 1.0, -1.0).to(torch.float64)
    base = sample * (n_bins * plane) + pixel
    grid.index_add_(0, base + left * plane, (sign * (1.0 - right_weight)).to(torch.float32))
    has_right = (right_weight > 0) & (left + 1 < n_bins)
    grid.index_add_(0, (base + (left + 1) * plane)[has_right], (sign * right_weight)[has_right].to(torch.float32))
    return grid.view(n_samples, n_bins, 1, height, width)


def batch_voxel_grid_image(grid: torch.Tensor) -> torch.Tensor:
    """:func:`voxel_grid_image` of each sample of ``[B, n_bins, 1, H, W]`` (one scale per sample, computed as the
    numpy function does: 127 / peak in float64, then float32)."""
    peak = grid.abs().amax(dim=(1, 2, 3, 4)).to(torch.float64)
    scale = torch.where(peak > 0, 127.0 / peak.clamp(min=torch.finfo(torch.float64).tiny), 0.0).to(torch.float32)
    return (128 + grid * scale.view(-1, 1, 1, 1, 1)).round().clamp(0, 255).to(torch.uint8)


def _check_batch(batch: EventBatch, width: int, height: int, lengths: torch.Tensor) -> None:
    x_min, x_max = torch.aminmax(batch.x)
    y_min, y_max = torch.aminmax(batch.y)
    offsets = torch.cumsum(lengths, 0) - lengths
    steps = batch.t[1:] < batch.t[:-1]
    # A step back in time across two samples is allowed: clear the positions where a sample starts.
    steps[(offsets[(offsets > 0) & (lengths > 0)] - 1)] = False
    bad = torch.stack([x_min < 0, x_max >= width, y_min < 0, y_max >= height, steps.any()]).tolist()
    if any(bad[:4]):
        raise InvalidEventsError(
            f"events lie outside the {width}x{height} sensor (x in [{int(x_min)}, {int(x_max)}], y in "
            f"[{int(y_min)}, {int(y_max)}]); pass the right sensor_size, or drop them with EventStream.crop_to_sensor()"
        )
    if bad[4]:
        raise InvalidEventsError("a sample's timestamps are not sorted; sort it with EventStream.sorted() first")


def _time_segment_lengths(t: torch.Tensor, lengths: torch.Tensor, n_frames: int,
                          max_span: int | None = None) -> torch.Tensor:
    """``[B, T]`` event counts of spikingjelly's equal-duration segments, for every sample at once (``t`` absolute,
    or relative to each sample's first event). ``max_span``, the longest span when known, saves a synchronisation."""
    n_samples, total = lengths.numel(), t.numel()
    offsets, first, span = _first_and_span(t, lengths)
    stride = (int(span.max()) if max_span is None else int(max_span)) + 1
    if n_samples * stride >= 2**62:
        raise ConfigError(
            f"the batch's recordings span up to {stride - 1} us, too long to split {n_samples} at once; "
            "pass fewer streams per batch"
        )
    # Sorted over the whole batch: sample b's keys lie in [b*stride, b*stride + span_b].
    base = torch.arange(n_samples, device=t.device) * stride
    key = t + torch.repeat_interleave(base - first, lengths, output_size=total)
    step = torch.div(span, n_frames, rounding_mode="floor")
    edges = base[:, None] + step[:, None] * torch.arange(n_frames, device=t.device)
    starts = torch.searchsorted(key, edges.reshape(-1)).reshape(n_samples, n_frames)
    starts[:, 0] = offsets
    stops = torch.empty_like(starts)
    stops[:, :-1] = starts[:, 1:]
    stops[:, -1] = offsets + lengths
    return stops - starts


# --------------------------------------------------------------------------------------------------- encode counts


def _split_channels(counts, name: str):
    if counts.ndim < 3 or counts.shape[-3] != 2:
        raise ConfigError(f"{name} needs per-polarity counts [..., 2, H, W]; got shape {tuple(counts.shape)}")
    return counts[..., 0:1, :, :], counts[..., 1:2, :, :]


def discrimination(counts, threshold: float = 0):
    """NeuroCLIP's "discrimination" map of per-polarity counts ``[..., 2, H, W]``: uint8 ``[..., 1, H, W]``.

    Start from grey 127; pixels whose channel-0 (OFF) count exceeds ``threshold`` become 255 (white); then pixels
    whose channel-1 (ON) count exceeds ``threshold`` become 0 (black), so ON wins where both fired::

        img = 127;  img[counts[0] > th] = 255;  img[counts[1] > th] = 0

    ``threshold`` is 0 for N-MNIST and ES-ImageNet and 1 for CIFAR10-DVS (:data:`DISCRIMINATION_THRESHOLDS`). Works on
    numpy arrays and torch tensors (on any device); the magnitude of the counts is discarded.
    """
    threshold = _check_real("threshold", threshold)
    off, on = _split_channels(counts, "discrimination")
    if isinstance(counts, torch.Tensor):
        # Python scalars only: a scalar tensor made on a GPU here would be a blocking copy, a synchronisation
        grey = torch.full(off.shape, GREY, dtype=torch.uint8, device=counts.device)
        return grey.masked_fill_(off > threshold, OFF_LEVEL).masked_fill_(on > threshold, ON_LEVEL)
    grey = np.where(off > threshold, np.uint8(OFF_LEVEL), np.uint8(GREY))
    grey[on > threshold] = ON_LEVEL
    return grey


def eventclip_histogram(counts, hot_pixel_sigmas: float = 10.0, nonzero_statistics: bool = False):
    """EventCLIP's grey event histogram on a white background (Wu et al. 2023): uint8 ``[..., 1, H, W]``.

    Per frame, with ``h`` its ``[2, H, W]`` counts:

    1. hot pixels: entries with ``h > mean(h) + hot_pixel_sigmas * std(h)`` are set to 0 (population statistics over
       all 2HW entries, or over the non-zero ones if ``nonzero_statistics``; ``hot_pixel_sigmas = 0`` disables it);
    2. ``n = h / max(h)`` and ``s = n_OFF + n_ON``, in float32;
    3. grey ``= round(127*s*w + 255*(1 - w))`` with ``w = min(s, 1)``: white where nothing fired, darker with more
       events (127 at ``s = 1``).

    These are the defaults of EventCLIP's ``make_event_histogram`` (thresh=10, grayscale colour 127 for both
    polarities, background_mask=True; datasets/vis.py). A frame with no events is white. Works on numpy arrays and
    torch tensors.
    """
    hot_pixel_sigmas = _check_real("hot_pixel_sigmas", hot_pixel_sigmas)
    _split_channels(counts, "eventclip_histogram")
    if isinstance(counts, torch.Tensor):
        return _eventclip_torch(counts, hot_pixel_sigmas, nonzero_statistics)
    return _eventclip_numpy(np.asarray(counts), hot_pixel_sigmas, nonzero_statistics)


_FRAME_AXES = (-3, -2, -1)


def _eventclip_numpy(counts: np.ndarray, sigmas: float, nonzero_statistics: bool) -> np.ndarray:
    hist = counts.astype(np.float64)
    if sigmas > 0:
        weight = (hist > 0) if nonzero_statistics else np.ones(hist.shape, bool)
        n = np.maximum(weight.sum(_FRAME_AXES, keepdims=True), 1)
        mean = (hist * weight).sum(_FRAME_AXES, keepdims=True) / n
        std = np.sqrt((((hist - mean) * weight) ** 2).sum(_FRAME_AXES, keepdims=True) / n)
        hist[hist > sigmas * std + mean] = 0
    hist = hist.astype(np.float32)
    peak = hist.max(axis=_FRAME_AXES, keepdims=True)
    norm = np.divide(hist, peak, out=np.zeros_like(hist), where=peak > 0)
    off, on = norm[..., 0:1, :, :], norm[..., 1:2, :, :]
    level = np.float32(127)
    weight = np.clip(on + off, 0, 1)
    grey = (on * level + off * level) * weight + np.float32(255) * (np.float32(1) - weight)
    return np.round(grey).astype(np.uint8)


def _eventclip_torch(counts: torch.Tensor, sigmas: float, nonzero_statistics: bool) -> torch.Tensor:
    hist = counts.to(torch.float64)
    if sigmas > 0:
        weight = (hist > 0).to(torch.float64) if nonzero_statistics else torch.ones_like(hist)
        n = weight.sum(_FRAME_AXES, keepdim=True).clamp(min=1)
        mean = (hist * weight).sum(_FRAME_AXES, keepdim=True) / n
        std = ((((hist - mean) * weight) ** 2).sum(_FRAME_AXES, keepdim=True) / n).sqrt()
        hist = hist.masked_fill(hist > sigmas * std + mean, 0)
    hist = hist.to(torch.float32)
    peak = hist.amax(_FRAME_AXES, keepdim=True)
    norm = torch.where(peak > 0, hist / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(hist))
    off, on = norm[..., 0:1, :, :], norm[..., 1:2, :, :]
    weight = (on + off).clamp(0, 1)
    grey = (on * 127 + off * 127) * weight + 255 * (1 - weight)
    return torch.round(grey).to(torch.uint8)


def eventbind_colour(counts):
    """EventBind's two-colour histogram (Zhou et al. 2023, representation 'rgb'): uint8 RGB ``[..., 3, H, W]``.

    With ``on``/``off`` the per-pixel counts, EventBind computes ``clip(1 - (on*(0,1,1) + off*(1,1,0)), 0, 1)``
    per (R, G, B); since counts are integers this is binary: white background, ON-only pixels red (255, 0, 0),
    OFF-only pixels blue (0, 0, 255), pixels with both black. Works on numpy arrays and torch tensors.
    """
    off, on = _split_channels(counts, "eventbind_colour")
    if isinstance(counts, torch.Tensor):
        off_fired, on_fired = off > 0, on > 0
        rgb = torch.cat([~off_fired, ~(off_fired | on_fired), ~on_fired], dim=-3)
        return rgb.to(torch.uint8) * 255
    off_fired, on_fired = np.asarray(off) > 0, np.asarray(on) > 0
    rgb = np.concatenate([~off_fired, ~(off_fired | on_fired), ~on_fired], axis=-3)
    return rgb.astype(np.uint8) * np.uint8(255)


# --------------------------------------------------------------------------------------------------- encode events


def time_surface(events, sensor_size=None, stops=None, decay_us: float = 50_000.0) -> np.ndarray:
    """Exponential time surface at the end of each segment: float32 ``[T, 2, H, W]`` in [0, 1].

    ``S_j(c, y, x) = exp(-(t_ref_j - t_last(c, y, x)) / decay_us)``, where ``t_last`` is the time of the latest event of
    polarity ``c`` at ``(x, y)`` with index below ``stops[j]`` (a memory of all earlier events, as in HOTS, Lagorce et
    al. 2017, and tonic's ToTimesurface) and ``t_ref_j`` the time of event ``stops[j] - 1``; 0 where no event happened
    yet. ``stops`` are segment ends from any split (default: NeuroCLIP's, :func:`split_by_number` with T = 10).
    ``decay_us`` (50 ms, a typical HOTS-scale constant) should be set per dataset.
    """
    array, (width, height) = event_array(events, sensor_size)
    decay_us = _check_real("decay_us", decay_us, positive=True)
    if stops is None:
        stops = split_by_number(len(array))[1]
    _, stops = _check_bounds(np.zeros_like(np.asarray(stops)), stops, len(array))
    n_frames, frame_size = len(stops), 2 * width * height
    surface = np.zeros((n_frames, 2, height, width), np.float32)
    if len(array) == 0 or n_frames == 0:
        return surface
    # Latest timestamp per pixel before each segment end: the events are sorted, so cut the stream at the sorted
    # stops, take the per-pixel maximum of each piece, then a running maximum over pieces.
    order = np.argsort(stops, kind="stable")
    cuts = stops[order]
    latest = np.full((n_frames, frame_size), -1, np.int64)
    # one numba pass where numba imports: the same integers; 1.3-2.2x the numpy code for the whole function (the
    # exp stays numpy), on 5 k to 1 M random events, one core of our CPU machine
    fast = kernels()
    if fast is not None and array.flags.c_contiguous:
        fast.latest_times(array, width, height, cuts.astype(np.int64), latest)
    else:
        piece = np.searchsorted(cuts, np.arange(len(array)), side="right")
        keep = piece < n_frames
        pixel = _pixel_index(array, width, height)
        np.maximum.at(latest.reshape(-1), piece[keep] * frame_size + pixel[keep], array["t"][keep])
        np.maximum.accumulate(latest, axis=0, out=latest)
    t_ref = np.where(cuts > 0, array["t"][np.maximum(cuts - 1, 0)], -1)
    surface.reshape(n_frames, frame_size)[order] = surface_values(t_ref[:, None], latest, decay_us)
    return surface


def surface_values(t_ref, latest, decay_us: float) -> np.ndarray:
    """``exp(-(t_ref - latest) / decay_us)`` in float32, 0 where a pixel has no event yet (``latest < 0``) or the
    segment ends before the first event (``t_ref < 0``): one time surface from the latest timestamps."""
    age = (t_ref - latest).astype(np.float32)
    values = np.exp(age / np.float32(-decay_us))
    values[(latest < 0) | (np.asarray(t_ref) < 0)] = 0
    return values


def voxel_grid(events, sensor_size=None, n_bins: int = NEUROCLIP_FRAMES) -> np.ndarray:
    """Event voxel grid with bilinear interpolation in time (Zhu et al. 2019): float32 ``[n_bins, 1, H, W]``.

    Each event adds its polarity ``+1`` (ON) / ``-1`` (OFF) to the two bins nearest to its normalised time
    ``tau = (n_bins - 1) * (t - t_first) / (t_last - t_first)``, with weights ``max(0, 1 - |b - tau|)``. This is the
    E2VID/Zhu normalisation, in which the first and last events sit on the first and last bin; tonic's
    ``ToVoxelGrid`` scales by ``n_bins`` instead and drops the last event. A stream spanning zero time puts every
    event in bin 0. The voxel grid uses the whole stream; split it first (:meth:`EventStream.slice_time`) for windows.
    """
    array, (width, height) = event_array(events, sensor_size)
    n_bins = _check_int("n_bins", n_bins, 1)
    grid = np.zeros(n_bins * height * width, np.float32)
    if len(array):
        span = int(array["t"][-1]) - int(array["t"][0])
        for side in ("left", "right"):  # every event's left share, then every right share: the sums' order
            add_voxel_shares(grid, array, int(array["t"][0]), span, n_bins, width, height, side)
    return grid.reshape(n_bins, 1, height, width)


def add_voxel_shares(grid, array, t_first: int, span: int, n_bins: int, width: int, height: int, side: str) -> None:
    """Add into the flat float32 ``grid`` each event's share in its ``side`` (``'left'`` or ``'right'``) time bin of
    :func:`voxel_grid`, for a stream starting at ``t_first`` and spanning ``span`` µs, in event order: what the voxel
    grid adds up, also piece by piece (``frames.streamed``). One numba pass where numba imports (the same float32
    sums in the same order; 3-9x ``np.add.at`` on 5 k to 1 M random events, one core of our CPU machine)."""
    fast = kernels()
    if fast is not None and array.flags.c_contiguous:
        factor = (n_bins - 1) / span if span > 0 else 0.0
        fast.voxel_add(array, t_first, factor, n_bins, width, height * width, side == "right", grid)
    else:
        np.add.at(grid, *_voxel_shares(array, t_first, span, n_bins, width, height, side))


def _voxel_shares(array, t_first: int, span: int, n_bins: int, width: int, height: int, side: str):
    """``(flat index, float32 value)`` of each event's share in its ``side`` time bin (the right share only where it
    has weight and a bin): the numpy form of :func:`add_voxel_shares`."""
    t = array["t"]
    tau = (t - t_first).astype(np.float64) * ((n_bins - 1) / span) if span > 0 else np.zeros(len(t))
    left = np.minimum(np.floor(tau).astype(np.int64), n_bins - 1)
    right_weight = tau - left
    sign = np.where(array["p"] != 0, 1.0, -1.0)
    pixel = array["y"].astype(np.int64) * width + array["x"]
    plane = height * width
    if side == "left":
        return left * plane + pixel, (sign * (1.0 - right_weight)).astype(np.float32)
    has_right = (right_weight > 0) & (left + 1 < n_bins)
    return (left[has_right] + 1) * plane + pixel[has_right], (sign[has_right] * right_weight[has_right]).astype(
        np.float32)


# --------------------------------------------------------------------------------------------------- surfaces to images


def time_surface_image(surface):
    """A time surface ``[..., 2, H, W]`` (values in [0, 1]) as uint8 RGB on black: ON in red, OFF in blue."""
    off, on = _split_channels(surface, "time_surface_image")
    if isinstance(surface, torch.Tensor):
        return torch.cat([on, torch.zeros_like(on), off], dim=-3).clamp(0, 1).mul(255).round().to(torch.uint8)
    rgb = np.concatenate([on, np.zeros_like(on), off], axis=-3)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def voxel_grid_image(grid):
    """A voxel grid ``[..., 1, H, W]`` as uint8 grey: ``round(128 + 127 * v / max|v|)`` (128 where nothing happened).

    One scale for the whole grid, so the bins keep their relative strength; ON is brighter, OFF darker.
    """
    if isinstance(grid, torch.Tensor):
        peak = grid.abs().amax() if grid.numel() else grid.new_tensor(0.0)
        scale = 127.0 / peak if peak > 0 else 0.0
        return (128 + grid * scale).round().clamp(0, 255).to(torch.uint8)
    grid = np.asarray(grid)
    peak = float(np.abs(grid).max()) if grid.size else 0.0
    scale = np.float32(127.0 / peak) if peak > 0 else np.float32(0)
    return np.clip(np.round(128 + grid * scale), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------- to CLIP


def to_clip_input(
    images,
    size: int = CLIP_INPUT_SIZE,
    normalization: str = "neuroclip",
    dtype: torch.dtype = torch.float32,
    device=None,
    *,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
) -> torch.Tensor:
    """Images ``[..., C, H, W]`` (C = 1 or 3, values 0..255) to CLIP input ``[..., 3, size, size]`` (torch).

    The steps of NeuroCLIP's ``mv_proj``: bilinear resize to ``size`` x ``size`` (``align_corners=False``, after the
    discrete mapping, so edges get intermediate greys), grey replicated to 3 channels, then normalised:

    * ``'neuroclip'``: ``x/255 - 0.5`` (NeuroCLIP's and PointCLIP's; CLIP's mean/std is not applied);
    * ``'clip'``: ``(x/255 - mean) / std`` per channel, CLIP's own preprocessing: pass the backbone's
      ``image_mean``/``image_std`` (default OpenAI's CLIP_MEAN/CLIP_STD; SigLIP's are 0.5, for instance);
    * ``'none'``: ``x/255``.

    Computed in float32 on the images' device (or ``device``), returned as ``dtype``.
    """
    size = _check_int("size", size, 1)
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {normalization!r}")
    if normalization == "clip":
        mean, std = check_mean_std(mean, std)
    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        tensor = tensor.to(device)
    if tensor.ndim < 3 or tensor.shape[-3] not in (1, 3):
        hint = (
            " (per-polarity counts are not an image: encode them first, e.g. with discrimination())"
            if (tensor.ndim >= 3 and tensor.shape[-3] == 2)
            else ""
        )
        raise ConfigError(f"to_clip_input needs images [..., C, H, W] with C = 1 or 3; got {tuple(tensor.shape)}{hint}")
    leading, (channels, height, width) = tensor.shape[:-3], tensor.shape[-3:]
    flat = tensor.reshape(-1, channels, height, width).to(torch.float32)
    if flat.shape[0] and (height, width) != (size, size):
        flat = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
    flat = flat.expand(-1, 3, -1, -1) if channels == 1 else flat
    if normalization == "neuroclip":
        flat = flat / 255.0 - 0.5
    elif normalization == "clip":
        # made on the host and sent without blocking (torch.tensor(..., device=gpu) would synchronise)
        mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1).to(flat.device, non_blocking=True)
        std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1).to(flat.device, non_blocking=True)
        flat = (flat / 255.0 - mean) / std
    else:
        flat = flat / 255.0
    return flat.to(dtype).reshape(*leading, 3, size, size)


def check_mean_std(mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``mean``/``std`` of :func:`to_clip_input` as 3 floats each (std finite and > 0), else :class:`ConfigError`."""
    try:
        mean = tuple(float(v) for v in mean)
        std = tuple(float(v) for v in std)
    except (TypeError, ValueError):
        raise ConfigError(f"mean and std must be 3 numbers each; got {mean!r} and {std!r}") from None
    if len(mean) != 3 or len(std) != 3 or not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
        raise ConfigError(f"mean and std must be 3 finite numbers each, std > 0; got {mean!r} and {std!r}")
    return mean, std


# --------------------------------------------------------------------------------------------------- named encodings

def encode(
    events,
    encoding: str = "discrimination",
    n_frames: int = NEUROCLIP_FRAMES,
    split_by: str = "number",
    *,
    sensor_size=None,
    events_per_frame: int | None = None,
    window_us: int | None = None,
    overlap: int = 0,
    threshold: float = 0,
    hot_pixel_sigmas: float = 10.0,
    decay_us: float = 50_000.0,
) -> np.ndarray:
    """A stream as the frames of a named encoding (see :data:`ENCODINGS` for each one's dtype and shape; a name
    joined by ``+`` gives the frames of each part, one part after the other).

    Every encoding but ``'voxel_grid'`` splits the stream as :func:`segment_bounds` does; the voxel grid has its own
    time bins (``n_frames`` of them over the whole stream) and ignores ``split_by``. Per encoding, the parameters used
    are ``threshold`` (discrimination), ``hot_pixel_sigmas`` (eventclip) and ``decay_us`` (time_surface).
    """
    encoding = check_encoding(encoding)
    array, size = event_array(events, sensor_size)
    stream = EventStream.unchecked(array, size)
    if len(parts := encoding_parts(encoding)) > 1:
        options = dict(events_per_frame=events_per_frame, window_us=window_us, overlap=overlap, threshold=threshold,
                       hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us)
        return np.concatenate([encode(stream, part, n_frames, split_by, **options) for part in parts])
    if encoding == "voxel_grid":
        return voxel_grid_image(voxel_grid(stream, n_bins=n_frames))
    starts, stops = segment_bounds(
        array["t"], split_by, n_frames, events_per_frame=events_per_frame, window_us=window_us, overlap=overlap
    )
    if encoding == "time_surface":
        return time_surface_image(time_surface(stream, stops=stops, decay_us=decay_us))
    return images_from_counts(integrate_segments(stream, size, starts, stops), encoding, threshold=threshold,
                              hot_pixel_sigmas=hot_pixel_sigmas)


# the encodings that are a function of the per-polarity counts alone (what images_from_counts makes)
COUNT_ENCODINGS = ("counts", "discrimination", "eventclip", "eventbind")


def images_from_counts(counts, encoding: str, *, threshold: float = 0, hot_pixel_sigmas: float = 10.0) -> np.ndarray:
    """Count frames ``[..., 2, H, W]`` as the images of a count-based encoding (:data:`COUNT_ENCODINGS`): what
    :func:`encode` does after counting, and what augmentation applies to transformed counts."""
    if encoding not in COUNT_ENCODINGS:
        raise ConfigError(f"{encoding!r} is not made from counts alone; count-based encodings: "
                          f"{', '.join(COUNT_ENCODINGS)}")
    if encoding == "counts":
        return counts
    if encoding == "discrimination":
        return discrimination(counts, threshold)
    if encoding == "eventclip":
        return eventclip_histogram(counts, hot_pixel_sigmas)
    return eventbind_colour(counts)
