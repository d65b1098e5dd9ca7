"""A few-shot experiment's plan: everything decided before a feature is seen (methods, shots, seeds, the selection
protocol and its validation rule, the recipes), frozen, stored whole in the result, and the one place shots are
drawn from (:meth:`FewShotPlan.draw`).

Protocols (what chooses the epoch of trained heads and the hyper-parameters of the baselines):

* ``shots`` (default, the headline): only the labelled recordings a K-shot user has, the shots. Hyper-parameters are
  chosen by cross-validation within the shots (Tip-Adapter's alpha and beta by leave-one-shot-out over its cache,
  the linear probe's penalty by K-fold; see :mod:`neuroclip.fewshot.baselines`), trained heads keep their last
  epoch, and with one shot per class every method uses its defaults. No extra labelled recording: every row says
  ``n_selection = 0`` and ``n_labelled = n_train``.
* ``validation``: a validation split held out from the train split, disjoint from the shots (up to
  ``val_per_class`` recordings per class, never more than half of a class), or one the caller passes; every row
  counts those extra labelled recordings in ``n_selection`` and ``n_labelled``.
* ``last-epoch``: no selection at all: trained heads keep their last epoch, baselines their default
  hyper-parameters. Needs no validation data.
* ``paper-test-selection``: NeuroCLIP's released code (Dassl with val = test, TEST.FINAL_MODEL = best_val): the best
  epoch and the hyper-parameters are chosen on the TEST set. Optimistic, for comparison with the paper only; every
  result row says ``selected_on: "test"`` and carries a warning.

Shots: K distinct recordings per class drawn with a seed from the train split (without the validation recordings);
a class with fewer than K recordings is an error that names the largest K it allows. :meth:`FewShotPlan.train_positions`
lists every train recording a plan reads, so that only their features need computing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.fewshot.augment import AugmentConfig, EventViewConfig
from neuroclip.fewshot.baselines import ClipAdapterConfig, LinearProbeConfig, TipAdapterConfig
from neuroclip.fewshot.plus import PlusConfig
from neuroclip.fewshot.sampling import sample_shots, split_validation
from neuroclip.fewshot.train import TrainConfig, recipe

PROTOCOLS = {
    "shots": "only the shots (default): hyper-parameters by cross-validation within the shots, the last epoch of "
             "trained heads, defaults at one shot per class; no extra labelled recording",
    "validation": "epochs and hyper-parameters chosen on a validation split held out from train (extra labelled "
                  "recordings, counted in n_selection)",
    "last-epoch": "no selection: last epoch, default hyper-parameters",
    "paper-test-selection": "NeuroCLIP's released protocol: best epoch and hyper-parameters chosen on the TEST set "
                            "(optimistic; for comparison only)",
}
TEST_SELECTION_WARNING = ("selected on the TEST set, as NeuroCLIP's released code does: an optimistic number, "
                          "not an estimate of accuracy on unseen data")

METHODS = {
    "neuroclip": "NeuroCLIP inter-timestep spiking adapter (the released recipe)",
    "neuroclip-plus": "ours: zero-shot start, leave-one-out shot cache and a zero-initialised spiking residual head",
    "neuroclip-relu": "the adapter with a ReLU in place of the LIF (ablation 'without SNN')",
    "zeroshot": "NeuroCLIP zero-shot (no training; shots = 0)",
    "linear": "linear probe: logistic regression on the mean normalised frame feature",
    "tip": "Tip-Adapter (training-free cache)",
    "tip-f": "Tip-Adapter-F (cache keys fine-tuned)",
    "clip-adapter": "CLIP-Adapter per frame, residual ratio 0.2",
}
# the methods that train NeuroCLIP's recipe (``train_config``, ``--epochs``), those whose head can be saved as an
# adapter file (``--save-adapter``) and those that take augmented views
RECIPE_METHODS = ("neuroclip", "neuroclip-relu")
SAVABLE_METHODS = ("neuroclip", "neuroclip-plus", "neuroclip-relu")
VIEW_METHODS = ("neuroclip", "neuroclip-plus", "neuroclip-relu", "tip", "tip-f", "clip-adapter")
METHOD_ALIASES = {"zero-shot": "zeroshot", "linear-probe": "linear", "tip-adapter": "tip", "tip-adapter-f": "tip-f",
                  "tipf": "tip-f", "clipadapter": "clip-adapter", "relu": "neuroclip-relu",
                  "neuroclip+": "neuroclip-plus", "plus": "neuroclip-plus"}


def check_methods(methods: Sequence[str]) -> list[str]:
    """Canonical method names (aliases accepted), or ConfigError listing the known ones."""
    names = []
    for method in methods:
        name = METHOD_ALIASES.get(str(method).strip().lower(), str(method).strip().lower())
        if name not in METHODS:
            raise ConfigError(f"unknown few-shot method {method!r}; choose from {', '.join(METHODS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError("name at least one few-shot method")
    return names


@dataclasses.dataclass(frozen=True)
class BaselineConfigs:
    linear: LinearProbeConfig = LinearProbeConfig()
    tip: TipAdapterConfig = TipAdapterConfig()
    clip_adapter: ClipAdapterConfig = ClipAdapterConfig()
    plus: PlusConfig = PlusConfig()


@dataclasses.dataclass(frozen=True)
class FewShotPlan:
    """What a few-shot experiment runs: every ``method`` at every number of ``shots`` per class for every ``seed``
    of the shot draw, selecting under ``protocol``. ``val_per_class``/``val_seed``: the validation part carved from
    the train split under ``validation`` when no validation split is given. ``train_config``: NeuroCLIP's recipe
    (None: the released one for the backbone, :func:`~neuroclip.fewshot.train.recipe`); ``baselines`` the other
    methods' settings; ``augment`` the augmented views of each shot (None: off; count-level
    :class:`~neuroclip.fewshot.augment.AugmentConfig` or event-level ``EventViewConfig``)."""

    methods: tuple[str, ...] = ("neuroclip",)
    shots: tuple[int, ...] = (1, 2, 4, 8, 16)
    seeds: tuple[int, ...] = (1, 2, 3)
    protocol: str = "shots"
    val_per_class: int = 50
    val_seed: int = 0
    train_config: TrainConfig | None = None
    baselines: BaselineConfigs = BaselineConfigs()
    augment: AugmentConfig | EventViewConfig | None = None

    def __post_init__(self):
        object.__setattr__(self, "methods", tuple(check_methods(self.methods)))
        shots = tuple(self.shots)
        if not shots or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in shots):
            raise ConfigError(f"shots must be positive integers, got {list(shots)}")
        object.__setattr__(self, "shots", tuple(int(k) for k in shots))
        if not tuple(self.seeds):
            raise ConfigError("name at least one seed")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}")
        if self.augment is not None and not set(self.methods) & set(VIEW_METHODS):
            raise ConfigError(f"augmented views (--augment-views) are used by {', '.join(VIEW_METHODS)}; none of "
                              f"the methods asked for ({', '.join(self.methods)}) would use them: drop the views or "
                              "add one of those methods")
        if isinstance(self.val_per_class, bool) or not isinstance(self.val_per_class, (int, np.integer)) \
                or self.val_per_class < 1:
            raise ConfigError(f"val_per_class must be a positive integer, got {self.val_per_class!r}")

    def recipe_for(self, model_name: str | None) -> TrainConfig:
        """The NeuroCLIP recipe of this plan: its own, else the released one for ``model_name``."""
        return self.train_config if self.train_config is not None else recipe("neuroclip", model_name)

    def pool(self, labels, n_classes: int, validation_given: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(positions shots may come from, positions of the validation part carved from them or None): the
        validation part exists under ``validation`` when no validation split is given."""
        labels = np.asarray(labels)
        if self.protocol == "validation" and not validation_given:
            return split_validation(labels, self.val_per_class, self.val_seed, n_classes)
        return np.arange(labels.size), None

    def draw(self, labels, pool: np.ndarray, k: int, seed: int, n_classes: int) -> np.ndarray:
        """The positions of the ``k`` shots per class of ``seed``'s draw from ``pool``: the one shot selection
        every run and the saved adapter use."""
        return pool[sample_shots(np.asarray(labels)[pool], k, seed, n_classes)]

    def train_positions(self, labels, n_classes: int, validation_given: bool) -> np.ndarray:
        """The sorted positions in the train split (``labels``) of every recording this plan reads: the shots of
        each (shots, seed) draw and the validation part carved from the split. A run needs features of these
        only: with 16 shots, 3 seeds and 10 classes, at most 930 recordings however large the split is."""
        labels = np.asarray(labels)
        pool, held = self.pool(labels, n_classes, validation_given)
        parts = [self.draw(labels, pool, k, seed, n_classes) for k in self.shots for seed in self.seeds]
        return np.unique(np.concatenate(parts + ([] if held is None else [held])))

    def record(self) -> dict:
        """The plan as a JSON-ready dict, stored whole in a result."""
        fields = dataclasses.asdict(self)
        fields["train_config"] = None if self.train_config is None else self.train_config.to_dict()
        if self.protocol != "validation":  # the validation rule applies to that protocol only
            del fields["val_per_class"], fields["val_seed"]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()}
