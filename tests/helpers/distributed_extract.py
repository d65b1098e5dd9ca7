"""Run under torchrun: extract features of a few real N-MNIST recordings into a shared cache; rank 0 saves them."""

import sys

import numpy as np
import torch

from neuroclip.cache import FeatureCache
from neuroclip.clip import load_backbone
from neuroclip.clip.extract import extract_features

sys.path.insert(0, sys.argv[4])
from helpers.small_nmnist import FirstSamples  # noqa: E402


def main():
    nmnist_root, cache_root, out = sys.argv[1:4]
    torch.distributed.init_process_group("gloo")
    backbone = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    result = extract_features(FirstSamples(nmnist_root, 2), backbone, cache=FeatureCache(cache_root), shard_size=3,
                              batch_size=2, progress=False)
    if torch.distributed.get_rank() == 0:
        np.savez(out, features=result.features, labels=result.labels, indices=result.indices)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
