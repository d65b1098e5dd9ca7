"""Reader throughput (events/s) on the real recordings in ../shared/data and on large generated files (>= 50 M
events by default), ours next to tonic's and expelliarmus's on the same files in the same run, with the fraction of
the measured memory-copy bandwidth each reaches, files/s on the 500 real N-MNIST recordings, and the one-off cost
of the numba kernels (compiling into an empty cache; loading the cache in a fresh process).

    python benchmarks/readers.py [--repeat 7] [--large-events 50000000] [--large-repeat 3] [--quick]

Times are the best of ``--repeat`` warm calls (``--large-repeat`` for the large files). The large files are
written to a temporary folder one at a time (about 0.2-0.8 GB each) and deleted after use. ``--quick`` is
``--repeat 3 --large-events 5000000``. Other jobs on the machine move single figures by tens of percent: compare
ratios from the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuroclip import iter_events, read_events
from neuroclip.events.io._common import decoders, kernels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FORMATS = DATA / "formats"
TONIC_MNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def best_time(function, repeat):
    times = []
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def nbytes(result) -> int:
    if isinstance(result, list):
        return sum(nbytes(item) for item in result)
    return result.events.nbytes if hasattr(result, "events") else np.asarray(result).nbytes


def copy_bandwidth(megabytes: int = 256, repeat: int = 5) -> float:
    """Bytes moved per second (read + written) by a numpy copy of a large array: the physical limit here."""
    source = np.ones(megabytes << 20, np.uint8)
    target = np.empty_like(source)
    seconds, _ = best_time(lambda: np.copyto(target, source), repeat)
    return 2 * source.nbytes / seconds


def peers(path: Path, kind: str):
    """(peer name, callable) pairs that read the same file."""
    found = []
    try:
        from expelliarmus import Wizard

        encoding = {"evt2": "evt2", "evt3": "evt3", "dat": "dat"}.get(kind)
        if encoding:
            found.append(("expelliarmus", lambda: Wizard(encoding=encoding, fpath=path).read()))
    except ImportError:
        pass
    try:
        import tonic.io

        if kind == "bin":
            found.append(("tonic", lambda: tonic.io.read_mnist_file(str(path), dtype=TONIC_MNIST_DTYPE)))
        if kind == "aedat4":
            found.append(("tonic (aedat)", lambda: tonic.io.read_aedat4(str(path))))
        if kind in ("aedat2", "aedat3"):
            found.append(("tonic", lambda: tonic_aedat(path, kind)))
    except ImportError:
        pass
    return found


def tonic_aedat(path: Path, kind: str):
    """tonic's AEDAT 2.0 (``read_dvs_128``) or 3.1 (``read_dvs_ibm``) read, as those functions do it: both unpack
    its header reader's three values into two and fail in the installed release, so this runs their steps."""
    import tonic.io

    version, start, _ = tonic.io.read_aedat_header_from_file(str(path))
    raw = tonic.io.get_aer_events_from_file(str(path), version, start)
    address = raw["address"]
    if kind == "aedat2":
        x, y, p = (address >> 8) & 0x7F, (address >> 1) & 0x7F, address & 1
    else:
        x, y, p = (address >> 17) & 0x1FFF, (address >> 2) & 0x1FFF, (address >> 1) & 1
    return tonic.io.make_structured_array(x, y, raw["timeStamp"], p)


def kind_of(path: Path) -> str:
    if path.suffix == ".raw":
        return "evt3" if "evt3" in path.name else "evt2"
    return path.suffix.lstrip(".")


HEADER = (f"{'file':34s} {'events':>10s} {'ours Mev/s':>10s} {'of copy':>7s} {'numpy Mev/s':>11s} "
          f"{'peer':>13s} {'peer Mev/s':>10s} {'of copy':>7s} {'ratio':>6s}")


def interleaved(functions: list, repeat: int) -> list[tuple[float, int, int]]:
    """(best seconds, events, array bytes) of each function, calling them in turn ``repeat`` times, so that load
    from other jobs on the machine falls on all of them alike."""
    best = [float("inf")] * len(functions)
    sizes = [(0, 0)] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            gc.collect()
            start = time.perf_counter()
            result = function()
            best[index] = min(best[index], time.perf_counter() - start)
            sizes[index] = (len(result), nbytes(result))
            del result
    return [(seconds, *size) for seconds, size in zip(best, sizes)]


ROWS: list[dict] = []  # what --csv writes: one row per file and peer


def compare(path: Path, kind: str, repeat: int, bandwidth: float, ratios: list, numpy_path: bool, label=None):
    """One line per peer: our warm throughput, the numpy fallback's, the peer's, and the fraction of the copy
    bandwidth (payload bytes in + array bytes out per second) each reaches. Ours and the peers run in turn."""
    size = path.stat().st_size
    found = peers(path, kind)
    timed = interleaved([lambda: read_events(path)] + [function for _, function in found], repeat)
    seconds, events, out_bytes = timed[0]
    ours = events / seconds / 1e6
    ours_share = (size + out_bytes) / seconds / bandwidth
    numpy_text = "-"
    if numpy_path:
        with decoders("numpy"):
            numpy_seconds = interleaved([lambda: read_events(path)], max(1, repeat // 2))[0][0]
        numpy_text = f"{events / numpy_seconds / 1e6:.1f}"
    name = label or path.name
    if not found:
        print(f"{name:34s} {events:10d} {ours:10.1f} {ours_share:7.0%} {numpy_text:>11s} {'-':>13s}", flush=True)
    for (peer_name, _), (peer_seconds, _, peer_bytes) in zip(found, timed[1:]):
        peer = events / peer_seconds / 1e6
        peer_share = (size + peer_bytes) / peer_seconds / bandwidth
        ratios.append((f"{name} vs {peer_name}", ours / peer))
        ROWS.append({"file": name, "events": events, "unit": "Mev/s", "ours": round(ours, 2), "peer": peer_name,
                     "peer_value": round(peer, 2), "ratio": round(ours / peer, 3)})
        print(f"{name:34s} {events:10d} {ours:10.1f} {ours_share:7.0%} {numpy_text:>11s} {peer_name:>13s} "
              f"{peer:10.1f} {peer_share:7.0%} {ours / peer:6.2f}", flush=True)


# ------------------------------------------------------------------------------------------------ large files
# Each generator tiles a real recording's payload (the Prophesee and DAT files, the 500 N-MNIST files, the AEDAT 4
# file's events) until it holds ``n`` events, moving the time of each copy past the previous one, so that the
# decoders see real event statistics and the files stay valid (sorted time, in-sensor coordinates).

def _raw_payload(path: Path) -> tuple[bytes, bytes]:
    data = path.read_bytes()
    offset = 0
    while data[offset:offset + 1] == b"%":
        offset = data.index(b"\n", offset) + 1
    return data[:offset], data[offset:]


def write_evt2(path: Path, n: int) -> None:
    """EVT 2.0: the real sparklers payload again and again, its TIME_HIGH words (t >> 6) shifted by the span of the
    copies before."""
    header, payload = _raw_payload(FORMATS / "prophesee/sparklers_evt2.raw")
    words = np.frombuffer(payload, "<u4")
    is_high = (words >> 28) == 0x8
    highs = words[is_high] & 0x0FFFFFFF
    span = int(highs.max()) + 1
    per_copy = int(np.count_nonzero((words >> 28) <= 1))
    with open(path, "wb") as fp:
        fp.write(header)
        for copy in range(-(-n // per_copy)):
            tile = words.copy()
            tile[is_high] = (0x8 << 28) | (highs + copy * span)
            fp.write(tile.tobytes())


def write_evt3(path: Path, n: int) -> None:
    """EVT 3.0: the real pedestrians payload again and again, its 12-bit TIME_HIGH words moved on by the span of
    the copies before (modulo 4096: the decoders unwrap them)."""
    header, payload = _raw_payload(FORMATS / "prophesee/pedestrians_evt3.raw")
    words = np.frombuffer(payload, "<u2")
    kind = words >> 12
    is_high = kind == 0x8
    highs = (words[is_high] & 0xFFF).astype(np.int64)
    span = int(highs.max() - highs.min()) + 1
    values = words & 0xFFF
    per_copy = int(np.count_nonzero(kind == 0x2)) + sum(
        bin(int(v)).count("1") for v in values[kind == 0x4]) + sum(bin(int(v) & 0xFF).count("1")
                                                                 for v in values[kind == 0x5])
    with open(path, "wb") as fp:
        fp.write(header)
        for copy in range(-(-n // per_copy)):
            tile = words.copy()
            tile[is_high] = (0x8 << 12) | ((highs + copy * span) % 4096)
            fp.write(tile.tobytes())


def write_dat(path: Path, n: int) -> None:
    """DAT: the real N-CARS sample's events again and again, each copy 100 ms after the previous one."""
    data = (FORMATS / "ncars/obj_004397_td.dat").read_bytes()
    offset = 0
    while data[offset:offset + 1] == b"%":
        offset = data.index(b"\n", offset) + 1
    rows = np.frombuffer(data[offset + 2:], dtype=[("t", "<u4"), ("data", "<u4")])
    span = int(rows["t"].max()) + 1
    copies = -(-n // rows.size)
    with open(path, "wb") as fp:
        fp.write(data[:offset + 2])
        for start in range(0, copies, 1024):
            block = np.tile(rows, min(1024, copies - start))
            block["t"] += (np.repeat(np.arange(start, start + min(1024, copies - start)), rows.size)
                           * span).astype(np.uint32)
            fp.write(block.tobytes())


def write_bin(path: Path, n: int) -> None:
    """ATIS .bin: the 500 real N-MNIST recordings one after another, again and again, packed into the 23-bit
    timestamp range (no overflow rows: tonic's reader adds 2**13 µs to the rest of the array once per overflow row,
    which is quadratic and would take hours here)."""
    files = sorted((DATA / "nmnist").glob("Train/*/*.bin"))
    rows = np.concatenate([np.frombuffer(f.read_bytes(), np.uint8).reshape(-1, 5) for f in files])
    t = ((rows[:, 2].astype(np.int64) & 0x7F) << 16) | (rows[:, 3].astype(np.int64) << 8) | rows[:, 4]
    copies = -(-n // len(rows))
    boundaries = np.flatnonzero(np.diff(t) < 0) + 1  # where one recording ends and the next begins
    pieces = np.split(np.arange(len(rows)), boundaries)
    spans = [int(t[p].max()) + 1 for p in pieces]
    total_span = sum(spans) * copies
    scale = min(1.0, ((1 << 23) - 1) / total_span)
    with open(path, "wb") as fp:
        start = 0
        for _ in range(copies):
            for piece, span in zip(pieces, spans):
                tt = start + (t[piece] * scale).astype(np.int64)
                block = rows[piece].copy()
                block[:, 2] = (block[:, 2] & 0x80) | ((tt >> 16) & 0x7F)
                block[:, 3] = (tt >> 8) & 0xFF
                block[:, 4] = tt & 0xFF
                fp.write(block.tobytes())
                start += int(span * scale)


def write_aedat4(path: Path, n: int, per_packet: int = 4000) -> None:
    """AEDAT 4: the real file's IOHeader (its stream 0 is 320x240 polarity events, LZ4), then packets of the real
    events, each copy of the recording moved past the previous one. Each packet is a size-prefixed EventPacket
    flatbuffer (file identifier "EVTS"; a vector of 16-byte Event structs t int64, x int16, y int16, on bool) in an
    LZ4 frame of stored (uncompressed) blocks, which the LZ4 frame format allows; the IOHeader's data table
    position is set to the end of the file."""
    import aedat

    real = FORMATS / "aedat4/tonic_sample.aedat4"
    data = real.read_bytes()
    header_size = struct.unpack("<I", data[14:18])[0]
    frame_header = data[18 + header_size + 8:18 + header_size + 15]  # magic, FLG, BD, header checksum
    assert frame_header[:4] == b"\x04\x22\x4d\x18"
    packets = [p["events"] for p in aedat.Decoder(str(real)) if p["stream_id"] == 0 and "events" in p]
    source = np.concatenate([np.asarray(p).view(np.uint8).reshape(-1, 13) for p in packets])
    t = source[:, :8].copy().view("<i8").ravel()
    span = int(t.max() - t.min()) + 1
    event = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<u2", "<u2", "u1"],
                      "offsets": [0, 8, 10, 12], "itemsize": 16})
    table = struct.pack("<I4sHHHHiIII", 16, b"EVTS", 6, 8, 4, 0, 8, 12, 0, 0)
    written = 0
    with open(path, "wb") as fp:
        fp.write(data[:18 + header_size])
        copy = 0
        while written < n:
            events = np.zeros(len(source), event)
            events["t"] = t - t.min() + copy * span
            events["x"] = source[:, 8:10].copy().view("<u2").ravel()
            events["y"] = source[:, 10:12].copy().view("<u2").ravel()
            events["on"] = source[:, 12]
            for start in range(0, len(events), per_packet):
                part = events[start:min(start + per_packet, n - written + start)]
                if not part.size:
                    break
                body = table + struct.pack("<I", part.size) + part.tobytes()
                body = struct.pack("<I", len(body)) + body
                frame = frame_header + b"".join(struct.pack("<I", len(body[i:i + 65536]) | 0x80000000)
                                                + body[i:i + 65536] for i in range(0, len(body), 65536))
                frame += b"\0\0\0\0"
                fp.write(struct.pack("<ii", 0, len(frame)) + frame)
                written += part.size
            copy += 1
        end = fp.tell()
        assert 0 < struct.unpack("<q", data[54:62])[0] < len(data)  # the IOHeader's dataTablePosition, in this file
        fp.seek(54)
        fp.write(struct.pack("<q", end))


def _nmnist_tiled(n: int, max_t: int | None = None):
    """(t, x, y, p) of the 500 real N-MNIST recordings one after another, again and again until ``n`` events, each
    recording after the previous one; times squeezed into ``max_t`` where given."""
    streams = [read_events(f).events for f in sorted((DATA / "nmnist").glob("Train/*/*.bin"))]
    spans = np.array([int(s["t"][-1]) + 1 for s in streams])
    starts = np.concatenate([[0], np.cumsum(spans)[:-1]])
    one = np.concatenate(streams)
    one_t = one["t"] + np.repeat(starts, [len(s) for s in streams])
    copies = -(-n // len(one))
    index = np.arange(n) % len(one)
    t = one_t[index] + (np.arange(n) // len(one)) * int(spans.sum())
    if max_t is not None and copies * int(spans.sum()) > max_t:
        t = (t * (max_t / (copies * int(spans.sum())))).astype(np.int64)
    return t, one["x"][index].astype(np.uint32), one["y"][index].astype(np.uint32), one["p"][index].astype(np.uint32)


def write_aedat2(path: Path, n: int) -> None:
    """AEDAT 2.0 (DVS128, jAER): the real N-MNIST events (34x34 inside the 128x128 array) as big-endian (address,
    uint32 µs) words, times squeezed into 32 bits."""
    t, x, y, p = _nmnist_tiled(n, max_t=2**32 - 1)
    words = np.empty(n, [("address", ">u4"), ("t", ">u4")])
    words["address"] = (y << 8) | ((127 - x) << 1) | (1 - p)  # jAER: x = 127 - raw x; bit 0 = OFF
    words["t"] = t
    path.write_bytes(b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n" + words.tobytes())


def write_aedat3(path: Path, n: int, per_packet: int = 8192) -> None:
    """AEDAT 3.1 (cAER): the real N-MNIST events in polarity packets of ``per_packet`` events (28-byte header: type
    1, 8-byte events, capacity = number = valid), each event ``x << 17 | y << 2 | p << 1 | valid`` and a 31-bit
    time whose overflow sits in the packet header."""
    t, x, y, p = _nmnist_tiled(n)
    with open(path, "wb") as fp:
        fp.write(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n")
        start = 0
        while start < n:
            stop = min(n, start + per_packet)
            overflow = int(t[start]) >> 31
            stop = start + int(np.searchsorted(t[start:stop] >> 31, overflow, side="right"))  # one overflow each
            words = np.empty(stop - start, [("data", "<u4"), ("t", "<i4")])
            words["data"] = (x[start:stop] << 17) | (y[start:stop] << 2) | (p[start:stop] << 1) | 1
            words["t"] = t[start:stop] & 0x7FFFFFFF
            count = stop - start
            fp.write(struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, count, count, count) + words.tobytes())
            start = stop


LARGE = [("evt2", ".raw", write_evt2), ("evt3", ".raw", write_evt3), ("dat", ".dat", write_dat),
         ("bin", ".bin", write_bin), ("aedat4", ".aedat4", write_aedat4), ("aedat2", ".aedat", write_aedat2),
         ("aedat3", ".aedat", write_aedat3)]


# ------------------------------------------------------------------------------------------------ JIT cost

FIRST_CALL = """
import json, sys, time
start = time.perf_counter()
from neuroclip import read_events
imported = time.perf_counter()
times = {}
for path in sys.argv[1:]:
    begin = time.perf_counter()
    read_events(path)
    times[path] = time.perf_counter() - begin
begin = time.perf_counter()
read_events(sys.argv[1])
print(json.dumps({"import": imported - start, "first": times, "warm": time.perf_counter() - begin}))
"""


def first_call_costs(files: list[Path]) -> None:
    """Fresh processes reading one file of each format: first-call times with an empty numba cache (compiling),
    with the cache as it is now (loading it), and with NEUROCLIP_NUMBA=0 (numpy decoders, no numba import)."""
    with tempfile.TemporaryDirectory() as empty:
        cases = [("numba, empty cache (compile)", {"NUMBA_CACHE_DIR": empty}),
                 ("numba, cache present (load)", {}), ("numpy decoders (NEUROCLIP_NUMBA=0)", {"NEUROCLIP_NUMBA": "0"})]
        for label, extra in cases:
            result = subprocess.run([sys.executable, "-c", FIRST_CALL, *map(str, files)], capture_output=True,
                                    text=True, env={**os.environ, **extra}, timeout=600)
            if result.returncode:
                print(f"  {label}: failed: {result.stderr.strip().splitlines()[-1]}")
                continue
            measured = json.loads(result.stdout)
            first = measured["first"]
            detail = ", ".join(f"{Path(p).suffix or Path(p).name} {s:.2f}" for p, s in first.items())
            print(f"  {label:38s} import neuroclip {measured['import']:.2f} s; first read of each format "
                  f"{sum(first.values()):.2f} s ({detail}); a warm read of the first {measured['warm'] * 1e3:.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--large-events", type=int, default=50_000_000, help="events per large file (0: none)")
    parser.add_argument("--large-repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="--repeat 3 --large-events 5000000")
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write the rows here (e.g. results/readers_<machine>.csv)")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.large_events = 3, 5_000_000
    files = sorted(FORMATS.glob("*/*")) + sorted((DATA / "nmnist").glob("Train/0/*.bin"))[:1]
    if not files:
        raise SystemExit(f"no real recordings under {DATA}")
    decoder = "numba kernels" if kernels() is not None else "numpy decoders (numba not importable)"
    bandwidth = copy_bandwidth()
    print(f"decoders: {decoder}; numpy copy bandwidth (bytes read + written): {bandwidth / 1e9:.1f} GB/s; "
          "'of copy' = (file bytes + array bytes) per second as a fraction of it")
    for path in files:  # compile or load the kernels before timing anything
        read_events(path)
    print(HEADER)
    ratios: list[tuple[str, float]] = []
    for path in files:
        compare(path, kind_of(path), args.repeat, bandwidth, ratios, numpy_path=True)

    # many small files: per-file overhead, not decoding, decides (the 500 real N-MNIST recordings)
    nmnist = sorted((DATA / "nmnist").glob("Train/*/*.bin"))
    if nmnist:
        functions = [lambda: [read_events(path) for path in nmnist]]
        try:
            import tonic.io

            functions.append(lambda: [tonic.io.read_mnist_file(str(p), dtype=TONIC_MNIST_DTYPE) for p in nmnist])
        except ImportError:
            pass
        timed = interleaved(functions, args.repeat)
        seconds = timed[0][0]
        line = f"{len(nmnist)} N-MNIST files: neuroclip {len(nmnist) / seconds:8.0f} files/s"
        if len(timed) > 1:
            peer_seconds = timed[1][0]
            ratios.append(("500 N-MNIST files vs tonic", peer_seconds / seconds))
            ROWS.append({"file": f"{len(nmnist)} N-MNIST files", "events": "", "unit": "files/s",
                         "ours": round(len(nmnist) / seconds), "peer": "tonic",
                         "peer_value": round(len(nmnist) / peer_seconds), "ratio": round(peer_seconds / seconds, 3)})
            line += f", tonic {len(nmnist) / peer_seconds:8.0f} files/s, ratio {peer_seconds / seconds:.2f}"
        print(line, flush=True)

    if args.large_events > 0:
        print(f"\nlarge files ({args.large_events:,} events each, tiled from the real recordings; best of "
              f"{args.large_repeat}; streamed = iter_events in pieces of 1 M events):")
        print(HEADER)
        with tempfile.TemporaryDirectory(prefix="neuroclip-bench-") as folder:
            for kind, suffix, write in LARGE:
                path = Path(folder) / f"large_{kind}{suffix}"
                start = time.perf_counter()
                write(path, args.large_events)
                written = time.perf_counter() - start
                compare(path, kind, args.large_repeat, bandwidth, ratios, numpy_path=False,
                        label=f"large {kind} ({path.stat().st_size / 1e9:.2f} GB)")
                if kind != "aedat4":
                    seconds, count = best_time(lambda path=path: sum(
                        len(piece) for piece in iter_events(path, events_per_piece=1_000_000,
                                                            sensor_size=(1280, 720))), 1)
                    print(f"{'  streamed':34s} {count:10d} {count / seconds / 1e6:10.1f}   "
                          f"(written in {written:.1f} s)", flush=True)
                path.unlink()

    print("\none-off cost of the numba kernels (fresh processes; seconds):")
    first_call_costs([files[-1], *[p for p in files if p.suffix in (".raw", ".dat", ".aedat4")]])
    if ratios:
        worst = min(ratios, key=lambda item: item[1])
        print(f"worst: {worst[0]}")
        print(f"min ratio vs peers: {worst[1]:.2f}")
    if args.csv:
        import csv
        import platform

        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as fp:
            writer = csv.DictWriter(fp, fieldnames=["machine", "decoders", *ROWS[0]])
            writer.writeheader()
            for row in ROWS:
                writer.writerow({"machine": f"{platform.processor() or platform.machine()}, "
                                            f"{os.cpu_count()} cores", "decoders": decoder, **row})
        print(f"-> {args.csv}")


if __name__ == "__main__":
    main()
