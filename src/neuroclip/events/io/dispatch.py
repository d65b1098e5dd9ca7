"""Pick the reader for a file by its header first, its extension second."""

from __future__ import annotations

from pathlib import Path

from neuroclip.errors import EventFileError, UnknownFormatError
from neuroclip.events.io._common import require_file
from neuroclip.events.io.atis_bin import read_atis_bin, write_atis_bin
from neuroclip.events.stream import EventStream

# name -> (reader, writer or None, description)
FORMATS: dict[str, tuple] = {
    "atis_bin": (read_atis_bin, write_atis_bin, "N-MNIST / N-Caltech101 ATIS .bin"),
}


def detect_format(path) -> str:
    path = require_file(path)
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return "atis_bin"
    raise UnknownFormatError(path, f"unrecognised extension {suffix!r}; known formats: {', '.join(FORMATS)}")


def read_events(path, format: str | None = None, sensor_size=None, **options) -> EventStream:
    """Read a recording into an :class:`EventStream`.

    ``format`` overrides detection (one of ``FORMATS``); ``sensor_size`` = (width, height) overrides the size that
    the file declares or that the reader infers.
    """
    name = format or detect_format(path)
    if name not in FORMATS:
        raise UnknownFormatError(path, f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    reader = FORMATS[name][0]
    try:
        return reader(path, sensor_size=sensor_size, **options)
    except MemoryError:
        raise EventFileError(path, "not enough memory to hold the decoded events; read it in windows") from None


def write_events(path, stream: EventStream, format: str | None = None) -> Path:
    name = format or _format_for_writing(path)
    writer = FORMATS[name][1]
    if writer is None:
        raise UnknownFormatError(path, f"format {name!r} can be read but not written")
    return writer(path, stream)


def _format_for_writing(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".bin":
        return "atis_bin"
    raise UnknownFormatError(path, f"cannot choose a writer for extension {suffix!r}")
