"""The contract every registered dataset keeps (tonic's DatasetTestCase pattern): registering a dataset in
``neuroclip.datasets.registry.DATASETS`` without a small layout builder here fails, and each one is checked the same
way: the class states its facts, finds nothing in an empty folder and says what it expects, lists its recordings
without reading one, reads a recording lazily with a label inside its classes, and divides train_full into disjoint
train and val parts."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from neuroclip.datasets import base as dataset_base
from neuroclip.datasets.registry import DATASETS, get_dataset
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, write_events
from test_datasets import make_cifar10dvs, make_dvs_gesture, make_es_imagenet, make_ncaltech101, make_ncars, stream

from conftest import SAMPLE_DATA


def _nmnist(root):
    for digit in range(10):  # the real sample recordings, as Train and Test
        files = sorted((SAMPLE_DATA / "nmnist" / "Train" / str(digit)).glob("*.bin"))
        for part, chosen in (("Train", files[:4]), ("Test", files[4:])):
            (root / part / str(digit)).mkdir(parents=True)
            for path in chosen:
                shutil.copy(path, root / part / str(digit) / path.name)
    return root


def _folder(root):
    for which in ("train", "test"):
        for name in ("cat", "dog"):
            (root / which / name).mkdir(parents=True)
            for i in range(5):
                write_events(root / which / name / f"{i}.npz", stream(seed=i))
    return root


def _dvs_gesture(root):
    make_dvs_gesture(root / "DvsGesture")
    return root


def _ncaltech101(root):
    make_ncaltech101(root / "Caltech101")
    return root


def _plain(make):
    def build(root):
        make(root)
        return root
    return build


# one small layout per registered dataset (a root to pass to get_dataset)
LAYOUTS = {
    "nmnist": _nmnist,
    "cifar10dvs": _plain(lambda root: make_cifar10dvs(root, per_class=20)),  # the test split is 10% of a class
    "ncaltech101": _ncaltech101,
    "dvs128gesture": _dvs_gesture,
    "ncars": _plain(make_ncars),
    "esimagenet": _plain(make_es_imagenet),
    "folder": _folder,
}


def test_every_registered_dataset_has_a_layout_here():
    assert set(LAYOUTS) == set(DATASETS), "add a small layout builder for the new dataset to LAYOUTS"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_the_class_states_its_facts(name, tmp_path):
    cls = DATASETS[name]
    assert cls.name == name and cls.TITLE and cls.LAYOUT
    assert (cls.TONIC_FOLDER is None) != (cls.MANUAL_DOWNLOAD is None), "say where the data comes from"
    if name != "folder":
        assert cls.locate(tmp_path) is None
        with pytest.raises(ConfigError) as error:
            get_dataset(name, tmp_path, "test")
        assert cls.TITLE in str(error.value) and str(tmp_path) in str(error.value)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_recordings_are_listed_without_reading_and_read_lazily(name, tmp_path, monkeypatch):
    root = LAYOUTS[name](tmp_path)
    reads = []
    real_read = dataset_base.read_events
    for module in {dataset_base, sys.modules[DATASETS[name].__module__]}:  # wherever the class reads from
        if hasattr(module, "read_events"):
            monkeypatch.setattr(module, "read_events", lambda path, **kw: reads.append(path) or real_read(path, **kw))
    dataset = get_dataset(name, root, "test")
    assert reads == [] and len(dataset) > 0
    events, label = dataset[len(dataset) - 1]
    assert isinstance(events, EventStream) and len(events) > 0
    assert isinstance(label, int) and 0 <= label < len(dataset.classes)
    assert len(reads) == 1  # the one recording asked for
    declared = getattr(dataset, "SENSOR_SIZE", None)
    if declared is not None:
        assert events.sensor_size == tuple(declared)
        assert int(events.events["x"].max()) < declared[0] and int(events.events["y"].max()) < declared[1]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_train_and_val_divide_train_full(name, tmp_path):
    root = LAYOUTS[name](tmp_path)
    parts = {split: get_dataset(name, root, split) for split in ("train_full", "train", "val")}
    records = {split: [repr(record) for record in dataset.records] for split, dataset in parts.items()}
    assert len(parts["train"]) > 0 and len(parts["val"]) > 0
    assert not set(records["train"]) & set(records["val"])
    assert sorted(records["train"] + records["val"]) == sorted(records["train_full"])
    assert np.all(np.isin(parts["val"].labels, range(len(parts["val"].classes))))
