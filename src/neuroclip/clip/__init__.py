"""CLIP backbones, prompts and NeuroCLIP zero-shot recognition."""

from neuroclip.clip.backbone import BackboneSpec, ClipBackbone, ModelNotFoundError, load_backbone
from neuroclip.clip.prompts import NEUROCLIP_TEMPLATES, TEMPLATE_SETS, resolve_templates
from neuroclip.clip.zeroshot import (
    FUSIONS,
    ZeroShotClassifier,
    feature_center,
    fuse_logits,
    text_classifier,
    top_k,
)

__all__ = [
    "FUSIONS",
    "NEUROCLIP_TEMPLATES",
    "TEMPLATE_SETS",
    "BackboneSpec",
    "ClipBackbone",
    "ModelNotFoundError",
    "ZeroShotClassifier",
    "feature_center",
    "fuse_logits",
    "load_backbone",
    "resolve_templates",
    "text_classifier",
    "top_k",
]
