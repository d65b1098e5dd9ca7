"""How many frames? Few-shot and zero-shot against T, on the DEVELOPMENT recordings only (never the held-out Test):

    python scripts/make_nmnist_heldout.py
    python scripts/frames_sweep_dev.py          # results/frames_sweep_dev.json (about 40 minutes on 2 CPU cores)

The same draws as ``scripts/fewshot_plus_ablation.py`` (K shots per digit from the 200 development recordings, the
other 20 - K of each digit scored, the ``shots`` protocol), repeated for each number of frames T (split by event
number, as NeuroCLIP does). Bundled neuroclip-mini. Prints mean top-1 (%) over the draws at K = 1, 2, 4, 8, 16 and
their mean; writes every draw's score to --out.

The T the README's "more frames" commands use was chosen from this file by ``RULE`` (below), fixed before this
sweep was run, after a first look (6 draws at T = 1 to 40) at the same development recordings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from fewshot_plus_ablation import SHOTS, check_out, development_features, score_over_draws, write_json

from neuroclip.fewshot.plus import PlusConfig

REPO = Path(__file__).resolve().parents[1]
METHODS = ("zeroshot", "neuroclip-plus", "tip", "tip-f", "linear")
CLOSE = 0.2  # points: a larger T must beat the choice among the smaller ones by more than this
RULE = ("from the smallest T up, a larger T replaces the choice so far only if its NeuroCLIP+ mean over both "
        f"encodings and every K is more than {CLOSE} points higher (encoding costs grow with T)")


def choose(rows: list[dict]) -> int:
    """``RULE``, applied to the NeuroCLIP+ rows of a finished sweep."""
    by_frames: dict[int, list[float]] = {}
    for row in rows:
        if row["method"] == "neuroclip-plus":
            by_frames.setdefault(row["frames"], []).append(float(np.mean(row["top1"])))
    means = {frames: float(np.mean(values)) for frames, values in by_frames.items()}
    chosen = None
    for frames in sorted(means):
        if chosen is None or means[frames] > means[chosen] + CLOSE:
            chosen = frames
    return chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--encodings", nargs="+", default=["discrimination", "eventbind"])
    parser.add_argument("--frames", nargs="+", type=int, default=[5, 10, 20, 40, 80])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "frames_sweep_dev.json")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    check_out(args.out)  # before the minutes of work, not after
    torch.set_num_threads(args.threads)
    rows = []
    for encoding in args.encodings:
        for n_frames in args.frames:
            features, labels, weights, scale, _ = development_features(args.root, encoding, n_frames=n_frames)
            for method in METHODS:
                started = time.perf_counter()
                means, per_draw = score_over_draws(method, features, labels, weights, scale, args.draws,
                                                   PlusConfig())
                rows.append({"encoding": encoding, "frames": n_frames, "method": method, "shots": list(SHOTS),
                             "top1": means, "top1_per_draw": per_draw})
                print(f"{encoding:<15}T={n_frames:<4}{method:<16}" + "".join(f"{v:7.1f}" for v in means) +
                      f"   mean {np.mean(means):5.1f}  ({time.perf_counter() - started:.0f} s)", flush=True)
    chosen = choose(rows)
    document = {"draws": args.draws, "model": "neuroclip-mini", "split_by": "number", "rule": RULE,
                "chosen_frames": chosen, "rows": rows}
    write_json(args.out, document)
    print(f"chosen T = {chosen} -> {args.out}")


if __name__ == "__main__":
    main()
