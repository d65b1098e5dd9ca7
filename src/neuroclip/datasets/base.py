"""What every event dataset shares: a list of samples found on disk, read one at a time, and a fixed split.

A dataset never holds recordings in memory: ``dataset[i]`` reads one file (or one time window of it) and returns
``(EventStream, label)``. ``.samples`` lists ``(path, label)``, ``.labels`` the labels, ``.classes`` the class
(folder or label) names in label order, ``.name`` the key of its prompt class names in
:data:`neuroclip.datasets.classnames.CLASSNAME_SETS`. ``dataset.subset(indices)`` selects samples without reading
anything.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from neuroclip.datasets.downloads import download_into
from neuroclip.datasets.splitting import check_split, held_out_mask, split_spec
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, read_events


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One sample: its file (relative to the dataset root, POSIX separators), its label and, for windowed
    datasets, its time window ``[start_us, stop_us)``.

    ``key`` (what hashed splits rank the sample by) and ``group`` (what is held out with it) default to ``file``;
    a gesture window has its own key and its trial as group. Strings and slots keep a million records in about
    200 MB (a ``Path`` per sample would double that).
    """

    file: str
    label: int
    window: tuple[int, int] | None = None
    key: str | None = None
    group: str | None = None

    @property
    def split_key(self) -> str:
        return self.key or self.file

    @property
    def split_group(self) -> str:
        return self.group or self.file


def relative_key(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators (``''`` for root itself)."""
    relative = Path(os.path.relpath(path, root)).as_posix()
    return "" if relative == "." else relative


def list_files(folder: Path, extensions: Sequence[str]) -> list[str]:
    """The names of the files in ``folder`` with one of ``extensions`` (lower-case, with the dot), sorted.

    ``os.scandir`` reads the file type from the directory entry, so a folder of a million recordings costs one
    directory read, not a million ``stat`` calls.
    """
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries
                      if entry.is_file() and os.path.splitext(entry.name)[1].lower() in extensions)


def class_folder_records(split_root: Path, dataset_root: Path, classes: Sequence[str],
                         extensions: Sequence[str]) -> list[Record]:
    """Records of ``split_root/<class>/<file>`` with labels in the order of ``classes`` (every class folder must
    exist; a class folder may be empty)."""
    folders = {entry.name for entry in os.scandir(split_root) if entry.is_dir()}
    missing = [name for name in classes if name not in folders]
    if missing:
        raise ConfigError(f"{split_root} has no folder for class(es) {missing[:5]}"
                          f"{' ...' if len(missing) > 5 else ''}; it has {sorted(folders)[:10]}")
    prefix = relative_key(split_root, dataset_root)
    records = []
    for label, name in enumerate(classes):
        folder = f"{prefix}/{name}" if prefix else name
        records.extend(Record(f"{folder}/{file}", label) for file in list_files(split_root / name, extensions))
    return records


def require_records(records: list, where: str, extensions) -> list:
    """``records``, or a :class:`ConfigError` saying that ``where`` holds no recording of ``extensions``."""
    if not records:
        raise ConfigError(f"no recordings ({', '.join(extensions)}) under {where}")
    return records


def find_root(root, candidates: Sequence[str], is_layout: Callable[[Path], bool]) -> Path | None:
    """The first of ``root/<candidate>`` (``''`` = root itself) whose layout ``is_layout`` accepts, or None."""
    root = Path(root).expanduser()
    for candidate in candidates:
        folder = root / candidate if candidate else root
        if folder.is_dir() and is_layout(folder):
            return folder
    return None


def split_records(split: str, dataset: str, train_full: Callable[[], list[Record]],
                  test: Callable[[], list[Record]], spec: dict | None = None) -> list[Record]:
    """The records of ``split``, listing only the part of the data that the split needs.

    ``val`` and ``train`` partition ``train_full`` by the shipped hashed rule (see :mod:`splitting`).
    """
    check_split(split, dataset)
    if split == "test":
        return test()
    records = train_full()
    if split == "train_full":
        return records
    rule = (spec or split_spec(dataset))["val"]
    groups = [r.split_group for r in records] if rule.get("group") == "trial" else None
    held = held_out_mask([r.split_key for r in records], [r.label for r in records], rule["fraction"],
                         rule["seed"], groups)
    want_val = split == "val"
    return [r for r, is_val in zip(records, held) if is_val == want_val]


def fit_sensor(stream: EventStream, size: tuple[int, int]) -> EventStream:
    """The stream on the dataset's nominal sensor ``size`` when every event fits in it, else unchanged.

    Datasets of crops (N-CARS, N-Caltech101) come from their readers on the full ATIS array (the DAT header's
    size, the ATIS reader's default), which would leave the object in a corner of every frame.
    """
    events = stream.events
    if events.size and (int(events["x"].max()) >= size[0] or int(events["y"].max()) >= size[1]):
        return stream
    return EventStream.unchecked(events, size, stream.metadata)


class EventDataset:
    """Base of the event datasets: lazy, indexable, with ``samples``, ``labels``, ``classes``, ``sensor_size``,
    ``name``, ``split`` and ``root``. Subclasses list their :class:`Record` objects and may override :meth:`read`.

    A subclass for a published dataset also sets ``TITLE``, ``LAYOUT`` (the on-disk layout, for error messages)
    and ``locate(root, split)``, which finds the unpacked layout in ``root`` or in tonic's folder under it.
    """

    name: str = ""
    TITLE: str = ""
    LAYOUT: str = ""
    # tonic's folder for the dataset under its ``save_to`` (``tonic.datasets.<Name>.location_on_system``); None
    # when tonic cannot fetch it
    TONIC_FOLDER: str | None = None
    # where to get a dataset no script can fetch, as a sentence
    MANUAL_DOWNLOAD: str | None = None

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        """The folder holding the dataset's layout for ``split`` (None: for every split), or None."""
        raise NotImplementedError

    @classmethod
    def missing_message(cls, root, split: str | None) -> str:
        where = f"{Path(root).expanduser()}" + (f" (for split {split!r})" if split else "")
        message = f"{where} does not hold {cls.TITLE}: expected {cls.LAYOUT}."
        if cls.TONIC_FOLDER:
            message += (f" Fetch it with tonic into ROOT/{cls.TONIC_FOLDER}: neuroclip download {cls.name} ROOT "
                        f"(Python: download=True, or neuroclip.datasets.download({cls.name!r}, root)).")
        elif cls.MANUAL_DOWNLOAD:
            message += f" {cls.MANUAL_DOWNLOAD[0].upper()}{cls.MANUAL_DOWNLOAD[1:]}."
        return message

    @classmethod
    def resolve_root(cls, root, split: str, download: bool = False) -> Path:
        """``locate``, downloading first when asked and needed; a :class:`ConfigError` naming the layout when the
        data is not there."""
        found = cls.locate(root, split)
        if found is None and download:
            download_into(cls, root)
            found = cls.locate(root, split)
        if found is None:
            raise ConfigError(cls.missing_message(root, split))
        return found

    def __init__(self, root: Path, split: str, records: list[Record], classes: Sequence[str], sensor_size,
                 transform=None):
        self.root = Path(root)
        self.split = split
        self.records = records
        self.classes = list(classes)
        self.sensor_size = None if sensor_size is None else tuple(int(v) for v in sensor_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def _record(self, index: int) -> Record:
        try:
            index = int(index)
        except TypeError:
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}") from None
        if not -len(self.records) <= index < len(self.records):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self.records)} samples")
        return self.records[index]

    def path(self, index: int) -> Path:
        """The file of sample ``index``."""
        return self.root / self._record(index).file

    def read(self, index: int) -> EventStream:
        """The recording of sample ``index``, read from disk (no transform)."""
        return read_events(self.path(index), sensor_size=self.sensor_size)

    def __getitem__(self, index: int):
        record = self._record(index)
        stream = self.read(index)
        return (self.transform(stream) if self.transform else stream), record.label

    @property
    def samples(self) -> list[tuple[Path, int]]:
        """``(path, label)`` of every sample (built on each call: keep it if you need it twice)."""
        return [(self.root / r.file, r.label) for r in self.records]

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for label in self.labels:
            counts[self.classes[label]] += 1
        return counts

    def subset(self, indices: Sequence[int]) -> Subset:
        """The samples at ``indices`` (in that order), without reading anything."""
        return Subset(self, indices)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, {len(self)} samples, {len(self.classes)} classes, "
                f"root={str(self.root)!r})")


class Subset:
    """Some samples of a dataset, by index; it reads lazily and answers like the dataset (``samples``,
    ``labels``, ``classes``, ``sensor_size``, ``name``). A subset of a subset indexes the original dataset."""

    def __init__(self, dataset, indices: Sequence[int]):
        if isinstance(dataset, Subset):
            indices = [dataset.indices[int(i)] for i in indices]
            dataset = dataset.dataset
        n = len(dataset)
        chosen = []
        for i in indices:
            i = int(i)
            if not -n <= i < n:
                raise ConfigError(f"subset index {i} is out of range for a dataset of {n} samples")
            chosen.append(i % n)
        self.dataset = dataset
        self.indices = chosen

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[self.indices[index]]

    def read(self, index: int) -> EventStream:
        return self.dataset.read(self.indices[index])

    def path(self, index: int) -> Path:
        return self.dataset.path(self.indices[index])

    @property
    def records(self) -> list[Record]:
        return [self.dataset.records[i] for i in self.indices]

    @property
    def samples(self) -> list[tuple[Path, int]]:
        return [(self.dataset.root / r.file, r.label) for r in self.records]

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    classes = property(lambda self: self.dataset.classes)
    sensor_size = property(lambda self: self.dataset.sensor_size)
    name = property(lambda self: self.dataset.name)
    split = property(lambda self: self.dataset.split)
    root = property(lambda self: self.dataset.root)

    def subset(self, indices: Sequence[int]) -> Subset:
        return Subset(self, indices)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"
