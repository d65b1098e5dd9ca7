"""Resident memory of feature extraction as the number of recordings grows: ours against a list-per-batch loop.

    python benchmarks/extract_memory.py [--sizes 300 1500] [--model neuroclip-mini]

Input: the real N-MNIST recordings under ``../shared/data/nmnist`` (repeated in order when a size asks for more), read
and framed on the CPU (discrimination frames, T = 10) and encoded by ``--model`` on the CPU, 32 recordings a batch.
Each size runs in a fresh process, which reports its resident set after extraction.

* ours: :func:`neuroclip.clip.extract.extract_features` (no cache), which fills arrays allocated once.
* list loop: the usual loop over the same DataLoader (:func:`neuroclip.datasets.loader.make_loader`) that keeps each
  batch's features, labels and indices in lists and concatenates them at the end (what neuroclip did before). Its
  small arrays, kept between the large image batches, make glibc's heap grow by about one batch of images per batch.

The script prints each run's resident MB, the growth per 1,000 recordings between the two sizes and the ratio of
the memory each way added while extracting the larger size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SHARED_NMNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmnist"

CHILD = r"""
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)
from neuroclip.clip import load_backbone
from neuroclip.clip.extract import extract_features
from neuroclip.clip.features import FrameConfig
from neuroclip.datasets import NMNIST
from neuroclip.datasets.loader import make_loader

way, n, model, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
backbone = load_backbone(model, device="cpu")
dataset = NMNIST(root, split="train_full")
subset = dataset.subset([i % len(dataset) for i in range(n)])
before = resident_mb()
if way == "ours":
    rows = extract_features(subset, backbone, FrameConfig(), None, progress=False).features.shape[0]
else:
    features, labels, order = [], [], []
    loader = make_loader(subset, FrameConfig(), backbone.image_size, 32, 0, mean=backbone.image_mean,
                         std=backbone.image_std)
    for images, batch_labels, positions in loader:
        encoded = backbone.encode_images(images.flatten(0, 1)).reshape(images.shape[0], images.shape[1], -1)
        features.append(encoded.numpy())
        labels.append(np.asarray(batch_labels))
        order.append(np.asarray(positions))
    rows = np.concatenate(features).shape[0]
print(json.dumps({"way": way, "n": n, "rows": rows, "before_mb": before, "after_mb": resident_mb()}))
"""


def measure(way: str, n: int, model: str, root: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, way, str(n), model, str(root)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {way} run with {n} recordings failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[300, 1500], metavar=("SMALL", "LARGE"))
    parser.add_argument("--model", default="neuroclip-mini")
    parser.add_argument("--nmnist", type=Path, default=SHARED_NMNIST)
    args = parser.parse_args()
    if not (args.nmnist / "Train").is_dir():
        raise SystemExit(f"no N-MNIST recordings under {args.nmnist}/Train; pass --nmnist FOLDER")
    small, large = sorted(args.sizes)
    added = {}
    for way in ("ours", "list loop"):
        runs = [measure("ours" if way == "ours" else "list", n, args.model, args.nmnist) for n in (small, large)]
        for run in runs:
            print(f"{way:9s} {run['n']:6d} recordings: resident {run['after_mb']:7.0f} MB "
                  f"({run['after_mb'] - run['before_mb']:+.0f} MB during extraction)")
        growth = (runs[1]["after_mb"] - runs[0]["after_mb"]) / (large - small) * 1000
        print(f"{way:9s} growth: {growth:+.0f} MB per 1,000 recordings")
        added[way] = runs[1]["after_mb"] - runs[1]["before_mb"]
    print(f"ratio (memory added by extracting {large} recordings, list loop / ours): "
          f"{added['list loop'] / added['ours']:.1f}x")


if __name__ == "__main__":
    main()
