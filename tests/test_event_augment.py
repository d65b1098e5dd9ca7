"""Event-level augmentation (neuroclip.events.augment): valid streams, the draws it promises, nothing when off."""

from __future__ import annotations

import numpy as np
import pytest

from neuroclip.events import EventStream
from neuroclip.events.augment import EventAugmentConfig, augment_events
from neuroclip.events.stream import make_events


def _stream(n=5000, size=(34, 34), seed=0) -> EventStream:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 300_000, n))
    return EventStream(make_events(t, rng.integers(0, size[0], n), rng.integers(0, size[1], n),
                                   rng.integers(0, 2, n)), size)


def test_zero_config_returns_the_stream_unchanged():
    stream = _stream()
    assert augment_events(stream, EventAugmentConfig(), np.random.default_rng(0)) is stream


def test_pure_shift_moves_every_kept_event_by_the_same_whole_pixels():
    stream = _stream()
    stream = EventStream(make_events(np.arange(len(stream)), stream.events["x"], stream.events["y"],
                                     stream.events["p"]), stream.sensor_size)  # unique times name the events
    rng = np.random.default_rng(4)
    offsets = set()
    for _ in range(10):
        out = augment_events(stream, EventAugmentConfig(shift_px=3), rng)
        source = stream.events[out.events["t"]]
        dx, dy = out.events["x"].astype(int) - source["x"], out.events["y"].astype(int) - source["y"]
        assert len(set(dx)) == 1 and len(set(dy)) == 1 and abs(dx[0]) <= 3 and abs(dy[0]) <= 3
        assert np.array_equal(out.events["p"], source["p"])
        # exactly the events that stay on the sensor are kept
        x, y = stream.events["x"].astype(int) + dx[0], stream.events["y"].astype(int) + dy[0]
        assert len(out) == int(((x >= 0) & (x < 34) & (y >= 0) & (y < 34)).sum())
        offsets.add((dx[0], dy[0]))
    assert len(offsets) > 3  # the draws differ


@pytest.mark.parametrize("config", [EventAugmentConfig(rotate_degrees=30, scale=0.2, shift_px=4, drop=0.5),
                                    EventAugmentConfig(drop=0.9), EventAugmentConfig(rotate_degrees=180)])
def test_every_draw_is_a_valid_time_sorted_stream_in_the_sensor(config):
    stream = _stream(size=(40, 30))
    rng = np.random.default_rng(1)
    for _ in range(20):
        out = augment_events(stream, config, rng)  # EventStream validates coordinates and order
        assert out.sensor_size == stream.sensor_size and 0 < len(out) <= len(stream)
        assert np.all(np.diff(out.events["t"].astype(np.int64)) >= 0)
    assert len(stream) == 5000  # the input is not changed


def test_drop_removes_up_to_the_given_fraction():
    stream = _stream(n=20_000)
    rng = np.random.default_rng(2)
    kept = [len(augment_events(stream, EventAugmentConfig(drop=0.4), rng)) / len(stream) for _ in range(50)]
    assert min(kept) > 0.57 and max(kept) <= 1.0 and np.mean(kept) == pytest.approx(0.8, abs=0.05)


def test_rotation_by_180_degrees_mirrors_about_the_centre():
    stream = _stream(size=(33, 33))
    rng = np.random.default_rng(0)
    while True:  # draw until the angle is close enough to +-180 that rounding maps x to 32 - x
        state = rng.bit_generator.state
        angle = rng.uniform(-180, 180)
        if abs(abs(angle) - 180) < 0.5:
            break
    rng.bit_generator.state = state
    out = augment_events(stream, EventAugmentConfig(rotate_degrees=180), rng)
    assert len(out) == len(stream)
    assert np.array_equal(out.events["x"], 32 - stream.events["x"])
    assert np.array_equal(out.events["y"], 32 - stream.events["y"])
