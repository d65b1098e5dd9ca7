"""N-MNIST / N-Caltech101 ATIS ``.bin`` files (Orchard et al. 2015).

Each event is 5 bytes, a big-endian 40-bit word: x (8 bits) | y (8 bits) | polarity (1 bit, 1 = ON) | timestamp
(23 bits, µs). A row with y == 240 is not an event but a timestamp overflow marker: every later timestamp is
increased by 2**13 µs. Both constants are from the dataset authors' reader (Read_Ndataset.m, and its port
gorchard/event-Python); the 2**13 step, not 2**23, is what they wrote, and tonic follows it too.

Our own parser, chunk by chunk (bounded memory): a numba kernel (``_kernels.atis_bin``) where numba imports, else
five numpy byte columns. Reading the 500 real N-MNIST files, the numpy decoder and the checks after it took about
45 % of the time (cProfile); the kernel decodes, and gathers what the checks need, in one pass.
"""

from __future__ import annotations

import numpy as np

from neuroclip.errors import EventFileError, InvalidEventsError
from neuroclip.events.io._common import (
    CHUNK_BYTES,
    ChunkDecoder,
    Decoded,
    atomic_write,
    concatenate,
    decode_chunks,
    decode_whole,
    kernels,
    stat_file,
    stats_are_valid,
)
from neuroclip.events.stream import EVENT_DTYPE, EventStream, check_events, make_events

OVERFLOW_Y = 240
OVERFLOW_STEP_US = 1 << 13
_TIMESTAMP_BITS = 23
NMNIST_SIZE = (34, 34)
ATIS_SIZE = (304, 240)  # the ATIS array; N-Caltech101 recordings are crops that fit inside it


def _decode(rows: np.ndarray, overflows_before: int) -> tuple[np.ndarray, int]:
    """Decode an [n, 5] uint8 array; returns the events and the number of overflow rows seen."""
    x = rows[:, 0]
    y = rows[:, 1]
    p = rows[:, 2] >> 7
    t = (rows[:, 2].astype(np.int64) & 0x7F) << 16 | rows[:, 3].astype(np.int64) << 8 | rows[:, 4]
    is_overflow = y == OVERFLOW_Y
    overflow_count = np.cumsum(is_overflow) + overflows_before
    t += overflow_count * OVERFLOW_STEP_US
    keep = ~is_overflow
    events = make_events(t[keep], x[keep], y[keep], p[keep])
    return events, int(overflow_count[-1]) if rows.shape[0] else overflows_before


def _atis_size(max_x: int, max_y: int) -> tuple[int, int]:
    """34x34 when every event fits (N-MNIST), else the 304x240 ATIS array (N-Caltech101)."""
    return NMNIST_SIZE if max_x < NMNIST_SIZE[0] and max_y < NMNIST_SIZE[1] else ATIS_SIZE


class _AtisDecoder(ChunkDecoder):
    word = np.dtype(np.uint8)
    min_bytes = 5

    def __init__(self, path, kernels):
        super().__init__(path, kernels)
        self.overflows = 0

    def decode(self, words, start, out, n):
        n, self.overflows = self.k.atis_bin(words, self.overflows, out, n, self.stats)
        return n, words.size


def _checked_size(path) -> tuple:
    path, size = stat_file(path)
    if size == 0:
        raise EventFileError(path, "file is empty (0 bytes); an ATIS .bin recording holds 5 bytes per event")
    if size % 5:
        raise EventFileError(
            path,
            f"size {size} bytes is not a multiple of 5: the file is truncated or not an N-MNIST/N-Caltech101 .bin",
        )
    return path, size


def open_atis_bin(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """An N-MNIST / N-Caltech101 ``.bin`` recording opened for chunked decoding."""
    path, size = _checked_size(path)
    step = max(5, chunk_bytes - chunk_bytes % 5)
    metadata = {"format": "atis_bin", "overflow_rows": 0}

    def chunks():
        fast = kernels()
        with open(path, "rb") as fp:
            if fast is not None:
                decoder = _AtisDecoder(path, fast)
                for events in decode_chunks(fp, path, decoder, size, step):
                    metadata["overflow_rows"] = decoder.overflows
                    yield events
                return
            overflows = 0
            while raw := fp.read(step):
                events, overflows = _decode(np.frombuffer(raw, np.uint8).reshape(-1, 5), overflows)
                metadata["overflow_rows"] = overflows
                yield events

    # pieces of a stream cannot wait for the whole file to choose 34x34: they assume the full ATIS array
    return Decoded(None, metadata, chunks, _atis_size, ATIS_SIZE)


def read_atis_bin(path, sensor_size=None, *, chunk_bytes: int = CHUNK_BYTES) -> EventStream:
    """Read an N-MNIST / N-Caltech101 ``.bin`` recording.

    ``sensor_size`` defaults to 34x34 when every event fits (N-MNIST) and to the 304x240 ATIS array otherwise.
    """
    fast = kernels()
    if fast is None:
        decoded = open_atis_bin(path, chunk_bytes=chunk_bytes)
        events = concatenate(list(decoded.chunks()), EVENT_DTYPE)
        metadata, stats = decoded.metadata, None
    else:  # the same decoding as open_atis_bin's chunks, into one array, with the statistics the checks need
        path, size = _checked_size(path)
        decoder = _AtisDecoder(path, fast)
        with open(path, "rb", buffering=0) as fp:  # unbuffered: one read into our buffer, no copy through another
            events = decode_whole(fp, path, decoder, size, max(5, chunk_bytes - chunk_bytes % 5))
        metadata, stats = {"format": "atis_bin", "overflow_rows": decoder.overflows}, decoder.stats
    inferred = sensor_size is None
    if inferred:
        if not events.size:
            sensor_size = ATIS_SIZE
        elif stats is not None:
            sensor_size = _atis_size(int(stats[0]), int(stats[1]))
        else:
            sensor_size = _atis_size(*(int(events[name].max()) for name in "xy"))
    try:
        stream = EventStream.unchecked(events, sensor_size, {**metadata, "sensor_size_inferred": inferred})
        if stats is None or not stats_are_valid(stats, stream.sensor_size):
            check_events(stream.events, stream.sensor_size)
    except InvalidEventsError as error:
        raise EventFileError(path, f"decoded events are invalid ({error}); the file is corrupt") from None
    return stream


def encode_atis_bin(stream: EventStream) -> bytes:
    """Encode events as ATIS ``.bin`` bytes, inserting overflow rows where timestamps exceed 23 bits."""
    events = stream.events
    if events.size and (events["x"].max() > 255 or events["y"].max() >= OVERFLOW_Y):
        raise InvalidEventsError(
            "the ATIS .bin format holds x <= 255 and y < 240 (y = 240 marks timestamp overflow); "
            f"this stream reaches x={events['x'].max()}, y={events['y'].max()}"
        )
    t = events["t"].astype(np.int64)
    limit = (1 << _TIMESTAMP_BITS) - 1
    # overflow rows needed before each event so that its remaining timestamp fits 23 bits; non-decreasing in t
    needed = np.maximum(0, -(-(t - limit) // OVERFLOW_STEP_US))
    n_rows = events.size + int(needed[-1]) if events.size else 0
    rows = np.zeros((n_rows, 5), np.uint8)
    # position of each real event once the overflow rows are interleaved before it
    position = np.arange(events.size) + needed
    is_event = np.zeros(n_rows, bool)
    is_event[position] = True
    rows[~is_event, 1] = OVERFLOW_Y
    remainder = t - needed * OVERFLOW_STEP_US
    rows[position, 0] = events["x"]
    rows[position, 1] = events["y"]
    rows[position, 2] = (events["p"].astype(np.uint8) << 7) | ((remainder >> 16) & 0x7F).astype(np.uint8)
    rows[position, 3] = (remainder >> 8) & 0xFF
    rows[position, 4] = remainder & 0xFF
    return rows.tobytes()


def write_atis_bin(path, stream: EventStream):
    data = encode_atis_bin(stream)
    return atomic_write(path, lambda fp: fp.write(data))
