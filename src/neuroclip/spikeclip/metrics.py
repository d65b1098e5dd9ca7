"""How well a SpikeCLIP student matches its teacher and the labels: cosine alignment, zero-shot accuracy, agreement
of predictions and Cohen's kappa."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuroclip.provenance import accuracy
from neuroclip.spikeclip.model import class_logits


def cohen_kappa(a: torch.Tensor, b: torch.Tensor, n_classes: int) -> float | None:
    """Agreement corrected for chance: (p_o - p_e) / (1 - p_e), with p_e = sum_k P(a = k) P(b = k), the agreement
    of two independent predictors with the same class frequencies. None when p_e = 1 (both constant, same class)."""
    observed = float((a == b).float().mean())
    expected = float((torch.bincount(a, minlength=n_classes).double() / len(a)
                      * torch.bincount(b, minlength=n_classes).double() / len(b)).sum())
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def image_metrics(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor | None,
                  prototypes: torch.Tensor | None, teacher_classifier: torch.Tensor | None) -> dict:
    """Alignment and classification metrics of student embeddings against teacher embeddings and labels.

    ``cosine``: mean cos(student, teacher) (``cosine_constant_baseline``: that of the teacher's mean direction, the
    best constant output); ``top1``: student zero-shot accuracy with the SNN prototypes;
    ``agreement_teacher``: fraction of samples where the student's zero-shot prediction (SNN image tower, SNN
    prototypes) equals the teacher's zero-shot prediction (CLIP image tower, CLIP's own text classifier): the two
    towers together; ``agreement_teacher_snn_text``: both image embeddings scored against the SNN prototypes (the
    teacher's predictions in stage D's sense); ``agreement_teacher_clip_text``: both image embeddings scored against
    CLIP's text classifier (the image alignment alone); ``kappa_*``: those agreements corrected for chance (Cohen's
    kappa); ``teacher_top1``; ``teacher_majority``: the share of the teacher's most frequent prediction (what a
    constant predictor would agree with)."""
    metrics: dict = {}
    if teacher is not None:
        metrics["cosine"] = float(F.cosine_similarity(student, teacher, dim=-1).mean())
        # what predicting the teacher's mean direction for every sample would score
        mean_direction = F.normalize(teacher, dim=-1).mean(0, keepdim=True)
        metrics["cosine_constant_baseline"] = float(F.cosine_similarity(mean_direction, teacher, dim=-1).mean())
    if prototypes is None:
        return metrics
    student_logits = class_logits(student, prototypes)
    predictions = student_logits.argmax(-1)
    if labels is not None:
        metrics["top1"] = accuracy(student_logits, labels)
    if teacher is not None:
        snn_text = class_logits(teacher, prototypes).argmax(-1)
        metrics["agreement_teacher_snn_text"] = float((predictions == snn_text).float().mean())
        metrics["kappa_teacher_snn_text"] = cohen_kappa(predictions, snn_text, prototypes.shape[0])
        if teacher_classifier is not None:
            teacher_logits = F.normalize(teacher, dim=-1) @ teacher_classifier.T
            teacher_predictions = teacher_logits.argmax(-1)
            metrics["agreement_teacher"] = float((predictions == teacher_predictions).float().mean())
            metrics["kappa_teacher"] = cohen_kappa(predictions, teacher_predictions, prototypes.shape[0])
            student_clip_text = (F.normalize(student, dim=-1) @ teacher_classifier.T).argmax(-1)
            metrics["agreement_teacher_clip_text"] = float((student_clip_text == teacher_predictions).float().mean())
            metrics["kappa_teacher_clip_text"] = cohen_kappa(student_clip_text, teacher_predictions,
                                                             prototypes.shape[0])
            counts = torch.bincount(teacher_predictions, minlength=prototypes.shape[0])
            metrics["teacher_majority"] = float(counts.max() / counts.sum())
            if labels is not None:
                metrics["teacher_top1"] = accuracy(teacher_logits, labels)
    return metrics
