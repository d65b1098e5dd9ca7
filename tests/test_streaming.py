"""Recordings in pieces (iter_events) and described without loading them (summarize_file): the same events and
numbers as reading the whole file, for every streamed format, with memory bounded by a piece on a file of several GB."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from neuroclip import EventFileError, iter_events, read_events, summarize_file, write_events
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, make_events
from neuroclip.events.io import STREAMED, detect_format
from neuroclip.frames.names import ENCODINGS

from conftest import SAMPLE_DATA, SHARED_DATA

AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# made in a test\r\n"


def _aedat2_file(folder):
    rng = np.random.default_rng(1)
    words = np.empty(2 * 5000, ">u4")
    words[0::2] = (rng.integers(0, 128, 5000) << 8) | (rng.integers(0, 128, 5000) << 1) | rng.integers(0, 2, 5000)
    words[1::2] = np.sort(rng.integers(0, 2_000_000, 5000))
    path = folder / "dvs128.aedat"
    path.write_bytes(AEDAT2_HEADER + words.tobytes())
    return path


def _aedat3_file(folder):
    """Polarity packets of 700 events (a few invalid), with a special-event packet between them, as cAER writes."""
    rng = np.random.default_rng(2)
    data = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    t = np.sort(rng.integers(0, 3_000_000, 7 * 700))
    for packet in range(7):
        words = np.empty(700, [("data", "<u4"), ("t", "<i4")])
        valid = (rng.random(700) > 0.05).astype(np.uint32)
        words["data"] = (rng.integers(0, 128, 700).astype(np.uint32) << 17) | \
            (rng.integers(0, 128, 700).astype(np.uint32) << 2) | \
            (rng.integers(0, 2, 700).astype(np.uint32) << 1) | valid
        words["t"] = t[packet * 700:(packet + 1) * 700]
        data += struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 700, 700, 700) + words.tobytes()
        if packet == 3:
            data += struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 2, 2, 2) + bytes(16)  # special events: skipped
    path = folder / "gesture.aedat"
    path.write_bytes(data)
    return path


# the files of streamed_files, one per streamed format (EVT 2.0 and EVT 3.0 are both prophesee_raw)
STREAMED_FILES = ["atis_bin", "prophesee_dat", "evt2", "evt3", "aedat2", "npy", "hdf5", "aedat3", "aedat4"]
# the real AEDAT 4 file ships beside the repository (../shared), not in tests/data/samples: absent, its cases skip
AEDAT4_FILE = SHARED_DATA / "formats/aedat4/tonic_sample.aedat4"
# formats whose pieces need a sensor size from the caller to match the whole read (.bin pieces would assume the whole
# ATIS array); .npy states none, so its pieces take the whole read's size from a first pass
GIVE_SIZE = {"atis_bin"}


def streamed_files(folder):
    """One real (or spec-built) file per streamed format."""
    files = [
        sorted((SAMPLE_DATA / "nmnist" / "Train" / "3").glob("*.bin"))[0],
        SAMPLE_DATA / "formats/ncars/obj_004397_td.dat",
        SAMPLE_DATA / "formats/prophesee/sparklers_evt2_head.raw",
        SAMPLE_DATA / "formats/prophesee/pedestrians_evt3_head.raw",
        _aedat2_file(folder),
        write_events(folder / "nmnist.npy", read_events(sorted((SAMPLE_DATA / "nmnist/Train/5").glob("*.bin"))[0])),
        write_events(folder / "evt3.h5", read_events(SAMPLE_DATA / "formats/prophesee/pedestrians_evt3_head.raw")),
        _aedat3_file(folder),
        AEDAT4_FILE,
    ]
    formats = {detect_format(path) if path.exists() else "aedat4" for path in files}  # AEDAT4_FILE may be absent
    assert formats == set(STREAMED), "add a file of the new streamed format here"
    assert len(files) == len(STREAMED_FILES)
    return files


def streamed_file(files, which):
    if not files[which].exists():
        pytest.skip(f"real recording {files[which]} is absent (it ships beside the repository, not inside it)")
    return files[which]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return streamed_files(tmp_path_factory.mktemp("streamed"))


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
def test_summary_equals_the_whole_file_summary(files, which):
    path = streamed_file(files, which)
    stream = read_events(path)
    assert summarize_file(path, chunk_bytes=4096) == {"format": stream.metadata.get("format"), **stream.summary()}


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
@pytest.mark.parametrize("n", [1, 777, 10**9])
def test_pieces_by_count_are_the_whole_file_cut_in_order(files, which, n):
    path = streamed_file(files, which)
    whole = read_events(path)
    size = whole.sensor_size if detect_format(path) in GIVE_SIZE else None
    pieces = list(iter_events(path, events_per_piece=n, chunk_bytes=4096 + 4, sensor_size=size))
    assert [len(p) for p in pieces[:-1]] == [n] * (len(pieces) - 1) and 0 < len(pieces[-1]) <= n
    np.testing.assert_array_equal(np.concatenate([p.events for p in pieces]), whole.events)
    assert {p.sensor_size for p in pieces} == {whole.sensor_size}
    assert [p.metadata["piece"] for p in pieces] == list(range(len(pieces)))


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
def test_pieces_by_window_cover_consecutive_windows(files, which):
    path = streamed_file(files, which)
    whole = read_events(path)
    window = max(1, whole.duration // 7)
    size = whole.sensor_size if detect_format(path) in GIVE_SIZE else None
    pieces = list(iter_events(path, window_us=window, chunk_bytes=4096 + 4, sensor_size=size))
    first = int(whole.events["t"][0])
    assert len(pieces) == whole.duration // window + 1
    for index, piece in enumerate(pieces):
        start, stop = piece.metadata["start_us"], piece.metadata["stop_us"]
        assert (start, stop) == (first + index * window, first + (index + 1) * window)
        assert np.all((piece.events["t"] >= start) & (piece.events["t"] < stop))
    np.testing.assert_array_equal(np.concatenate([p.events for p in pieces]), whole.events)


def test_empty_windows_are_yielded_and_other_formats_are_cut_after_a_whole_read(tmp_path):
    # two bursts 1 s apart: the windows between them are empty pieces; .npz is not streamed, the API is the same
    events = make_events([0, 10, 20, 1_000_000, 1_000_005], [1, 2, 3, 4, 5], [0] * 5, [1, 0, 1, 0, 1])
    path = write_events(tmp_path / "two_bursts.npz", EventStream(events, (8, 8)))
    pieces = list(iter_events(path, window_us=250_000))
    assert [len(p) for p in pieces] == [3, 0, 0, 0, 2]
    assert summarize_file(path)["events"] == 5


def test_mistakes_are_one_clear_error(files, tmp_path):
    with pytest.raises(ConfigError, match="exactly one"):
        next(iter_events(files[0]))
    with pytest.raises(ConfigError, match="exactly one"):
        next(iter_events(files[0], events_per_piece=5, window_us=5))
    with pytest.raises(ConfigError, match="window_us"):
        next(iter_events(files[0], window_us=0))
    with pytest.raises(EventFileError, match="piece 0"):
        next(iter_events(files[0], events_per_piece=100, sensor_size=(4, 4)))
    with pytest.raises(EventFileError, match="outside the 4x4 sensor"):
        summarize_file(files[0], sensor_size=(4, 4))
    # a DAT file whose header states no size: pieces and the summary take the size the whole-file reader infers
    words = np.array([(5, (3 << 14) | 7), (9, (1 << 28) | (4 << 14) | 2)], dtype=[("t", "<u4"), ("data", "<u4")])
    bare = tmp_path / "no_size.dat"
    bare.write_bytes(b"% Version 2\n" + bytes([0x00, 0x08]) + words.tobytes())
    assert summarize_file(bare)["width"] == read_events(bare).sensor_size[0] == 8
    assert {p.sensor_size for p in iter_events(bare, events_per_piece=1)} == {read_events(bare).sensor_size}
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"% Version 2\n" + bytes([0x00, 0x08]))
    with pytest.raises(EventFileError, match="sensor size"):
        next(iter_events(empty, events_per_piece=10))


MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from neuroclip import iter_events
    events = pieces = largest = 0
    for piece in iter_events(sys.argv[1], events_per_piece=2_000_000):
        events, pieces, largest = events + len(piece), pieces + 1, max(largest, len(piece))
    # VmHWM: this program's peak resident memory. ru_maxrss would also count the pytest process this one was
    # forked from (Linux keeps it across exec), which is large late in a test run
    try:
        status = open("/proc/self/status").read()
        peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": events, "pieces": pieces, "largest": largest, "peak_mb": peak_mb}))
""")


def write_evt2_file(path, gigabytes: float) -> int:
    """A valid EVT 2.0 file of ``gigabytes`` GB, built from the format's specification: per block a TIME_HIGH word
    (time >> 6), then CD events on a 640x480 sensor; returns the number of CD events."""
    rng = np.random.default_rng(0)
    per_block = 1 << 20  # words per block, the first a TIME_HIGH
    n = per_block - 1
    cd = rng.integers(0, 2, n).astype(np.uint32) << 28  # CD_OFF / CD_ON
    cd |= np.sort(rng.integers(0, 64, n)).astype(np.uint32) << 22  # the 6 low time bits, non-decreasing
    cd |= rng.integers(0, 640, n).astype(np.uint32) << 11
    cd |= rng.integers(0, 480, n).astype(np.uint32)
    blocks = int(gigabytes * 1e9 // (4 * per_block))
    with open(path, "wb") as fp:
        fp.write(b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n")
        for block in range(blocks):
            fp.write(np.uint32((0x8 << 28) | (block + 1)).tobytes())
            fp.write(cd.astype("<u4").tobytes())
    return blocks * (per_block - 1)


def test_memory_stays_bounded_by_a_piece_on_a_file_of_several_gigabytes(tmp_path):
    path = tmp_path / "large_evt2.raw"
    n_events = write_evt2_file(path, 2.0)
    # reading it whole would hold 15 bytes per event (EVENT_DTYPE): 7.5 GB here; summarize_file takes the same
    # chunked path (its numbers are checked against whole reads on the small files above)
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(path)], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    assert measured["events"] == n_events and measured["largest"] == 2_000_000
    assert measured["pieces"] == -(-n_events // 2_000_000)
    assert measured["peak_mb"] < 800, measured


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
@pytest.mark.parametrize("split_by", ["number", "time"])
def test_count_frames_from_a_file_equal_count_frames_of_the_whole_read(files, which, split_by):
    from neuroclip.frames import count_frames
    from neuroclip.frames.streamed import count_frames_from_file

    path = streamed_file(files, which)
    for n_frames in (1, 7, 10):
        expected = count_frames(read_events(path), n_frames=n_frames, split_by=split_by)
        np.testing.assert_array_equal(count_frames_from_file(path, n_frames, split_by), expected)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
def test_time_surfaces_and_voxel_grids_from_a_file_equal_the_whole_read(files, which, backend, monkeypatch):
    """Small pieces (777 events), so that segments and the voxel grid's passes cross many piece boundaries: the
    float32 frames are equal bit for bit, with the numba passes and with numpy's."""
    import neuroclip.frames.streamed as streamed
    from neuroclip.events.io._common import decoders
    from neuroclip.frames import segment_bounds, time_surface, voxel_grid

    if backend == "numba":
        pytest.importorskip("numba")
    monkeypatch.setattr(streamed, "_PIECE_EVENTS", 777)
    with decoders(backend):
        _compare_streamed_surfaces_and_grids(streamed, files, which, segment_bounds, time_surface, voxel_grid)


def _compare_streamed_surfaces_and_grids(streamed, files, which, segment_bounds, time_surface, voxel_grid):

    path = streamed_file(files, which)
    size = read_events(path).sensor_size if detect_format(path) in GIVE_SIZE else None
    whole = read_events(path, sensor_size=size) if size else read_events(path)
    for n_frames in (1, 7, 10):
        for split_by in ("number", "time"):
            stops = segment_bounds(whole.events["t"], split_by, n_frames)[1]
            expected = time_surface(whole, stops=stops, decay_us=20_000)
            got = streamed.time_surface_from_file(path, n_frames, split_by, 20_000, sensor_size=size)
            assert got.tobytes() == expected.tobytes(), (n_frames, split_by)
        assert streamed.voxel_grid_from_file(path, n_frames, sensor_size=size).tobytes() == \
            voxel_grid(whole, n_bins=n_frames).tobytes()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_file_is_read_once_per_pass_its_costliest_part_needs(files, encoding, monkeypatch):
    """A multi-GB recording is decoded once per pass: one for count frames and time surfaces, two for the voxel
    grid, and two for a pair with a voxel grid (both parts fed from the same pieces), after the summary."""
    import neuroclip.frames.streamed as streamed
    from neuroclip.frames import encode
    from neuroclip.frames.names import encoding_parts

    passes, iterate = [], streamed.iter_events

    def counted(*args, **kwargs):
        passes.append(args[0])
        return iterate(*args, **kwargs)

    monkeypatch.setattr(streamed, "iter_events", counted)
    path = streamed_file(files, 0)
    summary = streamed.summarize_file(path)
    frames = streamed.encode_file(path, encoding, 5, summary=summary)
    assert len(passes) == max(2 if part == "voxel_grid" else 1 for part in encoding_parts(encoding))
    np.testing.assert_array_equal(frames, encode(read_events(path), encoding, 5))


def test_frames_of_a_file_refuse_other_splits(files):
    from neuroclip.frames.streamed import encode_file

    with pytest.raises(ConfigError, match="'number' or 'time'"):
        encode_file(files[2], "time_surface", 5, "count")


@pytest.mark.parametrize("encoding", ["time_surface", "voxel_grid"])
def test_the_frames_command_draws_every_encoding_of_a_streamed_file_as_the_whole_read_would(files, tmp_path,
                                                                                          encoding, monkeypatch):
    import neuroclip.frames.streamed as streamed
    from neuroclip.cli import main
    from neuroclip.frames import encode
    from neuroclip.frames.draw import save_frames_picture

    summaries, summarize = [], streamed.summarize_file

    def counted_summary(*args, **kwargs):
        summaries.append(args)
        return summarize(*args, **kwargs)

    monkeypatch.setattr(streamed, "summarize_file", counted_summary)
    path = files[3]  # the EVT 3.0 head
    decay = ["--decay-us", "3000"] if encoding == "time_surface" else []  # refused where the encoding ignores it
    assert main(["frames", str(path), "--out", str(tmp_path / "streamed.png"), "--encoding", encoding,
                 "--frames", "5", *decay]) == 0
    assert len(summaries) == 1, "the command summarises the file once and passes the summary on"
    save_frames_picture(encode(read_events(path), encoding, 5, decay_us=3000.0 if decay else 50_000.0),
                        tmp_path / "whole.png")
    assert (tmp_path / "streamed.png").read_bytes() == (tmp_path / "whole.png").read_bytes()


def test_the_frames_command_draws_a_streamed_file_as_the_whole_read_would(files, tmp_path):
    from neuroclip.cli import main
    from neuroclip.frames import encode
    from neuroclip.frames.draw import save_frames_picture

    path = files[2]  # the EVT 2.0 head
    assert main(["frames", str(path), "--out", str(tmp_path / "streamed.png"), "--encoding", "eventclip",
                 "--frames", "6", "--hot-pixel-sigmas", "3"]) == 0
    save_frames_picture(encode(read_events(path), "eventclip", 6, hot_pixel_sigmas=3.0), tmp_path / "whole.png")
    assert (tmp_path / "streamed.png").read_bytes() == (tmp_path / "whole.png").read_bytes()


def test_hdf5_group_layout_streams_in_slices_equal_to_the_whole_read(tmp_path):
    """The DSEC layout (a group of t, x, y, p datasets, chunked and compressed, with a t_offset): pieces are read in
    slices from disk and equal the whole read, with its sensor size."""
    import h5py

    rng = np.random.default_rng(3)
    n = 20_000
    path = tmp_path / "dsec.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("events")
        group.create_dataset("t", data=np.sort(rng.integers(0, 500_000, n)).astype(np.uint32), chunks=(4096,),
                             compression="gzip")
        for name, high in (("x", 640), ("y", 480), ("p", 2)):
            group.create_dataset(name, data=rng.integers(0, high, n).astype(np.uint16), chunks=(4096,),
                                 compression="gzip")
        h5["t_offset"] = 7_000
    whole = read_events(path)
    pieces = list(iter_events(path, events_per_piece=3_000, chunk_bytes=13 * 2_500, sensor_size=(640, 480)))
    np.testing.assert_array_equal(np.concatenate([p.events for p in pieces]), whole.events)
    assert whole.events["t"][0] >= 7_000 and {p.sensor_size for p in pieces} == {(640, 480)}
    # the file states no size: pieces take the whole read's (from the events' extent)
    assert {p.sensor_size for p in iter_events(path, events_per_piece=5_000)} == {whole.sensor_size}
    assert summarize_file(path, chunk_bytes=4096)["events"] == n


def test_a_damaged_hdf5_file_is_one_clear_error_when_streamed(tmp_path, files):
    data = files[STREAMED_FILES.index("hdf5")].read_bytes()
    broken = tmp_path / "broken.h5"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError, match="HDF5"):
        list(iter_events(broken, events_per_piece=1000))


def test_an_option_only_the_whole_read_takes_reads_whole(tmp_path):
    """sort=True needs every event at once: iter_events reads such a file whole and cuts it (as it does .npz); an
    option no reader takes is one clear error."""
    import h5py

    from neuroclip.errors import UnknownFormatError

    path = tmp_path / "unsorted.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("events")
        group["t"], group["x"], group["y"], group["p"] = [5, 3, 9], [1, 2, 3], [0, 0, 0], [1, 0, 1]
        h5.attrs["width"], h5.attrs["height"] = 8, 8
    with pytest.raises(EventFileError, match="sort=True"):
        list(iter_events(path, events_per_piece=2))
    assert [p.events["t"].tolist() for p in iter_events(path, events_per_piece=2, sort=True)] == [[3, 5], [9]]
    with pytest.raises(UnknownFormatError, match="does not take that option"):
        list(iter_events(path, events_per_piece=2, bogus=1))


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
def test_clip_input_of_a_file_framed_in_pieces_equals_the_whole_read(files, which, encoding):
    """What classify gives CLIP for a file above the size it streams: the same tensor as after a whole read."""
    from neuroclip.frames.clip_input import FrameConfig, clip_frames, file_clip_frames

    path = streamed_file(files, which)
    config = FrameConfig(encoding=encoding)
    whole = clip_frames(read_events(path), config, 32)
    assert torch.equal(file_clip_frames(path, config, 32, stream_above_bytes=0), whole)
    assert torch.equal(file_clip_frames(path, config, 32), whole)  # these files are small: read whole


@pytest.mark.parametrize("which", range(len(STREAMED_FILES)))
@pytest.mark.parametrize("size, binary", [(None, False), (32, False), (17, True)])
def test_student_input_of_a_file_counted_in_pieces_equals_the_whole_read(files, which, size, binary):
    """What classify --spikeclip gives the spiking student for a file above the size it streams: the same tensor
    as after a whole read."""
    from neuroclip.frames.clip_input import file_student_frames, student_frames

    path = streamed_file(files, which)
    whole = student_frames(read_events(path), 4, "number", size, binary=binary)
    assert torch.equal(file_student_frames(path, 4, "number", size, binary=binary, stream_above_bytes=0), whole)
    assert torch.equal(file_student_frames(path, 4, "number", size, binary=binary), whole)
    by_time = student_frames(read_events(path), 4, "time", size)
    assert torch.equal(file_student_frames(path, 4, "time", size, stream_above_bytes=0), by_time)


@pytest.mark.parametrize("stream_above_bytes", [0, 2**40])
def test_student_input_of_a_short_file_has_empty_frames_and_of_an_empty_one_an_error(tmp_path, stream_above_bytes):
    """The student's T is fixed by its checkpoint: a recording with fewer events than T gets empty frames (as
    student_frames of its events), not CLIP's advice to lower --frames; a file with no events is refused."""
    from neuroclip.errors import EmptyStreamError
    from neuroclip.frames.clip_input import file_student_frames, student_frames

    short = write_events(tmp_path / "short.npy", EventStream(make_events([1, 2, 3], [0, 1, 2], [0, 0, 0], [1, 0, 1]),
                                                             (8, 8)))
    frames = file_student_frames(short, 4, stream_above_bytes=stream_above_bytes)
    whole = student_frames(read_events(short), 4)  # .npy keeps no sensor size: the events' extent
    assert torch.equal(frames, whole) and frames.sum((1, 2, 3)).tolist() == [0, 0, 0, 3]
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n")
    with pytest.raises(EmptyStreamError, match="empty.raw holds no events"):
        file_student_frames(empty, 4, stream_above_bytes=stream_above_bytes)


@pytest.mark.parametrize("stream_above_bytes", [0, 2**40])
def test_clip_input_of_an_empty_or_short_file_is_one_error_naming_it(tmp_path, stream_above_bytes):
    from neuroclip.errors import EmptyStreamError
    from neuroclip.frames.clip_input import FrameConfig, file_clip_frames

    header = b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n"
    empty = tmp_path / "empty.raw"
    empty.write_bytes(header)
    with pytest.raises(EmptyStreamError, match="empty.raw holds no events"):
        file_clip_frames(empty, FrameConfig(), 32, stream_above_bytes=stream_above_bytes)
    short = write_events(tmp_path / "short.npy", EventStream(make_events([1, 2, 3], [0, 1, 2], [0, 0, 0], [1, 0, 1]),
                                                             (8, 8)))
    with pytest.raises(ConfigError, match=r"short.npy: 10 frames is more than .* use --frames 3"):
        file_clip_frames(short, FrameConfig(), 32, stream_above_bytes=stream_above_bytes)


def test_features_of_files_equal_the_features_of_their_streams(files):
    """frame_features takes paths as well as streams (classify passes paths: one batch of recordings in memory)."""
    from helpers.seeded_clip import seeded_tiny_clip
    from neuroclip.clip.features import frame_features

    paths = [path for path in files[:4] if path.exists()]
    backbone = seeded_tiny_clip(0)
    by_path = frame_features(paths, backbone, batch_size=3)
    assert torch.equal(by_path, frame_features([read_events(path) for path in paths], backbone, batch_size=3))
    # alone in its batch: the tower's sums may round in another order
    torch.testing.assert_close(by_path[1:2], frame_features(paths[1:2], backbone), rtol=1e-5, atol=1e-5)
