"""Score the students of scripts/train_neuroclip_mini_spiking.py (issue #16) on real N-MNIST recordings and on
scikit-learn's digits test split: zero-shot top-1 next to the teacher neuroclip-mini, agreement, ELS and ULS,
firing rates per layer, energy per sample (45 nm presets) and the accuracy-vs-timesteps plot.

    python scripts/make_nmnist_heldout.py                                  # out/nmnist-heldout (Train 200 / Test 300)
    python scripts/evaluate_neuroclip_mini_spiking.py --split dev          # development recordings: for choices
    python scripts/evaluate_neuroclip_mini_spiking.py --split heldout      # once, at the end -> results/

``snn-t4`` after stage B is scored as the bundled file (``neuroclip-mini-spiking``, fp16) when it exists
(``--from-runs``: the training run's checkpoint instead). Every number is the bundled small models', not the
paper's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from neuroclip.outputs import atomic_write

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from train_neuroclip_mini_spiking import DEFAULT_OUT, NEUROCLIP_TEMPLATE, VARIANTS  # noqa: E402

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ULS_NAMES = {str(d): word for d, word in enumerate(WORDS)}  # ULS: two digits renamed by their word
PRESETS = ["45nm-fp32", "45nm-fp16", "45nm-int8"]


def checkpoint_of(variant: str, out: Path, stage: str = "b", bundled: bool = True) -> str:
    from neuroclip.spikeclip.model import BUNDLED_SPIKECLIP

    # the bundled model is snn-t4 after stage B (stage D is not part of it: README, "neuroclip-mini-spiking")
    if bundled and variant == "snn-t4" and stage == "b" and BUNDLED_SPIKECLIP["neuroclip-mini-spiking"].is_file():
        return "neuroclip-mini-spiking"
    return str(out / "runs" / variant / stage / "best.pt")


def energy(model, data, split: str, teacher, samples: int) -> dict:
    from neuroclip.spikeclip.data import SampleView, open_source, select_indices
    from neuroclip.spikeclip.energy_report import spikeclip_energy

    source = open_source(data, data.test_split if split == "test" else data.split)
    indices = select_indices(source, data, split)[:samples]
    view = SampleView(source, indices, "student", model.config, model.preprocess)
    loader = torch.utils.data.DataLoader(view, batch_size=64)
    report = spikeclip_energy(model, (x for x, _, _ in loader), teacher, PRESETS)
    layers = [{"layer": row["layer"], "type": row["type"], "input": row["input"], "steps": row["steps"],
               "flops": row["flops"], "firing_rate": row["firing_rate"], "sops": row["sops"], "macs": row["macs"]}
              for row in report["layers"]]
    return {"samples": report["measured_on"]["samples"], "totals": report["totals"],
            "firing_rate_mean": report["firing_rate_mean"], "baselines": report["baselines"], "layers": layers}


def score(variant: str, out: Path, data, split: str, teacher, stage: str = "b", samples: int = 300,
          bundled: bool = True, quick: bool = False) -> dict:
    from neuroclip.spikeclip.evaluate import evaluate
    from neuroclip.spikeclip.model import load_spikeclip

    checkpoint = checkpoint_of(variant, out, stage, bundled)
    model = load_spikeclip(checkpoint, device=teacher.device)
    model._tokenizer = teacher.tokenizer
    started = time.time()
    if quick:  # top-1 and agreement with the teacher only (choices between recipes)
        result = evaluate(model, data, split, teacher)
        return {"variant": variant, "stage": stage, "checkpoint": checkpoint, "seconds": round(time.time() - started, 1)
                } | {k: result[k] for k in ("n_samples", "top1", "teacher_top1", "agreement_teacher",
                                            "teacher_cosine") if k in result}
    result = evaluate(model, data, split, teacher, els=(10, 40), uls=True, uls_replacements=ULS_NAMES)
    keep = ("n_samples", "top1", "teacher_top1", "agreement_teacher", "kappa_teacher", "teacher_cosine",
            "cosine_constant_baseline", "agreement_teacher_clip_text", "els", "uls")
    row = {"variant": variant, "stage": stage, "checkpoint": checkpoint,
           "modality": VARIANTS[variant][0], "timesteps": VARIANTS[variant][1], "activation": VARIANTS[variant][2]}
    row |= {k: result[k] for k in keep if k in result}
    row["uls"] = {"mean_top1": result["uls"]["mean_top1"],
                  "per_seed": {s: v["top1"] for s, v in result["uls"]["per_seed"].items()}}
    row["energy"] = energy(model, data, split, teacher, samples)
    row["seconds"] = round(time.time() - started, 1)
    return row


def summary_line(row: dict) -> str:
    e = row["energy"]
    fp32 = e["totals"]["energy_mj"]["45nm-fp32"]
    teacher = next((v for k, v in e["baselines"].items() if k.startswith("CLIP teacher")), None)
    ratio = teacher["snn_energy_ratio"]["45nm-fp32"] if teacher else None
    els = ", ".join(f"{k}:{v:.3f}" for k, v in row["els"].items())
    return (f"{row['variant']:7s} {row['stage']} top1 {row['top1']:.4f} teacher {row.get('teacher_top1', 0):.4f} "
            f"agree {row.get('agreement_teacher', 0):.3f} ELS {els}"
            f" ULS {row['uls']['mean_top1']:.3f} | fr {e['firing_rate_mean'] or 0:.3f} SOPs {e['totals']['sops']:.3g} "
            f"MACs {e['totals']['macs']:.3g} E {fp32:.4g} mJ (x{ratio:.4f} of teacher)")


def plot(rows: list[dict], teacher_top1: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snn = sorted((r for r in rows if r["modality"] == "events" and r["activation"] == "lif"),
                 key=lambda r: r["timesteps"])
    ann = [r for r in rows if r["activation"] == "relu"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ts = [r["timesteps"] for r in snn]
    left.plot(ts, [100 * r["top1"] for r in snn], "o-", label="spiking student (neuroclip-mini-spiking recipe)")
    for r in ann:
        left.plot([r["timesteps"]], [100 * r["top1"]], "s", label=f"ANN student (ReLU), T = {r['timesteps']}")
    left.axhline(100 * teacher_top1, color="grey", ls="--", label="teacher neuroclip-mini (10 frames)")
    left.set_xscale("log", base=2)
    left.set_xticks(ts, [str(t) for t in ts])
    left.set_xlabel("timesteps T (event-count frames)")
    left.set_ylabel("zero-shot top-1 (%)")
    left.set_title("300 held-out real N-MNIST recordings")
    left.legend(fontsize=7)
    teacher_mj = next(v["energy_mj"]["45nm-fp32"] for k, v in snn[0]["energy"]["baselines"].items()
                      if k.startswith("CLIP teacher"))
    for r in snn:
        right.plot(r["energy"]["totals"]["energy_mj"]["45nm-fp32"], 100 * r["top1"], "o", color="C0")
        right.annotate(f"T={r['timesteps']}", (r["energy"]["totals"]["energy_mj"]["45nm-fp32"], 100 * r["top1"]),
                       textcoords="offset points", xytext=(4, 4), fontsize=8)
    for r in ann:
        right.plot(r["energy"]["totals"]["energy_mj"]["45nm-fp32"], 100 * r["top1"], "s", color="C1",
                   label="ANN student")
    right.plot(teacher_mj, 100 * teacher_top1, "^", color="grey", label="teacher image tower")
    right.set_xscale("log")
    right.set_xlabel("energy per recording, mJ (45 nm fp32)")
    right.set_ylabel("zero-shot top-1 (%)")
    right.set_title("accuracy against energy (bundled small models)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "heldout"), required=True)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the training script's --out")
    parser.add_argument("--nmnist", type=Path, default=REPO / "out" / "nmnist-heldout")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--stages", nargs="+", default=["b"], choices=("b", "d"),
                        help="b (the bundled recipe's last stage) and/or d (dev: compare the stages)")
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--from-runs", action="store_true",
                        help="score snn-t4 from <out>/runs, not the bundled file (comparing training runs)")
    parser.add_argument("--quick", action="store_true",
                        help="top-1 and teacher agreement only, printed as JSON lines (recipe choices on dev)")
    parser.add_argument("--name", default=None, help="the results file's name (default by split)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip.config import DataConfig

    teacher = load_backbone("neuroclip-mini", None, device=args.device)
    # train_full: every recording of Train (the N-MNIST reader's 'train' leaves out its hashed validation part)
    events = DataConfig(source="nmnist", root=str(args.nmnist), split="train_full", classnames="nmnist",
                        templates=[NEUROCLIP_TEMPLATE], val_fraction=0.0)
    images = DataConfig(source="digits", classnames="nmnist", templates=[NEUROCLIP_TEMPLATE], val_fraction=0.0)
    split = "train" if args.split == "dev" else "test"  # out/nmnist-heldout: Train = 200 dev, Test = 300 held-out
    rows = []
    for variant in args.only:
        for stage in args.stages:
            checkpoint = checkpoint_of(variant, args.out, stage, not args.from_runs)
            if not Path(checkpoint).is_file() and checkpoint != "neuroclip-mini-spiking":
                print(f"skip {variant} {stage}: no checkpoint")
                continue
            image_path = VARIANTS[variant][0] == "images"
            if image_path and args.split == "dev":
                continue  # the image path is scored on the digits test split only (with --split heldout)
            row = score(variant, args.out, images if image_path else events, "test" if image_path else split,
                        teacher, stage, bundled=not args.from_runs, quick=args.quick)
            if args.quick:
                print(json.dumps(row | {"out": str(args.out), "nmnist": str(args.nmnist)}), flush=True)
                rows.append(row)
                continue
            row["data"] = "sklearn digits test split (2D images)" if image_path else (
                "300 held-out real N-MNIST recordings" if args.split == "heldout" else "200 development recordings")
            rows.append(row)
            print(summary_line(row), flush=True)
    if args.quick:
        return
    events_rows = [r for r in rows if r["modality"] == "events"]
    record = {"split": args.split, "note": "bundled small models (teacher neuroclip-mini, students of "
              "scripts/train_neuroclip_mini_spiking.py), not the paper's; chance 10%", "rows": rows,
              "classnames": [str(d) for d in range(10)], "template": NEUROCLIP_TEMPLATE,
              "els_distractors": "the released list (neuroclip.spikeclip.labels.ELS_DISTRACTORS), 10 and 40",
              "uls": "two digits renamed by their word (0 -> zero, ...), seeds 42, 43, 44",
              "teacher": "neuroclip-mini, 10 discrimination frames, mean of normalised frame embeddings",
              "energy": "per sample, 45 nm presets; SNN = E_MAC*MACs(real-valued inputs) + E_AC*SOPs; teacher = its "
                        "image tower on 10 frames of 64x64"}
    name = args.name or ("nmnist_heldout_mini_spiking" if args.split == "heldout" else "nmnist_dev_mini_spiking")
    text = json.dumps(record, indent=2, default=float)
    atomic_write(args.results / f"{name}.json", lambda fp: fp.write(text.encode()))
    print(f"-> {args.results / (name + '.json')}")
    if events_rows and args.split == "heldout":
        teacher_top1 = events_rows[0]["teacher_top1"]
        plot(events_rows, teacher_top1, args.results / f"{name}_timesteps.png")
        print(f"-> {args.results / (name + '_timesteps.png')}")


if __name__ == "__main__":
    main()
