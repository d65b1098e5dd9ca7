"""NeuroCLIP few-shot learning on cached per-frame CLIP features: the inter-timestep spiking adapter, its
training recipe, NeuroCLIP+ (ours: a zero-shot-initialised spiking residual head with a shot cache), baselines
(zero-shot, linear probe, Tip-Adapter, Tip-Adapter-F, CLIP-Adapter), an experiment's plan (``plan``), drawing shots
(``sampling``), running it (``protocol``), reporting it (``report``) and saved adapters."""

from neuroclip.fewshot.adapter import (
    AdapterConfig,
    InterTimestepAdapter,
    NeuroCLIPAdapterClassifier,
    TimestepBatchNorm1d,
)
from neuroclip.fewshot.augment import AugmentConfig, EventViewConfig, augmented_view_features, view_provider
from neuroclip.fewshot.experiment import adapter_info, classify_with_adapter, fewshot_experiment, fewshot_within_split
from neuroclip.fewshot.persist import AdapterFileError, load_adapter, predict_with_adapter, save_adapter
from neuroclip.fewshot.plan import METHODS, PROTOCOLS, BaselineConfigs, FewShotPlan
from neuroclip.fewshot.plus import NeuroCLIPPlusClassifier, PlusConfig, fit_neuroclip_plus
from neuroclip.fewshot.protocol import run_fewshot
from neuroclip.fewshot.report import (
    comparison_size,
    describe_config,
    format_summary,
    paired_differences,
    plot_accuracy_vs_shots,
    summarize,
    write_results,
)
from neuroclip.fewshot.sampling import sample_shots, split_test_part, split_validation
from neuroclip.fewshot.train import (
    TRAIN_PRESETS,
    OptimConfig,
    TrainConfig,
    TrainedAdapter,
    neuroclip_epochs,
    recipe,
    smoothed_cross_entropy,
    train_adapter,
)

__all__ = [
    "METHODS",
    "PROTOCOLS",
    "TRAIN_PRESETS",
    "AdapterConfig",
    "AdapterFileError",
    "AugmentConfig",
    "BaselineConfigs",
    "EventViewConfig",
    "FewShotPlan",
    "InterTimestepAdapter",
    "NeuroCLIPAdapterClassifier",
    "NeuroCLIPPlusClassifier",
    "OptimConfig",
    "PlusConfig",
    "TimestepBatchNorm1d",
    "TrainConfig",
    "TrainedAdapter",
    "adapter_info",
    "augmented_view_features",
    "classify_with_adapter",
    "comparison_size",
    "describe_config",
    "fewshot_experiment",
    "fewshot_within_split",
    "fit_neuroclip_plus",
    "format_summary",
    "load_adapter",
    "neuroclip_epochs",
    "paired_differences",
    "plot_accuracy_vs_shots",
    "predict_with_adapter",
    "recipe",
    "run_fewshot",
    "sample_shots",
    "save_adapter",
    "smoothed_cross_entropy",
    "split_test_part",
    "split_validation",
    "summarize",
    "train_adapter",
    "view_provider",
    "write_results",
]
