"""Count frames of a recording larger than memory: the per-polarity counts ``[T, 2, H, W]`` of :func:`count_frames`,
accumulated chunk by chunk from the file (:func:`neuroclip.iter_events`), so memory holds the frames and one chunk.
Two passes: the first counts the events and finds the time span (:func:`neuroclip.summarize_file`), the second
assigns each event to its segment by the same rule as :func:`split_by_number` / :func:`split_by_time`."""

from __future__ import annotations

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.events.io.streaming import iter_events, summarize_file
from neuroclip.frames.functional import _check_int

# events per piece of the second pass: a few MB of events at a time
_PIECE_EVENTS = 1 << 20


def count_frames_from_file(path, n_frames: int, split_by: str = "number", *, format: str | None = None,
                           sensor_size=None, **options) -> np.ndarray:
    """``count_frames(read_events(path), n_frames, split_by)``, computed without holding the recording: int32
    ``[T, 2, H, W]`` with the sensor size the whole read would give."""
    n_frames = _check_int("n_frames", n_frames, 1)
    if split_by not in ("number", "time"):
        raise ConfigError(f"streamed frames split by 'number' or 'time' (T frames); got {split_by!r}")
    summary = summarize_file(path, format=format, sensor_size=sensor_size, **options)
    width, height = summary["width"], summary["height"]
    n_events = summary["events"]
    frames = np.zeros(n_frames * 2 * height * width, np.int32)  # count_frames' dtype
    if n_events == 0:
        return frames.reshape(n_frames, 2, height, width)
    t0 = summary["t_start_us"]
    di = n_events // n_frames  # split_by_number's step
    dt = (summary["t_end_us"] - t0) // n_frames  # split_by_time's step
    seen = 0
    for piece in iter_events(path, events_per_piece=_PIECE_EVENTS, format=format, sensor_size=(width, height),
                             **options):
        events = piece.events
        if split_by == "number":
            index = np.arange(seen, seen + events.size, dtype=np.int64)
            segment = np.minimum(index // di, n_frames - 1) if di else np.full(events.size, n_frames - 1)
        else:
            segment = np.minimum((events["t"] - t0) // dt, n_frames - 1) if dt else np.full(events.size, n_frames - 1)
        seen += events.size
        flat = ((segment * 2 + (events["p"] != 0)) * height + events["y"]) * width + events["x"]
        np.add.at(frames, flat, 1)
    return frames.reshape(n_frames, 2, height, width)
