"""Event datasets, read lazily, and their class names."""

from neuroclip.datasets.classnames import CLASSNAME_SETS, classnames_for
from neuroclip.datasets.folder import NMNIST, FolderDataset

__all__ = ["CLASSNAME_SETS", "NMNIST", "FolderDataset", "classnames_for"]
