"""Zero-shot evaluation of a dataset split, with a result record that carries its whole configuration."""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from neuroclip.cache import FeatureCache
from neuroclip.clip.extract import extract_features
from neuroclip.clip.features import FrameConfig
from neuroclip.clip.zeroshot import ZeroShotClassifier, center_sample, feature_center
from neuroclip.datasets.base import Subset
from neuroclip.errors import ConfigError
from neuroclip.outputs import atomic_write
from neuroclip.provenance import accuracy, versions


def zeroshot_evaluate(dataset, backbone, classnames: list[str], templates: list[str],
                      frame_config: FrameConfig = FrameConfig(), fusion: str = "mean_cosine",
                      cache: FeatureCache | None = None, batch_size: int = 32, num_workers: int = 0,
                      progress: bool = True, center_on=None) -> dict:
    """Top-1/top-5 accuracy of NeuroCLIP zero-shot on ``dataset``; returns the result record (JSON-ready).

    ``center_on``: another split (a dataset) whose recordings' mean frame feature is subtracted from every frame
    feature before scoring (:func:`~neuroclip.clip.zeroshot.feature_center`; ours, not NeuroCLIP's), from at most
    :data:`~neuroclip.clip.zeroshot.CENTER_RECORDINGS` of them, evenly spaced. Their labels are never used:
    unlabelled recordings from the same sensor are enough."""
    started = time.time()
    center, centered = None, None
    if center_on is not None:
        scored = {str(path) for path, _ in getattr(dataset, "samples", [])}
        shared = sum(str(path) in scored for path, _ in getattr(center_on, "samples", []))
        if shared:
            raise ConfigError(f"the split to centre on ({getattr(center_on, 'split', None)}) shares {shared} "
                              f"recordings with the split being scored ({getattr(dataset, 'split', None)}); centre on "
                              "recordings that are not scored (e.g. --center-on train when scoring test)")
        positions = center_sample(len(center_on))
        unlabelled = extract_features(Subset(center_on, positions), backbone, frame_config, cache,
                                      batch_size=batch_size, num_workers=num_workers, progress=progress)
        center = feature_center(torch.from_numpy(unlabelled.features))
        centered = {"dataset": getattr(center_on, "name", None), "root": str(getattr(center_on, "root", "")),
                    "split": getattr(center_on, "split", None), "n_recordings": len(positions),
                    "n_split": len(center_on), "labels_used": False}
    cached = extract_features(dataset, backbone, frame_config, cache, batch_size=batch_size,
                              num_workers=num_workers, progress=progress)
    classifier = ZeroShotClassifier(backbone, classnames, templates, fusion=fusion, center=center)
    logits = classifier.logits(torch.from_numpy(cached.features))
    labels = cached.labels
    predictions = logits.argmax(dim=-1).numpy()
    per_class = {classnames[k]: float(np.mean(predictions[labels == k] == k)) if np.any(labels == k) else None
                 for k in range(len(classnames))}
    return {
        "top1": accuracy(logits, labels, 1),
        "top5": accuracy(logits, labels, 5),
        "n_samples": int(labels.size),
        "per_class_top1": per_class,
        "config": {
            "method": "neuroclip-zeroshot",
            "dataset": getattr(dataset, "name", None),
            "root": str(getattr(dataset, "root", "")),
            "split": getattr(dataset, "split", None),
            "classnames": list(classnames),
            "templates": list(templates),
            "fusion": fusion,
            "center_on": centered,
            "frames": dataclasses.asdict(frame_config),
            "backbone": backbone.spec.identity() | {"weights_fingerprint": backbone.fingerprint(),
                                                   "image_size": backbone.image_size,
                                                   "logit_scale": backbone.logit_scale},
            "feature_cache": str(cached.path) if cache is not None else None,
        },
        **versions(),
        "seconds": round(time.time() - started, 2),
        "_predictions": {"indices": cached.indices, "labels": labels, "predictions": predictions,
                         "probabilities": logits.float().softmax(dim=-1).max(dim=-1).values.numpy(),
                         "paths": [str(dataset.samples[i][0]) for i in cached.indices]
                         if hasattr(dataset, "samples") else None},
    }


def write_result(result: dict, json_path: Path, csv_path: Path | None = None) -> None:
    """Write the record as JSON (and the per-sample predictions as CSV), atomically."""
    record = {key: value for key, value in result.items() if not key.startswith("_")}
    text = json.dumps(record, indent=2, default=str)
    atomic_write(json_path, lambda fp: fp.write(text.encode()))
    if csv_path is None:
        return
    rows = result["_predictions"]
    classnames = result["config"]["classnames"]

    def write_rows(fp):
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["index", "path", "label", "label_name", "prediction", "prediction_name", "probability",
                         "correct"])
        paths = rows["paths"] or [""] * len(rows["indices"])
        for index, path, label, prediction, probability in zip(rows["indices"], paths, rows["labels"],
                                                                rows["predictions"], rows["probabilities"]):
            writer.writerow([int(index), path, int(label), classnames[int(label)], int(prediction),
                             classnames[int(prediction)], round(float(probability), 6), int(label == prediction)])
        fp.write(buffer.getvalue().encode())

    atomic_write(csv_path, write_rows)
