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


def test_one_resolver_for_class_names_and_for_templates_across_the_package():
    from neuroclip.clip.prompts import resolve_templates
    from neuroclip.datasets.classnames import CLASSNAME_SETS, resolve_classnames
    from neuroclip.spikeclip import labels

    # SpikeCLIP's image-dataset sets are ordinary sets, reachable from every command
    assert resolve_classnames("stl10")[:3] == ["airplane", "bird", "car"] and len(resolve_classnames("cifar100")) == 100
    assert labels.classnames("cifar10") == parse_classnames("cifar10") == CLASSNAME_SETS["cifar10"]()
    assert resolve_classnames(None, ["cat", "dog"]) == ["cat", "dog"]
    with pytest.raises(ConfigError, match="more than once"):
        labels.classnames(["cat", "Cat"])
    # the released SpikeCLIP prompt sets resolve by name anywhere, and are the SpikeCLIP default for their dataset
    assert len(resolve_templates("spikeclip-cifar100")) == 18 and len(resolve_templates("spikeclip-caltech101")) == 34
    assert labels.templates(None, "cifar10") == resolve_templates("spikeclip-cifar10")
    assert labels.templates(None, "nmnist") == resolve_templates(None, "nmnist")
