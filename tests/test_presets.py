"""Per-dataset NeuroCLIP settings: every registered dataset has a row, and the released values are the defaults."""

import pytest

from neuroclip.clip.presets import DATASET_SETTINGS, parse_classnames, resolve_settings
from neuroclip.datasets import DATASETS
from neuroclip.errors import ConfigError

PUBLISHED = [name for name in DATASETS if name != "folder"]


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_published_dataset_has_settings(name):
    settings = resolve_settings(name)
    assert name in DATASET_SETTINGS and settings.classnames and settings.templates
    assert set(settings.sources.values()) == {f"dataset {name}"}


def test_the_released_values():
    assert resolve_settings("cifar10dvs").threshold == 1.0  # NeuroCLIP's code comment: th = 1 on CIFAR10-DVS
    assert resolve_settings("nmnist").threshold == 0.0
    assert resolve_settings("cifar10dvs").templates == ["A low quality stick figure of the object {}."]
    assert resolve_settings("cifar10dvs", threshold=0).threshold == 0.0


def test_class_name_lists_are_checked():
    assert parse_classnames("cat, dog") == ["cat", "dog"]
    with pytest.raises(ConfigError, match="'A' more than once"):
        parse_classnames("a,b,A")
    with pytest.raises(ConfigError, match="at least two names"):
        parse_classnames("foo-words")
    with pytest.raises(ConfigError, match="3 class names for a dataset with 10 classes"):
        resolve_settings("nmnist", classnames="a,b,c", dataset_classes=[str(d) for d in range(10)])
