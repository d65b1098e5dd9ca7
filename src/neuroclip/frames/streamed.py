"""Frames of a recording larger than memory, for every encoding, equal to framing the whole read: computed piece by
piece from the file (:func:`neuroclip.iter_events`), so memory holds the frames and one piece of events.

A first pass describes the file (:func:`neuroclip.summarize_file`: events, first and last timestamps); then

* count frames (``[T, 2, H, W]``, every count-based encoding): one pass assigning each event to its segment by the
  rule of :func:`split_by_number` / :func:`split_by_time`;
* time surfaces: one pass keeping each pixel's latest timestamp, read off at each segment's end;
* the voxel grid: two passes, every event's left-bin share and then every right-bin share, the order in which the
  whole-stream :func:`voxel_grid` adds its float32 sums, so the grids are equal bit for bit.

A pair of encodings (``discrimination+voxel_grid``) feeds both parts from the same passes: two after the summary,
not three.
"""

from __future__ import annotations

import os

import numpy as np

from neuroclip.errors import ConfigError, EmptyStreamError
from neuroclip.events.io._common import kernels
from neuroclip.events.io.dispatch import detect_format, read_events
from neuroclip.events.io.streaming import STREAMED, iter_events, summarize_file
from neuroclip.frames.functional import (
    _check_int,
    _check_real,
    _pixel_index,
    add_voxel_shares,
    encode,
    images_from_counts,
    surface_values,
    time_surface_image,
    voxel_grid_image,
)
from neuroclip.frames.names import check_encoding, check_frame_count, encoding_parts

# events per piece of the passes after the first: a few MB of events at a time
_PIECE_EVENTS = 1 << 20


class _File:
    """A recording's first pass (its summary) and its pieces, as many passes as asked."""

    def __init__(self, path, format, sensor_size, options, summary=None):
        self.path, self.format, self.options = path, format, options
        if summary is None:
            summary = summarize_file(path, format=format, sensor_size=sensor_size, **options)
        self.width, self.height = summary["width"], summary["height"]
        self.n_events, self.t_first, self.t_last = summary["events"], summary["t_start_us"], summary["t_end_us"]

    def pieces(self):
        for piece in iter_events(self.path, events_per_piece=_PIECE_EVENTS, format=self.format,
                                 sensor_size=(self.width, self.height), **self.options):
            yield piece.events

    def segments(self, n_frames: int, split_by: str):
        """``(events, segment of each event)`` piece by piece: ``split_by_number``'s or ``split_by_time``'s T
        segments, non-decreasing along the file."""
        if split_by not in ("number", "time"):
            raise ConfigError(f"frames of a file read piece by piece split by 'number' or 'time' (T frames); got "
                              f"{split_by!r}")
        di = self.n_events // n_frames  # split_by_number's step
        dt = (self.t_last - self.t_first) // n_frames if self.n_events else 0  # split_by_time's step
        seen = 0
        for events in self.pieces():
            if split_by == "number":
                index = np.arange(seen, seen + events.size, dtype=np.int64)
                segment = np.minimum(index // di, n_frames - 1) if di else np.full(events.size, n_frames - 1)
            else:
                segment = np.minimum((events["t"] - self.t_first) // dt, n_frames - 1) if dt else \
                    np.full(events.size, n_frames - 1)
            seen += events.size
            yield events, segment


class _Counts:
    """Count frames, in one pass: int32 ``[T, 2, H, W]``."""

    passes, uses_segments = 1, True

    def __init__(self, file: _File, n_frames: int):
        self.n_frames, self.width, self.height = n_frames, file.width, file.height
        self.frame_size = 2 * file.height * file.width
        self.frames = np.zeros((n_frames, self.frame_size), np.int32)  # count_frames' dtype

    def feed(self, _pass: int, events: np.ndarray, segment: np.ndarray) -> None:
        # a piece's segments are non-decreasing: one bincount per segment it holds (np.add.at over the piece took
        # 4.3-5.1 s against 0.9 s for 30 M DVS128 events of benchmarks/streaming.py's file, 2-core CPU)
        pixel = _pixel_index(events, self.width, self.height)
        first = int(segment[0])
        bounds = np.searchsorted(segment, np.arange(first, int(segment[-1]) + 2))
        for j, (start, stop) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist()), start=first):
            if stop > start:
                self.frames[j] += np.bincount(pixel[start:stop], minlength=self.frame_size).astype(np.int32)

    def result(self) -> np.ndarray:
        return self.frames.reshape(self.n_frames, 2, self.height, self.width)


class _Surface:
    """Time surfaces, in one pass: float32 ``[T, 2, H, W]``, each pixel's latest timestamp read off at each
    segment's end."""

    passes, uses_segments = 1, True

    def __init__(self, file: _File, n_frames: int, decay_us: float):
        self.n_frames, self.width, self.height, self.decay_us = n_frames, file.width, file.height, decay_us
        frame_size = 2 * file.width * file.height
        self.surface = np.zeros((n_frames, frame_size), np.float32)
        self.latest = np.full(frame_size, -1, np.int64)  # each pixel's latest timestamp so far
        self.t_ref, self.frame = -1, 0  # the last event's time so far; the frame being built
        # a numba pass where numba imports: the same integers as np.maximum.at, which took 3.9 s against 1.0 s for
        # the whole read and time surface of 30 M DVS128 events (benchmarks/streaming.py's file, 2-core CPU)
        self.fast = kernels()

    def feed(self, _pass: int, events: np.ndarray, segment: np.ndarray) -> None:
        fast_piece = self.fast is not None and events.flags.c_contiguous
        pixel = None if fast_piece else _pixel_index(events, self.width, self.height)
        start = 0
        while self.frame < self.n_frames:
            end = int(np.searchsorted(segment, self.frame, side="right"))  # this piece's events of frames <= frame
            if end > start:
                if fast_piece:
                    self.fast.raise_latest(events, self.width, self.height, start, end, self.latest)
                else:
                    np.maximum.at(self.latest, pixel[start:end], events["t"][start:end])
                self.t_ref = int(events["t"][end - 1])
            if end == events.size:
                return  # the frame may go on in the next piece: it ends at an event with a later segment
            self.surface[self.frame] = surface_values(self.t_ref, self.latest, self.decay_us)
            self.frame, start = self.frame + 1, end

    def result(self) -> np.ndarray:
        while self.frame < self.n_frames:  # frames ending at the last event
            self.surface[self.frame] = surface_values(self.t_ref, self.latest, self.decay_us)
            self.frame += 1
        return self.surface.reshape(self.n_frames, 2, self.height, self.width)


class _Voxels:
    """The voxel grid, in two passes: every event's left-bin share, then every right-bin share (the order of
    :func:`voxel_grid`'s float32 sums): float32 ``[n_bins, 1, H, W]``."""

    passes, uses_segments = 2, False

    def __init__(self, file: _File, n_bins: int):
        self.n_bins, self.width, self.height = n_bins, file.width, file.height
        self.t_first, self.span = file.t_first, file.t_last - file.t_first
        self.grid = np.zeros(n_bins * file.height * file.width, np.float32)

    def feed(self, pass_: int, events: np.ndarray, _segment) -> None:
        add_voxel_shares(self.grid, events, self.t_first, self.span, self.n_bins, self.width, self.height,
                         ("left", "right")[pass_])

    def result(self) -> np.ndarray:
        return self.grid.reshape(self.n_bins, 1, self.height, self.width)


def _run(file: _File, accumulators: list, n_frames: int = 1, split_by: str = "number") -> list[np.ndarray]:
    """Feed every accumulator the file's pieces, as many passes as the most demanding needs (each pass read once
    for all of them, so a pair of encodings costs the passes of its costlier part); their results in order."""
    if file.n_events:
        for pass_ in range(max(a.passes for a in accumulators)):
            feeding = [a for a in accumulators if pass_ < a.passes]
            if any(a.uses_segments for a in feeding):
                pieces = file.segments(n_frames, split_by)
            else:
                pieces = ((events, None) for events in file.pieces())
            for events, segment in pieces:
                for accumulator in feeding:
                    accumulator.feed(pass_, events, segment)
    return [a.result() for a in accumulators]


def count_frames_from_file(path, n_frames: int, split_by: str = "number", *, format: str | None = None,
                           sensor_size=None, summary: dict | None = None, **options) -> np.ndarray:
    """``count_frames(read_events(path), n_frames, split_by)``, computed without holding the recording: int32
    ``[T, 2, H, W]`` with the sensor size the whole read would give. ``summary``: the file's
    :func:`neuroclip.summarize_file` (with the same options) when the caller has it, which saves the first pass."""
    n_frames = _check_int("n_frames", n_frames, 1)
    file = _File(path, format, sensor_size, options, summary)
    return _run(file, [_Counts(file, n_frames)], n_frames, split_by)[0]


def time_surface_from_file(path, n_frames: int, split_by: str = "number", decay_us: float = 50_000.0, *,
                           format: str | None = None, sensor_size=None, summary: dict | None = None,
                           **options) -> np.ndarray:
    """``time_surface(stream, stops=segment_bounds(t, split_by, n_frames)[1], decay_us)`` of the whole read,
    computed without holding the recording: float32 ``[T, 2, H, W]`` (``summary`` as for
    :func:`count_frames_from_file`)."""
    n_frames = _check_int("n_frames", n_frames, 1)
    decay_us = _check_real("decay_us", decay_us, positive=True)
    file = _File(path, format, sensor_size, options, summary)
    return _run(file, [_Surface(file, n_frames, decay_us)], n_frames, split_by)[0]


def voxel_grid_from_file(path, n_bins: int, *, format: str | None = None, sensor_size=None,
                         summary: dict | None = None, **options) -> np.ndarray:
    """``voxel_grid(read_events(path), n_bins=n_bins)``, computed without holding the recording: float32
    ``[n_bins, 1, H, W]``, equal bit for bit (``summary`` as for :func:`count_frames_from_file`)."""
    n_bins = _check_int("n_bins", n_bins, 1)
    file = _File(path, format, sensor_size, options, summary)
    return _run(file, [_Voxels(file, n_bins)])[0]


def encode_file(path, encoding: str = "discrimination", n_frames: int = 10, split_by: str = "number", *,
                threshold: float = 0, hot_pixel_sigmas: float = 10.0, decay_us: float = 50_000.0,
                format: str | None = None, sensor_size=None, summary: dict | None = None, **options) -> np.ndarray:
    """``encode(read_events(path), encoding, n_frames, split_by, ...)`` for a recording larger than memory (split
    by ``'number'`` or ``'time'``): the same images, from the file piece by piece (``summary`` as for
    :func:`count_frames_from_file`). A pair of encodings reads the file once for both parts: the passes of its
    costlier part."""
    encoding = check_encoding(encoding)
    n_frames = _check_int("n_frames", n_frames, 1)
    parts = encoding_parts(encoding)
    if "time_surface" in parts:
        decay_us = _check_real("decay_us", decay_us, positive=True)
    file = _File(path, format, sensor_size, options, summary)

    def part_of(part: str):  # (what a part accumulates over the passes, its frames to images)
        if part == "voxel_grid":
            return _Voxels(file, n_frames), voxel_grid_image
        if part == "time_surface":
            return _Surface(file, n_frames, decay_us), time_surface_image
        return _Counts(file, n_frames), lambda counts: images_from_counts(
            counts, part, threshold=threshold, hot_pixel_sigmas=hot_pixel_sigmas)

    accumulators, to_images = zip(*map(part_of, parts))
    images = [to_image(frames) for to_image, frames in
              zip(to_images, _run(file, list(accumulators), n_frames, split_by))]
    return images[0] if len(images) == 1 else np.concatenate(images)


def encode_recording(path, encoding: str = "discrimination", n_frames: int = 10, split_by: str = "number", *,
                     threshold: float = 0, hot_pixel_sigmas: float = 10.0, decay_us: float = 50_000.0,
                     format: str | None = None, stream_above_bytes: int = 0, fill_frames: bool = True,
                     **reading) -> tuple[np.ndarray, int]:
    """``(encode(read_events(path), ...), number of events)`` for a recording file: a file over
    ``stream_above_bytes`` in a format read in pieces (:data:`neuroclip.events.io.STREAMED`) through
    :func:`encode_file`, others read whole. An empty recording, or with ``fill_frames`` one that cannot fill
    ``n_frames`` (:func:`~neuroclip.frames.names.check_frame_count`; CLIP's frames, whose number the user picks), is
    an error naming the file."""
    # a missing file, a pipe or a device goes to the readers, which name the problem
    streamed = os.path.isfile(path) and os.path.getsize(path) > stream_above_bytes \
        and (format or detect_format(path)) in STREAMED
    if streamed:
        summary = summarize_file(path, format=format, **reading)
        n_events, duration = summary["events"], summary["duration_us"]
    else:
        stream = read_events(path, format=format, **reading)
        n_events, duration = len(stream), stream.duration
    if not n_events:
        raise EmptyStreamError(f"{path} holds no events: there are no frames to make")
    if fill_frames:
        try:
            check_frame_count(n_frames, n_events, duration, split_by)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
    parameters = dict(threshold=threshold, hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us)
    if streamed:
        return encode_file(path, encoding, n_frames, split_by, format=format, summary=summary, **parameters,
                           **reading), n_events
    return encode(stream, encoding, n_frames, split_by, **parameters), n_events
