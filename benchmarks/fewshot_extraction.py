"""Feature extraction of a few-shot run on a large train split: only the recordings the plan draws, against the
whole split.

    python benchmarks/fewshot_extraction.py [--copies 30] [--model neuroclip-mini] [--threads 2] [--only cache]

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

Then the feature cache across runs: after the plan with seeds 1 2 3 has filled a cache, the same plan with seeds
1 to 6 (a user adding draws), with that cache (it reads the draws of seeds 1-3 and encodes only the new ones)
against a cache holding only the test split (how a cache keyed by each run's drawn recordings behaved: a run with
other seeds re-encoded all its draws). Same rows checked, seconds, recordings encoded and the ratio printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from neuroclip.cache import FeatureCache
from neuroclip.clip import load_backbone, resolve_templates
from neuroclip.clip.extract import extract_features, feature_config
from neuroclip.clip.features import FrameConfig
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


def run(train, test, backbone, plan, threads: int, cache=None) -> tuple[float, dict]:
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    started = time.perf_counter()
    record = fewshot_experiment(train, test, backbone, names, templates, plan, device="cpu", progress=False,
                                cpu_threads=threads, cache=cache)
    return time.perf_counter() - started, record


def rows(record) -> list:
    return [(r["method"], r["shots"], r["seed"], r["top1"], r["correct"]) for r in record["results"]]


def stored_rows(cache: FeatureCache, train, backbone) -> int:
    """The train recordings whose features ``cache`` holds (the rows few-shot runs added)."""
    stored = cache.load_rows(feature_config(train, FrameConfig(), backbone))
    return 0 if stored is None else stored[2].size


def compare_caches(train, test, backbone, threads: int) -> None:
    first = FewShotPlan(methods=["zeroshot", "tip"], shots=[1, 2, 4, 8, 16], seeds=[1, 2, 3])
    more = FewShotPlan(methods=["zeroshot", "tip"], shots=[1, 2, 4, 8, 16], seeds=[1, 2, 3, 4, 5, 6])
    with tempfile.TemporaryDirectory() as filled, tempfile.TemporaryDirectory() as test_only:
        filled, test_only = FeatureCache(filled), FeatureCache(test_only)
        run(train, test, backbone, first, threads, filled)
        before = stored_rows(filled, train, backbone)
        extract_features(test, backbone, FrameConfig(), test_only, progress=False)
        reused_s, reused = run(train, test, backbone, more, threads, filled)
        again_s, again = run(train, test, backbone, more, threads, test_only)
        encoded = (stored_rows(filled, train, backbone) - before, stored_rows(test_only, train, backbone))
    print(f"seeds 1-6 after seeds 1-3, cache shared by the runs: {reused_s:7.1f} s, {encoded[0]:6d} train "
          f"recordings encoded (the first run had stored {before})")
    print(f"seeds 1-6, every draw encoded again (a cache per draw): {again_s:7.1f} s, {encoded[1]:6d} encoded")
    same = rows(reused) == rows(again)
    print(f"ratio: {again_s / reused_s:.1f}x; same rows: {same}")
    if not same:
        raise SystemExit("the two runs gave different rows")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30, help="links to each recording in Train (default 30)")
    parser.add_argument("--model", default="neuroclip-mini")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nmnist", type=Path, default=SHARED_NMNIST)
    parser.add_argument("--only", choices=["draws", "cache"], default=None,
                        help="run one comparison: draws (planned against whole split) or cache (across runs)")
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
        if args.only != "cache":
            compare_draws(train, test, backbone, plan, args.threads)
        if args.only != "draws":
            compare_caches(train, test, backbone, args.threads)


def compare_draws(train, test, backbone, plan, threads: int) -> None:
    planned_s, planned = run(train, test, backbone, plan, threads)
    whole_s, whole = run(Unlabelled(train), test, backbone, plan, threads)
    same = rows(planned) == rows(whole)
    encoded = [record["config"]["datasets"]["train"]["n_with_features"] for record in (planned, whole)]
    print(f"planned:     {planned_s:7.1f} s, {encoded[0]:6d} train recordings encoded")
    print(f"whole split: {whole_s:7.1f} s, {encoded[1]:6d} train recordings encoded")
    print(f"ratio (whole / planned): {whole_s / planned_s:.1f}x; same rows: {same}")
    if not same:
        raise SystemExit("the two runs gave different rows")


if __name__ == "__main__":
    main()
