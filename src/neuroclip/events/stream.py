"""The event stream: one representation of a recording, used everywhere in neuroclip.

Events are a numpy structured array with the fields ``t``, ``x``, ``y`` and ``p``:

* ``t``: int64, microseconds, non-negative and non-decreasing;
* ``x``, ``y``: uint16 pixel coordinates, ``0 <= x < width`` and ``0 <= y < height``;
* ``p``: uint8 polarity, **0 = OFF (brightness decrease), 1 = ON (brightness increase)**.

The field names are tonic's, so an array from ``tonic`` can be passed to :func:`as_events` (or
:meth:`EventStream.from_tonic`) and the array we hand back works in tonic's transforms, which index fields by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neuroclip.errors import ConfigError, EmptyStreamError, InvalidEventsError

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
_REQUIRED_FIELDS = ("t", "x", "y", "p")
_MAX_COORDINATE = np.iinfo(np.uint16).max


def make_events(t, x, y, p) -> np.ndarray:
    """Build an event array from four equally long 1-D sequences (no validation)."""
    t = np.asarray(t)
    events = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    events["t"] = t
    events["x"] = x
    events["y"] = y
    events["p"] = p
    return events


def as_events(array: Any) -> np.ndarray:
    """Convert any structured array with fields t, x, y, p (tonic's, spikingjelly's dict, ours) to ``EVENT_DTYPE``.

    Polarity is mapped to 0/1: ``True``, ``1`` and any positive value are ON; ``False``, ``0`` and ``-1`` are OFF.
    Coordinates must be non-negative integers below 65536 and timestamps integers (float timestamps with a
    fractional part are refused rather than silently truncated).
    """
    if isinstance(array, dict):
        fields = {name: np.asarray(array[name]) for name in _REQUIRED_FIELDS if name in array}
        missing = [name for name in _REQUIRED_FIELDS if name not in fields]
        if missing:
            raise InvalidEventsError(f"event dict is missing the field(s) {missing}; it needs t, x, y and p")
        lengths = {name: value.shape for name, value in fields.items()}
        if len(set(lengths.values())) != 1 or fields["t"].ndim != 1:
            raise InvalidEventsError(f"event dict fields must be 1-D and equally long, got shapes {lengths}")
    else:
        array = np.asarray(array)
        if array.dtype.names is None:
            raise InvalidEventsError(
                f"expected a structured array with fields t, x, y, p; got a plain array of dtype {array.dtype} "
                f"and shape {array.shape}. Build one with neuroclip.events.make_events(t, x, y, p)."
            )
        missing = [name for name in _REQUIRED_FIELDS if name not in array.dtype.names]
        if missing:
            raise InvalidEventsError(
                f"event array is missing the field(s) {missing}; it has {list(array.dtype.names)}"
            )
        if array.ndim != 1:
            raise InvalidEventsError(f"event array must be 1-D, got shape {array.shape}")
        if array.dtype == EVENT_DTYPE:
            return array
        fields = {name: array[name] for name in _REQUIRED_FIELDS}

    for name in ("x", "y"):
        values = fields[name]
        if values.dtype.kind == "f" and values.size and not np.all(np.mod(values, 1) == 0):
            raise InvalidEventsError(f"field {name!r} holds non-integer coordinates")
        if values.dtype.kind not in "iufb":
            raise InvalidEventsError(f"field {name!r} has non-numeric dtype {values.dtype}")
        if values.size and (values.min() < 0 or values.max() > _MAX_COORDINATE):
            raise InvalidEventsError(
                f"field {name!r} holds values outside 0..{_MAX_COORDINATE} (min {values.min()}, max {values.max()})"
            )
    t = fields["t"]
    if t.dtype.kind == "f":
        if t.size and not np.all(np.isfinite(t)):
            raise InvalidEventsError("field 't' holds NaN or infinite timestamps")
        if t.size and not np.all(np.mod(t, 1) == 0):
            raise InvalidEventsError(
                "field 't' holds fractional timestamps; neuroclip uses integer microseconds. "
                "Convert first, e.g. t_us = np.round(t_seconds * 1e6)."
            )
    elif t.dtype.kind not in "iu":
        raise InvalidEventsError(f"field 't' has dtype {t.dtype}; expected integer microseconds")
    p = fields["p"]
    if p.dtype.kind not in "iufb":
        raise InvalidEventsError(f"field 'p' has non-numeric dtype {p.dtype}")
    return make_events(t, fields["x"], fields["y"], (p > 0).astype(np.uint8))


def _sensor_size(sensor_size) -> tuple[int, int]:
    try:
        values = tuple(int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise ConfigError(f"sensor_size must be (width, height), got {sensor_size!r}") from None
    if len(values) == 3:  # tonic's (width, height, polarities)
        values = values[:2]
    if len(values) != 2 or min(values) < 1 or max(values) > _MAX_COORDINATE + 1:
        raise ConfigError(f"sensor_size must be (width, height) with 1 <= each <= 65536, got {sensor_size!r}")
    return values


def check_events(events: np.ndarray, sensor_size: tuple[int, int], *, allow_empty: bool = True) -> None:
    """Raise :class:`InvalidEventsError` naming the first broken rule, or return None.

    Rules: coordinates inside the sensor, timestamps non-negative and sorted (non-decreasing).
    """
    if events.size == 0:
        if not allow_empty:
            raise EmptyStreamError("the event stream is empty; this operation needs at least one event")
        return
    width, height = sensor_size
    bad_x = np.flatnonzero(events["x"] >= width)
    bad_y = np.flatnonzero(events["y"] >= height)
    if bad_x.size or bad_y.size:
        first = int(min(bad_x[0] if bad_x.size else events.size, bad_y[0] if bad_y.size else events.size))
        raise InvalidEventsError(
            f"{bad_x.size + bad_y.size} event(s) lie outside the {width}x{height} sensor; the first, index {first}, "
            f"is at (x={events['x'][first]}, y={events['y'][first]}). Give the right sensor size (--sensor-size "
            "WIDTHxHEIGHT; Python: sensor_size=), or drop them with EventStream.crop_to_sensor()."
        )
    t = events["t"]
    if t[0] < 0:
        raise InvalidEventsError(f"timestamps must be non-negative microseconds; the first is {t[0]}")
    backwards = np.flatnonzero(t[1:] < t[:-1])  # a bool temporary, not an int64 diff
    if backwards.size:
        i = int(backwards[0])
        raise InvalidEventsError(
            f"timestamps are not sorted: event {i + 1} (t={t[i + 1]}) comes before event {i} (t={t[i]}); "
            f"{backwards.size} such step(s). Sort with EventStream.sorted()."
        )


@dataclasses.dataclass(frozen=True, eq=False)
class EventStream:
    """A recording: validated events, the sensor size ``(width, height)`` and free-form metadata.

    Construction validates (coordinates in the sensor, sorted non-negative timestamps); an empty stream is allowed,
    and operations that need events raise :class:`EmptyStreamError`.
    """

    events: np.ndarray
    sensor_size: tuple[int, int]
    metadata: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "sensor_size", _sensor_size(self.sensor_size))
        object.__setattr__(self, "events", as_events(self.events))
        check_events(self.events, self.sensor_size)

    @classmethod
    def from_tonic(cls, events, sensor_size, metadata: dict | None = None) -> EventStream:
        """Wrap a tonic event array; ``sensor_size`` may be tonic's ``(W, H, P)``."""
        return cls(as_events(events), sensor_size, dict(metadata or {}))

    def to_tonic(self) -> np.ndarray:
        """The events as a structured array with tonic's field names (x, y, t, p): a copy, so that editing it cannot
        put unchecked values into this stream."""
        return self.events.copy()

    @property
    def tonic_sensor_size(self) -> tuple[int, int, int]:
        return (*self.sensor_size, 2)

    @property
    def width(self) -> int:
        return self.sensor_size[0]

    @property
    def height(self) -> int:
        return self.sensor_size[1]

    def __len__(self) -> int:
        return int(self.events.shape[0])

    def __repr__(self) -> str:
        return (
            f"EventStream({len(self)} events, sensor {self.width}x{self.height}, "
            f"duration {self.duration} us)"
        )

    @property
    def duration(self) -> int:
        """Microseconds from the first to the last event (0 for fewer than two events)."""
        if len(self) < 2:
            return 0
        return int(self.events["t"][-1] - self.events["t"][0])

    @property
    def on_fraction(self) -> float:
        """Fraction of ON events (NaN for an empty stream)."""
        return float(self.events["p"].mean()) if len(self) else float("nan")

    def require_events(self) -> EventStream:
        """Return self, or raise :class:`EmptyStreamError` if there are no events."""
        check_events(self.events, self.sensor_size, allow_empty=False)
        return self

    def _with_events(self, events: np.ndarray) -> EventStream:
        return dataclasses.replace(self, events=events)

    def slice_time(self, start_us: int | None = None, stop_us: int | None = None) -> EventStream:
        """Events with ``start_us <= t < stop_us`` (absolute microseconds; None = open end)."""
        t = self.events["t"]
        lo = 0 if start_us is None else int(np.searchsorted(t, start_us, side="left"))
        hi = len(self) if stop_us is None else int(np.searchsorted(t, stop_us, side="left"))
        return self._with_events(self.events[lo:max(lo, hi)])

    def slice_count(self, start: int | None = None, stop: int | None = None) -> EventStream:
        """Events with index in ``[start, stop)``, like list slicing."""
        return self._with_events(self.events[slice(start, stop)])

    def time_windows(self, window_us: int, overlap_us: int = 0) -> list[EventStream]:
        """Split into consecutive windows of ``window_us`` microseconds (from the first event), stepping by
        ``window_us - overlap_us``; the last, partial window is kept."""
        if window_us <= 0 or overlap_us < 0 or overlap_us >= window_us:
            raise ConfigError(
                f"need window_us > 0 and 0 <= overlap_us < window_us, got {window_us} and {overlap_us}"
            )
        if not len(self):
            return []
        t0, t_end = int(self.events["t"][0]), int(self.events["t"][-1])
        starts = range(t0, t_end + 1, window_us - overlap_us)
        return [self.slice_time(s, s + window_us) for s in starts]

    def count_windows(self, count: int, overlap: int = 0) -> list[EventStream]:
        """Split into consecutive windows of ``count`` events, stepping by ``count - overlap``; the last, partial
        window is kept."""
        if count <= 0 or overlap < 0 or overlap >= count:
            raise ConfigError(f"need count > 0 and 0 <= overlap < count, got {count} and {overlap}")
        return [self.slice_count(s, s + count) for s in range(0, len(self), count - overlap)]

    def sorted(self) -> EventStream:
        """A copy with events stably sorted by time."""
        order = np.argsort(self.events["t"], kind="stable")
        return self._with_events(self.events[order])

    def crop_to_sensor(self) -> EventStream:
        """Drop events outside the sensor (useful after a geometric transform)."""
        keep = (self.events["x"] < self.width) & (self.events["y"] < self.height)
        return self._with_events(self.events[keep])

    def shifted_to_zero(self) -> EventStream:
        """A copy whose first event is at t = 0."""
        if not len(self):
            return self
        events = self.events.copy()
        events["t"] -= events["t"][0]
        return self._with_events(events)

    @classmethod
    def unchecked(cls, events: np.ndarray, sensor_size, metadata: dict | None = None) -> EventStream:
        """Build without validation, for readers that have already checked their output."""
        stream = object.__new__(cls)
        object.__setattr__(stream, "events", events)
        object.__setattr__(stream, "sensor_size", _sensor_size(sensor_size))
        object.__setattr__(stream, "metadata", dict(metadata or {}))
        return stream

    def summary(self) -> dict:
        """Sensor size, event count, duration, event rate and ON fraction, as plain Python values."""
        n = len(self)
        duration = self.duration
        return {
            "width": self.width,
            "height": self.height,
            "events": n,
            "duration_us": duration,
            "event_rate_hz": (n / (duration * 1e-6)) if duration > 0 else None,
            "on_fraction": self.on_fraction if n else None,
            "t_start_us": int(self.events["t"][0]) if n else None,
            "t_end_us": int(self.events["t"][-1]) if n else None,
        }
