"""Fuzzing every reader: truncations, bit flips and random bytes must give either valid events or one
EventFileError naming the file, never another exception, a crash or a hang."""

from __future__ import annotations

import struct
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroclip import EventFileError, EventStream, make_events, read_events, write_events
from neuroclip.events import check_events
from neuroclip.events.io.dispatch import FORMATS, detect_format

from conftest import SAMPLE_DATA, SHARED_DATA


def _spec_seeds(folder):
    """Small valid files of every format, built in the test (and cut from the real files where present)."""
    seeds = {}
    rng = np.random.default_rng(0)
    stream = EventStream(make_events(np.sort(rng.integers(0, 10**6, 300)), rng.integers(0, 34, 300),
                                     rng.integers(0, 34, 300), rng.integers(0, 2, 300)), (34, 34))
    for suffix in (".bin", ".npz", ".npy", ".h5"):
        seeds[suffix] = write_events(folder / f"seed{suffix}", stream).read_bytes()
    addresses = np.empty(200, ">u4")
    addresses[0::2] = rng.integers(0, 1 << 15, 100)
    addresses[1::2] = np.sort(rng.integers(0, 10**6, 100))
    seeds[".aedat"] = b"#!AER-DAT2.0\r\n# made in a test\r\n" + addresses.tobytes()
    body = b"".join(struct.pack("<Ii", (int(x) << 17) | (int(y) << 2) | 3, int(t))
                    for x, y, t in zip(rng.integers(0, 128, 50), rng.integers(0, 128, 50), range(0, 5000, 100)))
    seeds[".aedat3"] = (b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
                        + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 50, 50, 50) + body)
    real = {  # the Prophesee heads are kept in the repository; the AEDAT 4 file only beside it
        ".raw2": (SAMPLE_DATA / "formats/prophesee/sparklers_evt2_head.raw", 164 + 8192),
        ".raw3": (SAMPLE_DATA / "formats/prophesee/pedestrians_evt3_head.raw", 166 + 8192),
        ".dat": (SAMPLE_DATA / "formats/ncars/tonic_sample_ncars.dat", None),
        ".aedat4": (SHARED_DATA / "formats/aedat4/tonic_sample.aedat4", None),
    }
    for key, (path, length) in real.items():
        if path.exists():
            seeds[key] = path.read_bytes()[:length]
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _spec_seeds(tmp_path_factory.mktemp("seeds"))


SUFFIX_ON_DISK = {".aedat3": ".aedat", ".raw2": ".raw", ".raw3": ".raw"}


@st.composite
def mutations(draw, data: bytes):
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "garbage_tail", "garbage"]))
    data = bytearray(data)
    if kind == "truncate":
        return bytes(data[:draw(st.integers(0, max(0, len(data) - 1)))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if kind == "overwrite":
        i = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=64))
        data[i:i + len(chunk)] = chunk
        return bytes(data)
    if kind == "garbage_tail":
        return bytes(data[:draw(st.integers(0, min(len(data), 400)))]) + draw(st.binary(min_size=1, max_size=600))
    return draw(st.binary(min_size=0, max_size=600))


def check_reader_survives(tmp_path, suffix, data):
    path = tmp_path / f"fuzz{SUFFIX_ON_DISK.get(suffix, suffix)}"
    path.write_bytes(data)
    try:
        stream = read_events(path)
    except EventFileError as error:
        assert str(path) in str(error)
        return "error"
    check_events(stream.events, stream.sensor_size)  # whatever is returned must be valid
    return "ok"


# every registered reader and the seed files that exercise it; registering a format without a seed fails below
SEEDS_OF_FORMAT = {"atis_bin": [".bin"], "aedat2": [".aedat"], "aedat3": [".aedat3"], "aedat4": [".aedat4"],
                   "prophesee_raw": [".raw2", ".raw3"], "prophesee_dat": [".dat"], "npy": [".npy"], "npz": [".npz"],
                   "hdf5": [".h5"]}
# AEDAT 4 is slower to decode: fewer examples, in its own test below
FAST_FORMATS = [suffix for suffixes in SEEDS_OF_FORMAT.values() for suffix in suffixes if suffix != ".aedat4"]


def test_every_registered_format_has_seeds_that_are_detected_as_it(seeds, tmp_path):
    assert set(SEEDS_OF_FORMAT) == set(FORMATS), "add seed files for the new format to _spec_seeds"
    for name, suffixes in SEEDS_OF_FORMAT.items():
        for suffix in suffixes:
            if suffix not in seeds:  # only the AEDAT 4 recording lives outside the repository
                assert suffix == ".aedat4"
                continue
            path = tmp_path / f"seed{SUFFIX_ON_DISK.get(suffix, suffix)}"
            path.write_bytes(seeds[suffix])
            assert detect_format(path) == name
            assert len(read_events(path)) > 0



@pytest.mark.parametrize("suffix", FAST_FORMATS)
def test_fuzz_reader(suffix, seeds, tmp_path):
    if suffix not in seeds:
        pytest.skip(f"no seed file for {suffix}: the real recordings in ../shared/data are absent")
    outcomes = []

    @settings(max_examples=350, deadline=timedelta(seconds=5), derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=mutations(seeds[suffix]))
    def run(data):
        outcomes.append(check_reader_survives(tmp_path, suffix, data))

    run()
    # the mutations must really exercise both paths: some inputs still decode, some are refused
    assert outcomes.count("error") > 0
    assert len(outcomes) >= 300


def test_fuzz_aedat4(seeds, tmp_path):
    if ".aedat4" not in seeds:
        pytest.skip("the real AEDAT 4 recording in ../shared/data is absent")
    outcomes = []

    @settings(max_examples=120, deadline=timedelta(seconds=10), derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=mutations(seeds[".aedat4"]))
    def run(data):
        outcomes.append(check_reader_survives(tmp_path, ".aedat4", data))

    run()
    assert outcomes.count("error") > 0


@pytest.mark.parametrize("suffix", [".bin", ".raw", ".dat", ".aedat", ".aedat4", ".npz", ".npy", ".h5", ".xyz"])
def test_empty_file_is_one_clear_error(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(EventFileError, match="empty"):
        read_events(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(EventFileError, match="no such file"):
        read_events(tmp_path / "nope.bin")
    with pytest.raises(EventFileError, match="directory"):
        read_events(tmp_path)


def test_mistyped_file_names_the_problem(tmp_path):
    path = tmp_path / "digit.bin"
    path.write_bytes(b"hello world, this is not a recording!!")  # 38 bytes: not a multiple of 5
    with pytest.raises(EventFileError, match="not a multiple of 5"):
        read_events(path)
    text = tmp_path / "notes.txt"
    text.write_text("just text")
    with pytest.raises(EventFileError, match="unrecognised file"):
        read_events(text)
