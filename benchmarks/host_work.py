"""Host work per recording on the GPU path: what the CPU does before the image tower when the frames are made on the
device (read the file, stack the events; neuroclip.datasets.loader.make_event_loader), against the CPU path's work
(read, frame, encode, resize to 224, normalise) and against tonic reading the same files, all in one process.

    python benchmarks/host_work.py [--repeat 3] [--no-batches]

Target (issue: fast where users run it): at most 1 ms of host work per N-MNIST recording per core.

Then the host work per batch on the GPU path, stage by stage, for the old stacked batches (``EventBatch``, 17 bytes
per event) and the packed ones the GPU path now sends (``PackedEvents``; split by number: no timestamps), on 64 real
N-MNIST recordings and on 8 generated 640x480 recordings of 1,000,000 events: in the worker, reading and the collate
(stacking or packing) and the move into shared memory (the packed batch is built there, so nothing is moved); in the
main process, the pin-memory thread's copy, timed as a plain copy into fresh memory (a CPU-only torch cannot pin).
"""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument("--no-batches", dest="batches", action="store_false",
                        help="skip the per-batch stages (they generate 8 M events)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = NMNIST(DATA, split="train_full")
    n = len(dataset)
    gpu_path = per_recording_ms(lambda: [None for _ in make_event_loader(dataset, 64, 0, packed=True, times=False)],
                                n, args.repeat)
    stacked = per_recording_ms(lambda: [None for _ in make_event_loader(dataset, 64, 0)], n, args.repeat)
    cpu_path = per_recording_ms(lambda: [None for _ in make_loader(dataset, None, 224, 64, 0)], n, args.repeat)
    rows = [("ours, GPU path: read + pack events", gpu_path), ("ours, read + stack events (EventBatch)", stacked),
            ("ours, CPU path: read + frames at 224", cpu_path)]
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
    if args.batches:
        batch_stages(dataset, args.repeat)


def _tensors(events) -> list:
    return [value for field in dataclasses.fields(events)
            if isinstance(value := getattr(events, field.name), torch.Tensor)]


def _stages(read, collate, repeat: int) -> dict:
    """Best of ``repeat`` per stage, in ms: the worker's read, collate and move to shared memory, and the main
    process's copy of the batch (what the pin-memory thread does)."""
    best = {}
    for _ in range(repeat):
        start = time.perf_counter()
        streams = read()
        read_done = time.perf_counter()
        events = collate(streams)
        collate_done = time.perf_counter()
        tensors = _tensors(events)
        for tensor in tensors:
            tensor.share_memory_()  # what sending it to the main process does (nothing when built there)
        shared = time.perf_counter()
        for tensor in tensors:
            torch.empty_like(tensor).copy_(tensor)
        copied = time.perf_counter()
        for name, seconds in (("read", read_done - start), ("collate", collate_done - read_done),
                              ("to shared memory", shared - collate_done), ("main: copy", copied - shared)):
            best[name] = min(best.get(name, float("inf")), seconds * 1e3)
    best["MB"] = sum(tensor.numel() * tensor.element_size() for tensor in tensors) / 1e6
    return best


def batch_stages(dataset, repeat: int) -> None:
    from neuroclip.events import EventStream, make_events
    from neuroclip.frames.tensors import pack_events, stack_events

    rng = np.random.default_rng(1)
    n = 1_000_000
    vga = [EventStream(make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 640, n),
                                   rng.integers(0, 480, n), rng.integers(0, 2, n)), (640, 480)) for _ in range(8)]
    cases = {"64 N-MNIST recordings (read from disk)": lambda: [dataset[i][0] for i in range(64)],
             "8 x 1M-event 640x480 (in memory)": lambda: vga}
    collates = {"stacked (EventBatch)": stack_events,
                "packed, no times": lambda streams: pack_events(streams, times=False, shared=True),
                "packed, with times": lambda streams: pack_events(streams, shared=True)}
    print(f"host work per batch, ms (1 thread, best of {max(repeat, 3)}; worker = read + collate + to shared memory)")
    for case, read in cases.items():
        for name, collate in collates.items():
            row = _stages(read, collate, max(repeat, 3))
            worker = row["read"] + row["collate"] + row["to shared memory"]
            print(f"  {case:40s} {name:20s} worker {worker:7.1f} (read {row['read']:.1f}, collate "
                  f"{row['collate']:.1f}, to shm {row['to shared memory']:.1f}); main copy {row['main: copy']:6.1f}; "
                  f"{row['MB']:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
