import pytest

from neuroclip import ConfigError
from neuroclip.datasets import NMNIST, FolderDataset, classnames_for

from conftest import NMNIST_ROOT, nmnist_files


def test_nmnist_layout_reads_lazily_with_digit_labels():
    nmnist_files()
    dataset = NMNIST(NMNIST_ROOT, split="train")
    assert len(dataset) == 500
    assert sorted(set(dataset.labels)) == list(range(10))
    stream, label = dataset[0]
    assert label == 0 and stream.sensor_size == (34, 34) and len(stream) > 1000
    path, label = dataset.samples[-1]
    assert path.parent.name == "9" and label == 9


def test_missing_split_and_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="Test/<digit>"):
        NMNIST(tmp_path, split="test")
    with pytest.raises(ConfigError, match="'train' or 'test'"):
        NMNIST(tmp_path, split="val")
    with pytest.raises(ConfigError, match="does not exist"):
        FolderDataset(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="no recordings"):
        FolderDataset(tmp_path)


def test_classnames():
    assert classnames_for("nmnist") == [str(d) for d in range(10)]
    assert classnames_for("nmnist-words")[9] == "nine"
    assert classnames_for("cifar10dvs")[1] == "automobile"
    assert len(classnames_for("ncaltech101")) == 101 and len(classnames_for("esimagenet")) == 1000
    assert len(classnames_for("dvs128gesture")) == 11
    with pytest.raises(ConfigError):
        classnames_for("mnist")
