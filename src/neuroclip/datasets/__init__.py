"""Event datasets, read lazily, with fixed shipped splits, tonic downloads, class names and a frame DataLoader."""

from neuroclip.datasets.base import EventDataset, Subset
from neuroclip.datasets.cifar10dvs import CIFAR10DVS
from neuroclip.datasets.classnames import CLASSNAME_SETS, classnames_for
from neuroclip.datasets.downloads import DownloadError
from neuroclip.datasets.dvs_gesture import DVS128Gesture
from neuroclip.datasets.es_imagenet import ESImageNet
from neuroclip.datasets.folder import FolderDataset
from neuroclip.datasets.ncaltech101 import NCaltech101
from neuroclip.datasets.ncars import NCARS
from neuroclip.datasets.nmnist import NMNIST
from neuroclip.datasets.registry import DATASETS, dataset_class, download, get_dataset
from neuroclip.datasets.splitting import SPLITS, split_spec

__all__ = [
    "CIFAR10DVS",
    "CLASSNAME_SETS",
    "DATASETS",
    "DVS128Gesture",
    "DownloadError",
    "ESImageNet",
    "EventDataset",
    "FolderDataset",
    "NCARS",
    "NCaltech101",
    "NMNIST",
    "SPLITS",
    "Subset",
    "classnames_for",
    "dataset_class",
    "download",
    "get_dataset",
    "split_spec",
]
