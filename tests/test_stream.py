import numpy as np
import pytest

from neuroclip import ConfigError, EmptyStreamError, EventStream, InvalidEventsError, as_events, make_events
from neuroclip.events import EVENT_DTYPE


def stream_of(t, x, y, p, size=(10, 8)):
    return EventStream(make_events(t, x, y, p), size)


def test_dtype_is_documented_layout():
    assert EVENT_DTYPE.names == ("t", "x", "y", "p")
    assert EVENT_DTYPE["t"] == np.int64 and EVENT_DTYPE["x"] == np.uint16 and EVENT_DTYPE["p"] == np.uint8


@pytest.mark.parametrize("polarity, expected", [([True, False], [1, 0]), ([1, -1], [1, 0]), ([1, 0], [1, 0])])
def test_polarity_conventions_map_to_zero_one(polarity, expected):
    tonic_like = np.zeros(2, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", type(polarity[0]))])
    tonic_like["p"] = polarity
    assert as_events(tonic_like)["p"].tolist() == expected


def test_tonic_round_trip_keeps_values_and_field_names():
    tonic_like = np.zeros(3, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    tonic_like["x"], tonic_like["y"], tonic_like["t"], tonic_like["p"] = [1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1]
    stream = EventStream.from_tonic(tonic_like, (10, 10, 2))
    assert stream.sensor_size == (10, 10) and stream.tonic_sensor_size == (10, 10, 2)
    back = stream.to_tonic()
    for name in "xytp":
        assert back[name].tolist() == tonic_like[name].astype(int).tolist()


def test_tonic_transform_accepts_our_events():
    tonic = pytest.importorskip("tonic")
    stream = stream_of([0, 10, 20, 30], [1, 2, 3, 4], [0, 1, 2, 3], [0, 1, 1, 0])
    frames = tonic.transforms.ToFrame(sensor_size=stream.tonic_sensor_size, n_event_bins=2)(stream.to_tonic())
    assert frames.shape == (2, 2, 8, 10) and frames.sum() == 4


def test_outside_sensor_is_rejected_with_the_fix():
    with pytest.raises(InvalidEventsError, match="outside the 10x8 sensor.*index 1.*crop_to_sensor"):
        stream_of([0, 1], [0, 10], [0, 0], [0, 0])
    with pytest.raises(InvalidEventsError, match="outside"):
        stream_of([0, 1], [0, 0], [0, 8], [0, 0])


def test_unsorted_and_negative_timestamps_are_rejected():
    with pytest.raises(InvalidEventsError, match="not sorted.*event 2.*sorted\\(\\)"):
        stream_of([0, 5, 3], [0, 0, 0], [0, 0, 0], [0, 0, 0])
    with pytest.raises(InvalidEventsError, match="non-negative"):
        stream_of([-1, 5], [0, 0], [0, 0], [0, 0])


def test_bad_field_values_are_rejected():
    with pytest.raises(InvalidEventsError, match="fractional"):
        as_events({"t": np.array([0.5]), "x": [0], "y": [0], "p": [1]})
    with pytest.raises(InvalidEventsError, match="NaN"):
        as_events({"t": np.array([np.nan]), "x": [0], "y": [0], "p": [1]})
    with pytest.raises(InvalidEventsError, match="missing"):
        as_events({"t": [0], "x": [0]})
    with pytest.raises(InvalidEventsError) as caught:
        as_events(np.zeros((3, 4)))
    # the whole message: what was given (dtype and shape, formatted, never a literal placeholder) and the fix
    assert str(caught.value) == ("expected a structured array with fields t, x, y, p; got a plain array of dtype "
                                 "float64 and shape (3, 4). Build one with neuroclip.events.make_events(t, x, y, p).")
    with pytest.raises(InvalidEventsError, match="outside 0..65535"):
        as_events({"t": [0], "x": [-1], "y": [0], "p": [1]})


def test_bad_sensor_size_is_a_config_error():
    with pytest.raises(ConfigError, match="width, height"):
        EventStream(make_events([], [], [], []), (0, 5))
    with pytest.raises(ConfigError):
        EventStream(make_events([], [], [], []), "34x34")


def test_empty_stream_is_allowed_but_require_events_raises():
    stream = stream_of([], [], [], [])
    assert len(stream) == 0 and stream.duration == 0
    with pytest.raises(EmptyStreamError, match="empty"):
        stream.require_events()


def test_slicing_by_time_and_count():
    stream = stream_of([0, 10, 20, 30, 40], [0, 1, 2, 3, 4], [0] * 5, [1, 0, 1, 0, 1])
    assert stream.slice_time(10, 30).events["t"].tolist() == [10, 20]
    assert stream.slice_time(None, 15).events["t"].tolist() == [0, 10]
    assert len(stream.slice_time(31, 35)) == 0
    assert stream.slice_count(1, 3).events["x"].tolist() == [1, 2]
    assert [len(w) for w in stream.count_windows(2)] == [2, 2, 1]
    assert [len(w) for w in stream.count_windows(3, overlap=1)] == [3, 3, 1]
    assert [w.events["t"].tolist() for w in stream.time_windows(25)] == [[0, 10, 20], [30, 40]]
    with pytest.raises(ConfigError):
        stream.time_windows(0)
    with pytest.raises(ConfigError):
        stream.count_windows(2, overlap=2)


def test_summary_numbers():
    stream = stream_of([0, 500_000, 1_000_000], [0, 1, 2], [0, 0, 0], [1, 1, 0])
    summary = stream.summary()
    assert summary["events"] == 3 and summary["duration_us"] == 1_000_000
    assert summary["event_rate_hz"] == pytest.approx(3.0)
    assert summary["on_fraction"] == pytest.approx(2 / 3)


def test_sorted_and_crop_helpers():
    unsorted = EventStream.unchecked(make_events([5, 1, 3], [0, 2, 1], [0, 0, 0], [0, 0, 0]), (10, 10))
    assert unsorted.sorted().events["t"].tolist() == [1, 3, 5]
    outside = EventStream.unchecked(make_events([1, 3, 5], [0, 20, 1], [0, 0, 0], [0, 0, 0]), (10, 10))
    assert outside.crop_to_sensor().events["x"].tolist() == [0, 1]
