"""Zero-shot with the frame features centred (``neuroclip zeroshot --center-on``), on the DEVELOPMENT recordings
only (never the held-out Test split):

    python scripts/make_nmnist_heldout.py
    python scripts/zeroshot_center_dev.py          # results/zeroshot_center_dev.json

Per draw, the 200 development recordings of out/nmnist-heldout (its train and val splits) are shuffled; the mean
normalised frame feature of the first N (10 or 50; their labels unused) is subtracted from the frame features of
the other 200 - N, which are scored zero-shot (NeuroCLIP's mean-cosine fusion, its template) against scoring them
as they are. 10 draws; bundled neuroclip-mini, T = 10 frames, every encoding CLIP reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from fewshot_plus_ablation import check_out, development_features, write_json

from neuroclip.clip import feature_center, fuse_logits
from neuroclip.frames.names import ENCODINGS

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--encodings", nargs="+", default=[name for name in ENCODINGS if name != "counts"])
    parser.add_argument("--unlabelled", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "zeroshot_center_dev.json")
    args = parser.parse_args()
    check_out(args.out)  # before the minutes of work, not after
    torch.set_num_threads(1)
    rows = []
    for encoding in args.encodings:
        features, labels, weights, scale, _ = development_features(args.root, encoding)
        scores = {"as is": {n: [] for n in args.unlabelled}, "centred": {n: [] for n in args.unlabelled}}
        for draw in range(args.draws):
            order = np.random.default_rng(draw).permutation(labels.numel())
            for n in args.unlabelled:
                pool, scored = order[:n], order[n:]
                center = feature_center(features[pool])
                for name, given in (("as is", None), ("centred", center)):
                    logits = fuse_logits(features[scored], weights, "mean_cosine", scale, center=given)
                    scores[name][n].append(100 * float((logits.argmax(1) == labels[scored]).float().mean()))
        for n in args.unlabelled:
            row = {"encoding": encoding, "unlabelled": n, "scored": labels.numel() - n,
                   "top1_as_is": float(np.mean(scores["as is"][n])),
                   "top1_centred": float(np.mean(scores["centred"][n])),
                   "std_centred": float(np.std(scores["centred"][n])),
                   "per_draw_as_is": [round(v, 2) for v in scores["as is"][n]],
                   "per_draw_centred": [round(v, 2) for v in scores["centred"][n]]}
            rows.append(row)
            print(f"{encoding:<15} N = {n:<3} as is {row['top1_as_is']:5.1f}   centred {row['top1_centred']:5.1f} "
                  f"± {row['std_centred']:.1f}   ({row['top1_centred'] - row['top1_as_is']:+.1f})", flush=True)
    write_json(args.out, {"draws": args.draws, "model": "neuroclip-mini", "rows": rows})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
