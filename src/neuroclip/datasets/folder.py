"""Your own recordings, read lazily from class folders: ``root/<class>/<recordings>``."""

from __future__ import annotations

import os
from pathlib import Path

from neuroclip.datasets.base import EventDataset, class_folder_records, require_records, split_records
from neuroclip.errors import ConfigError
from neuroclip.events.io.dispatch import _EXTENSIONS

RECORDING_EXTENSIONS = tuple(sorted(set(_EXTENSIONS) | {".aedat"}))


def recordings_under(folder, what: str) -> list[Path]:
    """Every file under ``folder`` (at any depth) with a :data:`RECORDING_EXTENSIONS` suffix, sorted; ``what`` names
    the option or setting in the error for a missing folder or one without recordings."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{what}: folder {folder} does not exist")
    found = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in RECORDING_EXTENSIONS)
    if not found:
        raise ConfigError(f"{what}: no recordings ({', '.join(RECORDING_EXTENSIONS)}) under {folder}")
    return found


class FolderDataset(EventDataset):
    """Your recordings in class folders; labels follow the sorted class folder names (or ``classes``).

    Layouts:

    * ``split=None`` (or ``'all'``): ``root/<class name>/<file>``, every recording;
    * ``split='train' | 'val' | 'train_full' | 'test'``: ``root/train/<class>/<file>`` and ``root/test/<class>/<file>``;
      ``val`` is held out from ``root/train`` by the shipped hashed rule (``splits/folder.json``).

    Any format :func:`neuroclip.read_events` reads counts as a recording. Nothing is read until an item is
    requested: ``dataset[i]`` returns ``(EventStream, label)``.
    """

    name = "folder"
    TITLE = "a folder dataset"
    LAYOUT = "root/<class>/<recordings>, or root/train/<class>/... and root/test/<class>/... for splits"
    MANUAL_DOWNLOAD = "a folder dataset is your own data: there is nothing to download"

    def __init__(self, root, classes: list[str] | None = None, extensions=RECORDING_EXTENSIONS, sensor_size=None,
                 transform=None, split: str | None = None):
        root = Path(root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"dataset folder {root} does not exist; expected {self.LAYOUT}")
        extensions = tuple(e.lower() for e in extensions)
        if split in (None, "all"):
            class_root = root
        else:
            if not (root / "train").is_dir() or not (root / "test").is_dir():
                raise ConfigError(f"split {split!r} needs {root}/train/<class>/ and {root}/test/<class>/; for one "
                                  "folder of class folders use split='all' (every recording; neuroclip fewshot "
                                  "--within all draws the shots and the scored recordings from it)")
            class_root = root / "train"
        if classes is None:
            classes = sorted(entry.name for entry in os.scandir(class_root) if entry.is_dir())
        if split in (None, "all"):
            records = class_folder_records(root, root, classes, extensions)
            require_records(records, f"{root}/<class>/", extensions)
        else:
            records = split_records(
                split, "folder",
                lambda: require_records(class_folder_records(root / "train", root, classes, extensions),
                                         f"{root}/train/<class>/", extensions),
                lambda: require_records(class_folder_records(root / "test", root, classes, extensions),
                                         f"{root}/test/<class>/", extensions),
            )
        super().__init__(root, split or "all", records, classes, sensor_size, transform)
