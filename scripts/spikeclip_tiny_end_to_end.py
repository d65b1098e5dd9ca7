"""Every SpikeCLIP stage on CPU with tiny random-architecture models, on digit pictures and on real N-MNIST recordings.

The numbers this prints measure the pipeline, not SpikeCLIP's accuracy: the teacher is neuroclip-tiny-vit (embed
dim 64) with random weights, its image tower trained for a few hundred steps on the digits (or on N-MNIST event
frames) against its own random text embeddings so that its predictions are spread over the classes
(tests/helpers/digit_teacher.py); the student is the ``tiny`` preset (embed 32, one block, T = 4).

Stages: A (text alignment, template x class sentences), C (teacher fine-tuning against the SNN prototypes, run here
before B so that B and D distil the fine-tuned teacher), B (image alignment), D (dual loss). Reported on a split
never used for training or selection: alignment cosine (and the best constant output's), agreement with the
teacher's predictions (and Cohen's kappa), top-1, ELS, and the energy report.

    python scripts/spikeclip_tiny_end_to_end.py --out /tmp/spikeclip-tiny [--nmnist /path/to/nmnist]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.digit_teacher import DIGIT_WORDS, TEMPLATE, train_digit_teacher  # noqa: E402
from neuroclip.clip import load_backbone  # noqa: E402
from neuroclip.datasets.nmnist import link_nmnist_split  # noqa: E402
from neuroclip.energy import format_energy_report  # noqa: E402
from neuroclip.spikeclip.config import DataConfig, load_stage_config, model_config  # noqa: E402
from neuroclip.spikeclip.data import SampleView, open_source, select_indices  # noqa: E402
from neuroclip.spikeclip.energy_report import spikeclip_energy  # noqa: E402
from neuroclip.spikeclip.evaluate import evaluate  # noqa: E402
from neuroclip.spikeclip.model import ImagePreprocess, load_spikeclip  # noqa: E402
from neuroclip.spikeclip.train import run_stage  # noqa: E402

TEMPLATES = [TEMPLATE, "a picture of the number {}.", "a drawing of the number {}."]
KEYS = ("val_cosine", "val_cosine_constant_baseline", "val_agreement_teacher_clip_text", "val_kappa_teacher_clip_text",
        "val_agreement_teacher_snn_text", "val_agreement_teacher", "val_top1", "val_teacher_top1",
        "val_teacher_majority")


def stage(name: str, values: dict, log: dict) -> dict:
    started = time.time()
    result = run_stage(load_stage_config(values))
    best = result["history"][result["best"]["epoch"] - 1]
    log[name] = {"seconds": round(time.time() - started, 1), "steps": result["steps"],
                 "best_epoch": result["best"]["epoch"],
                 "best": {k: round(v, 4) for k, v in best.items() if isinstance(v, float)}}
    print(f"{name}: {log[name]}", flush=True)
    return result


def nmnist_split_root(nmnist: Path, out: Path, train_per_digit: int) -> Path:
    """An N-MNIST layout whose Test/ holds the recordings after the first ``train_per_digit`` of each digit of the
    given Train/ folder (symbolic links), so the test part is disjoint from training and validation."""
    root = out / "nmnist-split"
    link_nmnist_split(nmnist / "Train", root, train_per_digit)
    return root


def teacher_inputs(data: DataConfig, preset: str):
    source = open_source(data, "train")
    view = SampleView(source, select_indices(source, data, "train"), "teacher", model_config(preset),
                      ImagePreprocess())
    items = [view[i] for i in range(len(view))]
    if model_config(preset).modality == "events":  # every event frame of a recording carries its label
        images = torch.cat([x for x, _, _ in items])
        labels = torch.tensor([label for x, label, _ in items for _ in range(x.shape[0])])
        return images, labels
    return torch.stack([x for x, _, _ in items]), torch.tensor([label for _, label, _ in items])


def run(kind: str, data: dict, preset: str, out: Path, epochs_b: int) -> dict:
    log: dict = {"data": data, "preset": preset}
    folder = out / kind
    folder.mkdir(parents=True, exist_ok=True)
    train_data = DataConfig(**data)
    started = time.time()
    images, labels = teacher_inputs(train_data, preset)
    teacher_path = str(train_digit_teacher(folder / "teacher.pt", images, labels, steps=300))
    log["teacher_warmup_seconds"] = round(time.time() - started, 1)
    teacher = {"model": "neuroclip-tiny-vit", "pretrained": teacher_path}
    common = {"preset": preset, "progress": False, "model": {"teacher": teacher}}
    stage("A align-text", common | {
        "stage": "align-text", "out": str(folder / "a"), "select": "train_loss",
        "data": {"source": "sentences", "classnames": ["digits", "cifar10"], "templates": TEMPLATES,
                 "val_fraction": 0.0},
        "optim": {"epochs": 60, "batch_size": 8, "lr": 5e-2, "eta_min": 1e-3}}, log)
    stage("C finetune-teacher", common | {
        "stage": "finetune-teacher", "out": str(folder / "c"), "init": str(folder / "a" / "best.pt"),
        "data": data, "loss": {"teacher_logit_scale": 20.0},
        "optim": {"epochs": 3, "batch_size": 16, "lr": 1e-4, "eta_min": 1e-5}}, log)
    tuned = {"model": {"teacher": {"model": "neuroclip-tiny-vit", "pretrained": str(folder / "c" / "teacher.pt")}}}
    stage("B align-image", common | tuned | {
        "stage": "align-image", "out": str(folder / "b"), "init": str(folder / "a" / "best.pt"),
        "select": "val_cosine", "data": data,
        "optim": {"epochs": epochs_b, "batch_size": 16, "lr": 1e-2, "eta_min": 5e-4}}, log)
    stage("D finetune", common | tuned | {
        "stage": "finetune", "out": str(folder / "d"), "init": str(folder / "b" / "best.pt"), "data": data,
        "optim": {"epochs": 3, "batch_size": 16, "lr": 5e-4, "eta_min": 1e-5}}, log)
    backbone = load_backbone("neuroclip-tiny-vit", str(folder / "c" / "teacher.pt"), device="cpu")
    test = DataConfig(**{k: v for k, v in data.items() if k != "val_fraction"})
    for name in ("b", "d"):
        model = load_spikeclip(folder / name / "best.pt")
        result = evaluate(model, test, "test", backbone, els=(10, 40))
        log[f"test after {name.upper()}"] = {k: (round(v, 4) if isinstance(v, float) else v)
                                            for k, v in result.items() if k not in ("config",)
                                            and not k.endswith("version") and k != "python"}
        print(f"test after {name.upper()}: {log[f'test after {name.upper()}']}", flush=True)
    model = load_spikeclip(folder / "d" / "best.pt")
    source = open_source(test, "test")
    view = SampleView(source, select_indices(source, test, "test")[:64], "student", model.config, model.preprocess)
    batch = torch.stack([view[i][0] for i in range(len(view))])
    report = spikeclip_energy(model, [batch], load_backbone("neuroclip-tiny-vit", None, device="cpu"),
                              sentences=[TEMPLATE.format(DIGIT_WORDS[1])])
    (folder / "energy.txt").write_text(format_energy_report(report))
    print(format_energy_report(report), flush=True)
    log["energy"] = {"totals": report["totals"], "baselines": report["baselines"],
                     "firing_rate_mean": report["firing_rate_mean"], "measured_on": report["measured_on"]}
    return log


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/spikeclip-tiny"))
    parser.add_argument("--nmnist", type=Path, default=REPO.parent / "shared" / "data" / "nmnist")
    parser.add_argument("--only", choices=("digits", "nmnist"), default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    summary = {}
    if args.only in (None, "digits"):
        summary["digits"] = run("digits", {"source": "digits", "per_class": 40, "val_fraction": 0.25,
                                           "templates": [TEMPLATE]}, "tiny", args.out, epochs_b=25)
    if args.only in (None, "nmnist"):
        root = nmnist_split_root(args.nmnist, args.out, train_per_digit=35)
        summary["nmnist"] = run("nmnist", {"source": "nmnist", "root": str(root), "classnames": "digits",
                                           "val_fraction": 0.25, "templates": [TEMPLATE]}, "tiny-events",
                                args.out, epochs_b=25)
    text = json.dumps(summary, indent=2, default=str)
    (args.out / "summary.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
