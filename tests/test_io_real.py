"""Every reader against an independent reader (tonic or expelliarmus) on the real recordings in ../shared/data, and
on the real sample heads in tests/data/samples, which every clone has."""

import numpy as np
import pytest

from neuroclip import read_events
from neuroclip.events.io.atis_bin import encode_atis_bin

from conftest import SAMPLE_DATA, needs_all_recordings, nmnist_files, real_file

EVT2 = "formats/prophesee/sparklers_evt2.raw"
EVT3 = "formats/prophesee/pedestrians_evt3.raw"
DAT_FILES = ["formats/ncars/obj_004397_td.dat", "formats/ncars/tonic_sample_ncars.dat"]
AEDAT4 = "formats/aedat4/tonic_sample.aedat4"
# the first 64 KiB of the two Prophesee recordings, kept in the repository
EVT2_HEAD = SAMPLE_DATA / "formats/prophesee/sparklers_evt2_head.raw"
EVT3_HEAD = SAMPLE_DATA / "formats/prophesee/pedestrians_evt3_head.raw"


def assert_same_events(ours, reference, fields="txyp"):
    assert len(ours) == len(reference["t"])
    for name in fields:
        np.testing.assert_array_equal(ours[name].astype(np.int64), reference[name].astype(np.int64), err_msg=name)


def test_all_500_nmnist_files_equal_tonic_and_match_known_statistics():
    tonic_io = pytest.importorskip("tonic.io")
    needs_all_recordings()
    files = nmnist_files()
    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    counts, durations, on_fractions = [], [], []
    for path in files:
        stream = read_events(path)
        assert_same_events(stream.events, tonic_io.read_mnist_file(str(path), dtype=tonic_dtype))
        assert stream.sensor_size == (34, 34)
        counts.append(len(stream))
        durations.append(stream.duration)
        on_fractions.append(stream.on_fraction)
    assert len(files) == 500
    # N-MNIST: 34x34, about 4,100 events and about 306 ms per recording, ON fraction about one half
    assert 3900 < np.mean(counts) < 4300 and min(counts) >= 1000 and max(counts) <= 7200
    assert 300_000 < np.mean(durations) < 312_000 and min(durations) > 285_000 and max(durations) < 320_000
    assert 0.45 < np.mean(on_fractions) < 0.55


def test_nmnist_bin_writer_reproduces_the_real_files_byte_for_byte():
    for path in nmnist_files()[::5]:
        assert encode_atis_bin(read_events(path)) == path.read_bytes()


@pytest.mark.parametrize("relative, encoding", [(EVT2, "evt2"), *[(d, "dat") for d in DAT_FILES]])
def test_prophesee_readers_equal_expelliarmus(relative, encoding):
    expelliarmus = pytest.importorskip("expelliarmus")
    path = real_file(relative)
    reference = expelliarmus.Wizard(encoding=encoding, fpath=path).read()
    stream = read_events(path)
    assert_same_events(stream.events, reference)


def test_evt2_sensor_and_span():
    needs_all_recordings()
    stream = read_events(real_file(EVT2))
    assert stream.sensor_size == (640, 480)  # Gen3 plugin named in the header
    assert len(stream) == 539_481 and stream.duration == 50_000


def test_evt3_equals_expelliarmus_apart_from_its_time_low_wrap_rule():
    """x, y and p equal expelliarmus's. Timestamps differ in a known way: this recording's TIME_LOW words jitter
    backwards by a few µs (e.g. 811 then 800) and expelliarmus counts every such step as a 4096 µs wrap, while the
    format takes bits 12-23 from TIME_HIGH words. So ours are expelliarmus's minus 4096 µs per backward TIME_LOW
    step seen so far, and our span (8.8 ms) is what the three TIME_HIGH values 2861..2863 allow (< 3 x 4096 µs)."""
    expelliarmus = pytest.importorskip("expelliarmus")
    path = real_file(EVT3)
    reference = expelliarmus.Wizard(encoding="evt3", fpath=path).read()
    stream = read_events(path)
    assert stream.sensor_size == (1280, 720)
    assert_same_events(stream.events, reference, fields="xyp")
    difference = reference["t"].astype(np.int64) - stream.events["t"]
    assert np.all(difference % 4096 == 0) and np.all(np.diff(difference) >= 0)
    words = np.frombuffer(path.read_bytes()[166:], "<u2")  # the header is 166 bytes
    time_low = words[(words >> 12) == 0x6] & 0xFFF
    assert difference[-1] // 4096 == np.count_nonzero(np.diff(time_low.astype(np.int64)) < 0)
    high = words[(words >> 12) == 0x8] & 0xFFF
    assert stream.duration < (int(high.max()) - int(high.min()) + 1) * 4096
    assert np.all(np.diff(stream.events["t"]) >= 0)


def test_aedat4_equals_tonic():
    tonic_io = pytest.importorskip("tonic.io")
    path = real_file(AEDAT4)
    stream = read_events(path)
    reference = tonic_io.read_aedat4(str(path))
    assert stream.sensor_size == (320, 240) and len(stream) == 111_954
    reference = {"t": reference["t"], "x": reference["x"], "y": reference["y"], "p": reference["on"]}
    assert_same_events(stream.events, reference)


def test_the_kept_evt2_head_equals_expelliarmus():
    expelliarmus = pytest.importorskip("expelliarmus")
    reference = expelliarmus.Wizard(encoding="evt2", fpath=EVT2_HEAD).read()
    stream = read_events(EVT2_HEAD)
    assert stream.sensor_size == (640, 480) and len(stream) == 16_292
    assert_same_events(stream.events, reference)


def test_the_kept_evt3_head_equals_expelliarmus_in_x_y_and_p():
    expelliarmus = pytest.importorskip("expelliarmus")
    reference = expelliarmus.Wizard(encoding="evt3", fpath=EVT3_HEAD).read()
    stream = read_events(EVT3_HEAD)
    assert stream.sensor_size == (1280, 720) and len(stream) == 23_249
    assert_same_events(stream.events, reference, fields="xyp")  # timestamps: see the whole-file test above
    assert np.all(np.diff(stream.events["t"]) >= 0)


@pytest.mark.parametrize("path", [EVT2_HEAD, EVT3_HEAD])
def test_small_chunks_give_the_same_events_on_the_kept_heads(path):
    assert_same_events(read_events(path, chunk_bytes=4096 + 2).events, read_events(path).events)


@pytest.mark.parametrize("relative", [EVT2, EVT3, DAT_FILES[0]])
def test_small_chunks_give_the_same_events(relative):
    """Readers go through files chunk by chunk; state carried across chunk boundaries must not change a thing."""
    path = real_file(relative)
    whole = read_events(path)
    chunked = read_events(path, chunk_bytes=4096 + 8)
    assert_same_events(chunked.events, whole.events)


def test_memory_is_bounded_by_the_output_not_the_file():
    """Decoding chunk by chunk: peak memory is the decoded events (twice, while parts are joined) plus a few
    chunk-sized temporaries, however long the file."""
    import tracemalloc

    path = real_file(EVT2)
    chunk = 1 << 16
    tracemalloc.start()
    try:
        stream = read_events(path, chunk_bytes=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    output = stream.events.nbytes
    assert peak < 2 * output + 64 * chunk, (peak, output)
