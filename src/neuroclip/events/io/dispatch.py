"""``read_events``: pick the reader for a file by its header first and its extension second."""

from __future__ import annotations

import os
from pathlib import Path

from neuroclip.errors import EventFileError, UnknownFormatError
from neuroclip.events.io._common import require_file
from neuroclip.events.io.aedat import read_aedat2, read_aedat3, read_aedat4
from neuroclip.events.io.arrays import read_hdf5, read_numpy, write_hdf5, write_npy, write_npz
from neuroclip.events.io.atis_bin import read_atis_bin, write_atis_bin
from neuroclip.events.io.prophesee import read_prophesee_dat, read_prophesee_raw
from neuroclip.events.stream import EventStream

# name -> (reader, writer or None, description)
FORMATS: dict[str, tuple] = {
    "atis_bin": (read_atis_bin, write_atis_bin, "N-MNIST / N-Caltech101 ATIS .bin"),
    "aedat2": (read_aedat2, None, "jAER AEDAT 2.0, DVS128 (CIFAR10-DVS) .aedat"),
    "aedat3": (read_aedat3, None, "AEDAT 3.1 (DVS128 Gesture) .aedat"),
    "aedat4": (read_aedat4, None, "AEDAT 4 (iniVation DV) .aedat4"),
    "prophesee_raw": (read_prophesee_raw, None, "Prophesee EVT 2.0 / EVT 3.0 .raw"),
    "prophesee_dat": (read_prophesee_dat, None, "Prophesee / ATIS DAT (N-CARS) .dat"),
    "npy": (read_numpy, write_npy, "numpy structured array .npy"),
    "npz": (read_numpy, write_npz, "numpy .npz: neuroclip's, spikingjelly's (t,x,y,p) or ES-ImageNet's (pos,neg)"),
    "hdf5": (read_hdf5, write_hdf5, "HDF5 .h5/.hdf5: neuroclip's, Metavision CD/events, or events/{t,x,y,p}"),
}

_MAGIC = (
    (b"#!AER-DAT2", "aedat2"),
    (b"#!AER-DAT3", "aedat3"),
    (b"#!AER-DAT4", "aedat4"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "npz"),
    (b"PK\x05\x06", "npz"),  # an empty zip archive
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
)
_EXTENSIONS = {
    ".bin": "atis_bin",
    ".raw": "prophesee_raw",
    ".dat": "prophesee_dat",
    ".aedat4": "aedat4",
    ".npy": "npy",
    ".npz": "npz",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}


def detect_format(path) -> str:
    """The name of the reader (a key of ``FORMATS``) for ``path``, from its first bytes or else its extension."""
    path = require_file(path)
    fd = os.open(path, os.O_RDONLY)  # not open(): its buffered file object costs more than the read, per file
    try:
        head = os.read(fd, 4096)
    finally:
        os.close(fd)
    if not head:
        raise EventFileError(path, "file is empty (0 bytes)")
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    suffix = path.suffix.lower()
    if head.startswith(b"%"):
        text = head.decode("latin-1").lower()
        if "% evt " in text or "% format evt" in text or suffix == ".raw":
            return "prophesee_raw"
        return "prophesee_dat"
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix == ".aedat":
        raise UnknownFormatError(path, "has the .aedat extension but no '#!AER-DAT' header: truncated or corrupt")
    raise UnknownFormatError(
        path, f"unrecognised file: no known header and extension {suffix or '(none)'!r}; known formats: "
              f"{', '.join(FORMATS)} (force one with --format NAME; Python: format=NAME)")


def read_events(path, format: str | None = None, sensor_size=None, **options) -> EventStream:
    """Read a recording into an :class:`EventStream`.

    ``format`` overrides detection (a key of ``FORMATS``); ``sensor_size`` = (width, height) overrides the size the
    file declares or the reader infers. Other keyword options go to the reader (e.g. ``sort=True``, ``layout=`` for
    AEDAT 2.0). Any problem with the file raises :class:`EventFileError` naming the file.
    """
    name = format or detect_format(path)
    if name not in FORMATS:
        raise UnknownFormatError(path, f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    reader = FORMATS[name][0]
    try:
        return reader(path, sensor_size=sensor_size, **options)
    except MemoryError:
        raise EventFileError(path, "not enough memory to hold the decoded events; read a shorter file") from None
    except TypeError as error:
        if "unexpected keyword" in str(error):
            raise UnknownFormatError(path, f"the {name} reader does not take that option ({error})") from None
        raise


def write_events(path, stream: EventStream, format: str | None = None) -> Path:
    """Write ``stream`` atomically; the format comes from ``format`` or the extension (.bin, .npy, .npz, .h5)."""
    suffix = Path(path).suffix.lower()
    name = format or _EXTENSIONS.get(suffix)
    if name not in FORMATS:
        raise UnknownFormatError(path, f"cannot choose a writer for extension {suffix!r}; writable formats: "
                                       f"{', '.join(n for n, v in FORMATS.items() if v[1])}")
    writer = FORMATS[name][1]
    if writer is None:
        raise UnknownFormatError(path, f"format {name!r} can be read but not written; write .npz or .h5 instead")
    return writer(path, stream)
