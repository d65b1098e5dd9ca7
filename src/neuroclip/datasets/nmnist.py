"""N-MNIST (Orchard et al. 2015): the dataset class and the split of its recordings by file order that the
bundled model's development and held-out sets use."""

from __future__ import annotations

from pathlib import Path

from neuroclip.datasets.base import EventDataset, class_folder_records, find_root, require_records, split_records
from neuroclip.datasets.splitting import check_split
from neuroclip.errors import ConfigError


class NMNIST(EventDataset):
    """N-MNIST (Orchard et al. 2015): 28x28 MNIST digits recorded by an ATIS making three saccades; 34x34 pixels.

    Layout, as ``train.zip`` / ``test.zip`` of the official release (and ``tonic.datasets.NMNIST``) unpack::

        root/Train/<digit>/<index>.bin   60,000 recordings, digit 0..9 = label
        root/Test/<digit>/<index>.bin    10,000 recordings

    ``root`` may also be tonic's ``save_to`` folder (holding ``NMNIST/Train`` ...). ``split``: ``'test'`` (the
    official test set), ``'train_full'`` (the official training set), ``'train'`` and ``'val'`` (``train_full``
    divided by the shipped hashed rule, 10% per class to val). ``download=True`` fetches it with tonic.
    """

    name = "nmnist"
    TITLE = "N-MNIST"
    LAYOUT = "root/Train/<digit>/*.bin and root/Test/<digit>/*.bin"
    SENSOR_SIZE = (34, 34)
    CLASSES = [str(d) for d in range(10)]
    TONIC_FOLDER = "NMNIST"

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        needed = ["Train", "Test"] if split is None else ["Test" if split == "test" else "Train"]
        return find_root(root, ["", cls.TONIC_FOLDER], lambda folder: all((folder / n).is_dir() for n in needed))

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        folder = self.resolve_root(root, split, download)

        def listing(name: str):
            records = class_folder_records(folder / name, folder, self.CLASSES, (".bin",))
            return require_records(records, f"{folder / name}/<digit>/", (".bin",))

        records = split_records(split, self.name, lambda: listing("Train"), lambda: listing("Test"))
        super().__init__(folder, split, records, self.CLASSES, self.SENSOR_SIZE, transform)


def split_nmnist_by_file_order(train_folder, first_per_digit: int) -> dict[str, list[tuple[Path, int]]]:
    """Split an N-MNIST ``Train/<digit>/*.bin`` folder per digit by file-name order: the first ``first_per_digit``
    recordings of each digit go to ``'Train'``, the rest to ``'Test'``. Returns ``{part: [(path, digit), ...]}``."""
    parts: dict[str, list[tuple[Path, int]]] = {"Train": [], "Test": []}
    for digit in range(10):
        files = sorted((Path(train_folder) / str(digit)).glob("*.bin"))
        if not files:
            raise ConfigError(f"no recordings in {Path(train_folder) / str(digit)}")
        parts["Train"] += [(path, digit) for path in files[:first_per_digit]]
        parts["Test"] += [(path, digit) for path in files[first_per_digit:]]
    return parts


def link_nmnist_split(train_folder, dest, first_per_digit: int, parts=("Train", "Test")) -> dict[str, int]:
    """Lay :func:`split_nmnist_by_file_order`'s parts (those in ``parts``: ``("Train",)`` leaves the held-out
    recordings out) as an N-MNIST folder ``dest/{Train,Test}/<digit>/`` of symbolic links (existing links are kept);
    returns the number of recordings per part laid out."""
    if unknown := set(parts) - {"Train", "Test"}:
        raise ConfigError(f"parts {sorted(unknown)}: the split has the parts 'Train' and 'Test'")
    counts = {}
    for part, samples in split_nmnist_by_file_order(train_folder, first_per_digit).items():
        if part not in parts:
            continue
        for path, digit in samples:
            folder = Path(dest) / part / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
        counts[part] = len(samples)
    return counts
