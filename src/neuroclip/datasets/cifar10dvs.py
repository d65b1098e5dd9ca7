"""CIFAR10-DVS (Li et al. 2017): 10,000 CIFAR-10 images moving on a monitor, recorded by a DVS128."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from neuroclip.datasets.base import EventDataset, Record, class_folder_records, find_root, fit_sensor, split_records
from neuroclip.datasets.classnames import CIFAR10_DVS
from neuroclip.datasets.splitting import check_split, sorted_tail_mask, split_spec
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, read_events


class CIFAR10DVS(EventDataset):
    """CIFAR10-DVS, 128x128, 1,000 recordings per class.

    Layout, as the official per-class archives (figshare, ``airplane.zip`` ... ``truck.zip``) unpack::

        root/<class>/cifar10_<class>_<i>.aedat     i = 0..999; jAER AEDAT 2.0
        root/airplane/, automobile/, bird/, cat/, deer/, dog/, frog/, horse/, ship/, truck/

    ``tonic.datasets.CIFAR10DVS`` (and ``download=True``) fetches tonic's AEDAT 4 copy, which unpacks to the same
    layout with ``.aedat4`` files under ``root/CIFAR10DVS/``; spikingjelly's converted ``events_np/<class>/*.npz``
    folder is accepted too. AEDAT 2.0 files are read with spikingjelly's axis mapping (the ``'cifar10dvs'`` layout
    of :func:`neuroclip.events.io.aedat.read_aedat2`), which NeuroCLIP used; the AEDAT 4 copy is read as stored, so
    use the original files to reproduce NeuroCLIP's frames exactly.

    CIFAR10-DVS has no official split. ``'test'`` is NeuroCLIP's (spikingjelly's
    ``split_to_train_test_set(0.9, ..., random_split=False)``): per class, the file names sorted as strings, the
    first ``ceil(0.9 n)`` train and the rest test. String order puts ``_10`` before ``_2``, so with the official
    names the test set is i = 91..99 and 909..999, not 900..999 (``splits/cifar10dvs.json`` lists them).
    ``'train_full'`` is the other 90%; ``'val'`` / ``'train'`` divide it by the shipped hashed rule.
    """

    name = "cifar10dvs"
    TITLE = "CIFAR10-DVS"
    LAYOUT = ("root/<class>/cifar10_<class>_<i>.aedat (or .aedat4 / .npz) for the 10 classes "
              f"{', '.join(CIFAR10_DVS)}")
    SENSOR_SIZE = (128, 128)
    TONIC_FOLDER = "CIFAR10DVS"
    EXTENSIONS = (".aedat", ".aedat4", ".npz")

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        return find_root(root, ["", cls.TONIC_FOLDER, "events_np"],
                         lambda folder: all((folder / name).is_dir() for name in CIFAR10_DVS))

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        folder = self.resolve_root(root, split, download)
        cache: dict[str, list[Record]] = {}

        def part(which: str) -> list[Record]:
            if not cache:
                records = class_folder_records(folder, folder, CIFAR10_DVS, self.EXTENSIONS)
                if not records:
                    raise ConfigError(f"no recordings ({', '.join(self.EXTENSIONS)}) under {folder}/<class>/")
                _refuse_duplicates(records)
                rule = split_spec(self.name)["test"]
                tail = sorted_tail_mask([r.file.rsplit("/", 1)[-1] for r in records], [r.label for r in records],
                                        rule["train_fraction"])
                cache["test"] = [r for r, is_test in zip(records, tail) if is_test]
                cache["train_full"] = [r for r, is_test in zip(records, tail) if not is_test]
            return cache[which]

        records = split_records(split, self.name, lambda: part("train_full"), lambda: part("test"))
        super().__init__(folder, split, records, CIFAR10_DVS, self.SENSOR_SIZE, transform)

    def read(self, index: int) -> EventStream:
        path = self.path(index)
        # the original AEDAT 2.0 files through spikingjelly's axis mapping, as NeuroCLIP read them
        options = {"layout": "cifar10dvs"} if path.suffix.lower() == ".aedat" else {}
        return fit_sensor(read_events(path, **options), self.SENSOR_SIZE)


def _refuse_duplicates(records: list[Record]) -> None:
    stems: dict[tuple[int, str], list[str]] = defaultdict(list)
    for record in records:
        name = record.file.rsplit("/", 1)[-1]
        stems[(record.label, os.path.splitext(name)[0])].append(name)
    for names in stems.values():
        if len(names) > 1:
            raise ConfigError(f"the same recording is there in several formats ({', '.join(names)}); keep one "
                              "format per class folder, or the split would count it twice")
