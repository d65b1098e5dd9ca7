"""Feature extraction of a few-shot run on a large train split: only the recordings the plan draws, against the
whole split.

    python benchmarks/fewshot_extraction.py [--copies 30] [--model neuroclip-mini] [--threads 2]

Input: an N-MNIST folder (``Train/<digit>/``, ``Test/<digit>/``) of symbolic links to the 500 real recordings under
``../shared/data/nmnist``, each linked ``--copies`` times into ``Train`` (30: 15,000 recordings, a quarter of
N-MNIST's 60,000) and once into ``Test``. The copies only make the split large; the timing is what matters here, so
the accuracies it prints are of no interest (the test recordings are also in the train split).

* planned: :func:`neuroclip.fewshot.fewshot_experiment` as ``neuroclip fewshot`` runs it: a train split that lists
  its labels has only the recordings of :meth:`FewShotPlan.train_positions` encoded.
* whole split: the same experiment on the same split wrapped so that it does not list its labels, which makes
  every train recording be encoded first (what every ``neuroclip fewshot`` did before). NeuroCLIP's released code
  (Dassl) also draws the shots before it encodes anything, so planned is the released code's cost.

The plan is the README's: shots 1 2 4 8 16, seeds 1 2 3, here with zero-shot and Tip-Adapter (fast heads: the
extraction is what is timed). Both runs use no feature cache. The script checks that both give the same rows
(top-1 and the per-recording hits) and prints the seconds, the recordings encoded and the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from neuroclip.clip import load_backbone, resolve_templates
from neuroclip.datasets import NMNIST
from neuroclip.fewshot import FewShotPlan, fewshot_experiment

SHARED_NMNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmnist"


class Unlabelled:
    """A dataset that reads like the one given but does not list its labels."""

    def __init__(self, dataset):
        self._dataset = dataset
        self.name, self.root, self.split, self.samples = dataset.name, dataset.root, dataset.split, dataset.samples

    def __len__(self):
        return len(self._dataset)

    def __getitem__(self, index):
        return self._dataset[index]


def link_folder(source: Path, target: Path, copies: int) -> int:
    """``target/Train/<digit>/`` with ``copies`` links to each recording of ``source/Train/<digit>/``, and
    ``target/Test/<digit>/`` with one; returns the train recordings."""
    n_train = 0
    for digit in sorted(p.name for p in (source / "Train").iterdir() if p.is_dir()):
        files = sorted((source / "Train" / digit).glob("*.bin"))
        for split, repeats in (("Train", copies), ("Test", 1)):
            folder = target / split / digit
            folder.mkdir(parents=True, exist_ok=True)
            for copy in range(repeats):
                for file in files:
                    os.symlink(file.resolve(), folder / f"{copy}_{file.name}")
        n_train += copies * len(files)
    return n_train


def run(train, test, backbone, plan, threads: int) -> tuple[float, dict]:
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    started = time.perf_counter()
    record = fewshot_experiment(train, test, backbone, names, templates, plan, device="cpu", progress=False,
                                cpu_threads=threads)
    return time.perf_counter() - started, record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30, help="links to each recording in Train (default 30)")
    parser.add_argument("--model", default="neuroclip-mini")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nmnist", type=Path, default=SHARED_NMNIST)
    args = parser.parse_args()
    if not (args.nmnist / "Train").is_dir():
        raise SystemExit(f"no N-MNIST recordings under {args.nmnist}/Train; pass --nmnist FOLDER")
    torch.set_num_threads(args.threads)
    backbone = load_backbone(args.model, device="cpu")
    plan = FewShotPlan(methods=["zeroshot", "tip"], shots=[1, 2, 4, 8, 16], seeds=[1, 2, 3])
    with tempfile.TemporaryDirectory() as folder:
        n_train = link_folder(args.nmnist, Path(folder), args.copies)
        train, test = NMNIST(folder, split="train"), NMNIST(folder, split="test")
        print(f"{n_train} linked recordings in Train ({len(train)} in its train split), {len(test)} in Test; "
              f"{args.model}, {args.threads} CPU threads")
        planned_s, planned = run(train, test, backbone, plan, args.threads)
        whole_s, whole = run(Unlabelled(train), test, backbone, plan, args.threads)
    same = [(r["method"], r["shots"], r["seed"], r["top1"], r["correct"]) for r in planned["results"]] == \
        [(r["method"], r["shots"], r["seed"], r["top1"], r["correct"]) for r in whole["results"]]
    encoded = [record["config"]["datasets"]["train"]["n_with_features"] for record in (planned, whole)]
    print(f"planned:     {planned_s:7.1f} s, {encoded[0]:6d} train recordings encoded")
    print(f"whole split: {whole_s:7.1f} s, {encoded[1]:6d} train recordings encoded")
    print(f"ratio (whole / planned): {whole_s / planned_s:.1f}x; same rows: {same}")
    if not same:
        raise SystemExit("the two runs gave different rows")


if __name__ == "__main__":
    main()
