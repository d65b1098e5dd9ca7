"""The compact transfer of a batch's events from loader workers to the device (PackedEvents): the same frames as the
stacked EventBatch and as framing each recording, for every encoding and both splits, in fewer bytes; long
recordings and large sensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, make_events
from neuroclip.frames import FrameConfig, clip_frames, clip_frames_batch, count_frames, frames_on_device
from neuroclip.frames.clip_input import needs_times
from neuroclip.frames.names import ENCODINGS
from neuroclip.frames.tensors import PackedEvents, batch_count_frames, pack_events, stack_events


def random_stream(rng, n, width, height, span=1_000_000, start=0):
    t = start + np.sort(rng.integers(0, span, n))
    return EventStream(make_events(t, rng.integers(0, width, n), rng.integers(0, height, n), rng.integers(0, 2, n)),
                       (width, height))


def assert_same_events(packed: PackedEvents, streams):
    unpacked, stacked = packed.unpack(), stack_events(streams)
    for name in ("t", "x", "y", "p", "lengths"):
        assert torch.equal(getattr(unpacked, name), getattr(stacked, name)), name
    assert unpacked.sensor_size == stacked.sensor_size


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_packed_batches_count_the_same_frames_as_stacked_ones(split_by):
    rng = np.random.default_rng(0)
    streams = [random_stream(rng, n, 34, 34, span=300_000) for n in (4000, 0, 7, 1, 2500)]
    packed = pack_events(streams)
    assert packed.pixel.dtype == torch.int16 and packed.t.dtype == torch.int32
    assert_same_events(packed, streams)
    expected = batch_count_frames(stack_events(streams), 10, split_by)
    assert torch.equal(batch_count_frames(packed, 10, split_by), expected)
    for b, stream in enumerate(streams):
        np.testing.assert_array_equal(expected[b].numpy(), count_frames(stream, n_frames=10, split_by=split_by))
    if split_by == "number":
        assert torch.equal(batch_count_frames(pack_events(streams, times=False), 10, split_by), expected)


@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
@pytest.mark.parametrize("split_by", ["number", "time"])
def test_packed_clip_input_equals_framing_each_recording(encoding, split_by):
    rng = np.random.default_rng(1)
    streams = [random_stream(rng, n, 40, 30) for n in (900, 50, 3000)]
    config = FrameConfig(encoding=encoding, n_frames=5, split_by=split_by, threshold=1.0, hot_pixel_sigmas=2.0,
                         decay_us=100_000.0)
    assert frames_on_device(config)
    expected = torch.stack([clip_frames(stream, config, 48) for stream in streams])
    for packed in (pack_events(streams), pack_events(streams, times=needs_times(config))):
        torch.testing.assert_close(clip_frames_batch(packed, config, 48), expected, rtol=0, atol=1e-6)
    if needs_times(config):
        with pytest.raises(ConfigError, match="times"):
            clip_frames_batch(pack_events(streams, times=False), config, 48)


def test_batched_time_surfaces_and_voxel_grids_equal_the_per_recording_functions():
    """Empty, one-event and zero-span samples, samples starting late; stacked and packed batches. Voxel grids are
    equal bit for bit on a CPU; time surfaces to the last bit of float32 exp."""
    from neuroclip.frames import segment_bounds, time_surface, voxel_grid
    from neuroclip.frames.functional import voxel_grid_image
    from neuroclip.frames.tensors import batch_time_surface, batch_voxel_grid, batch_voxel_grid_image

    rng = np.random.default_rng(11)
    streams = [random_stream(rng, n, 40, 30, start=start) for n, start in ((900, 5), (0, 0), (50, 10**9), (1, 3))]
    streams.append(EventStream(make_events([4, 4, 4], [1, 2, 3], [0, 0, 0], [1, 0, 1]), (40, 30)))  # zero span
    for batch in (stack_events(streams), pack_events(streams)):
        for n_frames in (1, 4, 10):
            grids = batch_voxel_grid(batch, n_frames)
            expected = np.stack([voxel_grid(stream, n_bins=n_frames) for stream in streams])
            assert grids.numpy().tobytes() == expected.tobytes()
            assert np.array_equal(batch_voxel_grid_image(grids).numpy(),
                                  np.stack([voxel_grid_image(grid) for grid in expected]))
            for split_by in ("number", "time"):
                surfaces = batch_time_surface(batch, n_frames, split_by, 20_000.0)
                expected = np.stack([time_surface(stream, decay_us=20_000.0,
                                                  stops=segment_bounds(stream.events["t"], split_by, n_frames)[1])
                                     for stream in streams])
                np.testing.assert_allclose(surfaces.numpy(), expected, rtol=0, atol=2.5e-7)
                assert np.array_equal(surfaces.numpy() == 0, expected == 0)


def test_a_recording_longer_than_2_31_microseconds_keeps_its_times():
    rng = np.random.default_rng(2)
    long = random_stream(rng, 5000, 34, 34, span=3 * 2**31, start=2**40)  # about 1.8 hours, starting late
    short = random_stream(rng, 3000, 34, 34, span=200_000, start=5)
    assert long.events["t"][-1] - long.events["t"][0] >= 2**31
    packed = pack_events([short, long])
    assert packed.t.dtype == torch.int64 and packed.max_span >= 2**31
    assert_same_events(packed, [short, long])
    frames = batch_count_frames(packed, 10, "time")
    for b, stream in enumerate([short, long]):
        np.testing.assert_array_equal(frames[b].numpy(), count_frames(stream, n_frames=10, split_by="time"))
    # just under the limit stays int32, relative to each recording's own start
    edge = EventStream(make_events([2**41, 2**41 + 2**31 - 1], [0, 1], [0, 0], [0, 1]), (2, 1))
    packed = pack_events([edge])
    assert packed.t.dtype == torch.int32 and packed.t.tolist() == [0, 2**31 - 1]
    assert_same_events(packed, [edge])


def test_large_sensors_pack_into_wider_pixels():
    rng = np.random.default_rng(3)
    hd = [random_stream(rng, 20_000, 1280, 720), random_stream(rng, 10, 1280, 720)]
    corners = EventStream(make_events([0, 1, 2, 3], [0, 1279, 0, 1279], [0, 0, 719, 719], [1, 0, 1, 1]), (1280, 720))
    packed = pack_events([*hd, corners])
    assert packed.pixel.dtype == torch.int32 and packed.pixel_bytes == 3  # 2 * W * H - 1 < 2**24: 3 bytes each
    assert_same_events(packed, [*hd, corners])
    assert torch.equal(batch_count_frames(packed, 3), batch_count_frames(stack_events([*hd, corners]), 3))
    for width, stored in ((4096, 3), (4097, 0)):  # 2 * W * H - 1 = 2**24 - 1 (3 bytes) and just above (int32)
        edge = EventStream(make_events([0, 1, 2], [width - 1, 0, width - 1], [2047, 0, 0], [1, 0, 0]), (width, 2048))
        packed = pack_events([edge], times=False)
        assert packed.pixel_bytes == stored and packed.pixel.tolist() == [2 * width * 2048 - 1, 0, width - 1]
        assert torch.equal(batch_count_frames(packed, 2), batch_count_frames(stack_events([edge]), 2))
    huge = EventStream(make_events([0, 7, 9], [65534, 0, 3], [65534, 1, 65534], [1, 0, 1]), (65535, 65535))
    packed = pack_events([huge])  # 2 * W * H is beyond int32
    assert packed.pixel.dtype == torch.int64
    assert_same_events(packed, [huge])
    edge = [EventStream(make_events([0, 1], [180, 0], [89, 0], [1, 0]), (181, 90))]  # 2*W*H - 1 = 32579: int16
    packed = pack_events(edge)
    assert packed.pixel.dtype == torch.int16 and packed.pixel.tolist() == [32579, 0]
    assert_same_events(packed, edge)


def test_packed_events_are_few_bytes_in_one_buffer():
    rng = np.random.default_rng(4)
    nmnist_like = [random_stream(rng, 4000, 34, 34) for _ in range(8)]
    vga = [random_stream(rng, 100_000, 640, 480) for _ in range(2)]
    n, m = 8 * 4000, 2 * 100_000
    assert pack_events(nmnist_like, times=False).nbytes <= 2 * n + 2 * 8 * 8 + 8
    assert pack_events(nmnist_like).nbytes <= 6 * n + 2 * 8 * 8 + 16
    assert pack_events(vga, times=False).nbytes <= 3 * m + 64
    assert pack_events(vga).nbytes <= 7 * m + 64
    stacked = stack_events(vga)
    assert sum(getattr(stacked, k).nbytes for k in ("t", "x", "y", "p")) == 17 * m
    assert pack_events(vga, shared=True).buffer.is_shared()
    assert not pack_events(vga, shared=False).buffer.is_shared()


def test_empty_batches_and_what_a_batch_without_times_refuses():
    empty = EventStream(make_events([], [], [], []), (6, 4))
    packed = pack_events([empty, empty])
    assert packed.n_events == 0 and not batch_count_frames(packed, 10, "time").any()
    assert batch_count_frames(packed, 10).shape == (2, 10, 2, 4, 6)
    assert_same_events(packed, [empty, empty])
    no_times = pack_events([random_stream(np.random.default_rng(5), 30, 6, 4)], times=False)
    assert no_times.t is None
    with pytest.raises(ConfigError, match="times"):
        batch_count_frames(no_times, 10, "time")
    with pytest.raises(ConfigError, match="times"):
        no_times.unpack()
    with pytest.raises(ConfigError, match="at least one"):
        pack_events([])
    with pytest.raises(ConfigError, match="different sensor sizes"):
        pack_events([empty, EventStream(make_events([], [], [], []), (7, 4))])


def test_the_packed_loader_gives_the_same_batches_from_workers():
    from neuroclip.datasets.loader import make_event_loader

    rng = np.random.default_rng(6)
    streams = [random_stream(rng, int(n), 50, 40) for n in rng.integers(0, 3000, 10)]
    dataset = [(stream, k % 3) for k, stream in enumerate(streams)]
    plain = list(make_event_loader(dataset, 4, 0))
    for workers in (0, 2):
        packed = list(make_event_loader(dataset, 4, workers, packed=True, prefetch_factor=1 if workers else None))
        for (events, labels, indices), (stacked, labels_0, indices_0) in zip(packed, plain, strict=True):
            assert isinstance(events, PackedEvents)
            assert torch.equal(labels, labels_0) and torch.equal(indices, indices_0)
            assert torch.equal(batch_count_frames(events, 10, "time"), batch_count_frames(stacked, 10, "time"))
    mixed = [(streams[0], 0), (random_stream(rng, 10, 20, 20), 1)]
    (events, _, _), = make_event_loader(mixed, 2, 0, packed=True, times=False)
    assert isinstance(events, list) and len(events) == 2  # different sensors: framed one by one


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_packed_events_pin_and_move_to_cuda_without_blocking():
    rng = np.random.default_rng(7)
    streams = [random_stream(rng, 5000, 640, 480) for _ in range(3)]
    packed = pack_events(streams).pin_memory()
    assert packed.buffer.is_pinned()
    on_gpu = packed.to("cuda")
    for split_by in ("number", "time"):
        assert torch.equal(batch_count_frames(on_gpu, 10, split_by).cpu(),
                           batch_count_frames(stack_events(streams), 10, split_by))
    assert torch.equal(on_gpu.unpack().t.cpu(), stack_events(streams).t)
    # the time surface and voxel grid on the GPU: the CPU batch's values (the GPU adds voxel shares in any order)
    from neuroclip.frames.tensors import batch_time_surface, batch_voxel_grid

    torch.testing.assert_close(batch_voxel_grid(on_gpu, 7).cpu(), batch_voxel_grid(pack_events(streams), 7),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch_time_surface(on_gpu, 7, "time").cpu(),
                               batch_time_surface(pack_events(streams), 7, "time"), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(34, 34), (640, 480), (1280, 720)])
def test_packing_with_numba_equals_the_numpy_expression(size):
    pytest.importorskip("numba")
    from neuroclip.events.io._common import decoders

    rng = np.random.default_rng(3)
    streams = []
    for n in (0, 1, 4000, 1234):
        t = np.sort(rng.integers(0, 10**6, n))
        streams.append(EventStream(make_events(t, rng.integers(0, size[0], n), rng.integers(0, size[1], n),
                                               rng.integers(0, 2, n)), size))
    with decoders("numba"):
        fast = pack_events(streams, times=True, shared=False)
    with decoders("numpy"):
        plain = pack_events(streams, times=True, shared=False)
    assert fast.pixel_dtype == plain.pixel_dtype and fast.pixel_bytes == plain.pixel_bytes
    assert torch.equal(fast.pixel, plain.pixel)
    a, b = fast.unpack(), plain.unpack()  # (the buffers' alignment padding is not written)
    assert all(torch.equal(getattr(a, name), getattr(b, name)) for name in ("t", "x", "y", "p", "lengths"))
    assert int(a.lengths.sum()) == 4000 + 1234 + 1
