"""Host work per recording on the GPU path: what the CPU does before the image tower when the frames are made on the
device (read the file, stack the events; neuroclip.datasets.loader.make_event_loader), against the CPU path's work
(read, frame, encode, resize to 224, normalise) and against tonic reading the same files, all in one process.

    python benchmarks/host_work.py [--repeat 3]

Target (issue: fast where users run it): at most 1 ms of host work per N-MNIST recording per core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuroclip.datasets import NMNIST
from neuroclip.datasets.loader import make_event_loader, make_loader

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmnist"


def per_recording_ms(run, n: int, repeat: int) -> float:
    best = min(_timed(run) for _ in range(repeat))
    return best / n * 1e3


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = NMNIST(DATA, split="train_full")
    n = len(dataset)
    gpu_path = per_recording_ms(lambda: [None for _ in make_event_loader(dataset, 64, 0)], n, args.repeat)
    cpu_path = per_recording_ms(lambda: [None for _ in make_loader(dataset, None, 224, 64, 0)], n, args.repeat)
    rows = [("ours, GPU path: read + stack events", gpu_path), ("ours, CPU path: read + frames at 224", cpu_path)]
    try:
        import tonic.io

        dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
        paths = [str(path) for path, _ in dataset.samples]
        tonic_ms = per_recording_ms(lambda: [tonic.io.read_mnist_file(p, dtype=dtype) for p in paths], n, args.repeat)
        rows.append(("tonic: read_mnist_file only", tonic_ms))
    except ImportError:
        tonic_ms = None
    print(f"{n} real N-MNIST recordings, 1 thread, best of {args.repeat}")
    for name, value in rows:
        print(f"  {name:40s} {value:7.3f} ms per recording")
    if tonic_ms is not None:
        print(f"ratio tonic read / our GPU-path host work: {tonic_ms / gpu_path:.2f}")
    print(f"host work per recording on the GPU path: {gpu_path:.3f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()
