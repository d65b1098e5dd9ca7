"""Dataset downloads through tonic's downloader, with tonic's URLs and MD5 checksums.

``download(name, root)`` fetches the archives into ``root/<tonic's folder>`` (``root/NMNIST``, ``root/CIFAR10DVS``,
``root/NCALTECH101``, ``root/DVSGesture``, ``root/NCARS``: the folders ``tonic.datasets.<Name>(save_to=root)``
uses, so a tonic download and ours are interchangeable), checks each archive's MD5, and unpacks it, including the
archives nested inside. The dataset classes read the unpacked layout, from ``root`` or from that folder.

Where tonic has the dataset, its URL, file name and MD5 are read from tonic's class at call time, so a tonic
release that moves a file moves our download with it. ES-ImageNet (a 25-part RAR archive on Tsinghua cloud) and
the original DVS128 Gesture archive (on IBM Box) cannot be fetched by script; their errors say where to get them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from neuroclip.errors import ConfigError, MissingDependencyError, NeuroclipError

# tonic 1.7 no longer has N-CARS; its former ``tonic.datasets.NCARS`` (tonic 0.x/1.0) gave this archive's name and
# MD5. Prophesee now serves the file from downloads.prophesee.ai.
NCARS_URL = "https://downloads.prophesee.ai/website/resources/Prophesee_Dataset_n_cars.zip"
NCARS_FILENAME = "Prophesee_Dataset_n_cars.zip"
NCARS_MD5 = "553ce464d6e5e617b3c21ce27c19368e"


class DownloadError(NeuroclipError, OSError):
    """A dataset archive could not be fetched or failed its MD5 check."""


@dataclasses.dataclass(frozen=True)
class Archive:
    """One file to fetch: its URL, its name on disk, its MD5, and the archives inside it to unpack as well."""

    url: str
    filename: str
    md5: str | None
    inner: tuple[str, ...] = ()


def _tonic():
    try:
        import tonic.datasets
        import tonic.download_utils
    except ImportError:
        raise MissingDependencyError("tonic", "Downloading datasets", extra="datasets") from None
    return tonic


def archives(name: str) -> list[Archive]:
    """The archives of the dataset registered as ``name`` (one with a ``TONIC_FOLDER``), with URLs and MD5s from
    tonic's dataset classes."""
    if name == "ncars":
        return [Archive(NCARS_URL, NCARS_FILENAME, NCARS_MD5, inner=("n-cars_train.zip", "n-cars_test.zip"))]
    datasets = _tonic().datasets
    if name == "nmnist":
        c = datasets.NMNIST
        return [Archive(c.train_url, c.train_filename, c.train_md5), Archive(c.test_url, c.test_filename, c.test_md5)]
    if name == "dvs128gesture":
        c = datasets.DVSGesture
        return [Archive(c.train_url, c.train_filename, c.train_md5), Archive(c.test_url, c.test_filename, c.test_md5)]
    if name == "cifar10dvs":
        c = datasets.CIFAR10DVS
        return [Archive(c.url, c.filename, c.file_md5, inner=tuple(c.data_filename))]
    c = datasets.NCALTECH101
    return [Archive(c.url, c.filename, c.file_md5, inner=(c.data_filename,))]


def _extract_inner(folder: Path, filename: str, extract_archive) -> None:
    """Unpack the archive ``filename`` found (at any depth) under ``folder`` into ``folder``."""
    found = sorted(folder.rglob(filename))
    if not found:
        raise ConfigError(f"the downloaded archive did not contain {filename}; delete {folder} and download again")
    extract_archive(str(found[0]), str(folder))


def download_into(cls, root, force: bool = False) -> Path:
    """Download and unpack the dataset of class ``cls`` under ``root`` with tonic's downloader; returns the dataset
    folder. Call it by name through :func:`neuroclip.datasets.download`.

    If ``root`` already holds the unpacked layout, nothing is fetched (``force=True`` fetches anyway; tonic skips
    an archive already on disk whose MD5 matches, and re-unpacks it).
    """
    name = cls.name
    if cls.TONIC_FOLDER is None:
        raise ConfigError(cls.MANUAL_DOWNLOAD or f"neuroclip cannot download {name!r}")
    root = Path(root).expanduser()
    if not force:
        found = cls.locate(root)
        if found is not None:
            return found
    tonic = _tonic()
    download_and_extract = tonic.download_utils.download_and_extract_archive
    extract_archive = tonic.download_utils.extract_archive
    folder = root / cls.TONIC_FOLDER
    for archive in archives(name):
        try:
            download_and_extract(archive.url, str(folder), filename=archive.filename, md5=archive.md5)
        except (OSError, RuntimeError) as error:  # urllib's errors are OSErrors; tonic raises RuntimeError on an MD5
            raise DownloadError(
                f"could not download {archive.url} to {folder / archive.filename} ({type(error).__name__}: {error}). "
                f"Run again, or fetch the file yourself (a browser works), save it as {folder / archive.filename} "
                f"and run again: a file already there is checked against MD5 {archive.md5} and not fetched again"
            ) from None
        for inner in archive.inner:
            _extract_inner(folder, inner, extract_archive)
    found = cls.locate(root)
    if found is None:
        raise ConfigError(f"downloaded {name} into {folder}, but its layout is not the expected one "
                          f"({cls.LAYOUT}); the archive may have changed: please report it")
    return found
