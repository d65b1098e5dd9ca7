"""Prompt templates: NeuroCLIP's and SpikeCLIP's per-dataset templates, CLIP's prompt ensembles, user templates;
one resolver, :func:`resolve_templates`."""

from __future__ import annotations

from pathlib import Path

from neuroclip.errors import ConfigError

# NeuroCLIP's released code, CUSTOM_TEMPLATES in trainers/zeroshot.py (one template per dataset)
NEUROCLIP_TEMPLATES = {
    "nmnist": ['A black and white photo of the Arabic numeral number: "{}".'],
    "cifar10dvs": ["A low quality stick figure of the object {}."],
    "esimagenet": ["A low quality point cloud image of {}."],
}
# the N-MNIST template of NeuroCLIP's trainers/search_weights.py, used with the class words zero..nine
NEUROCLIP_SEARCH_TEMPLATE_NMNIST = ["a gray image of digit number {}"]


def clip_imagenet_templates() -> list[str]:
    """The 80 ImageNet prompt templates of the CLIP paper, as open_clip ships them."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return [template("{}") for template in OPENAI_IMAGENET_TEMPLATES]


def simple_templates() -> list[str]:
    return ["a photo of a {}."]


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


TEMPLATE_SETS = {
    "neuroclip": "the dataset's NeuroCLIP template (default)",
    "clip-imagenet": "the 80 CLIP ImageNet templates",
    "simple": "'a photo of a {}.'",
    "nmnist-search": "NeuroCLIP's search_weights.py N-MNIST template",
    "spikeclip-<dataset>": "SpikeCLIP's released set of the dataset: "
                           + ", ".join([*SPIKECLIP_TEMPLATES, *LAZY_SPIKECLIP_TEMPLATES]),
}


def spikeclip_templates(dataset: str) -> list[str] | None:
    """SpikeCLIP's released prompt set of ``dataset`` (a copy), or None if it has none."""
    if dataset in SPIKECLIP_TEMPLATES:
        return list(SPIKECLIP_TEMPLATES[dataset])
    if dataset in LAZY_SPIKECLIP_TEMPLATES:
        return list(LAZY_SPIKECLIP_TEMPLATES[dataset]())
    return None


def resolve_templates(spec: str | list[str] | None, dataset: str | None = None) -> list[str]:
    """Turn a template choice into a list of format strings with one ``{}``.

    ``spec`` is a name from ``TEMPLATE_SETS``, a literal template containing ``{}``, a list of templates, or a path
    to a text file with one template per line. None means the dataset's NeuroCLIP template (or ``simple`` for
    datasets NeuroCLIP did not use).
    """
    if spec is None or spec == "neuroclip":
        if dataset in NEUROCLIP_TEMPLATES:
            return list(NEUROCLIP_TEMPLATES[dataset])
        if spec == "neuroclip":
            raise ConfigError(
                f"NeuroCLIP has no template for dataset {dataset!r}; it has {sorted(NEUROCLIP_TEMPLATES)}"
            )
        return simple_templates()
    if isinstance(spec, (list, tuple)):
        templates = list(spec)
    elif spec == "clip-imagenet":
        templates = clip_imagenet_templates()
    elif spec == "simple":
        templates = simple_templates()
    elif spec == "nmnist-search":
        templates = list(NEUROCLIP_SEARCH_TEMPLATE_NMNIST)
    elif isinstance(spec, str) and spec.startswith("spikeclip-") and spikeclip_templates(spec[10:]) is not None:
        templates = spikeclip_templates(spec[10:])
    elif "{}" in spec:
        templates = [spec]
    elif Path(spec).expanduser().is_file():
        lines = Path(spec).expanduser().read_text(encoding="utf-8").splitlines()
        templates = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        raise ConfigError(
            f"template {spec!r} is neither a known set ({', '.join(TEMPLATE_SETS)}), a template containing '{{}}', "
            "nor an existing file of templates"
        )
    bad = [t for t in templates if t.count("{}") != 1]
    if not templates or bad:
        raise ConfigError(f"each template needs exactly one '{{}}' for the class name; these do not: {bad[:3]}")
    return templates


def prompts_for(classnames: list[str], templates: list[str]) -> list[list[str]]:
    """prompts[k][j] = template j filled with class k's name (underscores become spaces, as NeuroCLIP does)."""
    return [[template.format(name.replace("_", " ")) for template in templates] for name in classnames]
