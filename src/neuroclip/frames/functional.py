"""The event-frame module as pure functions: split a stream, count events per pixel, encode the counts as images.

The stages, each a function of arrays only:

1. **split** the time-sorted stream into segments, given as ``(starts, stops)`` event-index arrays
   (:func:`segment_bounds`);
2. **count** events per segment, polarity and pixel into ``[T, 2, H, W]`` (:func:`integrate_segments`, or
   :func:`count_frames` for both steps, or :func:`~neuroclip.frames.tensors.batch_count_frames` for a whole batch
   in one torch call);
3. **encode** the counts (or the events) as images (:func:`discrimination`, :func:`eventclip_histogram`,
   :func:`eventbind_colour`, :func:`time_surface`, :func:`voxel_grid`);
4. **to CLIP input**: resize, replicate to 3 channels, normalise (:func:`~neuroclip.frames.tensors.to_clip_input`).

This module is numpy only and does not import torch; the encodings also take torch tensors (when torch is loaded).
The batched torch functions and CLIP input are in :mod:`neuroclip.frames.tensors`.

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

import math
import sys
from numbers import Integral, Real

import numpy as np

from neuroclip.errors import ConfigError
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


def _is_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor, without importing torch: none can exist before torch is imported."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


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
    if _is_tensor(counts):
        import torch

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
    if _is_tensor(counts):
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


def _eventclip_torch(counts, sigmas: float, nonzero_statistics: bool):
    import torch

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
    if _is_tensor(counts):
        import torch

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
    if _is_tensor(surface):
        import torch

        return torch.cat([on, torch.zeros_like(on), off], dim=-3).clamp(0, 1).mul(255).round().to(torch.uint8)
    rgb = np.concatenate([on, np.zeros_like(on), off], axis=-3)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def voxel_grid_image(grid):
    """A voxel grid ``[..., 1, H, W]`` as uint8 grey: ``round(128 + 127 * v / max|v|)`` (128 where nothing happened).

    One scale for the whole grid, so the bins keep their relative strength; ON is brighter, OFF darker.
    """
    if _is_tensor(grid):
        import torch

        peak = grid.abs().amax() if grid.numel() else grid.new_tensor(0.0)
        scale = 127.0 / peak if peak > 0 else 0.0
        return (128 + grid * scale).round().clamp(0, 255).to(torch.uint8)
    grid = np.asarray(grid)
    peak = float(np.abs(grid).max()) if grid.size else 0.0
    scale = np.float32(127.0 / peak) if peak > 0 else np.float32(0)
    return np.clip(np.round(128 + grid * scale), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------- to CLIP


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
