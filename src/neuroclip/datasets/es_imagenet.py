"""ES-ImageNet (Lin et al. 2021): ImageNet-1k converted to events by moving each image (Omnidirectional
Discrete Gradient), 8 time steps per sample."""

from __future__ import annotations

import os
import re
from pathlib import Path

from neuroclip.datasets.base import EventDataset, Record, find_root, list_files, split_records
from neuroclip.datasets.splitting import check_split
from neuroclip.errors import ConfigError

_NUMBERED = re.compile(r"^class(\d+)$")


def _zero_based(labels: list[int], where: str) -> list[int]:
    """Labels as 0..999: files numbered 1..1000 (no 0, a 1000) are shifted down by one."""
    if not labels:
        return labels
    low, high = min(labels), max(labels)
    if low >= 1 and high == 1000:
        labels = [label - 1 for label in labels]
        low, high = low - 1, high - 1
    if low < 0 or high > 999:
        raise ConfigError(f"{where} has labels {low}..{high}; ES-ImageNet's are ImageNet's 0..999 (or 1..1000)")
    return labels


class ESImageNet(EventDataset):
    """ES-ImageNet, 1,000 ImageNet classes; each ``.npz`` holds ``pos`` and ``neg`` rows ``(y, x, t)`` with ``t``
    the time step 0..7 (read by :func:`neuroclip.read_events`; streams keep the step as their time unit).

    Layout, as ``ES-imagenet-0.18.part01.rar`` (with parts 02..25) unpacks; pass the ``ES-imagenet-0.18`` folder,
    or the folder holding it, as ``root``::

        root/train/<class>/<name>.npz      about 1.28 million samples
        root/val/<name>.npz                50,000 samples
        root/vallabel.txt                  one line per val sample: "<name> <label> ..." (spikingjelly reads the
                                           first two columns: the file name and the label)

    Training labels come from the class folders, as spikingjelly's folder dataset numbers them: folders named
    ``class<k>`` are label ``k``; other names (WordNet ids ``n01440764`` ...) are numbered in sorted order, which is
    ImageNet-1k's label order when all 1,000 are there. Labels numbered 1..1000 are shifted to 0..999.

    ``'test'`` is ES-ImageNet's val set (NeuroCLIP's test), ``'train_full'`` the training set; ``'val'`` /
    ``'train'`` divide it by the shipped hashed rule. The dataset cannot be downloaded by script: ``download=True``
    raises an error that says where to get it.
    """

    name = "esimagenet"
    TITLE = "ES-ImageNet"
    LAYOUT = "root/train/<class>/*.npz, root/val/*.npz and root/vallabel.txt (the folder ES-imagenet-0.18)"
    MANUAL_DOWNLOAD = (
        "ES-ImageNet cannot be downloaded by neuroclip: get ES-imagenet-0.18.part01.rar ... part25.rar from "
        "https://cloud.tsinghua.edu.cn/d/94873ab4ec2a4eb497b3/ (Lin et al. 2021; the MD5s are in spikingjelly's "
        "datasets/es_imagenet.py), unpack with `unrar x ES-imagenet-0.18.part01.rar`, and pass the folder "
        "ES-imagenet-0.18 (holding train/<class>/*.npz, val/*.npz and vallabel.txt) as root"
    )

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        def is_layout(folder: Path) -> bool:
            train = (folder / "train").is_dir()
            test = (folder / "val").is_dir() and (folder / "vallabel.txt").is_file()
            return {None: train and test, "test": test}.get(split, train)

        return find_root(root, ["", "ES-imagenet-0.18", "extract/ES-imagenet-0.18"], is_layout)

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        folder = self.resolve_root(root, split, download)
        records = split_records(split, self.name, lambda: self._train_records(folder),
                                lambda: self._val_records(folder))
        super().__init__(folder, split, records, self._class_names(folder), None, transform)

    def _class_names(self, folder: Path) -> list[str]:
        """The class folder names in label order (``class<k>`` where ``train/`` is absent or lacks a label)."""
        by_label = dict(self._class_folders(folder)) if (folder / "train").is_dir() else {}
        return [by_label.get(k, f"class{k}") for k in range(1000)]

    def _class_folders(self, folder: Path) -> list[tuple[int, str]]:
        names = sorted(entry.name for entry in os.scandir(folder / "train") if entry.is_dir())
        if not names:
            raise ConfigError(f"no class folders in {folder / 'train'}; expected {self.LAYOUT}")
        numbered = [_NUMBERED.match(name) for name in names]
        if all(numbered):
            labels = _zero_based([int(match.group(1)) for match in numbered], str(folder / "train"))
        else:
            labels = list(range(len(names)))
        return sorted(zip(labels, names))

    def _train_records(self, folder: Path) -> list[Record]:
        records = []
        for label, name in self._class_folders(folder):
            records.extend(Record(f"train/{name}/{file}", label) for file in list_files(folder / "train" / name,
                                                                                     (".npz",)))
        if not records:
            raise ConfigError(f"no recordings (.npz) under {folder}/train/<class>/")
        return records

    def _val_records(self, folder: Path) -> list[Record]:
        names, labels = [], []
        with open(folder / "vallabel.txt") as fp:
            for number, line in enumerate(fp, start=1):
                cells = line.split()
                if not cells:
                    continue
                if len(cells) < 2 or not cells[1].lstrip("-").isdigit():
                    raise ConfigError(f"{folder / 'vallabel.txt'} line {number} is not '<file name> <label> ...': "
                                      f"{line.strip()!r}")
                names.append(f"{Path(cells[0]).stem}.npz")
                labels.append(int(cells[1]))
        labels = _zero_based(labels, str(folder / "vallabel.txt"))
        present = set(list_files(folder / "val", (".npz",)))
        missing = [name for name in names if name not in present]
        if missing:
            raise ConfigError(f"{len(missing)} file(s) listed in vallabel.txt are not in {folder / 'val'}, e.g. "
                              f"{missing[:3]}: the val folder is incomplete")
        if not names:
            raise ConfigError(f"{folder / 'vallabel.txt'} lists no samples")
        return [Record(f"val/{name}", label) for name, label in zip(names, labels)]
