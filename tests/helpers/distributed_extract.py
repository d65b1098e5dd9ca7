"""Run under torchrun: extract features of some of a few real N-MNIST recordings (a Subset: each rank encodes a
share of them into the split's rows) and then of all of them into a shared cache; rank 0 saves both."""

import sys

import numpy as np
import torch

from neuroclip.cache import FeatureCache
from neuroclip.clip import load_backbone
from neuroclip.clip.extract import extract_features
from neuroclip.datasets import Subset

sys.path.insert(0, sys.argv[4])
from helpers.small_nmnist import FirstSamples  # noqa: E402

SUBSET = [5, 2, 9, 2, 14]


def main():
    nmnist_root, cache_root, out = sys.argv[1:4]
    torch.distributed.init_process_group("gloo")
    backbone = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    samples = FirstSamples(nmnist_root, 2)
    drawn = extract_features(Subset(samples, SUBSET), backbone, cache=FeatureCache(cache_root), batch_size=2,
                             progress=False)
    result = extract_features(samples, backbone, cache=FeatureCache(cache_root), shard_size=3,
                              batch_size=2, progress=False)
    if torch.distributed.get_rank() == 0:
        np.savez(out, features=result.features, labels=result.labels, indices=result.indices,
                 subset_features=drawn.features, subset_labels=drawn.labels)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
