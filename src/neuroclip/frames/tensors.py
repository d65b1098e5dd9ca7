"""The torch side of the event-frame module: batches of recordings as tensors on a device, their count frames, time
surfaces and voxel grids in one call per batch, and images as CLIP input.

The per-recording numpy functions are in :mod:`neuroclip.frames.functional`, which does not import torch (so that
framing a file and the ``neuroclip frames`` command start without it); the functions here give the same
frames for a whole batch (each has a test against them), on the CPU or a GPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip.errors import ConfigError, InvalidEventsError
from neuroclip.events.io._common import kernels
from neuroclip.frames.functional import _check_int, _check_real, check_mean_std, event_array
from neuroclip.frames.names import CLIP_INPUT_SIZE, CLIP_MEAN, CLIP_STD, NEUROCLIP_FRAMES, NORMALIZATIONS

# --------------------------------------------------------------------------------------------------- batched (torch)


@dataclasses.dataclass(frozen=True)
class EventBatch:
    """Several streams' events concatenated into 1-D torch tensors, with each stream's event count.

    ``t`` is int64 microseconds; ``x``, ``y`` int32; ``p`` uint8; ``lengths`` int64 ``[B]``. Events of sample ``b``
    are ``[offsets[b], offsets[b] + lengths[b])``, each sample sorted by time. Build one with :func:`stack_events`,
    which sets ``checked`` (its events were validated already, so :func:`batch_count_frames` need not check again).
    """

    t: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    p: torch.Tensor
    lengths: torch.Tensor
    sensor_size: tuple[int, int]
    checked: bool = False

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def to(self, device) -> EventBatch:
        return dataclasses.replace(
            self, **{name: getattr(self, name).to(device) for name in ("t", "x", "y", "p", "lengths")}
        )


def _batch_arrays(streams: Sequence, sensor_size, caller: str) -> tuple[list, tuple[int, int]]:
    """The event arrays of a batch's streams and their one sensor size (refused when they differ)."""
    if len(streams) == 0:
        raise ConfigError(f"{caller} needs at least one stream")
    arrays, sizes = zip(*(event_array(stream, sensor_size) for stream in streams), strict=True)
    if len(set(sizes)) != 1:
        raise ConfigError(
            f"the streams have different sensor sizes {sorted(set(sizes))}; pass sensor_size=(width, height) "
            "large enough for all of them"
        )
    return list(arrays), sizes[0]


def stack_events(streams: Sequence, sensor_size=None, device=None) -> EventBatch:
    """Concatenate EventStreams (or validated structured arrays, with ``sensor_size``) into an :class:`EventBatch`.

    All streams must share one sensor size (frames of a batch have one shape); pass ``sensor_size`` to choose it
    (every event must lie inside it).
    """
    arrays, size = _batch_arrays(streams, sensor_size, "stack_events")
    events = np.concatenate(arrays)
    return EventBatch(
        # astype copies: a field of a structured array is a strided view torch cannot wrap.
        t=torch.from_numpy(events["t"].astype(np.int64)).to(device),
        x=torch.from_numpy(events["x"].astype(np.int32)).to(device),
        y=torch.from_numpy(events["y"].astype(np.int32)).to(device),
        p=torch.from_numpy(events["p"].astype(np.uint8)).to(device),
        lengths=torch.tensor([len(a) for a in arrays], dtype=torch.int64, device=device),
        sensor_size=size,
        checked=True,
    )


# The smallest integer types a packed batch uses, in order of preference.
_PIXEL_DTYPES = ((np.int16, torch.int16), (np.int32, torch.int32), (np.int64, torch.int64))
_TORCH_FROM_NUMPY = {np.dtype(np_type): torch_type for np_type, torch_type in _PIXEL_DTYPES}
# Pixel indices below 2**24 (every Prophesee and iniVation sensor: 1280x720 gives 1,843,199) travel in 3 bytes,
# read back as int32 on the device: a quarter fewer bytes than int32 to write into shared memory, pin and copy.
_PIXEL_24_LIMIT = 1 << 24
_ALIGN = 8  # every section of a packed buffer starts on 8 bytes, so each can be viewed as its own dtype


def _aligned(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


@dataclasses.dataclass(frozen=True)
class PackedEvents:
    """A batch's events in few bytes, for the trip from DataLoader workers to the device; :meth:`unpack` gives the
    :class:`EventBatch` it stands for, and :func:`batch_count_frames` counts it directly (the same frames).

    Everything lives in one contiguous ``uint8`` ``buffer`` (one shared-memory segment from a worker, one pinned copy,
    one host-to-device copy), in sections viewed as:

    * ``lengths`` int64 ``[B]``: each sample's event count;
    * ``t0`` int64 ``[B]``: each sample's first timestamp (0 for an empty sample);
    * ``t`` ``[N]``: each event's timestamp minus its sample's ``t0``, int32 when every sample spans less than
      2**31 µs (about 35 minutes), int64 otherwise; None when packed with ``times=False`` (what the ``'number'``
      split needs: no time at all);
    * ``pixel`` ``[N]``: ``(p != 0) * H * W + y * W + x``, read as the smallest of int16/int32/int64 that holds
      ``2 * H * W - 1`` (``pixel_dtype``: int16 for N-MNIST's 34x34, int32 for 640x480 or 1280x720) and stored in
      ``pixel_bytes`` bytes each: the dtype's size, or 3 (little-endian) for int32 values below 2**24.

    ``max_span`` (the longest sample's last minus first timestamp, known when packing) spares the device a
    synchronisation when splitting by time. 2 bytes per event for N-MNIST split by number, 3 for 640x480 (7 with
    times), against the 17 of an :class:`EventBatch`.
    """

    buffer: torch.Tensor
    n_samples: int
    n_events: int
    sensor_size: tuple[int, int]
    pixel_dtype: torch.dtype
    time_dtype: torch.dtype | None
    max_span: int
    pixel_bytes: int = 0  # bytes per stored pixel index; 0: pixel_dtype's size

    def _sections(self) -> dict:
        """name -> (byte offset, count, dtype, bytes per item)."""
        b, n = self.n_samples, self.n_events
        sections, offset = {}, 0
        for name, count, dtype, size in (("lengths", b, torch.int64, 8), ("t0", b, torch.int64, 8),
                                         ("t", n, self.time_dtype, None),
                                         ("pixel", n, self.pixel_dtype, self.pixel_bytes or None)):
            if dtype is None:
                continue
            size = size or dtype.itemsize
            sections[name] = (offset, count, dtype, size)
            offset += _aligned(count * size)
        return sections

    def _view(self, name: str) -> torch.Tensor | None:
        section = self._sections().get(name)
        if section is None:
            return None
        offset, count, dtype, size = section
        raw = self.buffer[offset:offset + count * size]
        if size == dtype.itemsize:
            return raw.view(dtype)
        triplets = raw.view(count, 3).to(torch.int32)  # 3-byte little-endian pixel indices, as int32
        return triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)

    @property
    def lengths(self) -> torch.Tensor:
        return self._view("lengths")

    @property
    def t0(self) -> torch.Tensor:
        return self._view("t0")

    @property
    def t(self) -> torch.Tensor | None:
        """Timestamps relative to each sample's first (``t0``); None when packed without times."""
        return self._view("t")

    @property
    def pixel(self) -> torch.Tensor:
        return self._view("pixel")

    @property
    def device(self) -> torch.device:
        return self.buffer.device

    @property
    def nbytes(self) -> int:
        return int(self.buffer.numel())

    def __len__(self) -> int:
        return self.n_samples

    def pin_memory(self, device=None) -> PackedEvents:
        """The same batch in page-locked memory (what a DataLoader's ``pin_memory=True`` calls), so that :meth:`to`
        copies it to a GPU without blocking."""
        return dataclasses.replace(self, buffer=self.buffer.pin_memory())

    def to(self, device, non_blocking: bool | None = None) -> PackedEvents:
        """On ``device``, in one copy; ``non_blocking`` (default: when the buffer is pinned) lets the copy run
        behind the host."""
        if non_blocking is None:
            non_blocking = self.buffer.device.type == "cpu" and self.buffer.is_pinned()
        return dataclasses.replace(self, buffer=self.buffer.to(device, non_blocking=non_blocking))

    def unpack(self) -> EventBatch:
        """The :class:`EventBatch` these events stand for (on the same device; ``p`` as 0/1). Needs the times."""
        if self.t is None:
            raise ConfigError("these events were packed without their times (times=False): only the 'number' split "
                              "can use them; pack with times=True to unpack them")
        width, height = self.sensor_size
        pixel = self.pixel.to(torch.int64)
        on = pixel >= height * width
        pixel = pixel - on.to(torch.int64) * (height * width)
        lengths = self.lengths
        t = self.t.to(torch.int64) + torch.repeat_interleave(self.t0, lengths, output_size=self.n_events)
        return EventBatch(t=t, x=(pixel % width).to(torch.int32), y=(pixel // width).to(torch.int32),
                          p=on.to(torch.uint8), lengths=lengths.clone(), sensor_size=self.sensor_size, checked=True)


def _new_buffer(nbytes: int, shared: bool) -> torch.Tensor:
    if not shared:
        return torch.empty(nbytes, dtype=torch.uint8)
    # What torch's default_collate does in a worker: build the batch in shared memory at once, so that sending it to
    # the main process copies nothing more.
    storage = torch.empty(0, dtype=torch.uint8)._typed_storage()._new_shared(nbytes, device="cpu")
    return torch.empty(0, dtype=torch.uint8).set_(storage)


def pack_events(streams: Sequence, sensor_size=None, *, times: bool = True, shared: bool | None = None) -> PackedEvents:
    """EventStreams (or validated structured arrays, with ``sensor_size``) as one :class:`PackedEvents`: what
    :func:`stack_events` gives, in 2-8 bytes per event instead of 17. ``times=False`` leaves the timestamps out (the
    ``'number'`` split does not read them). ``shared`` (default: inside a DataLoader worker) builds the buffer in
    shared memory, so that handing it to the main process copies nothing."""
    arrays, (width, height) = _batch_arrays(streams, sensor_size, "pack_events")
    plane = width * height
    pixel_np, pixel_dtype = next((n, t) for n, t in _PIXEL_DTYPES if 2 * plane - 1 <= np.iinfo(n).max)
    three = pixel_np is np.int32 and 2 * plane - 1 < _PIXEL_24_LIMIT
    lengths = np.array([len(array) for array in arrays], dtype=np.int64)
    t0 = np.array([array["t"][0] if len(array) else 0 for array in arrays], dtype=np.int64)
    max_span = max(int(array["t"][-1]) - int(array["t"][0]) if len(array) else 0 for array in arrays)
    time_np = None if not times else np.dtype(np.int32 if max_span < 2**31 else np.int64)
    if shared is None:
        shared = torch.utils.data.get_worker_info() is not None
    n_samples, n_events = len(arrays), int(lengths.sum())
    layout = PackedEvents(torch.empty(0, dtype=torch.uint8), n_samples, n_events, (width, height), pixel_dtype,
                          None if time_np is None else _TORCH_FROM_NUMPY[time_np], max_span, 3 if three else 0)
    sections = layout._sections()
    last_offset, last_count, _, last_size = list(sections.values())[-1]
    buffer = _new_buffer(_aligned(last_offset + last_count * last_size), shared)
    raw = buffer.numpy()

    def view(name, dtype):
        offset, count, _, size = sections[name]
        return raw[offset:offset + count * size].view(dtype)

    view("lengths", np.int64)[:] = lengths
    view("t0", np.int64)[:] = t0
    pixels = view("pixel", np.uint8 if three else pixel_np)
    stamps = view("t", time_np) if time_np is not None else None
    fast = kernels()  # a numba pass where numba is importable: about 4x the numpy expression on 1 M events
    start = 0
    for array, first in zip(arrays, t0, strict=True):
        stop = start + len(array)
        if stop == start:
            continue
        pixel = pixels[3 * start:3 * stop] if three else pixels[start:stop]
        if fast is not None:
            (fast.pack_pixels24 if three else fast.pack_pixels)(array, width, height, pixel)
        else:
            # ((p != 0) * H + y) * W + x, computed in place in the output's own dtype (every partial value fits)
            value = np.empty(stop - start, np.int32) if three else pixel
            np.not_equal(array["p"], 0, out=value, casting="unsafe")
            np.multiply(value, height, out=value)
            np.add(value, array["y"], out=value, casting="unsafe")
            np.multiply(value, width, out=value)
            np.add(value, array["x"], out=value, casting="unsafe")
            if three:
                triplets = pixel.reshape(-1, 3)
                for byte in range(3):
                    np.right_shift(value, 8 * byte, out=triplets[:, byte], casting="unsafe")
        if stamps is not None:
            np.subtract(array["t"], first, out=stamps[start:stop], casting="unsafe")  # in int64, then stored
        start = stop
    return dataclasses.replace(layout, buffer=buffer)


def batch_count_frames(
    batch: EventBatch | PackedEvents | Sequence,
    n_frames: int = NEUROCLIP_FRAMES,
    split_by: str = "number",
    *,
    sensor_size=None,
    dtype: torch.dtype = torch.int32,
    device=None,
    validate: bool = True,
) -> torch.Tensor:
    """Per-polarity counts of a whole batch at once: ``[B, T, 2, H, W]``, on the batch's device.

    Equal to :func:`count_frames` on each stream (``split_by`` ``'number'`` or ``'time'``, with the same edge cases),
    computed without a loop over samples:

    1. the ``B*T`` segment lengths: for ``'number'`` from the event counts; for ``'time'`` by one ``searchsorted`` of
       the segment edges in a key ``t - t_first(b) + b*M`` that is sorted across the whole batch (``M`` > any span);
    2. every event's global segment ``b*T + j`` by one ``repeat_interleave`` of those lengths;
    3. one ``index_add_`` of ones at ``(segment*2 + polarity)*H*W + y*W + x`` into a flat int32 tensor.

    Runs on CUDA when the batch lives there (``batch.to('cuda')`` or ``device=``). ``validate`` checks that
    coordinates lie inside the sensor and that each sample is sorted by time (one synchronisation); a batch from
    :func:`stack_events` was checked already and is not checked again, nor is a :class:`PackedEvents` (from
    :func:`pack_events`, which validates what it packs).
    """
    n_frames = _check_int("n_frames", n_frames, 1)
    _check_split(split_by, "batch_count_frames")
    batch, packed = _on_device(batch, sensor_size, device)
    if split_by == "time":
        _require_times(batch, packed, "the 'time' split")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    frames = torch.zeros(n_samples * n_frames * 2 * height * width, dtype=dtype, device=batch.device)
    if total == 0:
        return frames.reshape(n_samples, n_frames, 2, height, width)
    segment = _batch_segments(batch, packed, _batch_lengths(batch, packed, validate), n_frames, split_by)
    index = segment * (2 * height * width)
    index += _batch_pixels(batch, packed)
    frames.index_add_(0, index, torch.ones(1, dtype=dtype, device=batch.device).expand(total))
    return frames.reshape(n_samples, n_frames, 2, height, width)


def _on_device(batch, sensor_size, device):
    """``(EventBatch or PackedEvents on device, whether packed)`` of what the batched encoders take."""
    packed = isinstance(batch, PackedEvents)
    if not isinstance(batch, EventBatch | PackedEvents):
        batch = stack_events(batch, sensor_size, device)
    elif device is not None:
        batch = batch.to(device)
    return batch, packed


def _n_events(batch, packed: bool) -> int:
    """The number of events in the whole batch."""
    return batch.n_events if packed else int(batch.x.numel())


def _check_split(split_by: str, caller: str) -> None:
    if split_by not in ("number", "time"):
        raise ConfigError(f"{caller} splits by 'number' or 'time' (a fixed T per sample); got {split_by!r}")


def _require_times(batch, packed: bool, what: str) -> None:
    if packed and batch.t is None:
        raise ConfigError(f"these events were packed without their times (times=False); {what} needs them: pack "
                          "with times=True")


def _batch_lengths(batch, packed: bool, validate: bool = True) -> torch.Tensor:
    """The samples' event counts (int64, on the batch's device), after checking an unchecked EventBatch when
    ``validate``."""
    lengths = batch.lengths.to(device=batch.device, dtype=torch.int64)
    if validate and not packed and not batch.checked:
        _check_batch(batch, *batch.sensor_size, lengths)
    return lengths


def _batch_segments(batch, packed: bool, lengths: torch.Tensor, n_frames: int, split_by: str) -> torch.Tensor:
    """Every event's global segment ``b*T + j`` (``split_by_number``'s or ``split_by_time``'s, per sample)."""
    n_samples, total = len(batch), _n_events(batch, packed)
    if split_by == "number":
        step = torch.div(lengths, n_frames, rounding_mode="floor")
        segment_lengths = step[:, None].repeat(1, n_frames)
        segment_lengths[:, -1] = lengths - step * (n_frames - 1)
    else:
        segment_lengths = _time_segment_lengths(batch.t, lengths, n_frames,
                                                max_span=batch.max_span if packed else None)
    return torch.repeat_interleave(
        torch.arange(n_samples * n_frames, device=batch.device), segment_lengths.reshape(-1), output_size=total
    )


def _first_and_span(t: torch.Tensor, lengths: torch.Tensor):
    """``(offsets, first, span)`` per sample: where its events start in ``t``, its first timestamp and its last
    minus its first (0 for an empty sample)."""
    total = t.numel()
    offsets = torch.cumsum(lengths, 0) - lengths
    nonempty = lengths > 0
    first = torch.where(nonempty, t[offsets.clamp(max=total - 1)], 0)
    last = torch.where(nonempty, t[(offsets + lengths - 1).clamp(min=0)], 0)
    return offsets, first, last - first


def _batch_pixels(batch, packed: bool) -> torch.Tensor:
    """Every event's ``(p != 0) * H * W + y * W + x``."""
    if packed:  # stored so already
        return batch.pixel
    width, height = batch.sensor_size
    pixel = batch.y.to(torch.int32) * width
    pixel += batch.x
    pixel += (batch.p != 0).to(torch.int32) * (height * width)
    return pixel


def batch_time_surface(batch, n_frames: int = NEUROCLIP_FRAMES, split_by: str = "number",
                       decay_us: float = 50_000.0, *, sensor_size=None, device=None,
                       validate: bool = True) -> torch.Tensor:
    """:func:`time_surface` of each sample at the ends of its ``split_by`` segments, for a whole batch at once:
    float32 ``[B, T, 2, H, W]`` on the batch's device. Each pixel's latest timestamp per segment by one
    ``scatter_reduce`` (amax), carried over the segments by a running maximum. The same values as the CPU function
    up to the last bit of ``exp`` (torch's and numpy's float32 exp may differ by one unit in the last place)."""
    n_frames = _check_int("n_frames", n_frames, 1)
    decay_us = _check_real("decay_us", decay_us, positive=True)
    _check_split(split_by, "batch_time_surface")
    batch, packed = _on_device(batch, sensor_size, device)
    _require_times(batch, packed, "batch_time_surface")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    plane = 2 * height * width
    surface = torch.zeros(n_samples, n_frames, 2, height, width, dtype=torch.float32, device=batch.device)
    if total == 0:
        return surface
    segment = _batch_segments(batch, packed, _batch_lengths(batch, packed, validate), n_frames, split_by)
    t = batch.t.to(torch.int64)  # relative to each sample's start when packed: ages are differences of times
    latest = torch.full((n_samples * n_frames * plane,), -1, dtype=torch.int64, device=batch.device)
    latest.scatter_reduce_(0, segment * plane + _batch_pixels(batch, packed), t, "amax")
    latest = torch.cummax(latest.view(n_samples, n_frames, plane), dim=1).values
    t_ref = torch.full((n_samples * n_frames,), -1, dtype=torch.int64, device=batch.device)
    t_ref.scatter_reduce_(0, segment, t, "amax")  # the segment's last event: times are sorted per sample
    t_ref = torch.cummax(t_ref.view(n_samples, n_frames, 1), dim=1).values
    values = torch.exp((t_ref - latest).to(torch.float32) / torch.tensor(-decay_us, dtype=torch.float32))
    values[(latest < 0) | (t_ref < 0).expand_as(latest)] = 0
    return values.view(n_samples, n_frames, 2, height, width)


def batch_voxel_grid(batch, n_bins: int = NEUROCLIP_FRAMES, *, sensor_size=None, device=None,
                     validate: bool = True) -> torch.Tensor:
    """:func:`voxel_grid` of each sample, for a whole batch at once: float32 ``[B, n_bins, 1, H, W]`` on the batch's
    device. The same shares (times normalised per sample in float64, cast to float32), added by ``index_add_``:
    every left share, then every right share. On a CPU the sums come in the same order as the numpy function's, so
    the grids are equal bit for bit; a GPU adds them in any order (differences in the last bits)."""
    n_bins = _check_int("n_bins", n_bins, 1)
    batch, packed = _on_device(batch, sensor_size, device)
    _require_times(batch, packed, "batch_voxel_grid")
    width, height = batch.sensor_size
    n_samples, total = len(batch), _n_events(batch, packed)
    plane = height * width
    grid = torch.zeros(n_samples * n_bins * plane, dtype=torch.float32, device=batch.device)
    if total == 0:
        return grid.view(n_samples, n_bins, 1, height, width)
    lengths = _batch_lengths(batch, packed, validate)
    t = batch.t.to(torch.int64)
    _, first, span = _first_and_span(t, lengths)
    sample = torch.repeat_interleave(torch.arange(n_samples, device=batch.device), lengths, output_size=total)
    # per sample: (n_bins - 1) / span in float64, as the CPU function's Python division; 0 for a zero span
    factor = torch.where(span > 0, (n_bins - 1) / span.clamp(min=1).to(torch.float64), 0.0)
    tau = (t - first[sample]).to(torch.float64) * factor[sample]
    left = torch.clamp(torch.floor(tau).to(torch.int64), max=n_bins - 1)
    right_weight = tau - left
    pixel = _batch_pixels(batch, packed).to(torch.int64)
    on = pixel >= plane
    pixel = pixel - on.to(torch.int64) * plane
    sign = torch.where(on, 1.0, -1.0).to(torch.float64)
    base = sample * (n_bins * plane) + pixel
    grid.index_add_(0, base + left * plane, (sign * (1.0 - right_weight)).to(torch.float32))
    has_right = (right_weight > 0) & (left + 1 < n_bins)
    grid.index_add_(0, (base + (left + 1) * plane)[has_right], (sign * right_weight)[has_right].to(torch.float32))
    return grid.view(n_samples, n_bins, 1, height, width)


def batch_voxel_grid_image(grid: torch.Tensor) -> torch.Tensor:
    """:func:`voxel_grid_image` of each sample of ``[B, n_bins, 1, H, W]`` (one scale per sample, computed as the
    numpy function does: 127 / peak in float64, then float32)."""
    peak = grid.abs().amax(dim=(1, 2, 3, 4)).to(torch.float64)
    scale = torch.where(peak > 0, 127.0 / peak.clamp(min=torch.finfo(torch.float64).tiny), 0.0).to(torch.float32)
    return (128 + grid * scale.view(-1, 1, 1, 1, 1)).round().clamp(0, 255).to(torch.uint8)


def _check_batch(batch: EventBatch, width: int, height: int, lengths: torch.Tensor) -> None:
    x_min, x_max = torch.aminmax(batch.x)
    y_min, y_max = torch.aminmax(batch.y)
    offsets = torch.cumsum(lengths, 0) - lengths
    steps = batch.t[1:] < batch.t[:-1]
    # A step back in time across two samples is allowed: clear the positions where a sample starts.
    steps[(offsets[(offsets > 0) & (lengths > 0)] - 1)] = False
    bad = torch.stack([x_min < 0, x_max >= width, y_min < 0, y_max >= height, steps.any()]).tolist()
    if any(bad[:4]):
        raise InvalidEventsError(
            f"events lie outside the {width}x{height} sensor (x in [{int(x_min)}, {int(x_max)}], y in "
            f"[{int(y_min)}, {int(y_max)}]); pass the right sensor_size, or drop them with EventStream.crop_to_sensor()"
        )
    if bad[4]:
        raise InvalidEventsError("a sample's timestamps are not sorted; sort it with EventStream.sorted() first")


def _time_segment_lengths(t: torch.Tensor, lengths: torch.Tensor, n_frames: int,
                          max_span: int | None = None) -> torch.Tensor:
    """``[B, T]`` event counts of spikingjelly's equal-duration segments, for every sample at once (``t`` absolute,
    or relative to each sample's first event). ``max_span``, the longest span when known, saves a synchronisation."""
    n_samples, total = lengths.numel(), t.numel()
    offsets, first, span = _first_and_span(t, lengths)
    stride = (int(span.max()) if max_span is None else int(max_span)) + 1
    if n_samples * stride >= 2**62:
        raise ConfigError(
            f"the batch's recordings span up to {stride - 1} us, too long to split {n_samples} at once; "
            "pass fewer streams per batch"
        )
    # Sorted over the whole batch: sample b's keys lie in [b*stride, b*stride + span_b].
    base = torch.arange(n_samples, device=t.device) * stride
    key = t + torch.repeat_interleave(base - first, lengths, output_size=total)
    step = torch.div(span, n_frames, rounding_mode="floor")
    edges = base[:, None] + step[:, None] * torch.arange(n_frames, device=t.device)
    starts = torch.searchsorted(key, edges.reshape(-1)).reshape(n_samples, n_frames)
    starts[:, 0] = offsets
    stops = torch.empty_like(starts)
    stops[:, :-1] = starts[:, 1:]
    stops[:, -1] = offsets + lengths
    return stops - starts



# --------------------------------------------------------------------------------------------------- to CLIP


def to_clip_input(
    images,
    size: int = CLIP_INPUT_SIZE,
    normalization: str = "neuroclip",
    dtype: torch.dtype = torch.float32,
    device=None,
    *,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
) -> torch.Tensor:
    """Images ``[..., C, H, W]`` (C = 1 or 3, values 0..255) to CLIP input ``[..., 3, size, size]`` (torch).

    The steps of NeuroCLIP's ``mv_proj``: bilinear resize to ``size`` x ``size`` (``align_corners=False``, after the
    discrete mapping, so edges get intermediate greys), grey replicated to 3 channels, then normalised:

    * ``'neuroclip'``: ``x/255 - 0.5`` (NeuroCLIP's and PointCLIP's; CLIP's mean/std is not applied);
    * ``'clip'``: ``(x/255 - mean) / std`` per channel, CLIP's own preprocessing: pass the backbone's
      ``image_mean``/``image_std`` (default OpenAI's CLIP_MEAN/CLIP_STD; SigLIP's are 0.5, for instance);
    * ``'none'``: ``x/255``.

    Computed in float32 on the images' device (or ``device``), returned as ``dtype``.
    """
    size = _check_int("size", size, 1)
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {normalization!r}")
    if normalization == "clip":
        mean, std = check_mean_std(mean, std)
    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        tensor = tensor.to(device)
    if tensor.ndim < 3 or tensor.shape[-3] not in (1, 3):
        hint = (
            " (per-polarity counts are not an image: encode them first, e.g. with discrimination())"
            if (tensor.ndim >= 3 and tensor.shape[-3] == 2)
            else ""
        )
        raise ConfigError(f"to_clip_input needs images [..., C, H, W] with C = 1 or 3; got {tuple(tensor.shape)}{hint}")
    leading, (channels, height, width) = tensor.shape[:-3], tensor.shape[-3:]
    flat = tensor.reshape(-1, channels, height, width).to(torch.float32)
    if flat.shape[0] and (height, width) != (size, size):
        flat = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
    flat = flat.expand(-1, 3, -1, -1) if channels == 1 else flat
    if normalization == "neuroclip":
        flat = flat / 255.0 - 0.5
    elif normalization == "clip":
        # made on the host and sent without blocking (torch.tensor(..., device=gpu) would synchronise)
        mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1).to(flat.device, non_blocking=True)
        std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1).to(flat.device, non_blocking=True)
        flat = (flat / 255.0 - mean) / std
    else:
        flat = flat / 255.0
    return flat.to(dtype).reshape(*leading, 3, size, size)

