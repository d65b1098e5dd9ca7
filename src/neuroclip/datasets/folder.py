"""Datasets read lazily from folders: ``root/<class>/<recordings>`` and the N-MNIST layout built on it."""

from __future__ import annotations

from pathlib import Path

from neuroclip.errors import ConfigError
from neuroclip.events import read_events
from neuroclip.events.io.dispatch import _EXTENSIONS

RECORDING_EXTENSIONS = tuple(sorted(set(_EXTENSIONS) | {".aedat"}))


class FolderDataset:
    """Recordings in ``root/<class name>/<file>``; labels follow the sorted class folder names (or ``classes``).

    Nothing is read until an item is requested: ``dataset[i]`` returns ``(EventStream, label)``.
    """

    def __init__(self, root, classes: list[str] | None = None, extensions=RECORDING_EXTENSIONS, sensor_size=None,
                 transform=None):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ConfigError(f"dataset folder {self.root} does not exist")
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.classes = list(classes) if classes is not None else folders
        missing = [c for c in self.classes if c not in folders]
        if missing:
            raise ConfigError(f"{self.root} has no folder for class(es) {missing[:5]}; it has {folders[:10]}")
        self.samples = [
            (path, label)
            for label, name in enumerate(self.classes)
            for path in sorted((self.root / name).iterdir())
            if path.is_file() and path.suffix.lower() in extensions
        ]
        if not self.samples:
            raise ConfigError(f"no recordings ({', '.join(extensions)}) under {self.root}/<class>/")
        self.sensor_size = sensor_size
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        stream = read_events(path, sensor_size=self.sensor_size)
        return (self.transform(stream) if self.transform else stream), label

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]


class NMNIST(FolderDataset):
    """N-MNIST in its official layout: ``root/Train/<digit>/*.bin`` and ``root/Test/<digit>/*.bin``
    (60,000 / 10,000 recordings; Orchard et al. 2015). ``split`` is ``train`` or ``test``."""

    SPLITS = {"train": "Train", "test": "Test"}

    def __init__(self, root, split: str = "test", transform=None):
        if split not in self.SPLITS:
            raise ConfigError(f"N-MNIST split must be 'train' or 'test', got {split!r}")
        folder = Path(root).expanduser() / self.SPLITS[split]
        if not folder.is_dir():
            raise ConfigError(
                f"{folder} does not exist: an N-MNIST root holds Train/<digit>/*.bin and Test/<digit>/*.bin "
                "(tonic.datasets.NMNIST(save_to=...) downloads and unpacks it in that layout)"
            )
        super().__init__(folder, classes=[str(d) for d in range(10)], extensions=(".bin",), sensor_size=(34, 34),
                         transform=transform)
        self.split = split
