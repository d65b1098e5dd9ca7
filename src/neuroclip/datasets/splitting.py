"""Fixed, documented train / val / test splits, shipped as JSON beside this module (``splits/<dataset>.json``).

Every dataset offers four splits:

* ``'test'``: the official test set, or, where the dataset has none, a fixed rule recorded in its JSON file;
* ``'train_full'``: everything that is not test;
* ``'val'``: a held-out part of ``train_full``, carved with a fixed seed, for model selection and few-shot tuning;
* ``'train'``: ``train_full`` minus ``val``.

``val`` and ``train`` are disjoint, their union is ``train_full``, and none of them touches ``test``.

The hashed rule (used for ``val`` everywhere, and for N-Caltech101's test set) ranks samples by
``sha256(f"{seed}:{key}")``, where ``key`` is the sample's path relative to the dataset root (POSIX separators).
Per class, the ``ceil(fraction * n)`` samples with the smallest hashes are held out (never a class's last sample).
Hashes do not depend on numpy's or Python's random generators, on the platform or on where the data lives, and a
sample keeps its side of the split when unrelated files are added. Where samples share a recording (DVS128 Gesture:
the gestures of one trial), whole groups are held out instead: the ``ceil(fraction * n_groups)`` groups with the
smallest hashes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources

from neuroclip.errors import ConfigError

SPLITS = ("train", "val", "train_full", "test")


@functools.cache
def _load(name: str) -> str:
    try:
        return resources.files("neuroclip.datasets").joinpath("splits", f"{name}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no split file for dataset {name!r}; shipped: {', '.join(shipped_splits())}") from None


def shipped_splits() -> list[str]:
    """Names of the datasets with a shipped split file."""
    folder = resources.files("neuroclip.datasets").joinpath("splits")
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json"))


def split_spec(name: str) -> dict:
    """The split rules of a dataset, as shipped in ``splits/<name>.json`` (a fresh copy)."""
    return json.loads(_load(name))


def check_split(split: str, dataset: str) -> str:
    if split not in SPLITS:
        raise ConfigError(
            f"{dataset} split must be 'train', 'val', 'train_full' or 'test', got {split!r} ('val' is held out "
            "from the training data with a fixed seed; 'train_full' = 'train' + 'val')"
        )
    return split


def hash_rank(seed: int, key: str) -> int:
    """The rank of ``key`` under ``seed``: the first 8 bytes of ``sha256(f"{seed}:{key}")`` as an integer."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def _count(fraction: float, n: int) -> int:
    return min(n - 1, math.ceil(fraction * n)) if n > 1 else 0


def held_out_mask(keys: Sequence[str], labels: Sequence[int], fraction: float, seed: int,
                  groups: Sequence[str] | None = None) -> list[bool]:
    """Which items the hashed rule holds out (see the module docstring): per class, or by whole groups."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"a held-out fraction must be in [0, 1), got {fraction!r}")
    held = [False] * len(keys)
    if groups is not None:
        names = sorted(set(groups), key=lambda g: (hash_rank(seed, g), g))
        chosen = set(names[:_count(fraction, len(names))])
        return [group in chosen for group in groups]
    by_class: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_class[label].append(position)
    for positions in by_class.values():
        ranked = sorted(positions, key=lambda i: (hash_rank(seed, keys[i]), keys[i]))
        for i in ranked[:_count(fraction, len(ranked))]:
            held[i] = True
    return held


def sorted_tail_mask(names: Sequence[str], labels: Sequence[int], train_fraction: float) -> list[bool]:
    """Per class, sort the file names as strings and mark those after the first ``ceil(train_fraction * n)``:
    spikingjelly's ``split_to_train_test_set(train_fraction, ..., random_split=False)`` over a folder dataset."""
    tail = [False] * len(names)
    by_class: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_class[label].append(position)
    for positions in by_class.values():
        ordered = sorted(positions, key=lambda i: names[i])
        for i in ordered[math.ceil(len(ordered) * train_fraction):]:
            tail[i] = True
    return tail
