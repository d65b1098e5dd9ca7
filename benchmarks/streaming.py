"""Peak memory and time of reading a recording larger than memory is comfortable with: ``neuroclip info`` and
``iter_events`` on a generated DVS128 AEDAT 2.0 file (150 M events, 1.2 GB by default), next to reading it whole
(ours, and tonic's AEDAT 2.0 reader on the same file), each in a fresh process; and ``neuroclip classify`` of the
file (zero-shot with the bundled ``neuroclip-mini``, NeuroCLIP's T = 10 discrimination frames made piece by piece)
next to the same frames and features after a whole read (how ``classify`` read every file before); and the same
two for ``classify --spikeclip`` with the bundled spiking model (its 4 count frames counted piece by piece).

    python benchmarks/streaming.py [--events 150000000] [--folder DIR] [--csv results/streaming_<machine>.csv]

Target (issue: fast where users run it): ``neuroclip info`` on a 1.2 GB DVS128 AEDAT 2.0 file of 150 M events under
800 MB of peak memory. Peak memory is the process's VmHWM (Linux), read at its end, so it counts the Python
interpreter, numpy, torch where imported, and everything the reader held at its worst moment.

The file is written from the format's specification (a ``#!AER-DAT2.0`` header, then big-endian uint32 address and
uint32 timestamp per event: x in bits 1-7, y in bits 8-14, the polarity in bit 0), with random pixels and sorted
timestamps, into a temporary folder (or ``--folder``) and deleted at the end. tonic's ``read_dvs_128`` unpacks its
header reader's three values into two and fails in the installed release, so the tonic row runs the two functions it
calls (``read_aedat_header_from_file``, ``get_aer_events_from_file``) and its x, y, p decoding, as that function
does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

PEAK = textwrap.dedent("""
    def peak_mb():
        status = open("/proc/self/status").read()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
""")

RUNS = {
    "ours: neuroclip info FILE": """
        import io, contextlib
        from neuroclip.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["info", PATH, "--json"])
        assert code == 0, out.getvalue()
        events = json.loads(out.getvalue())[0]["events"]
    """,
    "ours: iter_events, pieces of 1 M events": """
        from neuroclip import iter_events
        events = sum(len(piece) for piece in iter_events(PATH, events_per_piece=1_000_000))
    """,
    "ours: read_events (whole file)": """
        from neuroclip import read_events
        events = len(read_events(PATH))
    """,
    "ours: neuroclip classify FILE (neuroclip-mini)": """
        import io, contextlib
        from neuroclip.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["classify", PATH, "--model", "neuroclip-mini", "--classnames", "nmnist", "--json"])
        assert code == 0, out.getvalue()
        assert len(json.loads(out.getvalue())) == 1
        events = EVENTS  # classify prints classes, not the count: the file's, as written
    """,
    "ours: classify after a whole read (as before)": """
        from neuroclip import read_events
        from neuroclip.clip import load_backbone
        from neuroclip.clip.features import frame_features
        features = frame_features([read_events(PATH)], load_backbone("neuroclip-mini", device="cpu"))
        assert features.shape[:2] == (1, 10)
        events = EVENTS
    """,
    "ours: neuroclip classify FILE --spikeclip": """
        import io, contextlib
        from neuroclip.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["classify", PATH, "--spikeclip", "neuroclip-mini-spiking", "--classnames", "nmnist",
                         "--json"])
        assert code == 0, out.getvalue()
        assert len(json.loads(out.getvalue())) == 1
        events = EVENTS
    """,
    "ours: classify --spikeclip after a whole read (as before)": """
        from neuroclip import read_events
        from neuroclip.spikeclip.model import load_spikeclip, predict
        model = load_spikeclip("neuroclip-mini-spiking")
        assert len(predict(model, [read_events(PATH)], [str(d) for d in range(10)], ['"{}"'], k=1)) == 1
        events = EVENTS
    """,
    "tonic: AEDAT 2.0 read (whole file)": """
        import numpy as np
        from tonic.io import get_aer_events_from_file, make_structured_array, read_aedat_header_from_file
        version, start, _ = read_aedat_header_from_file(PATH)
        raw = get_aer_events_from_file(PATH, version, start)
        address = raw["address"]
        xytp = make_structured_array((address >> 8) & 0x7F, (address >> 1) & 0x7F, raw["timeStamp"], address & 1)
        events = len(xytp)
    """,
}


def write_aedat2(path: Path, n_events: int, block: int = 10_000_000) -> None:
    rng = np.random.default_rng(0)
    words = np.empty(block, [("address", ">u4"), ("t", ">u4")])
    t0 = 0
    with open(path, "wb") as fp:
        fp.write(b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                 b"# generated by benchmarks/streaming.py\r\n")
        for start in range(0, n_events, block):
            n = min(block, n_events - start)
            part = words[:n]
            part["address"] = (rng.integers(0, 128, n, dtype=np.uint32) << 8) | \
                (rng.integers(0, 128, n, dtype=np.uint32) << 1) | rng.integers(0, 2, n, dtype=np.uint32)
            part["t"] = t0 + np.sort(rng.integers(0, 1_000_000, n)).astype(np.uint32)  # 1 s per block
            t0 += 1_000_000
            fp.write(part.tobytes())


def measure(name: str, code: str, path: Path, n_events: int) -> dict:
    program = PEAK + "import json, time\nPATH = " + repr(str(path)) + f"\nEVENTS = {n_events}" + \
        "\nclock = time.perf_counter()\n" + \
        textwrap.dedent(code) + \
        "\nprint(json.dumps({'events': events, 'seconds': time.perf_counter() - clock, 'peak_mb': peak_mb()}))\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    if done.returncode != 0:
        return {"run": name, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return {"run": name, **json.loads(done.stdout.strip().splitlines()[-1])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=150_000_000)
    parser.add_argument("--folder", type=Path, default=None, help="where to write the file (default: a temp dir)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        raise SystemExit("this benchmark reads peak memory from /proc/self/status (Linux)")
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        path = Path(folder) / "dvs128.aedat"
        start = time.perf_counter()
        write_aedat2(path, args.events)
        size_gb = path.stat().st_size / 1e9
        print(f"{args.events:,} events, {size_gb:.2f} GB AEDAT 2.0 written in {time.perf_counter() - start:.0f} s",
              flush=True)
        rows = []
        for name, code in RUNS.items():
            row = measure(name, code, path, args.events)
            rows.append(row)
            if "error" in row:
                print(f"  {name:42s} failed: {row['error']}", flush=True)
                continue
            assert row["events"] == args.events, row
            print(f"  {name:42s} peak {row['peak_mb']:8.0f} MB   {row['seconds']:6.1f} s   "
                  f"{args.events / row['seconds'] / 1e6:6.1f} Mev/s", flush=True)
    by_name = {row["run"]: row for row in rows if "error" not in row}
    info = by_name.get("ours: neuroclip info FILE")
    tonic = by_name.get("tonic: AEDAT 2.0 read (whole file)")
    if info and tonic:
        print(f"peak memory tonic / neuroclip info: {tonic['peak_mb'] / info['peak_mb']:.1f}x; "
              f"time tonic / ours: {tonic['seconds'] / info['seconds']:.2f}")
    if info:
        print(f"neuroclip info peak: {info['peak_mb']:.0f} MB (target < 800 MB)")
    streamed = by_name.get("ours: neuroclip classify FILE (neuroclip-mini)")
    whole = by_name.get("ours: classify after a whole read (as before)")
    if streamed and whole:
        print(f"peak memory of classify, whole read / piece by piece: {whole['peak_mb'] / streamed['peak_mb']:.1f}x")
    streamed = by_name.get("ours: neuroclip classify FILE --spikeclip")
    whole = by_name.get("ours: classify --spikeclip after a whole read (as before)")
    if streamed and whole:
        print(f"peak memory of classify --spikeclip, whole read / piece by piece: "
              f"{whole['peak_mb'] / streamed['peak_mb']:.1f}x")
    if args.csv:
        import csv

        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as fp:
            writer = csv.DictWriter(fp, fieldnames=["machine", "events", "file_gb", "run", "peak_mb", "seconds",
                                                    "error"])
            writer.writeheader()
            for row in rows:
                writer.writerow({"machine": machine, "events": args.events, "file_gb": round(size_gb, 3),
                                 **{key: row.get(key) for key in ("run", "peak_mb", "seconds", "error")}})
        print(f"-> {args.csv}")


if __name__ == "__main__":
    main()
