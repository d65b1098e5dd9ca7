"""Reader throughput (events/s) on the real recordings in ../shared/data, ours next to tonic's and expelliarmus's
on the same files in the same run.

    python benchmarks/readers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neuroclip import read_events

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def peers(path: Path):
    """(peer name, callable) pairs that read the same file."""
    suffix = path.suffix
    found = []
    try:
        from expelliarmus import Wizard

        encoding = {".dat": "dat"}.get(suffix)
        if suffix == ".raw":
            encoding = "evt3" if "evt3" in path.name else "evt2"
        if encoding:
            found.append(("expelliarmus", lambda: Wizard(encoding=encoding, fpath=path).read()))
    except ImportError:
        pass
    try:
        import tonic.io

        if suffix == ".bin":
            dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
            found.append(("tonic", lambda: tonic.io.read_mnist_file(str(path), dtype=dtype)))
        if suffix == ".aedat4":
            found.append(("tonic (aedat)", lambda: tonic.io.read_aedat4(str(path))))
    except ImportError:
        pass
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = sorted((DATA / "formats").glob("*/*")) + sorted((DATA / "nmnist").glob("Train/0/*.bin"))[:1]
    if not files:
        raise SystemExit(f"no real recordings under {DATA}")
    print(f"{'file':40s} {'events':>9s} {'neuroclip Mev/s':>16s} {'peer':>14s} {'peer Mev/s':>11s} {'ratio':>7s}")
    ratios = []
    for path in files:
        seconds, stream = best_time(lambda path=path: read_events(path), args.repeat)
        ours = len(stream) / seconds / 1e6
        for name, function in peers(path) or [("-", None)]:
            if function is None:
                print(f"{path.name:40s} {len(stream):9d} {ours:16.1f} {name:>14s}")
                continue
            peer_seconds, _ = best_time(function, args.repeat)
            peer = len(stream) / peer_seconds / 1e6
            ratios.append(ours / peer)
            print(f"{path.name:40s} {len(stream):9d} {ours:16.1f} {name:>14s} {peer:11.1f} {ours / peer:7.2f}")
    # many small files: per-file overhead, not decoding, decides (the 500 real N-MNIST recordings)
    nmnist = sorted((DATA / "nmnist").glob("Train/*/*.bin"))
    if nmnist:
        seconds, _ = best_time(lambda: [read_events(path) for path in nmnist], args.repeat)
        line = f"{len(nmnist)} N-MNIST files: neuroclip {len(nmnist) / seconds:8.0f} files/s"
        try:
            import tonic.io

            dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
            peer_seconds, _ = best_time(lambda: [tonic.io.read_mnist_file(str(p), dtype=dtype) for p in nmnist],
                                        args.repeat)
            ratios.append(peer_seconds / seconds)
            line += f", tonic {len(nmnist) / peer_seconds:8.0f} files/s, ratio {peer_seconds / seconds:.2f}"
        except ImportError:
            pass
        print(line)
    if ratios:
        print(f"min ratio vs peers: {min(ratios):.2f}")

if __name__ == "__main__":
    main()
