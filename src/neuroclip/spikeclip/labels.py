"""Class names, prompt templates and the label-set robustness protocols (ELS, ULS) of SpikeCLIP."""

from __future__ import annotations

import random

from neuroclip.clip.prompts import clip_imagenet_templates, resolve_templates
from neuroclip.datasets.classnames import CIFAR10_DVS, CLASSNAME_SETS, NMNIST_WORDS  # noqa: F401 (re-exported)
from neuroclip.errors import ConfigError

# CIFAR-10 in label order (the released CIFAR10.py holds STL-10's names instead: a known bug we do not copy)
CIFAR10 = list(CIFAR10_DVS)
# STL-10 in label order (SpikeCLIP: language/label_sentence/STL10.py, first block)
STL10 = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
# CIFAR-100 fine labels in label order (Krizhevsky 2009, the dataset's meta file)
CIFAR100 = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
]
DIGIT_WORDS = list(NMNIST_WORDS)

SPIKECLIP_CLASSNAMES = {
    "cifar10": CIFAR10, "stl10": STL10, "cifar100": CIFAR100, "digits": DIGIT_WORDS,
}

# CLIP's CIFAR-100 prompt ensemble, 18 templates (openai/CLIP: data/prompts.md, "CIFAR100"), which the released
# SpikeCLIP: language/label_sentence/CIFAR100.py uses
CLIP_CIFAR100_TEMPLATES = [
    "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
    "a low contrast photo of a {}.", "a high contrast photo of a {}.", "a bad photo of a {}.",
    "a good photo of a {}.", "a photo of a small {}.", "a photo of a big {}.",
    "a photo of the {}.", "a blurry photo of the {}.", "a black and white photo of the {}.",
    "a low contrast photo of the {}.", "a high contrast photo of the {}.", "a bad photo of the {}.",
    "a good photo of the {}.", "a photo of the small {}.", "a photo of the big {}.",
]
# CLIP's Caltech-101 prompt ensemble, 34 templates (openai/CLIP: data/prompts.md, "Caltech101"), which the released
# SpikeCLIP: language/label_sentence/Caltech101.py uses
CLIP_CALTECH101_TEMPLATES = [
    "a photo of a {}.", "a painting of a {}.", "a plastic {}.", "a sculpture of a {}.", "a sketch of a {}.",
    "a tattoo of a {}.", "a toy {}.", "a rendition of a {}.", "a embroidered {}.", "a cartoon {}.",
    "a {} in a video game.", "a plushie {}.", "a origami {}.", "art of a {}.", "graffiti of a {}.",
    "a drawing of a {}.", "a doodle of a {}.", "a photo of the {}.", "a painting of the {}.", "the plastic {}.",
    "a sculpture of the {}.", "a sketch of the {}.", "a tattoo of the {}.", "the toy {}.", "a rendition of the {}.",
    "the embroidered {}.", "the cartoon {}.", "the {} in a video game.", "the plushie {}.", "the origami {}.",
    "art of the {}.", "graffiti of the {}.", "a drawing of the {}.", "a doodle of the {}.",
]

# The released prompt sets (SpikeCLIP: language/label_sentence/*.py)
SPIKECLIP_TEMPLATES = {
    "cifar10": ["a photo of a {}.", "a photo of the {}."],
    "stl10": ["a photo of a {}.", "a photo of the {}."],
    "cifar100": CLIP_CIFAR100_TEMPLATES,
    "caltech101": CLIP_CALTECH101_TEMPLATES,
    "flowers102": ["a photo of a {}, a type of flower."],
    "oxfordiiitpet": ["a photo of a {}, a type of pet."],
    "digits": ["a photo of the number {}."],
}
# Sets read on first use: ImageNet's 80 CLIP templates (SpikeCLIP: language/label_sentence/ImageNet_1k.py), as
# open_clip ships them (importing open_clip only when asked)
LAZY_SPIKECLIP_TEMPLATES = {"imagenet": clip_imagenet_templates}

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
    """Class names from a set name (SpikeCLIP's ``cifar10``, ``stl10``, ``cifar100``, ``digits`` or any of
    neuroclip's sets such as ``nmnist-words``), a list, a comma-separated string, or None for the dataset's own."""
    if spec is None:
        if not dataset_classes:
            raise ConfigError("the data source has no class names of its own; set data.classnames")
        return list(dataset_classes)
    if isinstance(spec, (list, tuple)):
        return [str(name) for name in spec]
    if spec in SPIKECLIP_CLASSNAMES:
        return list(SPIKECLIP_CLASSNAMES[spec])
    if spec in CLASSNAME_SETS:
        return CLASSNAME_SETS[spec]()
    if "," in spec:
        return [name.strip() for name in spec.split(",") if name.strip()]
    raise ConfigError(f"unknown class-name set {spec!r}; known: {', '.join([*SPIKECLIP_CLASSNAMES, *CLASSNAME_SETS])}"
                      " (or give a comma-separated list)")


def templates(spec, dataset: str | None = None) -> list[str]:
    """Prompt templates: SpikeCLIP's set for the dataset by default, else neuroclip's resolution (a set name, a
    template with ``{}``, a list, or a file)."""
    if spec is None and dataset is not None:
        released = _spikeclip_templates(dataset)
        if released is not None:
            return released
    if isinstance(spec, str) and spec.startswith("spikeclip-"):
        released = _spikeclip_templates(spec[len("spikeclip-"):])
        if released is not None:
            return released
    return resolve_templates(spec, dataset)


def _spikeclip_templates(dataset: str) -> list[str] | None:
    """The released prompt set of ``dataset`` (a copy), or None if it has none."""
    if dataset in SPIKECLIP_TEMPLATES:
        return list(SPIKECLIP_TEMPLATES[dataset])
    if dataset in LAZY_SPIKECLIP_TEMPLATES:
        return list(LAZY_SPIKECLIP_TEMPLATES[dataset]())
    return None


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
