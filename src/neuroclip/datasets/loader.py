"""A torch DataLoader over an event dataset that yields CLIP-ready frame sequences.

Each worker reads its recordings and turns them into frames (:func:`neuroclip.frames.clip_frames`: the frame
encoding, then resizing and normalisation), so file reading and frame building run in parallel with the model in
the main process. For a model on a GPU, :func:`make_event_loader` has the workers only read and stack the events,
and the frames are made batched on the device. Batches are ``(images [B, T, 3, S, S] float32, labels [B]
int64, indices [B] int64)``, ``indices`` being positions in the dataset given (a :class:`Subset`'s own
positions for a subset).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from neuroclip.errors import ConfigError, EventFileError, NeuroclipError
from neuroclip.frames.clip_input import FrameConfig, clip_frames
from neuroclip.frames.functional import check_mean_std
from neuroclip.frames.names import CLIP_MEAN, CLIP_STD
from neuroclip.frames.tensors import pack_events, stack_events


class SampleError(EventFileError):
    """A sample could not be read or turned into frames; the message names the sample and its file.

    torch re-raises a worker's exception as ``type(error)(message)``, so this class also accepts the message
    alone; it stays a :class:`NeuroclipError` on its way out of a worker.
    """

    def __init__(self, path, problem: str | None = None):
        if problem is None:
            NeuroclipError.__init__(self, str(path))
            self.path, self.problem = "", str(path)
        else:
            super().__init__(path, problem)


class EncodedFrames(Dataset):
    """``dataset[i]`` as ``(clip_frames(stream) [T, 3, S, S], label, i)``."""

    def __init__(self, dataset, frame_config, image_size: int, mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD):
        self.dataset = dataset
        self.frame_config = frame_config
        self.image_size = int(image_size)
        self.mean = tuple(mean)
        self.std = tuple(std)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        try:
            stream, label = self.dataset[index]
            images = clip_frames(stream, self.frame_config, self.image_size, mean=self.mean, std=self.std)
        except NeuroclipError as error:
            raise SampleError(_sample_path(self.dataset, index), f"sample {index}: {error}") from None
        return images, int(label), int(index)


class RecordingEvents(Dataset):
    """``dataset[i]`` as ``(EventStream, label, i)``: what a worker does when the frames are made on the device."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        try:
            stream, label = self.dataset[index]
        except NeuroclipError as error:
            raise SampleError(_sample_path(self.dataset, index), f"sample {index}: {error}") from None
        return stream, int(label), int(index)


def _collate_recordings(items, combine=stack_events):
    """Collate: the recordings of a batch combined by ``combine`` in the worker (:func:`stack_events` into an
    :class:`EventBatch`, or :func:`pack_events` into one shared-memory buffer), or the list of EventStreams when
    their sensor sizes differ (they are then framed one by one)."""
    streams, labels, indices = zip(*items)
    try:
        events = combine(list(streams))
    except ConfigError:
        events = list(streams)
    return events, torch.tensor(labels), torch.tensor(indices)


def make_event_loader(dataset, batch_size: int = 32, num_workers: int = 0, *, pin_memory: bool = False,
                      packed: bool = False, times: bool = True, prefetch_factor: int | None = None) -> DataLoader:
    """A DataLoader yielding ``(events, labels [B], indices [B])`` for ``dataset``, in order: ``events`` an
    :class:`~neuroclip.frames.EventBatch` stacked by the worker (or a list of EventStreams of different sensor
    sizes). Workers only read; the frames are made batched on the model's device
    (:func:`neuroclip.frames.clip_frames_batch`).

    ``packed``: ``events`` is a :class:`~neuroclip.frames.tensors.PackedEvents` instead (the same events in 2 to
    8 bytes each rather than 17, in one buffer the worker writes straight into shared memory: one pinned copy, one
    transfer); ``times=False`` leaves out the timestamps, which only the ``'time'`` split reads.
    ``prefetch_factor``: as for a torch DataLoader (with workers only)."""
    if len(dataset) == 0:
        raise ConfigError("the dataset is empty: there is nothing to load")
    extra = {} if num_workers == 0 or prefetch_factor is None else {"prefetch_factor": prefetch_factor}
    combine = functools.partial(pack_events, times=times) if packed else stack_events
    collate = functools.partial(_collate_recordings, combine=combine)
    events = RecordingEvents(dataset)
    if num_workers:
        _warm_up(lambda: collate([events[0]]))
    return DataLoader(events, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      pin_memory=pin_memory, **extra)


def _warm_up(first_batch) -> None:
    """Read (and collate) the first sample in this process before the DataLoader starts its workers: forked workers
    inherit the numba kernels that reading and packing load, where each would otherwise import numba and load them
    on its first batch (about a second each, for every new loader; one worker packing 640x480 recordings of 1 M events
    on our 2-core machine: 104-117 recordings/s before, 199-200 after, from a process's second loader on). A sample
    that fails here is left for the loader to report in its place."""
    try:
        first_batch()
    except NeuroclipError:
        pass


def _sample_path(dataset, index: int):
    while hasattr(dataset, "indices") and hasattr(dataset, "dataset"):  # a Subset, or torch's
        dataset, index = dataset.dataset, dataset.indices[index]
    return dataset.path(index) if hasattr(dataset, "path") else f"<{type(dataset).__name__} item {index}>"


def make_loader(dataset, frame_config=None, image_size: int = 224, batch_size: int = 32, num_workers: int = 0, *,
                shuffle: bool = False, seed: int = 0, pin_memory: bool = False, drop_last: bool = False,
                prefetch_factor: int | None = None, mean: Sequence[float] = CLIP_MEAN,
                std: Sequence[float] = CLIP_STD) -> DataLoader:
    """A DataLoader yielding ``(images [B, T, 3, S, S] float32, labels [B], indices [B])`` for ``dataset``.

    ``frame_config`` is a :class:`neuroclip.frames.FrameConfig` (default: NeuroCLIP's), ``image_size`` the
    CLIP input size S, ``mean``/``std`` the backbone's ``image_mean``/``image_std`` (used by
    ``normalization='clip'``; default OpenAI's). With ``num_workers > 0`` each worker process reads and encodes
    whole samples; the batches are the same as with ``num_workers=0``. ``shuffle`` draws the order from a
    generator seeded with ``seed``.
    """
    frame_config = FrameConfig() if frame_config is None else frame_config
    if not isinstance(frame_config, FrameConfig):
        raise ConfigError(f"frame_config must be a neuroclip.frames.FrameConfig, got "
                          f"{type(frame_config).__name__}")
    for label, value, minimum in (("image_size", image_size, 1), ("batch_size", batch_size, 1),
                                  ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{label} must be an integer >= {minimum}, got {value!r}")
    if len(dataset) == 0:
        raise ConfigError("the dataset is empty: there is nothing to load")
    if frame_config.normalization == "clip":
        mean, std = check_mean_std(mean, std)
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    extra = {} if num_workers == 0 or prefetch_factor is None else {"prefetch_factor": prefetch_factor}
    frames = EncodedFrames(dataset, frame_config, image_size, mean, std)
    if num_workers:
        _warm_up(lambda: frames[0])
    return DataLoader(frames, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, pin_memory=pin_memory,
                      drop_last=drop_last, generator=generator, **extra)
