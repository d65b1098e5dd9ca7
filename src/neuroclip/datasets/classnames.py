"""Class names of the event datasets, in label order."""

from __future__ import annotations

from neuroclip.errors import ConfigError

NMNIST_DIGITS = [str(d) for d in range(10)]
# NeuroCLIP reads class names from a shape_names.txt it does not publish; its search_weights.py uses these words
NMNIST_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# spikingjelly's CIFAR10-DVS folder order, which is CIFAR-10's label order
CIFAR10_DVS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# DVS128 Gesture labels 1..11 (Amir et al. 2017), shifted to 0..10
DVS128_GESTURE = [
    "hand clapping", "right hand wave", "left hand wave", "right arm clockwise", "right arm counter clockwise",
    "left arm clockwise", "left arm counter clockwise", "arm roll", "air drums", "air guitar", "other gestures",
]
# N-CARS folders: cars = 1, background = 0 (Sironi et al. 2018)
NCARS = ["background", "car"]
# N-Caltech101's 101 class folders (Orchard et al. 2015): 100 object classes and BACKGROUND_Google, in the order
# Python's sorted() gives the folder names (upper case first), which is how folder datasets assign labels
NCALTECH101 = sorted(["BACKGROUND_Google",
    "accordion", "airplanes", "anchor", "ant", "barrel", "bass", "beaver", "binocular", "bonsai", "brain",
    "brontosaurus", "buddha", "butterfly", "camera", "cannon", "car_side", "ceiling_fan", "cellphone", "chair",
    "chandelier", "cougar_body", "cougar_face", "crab", "crayfish", "crocodile", "crocodile_head", "cup",
    "dalmatian", "dollar_bill", "dolphin", "dragonfly", "electric_guitar", "elephant", "emu", "euphonium", "ewer",
    "Faces_easy", "ferry", "flamingo", "flamingo_head", "garfield", "gerenuk", "gramophone", "grand_piano",
    "hawksbill", "headphone", "hedgehog", "helicopter", "ibis", "inline_skate", "joshua_tree", "kangaroo", "ketch",
    "lamp", "laptop", "Leopards", "llama", "lobster", "lotus", "mandolin", "mayfly", "menorah", "metronome",
    "minaret", "Motorbikes", "nautilus", "octopus", "okapi", "pagoda", "panda", "pigeon", "pizza", "platypus",
    "pyramid", "revolver", "rhino", "rooster", "saxophone", "schooner", "scissors", "scorpion", "sea_horse",
    "snoopy", "soccer_ball", "stapler", "starfish", "stegosaurus", "stop_sign", "strawberry", "sunflower", "tick",
    "trilobite", "umbrella", "watch", "water_lilly", "wheelchair", "wild_cat", "windsor_chair", "wrench", "yin_yang",
])
# readable prompts for the folder names above (CLIP-style names for the few cryptic ones)
NCALTECH101_PROMPT_NAMES = {
    "BACKGROUND_Google": "background", "car_side": "side of a car", "Faces_easy": "centered face",
    "Leopards": "leopard", "Motorbikes": "motorbike",
    "airplanes": "airplane", "cougar_body": "body of a cougar cat", "cougar_face": "face of a cougar cat",
    "crocodile_head": "head of a crocodile", "flamingo_head": "head of a flamingo", "water_lilly": "water lilly",
    "wild_cat": "wild cat", "yin_yang": "yin and yang symbol", "windsor_chair": "windsor chair",
}


def imagenet_classnames() -> list[str]:
    """The 1000 ImageNet-1k class names in label order (ES-ImageNet uses ImageNet's labels), as open_clip ships
    them (the CLIP paper's cleaned names)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


CLASSNAME_SETS = {
    "nmnist": lambda: list(NMNIST_DIGITS),
    "nmnist-words": lambda: list(NMNIST_WORDS),
    "cifar10dvs": lambda: list(CIFAR10_DVS),
    "dvs128gesture": lambda: list(DVS128_GESTURE),
    "ncars": lambda: list(NCARS),
    "ncaltech101": lambda: [NCALTECH101_PROMPT_NAMES.get(n, n.replace("_", " ")) for n in NCALTECH101],
    "esimagenet": imagenet_classnames,
    "imagenet": imagenet_classnames,
}


def classnames_for(name: str) -> list[str]:
    """The class names of a dataset (``nmnist`` gives digits, ``nmnist-words`` the words zero..nine)."""
    if name not in CLASSNAME_SETS:
        raise ConfigError(f"no class names for {name!r}; known: {', '.join(CLASSNAME_SETS)}")
    return CLASSNAME_SETS[name]()
