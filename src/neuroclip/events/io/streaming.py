"""Recordings larger than memory: ``iter_events`` yields a recording in pieces (a number of events, or a time
window), and ``summarize_file`` describes one, both holding one decoding chunk (16 MiB of file) and one piece at a
time whatever the file's size.

Streamed from disk (``STREAMED``): ATIS ``.bin``, AEDAT 2.0, 3.1 and 4, Prophesee EVT 2.0 / EVT 3.0 RAW and DAT
(their readers decode chunk by chunk; AEDAT 3.1 and 4 packet by packet), ``.npy`` (memory-mapped) and HDF5 (sliced
from disk by h5py). Only ``.npz`` is read whole and then cut into the same pieces, so the API is the same but memory
is not bounded: its archive members are compressed, not addressable in part.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neuroclip.errors import ConfigError, EventFileError, InvalidEventsError
from neuroclip.events.io._common import CHUNK_BYTES, Decoded, concatenate, copy_events, in_order_and_inside
from neuroclip.events.io.aedat import open_aedat2, open_aedat3, open_aedat4
from neuroclip.events.io.arrays import open_hdf5, open_npy
from neuroclip.events.io.atis_bin import open_atis_bin
from neuroclip.events.io.dispatch import detect_format, read_events
from neuroclip.events.io.prophesee import open_prophesee_dat, open_prophesee_raw
from neuroclip.events.stream import EVENT_DTYPE, EventStream, check_events

# format name -> the opener of its chunked decoder
STREAMED = {
    "atis_bin": open_atis_bin,
    "aedat2": open_aedat2,
    "aedat3": open_aedat3,
    "aedat4": open_aedat4,
    "prophesee_raw": open_prophesee_raw,
    "prophesee_dat": open_prophesee_dat,
    "npy": open_npy,
    "hdf5": open_hdf5,
}


def _open(path, format: str | None, chunk_bytes: int, options: dict) -> tuple[str, Decoded | None]:
    name = format or detect_format(path)
    opener = STREAMED.get(name)
    if opener is None:
        return name, None
    try:
        return name, opener(path, chunk_bytes=chunk_bytes, **options)
    except TypeError as error:
        if "unexpected keyword" in str(error):
            # an option only the whole read takes (sort=True needs every event at once): read whole, where
            # read_events answers an option its reader does not take with one clear error
            return name, None
        raise


def _checked_chunks(decoded: Decoded, path) -> Iterator[np.ndarray]:
    """The decoded chunks, checked as the whole-file readers check them: time non-negative and sorted, across chunk
    boundaries too."""
    last = None
    for chunk in decoded.chunks():
        if not chunk.size:
            continue
        t = chunk["t"]
        in_order = in_order_and_inside(chunk) or (t[0] >= 0 and not np.any(t[1:] < t[:-1]))
        if (last is not None and t[0] < last) or not in_order:
            raise EventFileError(path, "decoded timestamps go backwards (or below 0): the file is corrupt or its "
                                       "events are out of order; read it whole with sort=True where the reader "
                                       "offers it")
        last = int(t[-1])
        yield chunk


def iter_events(path, *, events_per_piece: int | None = None, window_us: int | None = None,
                format: str | None = None, sensor_size=None, chunk_bytes: int = CHUNK_BYTES,
                **options) -> Iterator[EventStream]:
    """Yield recording ``path`` in pieces: ``events_per_piece`` events each (the last may hold fewer), or the events
    of consecutive ``window_us`` windows from the first event's timestamp (a window without events gives an empty
    piece, so piece i always covers [start + i*window_us, start + (i+1)*window_us)). Each piece's metadata holds
    ``piece`` (its index) and, for windows, ``start_us`` and ``stop_us``.

    Every piece has the same sensor size: ``sensor_size``, else the file's header, else the format's full sensor
    (the ATIS array for ``.bin``), else, for a file that states none, the size the whole read infers from the events
    (found by a first pass over the file). Formats in :data:`STREAMED` hold one
    piece and one decoding chunk in memory; the others are read whole first (see the module's docstring).
    """
    if (events_per_piece is None) == (window_us is None):
        raise ConfigError("give exactly one of events_per_piece (events per piece) and window_us (µs per piece)")
    for label, value in (("events_per_piece", events_per_piece), ("window_us", window_us)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")
    name, decoded = _open(path, format, chunk_bytes, options)
    if decoded is None:
        stream = read_events(path, format=name, sensor_size=sensor_size, **options)
        chunks, size, metadata = iter([stream.events]), stream.sensor_size, dict(stream.metadata)
    else:
        size = tuple(sensor_size) if sensor_size is not None else decoded.header_size or decoded.stream_size
        if size is None:  # the file states none: a first pass finds the one the whole read gives (the extent)
            summary = summarize_file(path, format=name, chunk_bytes=chunk_bytes, **options)
            size = (summary["width"], summary["height"])
        chunks, metadata = _checked_chunks(decoded, path), dict(decoded.metadata)
    pieces = _by_count(chunks, events_per_piece) if events_per_piece else _by_window(chunks, window_us)
    for index, (events, extra) in enumerate(pieces):
        try:
            if not in_order_and_inside(events, size):  # one numba pass where it can; else the numpy checks
                check_events(events, size)
        except InvalidEventsError as error:
            raise EventFileError(path, f"piece {index}: {error}") from None
        yield EventStream.unchecked(events, size, {**metadata, "piece": index, **extra})


def _by_count(chunks, n: int) -> Iterator[tuple[np.ndarray, dict]]:
    pending: list[np.ndarray] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += chunk.size
        if held < n:
            continue
        joined = concatenate(pending, EVENT_DTYPE)
        cut = (held // n) * n
        for start in range(0, cut, n):
            yield copy_events(joined[start:start + n]), {}  # a copy, so a piece kept by the caller frees the chunk
        pending, held = ([copy_events(joined[cut:])], held - cut) if held > cut else ([], 0)
    if held:
        yield concatenate(pending, EVENT_DTYPE), {}


def _by_window(chunks, window_us: int) -> Iterator[tuple[np.ndarray, dict]]:
    start = None
    current = 0  # index of the window being filled
    pending: list[np.ndarray] = []
    for chunk in chunks:
        if not chunk.size:
            continue
        if start is None:
            start = int(chunk["t"][0])
        index = (chunk["t"] - start) // window_us
        bounds = np.searchsorted(index, np.arange(current + 1, int(index[-1]) + 1))
        pieces = np.split(chunk, bounds)
        for offset, piece in enumerate(pieces[:-1]):
            pending.append(piece)
            events = concatenate(pending, EVENT_DTYPE)
            window = current + offset
            yield events, {"start_us": start + window * window_us, "stop_us": start + (window + 1) * window_us}
        current += len(pieces) - 1
        pending.append(pieces[-1])
    if start is not None:
        yield concatenate(pending, EVENT_DTYPE), {"start_us": start + current * window_us,
                                                  "stop_us": start + (current + 1) * window_us}


def summarize_file(path, *, format: str | None = None, sensor_size=None, chunk_bytes: int = CHUNK_BYTES,
                   **options) -> dict:
    """``read_events(path).summary()`` plus ``format``, computed chunk by chunk for the formats in
    :data:`STREAMED`: the same numbers, with memory bounded by one chunk whatever the file's size."""
    name, decoded = _open(path, format, chunk_bytes, options)
    if decoded is None:
        stream = read_events(path, format=name, sensor_size=sensor_size, **options)
        return {"format": stream.metadata.get("format"), **stream.summary()}
    n = on = 0
    first = last = None
    max_x = max_y = -1
    for chunk in _checked_chunks(decoded, path):
        n += chunk.size
        on += int(np.count_nonzero(chunk["p"]))
        first = int(chunk["t"][0]) if first is None else first
        last = int(chunk["t"][-1])
        max_x, max_y = max(max_x, int(chunk["x"].max())), max(max_y, int(chunk["y"].max()))
    size = tuple(sensor_size) if sensor_size is not None else decoded.header_size
    if size is None:
        if not n:
            raise EventFileError(path, "holds no events and states no sensor size; give one (--sensor-size "
                                       "WIDTHxHEIGHT; Python: sensor_size=(w, h))")
        size = decoded.sensor_size(max_x, max_y)
    if max_x >= size[0] or max_y >= size[1]:
        raise EventFileError(path, f"events reach (x={max_x}, y={max_y}), outside the {size[0]}x{size[1]} sensor; "
                                   "give the right sensor size (--sensor-size WIDTHxHEIGHT)")
    duration = (last - first) if n else 0
    return {"format": decoded.metadata.get("format"), "width": int(size[0]), "height": int(size[1]), "events": n,
            "duration_us": duration, "event_rate_hz": (n / (duration * 1e-6)) if duration > 0 else None,
            "on_fraction": on / n if n else None, "t_start_us": first, "t_end_us": last}
