"""Event arrays stored as numpy (``.npy``, ``.npz``) or HDF5 files: ours (written by neuroclip), spikingjelly's
``.npz`` (keys t, x, y, p), ES-ImageNet's ``.npz`` (keys pos, neg) and common HDF5 layouts.

Our files keep the sensor size and metadata beside the events, so a round trip is exact:

* ``.npz``: ``events`` (structured array), ``sensor_size`` (int64 [2]) and ``metadata_json``;
* ``.h5``/``.hdf5``: dataset ``events`` (compound t, x, y, p) with attributes ``sensor_size`` and ``metadata_json``;
* ``.npy``: the structured array alone (the sensor size is inferred on reading unless given).
"""

from __future__ import annotations

import json

import numpy as np

from neuroclip.errors import EventFileError, InvalidEventsError, MissingDependencyError
from neuroclip.events.io._common import CHUNK_BYTES, Decoded, atomic_write, require_file, size_from_extent
from neuroclip.events.stream import EVENT_DTYPE, EventStream, as_events, check_events, make_events

ES_IMAGENET_SIZE = (224, 224)
ES_IMAGENET_LARGE_SIZE = (256, 256)
_H5_CHUNK_EVENTS = 1 << 22


def _checked(path, events, sensor_size, metadata, *, sort: bool = False) -> EventStream:
    try:
        events = as_events(events)
        if sort and events.size:
            events = events[np.argsort(events["t"], kind="stable")]
        if sensor_size is None:
            if not events.size:
                raise EventFileError(path, "holds no events and no sensor size; give one (--sensor-size WIDTHxHEIGHT; "
                                           "Python: sensor_size=(w, h))")
            sensor_size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
            metadata["sensor_size_inferred"] = True
        stream = EventStream.unchecked(events, sensor_size, metadata)
        check_events(stream.events, stream.sensor_size)
    except InvalidEventsError as error:
        raise EventFileError(path, f"holds invalid events: {error}") from None
    return stream


def _metadata_from_json(path, text) -> dict:
    try:
        value = json.loads(str(text))
    except json.JSONDecodeError:
        raise EventFileError(path, "metadata_json is not valid JSON: the file is corrupt") from None
    if not isinstance(value, dict):
        raise EventFileError(path, "metadata_json is not a JSON object")
    return value


def _sensor_from_array(path, value) -> tuple[int, int]:
    value = np.asarray(value)
    if value.shape not in ((2,), (3,)) or value.dtype.kind not in "iu":
        raise EventFileError(path, f"sensor_size must be 2 (or 3) integers, got {value!r}")
    return int(value[0]), int(value[1])


def read_numpy(path, sensor_size=None, *, sort: bool = False) -> EventStream:
    """Read ``.npy`` (a structured array) or ``.npz`` (ours, spikingjelly's, or ES-ImageNet's)."""
    path = require_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise EventFileError(path, "holds Python objects (pickled); neuroclip only loads plain arrays") from None
        raise EventFileError(path, f"is not a readable numpy file ({error})") from None
    except Exception as error:  # numpy's parser raises many kinds (OSError, EOFError, tokenize errors...) on garbage
        raise EventFileError(path, f"is not a readable numpy file ({type(error).__name__}: {error}): truncated "
                                   "or corrupt") from None
    if isinstance(loaded, np.ndarray):
        return _checked(path, loaded, sensor_size, {"format": "npy"}, sort=sort)
    try:
        with loaded as archive:
            keys = set(archive.files)
            if "events" in keys:
                metadata = _metadata_from_json(path, archive["metadata_json"]) if "metadata_json" in keys else {}
                size = sensor_size or (_sensor_from_array(path, archive["sensor_size"])
                                       if "sensor_size" in keys else None)
                metadata.setdefault("format", "npz")
                return _checked(path, archive["events"], size, metadata, sort=sort)
            if {"t", "x", "y", "p"} <= keys:  # spikingjelly's events_np files
                events = {name: archive[name] for name in "txyp"}
                return _checked(path, events, sensor_size, {"format": "spikingjelly_npz"}, sort=sort)
            if {"pos", "neg"} <= keys:
                return _read_es_imagenet(path, archive["pos"], archive["neg"], sensor_size)
    except EventFileError:
        raise
    except Exception as error:  # zipfile and numpy raise many kinds on a damaged archive
        raise EventFileError(path, f"could not read an array from the archive ({type(error).__name__}: {error}): "
                                   "truncated or corrupt") from None
    raise EventFileError(path, f"has arrays {sorted(keys)}; expected 'events', or t/x/y/p, or pos/neg")


def open_npy(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """A ``.npy`` structured array opened for chunked reading: memory-mapped, converted ``chunk_bytes`` of rows at
    a time (the file states no sensor size: it is inferred from the events, as the whole read does)."""
    path = require_file(path)
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as error:  # numpy's parser raises many kinds on garbage
        raise EventFileError(path, f"is not a readable .npy array ({type(error).__name__}: {error}): truncated or "
                                   "corrupt") from None
    if mapped.dtype.names is None or mapped.ndim != 1:
        raise EventFileError(path, f"holds a {mapped.dtype} array of shape {mapped.shape}, not a 1-D structured "
                                   "array of events (fields t, x, y, p)")
    rows = max(1, chunk_bytes // max(1, mapped.dtype.itemsize))

    def chunks():
        for start in range(0, mapped.shape[0], rows):
            try:
                yield as_events(np.asarray(mapped[start:start + rows]))
            except InvalidEventsError as error:
                raise EventFileError(path, f"holds invalid events: {error}") from None

    return Decoded(None, {"format": "npy"}, chunks, size_from_extent, None)


def _read_es_imagenet(path, positive, negative, sensor_size) -> EventStream:
    """ES-ImageNet samples: ``pos`` and ``neg`` arrays of rows (y, x, t), t the frame index 0..7.

    Row layout as in spikingjelly's ES-ImageNet loader. Events are merged and stably sorted by t (ON before OFF
    within a frame index); ``t`` stays the frame index, not microseconds, as in the dataset.
    """
    parts = []
    for rows, polarity in ((positive, 1), (negative, 0)):
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != 3 or rows.dtype.kind not in "iuf":
            raise EventFileError(path, f"ES-ImageNet arrays must be [N, 3] numbers, got {rows.shape} {rows.dtype}")
        if rows.size and (rows.min() < 0 or not np.all(np.mod(rows, 1) == 0)):
            raise EventFileError(path, "ES-ImageNet rows hold negative or fractional values: corrupt")
        parts.append(make_events(rows[:, 2], rows[:, 1], rows[:, 0], np.full(rows.shape[0], polarity)))
    events = np.concatenate(parts)
    events = events[np.argsort(events["t"], kind="stable")]
    metadata = {"format": "es_imagenet_npz", "time_unit": "frame index"}
    if sensor_size is None:
        # the ES-ImageNet paper describes 224x224 samples; some releases and spikingjelly use a 256x256 canvas
        fits = not events.size or (events["x"].max() < 224 and events["y"].max() < 224)
        sensor_size = ES_IMAGENET_SIZE if fits else ES_IMAGENET_LARGE_SIZE
    return _checked(path, events, sensor_size, metadata)


def write_npz(path, stream: EventStream):
    def write(fp):
        np.savez(fp, events=stream.events.astype(EVENT_DTYPE), sensor_size=np.asarray(stream.sensor_size, np.int64),
                 metadata_json=np.asarray(json.dumps(stream.metadata, default=str)))
    return atomic_write(path, write)


def write_npy(path, stream: EventStream):
    return atomic_write(path, lambda fp: np.save(fp, stream.events.astype(EVENT_DTYPE)))


def _h5py():
    try:
        import h5py
    except ImportError:
        raise MissingDependencyError("h5py", "Reading and writing HDF5 event files") from None
    return h5py


def _hdf5_error(path, error) -> EventFileError:
    message = f"{type(error).__name__}: {error}"
    if "filter" in message.lower():
        message += "; the file uses a compression plugin: pip install hdf5plugin and import it first"
    return EventFileError(path, f"is not a readable HDF5 event file ({message})")


def _hdf5_layout(h5, path):
    """``(number of events, read(start, stop) -> EVENT_DTYPE array)`` for the file's event layout: ours (compound
    dataset ``events``), Metavision's uncompressed ``CD/events``, or a group ``events`` with datasets t, x, y, p (with
    an optional top-level ``t_offset``, as in DSEC). h5py reads a slice from disk (decompressing only its chunks)."""
    h5py = _h5py()
    node = h5.get("events", None)
    if node is None and "CD" in h5 and "events" in h5["CD"]:
        node = h5["CD"]["events"]
    if isinstance(node, h5py.Dataset) and node.dtype.names:
        return node.shape[0], lambda start, stop: as_events(node[start:stop])
    if isinstance(node, h5py.Group) and all(name in node for name in "txyp"):
        offset = int(h5["t_offset"][()]) if "t_offset" in h5 else 0

        def read(start, stop):
            part = {name: node[name][start:stop] for name in "txyp"}
            part["t"] = part["t"].astype(np.int64) + offset
            return as_events(part)

        return node["t"].shape[0], read
    raise EventFileError(path, "has no 'events' dataset (compound t,x,y,p) or 'events' group (datasets t, x, y, p), "
                               "nor 'CD/events'")


def open_hdf5(path, *, chunk_bytes: int = CHUNK_BYTES) -> Decoded:
    """An HDF5 event file (any layout of :func:`read_hdf5`) opened for chunked reading: ``chunk_bytes`` of events
    (as EVENT_DTYPE) sliced from disk at a time, so a file of any size streams in bounded memory."""
    h5py = _h5py()
    path = require_file(path)
    try:
        with h5py.File(path, "r") as h5:
            metadata = {"format": "hdf5"}
            if "metadata_json" in h5.attrs:
                metadata.update(_metadata_from_json(path, h5.attrs["metadata_json"]))
            size = None
            if "sensor_size" in h5.attrs:
                size = _sensor_from_array(path, h5.attrs["sensor_size"])
            elif "width" in h5.attrs and "height" in h5.attrs:
                size = (int(h5.attrs["width"]), int(h5.attrs["height"]))
            _hdf5_layout(h5, path)  # the layout is checked on opening, before any piece is asked for
    except EventFileError:
        raise
    except Exception as error:  # h5py raises many kinds on a damaged file
        raise _hdf5_error(path, error) from None
    rows = max(1, chunk_bytes // EVENT_DTYPE.itemsize)

    def chunks():
        try:
            with h5py.File(path, "r") as h5:
                length, read = _hdf5_layout(h5, path)
                for start in range(0, length, rows):
                    yield read(start, start + rows)
        except EventFileError:
            raise
        except InvalidEventsError as error:
            raise EventFileError(path, f"holds invalid events: {error}") from None
        except Exception as error:
            raise _hdf5_error(path, error) from None

    return Decoded(size, metadata, chunks, size_from_extent, None)


def read_hdf5(path, sensor_size=None, *, sort: bool = False) -> EventStream:
    """Read HDF5: ours (compound dataset ``events``), Metavision's uncompressed ``CD/events``, or a group ``events``
    with datasets t, x, y, p (with an optional top-level ``t_offset``, as in DSEC)."""
    decoded = open_hdf5(path, chunk_bytes=_H5_CHUNK_EVENTS * EVENT_DTYPE.itemsize)
    parts = list(decoded.chunks())
    events = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    size = sensor_size if sensor_size is not None else decoded.header_size
    return _checked(path, events, size, dict(decoded.metadata), sort=sort)


def write_hdf5(path, stream: EventStream):
    h5py = _h5py()

    def write(fp):
        with h5py.File(fp, "w") as h5:
            h5.create_dataset("events", data=stream.events.astype(EVENT_DTYPE), compression="gzip",
                              chunks=True if stream.events.size else None)
            h5.attrs["sensor_size"] = np.asarray(stream.sensor_size, np.int64)
            h5.attrs["metadata_json"] = json.dumps(stream.metadata, default=str)
    return atomic_write(path, write)
