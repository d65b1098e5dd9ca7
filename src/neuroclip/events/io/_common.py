"""Shared helpers of the readers: opening files, header parsing, chunked reads."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from neuroclip.errors import EventFileError
from neuroclip.outputs import atomic_write  # noqa: F401 (the readers' writers use it from here)

# Readers go through the payload in chunks of this many bytes, so memory stays bounded by the output array plus
# one chunk, never a second full copy of the file.
CHUNK_BYTES = 1 << 24


def require_file(path) -> Path:
    path = Path(path).expanduser()
    try:
        mode = os.stat(path).st_mode  # one system call: on datasets of small files this check is per-file overhead
    except (FileNotFoundError, NotADirectoryError):
        raise EventFileError(path, "no such file") from None
    if stat.S_ISDIR(mode):
        raise EventFileError(path, "is a directory, not a recording")
    if not stat.S_ISREG(mode):  # a FIFO, socket or device: reading it could block forever
        raise EventFileError(path, "is not a regular file (a pipe, socket or device); save the recording to a file "
                                   "first")
    return path


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
    joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
    parts.clear()
    return joined


@dataclasses.dataclass
class Decoded:
    """A recording opened for chunked decoding: what its header says, and its events chunk by chunk.

    ``chunks()`` opens the file and yields event arrays (EVENT_DTYPE) of at most one read chunk each, so a caller
    can keep one chunk in memory at a time. ``sensor_size(max_x, max_y)`` is the size the whole-file reader would
    give for those coordinate maxima when neither the caller nor the header gives one; ``stream_size`` the size to
    assume for pieces before the whole file has been seen (None: the caller must give one)."""

    header_size: tuple[int, int] | None
    metadata: dict
    chunks: Callable[[], Iterator[np.ndarray]]
    sensor_size: Callable[[int, int], tuple[int, int]]
    stream_size: tuple[int, int] | None = None


def size_from_extent(max_x: int, max_y: int) -> tuple[int, int]:
    """The smallest sensor holding every event: what readers infer when a file states no size."""
    return int(max_x) + 1, int(max_y) + 1
