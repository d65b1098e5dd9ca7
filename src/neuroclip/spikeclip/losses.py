"""SpikeCLIP's losses: cosine alignment (stages A and B), cross-entropy against SNN text prototypes (stage C) and the
dual loss of stage D."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuroclip.spikeclip.config import LossConfig


def alignment_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """mean_b [1 - cos(student_b, teacher_b)] (SpikeCLIP: text_encoder.py and alignment.py)."""
    return (1 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()


def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                  reduction: str = "sum") -> torch.Tensor:
    """KL(p_t || p_s) with p = softmax(z / temperature); ``sum`` over the batch (the released
    ``F.kl_div(log p_s, p_t, reduction='sum')``) or ``batchmean``."""
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_probabilities = F.softmax(teacher_logits.detach().float() / temperature, dim=-1)
    return F.kl_div(log_student, teacher_probabilities, reduction=reduction)


def dual_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              config: LossConfig = LossConfig()) -> tuple[torch.Tensor, dict]:
    """``ce_weight * CE(z_s, y) + kl_weight * KL(p_t || p_s)`` (stage D). The CE is a batch mean at temperature 1;
    the KL follows ``config`` (paper: sum over the batch, weight 1, temperature 1). Returns the loss and its parts."""
    ce = F.cross_entropy(student_logits.float(), labels)
    kl = kl_divergence(student_logits, teacher_logits, config.temperature, config.kl_reduction)
    if config.temperature_squared:
        kl = kl * config.temperature ** 2
    loss = config.ce_weight * ce + config.kl_weight * kl
    return loss, {"ce": float(ce.detach()), "kl": float(kl.detach())}
