"""Drawing shots: K distinct recordings per class with a seed, the check that a split holds them, and the validation
part carved from a train split when a protocol asks for one."""

from __future__ import annotations

import numpy as np

from neuroclip.errors import ConfigError


def _class_positions(labels: np.ndarray, n_classes: int | None) -> list[np.ndarray]:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be one-dimensional, got shape {labels.shape}")
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    return [np.flatnonzero(labels == k) for k in range(n_classes)]


def sample_shots(labels, k: int, seed: int, n_classes: int | None = None) -> np.ndarray:
    """Positions of ``k`` distinct recordings per class in ``labels``, drawn with ``seed`` without replacement;
    grouped by class, classes in label order. A class with fewer than ``k`` recordings is an error (drawing the
    same recording twice would report a K-shot result that saw fewer than K recordings)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"shots must be a positive integer, got {k!r}")
    rng = np.random.default_rng(int(seed))
    chosen = []
    for label, positions in enumerate(_class_positions(labels, n_classes)):
        if positions.size == 0:
            raise ConfigError(f"class {label} has no training recordings to draw shots from")
        if positions.size < k:
            raise ConfigError(f"class {label} has only {positions.size} training recording(s) to draw {k} shots "
                              f"from; use --shots {positions.size} or fewer")
        chosen.append(rng.choice(positions, size=int(k), replace=False))
    return np.concatenate(chosen)


def check_shots_available(dataset, shots: int) -> None:
    """Every class of ``dataset`` (a train split: ``labels``, ``classes``) must hold ``shots`` distinct recordings;
    checked from the file list, before any feature is computed."""
    counts = np.bincount(np.asarray(dataset.labels, dtype=np.int64), minlength=len(dataset.classes))
    for label, count in enumerate(counts.tolist()):
        if count < shots:
            name = dataset.classes[label]
            raise ConfigError(f"class {name!r} has {count} recording(s) in the {dataset.split} split of "
                              f"{dataset.root}, too few for {shots} shots; use --shots {count} or fewer"
                              + (", or remove its empty folder" if count == 0 else ""))


def split_validation(labels, per_class: int, seed: int = 0, n_classes: int | None = None):
    """(pool, validation) positions: up to ``per_class`` recordings of each class (at most half of it) held out,
    drawn with ``seed``; the rest is the pool the shots come from."""
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ConfigError(f"val_per_class must be a positive integer, got {per_class!r}")
    rng = np.random.default_rng(int(seed))
    pool, validation = [], []
    for label, positions in enumerate(_class_positions(labels, n_classes)):
        if positions.size < 2:
            raise ConfigError(f"class {label} has {positions.size} training recording(s): too few to hold out a "
                              "validation recording and still draw shots; pass a validation split instead")
        held = rng.choice(positions, size=min(int(per_class), positions.size // 2), replace=False)
        validation.append(np.sort(held))
        pool.append(np.setdiff1d(positions, held))
    return np.concatenate(pool), np.concatenate(validation)
