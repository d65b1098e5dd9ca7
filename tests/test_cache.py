import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.small_nmnist import FirstSamples
from neuroclip.cache import FeatureCache, cache_key, same_config
from neuroclip.clip import load_backbone
from neuroclip.clip.extract import extract_features, feature_config
from neuroclip.clip.features import FrameConfig, frame_features
from neuroclip.errors import ConfigError

from conftest import NMNIST_ROOT, nmnist_files


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("neuroclip-tiny-vit", None, device="cpu")


@pytest.fixture(scope="module")
def dataset():
    nmnist_files()
    return FirstSamples(NMNIST_ROOT, per_class=2)


class CountingBackbone:
    """Wraps a backbone and counts the images it encodes."""

    def __init__(self, backbone, fail_after=None):
        self.inner, self.images, self.fail_after = backbone, 0, fail_after

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_images(self, images, batch_size=256):
        if self.fail_after is not None and self.images >= self.fail_after:
            raise KeyboardInterrupt
        self.images += images.shape[0]
        return self.inner.encode_images(images, batch_size)


def test_features_equal_direct_computation_and_second_run_hits_the_cache(backbone, dataset, tmp_path):
    cache = FeatureCache(tmp_path)
    first = extract_features(dataset, backbone, cache=cache, shard_size=7, batch_size=4, progress=False)
    direct = frame_features([dataset[i][0] for i in range(len(dataset))], backbone)
    np.testing.assert_allclose(first.features, direct.numpy(), rtol=1e-5, atol=1e-5)
    assert first.features.shape == (20, 10, 64) and first.labels.tolist() == [d for d in range(10) for _ in (0, 1)]
    counting = CountingBackbone(backbone)
    second = extract_features(dataset, counting, cache=cache, progress=False)
    assert counting.images == 0
    np.testing.assert_array_equal(second.features, first.features)


def test_interrupted_extraction_resumes_with_the_remaining_shards(backbone, dataset, tmp_path):
    cache = FeatureCache(tmp_path)
    failing = CountingBackbone(backbone, fail_after=2 * 10 * 4)  # stops inside the third shard of 4 recordings
    with pytest.raises(KeyboardInterrupt):
        extract_features(dataset, failing, cache=cache, shard_size=4, batch_size=2, progress=False)
    config = feature_config(dataset, FrameConfig(), backbone)
    assert cache.load(config) is None and cache.completed_shards(config) == {0, 1}
    resuming = CountingBackbone(backbone)
    resumed = extract_features(dataset, resuming, cache=cache, shard_size=4, batch_size=2, progress=False)
    assert resuming.images == (20 - 8) * 10  # only the three unfinished shards are encoded
    reference = extract_features(dataset, backbone, cache=None, progress=False)
    np.testing.assert_allclose(resumed.features, reference.features, rtol=1e-5, atol=1e-5)


def test_corrupt_and_stale_entries_are_detected_and_rebuilt(backbone, dataset, tmp_path, caplog):
    cache = FeatureCache(tmp_path)
    first = extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False)
    shard = first.path / "shard-00001.npz"
    shard.write_bytes(shard.read_bytes()[:-50])  # truncated
    counting = CountingBackbone(backbone)
    with caplog.at_level("WARNING", logger="neuroclip"):
        rebuilt = extract_features(dataset, counting, cache=cache, shard_size=10, progress=False)
    assert re.search("wrong size.*rebuilt", caplog.text)
    caplog.clear()
    assert counting.images == 200
    np.testing.assert_array_equal(rebuilt.features, first.features)
    manifest = rebuilt.path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"nmnist"', '"cifar10dvs"'))
    with caplog.at_level("WARNING", logger="neuroclip"):
        extract_features(dataset, CountingBackbone(backbone), cache=cache, shard_size=10, progress=False)
    assert "another configuration" in caplog.text


def test_the_key_covers_every_parameter(backbone, dataset):
    base = feature_config(dataset, FrameConfig(), backbone)
    variants = [
        feature_config(dataset, FrameConfig(n_frames=8), backbone),
        feature_config(dataset, FrameConfig(threshold=1), backbone),
        feature_config(dataset, FrameConfig(encoding="eventclip"), backbone),
        feature_config(dataset, FrameConfig(split_by="time"), backbone),
        feature_config(dataset, FrameConfig(normalization="clip"), backbone),
        feature_config(dataset, FrameConfig(), backbone, feature_dtype="float16"),
        feature_config(FirstSamples(NMNIST_ROOT, per_class=3), FrameConfig(), backbone),
    ]
    keys = {cache_key(base)} | {cache_key(v) for v in variants}
    assert len(keys) == len(variants) + 1
    other_weights = load_backbone("neuroclip-tiny-vit", None, device="cpu", seed=1)
    assert cache_key(feature_config(dataset, FrameConfig(), other_weights)) != cache_key(base)


def test_two_gloo_processes_give_exactly_the_one_process_result(backbone, dataset, tmp_path):
    script = Path(__file__).parent / "helpers" / "distributed_extract.py"
    out = tmp_path / "two.npz"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               str(script), str(NMNIST_ROOT), str(tmp_path / "cache2"), str(out), str(Path(__file__).parent)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    two = np.load(out)
    # torchrun runs each process on one thread (OMP_NUM_THREADS=1); a 2-thread run sums in another order, which moves
    # the last bit of some features, so the one-process reference runs on one thread as well
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = extract_features(dataset, backbone, cache=FeatureCache(tmp_path / "cache1"), shard_size=3, batch_size=2,
                               progress=False)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(two["indices"], one.indices)
    np.testing.assert_array_equal(two["labels"], one.labels)
    np.testing.assert_array_equal(two["features"], one.features)
    # the subset each rank encoded a share of: the rows of the whole split
    np.testing.assert_allclose(two["subset_features"], one.features[[5, 2, 9, 2, 14]], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(two["subset_labels"], one.labels[[5, 2, 9, 2, 14]])


def test_subsets_of_a_split_share_its_rows_and_encode_only_what_is_new(backbone, dataset, tmp_path, caplog,
                                                                       monkeypatch):
    """A few-shot run's drawn recordings (a Subset) are keyed by their whole split: a later run with other draws
    encodes only the recordings no earlier run did, a run after the whole split was cached encodes none, and
    every row equals the whole split's."""
    from neuroclip.datasets import Subset

    cache = FeatureCache(tmp_path)
    reference = extract_features(dataset, backbone, cache=None, progress=False)
    counting = CountingBackbone(backbone)
    first = extract_features(Subset(dataset, [3, 0, 7, 3]), counting, cache=cache, progress=False)
    assert counting.images == 3 * 10  # three distinct recordings
    np.testing.assert_allclose(first.features, reference.features[[3, 0, 7, 3]], rtol=1e-5, atol=1e-5)
    assert first.labels.tolist() == reference.labels[[3, 0, 7, 3]].tolist() and first.indices.tolist() == [0, 1, 2, 3]
    counting = CountingBackbone(backbone)
    second = extract_features(Subset(dataset, [7, 12, 0, 19]), counting, cache=cache, progress=False)
    assert counting.images == 2 * 10  # 12 and 19; 0 and 7 come from the first run's rows
    np.testing.assert_array_equal(second.features[[0, 2]], first.features[[2, 1]])
    np.testing.assert_allclose(second.features, reference.features[[7, 12, 0, 19]], rtol=1e-5, atol=1e-5)
    counting = CountingBackbone(backbone)
    refreshed = extract_features(Subset(dataset, [12]), counting, cache=cache, refresh=True, progress=False)
    assert counting.images == 10 and refreshed.features.shape[0] == 1
    # a damaged file of rows is dropped with a warning, and its recordings are encoded again
    config = feature_config(dataset, FrameConfig(), backbone)
    oldest = sorted(cache.rows(config).glob("rows-*.npz"))[0]
    oldest.write_bytes(oldest.read_bytes()[:-50])
    counting = CountingBackbone(backbone)
    with caplog.at_level("WARNING", logger="neuroclip"):
        again = extract_features(Subset(dataset, [0, 3, 12]), counting, cache=cache, progress=False)
    assert "discarding the cache rows" in caplog.text and counting.images == 2 * 10  # 0 and 3 again
    np.testing.assert_allclose(again.features, reference.features[[0, 3, 12]], rtol=1e-5, atol=1e-5)
    # with the whole split cached, a subset is read from it: only the features of the shards that hold its rows
    whole = extract_features(dataset, backbone, cache=cache, shard_size=4, progress=False)
    read, member = [], np.lib.npyio.NpzFile.__getitem__

    def spy(archive, key):
        read.append((Path(archive.fid.name).name, key))
        return member(archive, key)

    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", spy)
    counting = CountingBackbone(backbone)
    from_whole = extract_features(Subset(dataset, [5, 18, 5]), counting, cache=cache, progress=False)
    assert counting.images == 0 and from_whole.path == whole.path
    np.testing.assert_array_equal(from_whole.features, whole.features[[5, 18, 5]])
    assert from_whole.labels.tolist() == whole.labels[[5, 18, 5]].tolist()
    assert sorted(name for name, key in read if key == "features") == ["shard-00001.npz", "shard-00004.npz"]


def test_an_interrupted_subset_extraction_resumes_with_the_recordings_it_lacks(backbone, dataset, tmp_path):
    """A subset's missing recordings are stored a shard at a time, so an interruption loses one shard at most."""
    from neuroclip.datasets import Subset

    cache = FeatureCache(tmp_path)
    drawn = Subset(dataset, [9, 1, 4, 16, 7, 12])
    failing = CountingBackbone(backbone, fail_after=2 * 2 * 10)  # stops in the third shard of 2 recordings
    with pytest.raises(KeyboardInterrupt):
        extract_features(drawn, failing, cache=cache, shard_size=2, batch_size=2, progress=False)
    stored = cache.load_rows(feature_config(dataset, FrameConfig(), backbone))
    assert stored[2].tolist() == [1, 4, 7, 9]  # the first two shards of the sorted missing recordings
    resuming = CountingBackbone(backbone)
    resumed = extract_features(drawn, resuming, cache=cache, shard_size=2, batch_size=2, progress=False)
    assert resuming.images == 2 * 10
    reference = extract_features(dataset, backbone, cache=None, progress=False)
    np.testing.assert_allclose(resumed.features, reference.features[[9, 1, 4, 16, 7, 12]], rtol=1e-5, atol=1e-5)


def _age(folder: Path, days: float) -> None:
    """Make every file of a cache entry look last written ``days`` ago."""
    import os

    when = time.time() - days * 86400
    for path in folder.iterdir():
        os.utime(path, (when, when))


def test_entries_describe_complete_partial_and_rows_folders(backbone, dataset, tmp_path):
    from neuroclip.datasets import Subset

    cache = FeatureCache(tmp_path)
    assert cache.entries() == []
    extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False)
    extract_features(Subset(dataset, [3, 0, 7]), backbone, cache=cache, frame_config=FrameConfig(n_frames=4),
                     progress=False)
    with pytest.raises(KeyboardInterrupt):  # stops inside the second shard of 8: one shard of 8 recordings done
        extract_features(dataset, CountingBackbone(backbone, fail_after=8 * 2), cache=cache, shard_size=8,
                         frame_config=FrameConfig(n_frames=2), progress=False)
    found = {entry.state: entry for entry in cache.entries()}
    assert set(found) == {"complete", "partial", "rows"} and len(cache.entries()) == 3
    complete, rows, partial = found["complete"], found["rows"], found["partial"]
    assert complete.recordings == 20 and rows.recordings == 3 and partial.recordings == 8
    assert all(entry.current for entry in found.values())
    assert same_config(complete.config, feature_config(dataset, FrameConfig(), backbone))
    assert partial.config["frames"]["n_frames"] == 2 and rows.config["frames"]["n_frames"] == 4
    described = complete.describe()
    assert described["dataset"] == "nmnist" and described["split"] == "train" and described["frames"] == 10
    assert described["model"] == "neuroclip-tiny-vit" and described["encoding"] == "discrimination"
    for entry in found.values():
        assert entry.bytes == sum(p.stat().st_size for p in entry.path.iterdir()) > 0
    (partial.path / "config.json").unlink()  # as an interrupted extraction of an earlier neuroclip left it
    unknown = [entry for entry in cache.entries() if entry.state == "partial"]
    assert [entry.current for entry in unknown] == [None] and unknown[0].config is None
    assert cache.prunable() == []  # kept: a run with its configuration may still resume it


def test_reading_an_entry_marks_it_used(backbone, dataset, tmp_path):
    from neuroclip.datasets import Subset

    cache = FeatureCache(tmp_path)
    extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False)
    extract_features(Subset(dataset, [1, 2]), backbone, cache=cache, frame_config=FrameConfig(n_frames=4),
                     progress=False)
    for entry in cache.entries():
        _age(entry.path, 30)
    assert all(entry.last_used < time.time() - 29 * 86400 for entry in cache.entries())
    extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False)  # read from the cache
    used = {entry.state: entry.last_used > time.time() - 3600 for entry in cache.entries()}
    assert used == {"complete": True, "rows": False}
    extract_features(Subset(dataset, [1]), backbone, cache=cache, frame_config=FrameConfig(n_frames=4),
                     progress=False)  # read from the rows
    assert all(entry.last_used > time.time() - 3600 for entry in cache.entries())


def test_prune_removes_what_this_version_cannot_read_and_what_went_unused(backbone, dataset, tmp_path,
                                                                          monkeypatch):
    import neuroclip

    cache = FeatureCache(tmp_path)
    monkeypatch.setattr(neuroclip, "__version__", "0.0.1")  # an entry written by an earlier release
    old = extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False).path
    monkeypatch.undo()
    fresh = extract_features(dataset, backbone, cache=cache, shard_size=10, progress=False).path
    idle = extract_features(dataset, backbone, cache=cache, frame_config=FrameConfig(n_frames=4),
                            progress=False).path
    broken = extract_features(dataset, backbone, cache=cache, frame_config=FrameConfig(n_frames=2),
                              progress=False).path
    (broken / "manifest.json").write_text("{not json")
    _age(idle, 10)
    current = {entry.path: entry.current for entry in cache.entries()}
    assert current == {old: False, fresh: True, idle: True, broken: False}
    assert {entry.path for entry, _ in cache.prunable()} == {old, broken}
    assert {entry.path for entry, _ in cache.prunable(unused_days=5)} == {old, broken, idle}
    assert {entry.path for entry, _ in cache.prunable(unused_days=20)} == {old, broken}
    assert len(cache.prunable(everything=True)) == 4
    with pytest.raises(ConfigError, match="--all removes every entry"):  # a cutoff --all would ignore
        cache.prunable(unused_days=5, everything=True)
    for entry, _ in cache.prunable(unused_days=5):
        cache.remove(entry)
    assert [entry.path for entry in cache.entries()] == [fresh] and not old.exists() and not idle.exists()
    counting = CountingBackbone(backbone)
    extract_features(dataset, counting, cache=cache, shard_size=10, progress=False)
    assert counting.images == 0  # the kept entry still serves its runs
    outside = dataclasses.replace(cache.entries()[0], path=tmp_path)
    with pytest.raises(ConfigError, match="not an entry"):
        cache.remove(outside)
    assert fresh.exists()


def test_cache_commands_list_and_prune(backbone, dataset, tmp_path, capsys, monkeypatch):
    import json

    import neuroclip
    from neuroclip.cli import main

    cache = FeatureCache(tmp_path)
    monkeypatch.setattr(neuroclip, "__version__", "0.0.1")
    old = extract_features(dataset, backbone, cache=cache, progress=False).path
    monkeypatch.undo()
    fresh = extract_features(dataset, backbone, cache=cache, progress=False).path
    capsys.readouterr()
    assert main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:4] == ["key", "state", "dataset", "split"]
    assert any(line.startswith(old.name[:12]) and "other version" in line for line in listed)
    assert any(line.startswith(fresh.name[:12]) and "other version" not in line for line in listed)
    assert listed[-1].startswith("2 entries")
    assert main(["cache", "list", "--cache-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["key"]: row["current"] for row in rows} == {old.name: False, fresh.name: True}
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and old.exists()
    assert main(["cache", "prune", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"removed {old}" in out and "1 kept" in out and not old.exists() and fresh.exists()
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--all"]) == 0
    assert "freed" in capsys.readouterr().out and not fresh.exists()
