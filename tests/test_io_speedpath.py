"""The numba decode kernels against the numpy decoders they speed up: the same arrays, sensor sizes, metadata and
error messages, on every real sample file, on files built to each format's specification, and on fuzzed input;
and the same pieces when streaming."""

from __future__ import annotations

import struct
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from neuroclip import EventFileError, iter_events, read_events
from neuroclip.events.io._common import concatenate, copy_events, decoders
from neuroclip.events.stream import EVENT_DTYPE, make_events
from test_io_fuzz import SUFFIX_ON_DISK, _spec_seeds, mutations

from conftest import SAMPLE_DATA, SHARED_DATA

pytest.importorskip("numba")

KERNEL_FORMATS = [".bin", ".raw2", ".raw3", ".dat", ".aedat", ".aedat3"]  # numba kernels (AEDAT 4: byte copies)


def read_both(path, **options):
    """(numba outcome, numpy outcome): each the stream's events, size and metadata, or the error's message."""
    outcomes = []
    for backend in ("numba", "numpy"):
        with decoders(backend):
            try:
                stream = read_events(path, **options)
            except EventFileError as error:
                outcomes.append(("error", str(error)))
            else:
                outcomes.append(("ok", stream.events.tobytes(), stream.events.dtype, stream.sensor_size,
                                 stream.metadata))
    return outcomes


def real_files():
    files = sorted((SHARED_DATA / "formats").glob("*/*")) + sorted((SAMPLE_DATA / "formats").glob("*/*"))
    files += sorted((SHARED_DATA / "nmnist").glob("Train/*/*.bin"))[::25]
    return files


@pytest.mark.parametrize("path", real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_numba_and_numpy_decoders_agree_on_the_real_files(path):
    numba_outcome, numpy_outcome = read_both(path)
    assert numba_outcome[0] == "ok" and numba_outcome == numpy_outcome
    assert len(numba_outcome[1]) > 0
    if path.suffix != ".aedat4":  # the same events however the file is cut into chunks
        assert read_both(path, chunk_bytes=4096 + 8) == [numba_outcome, numba_outcome]


def test_evt3_output_grows_when_vector_words_hold_more_events_than_words(tmp_path):
    """A file of full VECT_12 words (12 events a word) overflows the first guess of one event per word: the
    output must grow, and chunks must carry the vector base and time across their boundaries."""
    words = [0x8000 | 7, 0x6000 | 5, 0x0000 | 3, 0x3000 | (1 << 11) | 10]
    words += [0x4000 | 0xFFF] * 2000 + [0x6000 | 9, 0x2000 | 4000 & 0x7FF] + [0x5000 | 0xFF] * 100
    path = tmp_path / "vectors.raw"
    path.write_bytes(b"% evt 3.0\n% format EVT3;height=720;width=65535\n% end\n" + np.array(words, "<u2").tobytes())
    numba_outcome, numpy_outcome = read_both(path, sensor_size=(65535, 720))
    assert numba_outcome == numpy_outcome and numba_outcome[0] == "ok"
    events = np.frombuffer(numba_outcome[1], EVENT_DTYPE)
    assert len(events) == 2000 * 12 + 1 + 100 * 8
    assert events["x"][:3].tolist() == [10, 11, 12] and int(events["x"][2000 * 12 - 1]) == 10 + 2000 * 12 - 1
    assert set(events["p"][:2000 * 12].tolist()) == {1} and set(events["y"].tolist()) == {3}
    for chunk_bytes in (6, 1000, 4096 + 2):
        assert read_both(path, sensor_size=(65535, 720), chunk_bytes=chunk_bytes) == [numba_outcome] * 2


def test_a_vector_running_past_x_65535_and_a_later_reserved_word_give_the_numpy_error(tmp_path):
    base = [0x3000 | 0x7FF] + [0x4000 | 0xFFF] * 6000  # x climbs past 65535 within these words
    for words, expected in ((base, "runs past x = 65535"), (base + [0x1000], "reserved EVT 3.0 type 0x1")):
        path = tmp_path / "past.raw"
        path.write_bytes(b"% evt 3.0\n% end\n" + np.array(words, "<u2").tobytes())
        numba_outcome, numpy_outcome = read_both(path, sensor_size=(65535, 10))
        assert numba_outcome == numpy_outcome and numba_outcome[0] == "error" and expected in numba_outcome[1]


def test_out_of_order_and_out_of_sensor_events_are_refused_with_the_numpy_message(tmp_path):
    rows = [(5, (1 << 28) | (30 << 14) | 40), (3, (99 << 14) | 119)]  # time goes back
    header = b"% Data file containing Event2D events.\n% Version 2\n% Width 120\n% Height 100\n" + bytes([0, 8])
    path = tmp_path / "back.dat"
    path.write_bytes(header + np.array(rows, dtype=[("t", "<u4"), ("d", "<u4")]).tobytes())
    numba_outcome, numpy_outcome = read_both(path)
    assert numba_outcome == numpy_outcome and "not sorted" in numba_outcome[1]
    path.write_bytes(header.replace(b"Width 120", b"Width 100") + np.array(rows[1:], "<u4,<u4").tobytes())
    numba_outcome, numpy_outcome = read_both(path)
    assert numba_outcome == numpy_outcome and "outside the 100x100 sensor" in numba_outcome[1]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _spec_seeds(tmp_path_factory.mktemp("speed_seeds"))


@pytest.mark.parametrize("suffix", KERNEL_FORMATS)
def test_numba_and_numpy_decoders_agree_on_fuzzed_input(suffix, seeds, tmp_path):
    if suffix not in seeds:
        pytest.skip(f"no seed file for {suffix}")
    outcomes = []

    @settings(max_examples=200, deadline=timedelta(seconds=5), derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=mutations(seeds[suffix]))
    def run(data):
        path = tmp_path / f"fuzz{SUFFIX_ON_DISK.get(suffix, suffix)}"
        path.write_bytes(data)
        numba_outcome, numpy_outcome = read_both(path)
        assert numba_outcome == numpy_outcome
        outcomes.append(numba_outcome[0])

    run()
    assert outcomes.count("ok") > 0 and outcomes.count("error") > 0  # both paths exercised


@pytest.mark.parametrize("relative", ["formats/prophesee/pedestrians_evt3_head.raw",
                                      "formats/prophesee/sparklers_evt2_head.raw", "formats/ncars/obj_004397_td.dat"])
def test_streamed_pieces_are_the_same_with_either_decoder(relative):
    path = SAMPLE_DATA / relative
    pieces = {}
    for backend in ("numba", "numpy"):
        with decoders(backend):
            pieces[backend] = [p.events.tobytes() for p in iter_events(path, events_per_piece=1000,
                                                                       chunk_bytes=4096 + 8)]
    assert pieces["numba"] == pieces["numpy"] and len(pieces["numba"]) > 3


def test_byte_copies_equal_numpys_copies():
    rng = np.random.default_rng(0)
    parts = [make_events(np.sort(rng.integers(0, 10**6, n)), rng.integers(0, 640, n), rng.integers(0, 480, n),
                         rng.integers(0, 2, n)) for n in (0, 1, 1000, 17)]
    expected = np.concatenate(parts)
    assert concatenate(list(parts), EVENT_DTYPE).tobytes() == expected.tobytes()
    assert copy_events(expected[3:900]).tobytes() == expected[3:900].tobytes()
    assert copy_events(expected[::2]).tobytes() == expected[::2].tobytes()


def test_aedat4_packets_copied_as_bytes_equal_the_field_by_field_conversion():
    from neuroclip.events.io.aedat import _copies_bytewise, _joined_aedat4

    packet = np.zeros(5, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    packet["t"], packet["x"], packet["y"], packet["on"] = [1, 2, 3, 4, 2**40], [5, 6, 7, 8, 9], 3, [1, 0, 1, 0, 1]
    assert _copies_bytewise(packet.dtype)
    aligned = np.zeros(5, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?"), ("pad", "u1")])
    for name in ("t", "x", "y", "on"):
        aligned[name] = packet[name]
    assert not _copies_bytewise(aligned.dtype)
    joined = _joined_aedat4([packet, aligned])  # one byte copy, one field-by-field conversion
    assert joined[:5].tobytes() == joined[5:].tobytes()
    assert joined["t"][:5].tolist() == [1, 2, 3, 4, 2**40] and joined["p"][:5].tolist() == [1, 0, 1, 0, 1]


def test_decoders_switch_refuses_unknown_backends():
    with pytest.raises(ValueError, match="numpy"):
        with decoders("fortran"):
            pass


def test_spec_built_atis_overflow_rows_with_both_decoders(tmp_path):
    def row(x, y, p, t):
        return struct.pack(">BBBBB", x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF)

    data = row(1, 2, 1, 100) + row(0, 240, 0, 0) + row(3, 4, 0, 50) + row(0, 240, 0, 0) * 2 + row(200, 179, 1, 7)
    path = tmp_path / "overflow.bin"
    path.write_bytes(data)
    numba_outcome, numpy_outcome = read_both(path)
    assert numba_outcome == numpy_outcome
    events = np.frombuffer(numba_outcome[1], EVENT_DTYPE)
    assert events["t"].tolist() == [100, 50 + 8192, 7 + 3 * 8192] and numba_outcome[4]["overflow_rows"] == 3


@pytest.mark.parametrize("layout", ["jaer", "cifar10dvs"])
def test_spec_built_aedat2_with_special_events_with_both_decoders(tmp_path, layout):
    """DVS128 words (x bits 1-7, y bits 8-14, OFF bit 0), a special event (bit 15) that is skipped, then a word with
    bits above 15 (a DAVIS address): the same events, then the same error, from either decoder and in any chunking."""
    rng = np.random.default_rng(4)
    n = 3000
    words = np.empty(n, [("address", ">u4"), ("t", ">u4")])
    words["address"] = (rng.integers(0, 128, n) << 8) | (rng.integers(0, 128, n) << 1) | rng.integers(0, 2, n)
    words["address"][::97] |= 0x8000
    words["t"] = np.sort(rng.integers(0, 2**32 - 1, n, dtype=np.uint64)).astype(np.uint32)
    header = b"#!AER-DAT2.0\r\n# made in a test\r\n"
    path = tmp_path / "dvs128.aedat"
    path.write_bytes(header + words.tobytes())
    outcomes = read_both(path, layout=layout)
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "ok"
    events = np.frombuffer(outcomes[0][1], EVENT_DTYPE)
    assert len(events) == n - len(range(0, n, 97)) and events["t"].max() > 2**31  # unsigned 32-bit times
    assert read_both(path, layout=layout, chunk_bytes=4096 + 8) == [outcomes[0]] * 2
    pieces = {}
    for backend in ("numba", "numpy"):
        with decoders(backend):
            pieces[backend] = [p.events.tobytes() for p in iter_events(path, events_per_piece=500, layout=layout,
                                                                       chunk_bytes=4096)]
    assert pieces["numba"] == pieces["numpy"] and b"".join(pieces["numba"]) == outcomes[0][1]
    words["address"][2000] = 1 << 17
    path.write_bytes(header + words.tobytes())
    outcomes = read_both(path, layout=layout)
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "error" and "above bit 15" in outcomes[0][1]


def test_spec_built_aedat3_packets_with_both_decoders(tmp_path):
    """Polarity packets with invalid events and a time overflow, a special-event packet, capacity above number;
    then a negative time in a valid event of a later packet: the same events, then the same error."""
    rng = np.random.default_rng(5)

    def packet(count, overflow, kind=1, capacity=None, negative_at=None):
        words = np.empty(count, [("data", "<u4"), ("t", "<i4")])
        words["data"] = (rng.integers(0, 346, count).astype(np.uint32) << 17) | \
            (rng.integers(0, 260, count).astype(np.uint32) << 2) | (rng.integers(0, 2, count).astype(np.uint32) << 1) \
            | (rng.random(count) > 0.1).astype(np.uint32)
        words["t"] = np.sort(rng.integers(0, 2**31 - 1, count))
        if negative_at is not None:
            words["data"][negative_at] |= 1
            words["t"][negative_at] = -5
        capacity = capacity or count
        body = words.tobytes() + bytes(8 * (capacity - count))
        return struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, capacity, count, count) + body

    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DAVIS346\r\n#!END-HEADER\r\n"
    body = packet(900, 0) + packet(4, 0, kind=0) + packet(700, 1, capacity=1000) + packet(1200, 2)
    path = tmp_path / "davis.aedat"
    path.write_bytes(header + body)
    outcomes = read_both(path)
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "ok" and outcomes[0][3] == (346, 260)
    events = np.frombuffer(outcomes[0][1], EVENT_DTYPE)
    assert 2300 < len(events) < 2800 and events["t"].max() > 2**32  # two overflows
    assert read_both(path, chunk_bytes=4096) == [outcomes[0]] * 2
    path.write_bytes(header + body + packet(50, 3, negative_at=20))
    outcomes = read_both(path)
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "error" and "negative timestamp" in outcomes[0][1]
