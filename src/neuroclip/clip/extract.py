"""Per-frame CLIP features of a whole dataset split: batched, sharded, cached on disk, resumable, and split across
processes under ``torchrun`` (one share of the shards per rank, merged by rank 0).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from neuroclip.cache import CachedFeatures, CacheError, FeatureCache, samples_digest, write_shard
from neuroclip.clip.features import FrameConfig
from neuroclip.datasets.base import Subset
from neuroclip.errors import ConfigError
from neuroclip.frames.clip_input import clip_frames_batch, frames_on_device, needs_times
from neuroclip.processes import current_processes

FEATURE_DTYPES = {"float32": np.float32, "float16": np.float16}


def feature_config(dataset, frame_config: FrameConfig, backbone, feature_dtype: str = "float32") -> dict:
    """Everything the cached features depend on (the package version is added by the cache key)."""
    return {
        "dataset": getattr(dataset, "name", type(dataset).__name__),
        "root": str(Path(getattr(dataset, "root", "")).resolve()) if getattr(dataset, "root", None) else None,
        "split": getattr(dataset, "split", None),
        "n_samples": len(dataset),
        "samples": samples_digest(dataset.samples) if hasattr(dataset, "samples") else None,
        "frames": frame_config.record() | {"image_size": backbone.image_size,
                                                      "mean": backbone.image_mean, "std": backbone.image_std},
        # the activation is part of the model: features cached before a tag's QuickGELU was honoured do not match
        "backbone": backbone.spec.identity() | {"weights": backbone.fingerprint(), "activation": backbone.activation},
        "amp": str(backbone.amp_dtype),
        "feature_dtype": feature_dtype,
    }


def _encode_indices(dataset, indices, backbone, frame_config, batch_size, num_workers, progress,
                    device_frames: bool | None = None):
    indices = list(indices)
    subset = torch.utils.data.Subset(dataset, indices)
    pin = backbone.device.type == "cuda"
    if device_frames is None:
        device_frames = backbone.device.type != "cpu"
    if device_frames and frames_on_device(frame_config):
        # workers read and stack events; counting, encoding, resizing and normalising run batched on the device
        from neuroclip.datasets.loader import make_event_loader

        # packed: 2-8 bytes per event instead of 17, in one buffer (one pinned copy, one transfer); the timestamps
        # only when framing reads them
        loader = make_event_loader(subset, batch_size, num_workers, pin_memory=pin, packed=True,
                                   times=needs_times(frame_config))
        batches = ((clip_frames_batch(events, frame_config, backbone.image_size, mean=backbone.image_mean,
                                      std=backbone.image_std, device=backbone.device), labels, positions)
                   for events, labels, positions in loader)
    else:
        from neuroclip.datasets.loader import make_loader

        batches = make_loader(subset, frame_config, backbone.image_size, batch_size, num_workers, pin_memory=pin,
                              mean=backbone.image_mean, std=backbone.image_std)
    # the outputs are allocated once and filled in place: a few small arrays kept per batch between the large
    # short-lived image batches made glibc's heap grow by about the batch's images for every batch (0.45 MB per
    # N-MNIST recording at 64 px: 1,000 recordings left 1.5 GB resident instead of 1.0 GB)
    n = len(indices)
    features, labels, order = None, np.empty(n, np.int64), np.empty(n, np.int64)
    positions_to_indices = np.asarray(indices)
    filled = 0  # rows of ``labels``/``order`` written; ``features`` lags one batch behind
    pending = None  # the last batch's features on their way to the host: waited for after the next batch is queued

    def land(pending, start):
        host = _arrived(pending)
        features[start:start + host.shape[0]] = host

    for images, batch_labels, positions in batches:
        encoded = backbone.encode_images(images.flatten(0, 1)).reshape(images.shape[0], images.shape[1], -1)
        if features is None:
            features = np.empty((n, *encoded.shape[1:]), np.float32)
        if pending is not None:
            land(*pending)
        size = images.shape[0]
        pending = (_to_host(encoded), filled)
        labels[filled:filled + size] = np.asarray(batch_labels)
        order[filled:filled + size] = positions_to_indices[np.asarray(positions)]
        filled += size
        if progress is not None:
            progress.update(size)
    if pending is not None:
        land(*pending)
    if filled != n:
        raise ConfigError(f"the loader gave {filled} of the {n} samples asked for")
    return features, labels, order


def _to_host(features: torch.Tensor):
    """Start copying ``features`` to the host without waiting for the GPU: it keeps the next batch queued behind."""
    if features.device.type != "cuda":
        return features.cpu(), None
    host = features.to("cpu", non_blocking=True)
    done = torch.cuda.Event()
    done.record()
    return host, done


def _arrived(pending) -> np.ndarray:
    host, done = pending
    if done is not None:
        done.synchronize()
    return host.numpy()


def extract_features(dataset, backbone, frame_config: FrameConfig = FrameConfig(), cache: FeatureCache | None = None,
                     *, batch_size: int = 32, num_workers: int = 0, shard_size: int = 4096,
                     feature_dtype: str = "float32", refresh: bool = False, progress: bool = True,
                     device_frames: bool | None = None) -> CachedFeatures:
    """Features [N, T, C] of every sample of ``dataset`` (``dataset[i] -> (EventStream, label)``).

    With a cache, a complete entry is returned at once; otherwise shards are extracted (skipping shards an
    interrupted run already wrote), each rank of a ``torch.distributed`` job taking shards rank, rank + world, ...,
    and rank 0 finishes the entry. All ranks return the merged features. A :class:`~neuroclip.datasets.Subset`
    (a few-shot run's drawn recordings) is served from the whole split's entry when there is one, else from the
    split's stored rows, encoding only the recordings no earlier run did (:meth:`FeatureCache.add_rows`).

    ``device_frames``: make the frames batched on the backbone's device, the workers only reading events (default:
    when the backbone is on an accelerator; the count-based encodings only). The features are the same either way.
    """
    if feature_dtype not in FEATURE_DTYPES:
        raise ConfigError(f"feature_dtype must be one of {', '.join(FEATURE_DTYPES)}; got {feature_dtype!r}")
    if batch_size < 1 or shard_size < 1 or num_workers < 0:
        raise ConfigError("need batch_size >= 1, shard_size >= 1 and num_workers >= 0")
    if len(dataset) == 0:
        raise ConfigError("the dataset is empty")
    processes = current_processes()
    rank, world = processes.rank, processes.world
    config = feature_config(dataset, frame_config, backbone, feature_dtype)
    if cache is None:
        if world > 1:
            raise ConfigError("a multi-process extraction needs a feature cache on a shared file system")
        features, labels, indices = _encode_indices(dataset, range(len(dataset)), backbone, frame_config,
                                                    batch_size, num_workers, _progress_bar(progress, len(dataset)),
                                                    device_frames)
        return CachedFeatures(features.astype(np.float32), labels, indices, config, Path())
    if isinstance(dataset, Subset):
        return _extract_subset(dataset, backbone, frame_config, cache, config, feature_dtype, refresh, progress,
                               shard_size, dict(batch_size=batch_size, num_workers=num_workers,
                                                device_frames=device_frames))
    if not refresh:
        hit = cache.load(config)
        if hit is not None:
            return hit
    n_shards = math.ceil(len(dataset) / shard_size)
    done = cache.completed_shards(config) if not refresh else set()
    mine = [s for s in range(rank, n_shards, world) if s not in done]
    todo_samples = sum(min(len(dataset), (s + 1) * shard_size) - s * shard_size for s in mine)
    bar = _progress_bar(progress and rank == 0, todo_samples)
    folder = cache.start(config) if mine else None
    for shard in mine:
        indices = range(shard * shard_size, min(len(dataset), (shard + 1) * shard_size))
        features, labels, order = _encode_indices(dataset, indices, backbone, frame_config, batch_size,
                                                  num_workers, bar, device_frames)
        write_shard(folder, shard, features.astype(FEATURE_DTYPES[feature_dtype]), labels, order)
    if bar is not None:
        bar.close()
    processes.barrier()
    if rank == 0:
        cache.finalize(config, n_shards)
    processes.barrier()
    result = cache.load(config)
    if result is None:
        raise ConfigError(f"the feature cache entry under {cache.features_root} vanished after it was written")
    return result


def _extract_subset(subset, backbone, frame_config, cache: FeatureCache, config: dict, feature_dtype: str,
                    refresh: bool, progress: bool, shard_size: int, encoding: dict) -> CachedFeatures:
    """Features of a subset's recordings, keyed by its whole split: recordings earlier runs encoded (the whole
    split, or earlier draws) are read, the rest encoded (each rank a share) and added to the split's rows."""
    processes = current_processes()
    split = feature_config(subset.dataset, frame_config, backbone, feature_dtype)
    wanted = np.asarray(subset.indices, dtype=np.int64)
    whole = None if refresh else cache.load(split, indices=wanted)  # the shards holding them, not the whole split
    if whole is not None:
        return dataclasses.replace(whole, config=config)
    stored = None if refresh else cache.load_rows(split)
    missing = np.unique(wanted) if stored is None else np.setdiff1d(wanted, stored[2])
    mine = missing[processes.rank::processes.world]
    if mine.size:
        bar = _progress_bar(progress and processes.rank == 0, mine.size)
        for start in range(0, mine.size, shard_size):  # stored a shard at a time: an interrupted run resumes
            features, labels, order = _encode_indices(subset.dataset, mine[start:start + shard_size].tolist(),
                                                      backbone, frame_config, progress=bar, **encoding)
            cache.add_rows(split, features.astype(FEATURE_DTYPES[feature_dtype]), labels, order)
        if bar is not None:
            bar.close()
    processes.barrier()
    if missing.size:
        stored = cache.load_rows(split)
    found = None if stored is None else np.minimum(np.searchsorted(stored[2], wanted), stored[2].size - 1)
    if found is None or not np.array_equal(stored[2][found], wanted):
        raise CacheError(f"the feature cache rows under {cache.rows(split)} lack recordings just encoded: was the "
                         f"folder removed while this run was writing it?")
    return CachedFeatures(stored[0][found], stored[1][found], np.arange(wanted.size), config, cache.rows(split))


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rec", desc="CLIP features", leave=False)
