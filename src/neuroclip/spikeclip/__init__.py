"""SpikeCLIP (Lv et al., arXiv 2310.06488): CLIP distilled into a fully spiking two-tower model.

* :mod:`~neuroclip.spikeclip.config`: frozen dataclass settings, the released code's values as the ``paper`` presets,
  JSON/YAML stage configs;
* :class:`SpikeCLIP` (:mod:`~neuroclip.spikeclip.model`): the spiking image tower (Spikingformer-4-384 variant) and
  text tower (MLP over 20 token embeddings), the zero-shot classifier, checkpoints, :func:`predict`;
* :func:`run_stage` (:mod:`~neuroclip.spikeclip.train`): one trainer for the four stages (text alignment, image
  alignment, teacher fine-tuning, dual-loss fine-tuning), on images or event recordings, resumable, under torchrun;
* :func:`evaluate` (accuracy, teacher agreement, ELS/ULS) and :func:`spikeclip_energy` (energy report).
"""

from neuroclip.spikeclip.config import (
    MODEL_PRESETS,
    DataConfig,
    EventInputConfig,
    ImageEncoderConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    StageConfig,
    TeacherConfig,
    TextEncoderConfig,
    load_stage_config,
    model_config,
)
from neuroclip.spikeclip.model import (
    SpikeCLIP,
    build_spikeclip,
    class_logits,
    load_spikeclip,
    predict,
    predict_files,
    predict_logits,
    save_spikeclip,
)

__all__ = [
    "MODEL_PRESETS",
    "DataConfig",
    "EventInputConfig",
    "ImageEncoderConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "SpikeCLIP",
    "StageConfig",
    "TeacherConfig",
    "TextEncoderConfig",
    "build_spikeclip",
    "class_logits",
    "evaluate",
    "load_spikeclip",
    "load_stage_config",
    "model_config",
    "predict",
    "predict_files",
    "predict_logits",
    "run_stage",
    "save_spikeclip",
    "spikeclip_energy",
]


def __getattr__(name):  # the trainer, evaluation and energy pull in more; import them on first use
    if name == "run_stage":
        from neuroclip.spikeclip.train import run_stage

        return run_stage
    if name == "evaluate":
        from neuroclip.spikeclip.evaluate import evaluate

        return evaluate
    if name == "spikeclip_energy":
        from neuroclip.spikeclip.energy_report import spikeclip_energy

        return spikeclip_energy
    raise AttributeError(f"module 'neuroclip.spikeclip' has no attribute {name!r}")
