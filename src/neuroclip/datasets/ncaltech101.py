"""N-Caltech101 (Orchard et al. 2015): Caltech101 images recorded by an ATIS making three saccades."""

from __future__ import annotations

from pathlib import Path

from neuroclip.datasets.base import EventDataset, class_folder_records, find_root, fit_sensor, split_records
from neuroclip.datasets.classnames import NCALTECH101
from neuroclip.datasets.splitting import check_split, held_out_mask, split_spec
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, read_events


class NCaltech101(EventDataset):
    """N-Caltech101: 8,709 recordings in 101 classes (100 objects and ``BACKGROUND_Google``), ATIS ``.bin``.

    Layout, as ``Caltech101.zip`` of the official release unpacks (``download=True`` fetches the release's
    ``N-Caltech101-archive.zip`` with tonic into ``root/NCALTECH101`` and unpacks the ``Caltech101.zip`` inside)::

        root/<class>/image_XXXX.bin      e.g. root/accordion/image_0001.bin
        (or root/Caltech101/<class>/..., root/NCALTECH101/Caltech101/<class>/...)

    Labels follow the sorted class folder names (upper case first), as torchvision's and spikingjelly's folder
    datasets number them. Each recording is a crop of the 304x240 ATIS array within 240x180 pixels, so streams come
    on a 240x180 sensor (on the full array if a file exceeds it).

    N-Caltech101 has no official split. Ours (``splits/ncaltech101.json``): per class, the ``ceil(0.2 n)``
    recordings with the smallest ``sha256('101:<class>/<file name>')`` are ``'test'``, the rest ``'train_full'``;
    ``'val'`` / ``'train'`` divide ``train_full`` by the shipped hashed rule.
    """

    name = "ncaltech101"
    TITLE = "N-Caltech101"
    LAYOUT = "root/<class>/image_XXXX.bin for the 101 class folders (accordion ... yin_yang, BACKGROUND_Google)"
    SENSOR_SIZE = (240, 180)
    TONIC_FOLDER = "NCALTECH101"

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        return find_root(root, ["", "Caltech101", f"{cls.TONIC_FOLDER}/Caltech101", cls.TONIC_FOLDER],
                         lambda folder: (folder / "accordion").is_dir() and (folder / "Faces_easy").is_dir())

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        folder = self.resolve_root(root, split, download)
        cache = {}

        def part(which: str):
            if not cache:
                records = class_folder_records(folder, folder, NCALTECH101, (".bin",))
                if not records:
                    raise ConfigError(f"no recordings (.bin) under {folder}/<class>/")
                rule = split_spec(self.name)["test"]
                test = held_out_mask([r.split_key for r in records], [r.label for r in records], rule["fraction"],
                                     rule["seed"])
                cache["test"] = [r for r, is_test in zip(records, test) if is_test]
                cache["train_full"] = [r for r, is_test in zip(records, test) if not is_test]
            return cache[which]

        records = split_records(split, self.name, lambda: part("train_full"), lambda: part("test"))
        super().__init__(folder, split, records, NCALTECH101, self.SENSOR_SIZE, transform)

    def read(self, index: int) -> EventStream:
        return fit_sensor(read_events(self.path(index)), self.SENSOR_SIZE)
