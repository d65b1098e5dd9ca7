"""Readers for formats we have no real file of, tested on files built byte by byte to each format's specification,
and the writers' round trips."""

import struct

import numpy as np
import pytest

from neuroclip import EventFileError, EventStream, make_events, read_events, write_events
from neuroclip.events.io import detect_format


def write_bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------ ATIS .bin

def atis_row(x, y, p, t):
    return bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])


def test_ncaltech101_overflow_rows_add_2_to_13_us(tmp_path):
    rows = atis_row(1, 2, 1, 100) + atis_row(0, 240, 0, 0) + atis_row(3, 4, 0, 50) + atis_row(0, 240, 0, 0) \
        + atis_row(0, 240, 0, 0) + atis_row(200, 179, 1, 7)
    stream = read_events(write_bytes(tmp_path, "image_0001.bin", rows))
    assert stream.events["t"].tolist() == [100, 50 + 8192, 7 + 3 * 8192] and stream.metadata["overflow_rows"] == 3
    assert stream.events["x"].tolist() == [1, 3, 200] and stream.events["y"].tolist() == [2, 4, 179]
    assert stream.events["p"].tolist() == [1, 0, 1]
    assert stream.sensor_size == (304, 240)  # does not fit 34x34, so the full ATIS array


def test_ncaltech101_reader_equals_tonic(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    rng = np.random.default_rng(0)
    rows = b"".join(atis_row(int(rng.integers(0, 240)), 240 if rng.random() < 0.05 else int(rng.integers(0, 180)),
                             int(rng.integers(0, 2)), int(t)) for t in np.sort(rng.integers(0, 1 << 23, 400)))
    path = write_bytes(tmp_path, "a.bin", rows)
    reference = tonic_io.read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    stream = EventStream.unchecked(*_decode_unsorted(path))
    for name in "txyp":
        np.testing.assert_array_equal(stream.events[name].astype(int), reference[name])


def _decode_unsorted(path):
    # random overflow rows make timestamps jump, so read without the sortedness check
    from neuroclip.events.io.atis_bin import _decode

    rows = np.frombuffer(path.read_bytes(), np.uint8).reshape(-1, 5)
    events, _ = _decode(rows, 0)
    return events, (304, 240)


def test_atis_writer_inserts_overflow_rows_for_long_recordings(tmp_path):
    t = np.array([0, 5, (1 << 23) + 10, (1 << 24) + 3, 3 * (1 << 23)])
    stream = EventStream(make_events(t, [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [1, 0, 1, 0, 1]), (34, 34))
    path = write_events(tmp_path / "long.bin", stream)
    back = read_events(path)
    assert back.events.tolist() == stream.events.tolist()
    assert back.metadata["overflow_rows"] > 0


def test_atis_writer_refuses_coordinates_the_format_cannot_hold(tmp_path):
    stream = EventStream(make_events([0], [300], [0], [1]), (304, 240))
    with pytest.raises(Exception, match="x <= 255"):
        write_events(tmp_path / "x.bin", stream)


# ------------------------------------------------------------------------------------------------ AEDAT 2.0

AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file created by saveAERDataAsAEDAT2.m\r\n" \
                b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"


def dvs128_address(raw_x, raw_y, raw_polarity):
    return (raw_y << 8) | (raw_x << 1) | raw_polarity


def test_aedat2_cifar10dvs_layout_equals_spikingjelly(tmp_path):
    cifar10_dvs = pytest.importorskip("spikingjelly.datasets.cifar10_dvs")
    rng = np.random.default_rng(1)
    n = 300
    raw_x, raw_y, raw_p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    t = np.sort(rng.integers(0, 2_000_000, n))
    payload = np.empty(2 * n, ">u4")
    payload[0::2] = dvs128_address(raw_x, raw_y, raw_p)
    payload[1::2] = t
    path = write_bytes(tmp_path, "cifar10_airplane_0.aedat", AEDAT2_HEADER + payload.tobytes())
    assert detect_format(path) == "aedat2"
    stream = read_events(path, layout="cifar10dvs")
    reference = cifar10_dvs._load_origin_data(str(path))
    assert stream.sensor_size == (128, 128)
    for name in "txyp":
        np.testing.assert_array_equal(stream.events[name].astype(int), np.asarray(reference[name]).astype(int))


def test_aedat2_jaer_layout_and_special_events(tmp_path):
    payload = struct.pack(">IIIIII", dvs128_address(5, 9, 0), 10, 0x8000 | 7, 11, dvs128_address(127, 0, 1), 12)
    stream = read_events(write_bytes(tmp_path, "rec.aedat", AEDAT2_HEADER + payload), layout="jaer")
    # jAER: x = 127 - raw_x, y = raw_y, polarity bit 0 = ON; the special event (bit 15) is dropped
    assert stream.events.tolist() == [(10, 122, 9, 1), (12, 0, 0, 0)]


def test_aedat2_files_read_in_jaers_orientation_unless_they_are_cifar10dvs(tmp_path):
    # a generic DVS128 file comes out as jAER shows it; the CIFAR10-DVS dataset reads its files with spikingjelly's
    # (transposed) mapping, which NeuroCLIP used; the command line chooses with --layout
    from neuroclip.cli import main
    from neuroclip.datasets import get_dataset

    payload = struct.pack(">II", dvs128_address(5, 9, 0), 10)
    generic = write_bytes(tmp_path, "mine.aedat", AEDAT2_HEADER + payload)
    assert read_events(generic).events.tolist() == [(10, 122, 9, 1)]  # x = 127 - 5, y = 9
    assert read_events(generic).metadata["layout"] == "jaer"
    for name in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        folder = tmp_path / "cifar" / name
        folder.mkdir(parents=True)
        for i in range(10):
            (folder / f"cifar10_{name}_{i}.aedat").write_bytes(AEDAT2_HEADER + payload)
    stream, _ = get_dataset("cifar10dvs", tmp_path / "cifar", "test")[0]
    assert stream.events.tolist() == [(10, 127 - 9, 127 - 5, 1)]  # x = 127 - raw_y, y = 127 - raw_x
    assert main(["info", "--json", "--layout", "cifar10dvs", str(generic)]) == 0
    with pytest.raises(EventFileError, match="unknown AEDAT 2.0 layout 'foo'"):
        read_events(generic, layout="foo")


def test_aedat2_truncated_word_is_an_error(tmp_path):
    path = write_bytes(tmp_path, "rec.aedat", AEDAT2_HEADER + struct.pack(">II", 2, 3) + b"\x00\x01")
    with pytest.raises(EventFileError, match="stray byte"):
        read_events(path)


# ------------------------------------------------------------------------------------------------ AEDAT 3.1

AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n#!END-HEADER\r\n"


def aedat3_packet(kind, events, ts_overflow=0, size=8):
    body = b"".join(struct.pack("<Ii", data, t) for data, t in events)
    return struct.pack("<hhiiiiii", kind, 1, size, 4, ts_overflow, len(events), len(events), len(events)) + body


def polarity_word(x, y, on, valid=1):
    return (x << 17) | (y << 2) | (on << 1) | valid


def test_aedat3_polarity_packets_validity_and_overflow(tmp_path):
    data = AEDAT3_HEADER
    data += aedat3_packet(1, [(polarity_word(10, 20, 1), 100), (polarity_word(11, 21, 0, valid=0), 101),
                              (polarity_word(127, 0, 0), 102)])
    data += aedat3_packet(0, [(0xDEADBEEF, 103)])  # a special-event packet: skipped
    data += aedat3_packet(1, [(polarity_word(1, 2, 1), 5)], ts_overflow=1)
    stream = read_events(write_bytes(tmp_path, "user01_fluorescent.aedat", data))
    assert stream.sensor_size == (128, 128)
    assert stream.events.tolist() == [(100, 10, 20, 1), (102, 127, 0, 0), ((1 << 31) | 5, 1, 2, 1)]


def test_aedat3_packet_running_past_the_end_is_an_error(tmp_path):
    data = AEDAT3_HEADER + aedat3_packet(1, [(polarity_word(1, 2, 1), 5)] * 4)
    with pytest.raises(EventFileError, match="runs past the end|impossible"):
        read_events(write_bytes(tmp_path, "cut.aedat", data[:-3]))


# ------------------------------------------------------------------------------------------------ Prophesee

def evt2_cd(on, t_low, x, y):
    return (on << 28) | (t_low << 22) | (x << 11) | y


def test_evt2_built_by_spec(tmp_path):
    words = np.array([0x8 << 28 | 100, evt2_cd(1, 3, 10, 20), evt2_cd(0, 63, 639, 479), 0xA << 28,
                      0x8 << 28 | 101, evt2_cd(1, 0, 0, 0)], "<u4")
    path = write_bytes(tmp_path, "a.raw", b"% evt 2.0\n% geometry 640x480\n% end\n" + words.tobytes())
    stream = read_events(path)
    assert stream.events.tolist() == [(100 * 64 + 3, 10, 20, 1), (100 * 64 + 63, 639, 479, 0), (101 * 64, 0, 0, 1)]
    assert stream.sensor_size == (640, 480)


def evt3(kind, value):
    return (kind << 12) | value


def test_evt3_vectors_and_time_high_wrap(tmp_path):
    words = [
        evt3(0x8, 4095), evt3(0x6, 10), evt3(0x0, 7),          # t = 4095*4096 + 10, y = 7
        evt3(0x2, (1 << 11) | 100),                            # single ON event at x = 100
        evt3(0x3, (0 << 11) | 200),                            # vector base x = 200, OFF
        evt3(0x4, 0b100000000101),                             # x = 200, 202, 211
        evt3(0x5, 0b10000001),                                 # x = 212, 219
        evt3(0x8, 0), evt3(0x6, 1),                            # TIME_HIGH wraps 4095 -> 0: t = 2**24 + 1
        evt3(0x0, 8), evt3(0x2, 5),
    ]
    path = write_bytes(tmp_path, "b.raw", b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"
                       + np.array(words, "<u2").tobytes())
    stream = read_events(path)
    t0 = 4095 * 4096 + 10
    assert stream.events.tolist() == [(t0, 100, 7, 1), (t0, 200, 7, 0), (t0, 202, 7, 0), (t0, 211, 7, 0),
                                      (t0, 212, 7, 0), (t0, 219, 7, 0), ((1 << 24) + 1, 5, 8, 0)]
    assert stream.sensor_size == (1280, 720)
    chunked = read_events(path, chunk_bytes=4)  # two words per chunk: every state crosses a boundary
    assert chunked.events.tolist() == stream.events.tolist()


def test_dat_built_by_spec(tmp_path):
    header = b"% Data file containing Event2D events.\n% Version 2\n% Width 120\n% Height 100\n"
    rows = np.array([(5, (1 << 28) | (30 << 14) | 40), (9, (0 << 28) | (99 << 14) | 119)],
                    dtype=[("t", "<u4"), ("d", "<u4")])
    stream = read_events(write_bytes(tmp_path, "car.dat", header + bytes([0, 8]) + rows.tobytes()))
    assert stream.events.tolist() == [(5, 40, 30, 1), (9, 119, 99, 0)] and stream.sensor_size == (120, 100)


# ------------------------------------------------------------------------------------------------ numpy and HDF5

def sample_stream():
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 10**6, 1000))
    return EventStream(make_events(t, rng.integers(0, 64, 1000), rng.integers(0, 48, 1000), rng.integers(0, 2, 1000)),
                       (64, 48), {"source": "test", "label": 3})


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".npy", ".bin"])
def test_writers_round_trip(tmp_path, suffix):
    stream = sample_stream()
    if suffix == ".bin":
        stream = EventStream(stream.events, (64, 48))
    path = write_events(tmp_path / f"rec{suffix}", stream)
    back = read_events(path, sensor_size=(64, 48) if suffix in (".npy", ".bin") else None)
    assert back.events.tolist() == stream.events.tolist()
    assert back.sensor_size == (64, 48)
    if suffix in (".npz", ".h5"):
        assert back.metadata["label"] == 3


def test_writers_leave_no_partial_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "rec.npz"
    write_events(path, sample_stream())
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        write_events(path, sample_stream())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["rec.npz"]


def test_spikingjelly_npz(tmp_path):
    path = tmp_path / "sj.npz"
    np.savez(path, t=np.array([1, 2, 3]), x=np.array([0, 5, 9]), y=np.array([1, 1, 2]), p=np.array([1, 0, 1]))
    stream = read_events(path)
    assert stream.events.tolist() == [(1, 0, 1, 1), (2, 5, 1, 0), (3, 9, 2, 1)]
    assert stream.metadata["format"] == "spikingjelly_npz"


def test_es_imagenet_npz_equals_spikingjelly(tmp_path):
    es_imagenet = pytest.importorskip("spikingjelly.datasets.es_imagenet")
    rng = np.random.default_rng(4)
    positive = np.column_stack([rng.integers(0, 224, 200), rng.integers(0, 224, 200), rng.integers(0, 8, 200)])
    negative = np.column_stack([rng.integers(0, 224, 150), rng.integers(0, 224, 150), rng.integers(0, 8, 150)])
    path = tmp_path / "n01440764_10026.npz"
    np.savez(path, pos=positive, neg=negative)
    stream = read_events(path)
    reference = es_imagenet._load_events(str(path))
    assert stream.sensor_size == (224, 224)
    # spikingjelly sorts with an unstable argsort, so compare per frame index as multisets
    ours = sorted(map(tuple, np.column_stack([stream.events[n].astype(int) for n in "txyp"]).tolist()))
    theirs = sorted(map(tuple, np.column_stack([np.asarray(reference[n]).astype(int) for n in "txyp"]).tolist()))
    assert ours == theirs and np.all(np.diff(stream.events["t"]) >= 0)


def test_hdf5_group_layout_with_offset(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "dsec.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("events")
        group["t"], group["x"], group["y"], group["p"] = [0, 4], [1, 2], [3, 4], [1, 0]
        h5["t_offset"] = 1000
        h5.attrs["width"], h5.attrs["height"] = 640, 480
    stream = read_events(path)
    assert stream.events.tolist() == [(1000, 1, 3, 1), (1004, 2, 4, 0)] and stream.sensor_size == (640, 480)


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(EventFileError, match="pickled"):
        read_events(path)
