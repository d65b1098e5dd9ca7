"""NeuroCLIP+ design measurements on the DEVELOPMENT recordings only (never the held-out Test split):

    python scripts/make_nmnist_heldout.py
    python scripts/fewshot_plus_ablation.py --base no-prior     # results/fewshot_plus_ablation_dev.json
    python scripts/fewshot_plus_ablation.py --base no-prior --update --baselines --variants \
        --views counts counts-noflip events
    python scripts/fewshot_plus_ablation.py --base no-prior --draws 10 --baselines --variants full 4-heads \
        --views counts-noflip events --out results/fewshot_plus_ablation_dev_10draws.json
    python scripts/fewshot_plus_ablation.py [--encodings discrimination eventbind] [--draws 6] [--variants full relu]
    python scripts/fewshot_plus_ablation.py --weights out/sweep/hw50-4k-s0.safetensors --draws 10 \
        --baselines zeroshot tip tip-f linear --variants full --out results/fewshot_plus_ablation_dev_hw50_4k.json
    python scripts/fewshot_plus_ablation.py --width 512 --draws 10 --baselines zeroshot tip --variants full \
        --out results/fewshot_plus_ablation_dev_width512.json

The 200 development recordings of out/nmnist-heldout (its train and val splits, 20 per digit) are split per draw:
K shots per digit drawn at random, the other 20 - K of each digit scored. Every method sees only its shots (the
default ``shots`` protocol). Prints mean top-1 (%) over the draws at K = 1, 2, 4, 8, 16 for the baselines and for
NeuroCLIP+ with one part changed at a time (from ``--base``, the final recipe unless told), and writes them to
--out (JSON, with every draw's score). Bundled neuroclip-mini (``--weights``: another export of it, e.g. a
candidate of scripts/sweep_neuroclip_mini.py), T = 10 frames; features come from the feature cache (the same one
``neuroclip fewshot`` fills; its entries are keyed by the weights). ``--views`` rows train with 8 augmented views
of each shot (``neuroclip fewshot --augment KIND --augment-views 8``; encoded here, about a minute per kind and
encoding on a CPU) for NeuroCLIP+ and for the baselines that take views (Tip-Adapter, Tip-Adapter-F). ``--width N``
maps the features and class weights isometrically into N dimensions (a random orthonormal map, seeded by N; every
cosine, so zero-shot and Tip-Adapter, unchanged): whether the recipe, designed at neuroclip-mini's width of 128,
depends on the width of a larger CLIP's embedding as such.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from neuroclip.cache import FeatureCache
from neuroclip.clip import load_backbone, text_classifier
from neuroclip.clip.backbone import load_bundled
from neuroclip.clip.extract import extract_features
from neuroclip.clip.features import FrameConfig
from neuroclip.clip.presets import resolve_settings
from neuroclip.datasets import get_dataset
from neuroclip.errors import ConfigError, NeuroclipError
from neuroclip.fewshot.augment import augmented_view_features, view_config
from neuroclip.fewshot.baselines import (
    WITHIN_SHOTS,
    fit_linear_probe,
    fit_tip_adapter,
    fit_tip_adapter_f,
    zero_shot_logits,
)
from neuroclip.fewshot.plus import PlusConfig, fit_neuroclip_plus
from neuroclip.fewshot.train import predict_logits, recipe, train_adapter
from neuroclip.outputs import atomic_write, check_output_file

REPO = Path(__file__).resolve().parents[1]
SHOTS = (1, 2, 4, 8, 16)
VARIANTS = {  # NeuroCLIP+ with one part changed (README ablation table)
    "full": {},
    "relu": {"bottleneck": "relu"},
    "no-bottleneck": {"bottleneck": "none"},
    "no-frame-augmentation": {"frame_keep": 1.0},
    "own-key-in-training": {"loo_cache": False},
    "no-calibration": {"calibrate": False},
    "no-cache": {"cache": False},
    "grid-cache": {"cache_fit": "grid"},
    "training-free": {"residual": False},
    "lr-1e-2": {"lr": 1e-2},
    "weight-decay-0.1": {"weight_decay": 0.1},
    "frame-keep-0.3": {"frame_keep": 0.3},  # each frame kept with probability 0.3 (0.5 in the recipe)
    "frame-keep-0.7": {"frame_keep": 0.7},
    "no-prior": {"prior": 0.0},  # the recipe before the prior on the head (README's 6-draw table)
    "prior-0.1": {"prior": 0.1},
    "prior-1": {"prior": 1.0},
    "100-epochs": {"epochs": 100},
    "400-epochs": {"epochs": 400},
    "cv-shrink": {"shrink": "cv"},  # lambda (the trained part's weight) by 4-fold CV within the shots, NLL
    "cv-shrink-accuracy": {"shrink": "cv", "shrink_criterion": "accuracy"},
    "per-frame-head": {"head_input": "frames"},  # per-timestep logits averaged instead of the mean feature
    "4-heads": {},  # the softmax of four heads, trained with different seeds, averaged (HEADS)
}
HEADS = {"4-heads": 4}  # variants that average several heads' probabilities, and how many
BASELINES = ("zeroshot", "tip", "tip-f", "linear", "neuroclip")
VIEW_METHODS = ("neuroclip-plus", "tip", "tip-f")  # the methods here that take views (the linear probe does not)


def development_features(root: Path, encoding: str, view_kinds=(), n_frames: int = 10, backbone=None,
                         cache: Path | None = None, splits: tuple[str, ...] = ("train", "val")):
    """(features [200, T, C], labels, class weights, logit scale, {kind: views [200, 8, T, C]}) of the development
    recordings, T = ``n_frames``; a split's views are drawn with the split's number as seed (train 0, val 1).
    ``backbone``: the bundled neuroclip-mini unless given; ``cache``: the feature cache's folder (the user's);
    ``splits``: the development splits unless told (``scripts/fewshot_within_heldout.py`` reads ``("test",)``)."""
    backbone = backbone or load_backbone("neuroclip-mini", "default", device="cpu")
    try:
        datasets = [get_dataset("nmnist", root, split) for split in splits]
    except NeuroclipError as error:  # a missing or partial folder: its message and the command that makes ours
        raise SystemExit(f"{error}\n(out/nmnist-heldout, the scripts' default --root, is made by: "
                         "python scripts/make_nmnist_heldout.py)") from None
    settings = resolve_settings("nmnist", None, None, None, dataset_classes=list(datasets[0].classes))
    frames = FrameConfig(encoding=encoding, n_frames=n_frames, split_by="number", threshold=settings.threshold)
    parts = [extract_features(dataset, backbone, frames, FeatureCache(cache), progress=False) for dataset in datasets]
    features = torch.tensor(np.concatenate([p.features for p in parts]), dtype=torch.float32)
    labels = torch.tensor(np.concatenate([p.labels for p in parts]).astype(np.int64))
    weights = text_classifier(backbone, list(settings.classnames), list(settings.templates)).float().cpu()
    views = {}
    for kind in view_kinds:
        config = view_config(kind, 8, encoding)
        views[kind] = torch.tensor(np.concatenate([
            augmented_view_features(dataset, range(len(part.labels)), backbone, frames, config, seed=number)
            for number, (dataset, part) in enumerate(zip(datasets, parts))]))
    return features, labels, weights, backbone.logit_scale, views


def check_width(width: int, model_width: int) -> None:
    """Exit with one line if an isometric map cannot take ``model_width`` dimensions into ``width``."""
    if width < model_width:
        raise SystemExit(f"--width {width}: an isometric map needs at least the model's {model_width} dimensions")


def widened(features, weights, views: dict, width: int):
    """``features`` [N, T, C], ``weights`` [K, C] and every view [N, V, T, C] mapped into ``width`` dimensions by
    a random matrix with orthonormal columns (seeded by ``width``): every cosine stays as it was."""
    check_width(width, features.shape[-1])
    generator = torch.Generator().manual_seed(width)
    isometry, _ = torch.linalg.qr(torch.randn(width, features.shape[-1], generator=generator))  # [width, C]
    return features @ isometry.T, weights @ isometry.T, {kind: v @ isometry.T for kind, v in views.items()}


def check_out(path: Path) -> None:
    """Exit with one line if ``path`` cannot take the JSON result (a folder, another suffix, no permission)."""
    try:
        check_output_file(path, "--out", (".json",))
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def write_json(path: Path, document: dict) -> None:
    """``document`` to ``path`` atomically: an interrupted write leaves the previous file, never half of one."""
    atomic_write(path, lambda fp: fp.write(json.dumps(document, indent=2).encode()))


def draw(labels: torch.Tensor, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K shots per class and the rest, drawn with ``seed`` (different from the README runs' seeds 1, 2, 3)."""
    rng = np.random.default_rng(1000 + seed)
    shots, rest = [], []
    for label in range(int(labels.max()) + 1):
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        shots.append(members[:k])
        rest.append(members[k:])
    return np.concatenate(shots), np.concatenate(rest)


def fit(method: str, x, y, weights, scale: float, seed: int, plus: PlusConfig, views=None, heads: int = 1):
    if method == "zeroshot":
        return lambda q: zero_shot_logits(q, weights, scale)
    if method == "linear":
        return fit_linear_probe(x, y, weights.shape[0], WITHIN_SHOTS).logits
    if method == "tip":
        return fit_tip_adapter(x, y, weights, scale, WITHIN_SHOTS, views=views).logits
    if method == "tip-f":
        return fit_tip_adapter_f(x, y, weights, scale, WITHIN_SHOTS, seed=seed, views=views).logits
    if method == "neuroclip":
        trained = train_adapter(x, y, weights, scale, recipe(), seed)
        return lambda q: predict_logits(trained.model, q)
    if heads > 1:  # the heads' seeds lie 1000 apart, away from other draws' seeds
        fitted = [fit_neuroclip_plus(x, y, weights, scale, WITHIN_SHOTS, plus, seed + 1000 * h, views=views)
                  for h in range(heads)]
        return lambda q: torch.stack([f.logits(q).softmax(1) for f in fitted]).mean(0)
    return fit_neuroclip_plus(x, y, weights, scale, WITHIN_SHOTS, plus, seed, views=views).logits


def score_over_draws(method: str, features, labels, weights, scale: float, draws: int, plus: PlusConfig,
                     views=None, heads: int = 1) -> tuple[list[float], list[list[float]]]:
    """(mean top-1 % per K of :data:`SHOTS`, every draw's top-1 % per K) of ``method`` over ``draws`` draws."""
    means, per_draw = [], []
    for k in SHOTS:
        scores = []
        for seed in range(draws):
            shots, rest = draw(labels, k, seed)
            predict = fit(method, features[shots], labels[shots], weights, scale, seed, plus,
                          None if views is None else views[shots], heads)
            scores.append(float((predict(features[rest]).argmax(1) == labels[rest]).float().mean()))
        means.append(100 * float(np.mean(scores)))
        per_draw.append([round(100 * v, 2) for v in scores])
    return means, per_draw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--encodings", nargs="+", default=["discrimination", "eventbind"])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--base", default="full", choices=list(VARIANTS),
                        help="the recipe every row starts from (no-prior: the recipe of results/"
                             "fewshot_plus_ablation_dev.json, before the prior on the head)")
    parser.add_argument("--views", nargs="*", default=[], choices=["events", "counts", "counts-noflip"],
                        help="also run NeuroCLIP+, Tip-Adapter and Tip-Adapter-F with 8 views of each shot")
    parser.add_argument("--weights", type=Path, default=None,
                        help="another neuroclip-mini export (.safetensors) in place of the bundled weights")
    parser.add_argument("--width", type=int, default=None,
                        help="map the features isometrically into this many dimensions (at least the model's)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "fewshot_plus_ablation_dev.json")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of --out that this run does not recompute (same draws)")
    args = parser.parse_args()
    check_out(args.out)  # before the minutes of work, not after
    if args.weights is None:
        backbone = load_backbone("neuroclip-mini", "default", device="cpu")
    else:
        if not args.weights.is_file():
            raise SystemExit(f"--weights {args.weights}: no such file (an export of scripts/train_neuroclip_mini.py "
                             "or scripts/sweep_neuroclip_mini.py)")
        try:
            backbone = load_bundled(torch.device("cpu"), path=args.weights)
        except NeuroclipError as error:
            raise SystemExit(f"--weights: {error}") from None
    if args.width is not None:
        check_width(args.width, backbone.embed_dim)
    torch.set_num_threads(1)
    table = []
    for encoding in args.encodings:
        features, labels, weights, scale, views = development_features(args.root, encoding, args.views,
                                                                       backbone=backbone)
        if args.width is not None:
            features, weights, views = widened(features, weights, views, args.width)
        methods = [(m, None, None) for m in args.baselines] + [("neuroclip-plus", v, None) for v in args.variants]
        methods += [(m, None, kind) for kind in args.views for m in VIEW_METHODS]
        for method, variant, kind in methods:
            plus = PlusConfig().replace(**VARIANTS[args.base])
            plus = plus.replace(**VARIANTS[variant]) if variant else plus
            started = time.perf_counter()
            means, per_draw = score_over_draws(method, features, labels, weights, scale, args.draws, plus,
                                               None if kind is None else views[kind], HEADS.get(variant, 1))
            name = method if variant is None else f"{method} [{variant}]"
            name = name if kind is None else f"{method} [8 {kind} views]"
            table.append({"encoding": encoding, "method": name, "shots": list(SHOTS), "top1": means,
                          "top1_per_draw": per_draw})
            print(f"{encoding:<15}{name:<42}" + "".join(f"{v:7.1f}" for v in means) +
                  f"   mean {np.mean(means):5.1f}  ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.update and args.out.exists():
        previous = json.loads(args.out.read_text())
        if previous.get("draws") != args.draws:
            raise SystemExit(f"--update: {args.out} has {previous.get('draws')} draws, this run {args.draws}")
        if previous.get("weights") != (None if args.weights is None else args.weights.name):
            raise SystemExit(f"--update: {args.out} was run with other weights ({previous.get('weights')})")
        if previous.get("width") != args.width:
            raise SystemExit(f"--update: {args.out} was run at width {previous.get('width')}, this run {args.width}")
        if previous.get("base", "full") != args.base:
            raise SystemExit(f"--update: {args.out} starts from {previous.get('base', 'full')!r}, this run from "
                             f"{args.base!r}")
        done = {(row["encoding"], row["method"]) for row in table}
        kept = [row for row in previous["rows"] if (row["encoding"], row["method"]) not in done]
        table = kept + table
    document = {"draws": args.draws, "base": args.base, "model": "neuroclip-mini", "rows": table}
    if args.width is not None:
        document["width"] = args.width
    if args.weights is not None:  # a candidate's export, by file name and the fingerprint of its weights
        document |= {"weights": args.weights.name, "weights_fingerprint": backbone.fingerprint()}
    write_json(args.out, document)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
