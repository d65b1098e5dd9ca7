"""iniVation / jAER recordings: AEDAT 2.0 (DVS128, the original CIFAR10-DVS files), AEDAT 3.1 (DVS128 Gesture) and
AEDAT 4 (DV software).

AEDAT 2.0 and 3.1 are decoded by our own code: both are flat arrays of fixed-size words, and no maintained package
reads them with validation (tonic's reader asserts, and reads every AEDAT 3.1 packet as polarity events). Both are
decoded by numba kernels where numba imports (one pass per word, the numpy decoders' events and errors; AEDAT 3.1's
packets gathered per chunk first): 1.8x (2.0) and 2.1x (3.1) tonic's whole-file reads, against 0.7-1.0x for the numpy
decoders (``benchmarks/readers.py --quick``, 5 M-event files of real N-MNIST events, our 2-core machine).
AEDAT 4 is decoded by the ``aedat`` package (Rust), packet by packet, which we wrap so that its errors and panics
become one :class:`EventFileError`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import tempfile

import numpy as np

from neuroclip.errors import EventFileError, InvalidEventsError, MissingDependencyError
from neuroclip.events.io._common import (
    CHUNK_BYTES,
    ChunkDecoder,
    Decoded,
    concatenate,
    decode_chunks,
    decode_file_whole,
    iter_payload_words,
    kernels,
    read_text_header,
    require_file,
    stats_are_valid,
    trimmed,
)
from neuroclip.events.stream import EVENT_DTYPE, EventStream, check_events, make_events

DVS128_SIZE = (128, 128)
DAVIS346_SIZE = (346, 260)

# AEDAT 2.0 address layouts: (x mask, x shift, y mask, y shift, polarity mask, mapping).
#  - "jaer" (the default): jAER's DVS128 extractor (net.sf.jaer.chip.retina.DVS128), the orientation the camera's
#    own software shows: x = 127 - raw_x, y = raw_y with the origin at the bottom left, ON = 1 - raw polarity bit.
#  - "cifar10dvs": the mapping spikingjelly's CIFAR10-DVS loader applies (spikingjelly/datasets/cifar10_dvs.py):
#    x = 127 - raw_y, y = 127 - raw_x (jAER's view transposed), ON = 1 - raw polarity bit. NeuroCLIP read
#    CIFAR10-DVS through it, so the CIFAR10-DVS dataset reads its files this way: frames come out oriented as in
#    that work. For any other recording it would transpose the picture.
AEDAT2_LAYOUTS = ("jaer", "cifar10dvs")


def _finish(path, events, sensor_size, metadata, sort: bool, scan: bool = False, stats=None) -> EventStream:
    """The stream of ``events``, checked; ``stats``: the decoding kernel's statistics (a one-pass check where they
    show nothing wrong); ``scan``: check with the numba kernel's one pass where numba imports."""
    if sort and events.size:
        events = events[np.argsort(events["t"], kind="stable")]
        stats = None  # their order flag was of the unsorted events
    stream = EventStream.unchecked(events, sensor_size, metadata)
    try:
        fast = kernels() if scan and stats is None else None
        if fast is not None:
            stats = fast.new_stats()
            if fast.scan(stream.events, stats) < 0:
                stats = None
        if stats is None or not stats_are_valid(stats, stream.sensor_size):
            check_events(stream.events, stream.sensor_size)
    except InvalidEventsError as error:
        hint = " (pass sort=True to sort out-of-order timestamps)" if "sorted" in str(error) else ""
        raise EventFileError(path, f"decoded events are invalid: {error}{hint}") from None
    return stream


class _Aedat2Decoder(ChunkDecoder):
    word = np.dtype("<u8")  # big-endian (address, t) pairs; the kernel swaps the bytes
    min_bytes = 8

    def __init__(self, path, kernels, layout: str):
        super().__init__(path, kernels)
        self.cifar10dvs = layout == "cifar10dvs"

    def decode(self, words, start, out, n):
        n, bad = self.k.aedat2(words, self.cifar10dvs, out, n, self.stats)
        if bad >= 0:
            raise _aedat2_wide(self.path)
        return n, words.size


def _aedat2_wide(path):
    return EventFileError(path, "addresses use bits above bit 15: not DVS128 events (DAVIS files need the AEDAT 3.1/4 "
                                "readers)")


def open_aedat2(path, *, layout: str = "jaer", chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """A jAER AEDAT 2.0 DVS128 recording opened for chunked decoding: ``#`` header lines, then big-endian
    (uint32 address, uint32 µs)."""
    if layout not in AEDAT2_LAYOUTS:
        raise EventFileError(path, f"unknown AEDAT 2.0 layout {layout!r}; choose one of {', '.join(AEDAT2_LAYOUTS)} "
                                   "(--layout at the command line)")
    path = require_file(path)
    with open(path, "rb") as fp:
        lines, offset = read_text_header(fp, path, b"#")
    if not lines or not lines[0].startswith("!AER-DAT2"):
        raise EventFileError(path, "does not start with '#!AER-DAT2.0': not an AEDAT 2.0 file")

    payload_bytes = path.stat().st_size - offset

    def chunks():
        fast = kernels()  # a numba pass per word where numba imports: the same events and errors
        with open(path, "rb") as fp:
            fp.seek(offset)
            if fast is not None:
                yield from decode_chunks(fp, path, _Aedat2Decoder(path, fast, layout), payload_bytes, chunk_bytes)
                return
            for words in iter_payload_words(fp, path, np.dtype([("address", ">u4"), ("t", ">u4")]),
                                            chunk_bytes=chunk_bytes):
                yield _decode_aedat2(words, layout, path)

    def whole():
        return decode_file_whole(path, offset, payload_bytes, chunk_bytes,
                                 functools.partial(_Aedat2Decoder, layout=layout), chunks)

    return Decoded(DVS128_SIZE, {"format": "aedat2", "layout": layout, "header": lines}, chunks,
                   lambda max_x, max_y: DVS128_SIZE, DVS128_SIZE, whole)


def _decode_aedat2(words: np.ndarray, layout: str, path) -> np.ndarray:
    address = words["address"]
    raw_x = (address & 0xFE) >> 1
    raw_y = (address & 0x7F00) >> 8
    on = 1 - (address & 1)
    if address.size and (address >> 16).any():
        raise _aedat2_wide(path)
    # bit 15 marks jAER's special (external) events, which are not pixel events
    is_pixel = (address & 0x8000) == 0
    if not is_pixel.all():
        words, raw_x, raw_y, on = words[is_pixel], raw_x[is_pixel], raw_y[is_pixel], on[is_pixel]
    if layout == "cifar10dvs":
        x, y = 127 - raw_y, 127 - raw_x
    else:
        x, y = 127 - raw_x, raw_y
    return make_events(words["t"], x, y, on)


def read_aedat2(path, sensor_size=None, *, layout: str = "jaer", sort: bool = False,
                chunk_bytes: int = CHUNK_BYTES) -> EventStream:
    """Read a jAER AEDAT 2.0 DVS128 recording: ``#`` header lines, then big-endian (uint32 address, uint32 µs)."""
    decoded = open_aedat2(path, layout=layout, chunk_bytes=chunk_bytes)
    events, stats = decoded.whole()
    return _finish(path, events, sensor_size or DVS128_SIZE, decoded.metadata, sort, stats=stats)


_AEDAT3_PACKET = struct.Struct("<hhiiiiii")
_POLARITY_EVENT = 1


class _Aedat3Packets:
    """Polarity packets gathered until about a chunk's worth, then decoded in one pass: by the numba kernel where
    numba imports (into ``out`` when given), else vectorised numpy; the same events and errors."""

    def __init__(self, path):
        self.path, self.bodies, self.counts, self.overflows, self.ends, self.bytes = path, [], [], [], [], 0

    def add(self, body: bytes, ts_overflow: int, end: int) -> None:
        self.bodies.append(body)
        self.counts.append(len(body) // 8)
        self.overflows.append(ts_overflow)
        self.ends.append(end)
        self.bytes += len(body)

    def _negative(self, packet: int) -> EventFileError:
        return EventFileError(self.path, f"negative timestamp in the packet before byte {self.ends[packet]}: corrupt")

    def events(self, fast=None, out=None, n: int = 0, stats=None):
        """The packets' events (or, with ``out``, the new ``n`` after writing them into it from ``n``)."""
        raw = b"".join(self.bodies)
        if fast is not None:
            if out is None:
                out, stats = np.empty(len(raw) // 8, EVENT_DTYPE), fast.new_stats()
                return out[:self.events(fast, out, 0, stats)]
            n, bad = fast.aedat3(np.frombuffer(raw, "<u8"), np.asarray(self.counts, np.int64),
                                 np.asarray(self.overflows, np.int64), out, n, stats)
            if bad >= 0:
                raise self._negative(bad)
            return n
        words = np.frombuffer(raw, dtype=[("data", "<u4"), ("t", "<i4")])
        overflow = np.repeat(np.asarray(self.overflows, np.int64), self.counts)
        packet = np.repeat(np.arange(len(self.counts)), self.counts)
        valid = (words["data"] & 1) == 1  # invalid events (valid bit clear) are dropped, as the format asks
        if not valid.all():
            words, overflow, packet = words[valid], overflow[valid], packet[valid]
        negative = np.flatnonzero(words["t"] < 0)
        if negative.size:
            raise self._negative(int(packet[negative[0]]))
        data = words["data"]
        t = (overflow << 31) | words["t"].astype(np.int64)
        return make_events(t, (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, (data >> 1) & 1)


def _aedat3_batches(path, offset: int, file_size: int, chunk_bytes: int):
    """The polarity packets of an AEDAT 3.1 payload, about ``chunk_bytes`` per :class:`_Aedat3Packets` batch; other
    packets are skipped by a seek. A damaged packet header ends it with an error, after the packets before it."""
    with open(path, "rb") as fp:
        fp.seek(offset)
        pending = _Aedat3Packets(path)
        position = offset
        while position < file_size:
            header = fp.read(_AEDAT3_PACKET.size)
            problem = None
            if len(header) < _AEDAT3_PACKET.size:
                problem = f"truncated packet header at byte {position}"
            else:
                kind, _source, size, _ts_offset, ts_overflow, capacity, number, _valid = _AEDAT3_PACKET.unpack(header)
                body_bytes = capacity * size
                if size <= 0 or capacity < 0 or not 0 <= number <= capacity or ts_overflow < 0 \
                        or position + _AEDAT3_PACKET.size + body_bytes > file_size:
                    problem = (f"packet at byte {position} has an impossible header (event size {size}, capacity "
                               f"{capacity}, number {number}) or runs past the end of the file: truncated or corrupt")
                elif kind == _POLARITY_EVENT and size != 8:
                    problem = (f"polarity packet at byte {position + _AEDAT3_PACKET.size + body_bytes} declares "
                               f"{size}-byte events, not 8")
            if problem is not None:
                if pending.counts:
                    yield pending  # an error in the packets before comes first
                raise EventFileError(path, problem)
            position += _AEDAT3_PACKET.size + body_bytes
            if kind != _POLARITY_EVENT:
                fp.seek(body_bytes, os.SEEK_CUR)
                continue
            body = fp.read(body_bytes)
            pending.add(body[:number * 8] if number < capacity else body, ts_overflow, position)
            if pending.bytes >= chunk_bytes:
                yield pending
                pending = _Aedat3Packets(path)
        if pending.counts:
            yield pending


def open_aedat3(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """An AEDAT 3.1 recording (cAER; DVS128 Gesture) opened for chunked decoding: packets are read one at a time
    and their polarity events handed on about ``chunk_bytes`` of packets at a time. Only polarity packets are
    decoded; invalid events (their valid bit clear) are dropped, as the format asks."""
    path = require_file(path)
    file_size = path.stat().st_size
    with open(path, "rb") as fp:
        lines, offset = read_text_header(fp, path, b"#")
    if not lines or not lines[0].startswith("!AER-DAT3"):
        raise EventFileError(path, "does not start with '#!AER-DAT3.1': not an AEDAT 3.x file")
    if lines[-1] != "!END-HEADER":
        raise EventFileError(path, "header has no '#!END-HEADER' line: truncated or corrupt")
    says_dvs128 = "dvs128" in "\n".join(lines).lower()

    def chunks():
        fast = kernels()
        for batch in _aedat3_batches(path, offset, file_size, chunk_bytes):
            yield batch.events(fast)

    def whole():
        fast = kernels()
        if fast is None:
            return concatenate(list(chunks()), EVENT_DTYPE), None
        # room for every word of the payload: pages never written (headers, other packets) cost no memory
        out, n, stats = np.empty((file_size - offset) // 8, EVENT_DTYPE), 0, fast.new_stats()
        for batch in _aedat3_batches(path, offset, file_size, chunk_bytes):
            n = batch.events(fast, out, n, stats)
        return trimmed(out, n), stats

    def sensor_size(max_x: int, max_y: int) -> tuple[int, int]:
        return DVS128_SIZE if says_dvs128 or (max_x < 128 and max_y < 128) else DAVIS346_SIZE

    known = DVS128_SIZE if says_dvs128 else None
    return Decoded(known, {"format": "aedat3", "header": lines}, chunks, sensor_size, known, whole)


def read_aedat3(path, sensor_size=None, *, sort: bool = False, chunk_bytes: int = CHUNK_BYTES) -> EventStream:
    """Read an AEDAT 3.1 recording (cAER; DVS128 Gesture): every polarity packet of :func:`open_aedat3`, decoded
    into one array. Without a size, a header naming the DVS128 or events inside 128x128 give the DVS128's, others
    the DAVIS346's."""
    decoded = open_aedat3(path, chunk_bytes=chunk_bytes)
    events, stats = decoded.whole()
    if sensor_size is None:
        if stats is not None:
            extent = int(stats[0]), int(stats[1])
        else:
            extent = (int(events["x"].max()), int(events["y"].max())) if events.size else (-1, -1)
        sensor_size = decoded.sensor_size(*extent)
    return _finish(path, events, sensor_size, decoded.metadata, sort, stats=stats)


@contextlib.contextmanager
def _captured_stderr():
    """Send file descriptor 2 to a temporary file for the duration; yields a callable returning what was written.

    The Rust decoder prints panic messages straight to fd 2; we turn them into an error message instead.
    """
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lambda: (sink.seek(0), sink.read().decode("utf-8", "replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _aedat4_error(path, error: BaseException, stderr_text) -> EventFileError:
    if isinstance(error, (KeyboardInterrupt, SystemExit, MemoryError)):
        raise error
    detail = (str(error).strip() or stderr_text().strip() or type(error).__name__).splitlines()[0]
    return EventFileError(path, f"AEDAT 4 decoding failed ({detail}): the file is truncated or corrupt")


def open_aedat4(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """The first event stream of an AEDAT 4 file (DV software) opened for chunked decoding: the ``aedat`` package's
    decoder reads one packet at a time (its memory stays at a packet), and about ``chunk_bytes`` of events are handed
    on at a time. The Rust side's errors and panics become one :class:`EventFileError`."""
    path = require_file(path)
    with open(path, "rb") as fp:
        if not fp.read(14).startswith(b"#!AER-DAT4.0"):
            raise EventFileError(path, "does not start with '#!AER-DAT4.0': not an AEDAT 4 file")
    try:
        import aedat
    except ImportError:
        raise MissingDependencyError("aedat", "Reading AEDAT 4 files") from None
    with _captured_stderr() as stderr_text:
        try:
            streams = {sid: info for sid, info in aedat.Decoder(str(path)).id_to_stream().items()
                       if info.get("type") == "events"}
        except BaseException as error:  # the Rust side raises RuntimeError, or pyo3's PanicException on a panic
            raise _aedat4_error(path, error, stderr_text) from None
    if not streams:
        raise EventFileError(path, "holds no event stream (only frames, IMU or triggers)")
    stream_id = min(streams)
    size = (int(streams[stream_id]["width"]), int(streams[stream_id]["height"]))

    def chunks():
        packets = None
        exhausted = False
        while not exhausted:
            parts, held = [], 0
            # stderr is captured while the decoder runs, never while this generator waits for its caller
            with _captured_stderr() as stderr_text:
                try:
                    if packets is None:
                        packets = iter(aedat.Decoder(str(path)))
                    for packet in packets:
                        if packet["stream_id"] == stream_id and "events" in packet:
                            parts.append(packet["events"])
                            held += packet["events"].nbytes
                            if held >= chunk_bytes:
                                break
                    else:
                        exhausted = True
                except BaseException as error:
                    raise _aedat4_error(path, error, stderr_text) from None
            if parts:
                yield _joined_aedat4(parts)

    return Decoded(size, {"format": "aedat4", "stream_id": stream_id}, chunks, lambda max_x, max_y: size, size)


def read_aedat4(path, sensor_size=None, *, sort: bool = False) -> EventStream:
    """Read the first event stream of an AEDAT 4 file (DV software), using the ``aedat`` package: every packet of
    :func:`open_aedat4`, joined once."""
    decoded = open_aedat4(path, chunk_bytes=1 << 62)  # one chunk: the packets are joined once
    events = concatenate(list(decoded.chunks()), EVENT_DTYPE)
    return _finish(path, events, sensor_size or decoded.header_size, dict(decoded.metadata), sort, scan=True)


@functools.lru_cache(maxsize=16)  # asked once per packet, of the same few dtypes
def _copies_bytewise(dtype: np.dtype) -> bool:
    """Whether packets of ``dtype`` hold EVENT_DTYPE's bytes. aedat 2.x gives t uint64, x uint16, y uint16, on bool,
    packed: byte for byte EVENT_DTYPE (t int64, x uint16, y uint16, p uint8) for timestamps below 2**63 (a larger
    one turns negative and is refused by the checks)."""
    fields = dtype.fields or {}
    expected = {"t": ("<u8", "<i8"), "x": ("<u2",), "y": ("<u2",), "on": ("|b1", "|u1")}
    return dtype.itemsize == EVENT_DTYPE.itemsize and all(
        name in fields and fields[name][0].str in kinds and fields[name][1] == EVENT_DTYPE.fields[our][1]
        for (name, kinds), our in zip(expected.items(), "txyp"))


def _joined_aedat4(parts: list) -> np.ndarray:
    """The packets' events in one array: one byte copy per packet where their layout is EVENT_DTYPE's (numpy
    converts packed structured arrays field by field and element by element, the most of tonic's reading time),
    field by field otherwise."""
    events = np.empty(sum(len(part) for part in parts), EVENT_DTYPE)
    raw = events.view(np.uint8)
    n = 0
    for part in parts:
        end = n + len(part)
        if part.flags.c_contiguous and _copies_bytewise(part.dtype):
            raw[n * EVENT_DTYPE.itemsize:end * EVENT_DTYPE.itemsize] = part.view(np.uint8)
        else:
            events[n:end] = make_events(part["t"].astype(np.int64), part["x"], part["y"], part["on"])
        n = end
    parts.clear()
    return events
