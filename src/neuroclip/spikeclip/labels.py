"""The label-set robustness protocols of SpikeCLIP (ELS: distractor classes added; ULS: classes renamed), and its
defaults for class names and templates (the sets themselves live in :mod:`neuroclip.datasets.classnames` and
:mod:`neuroclip.clip.prompts`)."""

from __future__ import annotations

import random

from neuroclip.clip.prompts import (  # noqa: F401 (re-exported)
    CLIP_CALTECH101_TEMPLATES,
    CLIP_CIFAR100_TEMPLATES,
    SPIKECLIP_TEMPLATES,
    resolve_templates,
    spikeclip_templates,
)
from neuroclip.datasets.classnames import CIFAR10, CIFAR100, NMNIST_WORDS, STL10, resolve_classnames  # noqa: F401
from neuroclip.errors import ConfigError

DIGIT_WORDS = list(NMNIST_WORDS)  # SpikeCLIP's 'digits' set (kept under its old name)

# ELS distractors: the fixed, ordered CIFAR-100 names of the "Expand Label" block of SpikeCLIP:
# language/label_sentence/STL10.py and CIFAR10.py (byte-identical files): 10 active after the 10 true classes, then
# 60 commented out in groups of 10, 70 in all (so 20 to 80 candidates). They are CIFAR-100's names in label order up
# to skyscraper, without baby, boy, chimpanzee, girl, lion, man and pickup truck.
ELS_DISTRACTORS = [
    "apple", "aquarium fish", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn mower", "leopard", "lizard",
    "lobster", "maple tree", "motorcycle", "mountain", "mouse", "mushroom", "oak tree", "orange", "orchid", "otter",
    "palm tree", "pear", "pine tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon",
    "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper",
]

# ULS substitutes (SpikeCLIP: language/ELS_ULS, the names listed in STL10.py's third block, position by position
# over STL-10's classes); automobile -> car and frog -> toad complete CIFAR-10 and are ours.
ULS_REPLACEMENTS = {
    "airplane": "aircraft", "bird": "crane", "car": "automobile", "cat": "tabby cat", "deer": "kangaroo",
    "dog": "wolf", "horse": "zebra", "monkey": "chimpanzee", "ship": "boat", "truck": "pickup truck",
    "automobile": "car", "frog": "toad",
}
ULS_SEEDS = (42, 43, 44)


def classnames(spec, dataset_classes: list[str] | None = None) -> list[str]:
    """Class names from a set name, a list, a comma-separated string, or None for the dataset's own
    (:func:`~neuroclip.datasets.classnames.resolve_classnames`)."""
    return resolve_classnames(spec, dataset_classes)


def templates(spec, dataset: str | None = None) -> list[str]:
    """Prompt templates: SpikeCLIP's set for the dataset by default, else neuroclip's resolution (a set name, a
    template with ``{}``, a list, or a file)."""
    if spec is None and dataset is not None:
        released = spikeclip_templates(dataset)
        if released is not None:
            return released
    return resolve_templates(spec, dataset)


def expanded_label_set(names: list[str], extra: int, distractors: list[str] | None = None) -> list[str]:
    """ELS: the true ``names`` followed by the first ``extra`` names of ``distractors`` (default
    :data:`ELS_DISTRACTORS`, the released fixed list, in its order) that are not among ``names``. Names compare with
    underscores as spaces. Nothing else is skipped: the released list is fixed, so a distractor may be a ULS
    substitute (``kangaroo``). Accuracy stays measured on the original classes: a prediction of a distractor is
    wrong."""
    taken = {name.replace("_", " ") for name in names}
    candidates = ELS_DISTRACTORS if distractors is None else distractors
    pool = list(dict.fromkeys(d for d in candidates if d.replace("_", " ") not in taken))
    if extra < 0 or extra > len(pool):
        raise ConfigError(f"the expanded label set can add 0..{len(pool)} distractors, not {extra}")
    return list(names) + pool[:extra]


def uls_positions(seed: int, n_classes: int = 10, n_replaced: int = 2) -> list[int]:
    """0-based positions of the replaced classes: the released ``random.seed(s); random.sample(range(1, 11), 2)``
    (1-based), giving [2, 1], [1, 5], [7, 9] for seeds 42, 43, 44. A private ``random.Random(seed)`` draws the
    same numbers without reseeding Python's global generator."""
    return [i - 1 for i in random.Random(seed).sample(range(1, n_classes + 1), n_replaced)]


def unseen_label_set(names: list[str], seed: int, replacements: dict[str, str] | None = None,
                     n_replaced: int = 2) -> list[str]:
    """ULS: ``names`` with the classes at :func:`uls_positions` replaced by related, unseen names."""
    table = ULS_REPLACEMENTS if replacements is None else replacements
    replaced = list(names)
    for position in uls_positions(seed, len(names), n_replaced):
        name = names[position]
        if name not in table:
            raise ConfigError(f"no ULS substitute for class {name!r}: name one, --uls-names {name}=NEW,... at the "
                              f"command line (Python: replacements={{{name!r}: 'NEW'}})")
        replaced[position] = table[name]
    return replaced
