"""Prompt templates: NeuroCLIP's per-dataset templates, CLIP's prompt ensembles, and user templates."""

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


TEMPLATE_SETS = {
    "neuroclip": "the dataset's NeuroCLIP template (default)",
    "clip-imagenet": "the 80 CLIP ImageNet templates",
    "simple": "'a photo of a {}.'",
    "nmnist-search": "NeuroCLIP's search_weights.py N-MNIST template",
}


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
