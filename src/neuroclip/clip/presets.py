"""NeuroCLIP's per-dataset settings in one table: the discrimination threshold, the prompt template and the class
names each dataset runs with by default.

Every command that names a dataset (``zeroshot``, ``fewshot``, ``classify --dataset``) applies that dataset's row
unless an explicit option overrides a value, and records in its result which values it used and where each came
from, so that a CIFAR10-DVS run gets the threshold 1 the released code asks for without the user knowing it.
"""

from __future__ import annotations

import dataclasses

from neuroclip.clip.prompts import NEUROCLIP_TEMPLATES, resolve_templates
from neuroclip.datasets.classnames import CLASSNAME_SETS, classnames_for, resolve_classnames
from neuroclip.errors import ConfigError
from neuroclip.frames.names import DISCRIMINATION_THRESHOLDS


@dataclasses.dataclass(frozen=True)
class DatasetSettings:
    """What NeuroCLIP runs a dataset with. ``classnames`` is a class-name set (:data:`CLASSNAME_SETS`) or None for
    the dataset's own folder names; ``template`` a template spec for :func:`resolve_templates` (None: the dataset's
    NeuroCLIP template, else ``'a photo of a {}.'``)."""

    threshold: float = 0.0
    template: str | None = None
    classnames: str | None = None


def _row(name: str) -> DatasetSettings:
    return DatasetSettings(
        threshold=float(DISCRIMINATION_THRESHOLDS.get(name, 0)),
        template="neuroclip" if name in NEUROCLIP_TEMPLATES else None,
        classnames=name if name in CLASSNAME_SETS else None,
    )


# The released code's settings (thresholds: mv_proj and its CIFAR10-DVS comment; templates: CUSTOM_TEMPLATES), and
# the class names of the datasets NeuroCLIP did not use, so that every registered dataset has a row.
DATASET_SETTINGS = {name: _row(name) for name in
                    ("nmnist", "cifar10dvs", "esimagenet", "ncaltech101", "dvs128gesture", "ncars")}


@dataclasses.dataclass(frozen=True)
class ResolvedSettings:
    """The values a run uses and, for each, where it came from (``'--threshold'``-style option names, or
    ``'dataset cifar10dvs'``), as recorded in result files."""

    threshold: float
    templates: list[str]
    classnames: list[str]
    sources: dict[str, str]

    def record(self) -> dict:
        return {"threshold": self.threshold, "templates": list(self.templates), "classnames": list(self.classnames),
                "sources": dict(self.sources)}


def parse_classnames(spec: str) -> list[str]:
    """A class-name set name (``nmnist``, ``nmnist-words``, ``cifar10dvs``...) or a comma-separated list of at
    least two distinct names (:func:`~neuroclip.datasets.classnames.resolve_classnames`)."""
    return resolve_classnames(str(spec))


def resolve_settings(dataset: str | None, threshold: float | None = None, template: str | None = None,
                     classnames: str | None = None, dataset_classes: list[str] | None = None) -> ResolvedSettings:
    """The settings of a run on ``dataset`` (a registered name or None): each explicit value wins, else the
    dataset's row of :data:`DATASET_SETTINGS`, else the generic default. ``dataset_classes`` (a dataset's own
    class folders) fill in the class names of a dataset without a set, and check the count of explicit ones."""
    row = DATASET_SETTINGS.get(dataset or "", DatasetSettings())
    origin = f"dataset {dataset}" if dataset in DATASET_SETTINGS else "default"
    sources = {}
    if threshold is None:
        threshold, sources["threshold"] = row.threshold, origin
    else:
        sources["threshold"] = "--threshold"
    if classnames is not None:
        names, sources["classnames"] = parse_classnames(classnames), "--classnames"
    elif row.classnames is not None:
        names, sources["classnames"] = classnames_for(row.classnames), origin
    elif dataset_classes:
        names, sources["classnames"] = list(dataset_classes), "the dataset's class folders"
    else:
        raise ConfigError("no class names: pass --classnames (a set such as nmnist, or a comma-separated list)")
    if dataset_classes is not None and len(names) != len(dataset_classes):
        raise ConfigError(f"{len(names)} class names for a dataset with {len(dataset_classes)} classes; give one "
                          "name per class folder, in the folders' sorted order")
    if template is not None:
        templates, sources["template"] = resolve_templates(template, dataset), "--template"
    else:
        templates, sources["template"] = resolve_templates(row.template, dataset), origin
    return ResolvedSettings(float(threshold), templates, names, sources)
