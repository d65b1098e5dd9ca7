"""Does fine-tuning CLIP's image tower on the shots beat NeuroCLIP+? On the DEVELOPMENT recordings only (never the
held-out Test split):

    python scripts/make_nmnist_heldout.py
    python scripts/finetune_tower_dev.py        # about 5 minutes on 2 CPU cores

The draws of ``scripts/fewshot_plus_ablation.py`` (K shots per digit from the 200 development recordings, the other
20 - K scored). Per draw, a copy of the bundled neuroclip-mini's image tower is trained on the shots' frames
(discrimination, T = 10) with cross-entropy against the zero-shot text classifier (the recording's mean normalised
frame feature, CLIP's logit scale; AdamW, batch norm statistics kept), then scored three ways: the fine-tuned tower
with the zero-shot text head, a WiSE-FT blend (half the zero-shot weights, half the fine-tuned ones), and NeuroCLIP+
trained on the fine-tuned tower's features; against zero-shot and NeuroCLIP+ on the frozen tower. The README quotes
its default run (8 shots, 6 draws). Not a method we ship: it costs a backward pass through the tower per step, and
it did not win.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fewshot_plus_ablation import REPO, development_features, draw, fit

from neuroclip.clip import load_backbone
from neuroclip.clip.presets import resolve_settings
from neuroclip.datasets import get_dataset
from neuroclip.fewshot.plus import PlusConfig
from neuroclip.frames.clip_input import FrameConfig, clip_frames


def development_images(root, backbone, encoding: str) -> torch.Tensor:
    """The CLIP input [200, T, 3, S, S] of the development recordings, in development_features' order."""
    train = get_dataset("nmnist", root, "train")
    settings = resolve_settings("nmnist", None, None, None, dataset_classes=list(train.classes))
    frames = FrameConfig(encoding=encoding, n_frames=10, split_by="number", threshold=settings.threshold)
    sizes = dict(size=backbone.image_size, mean=backbone.image_mean, std=backbone.image_std)
    splits = [get_dataset("nmnist", root, split) for split in ("train", "val")]
    return torch.stack([clip_frames(split[i][0], frames, **sizes) for split in splits for i in range(len(split))])


def frame_features(tower, images: torch.Tensor, batch: int = 50) -> torch.Tensor:
    """Raw per-frame features [N, T, C] of ``images`` [N, T, 3, S, S]."""
    with torch.no_grad():
        return torch.cat([tower(images[i:i + batch].flatten(0, 1)).reshape(len(images[i:i + batch]),
                                                                             images.shape[1], -1)
                          for i in range(0, len(images), batch)])


def recording_embedding(tower, images: torch.Tensor) -> torch.Tensor:
    """The normalised mean of the normalised frame features, with gradients."""
    features = tower(images.flatten(0, 1)).reshape(images.shape[0], images.shape[1], -1)
    return F.normalize(F.normalize(features, dim=-1).mean(1), dim=-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--shots", type=int, nargs="+", default=[8])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    features, labels, weights, scale, _ = development_features(args.root, "discrimination")
    backbone = load_backbone("neuroclip-mini", "default", device="cpu")
    images = development_images(args.root, backbone, "discrimination")
    classifier = F.normalize(weights, dim=-1)
    scores = {}
    for k in args.shots:
        for seed in range(args.draws):
            shots, rest = draw(labels, k, seed)
            tower = copy.deepcopy(backbone.model.visual).float().eval().requires_grad_(True)
            optimizer = torch.optim.AdamW(tower.parameters(), lr=args.lr, weight_decay=0.0)
            generator = torch.Generator().manual_seed(seed)
            for _ in range(args.epochs):
                order = torch.randperm(len(shots), generator=generator)
                for start in range(0, len(shots), 32):
                    batch = shots[order[start:start + 32].numpy()]
                    logits = scale * recording_embedding(tower, images[batch]) @ classifier.T
                    loss = F.cross_entropy(logits, labels[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            blend = copy.deepcopy(backbone.model.visual).float().eval()
            with torch.no_grad():
                for mine, tuned in zip(blend.parameters(), tower.parameters()):
                    mine.copy_(0.5 * mine + 0.5 * tuned)
            tower.requires_grad_(False)
            tuned_rest = frame_features(tower, images[rest])
            run = {"zero-shot": fit("zeroshot", None, None, weights, scale, seed, None)(features[rest]),
                   "NeuroCLIP+": fit("neuroclip-plus", features[shots], labels[shots], weights, scale, seed,
                                     PlusConfig())(features[rest]),
                   "fine-tuned tower": F.normalize(tuned_rest, dim=-1).mean(1) @ classifier.T,
                   "WiSE-FT (1/2)": F.normalize(frame_features(blend, images[rest]), dim=-1).mean(1) @ classifier.T,
                   "NeuroCLIP+ on the fine-tuned tower": fit("neuroclip-plus", frame_features(tower, images[shots]),
                                                             labels[shots], weights, scale, seed,
                                                             PlusConfig())(tuned_rest)}
            for name, logits in run.items():
                scores.setdefault((k, name), []).append(100 * float((logits.argmax(1) == labels[rest]).float().mean()))
            print(k, seed, {name: round(scores[(k, name)][-1], 1) for name in run}, flush=True)
    for (k, name), values in scores.items():
        print(f"K = {k:<3}{name:<38}{np.mean(values):6.1f}")


if __name__ == "__main__":
    main()
