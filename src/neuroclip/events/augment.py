"""Random event-level augmentation of a recording: a small affine map of the pixel coordinates and random event
dropping, drawn afresh each time a training sample is read.

It acts on events, before any framing, so a student and its teacher that frame the same augmented recording in their
own ways (count frames, NeuroCLIP's discrimination frames) still see the same scene. Used by SpikeCLIP's image
alignment (``data.augment``) to stretch a small set of real recordings used without labels.

The affine map turns, scales and shifts the coordinates about the sensor centre and rounds them to the nearest
pixel; events mapped outside the sensor are dropped. Event order and timestamps are kept, so the result is still a
valid, time-sorted stream.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.events.stream import EventStream


@dataclasses.dataclass(frozen=True)
class EventAugmentConfig:
    """Ranges of the random draws; each is uniform in ``[-value, value]`` (``drop``: in ``[0, drop]``).

    ``shift_px``: translation in pixels, x and y drawn separately. ``rotate_degrees``: rotation about the sensor
    centre. ``scale``: relative zoom (0.1: 0.9x to 1.1x). ``drop``: the largest fraction of events removed at random.
    The zero config changes nothing.
    """

    shift_px: float = 0.0
    rotate_degrees: float = 0.0
    scale: float = 0.0
    drop: float = 0.0

    def __post_init__(self):
        for name in ("shift_px", "rotate_degrees", "scale", "drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ConfigError(f"augment.{name} must be a number >= 0, got {value!r}")
        if self.scale >= 1:
            raise ConfigError(f"augment.scale must be below 1 (a relative zoom), got {self.scale!r}")
        if self.drop >= 1:
            raise ConfigError(f"augment.drop must be below 1 (a fraction of events), got {self.drop!r}")
        if self.rotate_degrees > 180:
            raise ConfigError(f"augment.rotate_degrees must be at most 180, got {self.rotate_degrees!r}")

    @property
    def active(self) -> bool:
        return any((self.shift_px, self.rotate_degrees, self.scale, self.drop))


def augment_events(stream: EventStream, config: EventAugmentConfig, rng: np.random.Generator) -> EventStream:
    """``stream`` with one random draw of ``config`` applied (a new stream; the input is not changed)."""
    events = stream.events
    if not config.active or not len(events):
        return stream
    if config.drop:
        keep = rng.random(len(events)) >= rng.uniform(0.0, config.drop)
        events = events[keep]
    if config.shift_px or config.rotate_degrees or config.scale:
        width, height = stream.sensor_size
        angle = math.radians(rng.uniform(-config.rotate_degrees, config.rotate_degrees))
        zoom = 1.0 + rng.uniform(-config.scale, config.scale)
        dx, dy = rng.uniform(-config.shift_px, config.shift_px, size=2)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        cos, sin = zoom * math.cos(angle), zoom * math.sin(angle)
        x = events["x"].astype(np.float32) - cx
        y = events["y"].astype(np.float32) - cy
        new_x = np.rint(cos * x - sin * y + cx + dx)
        new_y = np.rint(sin * x + cos * y + cy + dy)
        inside = (new_x >= 0) & (new_x < width) & (new_y >= 0) & (new_y < height)
        events = events[inside].copy()
        events["x"] = new_x[inside]
        events["y"] = new_y[inside]
    return dataclasses.replace(stream, events=events)
