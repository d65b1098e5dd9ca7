"""N-CARS (Sironi et al. 2018): 100 ms crops of an ATIS driving recording, cars against background."""

from __future__ import annotations

from pathlib import Path

from neuroclip.datasets.base import EventDataset, class_folder_records, fit_sensor, split_records
from neuroclip.datasets.splitting import check_split
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, read_events

# where each split's class folders sit, as the release's n-cars_train.zip / n-cars_test.zip unpack in the various
# ways people store them: n-cars_train/{cars,background}, n-cars_train/train/..., train/..., tonic 0.x's ncars-train
_SPLIT_FOLDERS = {
    "train": ("n-cars_train", "n-cars_train/train", "train", "ncars-train"),
    "test": ("n-cars_test", "n-cars_test/test", "test", "ncars-test"),
}


def _split_folder(base: Path, which: str) -> Path | None:
    for relative in _SPLIT_FOLDERS[which]:
        folder = base / relative
        if (folder / "cars").is_dir() and (folder / "background").is_dir():
            return folder
    return None


class NCARS(EventDataset):
    """N-CARS: 24,029 recordings of 100 ms, ``background`` (label 0) or ``cars`` (label 1), Prophesee DAT files.

    Layout, as ``n-cars_train.zip`` and ``n-cars_test.zip`` (inside ``Prophesee_Dataset_n_cars.zip``) unpack::

        root/n-cars_train/cars/obj_XXXXXX_td.dat         7,940
        root/n-cars_train/background/obj_XXXXXX_td.dat   7,482
        root/n-cars_test/cars/...  (4,396)   root/n-cars_test/background/...  (4,211)

    ``n-cars_train/train/...``, ``train/...`` and the same under ``root/NCARS`` are found too. ``download=True``
    fetches the Prophesee archive with tonic's downloader (the MD5 of tonic's former N-CARS class). Each sample is a
    crop within 120x100 pixels, so streams come on a 120x100 sensor (on the file's sensor if a crop exceeds it).

    ``'test'`` is the official test set, ``'train_full'`` the official training set; ``'val'`` / ``'train'``
    divide it by the shipped hashed rule.
    """

    name = "ncars"
    TITLE = "N-CARS"
    LAYOUT = "root/n-cars_train/{cars,background}/*.dat and root/n-cars_test/{cars,background}/*.dat"
    SENSOR_SIZE = (120, 100)
    CLASSES = ["background", "cars"]
    TONIC_FOLDER = "NCARS"

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        needed = ["train", "test"] if split is None else ["test" if split == "test" else "train"]
        root = Path(root).expanduser()
        for base in (root, root / cls.TONIC_FOLDER):
            if base.is_dir() and all(_split_folder(base, which) is not None for which in needed):
                return base
        return None

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        base = self.resolve_root(root, split, download)

        def listing(which: str):
            folder = _split_folder(base, which)
            records = class_folder_records(folder, base, self.CLASSES, (".dat",))
            if not records:
                raise ConfigError(f"no recordings (.dat) under {folder}/{{cars,background}}/")
            return records

        records = split_records(split, self.name, lambda: listing("train"), lambda: listing("test"))
        super().__init__(base, split, records, self.CLASSES, self.SENSOR_SIZE, transform)

    def read(self, index: int) -> EventStream:
        return fit_sensor(read_events(self.path(index)), self.SENSOR_SIZE)
