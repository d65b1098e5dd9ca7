"""Datasets: layouts built in tmp_path from spec-valid files, real N-MNIST, shipped splits, downloads without
network (tonic's downloader replaced by a fake that writes what the archive would), and the frame DataLoader."""

import hashlib
import math
import struct
import sys
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import neuroclip.datasets.base as dataset_base
from neuroclip import ConfigError, EventFileError, EventStream, make_events, write_events
from neuroclip.clip.features import FrameConfig, clip_frames
from neuroclip.datasets import (
    CIFAR10DVS,
    DATASETS,
    NCARS,
    NMNIST,
    DownloadError,
    DVS128Gesture,
    ESImageNet,
    FolderDataset,
    NCaltech101,
    classnames_for,
    download,
    get_dataset,
    split_spec,
)
from neuroclip.datasets.classnames import CIFAR10_DVS, CLASSNAME_SETS, NCALTECH101
from neuroclip.datasets.loader import SampleError, make_loader
from neuroclip.datasets.splitting import held_out_mask
from neuroclip.errors import MissingDependencyError

from conftest import FORMATS_ROOT, NMNIST_ROOT, needs_all_recordings, nmnist_files

# ------------------------------------------------------------------------------------------------ file builders


def stream(n=20, size=(34, 34), t0=0, seed=0):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, 50_000, n))
    return EventStream(make_events(t, rng.integers(0, size[0], n), rng.integers(0, size[1], n),
                                   rng.integers(0, 2, n)), size)


AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# created by the neuroclip tests\r\n"


def aedat2_bytes(raw_x, raw_y, raw_on_bit, t):
    """jAER DVS128 words: address = raw_y << 8 | raw_x << 1 | polarity bit, big-endian (address, timestamp)."""
    words = np.empty(2 * len(t), ">u4")
    words[0::2] = (np.asarray(raw_y) << 8) | (np.asarray(raw_x) << 1) | np.asarray(raw_on_bit)
    words[1::2] = t
    return AEDAT2_HEADER + words.tobytes()


AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def aedat3_bytes(x, y, on, t):
    """One AEDAT 3.1 polarity packet (type 1, 8-byte events: data = x << 17 | y << 2 | on << 1 | valid, int32 t)."""
    body = b"".join(struct.pack("<Ii", (xi << 17) | (yi << 2) | (oi << 1) | 1, ti) for xi, yi, oi, ti in
                    zip(x, y, on, t))
    return AEDAT3_HEADER + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, len(t), len(t), len(t)) + body


def dat_bytes(x, y, p, t):
    """Prophesee DAT version 2 of 2D events: '%' header, type 0 and size 8, then (uint32 t, uint32 packed)."""
    rows = np.empty(len(t), [("t", "<u4"), ("d", "<u4")])
    rows["t"] = t
    rows["d"] = (np.asarray(p) << 28) | (np.asarray(y) << 14) | np.asarray(x)
    return b"% Data file containing Event2D events.\n% Version 2\n" + bytes([0, 8]) + rows.tobytes()


def independent_hash_pick(keys, fraction, seed):
    """The documented rule, written out again: the ceil(fraction n) keys with the smallest sha256('seed:key')."""
    ranked = sorted(keys, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest()[:8])
    return set(ranked[:min(len(keys) - 1, math.ceil(fraction * len(keys)))])


def assert_partition(make):
    """train and val are disjoint, their union is train_full, test shares nothing with it; and it is deterministic."""
    parts = {split: [str(p) + repr(getattr(r, "window", None)) for p, r in zip((s[0] for s in d.samples), d.records)]
             for split in ("train", "val", "train_full", "test") for d in [make(split)]}
    train, val, full, test = (set(parts[s]) for s in ("train", "val", "train_full", "test"))
    assert val and train and test
    assert not train & val and train | val == full and not full & test
    assert len(full) == len(parts["train_full"])  # no sample listed twice
    assert [str(s[0]) for s in make("val").samples] == [str(s[0]) for s in make("val").samples]
    return parts


# ------------------------------------------------------------------------------------------------ N-MNIST (real)

def test_nmnist_layout_reads_lazily_with_digit_labels():
    needs_all_recordings()
    nmnist_files()
    dataset = NMNIST(NMNIST_ROOT, split="train_full")
    assert len(dataset) == 500 and dataset.name == "nmnist" and dataset.sensor_size == (34, 34)
    assert sorted(set(dataset.labels)) == list(range(10)) and dataset.classes == [str(d) for d in range(10)]
    stream0, label = dataset[0]
    assert label == 0 and stream0.sensor_size == (34, 34) and len(stream0) > 1000
    path, label = dataset.samples[-1]
    assert path.parent.name == "9" and label == 9


def test_nmnist_val_is_held_out_per_class_by_the_hashed_rule():
    needs_all_recordings()
    nmnist_files()
    full = NMNIST(NMNIST_ROOT, split="train_full")
    val = NMNIST(NMNIST_ROOT, split="val")
    train = NMNIST(NMNIST_ROOT, split="train")
    assert len(train) + len(val) == 500 and not {p for p, _ in train.samples} & {p for p, _ in val.samples}
    for digit in range(10):
        keys = [p.relative_to(NMNIST_ROOT).as_posix() for p, label in full.samples if label == digit]
        chosen = {p.relative_to(NMNIST_ROOT).as_posix() for p, label in val.samples if label == digit}
        assert chosen == independent_hash_pick(keys, 0.1, 0)


def test_nmnist_found_in_tonics_save_to_folder(tmp_path):
    nmnist_files()
    (tmp_path / "NMNIST").symlink_to(NMNIST_ROOT, target_is_directory=True)
    dataset = NMNIST(tmp_path, split="val")
    # the split depends on paths relative to the dataset folder, not on where the folder lives
    assert [p.name for p, _ in dataset.samples] == [p.name for p, _ in NMNIST(NMNIST_ROOT, split="val").samples]


def test_construction_reads_no_recording(monkeypatch):
    nmnist_files()
    calls = []
    monkeypatch.setattr(dataset_base, "read_events", lambda path, **kw: calls.append(path) or stream())
    dataset = NMNIST(NMNIST_ROOT, split="train")
    assert calls == []
    dataset[3]
    assert calls == [dataset.samples[3][0]]


def test_missing_split_and_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="Test/<digit>") as error:
        NMNIST(tmp_path, split="test")
    assert "download=True" in str(error.value) and "neuroclip.datasets.download('nmnist'" in str(error.value)
    with pytest.raises(ConfigError, match="'train', 'val', 'train_full' or 'test'"):
        NMNIST(tmp_path, split="validation")
    with pytest.raises(ConfigError, match="does not exist"):
        FolderDataset(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="no recordings"):
        FolderDataset(tmp_path)


def test_subset_selects_without_reading_and_nests():
    needs_all_recordings()
    nmnist_files()
    dataset = NMNIST(NMNIST_ROOT, split="train_full")
    subset = dataset.subset([499, 0, 60])
    assert subset.labels == [9, 0, dataset.labels[60]] and subset.classes == dataset.classes
    assert subset.name == "nmnist" and subset.sensor_size == (34, 34)
    inner = subset.subset([2, 0])
    assert inner.indices == [60, 499] and inner.dataset is dataset
    assert len(inner[1][0]) == len(dataset[499][0])
    with pytest.raises(ConfigError, match="out of range"):
        dataset.subset([500])


# ------------------------------------------------------------------------------------------------ CIFAR10-DVS

def make_cifar10dvs(root, per_class=5, airplane_names=None):
    for name in CIFAR10_DVS:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            data = aedat2_bytes([5, 6], [9, 9], [0, 1], [100 + i, 200 + i])
            (root / name / f"cifar10_{name}_{i}.aedat").write_bytes(data)
    for i in airplane_names or []:
        (root / "airplane" / f"cifar10_airplane_{i}.aedat").write_bytes(AEDAT2_HEADER)


def test_cifar10dvs_test_split_is_spikingjellys_string_order(tmp_path):
    make_cifar10dvs(tmp_path, per_class=0, airplane_names=range(1000))
    for name in CIFAR10_DVS[1:]:  # ten files in every other class
        for i in range(10):
            (tmp_path / name / f"cifar10_{name}_{i}.aedat").write_bytes(AEDAT2_HEADER)
    test = CIFAR10DVS(tmp_path, split="test")
    indices = sorted(int(p.stem.rsplit("_", 1)[1]) for p, label in test.samples if label == 0)
    assert indices == split_spec("cifar10dvs")["test"]["test_indices_for_official_names"]
    assert indices[:10] == [91, 92, 93, 94, 95, 96, 97, 98, 99, 909] and len(indices) == 100
    assert len(CIFAR10DVS(tmp_path, split="train_full")) == 900 + 9 * 9 and len(test) == 100 + 9

    sj_utils = pytest.importorskip("spikingjelly.datasets.utils")
    names = sorted(f"cifar10_airplane_{i}.npz" for i in range(1000))  # spikingjelly's converted files, as listed
    _, sj_test = sj_utils.split_to_train_test_set(0.9, [(None, 0)] * 1000, 1, random_split=False)
    assert sorted(int(names[i][17:-4]) for i in sj_test.indices) == indices


def test_cifar10dvs_reads_aedat2_with_spikingjellys_axes(tmp_path):
    make_cifar10dvs(tmp_path, per_class=20)
    dataset = CIFAR10DVS(tmp_path, split="test")
    assert dataset.name == "cifar10dvs" and dataset.classes == CIFAR10_DVS
    assert dataset.class_counts() == dict.fromkeys(CIFAR10_DVS, 2)  # ceil(0.9 * 20) = 18 train per class
    events, label = dataset[3]
    assert label == 1 and events.sensor_size == (128, 128)
    # raw x = 5, 6 and raw y = 9 -> x = 127 - raw_y, y = 127 - raw_x; polarity bit 0 is ON
    assert events.events[["x", "y", "p"]].tolist() == [(118, 122, 1), (118, 121, 0)]
    assert_partition(lambda split: CIFAR10DVS(tmp_path, split=split))


def test_cifar10dvs_refuses_two_formats_of_one_recording(tmp_path):
    make_cifar10dvs(tmp_path, per_class=2)
    (tmp_path / "dog" / "cifar10_dog_0.aedat4").write_bytes(b"#!AER-DAT4.0\r\n")
    with pytest.raises(ConfigError, match="several formats"):
        CIFAR10DVS(tmp_path, split="train")


# ------------------------------------------------------------------------------------------------ N-Caltech101

def make_ncaltech101(root, classes=("accordion", "Faces_easy", "yin_yang"), per_class=10):
    for name in NCALTECH101:
        (root / name).mkdir(parents=True)
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_events(root / name / f"image_{i + 1:04d}.bin", stream(10, (200, 170), seed=c * 100 + i))


def test_ncaltech101_labels_split_and_sensor(tmp_path):
    make_ncaltech101(tmp_path / "Caltech101")
    test = NCaltech101(tmp_path, split="test")  # found in the Caltech101 folder the release's zip unpacks to
    assert test.root == tmp_path / "Caltech101" and len(test.classes) == 101
    assert test.class_counts()["accordion"] == 2 and test.class_counts()["Faces_easy"] == 2  # ceil(0.2 * 10)
    assert sorted(set(test.labels)) == [NCALTECH101.index(n) for n in ("Faces_easy", "accordion", "yin_yang")]
    for name in ("accordion", "yin_yang"):
        keys = [f"{name}/image_{i + 1:04d}.bin" for i in range(10)]
        chosen = {f"{p.parent.name}/{p.name}" for p, _ in test.samples if p.parent.name == name}
        assert chosen == independent_hash_pick(keys, 0.2, 101)
    parts = assert_partition(lambda split: NCaltech101(tmp_path, split=split))
    assert len(parts["val"]) == 3 and len(parts["train"]) == 21  # ceil(0.1 * 8) = 1 per class
    events, _ = test[0]
    assert events.sensor_size == (240, 180) and len(events) == 10


# ------------------------------------------------------------------------------------------------ DVS128 Gesture

def make_dvs_gesture(folder, users=(1, 2, 3, 24), lists=True):
    folder.mkdir(parents=True, exist_ok=True)
    trials = []
    for user in users:
        name = f"user{user:02d}_fluorescent"
        t = np.arange(0, 3_000_000, 100_000)  # 30 events, one per 100 ms
        (folder / f"{name}.aedat").write_bytes(aedat3_bytes([user] * 30, list(range(30)), [1] * 30, t.tolist()))
        rows = "class,startTime_usec,endTime_usec\n1,0,1000000\n8,1000000,1500000\n8,1500000,2000000\n"
        (folder / f"{name}_labels.csv").write_text(rows)
        trials.append(f"{name}.aedat")
    if lists:
        (folder / "trials_to_train.txt").write_text("\n".join(t for t in trials if int(t[4:6]) <= 23) + "\n")
        (folder / "trials_to_test.txt").write_text("\n".join(t for t in trials if int(t[4:6]) > 23) + "\n")


def test_dvs_gesture_official_windows_are_read_lazily(tmp_path, monkeypatch):
    make_dvs_gesture(tmp_path / "DvsGesture")
    dataset = DVS128Gesture(tmp_path, split="train_full")
    assert dataset.layout == "official" and len(dataset) == 9 and dataset.labels == [0, 7, 7] * 3
    assert dataset.windows[:3] == [(0, 1_000_000), (1_000_000, 1_500_000), (1_500_000, 2_000_000)]
    import neuroclip.datasets.dvs_gesture as gesture_module

    reads = []
    real_read = gesture_module.read_events
    monkeypatch.setattr(gesture_module, "read_events", lambda path, **kw: reads.append(path) or real_read(path, **kw))
    first, _ = dataset[0]
    second, _ = dataset[1]
    assert first.events["t"].tolist() == list(range(0, 1_000_000, 100_000))  # [start, stop), times unchanged
    assert second.events["t"].tolist() == [1_000_000, 1_100_000, 1_200_000, 1_300_000, 1_400_000]
    assert first.sensor_size == (128, 128) and set(first.events["x"].tolist()) == {1}
    assert len(reads) == 1  # both windows come from one reading of the trial
    test = DVS128Gesture(tmp_path, split="test")
    assert {p.name for p, _ in test.samples} == {"user24_fluorescent.aedat"}


def test_dvs_gesture_val_holds_out_whole_trials(tmp_path):
    make_dvs_gesture(tmp_path, users=range(1, 12), lists=False)  # no lists: users 1-23 train by the shipped rule
    (tmp_path / "user25_led.aedat").write_bytes((tmp_path / "user01_fluorescent.aedat").read_bytes())
    (tmp_path / "user25_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n11,0,10\n")
    val = DVS128Gesture(tmp_path, split="val")
    assert len({p for p, _ in val.samples}) == 2 and len(val) == 6  # ceil(0.1 * 11 trials), 3 windows each
    parts = assert_partition(lambda split: DVS128Gesture(tmp_path, split=split))
    assert len(parts["test"]) == 1 and DVS128Gesture(tmp_path, split="test").labels == [10]


def test_dvs_gesture_incomplete_folder_and_bad_csv(tmp_path):
    make_dvs_gesture(tmp_path)
    (tmp_path / "user02_fluorescent_labels.csv").unlink()
    with pytest.raises(ConfigError, match="incomplete"):
        DVS128Gesture(tmp_path, split="train")
    (tmp_path / "user02_fluorescent_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(EventFileError, match="expected 1..11"):
        DVS128Gesture(tmp_path, split="train")


def test_dvs_gesture_tonic_layout(tmp_path):
    for which, trial in (("ibmGestureTrain", "user01_led"), ("ibmGestureTest", "user24_led")):
        folder = tmp_path / "DVSGesture" / which / trial
        folder.mkdir(parents=True)
        for label in (0, 10, 2):
            rows = np.array([[3, 4, 1, 2.5], [5, 6, 0, 1.0], [7, 8, 1, 10.0]])  # x, y, p, t in ms
            np.save(folder / f"{label}.npy", rows)
    dataset = DVS128Gesture(tmp_path, split="train_full")
    assert dataset.layout == "tonic" and dataset.labels == [0, 2, 10] and dataset.windows == [None] * 3
    events, label = dataset[0]
    assert events.events.tolist() == [(1000, 5, 6, 0), (2500, 3, 4, 1), (10000, 7, 8, 1)] and label == 0
    assert len(DVS128Gesture(tmp_path, split="test")) == 3


# ------------------------------------------------------------------------------------------------ N-CARS

def make_ncars(root, per_class=10):
    for which in ("n-cars_train", "n-cars_test"):
        for c, name in enumerate(("background", "cars")):
            (root / which / name).mkdir(parents=True)
            for i in range(per_class):
                data = dat_bytes([10 + c, 119], [20, 99], [1, 0], [5 + i, 9 + i])
                (root / which / name / f"obj_{c * 1000 + i:06d}_td.dat").write_bytes(data)


def test_ncars_official_folders_labels_and_crop_size(tmp_path):
    make_ncars(tmp_path)
    dataset = NCARS(tmp_path, split="test")
    assert dataset.classes == ["background", "cars"] and dataset.labels == [0] * 10 + [1] * 10
    assert all(p.parent.parent.name == "n-cars_test" for p, _ in dataset.samples)
    events, label = dataset[15]
    assert label == 1 and events.sensor_size == (120, 100)
    assert events.events.tolist() == [(10, 11, 20, 1), (14, 119, 99, 0)]
    parts = assert_partition(lambda split: NCARS(tmp_path, split=split))
    assert len(parts["val"]) == 2  # ceil(0.1 * 10) per class
    assert len(classnames_for(dataset.name)) == len(dataset.classes)


# ------------------------------------------------------------------------------------------------ ES-ImageNet

def make_es_imagenet(root, folder_names=("class1", "class2", "class1000"), per_class=10, one_based=True):
    rows = np.array([[1, 2, 0], [3, 4, 5]])
    for name in folder_names:
        (root / "train" / name).mkdir(parents=True)
        for i in range(per_class):
            np.savez(root / "train" / name / f"{name}_{i}.npz", pos=rows, neg=rows[:1])
    (root / "val").mkdir()
    lines = []
    for i, label in enumerate((1, 1000, 2) if one_based else (0, 999, 1)):
        np.savez(root / "val" / f"ILSVRC2012_val_{i:08d}.npz", pos=rows, neg=rows[:1])
        lines.append(f"ILSVRC2012_val_{i:08d}.JPEG {label} 500 375")
    (root / "vallabel.txt").write_text("\n".join(lines) + "\n")


def test_es_imagenet_layout_and_label_files(tmp_path):
    make_es_imagenet(tmp_path / "ES-imagenet-0.18")
    test = ESImageNet(tmp_path, split="test")
    assert test.labels == [0, 999, 1] and len(test.classes) == 1000 == len(CLASSNAME_SETS[test.name]())
    assert test.classes[999] == "class1000" and test.classes[0] == "class1"
    events, label = test[0]
    assert label == 0 and events.events.tolist() == [(0, 2, 1, 1), (0, 2, 1, 0), (5, 4, 3, 1)]
    train = ESImageNet(tmp_path, split="train_full")
    assert sorted(set(train.labels)) == [0, 1, 999]
    assert_partition(lambda split: ESImageNet(tmp_path, split=split))
    (tmp_path / "ES-imagenet-0.18" / "val" / "ILSVRC2012_val_00000001.npz").unlink()
    with pytest.raises(ConfigError, match="not in .*val"):
        ESImageNet(tmp_path, split="test")


def test_es_imagenet_wordnet_folders_number_in_sorted_order(tmp_path):
    make_es_imagenet(tmp_path, folder_names=("n01443537", "n01440764"), per_class=2, one_based=False)
    train = ESImageNet(tmp_path, split="train_full")
    assert train.classes[:2] == ["n01440764", "n01443537"]
    assert [(p.parent.name, label) for p, label in train.samples][::2] == [("n01440764", 0), ("n01443537", 1)]
    assert ESImageNet(tmp_path, split="test").labels == [0, 999, 1]


def test_es_imagenet_cannot_be_downloaded(tmp_path):
    with pytest.raises(ConfigError, match="cloud.tsinghua.edu.cn") as error:
        ESImageNet(tmp_path, split="test", download=True)
    assert "ES-imagenet-0.18" in str(error.value)
    with pytest.raises(ConfigError, match="vallabel.txt"):
        ESImageNet(tmp_path, split="test")


# ------------------------------------------------------------------------------------------------ folder, registry

def test_folder_dataset_all_and_splits(tmp_path):
    for which in ("train", "test"):
        for name in ("cat", "dog"):
            (tmp_path / which / name).mkdir(parents=True)
            for i in range(4):
                write_events(tmp_path / which / name / f"{i}.npz", stream(seed=i))
    everything = FolderDataset(tmp_path / "train")
    assert everything.classes == ["cat", "dog"] and everything.labels == [0] * 4 + [1] * 4
    test = get_dataset("folder", tmp_path, "test")
    assert test.name == "folder" and len(test) == 8 and test[5][1] == 1
    parts = assert_partition(lambda split: FolderDataset(tmp_path, split=split))
    assert len(parts["val"]) == 2
    with pytest.raises(ConfigError, match="split='all'"):
        get_dataset("folder", tmp_path / "train", "test")


def test_registry_names_and_shipped_splits():
    assert set(DATASETS) == {"nmnist", "cifar10dvs", "ncaltech101", "dvs128gesture", "ncars", "esimagenet", "folder"}
    for name, cls in DATASETS.items():
        spec = split_spec(name)
        assert spec["dataset"] == name and 0 < spec["val"]["fraction"] < 0.5 and spec["test"]["description"]
        assert cls.name == name
        assert name == "folder" or name in CLASSNAME_SETS
    from neuroclip.datasets.registry import dataset_class

    assert dataset_class("N-MNIST") is NMNIST and dataset_class("DVS128_Gesture") is DVS128Gesture
    with pytest.raises(ConfigError, match="known: nmnist"):
        get_dataset("mnist", ".", "test")


def test_hashed_rule_keeps_a_class_and_moves_few_samples_when_files_are_added():
    keys = [f"c/{i}.bin" for i in range(40)]
    held = held_out_mask(keys, [0] * 40, 0.1, 0)
    assert sum(held) == 4
    assert held_out_mask(["only"], [0], 0.5, 0) == [False]  # a class's last sample is never held out
    more = held_out_mask(keys + ["c/extra.bin"], [0] * 41, 0.1, 0)
    assert sum(a and b for a, b in zip(held, more)) >= 4 - 1 and sum(more) == 5


def test_classnames():
    assert classnames_for("nmnist") == [str(d) for d in range(10)]
    assert classnames_for("nmnist-words")[9] == "nine"
    assert classnames_for("cifar10dvs")[1] == "automobile"
    assert len(classnames_for("ncaltech101")) == 101 and len(classnames_for("esimagenet")) == 1000
    assert len(classnames_for("dvs128gesture")) == 11
    with pytest.raises(ConfigError):
        classnames_for("mnist")


# ------------------------------------------------------------------------------------------------ downloads

@pytest.fixture
def fake_tonic_download(monkeypatch):
    """tonic's download_and_extract_archive replaced: records its arguments and writes what the archive holds."""
    tonic_download_utils = pytest.importorskip("tonic.download_utils")
    calls = []
    contents = {}

    def fake(url, download_root, extract_root=None, filename=None, md5=None, remove_finished=False):
        calls.append((url, download_root, filename, md5))
        Path(download_root).mkdir(parents=True, exist_ok=True)
        contents[filename](download_root)

    monkeypatch.setattr(tonic_download_utils, "download_and_extract_archive", fake)
    return calls, contents


def test_nmnist_download_calls_tonic_with_its_urls_and_md5s(tmp_path, fake_tonic_download):
    import tonic.datasets

    calls, contents = fake_tonic_download

    def unpack(split_folder):
        def write(folder):
            for digit in range(10):
                (tmp_path / "NMNIST" / split_folder / str(digit)).mkdir(parents=True)
                write_events(tmp_path / "NMNIST" / split_folder / str(digit) / "00001.bin", stream(seed=digit))
        return write

    contents.update({"train.zip": unpack("Train"), "test.zip": unpack("Test")})
    dataset = NMNIST(tmp_path, split="test", download=True)
    t = tonic.datasets.NMNIST
    assert calls == [(t.train_url, str(tmp_path / "NMNIST"), "train.zip", t.train_md5),
                     (t.test_url, str(tmp_path / "NMNIST"), "test.zip", "69ca8762b2fe404d9b9bad1103e97832")]
    assert len(dataset) == 10 and dataset.labels == list(range(10)) and dataset.root == tmp_path / "NMNIST"
    assert download("nmnist", tmp_path) == tmp_path / "NMNIST" and len(calls) == 2  # already there: no fetch


def test_cifar10dvs_download_unpacks_the_class_archives_inside(tmp_path, fake_tonic_download):
    import tonic.datasets

    calls, contents = fake_tonic_download

    def unpack(folder):  # CIFAR10DVS.zip holds one zip per class, each holding <class>/cifar10_<class>_<i>.aedat4
        for name in CIFAR10_DVS:
            with zipfile.ZipFile(f"{folder}/{name}.zip", "w") as archive:
                for i in range(3):
                    archive.writestr(f"{name}/cifar10_{name}_{i}.aedat4", b"#!AER-DAT4.0\r\n")

    contents[tonic.datasets.CIFAR10DVS.filename] = unpack
    dataset = CIFAR10DVS(tmp_path, split="train_full", download=True)
    t = tonic.datasets.CIFAR10DVS
    assert calls == [(t.url, str(tmp_path / "CIFAR10DVS"), t.filename, t.file_md5)]
    assert len(dataset) == 30 and dataset.samples[0][0].suffix == ".aedat4"  # ceil(0.9 * 3) = 3 per class train
    real = FORMATS_ROOT / "aedat4" / "tonic_sample.aedat4"
    if real.exists():
        dataset.samples[0][0].write_bytes(real.read_bytes())
        assert len(dataset[0][0]) == 111_954


def test_ncaltech101_download_unpacks_the_inner_caltech101_zip(tmp_path, fake_tonic_download):
    import tonic.datasets

    calls, contents = fake_tonic_download
    def unpack(folder):  # the release archive holds Caltech101.zip (and annotations) in a subfolder
        (tmp_path / "NCALTECH101" / "N-Caltech101").mkdir(parents=True)
        with zipfile.ZipFile(f"{folder}/N-Caltech101/Caltech101.zip", "w") as archive:
            for name in NCALTECH101:
                archive.writestr(f"Caltech101/{name}/", b"")
            write_events(tmp_path / "one.bin", stream(10, (200, 170)))
            archive.write(tmp_path / "one.bin", "Caltech101/accordion/image_0001.bin")

    contents[tonic.datasets.NCALTECH101.filename] = unpack
    dataset = NCaltech101(tmp_path, split="train_full", download=True)
    assert calls[0][2] == "N-Caltech101-archive.zip" and calls[0][3] == tonic.datasets.NCALTECH101.file_md5
    assert dataset.root == tmp_path / "NCALTECH101" / "Caltech101" and len(dataset) == 1
    assert len(dataset[0][0]) == 10


def test_dvs_gesture_and_ncars_downloads(tmp_path, fake_tonic_download):
    import tonic.datasets

    calls, contents = fake_tonic_download

    def gesture(which):
        def write(folder):
            (tmp_path / "DVSGesture" / which / "user01_led").mkdir(parents=True)
            np.save(tmp_path / "DVSGesture" / which / "user01_led" / "4.npy", np.array([[1, 2, 1, 3.0]]))
        return write

    t = tonic.datasets.DVSGesture
    contents.update({t.train_filename: gesture("ibmGestureTrain"), t.test_filename: gesture("ibmGestureTest")})
    assert DVS128Gesture(tmp_path, split="test", download=True).labels == [4]
    assert [c[3] for c in calls] == [t.train_md5, t.test_md5]

    def ncars(folder):
        for which in ("train", "test"):
            with zipfile.ZipFile(f"{folder}/n-cars_{which}.zip", "w") as archive:
                for name in ("cars", "background"):
                    archive.writestr(f"{which}/{name}/obj_000001_td.dat", dat_bytes([1], [2], [1], [3]))

    contents["Prophesee_Dataset_n_cars.zip"] = ncars
    dataset = NCARS(tmp_path, split="train_full", download=True)
    assert calls[-1][2:] == ("Prophesee_Dataset_n_cars.zip", "553ce464d6e5e617b3c21ce27c19368e")
    assert dataset.labels == [0, 1] and dataset.samples[1][0].parent.name == "cars"


def test_failed_download_says_how_to_fetch_the_file_by_hand(tmp_path, monkeypatch):
    tonic_download_utils = pytest.importorskip("tonic.download_utils")

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tonic_download_utils, "download_and_extract_archive", offline)
    with pytest.raises(DownloadError, match="no network") as error:
        NCARS(tmp_path, split="test", download=True)
    assert f"save it as {tmp_path / 'NCARS' / 'Prophesee_Dataset_n_cars.zip'}" in str(error.value)


def test_download_without_tonic_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tonic", None)
    with pytest.raises(MissingDependencyError, match=r"neuroclip\[datasets\]"):
        download("ncars", tmp_path)
    with pytest.raises(ConfigError, match="nothing to download"):
        download("folder", tmp_path)


# ------------------------------------------------------------------------------------------------ DataLoader

def test_loader_batches_equal_with_and_without_workers():
    needs_all_recordings()
    nmnist_files()
    dataset = NMNIST(NMNIST_ROOT, split="train_full").subset(list(range(0, 500, 50)))  # 10 recordings
    config = FrameConfig(n_frames=4)
    batches = {workers: list(make_loader(dataset, config, image_size=32, batch_size=4, num_workers=workers))
               for workers in (0, 2)}
    for (images0, labels0, idx0), (images2, labels2, idx2) in zip(batches[0], batches[2]):
        assert torch.equal(images0, images2) and torch.equal(labels0, labels2) and torch.equal(idx0, idx2)
    images, labels, indices = batches[0][0]
    assert images.shape == (4, 4, 3, 32, 32) and images.dtype == torch.float32
    assert labels.tolist() == dataset.labels[:4] and indices.tolist() == [0, 1, 2, 3]
    assert [len(b[1]) for b in batches[0]] == [4, 4, 2]
    assert torch.equal(images[2], clip_frames(dataset[2][0], config, 32))


def test_loader_shuffles_with_its_seed_and_names_a_broken_sample(tmp_path):
    for i in range(6):
        (tmp_path / "a").mkdir(exist_ok=True)
        write_events(tmp_path / "a" / f"{i}.npz", stream(seed=i))
    dataset = FolderDataset(tmp_path)
    order = [b[2].tolist() for b in make_loader(dataset, image_size=8, batch_size=6, shuffle=True, seed=3)]
    assert order == [b[2].tolist() for b in make_loader(dataset, image_size=8, batch_size=6, shuffle=True, seed=3)]
    assert sorted(order[0]) == list(range(6)) and order[0] != list(range(6))
    (tmp_path / "a" / "3.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SampleError, match=r"3\.npz.*sample 3"):
        list(make_loader(dataset, image_size=8, batch_size=2, num_workers=1))
    # a broken first sample: the warm-up before the workers start leaves it to the loader, which names it
    (tmp_path / "a" / "0.npz").write_bytes(b"PK\x03\x04 truncated")
    from neuroclip.datasets.loader import make_event_loader

    for make in (lambda: make_loader(dataset, image_size=8, batch_size=2, num_workers=1),
                 lambda: make_event_loader(dataset, 2, 1, packed=True)):
        loader = make()
        with pytest.raises(SampleError, match=r"0\.npz.*sample 0"):
            list(loader)
    with pytest.raises(ConfigError, match="batch_size"):
        make_loader(dataset, batch_size=0)


def test_file_order_split_and_its_linked_layout(tmp_path):
    needs_all_recordings()
    from neuroclip.datasets.nmnist import link_nmnist_split, split_nmnist_by_file_order

    nmnist_files()
    parts = split_nmnist_by_file_order(NMNIST_ROOT / "Train", 20)
    assert len(parts["Train"]) == 200 and len(parts["Test"]) == 300
    assert not {p for p, _ in parts["Train"]} & {p for p, _ in parts["Test"]}
    threes = [p.name for p, d in parts["Train"] if d == 3]
    assert threes == sorted(threes) and max(threes) < min(p.name for p, d in parts["Test"] if d == 3)
    assert link_nmnist_split(NMNIST_ROOT / "Train", tmp_path, 20) == {"Train": 200, "Test": 300}
    assert len(NMNIST(tmp_path, split="test")) == 300
    # the development part alone: no held-out recording is linked
    assert link_nmnist_split(NMNIST_ROOT / "Train", tmp_path / "dev", 20, parts=("Train",)) == {"Train": 200}
    assert not (tmp_path / "dev" / "Test").exists() and len(list((tmp_path / "dev" / "Train").glob("*/*"))) == 200
    with pytest.raises(ConfigError, match="'Train' and 'Test'"):
        link_nmnist_split(NMNIST_ROOT / "Train", tmp_path / "bad", 20, parts=("train",))
    assert not (tmp_path / "bad").exists()


def test_nmnist_enforces_its_sensor_size_on_a_corrupted_recording(tmp_path):
    # a flipped byte giving x = 40 must not silently turn a 34x34 N-MNIST recording into a 304x240 ATIS one
    import shutil

    from neuroclip.errors import EventFileError

    for digit in range(10):
        for split in ("Train", "Test"):
            (tmp_path / split / str(digit)).mkdir(parents=True)
        source = sorted((NMNIST_ROOT / "Train" / str(digit)).glob("*.bin"))[0]
        shutil.copy(source, tmp_path / "Test" / str(digit) / source.name)
    target = sorted((tmp_path / "Test" / "0").glob("*.bin"))[0]
    corrupted = bytearray(target.read_bytes())
    corrupted[0] = 40  # the first event's x
    target.write_bytes(bytes(corrupted))
    dataset = get_dataset("nmnist", tmp_path, "test")
    with pytest.raises(EventFileError, match=r"outside the 34x34 sensor.*x=40"):
        dataset[0]
    assert dataset[1][0].sensor_size == (34, 34)
