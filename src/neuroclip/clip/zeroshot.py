"""NeuroCLIP zero-shot: per-frame CLIP features scored against class text embeddings, fused over frames.

Reference behaviour (NeuroCLIP's released code, trainers/zeroshot.py): each of the T frames is encoded by CLIP's
frozen image tower and L2-normalised; the class-k score is CLIP's logit scale times the mean over frames of
cos(f_t, w_k). The code computes it as the concatenated normalised frame features against the text feature repeated
T times and normalised (``fusion="concat"``), which is the same score times sqrt(T): the same ranking.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip.clip.prompts import prompts_for
from neuroclip.errors import ConfigError

FUSIONS = {
    "mean_cosine": "NeuroCLIP: logit scale x mean over frames of cos(f_t, w_k) (default)",
    "concat": "NeuroCLIP's code: concat of normalised frame features . normalised T-times repeated text feature",
    "mean_feature": "cosine of the mean of the normalised frame features",
    "max": "max over frames of cos(f_t, w_k)",
    "weighted": "sum_t a_t cos(f_t, w_k) / sum_t a_t with per-frame weights a_t",
}

_TEXT_CACHE: dict = {}

# recordings scored at a time: a head's intermediates ([n, T, K] frame cosines, [n, T, C] normalised or adapted
# frames, Tip-Adapter's [n, shots] affinities) are held for one chunk, never for a whole test split
SCORE_CHUNK = 4096


def logits_in_chunks(predict, features: torch.Tensor) -> torch.Tensor:
    """``predict(features)`` computed :data:`SCORE_CHUNK` recordings (rows of ``features``) at a time."""
    if features.shape[0] <= SCORE_CHUNK:
        return predict(features)
    return torch.cat([predict(features[start:start + SCORE_CHUNK])
                      for start in range(0, features.shape[0], SCORE_CHUNK)])


def text_classifier(backbone, classnames: list[str], templates: list[str]) -> torch.Tensor:
    """Class weights [K, C]: per class, the mean over templates of normalised text embeddings, renormalised (CLIP's
    ensembling; with one template this is the normalised text embedding). Built once per backbone and prompt set."""
    if not classnames:
        raise ConfigError("need at least one class name")
    key = (id(backbone), backbone.fingerprint(), tuple(classnames), tuple(templates))
    if key in _TEXT_CACHE:
        return _TEXT_CACHE[key]
    prompts = prompts_for(classnames, templates)
    flat = [p for per_class in prompts for p in per_class]
    check = getattr(backbone, "check_vocabulary", None)
    if check is not None:  # a CLIP that stores part of its vocabulary refuses prompts it cannot read
        check(flat)
    embeddings = F.normalize(backbone.encode_text(flat), dim=-1).reshape(len(classnames), len(templates), -1)
    weights = F.normalize(embeddings.mean(dim=1), dim=-1).cpu()
    if len(_TEXT_CACHE) > 32:
        _TEXT_CACHE.clear()
    _TEXT_CACHE[key] = weights
    return weights


# at most this many unlabelled recordings make a center: on the development recordings 10 gave most of the effect
# with the colour encodings and 50 more (scripts/zeroshot_center_dev.py); 100 bounds the time a large split takes
CENTER_RECORDINGS = 100


def center_sample(n: int, limit: int = CENTER_RECORDINGS) -> list[int]:
    """Positions of at most ``limit`` of ``n`` recordings, evenly spaced (a split in class order gives every
    class its share), whose :func:`feature_center` is used."""
    if n < 1 or limit < 1:
        raise ConfigError(f"a center needs at least one recording; got {n} recordings and a limit of {limit}")
    return np.unique(np.linspace(0, n - 1, min(limit, n)).round().astype(int)).tolist()


def feature_center(frame_features) -> torch.Tensor:
    """The mean [C] of the normalised frame features [N, T, C] of some recordings (their labels unused), summed
    :data:`SCORE_CHUNK` recordings at a time: the ``center`` that :func:`fuse_logits` subtracts."""
    features = torch.as_tensor(np.asarray(frame_features)) if not isinstance(frame_features, torch.Tensor) \
        else frame_features
    if features.ndim != 3 or features.shape[0] * features.shape[1] == 0:
        raise ConfigError(f"a feature center needs frame features [N, T, C] of some recordings; got "
                          f"{tuple(features.shape)}")
    total = torch.zeros(features.shape[-1], dtype=torch.float64, device=features.device)
    for start in range(0, features.shape[0], SCORE_CHUNK):
        total += F.normalize(features[start:start + SCORE_CHUNK].float(), dim=-1).sum(dim=(0, 1)).double()
    return (total / (features.shape[0] * features.shape[1])).float()


def fuse_logits(frame_features: torch.Tensor, class_weights: torch.Tensor, fusion: str = "mean_cosine",
                logit_scale: float = 100.0, frame_weights=None, center=None) -> torch.Tensor:
    """Logits [B, K] from raw per-frame features [B, T, C] and normalised class weights [K, C]. ``center`` [C]
    (ours, not NeuroCLIP's; :func:`feature_center`): every normalised frame feature has it subtracted and is
    normalised again before the fusion, removing the direction all event frames share."""
    if fusion not in FUSIONS:
        raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}; got {fusion!r}")
    if frame_features.ndim != 3:
        raise ConfigError(f"frame features must be [B, T, C]; got {tuple(frame_features.shape)}")
    features = F.normalize(frame_features.float(), dim=-1)
    if center is not None:
        center = torch.as_tensor(center, dtype=torch.float32, device=features.device)
        if center.shape != features.shape[-1:]:
            raise ConfigError(f"center must have the features' {features.shape[-1]} channels; got "
                              f"{tuple(center.shape)}")
        features = F.normalize(features - center, dim=-1)
    weights = class_weights.float().to(features.device)
    n_frames = features.shape[1]
    if fusion == "concat":
        concatenated = features.reshape(features.shape[0], -1)  # [B, T*C], norm sqrt(T), not renormalised
        repeated = F.normalize(weights.repeat(1, n_frames), dim=-1)  # [K, T*C]
        return logit_scale * concatenated @ repeated.T
    if fusion == "mean_feature":
        return logit_scale * F.normalize(features.mean(dim=1), dim=-1) @ weights.T
    cosine = torch.einsum("btc,kc->btk", features, weights)
    if fusion == "mean_cosine":
        return logit_scale * cosine.mean(dim=1)
    if fusion == "max":
        return logit_scale * cosine.max(dim=1).values
    if frame_weights is None:
        raise ConfigError("fusion 'weighted' needs frame_weights (one per frame)")
    frame_weights = torch.as_tensor(frame_weights, dtype=torch.float32, device=features.device)
    if frame_weights.shape != (n_frames,) or not torch.isfinite(frame_weights).all() or (frame_weights < 0).any() \
            or frame_weights.sum() <= 0:
        raise ConfigError(f"frame_weights must be {n_frames} finite non-negative numbers with a positive sum")
    return logit_scale * torch.einsum("btk,t->bk", cosine, frame_weights) / frame_weights.sum()


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Top-k classes of one sample, best first."""

    labels: tuple[int, ...]
    classnames: tuple[str, ...]
    probabilities: tuple[float, ...]


def top_k(logits: torch.Tensor, classnames: list[str], k: int = 5) -> list[Prediction]:
    k = min(k, logits.shape[-1])
    probabilities = logits.float().softmax(dim=-1)
    values, indices = probabilities.topk(k, dim=-1)
    return [
        Prediction(tuple(int(i) for i in row), tuple(classnames[int(i)] for i in row), tuple(float(v) for v in vals))
        for row, vals in zip(indices, values)
    ]


class ZeroShotClassifier:
    """Zero-shot recognition of frame features with a CLIP backbone, class names and prompt templates."""

    def __init__(self, backbone, classnames: list[str], templates: list[str], fusion: str = "mean_cosine",
                 frame_weights=None, center=None):
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}; got {fusion!r}")
        self.backbone = backbone
        self.classnames = list(classnames)
        self.templates = list(templates)
        self.fusion = fusion
        self.frame_weights = frame_weights
        self.center = center  # [C] or None: see fuse_logits
        self.class_weights = text_classifier(backbone, self.classnames, self.templates)

    def logits(self, frame_features) -> torch.Tensor:
        features = torch.as_tensor(np.asarray(frame_features)) if not isinstance(frame_features, torch.Tensor) \
            else frame_features
        return logits_in_chunks(lambda chunk: fuse_logits(chunk, self.class_weights, self.fusion,
                                                          self.backbone.logit_scale, self.frame_weights,
                                                          self.center), features)

    def predict(self, frame_features, k: int = 5) -> list[Prediction]:
        return top_k(self.logits(frame_features), self.classnames, k)
