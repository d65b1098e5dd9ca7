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


def check_test_fraction(fraction) -> None:
    """The share of a split scored by :func:`split_test_part` lies strictly between 0 and 1."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"the test fraction must lie between 0 and 1 (exclusive), got {fraction!r}")


def split_test_part(labels, fraction: float, seed: int, n_classes: int | None = None, shots: int = 1,
                    classnames=None):
    """(pool, test) positions for scoring within one split: ``max(1, round(fraction * n))`` of each class's ``n``
    recordings, drawn with ``seed``, are scored, and the shots come from the rest, which must hold ``shots`` per
    class. Every seed scores the same number of recordings per class, so runs pair seed by seed."""
    check_test_fraction(fraction)
    rng = np.random.default_rng([int(seed), 0x7E57])  # a stream apart from the shot draws of the same seed
    pool, test = [], []
    for label, positions in enumerate(_class_positions(labels, n_classes)):
        scored = max(1, round(fraction * positions.size))
        if positions.size - scored < shots:
            name = repr(classnames[label]) if classnames is not None else label
            raise ConfigError(f"class {name} has {positions.size} recording(s): scoring {scored} of them leaves "
                              f"{positions.size - scored} for {shots} shot(s); lower --shots or --test-fraction, "
                              "or add recordings")
        held = np.sort(rng.choice(positions, size=scored, replace=False))
        test.append(held)
        pool.append(np.setdiff1d(positions, held))
    return np.concatenate(pool), np.concatenate(test)
