"""Evaluation of a SpikeCLIP: zero-shot / fine-tuned accuracy, agreement and alignment with its teacher, and the
label-set robustness protocols (ELS: distractor classes added; ULS: two classes renamed, over seeds 42, 43, 44)."""

from __future__ import annotations

import dataclasses

import torch

from neuroclip.errors import ConfigError
from neuroclip.processes import Processes
from neuroclip.provenance import accuracy, versions
from neuroclip.spikeclip import data as data_module
from neuroclip.spikeclip import labels as label_sets
from neuroclip.spikeclip.config import DataConfig, to_dict
from neuroclip.spikeclip.embeddings import cached_teacher_targets, student_embeddings
from neuroclip.spikeclip.metrics import image_metrics
from neuroclip.spikeclip.model import SpikeCLIP, class_logits


def _accuracy(embeddings: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor) -> float:
    return accuracy(class_logits(embeddings, prototypes), labels)


@torch.no_grad()
def evaluate(model: SpikeCLIP, data: DataConfig, split: str = "test", teacher=None,
             classnames: list[str] | None = None, templates: list[str] | None = None, els: tuple[int, ...] = (),
             uls: bool = False, uls_seeds: tuple[int, ...] = label_sets.ULS_SEEDS,
             uls_replacements: dict[str, str] | None = None, batch_size: int = 256,
             progress: bool = False, els_distractors: list[str] | None = None) -> dict:
    """Accuracy of ``model`` on a split (``test``, or ``val``/``train`` of the training split).

    ``teacher`` (a :class:`~neuroclip.clip.ClipBackbone`): also the mean cosine between student and teacher
    embeddings and the agreement of their predictions. ``els``: numbers of distractor classes to add (each an ELS
    accuracy), the first ones of ``els_distractors`` (default: the released fixed list,
    :data:`~neuroclip.spikeclip.labels.ELS_DISTRACTORS`) that are not true classes; ``uls``: ULS accuracy per seed
    and their mean, renaming with ``uls_replacements`` (default: the released STL-10/CIFAR-10 substitutes).
    """
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split must be train, val or test, got {split!r}")
    source = data_module.open_source(data, data.test_split if split == "test" else data.split)
    indices = data_module.select_indices(source, data, split)
    if not indices:
        raise ConfigError(f"no samples in the {split} split of {data.source}")
    names = list(classnames) if classnames else data_module.class_names_of(data, source)
    prompts = list(templates) if templates else data_module.templates_of(data)
    device = model.device
    view = data_module.SampleView(source, indices, "student", model.config, model.preprocess)
    student = student_embeddings(model.image_encoder, view, batch_size, data.workers, device)
    labels = torch.tensor(view.labels)
    prototypes = model.class_prototypes(names, prompts).cpu()
    result = {"split": split, "n_samples": len(indices), "top1": _accuracy(student, prototypes, labels)}
    if teacher is not None:
        from neuroclip.clip.zeroshot import text_classifier

        teacher_view = data_module.SampleView(source, indices, "teacher", model.config,
                                              dataclasses.replace(model.preprocess, size=teacher.image_size))
        targets = cached_teacher_targets(teacher_view, teacher, model.config.modality, Processes(
            device=teacher.device), batch_size, data.workers, progress)
        classifier = text_classifier(teacher, names, prompts).float()
        metrics = image_metrics(student, targets, labels, prototypes, classifier)
        result |= {("teacher_cosine" if k == "cosine" else k): v for k, v in metrics.items() if k != "top1"}
    if els:
        result["els"] = {}
        for extra in els:
            expanded = label_sets.expanded_label_set(names, extra, els_distractors)
            result["els"][str(len(expanded))] = _accuracy(student, model.class_prototypes(expanded, prompts).cpu(),
                                                          labels)
    if uls:
        per_seed = {}
        for seed in uls_seeds:
            renamed = label_sets.unseen_label_set(names, seed, uls_replacements)
            per_seed[str(seed)] = {"classnames": renamed, "top1": _accuracy(
                student, model.class_prototypes(renamed, prompts).cpu(), labels)}
        result["uls"] = {"per_seed": per_seed,
                         "mean_top1": sum(v["top1"] for v in per_seed.values()) / len(per_seed)}
    result["config"] = {"data": to_dict(data), "classnames": names, "templates": prompts,
                        "model": to_dict(model.config), "checkpoint": getattr(model, "checkpoint_info", {}).get(
                            "stage")}
    result |= versions()
    return result
