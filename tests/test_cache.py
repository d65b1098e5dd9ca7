import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.small_nmnist import FirstSamples
from neuroclip.cache import FeatureCache, cache_key
from neuroclip.clip import load_backbone
from neuroclip.clip.extract import extract_features, feature_config
from neuroclip.clip.features import FrameConfig, frame_features

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
