"""Class names in label order, by set name: the event datasets' and the image datasets SpikeCLIP used, and the one
resolver every command uses (:func:`resolve_classnames`)."""

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
    # SpikeCLIP's image datasets (language/label_sentence/*.py); digits are the words zero..nine
    "cifar10": lambda: list(CIFAR10),
    "stl10": lambda: list(STL10),
    "cifar100": lambda: list(CIFAR100),
    "digits": lambda: list(NMNIST_WORDS),
}


def classnames_for(name: str) -> list[str]:
    """The class names of a dataset (``nmnist`` gives digits, ``nmnist-words`` the words zero..nine)."""
    if name not in CLASSNAME_SETS:
        raise ConfigError(f"no class names for {name!r}; known: {', '.join(CLASSNAME_SETS)}")
    return CLASSNAME_SETS[name]()


def resolve_classnames(spec, dataset_classes: list[str] | None = None) -> list[str]:
    """Class names from a set name (see :data:`CLASSNAME_SETS`), a comma-separated string, a list, or None for
    ``dataset_classes`` (a dataset's own); at least two, each named once (case ignored)."""
    if spec is None:
        if not dataset_classes:
            raise ConfigError("the data has no class names of its own: give them (a set such as nmnist, or names "
                              "separated by commas)")
        names = [str(name) for name in dataset_classes]
    elif isinstance(spec, (list, tuple)):
        names = [str(name).strip() for name in spec]
    else:
        text = str(spec).strip()
        if text in CLASSNAME_SETS:
            return CLASSNAME_SETS[text]()
        names = [name.strip() for name in text.split(",") if name.strip()]
        if len(names) < 2:
            raise ConfigError(f"class names {text!r}: neither a known set ({', '.join(CLASSNAME_SETS)}) nor a "
                              "comma-separated list of at least two names (e.g. --classnames cat,dog)")
    seen, repeated = set(), []
    for name in names:
        if name.lower() in seen and name not in repeated:
            repeated.append(name)
        seen.add(name.lower())
    if repeated:
        raise ConfigError(f"class names {names} name {', '.join(repr(n) for n in repeated)} more than once; each "
                          "class must be named once")
    if len(names) < 2:
        raise ConfigError(f"class names {names}: a classifier needs at least two classes")
    return names
