"""Two framings at once? Discrimination frames alone against discrimination frames followed by a second encoding's
frames, on the DEVELOPMENT recordings only (never the held-out Test):

    python scripts/make_nmnist_heldout.py
    python scripts/encoding_pairs_dev.py        # results/encoding_pairs_dev.json (about 15 minutes on 2 CPU cores)

CLIP encodes every frame alone, so a recording framed as T discrimination frames then T frames of a partner encoding
has the features of both framings side by side ([2T, C]): what the registered encoding ``discrimination+voxel_grid``
gives (the script checks that its features are the two parts' features, concatenated). The same draws as
``scripts/fewshot_plus_ablation.py`` (K shots per digit from the 200 development recordings, the other 20 - K of
each digit scored, the ``shots`` protocol), T = 10 per part, split by event number; bundled neuroclip-mini. Prints
mean top-1 (%) over the draws at K = 1, 2, 4, 8, 16 and their mean; writes every draw's score to --out.

The partner was chosen by ``RULE``. The rule was written after a first look at the same draws (zero-shot and
NeuroCLIP+ only, in ``out/dev``), so it records the choice rather than blinding it; the held-out recordings were not
read for it.
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
BASE = "discrimination"
PARTNERS = ("eventclip", "eventbind", "time_surface", "voxel_grid")
CLOSE = 0.2  # points: a pair must beat discrimination frames alone by more than this
RULE = ("the partner whose pair has the highest NeuroCLIP+ mean over every K, used only if that mean is more than "
        f"{CLOSE} points above discrimination frames alone (a pair costs twice the frames)")


def choose(rows: list[dict]) -> str:
    """``RULE``, applied to the NeuroCLIP+ rows of a finished run: the encoding's name (a pair or ``BASE``)."""
    means = {row["encoding"]: float(np.mean(row["top1"])) for row in rows if row["method"] == "neuroclip-plus"}
    best = max((name for name in means if name != BASE), key=means.get)
    return best if means[best] > means[BASE] + CLOSE else BASE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "encoding_pairs_dev.json")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    check_out(args.out)  # before the minutes of work, not after
    torch.set_num_threads(args.threads)
    base, labels, weights, scale, _ = development_features(args.root, BASE)
    registered, *_ = development_features(args.root, f"{BASE}+voxel_grid")
    encodings = {BASE: base}
    for partner in PARTNERS:
        encodings[f"{BASE}+{partner}"] = torch.cat([base, development_features(args.root, partner)[0]], dim=1)
    if not torch.equal(registered, encodings[f"{BASE}+voxel_grid"]):
        raise SystemExit("the registered pair's features are not its parts' features side by side")
    rows = []
    for encoding, features in encodings.items():
        for method in METHODS:
            started = time.perf_counter()
            means, per_draw = score_over_draws(method, features, labels, weights, scale, args.draws, PlusConfig())
            rows.append({"encoding": encoding, "method": method, "shots": list(SHOTS), "top1": means,
                         "top1_per_draw": per_draw})
            print(f"{encoding:<30}{method:<16}" + "".join(f"{v:7.1f}" for v in means) +
                  f"   mean {np.mean(means):5.1f}  ({time.perf_counter() - started:.0f} s)", flush=True)
    chosen = choose(rows)
    document = {"draws": args.draws, "model": "neuroclip-mini", "frames_per_part": 10, "split_by": "number",
                "rule": RULE, "chosen": chosen, "rows": rows}
    write_json(args.out, document)
    print(f"chosen: {chosen} -> {args.out}")


if __name__ == "__main__":
    main()
