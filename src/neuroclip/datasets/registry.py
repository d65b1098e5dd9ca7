"""Datasets by name: ``get_dataset('cifar10dvs', root, 'test')``, ``download('nmnist', root)``.

Adding a dataset: its module (a class with the facts of :class:`~neuroclip.datasets.base.EventDataset`) and one
line in :data:`DATASETS`."""

from __future__ import annotations

from neuroclip.datasets.cifar10dvs import CIFAR10DVS
from neuroclip.datasets.downloads import download_into
from neuroclip.datasets.dvs_gesture import DVS128Gesture
from neuroclip.datasets.es_imagenet import ESImageNet
from neuroclip.datasets.folder import FolderDataset
from neuroclip.datasets.ncaltech101 import NCaltech101
from neuroclip.datasets.ncars import NCARS
from neuroclip.datasets.nmnist import NMNIST
from neuroclip.errors import ConfigError

DATASETS = {
    "nmnist": NMNIST,
    "cifar10dvs": CIFAR10DVS,
    "ncaltech101": NCaltech101,
    "dvs128gesture": DVS128Gesture,
    "ncars": NCARS,
    "esimagenet": ESImageNet,
    "folder": FolderDataset,
}


def _canonical(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "")


def dataset_key(name: str) -> str:
    """The registered name of dataset ``name`` (case, hyphens and underscores ignored: ``'N-MNIST'`` gives
    ``'nmnist'``), or a :class:`ConfigError` listing the known ones."""
    key = _canonical(name)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return key


def dataset_class(name: str):
    """The dataset class registered as ``name`` (see :func:`dataset_key`)."""
    return DATASETS[dataset_key(name)]


def get_dataset(name: str, root, split: str = "test", download: bool = False, **options):
    """Dataset ``name`` read from ``root``, split ``'train' | 'val' | 'train_full' | 'test'``.

    ``download=True`` fetches a missing dataset with tonic first (see :func:`neuroclip.datasets.download`).
    ``'folder'`` is your own ``root/<class>/<files>``: ``split='all'`` takes every recording, the four splits need
    ``root/train/<class>/`` and ``root/test/<class>/``. Other keyword options go to the class (``transform=``).
    """
    cls = dataset_class(name)
    if cls is FolderDataset:
        if download:
            raise ConfigError("a folder dataset is your own data: there is nothing to download")
        return FolderDataset(root, split=split, **options)
    return cls(root, split=split, download=download, **options)


def downloadable() -> list[str]:
    """The registered datasets that :func:`download` can fetch."""
    return [name for name, cls in DATASETS.items() if cls.TONIC_FOLDER]


def download(name: str, root, force: bool = False):
    """Download and unpack dataset ``name`` under ``root`` (into tonic's folder for it, so a tonic download and ours
    are interchangeable); returns the dataset folder. Nothing is fetched when ``root`` already holds it."""
    try:
        key = dataset_key(name)
    except ConfigError:
        raise ConfigError(f"unknown dataset {name!r}; neuroclip downloads {', '.join(downloadable())}") from None
    cls = DATASETS[key]
    if cls.TONIC_FOLDER is None and cls.MANUAL_DOWNLOAD is None:
        raise ConfigError(f"neuroclip cannot download {key!r}; it downloads {', '.join(downloadable())}")
    return download_into(cls, root, force)
