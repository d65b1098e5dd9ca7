"""Prophesee recordings: EVT 2.0 and EVT 3.0 RAW files, and the older DAT files (N-CARS, ATIS).

The bit layouts follow Prophesee's public format documentation (docs.prophesee.ai, "EVT 2.0 Format",
"EVT 3.0 Format", "DAT file format").

These are our own decoders, not expelliarmus: on corrupt input expelliarmus prints to stdout from C and returns
whatever it decoded so far (a silent partial read), and it refuses files not named ``.raw``. Ours validate every
word, raise one error naming the file and the problem, decode chunk by chunk with bounded memory, and give the same
events as expelliarmus on the real sample files (tests/test_io_real.py). Each format has a numba kernel
(``_kernels``: one pass over the words, 9-27x the vectorised numpy decoders and faster than expelliarmus, see
benchmarks/readers.py) and the vectorised numpy decoder below, used where numba is not importable; the two give the
same events and errors (tests/test_io_speedpath.py).
"""

from __future__ import annotations

import re

import numpy as np

from neuroclip.errors import EventFileError, InvalidEventsError
from neuroclip.events.io._common import (
    CHUNK_BYTES,
    ChunkDecoder,
    Decoded,
    decode_chunks,
    decode_file_whole,
    iter_payload_words,
    kernels,
    read_text_header,
    size_from_extent,
    stat_file,
    stats_are_valid,
)
from neuroclip.events.stream import EventStream, check_events, make_events

# Sensor arrays of the Prophesee generations, for files whose header gives no geometry.
_PLUGIN_SIZES = (
    (re.compile(r"gen4|imx636|gen41|imx646"), (1280, 720)),
    (re.compile(r"gen3|gen31"), (640, 480)),
    (re.compile(r"imx8|genx320"), (320, 320)),
)
ATIS_SIZE = (304, 240)


def _header_fields(lines: list[str]) -> dict[str, str]:
    fields = {}
    for line in lines:
        parts = line.strip().split(None, 1)
        if parts:
            fields[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    return fields


def _sensor_from_header(fields: dict[str, str]) -> tuple[int, int] | None:
    if "geometry" in fields:  # "% geometry 1280x720"
        match = re.fullmatch(r"(\d+)x(\d+)", fields["geometry"])
        if match:
            return int(match[1]), int(match[2])
    if "format" in fields:  # "% format EVT3;height=720;width=1280"
        width = re.search(r"width=(\d+)", fields["format"])
        height = re.search(r"height=(\d+)", fields["format"])
        if width and height:
            return int(width[1]), int(height[1])
    if "width" in fields and "height" in fields:  # DAT files: "% Width 304" / "% Height 240"
        try:
            return int(fields["width"]), int(fields["height"])
        except ValueError:
            return None
    plugin = fields.get("plugin_name", "").lower()
    for pattern, size in _PLUGIN_SIZES:
        if pattern.search(plugin):
            return size
    return None


def _finish(path, events, sensor_size, header_size, metadata, stats=None) -> EventStream:
    """The stream of the decoded ``events``, checked; ``stats`` are the kernels' statistics (None: compute)."""
    if sensor_size is None:
        sensor_size = header_size
    if sensor_size is None:
        if not events.size:
            raise EventFileError(path, "holds no events and its header gives no sensor size; give one "
                                       "(--sensor-size WIDTHxHEIGHT; Python: sensor_size=(w, h))")
        if stats is not None:
            sensor_size = size_from_extent(stats[0], stats[1])
        else:
            sensor_size = size_from_extent(events["x"].max(), events["y"].max())
        metadata["sensor_size_inferred"] = True
    stream = EventStream.unchecked(events, sensor_size, metadata)
    try:
        if stats is None or not stats_are_valid(stats, stream.sensor_size):
            check_events(stream.events, stream.sensor_size)
    except InvalidEventsError as error:
        raise EventFileError(path, f"decoded events are invalid ({error}); the file is corrupt") from None
    return stream


def _forward_fill(is_update: np.ndarray, values: np.ndarray, initial) -> np.ndarray:
    """At each position, the value of the latest update at or before it (``initial`` before the first)."""
    index = np.where(is_update, np.arange(is_update.size), -1)
    np.maximum.accumulate(index, out=index)
    return np.where(index >= 0, values[np.maximum(index, 0)], initial)


# ---------------------------------------------------------------------------------------------------------- EVT 2.0

_EVT2_CD_OFF, _EVT2_CD_ON, _EVT2_TIME_HIGH = 0x0, 0x1, 0x8
_EVT2_KNOWN = np.zeros(16, bool)
_EVT2_KNOWN[[0x0, 0x1, 0x8, 0xA, 0xE, 0xF]] = True  # CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED


def _read_evt2_payload(fp, path, chunk_bytes):
    time_high = 0  # µs >> 6; events before the first TIME_HIGH word are timed from 0
    for words in iter_payload_words(fp, path, np.dtype("<u4"), chunk_bytes=chunk_bytes):
        kind = words >> 28
        unknown = ~_EVT2_KNOWN[kind]
        if unknown.any():
            at = int(np.flatnonzero(unknown)[0])
            raise _evt2_reserved(path, at, int(kind[at]))
        is_high = kind == _EVT2_TIME_HIGH
        high = _forward_fill(is_high, (words & 0x0FFFFFFF).astype(np.int64), time_high)
        if is_high.any():
            time_high = int(high[-1])
        is_cd = kind <= _EVT2_CD_ON
        cd = words[is_cd]
        t = (high[is_cd] << 6) | ((cd >> 22) & 0x3F)
        yield make_events(t, (cd >> 11) & 0x7FF, cd & 0x7FF, kind[is_cd])


class _Evt2Decoder(ChunkDecoder):
    word = np.dtype("<u4")
    min_bytes = 4

    def __init__(self, path, kernels):
        super().__init__(path, kernels)
        self.time_high = 0

    def decode(self, words, start, out, n):
        n, self.time_high, bad = self.k.evt2(words, self.time_high, out, n, self.stats)
        if bad >= 0:
            raise _evt2_reserved(self.path, bad, int(words[bad]) >> 28)
        return n, words.size


def _evt2_reserved(path, at, kind):
    return EventFileError(path, f"word {at} of a chunk has reserved EVT 2.0 type 0x{kind:X}: the file is corrupt "
                                "or not EVT 2.0")


# ---------------------------------------------------------------------------------------------------------- EVT 3.0

_EVT3_ADDR_Y, _EVT3_ADDR_X, _EVT3_VECT_BASE_X, _EVT3_VECT_12, _EVT3_VECT_8 = 0x0, 0x2, 0x3, 0x4, 0x5
_EVT3_TIME_LOW, _EVT3_TIME_HIGH = 0x6, 0x8
_EVT3_KNOWN = np.zeros(16, bool)
_EVT3_KNOWN[[0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]] = True
_EVT3_VECTOR_WIDTH = np.zeros(16, np.int64)
_EVT3_VECTOR_WIDTH[_EVT3_VECT_12] = 12
_EVT3_VECTOR_WIDTH[_EVT3_VECT_8] = 8
# TIME_HIGH holds bits 12..23 of the timestamp and wraps every 2**24 µs; a drop larger than half its range is a wrap.
_EVT3_HIGH_WRAP = 1 << 12


class _Evt3State:
    def __init__(self):
        self.y = 0
        self.time_low = 0
        self.time_high = 0  # unwrapped
        self.base_x = 0
        self.base_polarity = 0
        self.consumed = 0  # vector width used since the last VECT_BASE_X


def _decode_evt3_chunk(words: np.ndarray, state: _Evt3State, path) -> np.ndarray:
    kind = (words >> 12).astype(np.int64)
    unknown = ~_EVT3_KNOWN[kind]
    if unknown.any():
        at = int(np.flatnonzero(unknown)[0])
        raise _evt3_reserved(path, at, int(kind[at]))
    value = (words & 0x0FFF).astype(np.int64)

    y = _forward_fill(kind == _EVT3_ADDR_Y, value & 0x7FF, state.y)
    time_low = _forward_fill(kind == _EVT3_TIME_LOW, value, state.time_low)
    is_high = kind == _EVT3_TIME_HIGH
    highs = value[is_high]
    if highs.size:
        previous = np.concatenate([[state.time_high % _EVT3_HIGH_WRAP], highs[:-1]])
        wraps = np.cumsum(highs - previous < -_EVT3_HIGH_WRAP // 2)
        unwrapped_highs = highs + (state.time_high // _EVT3_HIGH_WRAP + wraps) * _EVT3_HIGH_WRAP
        unwrapped = np.zeros(words.size, np.int64)
        unwrapped[is_high] = unwrapped_highs
    else:
        unwrapped = value
    time_high = _forward_fill(is_high, unwrapped, state.time_high)
    t = (time_high << 12) | time_low

    # vector events: the x of each vector word is its base plus the widths of the vector words since that base
    is_base = kind == _EVT3_VECT_BASE_X
    width = _EVT3_VECTOR_WIDTH[kind]
    consumed_before = np.cumsum(width) - width  # exclusive running sum within the chunk
    base_index = np.where(is_base, np.arange(words.size), -1)
    np.maximum.accumulate(base_index, out=base_index)

    vectors = np.flatnonzero(width)
    vector_base = base_index[vectors]
    has_base = vector_base >= 0
    safe = np.maximum(vector_base, 0)
    x_start = np.where(has_base, (value[safe] & 0x7FF) + consumed_before[vectors] - consumed_before[safe],
                       state.base_x + state.consumed + consumed_before[vectors])
    vector_polarity = np.where(has_base, (value[safe] >> 11) & 1, state.base_polarity)
    bits = ((value[vectors, None] >> np.arange(12)) & 1).astype(bool)
    bits[width[vectors] == 8, 8:] = False

    # output slots in word order: one per single event (ADDR_X), one per set bit of a vector word
    singles = np.flatnonzero(kind == _EVT3_ADDR_X)
    per_word = np.zeros(words.size, np.int64)
    per_word[singles] = 1
    per_vector = bits.sum(axis=1)
    per_word[vectors] = per_vector
    first_slot = np.cumsum(per_word) - per_word
    total = int(per_word.sum())
    source = np.empty(total, np.int64)
    x = np.empty(total, np.int64)
    polarity = np.empty(total, np.int64)
    slots = first_slot[singles]
    source[slots] = singles
    x[slots] = value[singles] & 0x7FF
    polarity[slots] = (value[singles] >> 11) & 1
    row, column = np.nonzero(bits)
    rank = np.arange(row.size) - (np.cumsum(per_vector) - per_vector)[row]
    slots = first_slot[vectors[row]] + rank
    source[slots] = vectors[row]
    x[slots] = x_start[row] + column
    polarity[slots] = vector_polarity[row]
    if x.size and x.max() > 0xFFFF:
        raise _evt3_past_x(path)

    # carry the state into the next chunk
    state.y = int(y[-1])
    state.time_low = int(time_low[-1])
    state.time_high = int(time_high[-1])
    if is_base.any():
        last = int(np.flatnonzero(is_base)[-1])
        state.base_x = int(value[last] & 0x7FF)
        state.base_polarity = int((value[last] >> 11) & 1)
        state.consumed = int(width[last:].sum())
    else:
        state.consumed += int(width.sum())
    return make_events(t[source], x, y[source], polarity)


def _read_evt3_payload(fp, path, chunk_bytes):
    state = _Evt3State()
    for words in iter_payload_words(fp, path, np.dtype("<u2"), chunk_bytes=chunk_bytes):
        yield _decode_evt3_chunk(words, state, path)


def _evt3_reserved(path, at, kind):
    return EventFileError(path, f"word {at} of a chunk has reserved EVT 3.0 type 0x{kind:X}: the file is corrupt "
                                "or not EVT 3.0")


def _evt3_past_x(path):
    return EventFileError(path, "a vector event runs past x = 65535: the file is corrupt")


class _Evt3Decoder(ChunkDecoder):
    word = np.dtype("<u2")
    min_bytes = None  # a vector word holds up to 12 events

    def __init__(self, path, kernels):
        super().__init__(path, kernels)
        self.state = np.zeros(6, np.int64)  # the kernel's carried state, see _kernels.evt3

    def decode(self, words, start, out, n):
        n, start, status = self.k.evt3(words, start, self.state, out, n, self.stats)
        if status >= 2:  # the numpy decoder looks for reserved types in the whole chunk first: so do we
            kind = words[start:] >> 12 if status == 2 else words >> 12
            reserved = np.flatnonzero(~_EVT3_KNOWN[kind])
            if reserved.size:
                at = int(reserved[0]) + (start if status == 2 else 0)
                raise _evt3_reserved(self.path, at, int(words[at]) >> 12)
            raise _evt3_past_x(self.path)
        return n, start


# ---------------------------------------------------------------------------------------------------------- RAW

def open_prophesee_raw(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """A Prophesee RAW file opened for chunked decoding; the ``% evt 2.0`` / ``% evt 3.0`` (or ``% format EVT3``)
    header picks the decoder."""
    path, file_size = stat_file(path)
    with open(path, "rb") as fp:
        lines, offset = read_text_header(fp, path, b"%")
    if not lines:
        raise EventFileError(path, "has no '%' header lines: not a Prophesee RAW file")
    fields = _header_fields(lines)
    version = fields.get("evt", "")
    if not version and "format" in fields:
        version = {"evt2": "2.0", "evt21": "2.1", "evt3": "3.0"}.get(fields["format"].split(";")[0].lower(), "")
    if version not in ("2.0", "3.0"):
        if version:
            raise EventFileError(path, f"Prophesee EVT {version} is not supported; convert it to EVT 3.0 with "
                                       "Metavision (metavision_file_to_raw) or to HDF5")
        raise EventFileError(path, "the header names no event format ('% evt 2.0' or '% evt 3.0')")
    payload = _read_evt2_payload if version == "2.0" else _read_evt3_payload
    fast_decoder = _Evt2Decoder if version == "2.0" else _Evt3Decoder

    def chunks():
        fast = kernels()
        with open(path, "rb") as fp:
            fp.seek(offset)
            if fast is None:
                yield from payload(fp, path, chunk_bytes)
            else:
                yield from decode_chunks(fp, path, fast_decoder(path, fast), file_size - offset, chunk_bytes)

    def whole():
        return decode_file_whole(path, offset, file_size - offset, chunk_bytes, fast_decoder, chunks)

    header_size = _sensor_from_header(fields)
    return Decoded(header_size, {"format": f"prophesee_evt{version}", "header": lines}, chunks, size_from_extent,
                   header_size, whole)


def read_prophesee_raw(path, sensor_size=None, *, chunk_bytes: int = CHUNK_BYTES) -> EventStream:
    """Read a Prophesee RAW file; the ``% evt 2.0`` / ``% evt 3.0`` (or ``% format EVT3``) header picks the decoder."""
    decoded = open_prophesee_raw(path, chunk_bytes=chunk_bytes)
    events, stats = decoded.whole()
    return _finish(path, events, sensor_size, decoded.header_size, decoded.metadata, stats)


# ---------------------------------------------------------------------------------------------------------- DAT

_DAT_WORDS = np.dtype([("t", "<u4"), ("data", "<u4")])


class _DatDecoder(ChunkDecoder):
    word = np.dtype("<u8")  # t in the low half, data in the high half
    min_bytes = 8

    def decode(self, words, start, out, n):
        n, bad = self.k.dat(words, out, n, self.stats)
        if bad >= 0:
            raise _dat_polarity(self.path, int(np.max(words >> np.uint64(60))))
        return n, words.size


def _dat_polarity(path, polarity):
    return EventFileError(path, f"polarity field holds {polarity}; expected 0 or 1: corrupt")


def open_prophesee_dat(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """A DAT file of 2D events (N-CARS, Prophesee ATIS/Gen1) opened for chunked decoding: uint32 t, uint32 packed
    x (14 bits), y (14 bits) and polarity (4 bits); version 2 layout."""
    path, file_size = stat_file(path)
    with open(path, "rb") as fp:
        lines, offset = read_text_header(fp, path, b"%")
        fields = _header_fields(lines)
        version = fields.get("version", "")
        if version and version != "2":
            raise EventFileError(path, f"DAT version {version} is not supported (version 2 is)")
        type_and_size = fp.read(2)
    if len(type_and_size) < 2:
        raise EventFileError(path, "ends before the event type/size bytes that follow the header: truncated")
    event_type, event_size = type_and_size
    if event_size != 8:
        raise EventFileError(path, f"declares {event_size}-byte events; 2D-event DAT files use 8 bytes per event")
    if event_type not in (0x00, 0x0C):  # 0x00: Event2D (ATIS, N-CARS); 0x0C: CD events (Gen1)
        raise EventFileError(path, f"holds event type 0x{event_type:02X}, not 2D/CD events")
    offset += 2

    def chunks():
        fast = kernels()
        with open(path, "rb") as fp:
            fp.seek(offset)
            if fast is not None:
                yield from decode_chunks(fp, path, _DatDecoder(path, fast), file_size - offset, chunk_bytes)
                return
            for words in iter_payload_words(fp, path, _DAT_WORDS, chunk_bytes=chunk_bytes):
                data = words["data"]
                polarity = data >> 28
                if polarity.size and polarity.max() > 1:
                    raise _dat_polarity(path, int(polarity.max()))
                yield make_events(words["t"], data & 0x3FFF, (data >> 14) & 0x3FFF, polarity)

    def whole():
        return decode_file_whole(path, offset, file_size - offset, chunk_bytes, _DatDecoder, chunks)

    header_size = _sensor_from_header(fields)
    if header_size is None and "n9chronocam7event2de" in " ".join(lines).lower():
        header_size = ATIS_SIZE
    return Decoded(header_size, {"format": "prophesee_dat", "header": lines}, chunks, size_from_extent, header_size,
                   whole)


def read_prophesee_dat(path, sensor_size=None, *, chunk_bytes: int = CHUNK_BYTES) -> EventStream:
    """Read a DAT file of 2D events (N-CARS, Prophesee ATIS/Gen1): uint32 t, uint32 packed x (14 bits),
    y (14 bits) and polarity (4 bits); version 2 layout."""
    decoded = open_prophesee_dat(path, chunk_bytes=chunk_bytes)
    events, stats = decoded.whole()
    return _finish(path, events, sensor_size, decoded.header_size, decoded.metadata, stats)
