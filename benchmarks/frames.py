"""Event frames: neuroclip against tonic's ToFrame (and spikingjelly's integrator), single-threaded, in one run.

The operation is the same for all: T = 10 frames of equal event count, per-polarity counts ``[10, 2, H, W]``. tonic's
``ToFrame(n_event_bins=10)`` bins ``[j*N//10, (j+1)*N//10)`` and drops the ``N % 10`` last events, spikingjelly's
``integrate_events_by_fixed_frames_number(split_by='number')`` gives them to the last frame; every stream here has a
multiple of 10 events, so all three outputs are equal, and the script checks that before timing.

Inputs: a real N-MNIST recording (34x34, its first 5,020 events) when ../shared/data is present, else a synthetic one;
synthetic CIFAR10-DVS-like (128x128, 200,000 events) and N-ImageNet-like (640x480, 1,000,000 events) streams with
uniformly random pixels and polarities and sorted random timestamps (random pixels are the worst case for caches).

Run: ``python benchmarks/frames.py``. The last line is ``min ratio vs tonic ToFrame: <x>``, the smallest neuroclip /
tonic throughput ratio over the three sizes. Before it, voxel grids and time surfaces (T = 10) against tonic's
numpy functions on the same streams (close operations, not equal ones: see ``surfaces_and_grids``).
"""

import os

# One thread everywhere, before numpy and torch are imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import tonic  # noqa: E402
from spikingjelly.datasets.utils import integrate_events_by_fixed_frames_number  # noqa: E402

import neuroclip  # noqa: E402
from neuroclip.events import EventStream, make_events  # noqa: E402
from neuroclip.frames import batch_count_frames, count_frames, stack_events  # noqa: E402

T = 10
BATCH = 4
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic_stream(width: int, height: int, n_events: int, seed: int) -> EventStream:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1_000_000, n_events))
    x, y, p = rng.integers(0, width, n_events), rng.integers(0, height, n_events), rng.integers(0, 2, n_events)
    events = make_events(t, x, y, p)
    return EventStream(events, (width, height))


def nmnist_stream() -> tuple[str, EventStream]:
    """The first real N-MNIST recording with at least 5,000 events, cut to a multiple of T events."""
    for path in sorted((DATA / "nmnist" / "Train").glob("*/*.bin")):
        stream = neuroclip.read_events(path)
        if len(stream) >= 5_000:
            stream = stream.slice_count(0, len(stream) // T * T)
            return f"N-MNIST real {path.parent.name}/{path.name} 34x34", stream
    return "N-MNIST-like 34x34 (synthetic)", synthetic_stream(34, 34, 5_000, seed=1)


def best_time(function, min_total_s: float = 0.4, repeats: int = 5) -> float:
    """Seconds per call: the best of ``repeats`` runs of enough calls to fill ``min_total_s / repeats``."""
    function()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter() - start
        if elapsed >= min_total_s / repeats:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    name, nmnist = nmnist_stream()
    cases = [
        (name, nmnist),
        ("CIFAR10-DVS-like 128x128", synthetic_stream(128, 128, 200_000, seed=2)),
        ("N-ImageNet-like 640x480", synthetic_stream(640, 480, 1_000_000, seed=3)),
    ]
    print(
        f"event frames, T={T} equal-count per-polarity counts; single thread; numpy {np.__version__}, "
        f"torch {torch.__version__}, tonic {tonic.__version__}; {platform.processor() or platform.machine()}"
    )
    header = (
        f"{'input':<36}{'events':>10}{'tonic ev/s':>13}{'spikingj. ev/s':>16}{'neuroclip ev/s':>16}"
        f"{'batched ev/s':>14}{'vs tonic':>10}{'vs spikingj.':>14}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for label, stream in cases:
        events = stream.events
        width, height = stream.sensor_size
        n_events = len(stream)
        to_frame = tonic.transforms.ToFrame(sensor_size=(width, height, 2), n_event_bins=T)
        as_dict = {key: events[key] for key in ("t", "x", "y", "p")}
        batch = stack_events([stream] * BATCH)

        ours = count_frames(stream, n_frames=T)
        assert np.array_equal(ours, to_frame(events)), f"{label}: neuroclip and tonic frames differ"
        assert np.array_equal(ours, integrate_events_by_fixed_frames_number(as_dict, "number", T, height, width))
        assert np.array_equal(batch_count_frames(batch, T)[BATCH - 1].numpy(), ours)

        tonic_s = best_time(lambda: to_frame(events))  # noqa: B023
        spikingjelly_s = best_time(
            lambda: integrate_events_by_fixed_frames_number(as_dict, "number", T, height, width)  # noqa: B023
        )
        ours_s = best_time(lambda: count_frames(stream, n_frames=T))  # noqa: B023
        batched_s = best_time(lambda: batch_count_frames(batch, T)) / BATCH  # noqa: B023
        ratio = tonic_s / ours_s
        ratios.append(ratio)
        print(
            f"{label:<36}{n_events:>10,}{n_events / tonic_s:>13.3g}{n_events / spikingjelly_s:>16.3g}"
            f"{n_events / ours_s:>16.3g}{n_events / batched_s:>14.3g}{ratio:>10.1f}{spikingjelly_s / ours_s:>14.1f}"
        )
    print()
    print(f"batched = batch_count_frames on {BATCH} copies of the stream at once (torch, CPU), per stream")
    surfaces_and_grids(cases)
    print(f"min ratio vs tonic ToFrame: {min(ratios):.1f}")


def surfaces_and_grids(cases) -> None:
    """T = 10 voxel grids and time surfaces against tonic's numpy functions on the same streams. The operations are
    close, not equal: tonic's voxel grid scales time by T where ours (E2VID's) puts the first and last events on the
    first and last bins, and its time surface slices by time where ours ends each of T equal-count segments; so the
    outputs have the same shapes and work, and only the throughputs are compared."""
    import tonic.functional as tonic_f

    from neuroclip.frames import time_surface, voxel_grid

    print()
    print(f"{'input':<36}{'tonic voxel':>13}{'ours voxel':>12}{'ratio':>7}{'tonic surface':>15}{'ours surface':>14}"
          f"{'ratio':>7}   (events/s)")
    for label, stream in cases:
        n_events = len(stream)
        width, height = stream.sensor_size
        as_tonic = np.zeros(n_events, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
        for key in ("x", "y", "t", "p"):
            as_tonic[key] = stream.events[key]
        dt = (int(stream.events["t"][-1]) - int(stream.events["t"][0])) / T
        tonic_voxel = best_time(lambda: tonic_f.to_voxel_grid_numpy(as_tonic, (width, height, 2), T))  # noqa: B023
        ours_voxel = best_time(lambda: voxel_grid(stream, n_bins=T))  # noqa: B023
        tonic_surface = best_time(
            lambda: tonic_f.to_timesurface_numpy(as_tonic, (width, height, 2), dt=dt, tau=50_000.0))  # noqa: B023
        ours_surface = best_time(lambda: time_surface(stream, decay_us=50_000.0))  # noqa: B023
        print(f"{label:<36}{n_events / tonic_voxel:>13.3g}{n_events / ours_voxel:>12.3g}"
              f"{tonic_voxel / ours_voxel:>7.1f}{n_events / tonic_surface:>15.3g}{n_events / ours_surface:>14.3g}"
              f"{tonic_surface / ours_surface:>7.1f}")


if __name__ == "__main__":
    main()
