"""Shared helpers of the readers: opening files, header parsing, chunked reads."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from neuroclip.errors import EventFileError
from neuroclip.events.stream import EVENT_DTYPE
from neuroclip.jit import numba_module
from neuroclip.outputs import atomic_write  # noqa: F401 (the readers' writers use it from here)

# Readers go through the payload in chunks of this many bytes, so memory stays bounded by the output array plus
# one chunk, never a second full copy of the file.
CHUNK_BYTES = 1 << 24


def require_file(path) -> Path:
    return stat_file(path)[0]


def stat_file(path) -> tuple[Path, int]:
    """``path`` as a Path and its size in bytes, or one clear error when it is not a regular file."""
    path = (path if isinstance(path, Path) else Path(path)).expanduser()  # parsing a path again costs ~10 µs
    try:
        status = os.stat(path)  # one system call: on datasets of small files this check is per-file overhead
    except (FileNotFoundError, NotADirectoryError):
        raise EventFileError(path, "no such file") from None
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        raise EventFileError(path, "is a directory, not a recording")
    if not stat.S_ISREG(mode):  # a FIFO, socket or device: reading it could block forever
        raise EventFileError(path, "is not a regular file (a pipe, socket or device); save the recording to a file "
                                   "first")
    return path, status.st_size


def read_text_header(fp, path, marker: bytes, *, max_bytes: int = 1 << 20) -> tuple[list[str], int]:
    """Read the lines at the start of ``fp`` that begin with ``marker`` (e.g. ``b'%'`` or ``b'#'``).

    Returns the decoded lines (marker stripped) and the byte offset of the payload. The header is capped at
    ``max_bytes`` so that a garbage file never makes us scan it all.
    """
    lines: list[str] = []
    fp.seek(0)
    offset = 0
    while True:
        first = fp.read(1)
        if first != marker:
            break
        line = fp.readline(max_bytes)
        if not line.endswith(b"\n"):
            raise EventFileError(path, "header line is unterminated: the file is truncated or not in this format")
        offset += 1 + len(line)
        if offset > max_bytes:
            raise EventFileError(path, f"header is longer than {max_bytes} bytes: not a recording in this format")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
    fp.seek(offset)
    return lines, offset


def iter_payload_words(fp, path, dtype: np.dtype, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Yield the rest of ``fp`` as arrays of ``dtype`` words, chunk by chunk.

    A trailing partial word is an error (a silently dropped half event is exactly what a truncated copy looks like).
    """
    dtype = np.dtype(dtype)
    chunk_bytes -= chunk_bytes % dtype.itemsize
    while True:
        raw = fp.read(chunk_bytes)
        if not raw:
            return
        if len(raw) % dtype.itemsize:
            raise EventFileError(
                path,
                f"payload ends with {len(raw) % dtype.itemsize} stray byte(s) after the last complete "
                f"{dtype.itemsize}-byte word: the file is truncated",
            )
        yield np.frombuffer(raw, dtype=dtype)


def concatenate(parts: list[np.ndarray], dtype) -> np.ndarray:
    """Join decoded chunks and empty the list, so the chunks are freed as soon as the joined array exists."""
    if not parts:
        return np.empty(0, dtype=dtype)
    if len(parts) == 1:
        joined = parts[0]
    elif all(part.dtype == parts[0].dtype and part.flags.c_contiguous for part in parts):
        # as bytes: numpy joins packed structured arrays element by element, about 10x slower than this copy
        joined = np.empty(sum(part.size for part in parts), parts[0].dtype)
        raw = joined.view(np.uint8)
        start = 0
        for part in parts:
            raw[start:start + part.nbytes] = part.view(np.uint8)
            start += part.nbytes
    else:
        joined = np.concatenate(parts)
    parts.clear()
    return joined


@dataclasses.dataclass
class Decoded:
    """A recording opened for chunked decoding: what its header says, and its events chunk by chunk.

    ``chunks()`` opens the file and yields event arrays (EVENT_DTYPE) of at most one read chunk each, so a caller
    can keep one chunk in memory at a time. ``sensor_size(max_x, max_y)`` is the size the whole-file reader would
    give for those coordinate maxima when neither the caller nor the header gives one; ``stream_size`` the size to
    assume for pieces before the whole file has been seen (None: the caller must give one); ``whole()``, where
    given, decodes the whole file into one array."""

    header_size: tuple[int, int] | None
    metadata: dict
    chunks: Callable[[], Iterator[np.ndarray]]
    sensor_size: Callable[[int, int], tuple[int, int]]
    stream_size: tuple[int, int] | None = None
    # all events in one array and the kernels' statistics (None: not computed), for the whole-file readers
    whole: Callable[[], tuple[np.ndarray, np.ndarray | None]] | None = None


def size_from_extent(max_x: int, max_y: int) -> tuple[int, int]:
    """The smallest sensor holding every event: what readers infer when a file states no size."""
    return int(max_x) + 1, int(max_y) + 1


# ---------------------------------------------------------------------------------------------------- fast decoding
# The binary readers decode with the numba kernels of ``_kernels`` where numba imports, and with their numpy
# decoders otherwise (the same arrays and errors; see ``_kernels``'s docstring for why). numba is imported on the
# first decode, not with neuroclip: importing it takes about 0.4 s.

_KERNELS = None  # the _kernels module, False where numba is unusable, None before the first look


def kernels():
    """The ``_kernels`` module, or None where numba is not importable or ``NEUROCLIP_NUMBA=0`` is set."""
    global _KERNELS
    if _KERNELS is None:
        module = numba_module("neuroclip.events.io._kernels")
        _KERNELS = False if isinstance(module, str) else module
    return _KERNELS or None


@contextlib.contextmanager
def decoders(backend: str):
    """Use the ``"numpy"`` or the ``"numba"`` decoders (and the other numba kernels: packing, simulator) within the
    block (tests compare the two)."""
    global _KERNELS
    if backend not in ("numpy", "numba"):
        raise ValueError(f"backend must be 'numpy' or 'numba', not {backend!r}")
    saved = _KERNELS
    if backend == "numba":
        from neuroclip.events.io import _kernels as module  # raises ImportError where numba is missing

        _KERNELS = module
    else:
        _KERNELS = False
    try:
        yield
    finally:
        _KERNELS = saved


class ChunkDecoder:
    """One recording's decoding state for the numba kernels. Subclasses set ``word`` (the payload's word dtype) and
    ``min_bytes`` (the fewest payload bytes an event takes, or None where a word may hold several events), and
    implement :meth:`decode`. ``stats`` gathers what ``check_events`` needs (see ``_kernels``)."""

    word: np.dtype
    min_bytes: int | None

    def __init__(self, path, kernels):
        self.path = path
        self.k = kernels
        self.stats = kernels.new_stats()

    def decode(self, words: np.ndarray, start: int, out: np.ndarray, n: int) -> tuple[int, int]:
        """Write the events of ``words[start:]`` into ``out`` from index ``n``, raising EventFileError on a corrupt
        word; returns the new ``n`` and the index of the first word not decoded (below ``words.size`` only where
        ``out`` is full: the caller grows it and calls again from there)."""
        raise NotImplementedError


def _copied(events: np.ndarray, n: int, size: int | None = None) -> np.ndarray:
    """The first ``n`` events of ``events`` in a new array of ``size`` (default ``n``): a byte copy, as numpy
    copies packed structured arrays field by field, far slower."""
    fresh = np.empty(n if size is None else size, events.dtype)
    fresh.view(np.uint8)[:n * events.dtype.itemsize] = events.view(np.uint8)[:n * events.dtype.itemsize]
    return fresh


def trimmed(events: np.ndarray, n: int) -> np.ndarray:
    """``events[:n]``, copied where over half of the array would be unused. (The rest of a larger array costs
    address space, not memory: pages never written are never mapped.)"""
    if n == events.size:
        return events
    return _copied(events, n) if (events.size - n) * 2 > events.size else events[:n]


def _reused_words(fp, path, dtype: np.dtype, payload_bytes: int, chunk_bytes: int) -> Iterator[np.ndarray]:
    """:func:`iter_payload_words` for the kernels, which keep nothing of their input: each chunk is read into the
    same buffer (a fresh 16 MiB bytes object per chunk costs its page faults every time)."""
    chunk_bytes = max(dtype.itemsize, chunk_bytes - chunk_bytes % dtype.itemsize)
    size = max(dtype.itemsize, min(chunk_bytes, payload_bytes + dtype.itemsize - 1))
    buffer = np.empty(size - size % dtype.itemsize, np.uint8)
    view = memoryview(buffer)
    while True:
        got = 0
        while got < buffer.size and (more := fp.readinto(view[got:])):  # a raw file may return short reads
            got += more
        if not got:
            return
        if got % dtype.itemsize:
            raise EventFileError(
                path,
                f"payload ends with {got % dtype.itemsize} stray byte(s) after the last complete "
                f"{dtype.itemsize}-byte word: the file is truncated",
            )
        yield buffer[:got].view(dtype)


def _room(decoder: ChunkDecoder, words: np.ndarray, n: int, done: int, left: int) -> int:
    """The output size to allocate for ``n`` events decoded from ``done`` payload bytes, then ``words``, then
    ``left`` more bytes: a bound where there is one, else an estimate from the density so far (at least one event
    per word, a sixteenth over, and room for one more word's events)."""
    if decoder.min_bytes is not None:
        return n + (words.nbytes + left) // decoder.min_bytes
    rest = words.nbytes + left
    per_byte = max(n / done if done else 0.0, 1.0 / decoder.word.itemsize)
    return n + int(rest * per_byte * 1.0625) + 16


def _decode_into(decoder: ChunkDecoder, words, out, n: int, done: int, left: int):
    """Decode all of ``words`` into ``out`` from ``n``, growing ``out`` as needed; returns (out, n)."""
    if decoder.min_bytes is not None and n + words.nbytes // decoder.min_bytes > out.size:
        # the file grew since its size was taken: these kernels do not check the room they write to
        out = _copied(out, n, n + words.nbytes // decoder.min_bytes)
    start = 0
    while True:
        n, start = decoder.decode(words, start, out, n)
        if start >= words.size:
            return out, n
        done_now = done + start * decoder.word.itemsize
        rest = (words.size - start) * decoder.word.itemsize + left
        grown = max(out.size + (out.size >> 1), n + int(rest * n / max(done_now, 1) * 1.0625) + 64)
        out = _copied(out, n, grown)


def decode_chunks(fp, path, decoder: ChunkDecoder, payload_bytes: int, chunk_bytes: int) -> Iterator[np.ndarray]:
    """The events of the rest of ``fp`` (``payload_bytes`` long), one array per read chunk (for streaming)."""
    for words in _reused_words(fp, path, decoder.word, payload_bytes, chunk_bytes):
        out = np.empty(_room(decoder, words, 0, 0, 0), EVENT_DTYPE)
        out, n = _decode_into(decoder, words, out, 0, 0, 0)
        yield trimmed(out, n)


def decode_whole(fp, path, decoder: ChunkDecoder, payload_bytes: int, chunk_bytes: int) -> np.ndarray:
    """The events of the rest of ``fp`` (``payload_bytes`` long), decoded chunk by chunk into one array: memory is
    the output plus one chunk, with no joining copy at the end."""
    out = None
    n = done = 0
    for words in _reused_words(fp, path, decoder.word, payload_bytes, chunk_bytes):
        left = max(0, payload_bytes - done - words.nbytes)
        if out is None:
            out = np.empty(_room(decoder, words, n, done, left), EVENT_DTYPE)
        out, n = _decode_into(decoder, words, out, n, done, left)
        done += words.nbytes
    if out is None:
        return np.empty(0, EVENT_DTYPE)
    return trimmed(out, n)


def decode_file_whole(path, offset: int, payload_bytes: int, chunk_bytes: int, make_decoder, chunks):
    """All events of the payload of ``path`` (``payload_bytes`` from byte ``offset``) in one array, and the kernels'
    statistics: decoded by ``make_decoder(path, kernels)`` where numba imports, else the numpy ``chunks()`` joined
    (statistics None)."""
    fast = kernels()
    if fast is None:
        return concatenate(list(chunks()), EVENT_DTYPE), None
    decoder = make_decoder(path, fast)
    with open(path, "rb", buffering=0) as fp:
        fp.seek(offset)
        return decode_whole(fp, path, decoder, payload_bytes, chunk_bytes), decoder.stats


def copy_events(events: np.ndarray) -> np.ndarray:
    """A copy of a contiguous event array, byte by byte (``ndarray.copy`` goes element by element on packed
    structured arrays: 10x slower)."""
    return _copied(events, events.size) if events.flags.c_contiguous else events.copy()


def in_order_and_inside(events: np.ndarray, sensor_size=None) -> bool:
    """True where one numba pass shows ``events`` non-negative, sorted in time and (given ``sensor_size``) inside
    the sensor; False where numba is missing or a rule may be broken (the caller then runs its numpy checks, which
    name the problem)."""
    fast = kernels()
    if fast is None or not events.flags.c_contiguous:
        return False
    stats = fast.new_stats()
    if fast.scan(events, stats) < 0 or stats[3] >= 0:
        return False
    return sensor_size is None or (stats[0] < sensor_size[0] and stats[1] < sensor_size[1])


def stats_are_valid(stats: np.ndarray, sensor_size) -> bool:
    """Whether the kernels' statistics show events inside ``sensor_size`` and in time order (what check_events
    asks; the decoded timestamps are never negative). Where not, check_events gives the detailed message."""
    return stats[3] < 0 and stats[0] < sensor_size[0] and stats[1] < sensor_size[1]
