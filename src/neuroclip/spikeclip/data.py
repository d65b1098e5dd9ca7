"""What SpikeCLIP trains and evaluates on: sentences, images and event recordings, with a held-out validation part.

A *source* is a split of a dataset with ``labels``, ``keys`` (a stable name per sample, for the validation hash),
``classes`` and ``raw(i)`` (a PIL image or an :class:`~neuroclip.events.EventStream`). :class:`SampleView` turns
the samples into tensors for the student (CLIP-preprocessed image, or count frames ``[T, 2, s, s]``) and for the
teacher (the same image, or the NeuroCLIP event frames ``[T', 3, S, S]``).

The validation part is carved from the training split by a hashed per-class rule: the samples whose
``sha256(f"{seed}:{key}")`` ranks lowest within their class are held out, ``ceil(fraction * n)`` of them (never all).
It does not depend on random generators or on where the data lives; the test split is never touched.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from neuroclip.datasets.classnames import CLASSNAME_SETS
from neuroclip.datasets.splitting import held_out_mask
from neuroclip.errors import ConfigError, MissingDependencyError
from neuroclip.events.augment import EventAugmentConfig, augment_events
from neuroclip.spikeclip import labels as label_sets
from neuroclip.spikeclip.config import DataConfig, ModelConfig


def holdout_mask(keys: list[str], labels: list[int], fraction: float, seed) -> list[bool]:
    """True for the held-out samples (see the module docstring): the datasets' hashed per-class rule."""
    return held_out_mask(keys, labels, fraction, seed)


# --------------------------------------------------------------------------------------------------- sources


class DigitsSource:
    """scikit-learn's 8 x 8 handwritten digits (1 797 images, UCI), as white-on-black RGB pictures. A fixed fifth
    of each class (hashed rule, seed 'digits-test') is the test split."""

    name = "digits"

    def __init__(self, split: str = "train"):
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise MissingDependencyError("scikit-learn", "the 'digits' image source") from None
        digits = load_digits()
        keys = [f"digits/{i:04d}" for i in range(len(digits.target))]
        labels = [int(t) for t in digits.target]
        test = holdout_mask(keys, labels, 0.2, "digits-test")
        if split not in ("train", "test"):
            raise ConfigError(f"the digits source has splits 'train' and 'test', not {split!r}")
        chosen = [i for i in range(len(keys)) if test[i] == (split == "test")]
        self.images = (digits.images[chosen] * (255.0 / 16.0)).round().astype(np.uint8)
        self.labels = [labels[i] for i in chosen]
        self.keys = [keys[i] for i in chosen]
        self.classes = CLASSNAME_SETS["digits"]()
        self.split = split

    def __len__(self):
        return len(self.labels)

    def raw(self, index: int):
        from PIL import Image

        return Image.fromarray(self.images[index], mode="L").convert("RGB")


class TorchvisionSource:
    """A torchvision dataset class (CIFAR10, CIFAR100, STL10, Flowers102, ...) read from ``root`` (no download:
    fetch it once with torchvision's ``download=True``)."""

    def __init__(self, name: str, root, split: str = "train"):
        import torchvision.datasets

        cls = getattr(torchvision.datasets, name, None)
        if cls is None:
            raise ConfigError(f"torchvision has no dataset {name!r}")
        try:
            try:
                self.dataset = cls(str(Path(root).expanduser()), split=split, download=False)
            except TypeError:
                self.dataset = cls(str(Path(root).expanduser()), train=split == "train", download=False)
        except (RuntimeError, FileNotFoundError) as error:
            raise ConfigError(f"could not open torchvision {name} ({split}) under {root}: {error}; download it "
                              f"once with torchvision.datasets.{name}(root, download=True)") from None
        for attribute in ("targets", "labels", "_labels", "_samples"):
            values = getattr(self.dataset, attribute, None)
            if values is not None:
                self.labels = [int(v[1] if isinstance(v, tuple) else v) for v in values]
                break
        else:
            self.labels = [int(self.dataset[i][1]) for i in range(len(self.dataset))]
        self.classes = list(getattr(self.dataset, "classes", []) or [])
        self.name = name.lower()
        self.keys = [f"{self.name}/{split}/{i:07d}" for i in range(len(self.labels))]
        self.split = split

    def __len__(self):
        return len(self.labels)

    def raw(self, index: int):
        from PIL import Image

        image = self.dataset[index][0]
        return Image.fromarray(image) if isinstance(image, np.ndarray) else image


class FolderSource:
    """Files in ``root/<class>/<file>`` (images through PIL, or recordings through neuroclip's readers); if
    ``root/<split>`` exists, that folder is used."""

    IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

    def __init__(self, root, split: str = "train", events: bool = False, name: str = "folder"):
        from neuroclip.datasets import NMNIST, FolderDataset

        root = Path(root).expanduser()
        self.events = events
        self.name = name
        if name == "nmnist":
            self.dataset = NMNIST(root, split)
        elif events:
            folder = root / split if (root / split).is_dir() else root
            self.dataset = FolderDataset(folder)
        else:
            folder = root / split if (root / split).is_dir() else root
            if not folder.is_dir():
                raise ConfigError(f"image folder {folder} does not exist")
            classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
            samples = [(path, label) for label, cls in enumerate(classes) for path in sorted((folder / cls).iterdir())
                       if path.suffix.lower() in self.IMAGE_EXTENSIONS]
            if not samples:
                raise ConfigError(f"no images ({', '.join(self.IMAGE_EXTENSIONS)}) under {folder}/<class>/")
            self.dataset = None
            self.samples, self.classes, self.root = samples, classes, folder
        if self.dataset is not None:
            self.samples, self.classes, self.root = self.dataset.samples, self.dataset.classes, self.dataset.root
        self.labels = [label for _, label in self.samples]
        self.keys = [Path(path).relative_to(self.root).as_posix() for path, _ in self.samples]
        self.split = split

    def __len__(self):
        return len(self.samples)

    def raw(self, index: int):
        if self.dataset is not None:
            return self.dataset[index][0]
        from PIL import Image

        with Image.open(self.samples[index][0]) as image:
            return image.convert("RGB")


class UnlabelledSource:
    """Event recordings in ``folders`` (searched recursively, any format neuroclip reads), without labels: every
    label is -1 and folder names are not read. Keys are ``unlabelled/<n>/<path under folder n>``."""

    name = "unlabelled"
    classes = None
    split = "unlabelled"

    def __init__(self, folders):
        from neuroclip.datasets.folder import recordings_under

        self.folders = [Path(folder).expanduser() for folder in folders]
        self.paths, self.keys = [], []
        for n, folder in enumerate(self.folders):
            found = recordings_under(folder, "data.unlabelled")
            self.paths += found
            self.keys += [f"unlabelled/{n}/{path.relative_to(folder).as_posix()}" for path in found]
        self.labels = [-1] * len(self.paths)
        self.root = ";".join(str(folder.resolve()) for folder in self.folders)

    def __len__(self):
        return len(self.paths)

    def raw(self, index: int):
        from neuroclip.events import read_events

        return read_events(self.paths[index])


class CombinedSource:
    """Two sources as one: the samples of ``first`` (indices 0..len(first)-1), then those of ``second``. Names,
    classes and split are ``first``'s; ``parts()`` gives each source with its offset."""

    def __init__(self, first, second):
        self.first, self.second = first, second
        self.offset = len(first)
        self.labels = list(first.labels) + list(second.labels)
        self.keys = list(first.keys) + list(second.keys)
        self.classes = getattr(first, "classes", None)
        self.name = getattr(first, "name", "combined")
        self.split = getattr(first, "split", "")

    def __len__(self):
        return len(self.labels)

    def raw(self, index: int):
        return self.first.raw(index) if index < self.offset else self.second.raw(index - self.offset)

    def parts(self):
        return [(self.first, 0), (self.second, self.offset)]


def source_parts(source) -> list:
    """``(source, offset)`` of each plain source inside ``source`` (itself, at 0, unless combined)."""
    return source.parts() if isinstance(source, CombinedSource) else [(source, 0)]


def with_unlabelled(source, data: DataConfig):
    """``source`` with the recordings of ``data.unlabelled`` appended (a :class:`CombinedSource`), and the indices
    of the appended ones, each ``data.unlabelled_repeat`` times; ``(source, [])`` without them."""
    if not data.unlabelled:
        return source, []
    extra = UnlabelledSource(data.unlabelled)
    combined = CombinedSource(source, extra)
    return combined, [combined.offset + i for i in range(len(extra)) for _ in range(data.unlabelled_repeat)]


def open_source(data: DataConfig, split: str):
    """The source of a data config's split."""
    if data.source == "digits":
        return DigitsSource(split)
    if data.source == "torchvision":
        return TorchvisionSource(data.name, data.root, split)
    if data.source == "image-folder":
        return FolderSource(data.root, split)
    if data.source == "nmnist":
        return FolderSource(data.root, split, events=True, name="nmnist")
    if data.source == "event-folder":
        return FolderSource(data.root, split, events=True)
    raise ConfigError(f"data.source {data.source!r} holds no samples")


def dataset_name(data: DataConfig) -> str | None:
    return {"torchvision": (data.name or "").lower(), "digits": "digits", "nmnist": "nmnist"}.get(data.source)


def select_indices(source, data: DataConfig, part: str) -> list[int]:
    """Indices of ``part`` (``train``, ``val`` or ``test``) in ``source`` (the training split for train/val, the test
    split for test): the first ``per_class`` samples of each class, then the validation hold-out."""
    chosen = list(range(len(source)))
    if data.per_class is not None:
        seen: dict[int, int] = defaultdict(int)
        limited = []
        for i in chosen:
            if seen[source.labels[i]] < data.per_class:
                seen[source.labels[i]] += 1
                limited.append(i)
        chosen = limited
    if part == "test":
        return chosen
    held = holdout_mask([source.keys[i] for i in chosen], [source.labels[i] for i in chosen], data.val_fraction,
                        data.val_seed)
    return [i for i, h in zip(chosen, held) if h == (part == "val")]


def class_names_of(data: DataConfig, source=None) -> list[str]:
    own = getattr(source, "classes", None) if source is not None else None
    if data.classnames is None and data.source == "nmnist":
        own = [str(d) for d in range(10)]
    return label_sets.classnames(data.classnames, own)


def templates_of(data: DataConfig) -> list[str]:
    return label_sets.templates(data.templates, dataset_name(data))


def sentences_of(data: DataConfig) -> list[str]:
    """Stage A's sentences: every template filled with every class name (the released ``make_txt_dataset``), then
    the lines of ``sentences_file``; duplicates removed, order kept. ``data.classnames`` may list several label
    sets (set names or lists), as the released code unites the sentence sets of many datasets."""
    from neuroclip.clip.prompts import prompts_for

    sentences = []
    if data.classnames is not None:
        names = data.classnames
        known = set(CLASSNAME_SETS)
        # a list of set names (["digits", "cifar10"]) or of lists means several label sets
        several = isinstance(names, list) and names and all(isinstance(n, list) or n in known for n in names)
        groups = names if several else [names]
        for group in groups:
            for per_class in prompts_for(label_sets.classnames(group), templates_of(data)):
                sentences.extend(per_class)
    if data.sentences_file:
        path = Path(data.sentences_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"data.sentences_file {path} does not exist")
        sentences.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    unique = list(dict.fromkeys(sentences))
    if not unique:
        raise ConfigError("no sentences: set data.classnames (and data.templates) or data.sentences_file")
    return unique


# --------------------------------------------------------------------------------------------------- tensors


class SampleView(torch.utils.data.Dataset):
    """Samples ``indices`` of ``source`` as ``(inputs, label, position)``; ``role`` picks the inputs:

    * ``student``: the student's input (the CLIP-preprocessed image, or count frames ``[T, 2, s, s]``);
    * ``teacher``: the teacher's input (the same image, or the event frames ``[T', 3, S, S]``);
    * ``both``: ``(student, teacher)``; for images one tensor serves both (the student downsamples it itself).

    ``position`` is the item's place in this view (0..len-1), used to look up cached teacher targets. ``memo``: a
    dict in which a ``student`` view keeps each sample's input after its first read (inputs get no augmentation);
    None reads every time. ``augment``: an event augmentation drawn afresh at every read of a recording, from
    torch's random generator (seeded runs stay reproducible; each data-loader worker draws its own).
    """

    def __init__(self, source, indices: list[int], role: str, config: ModelConfig, preprocess,
                 memo: dict | None = None, augment: EventAugmentConfig | None = None):
        if role not in ("student", "teacher", "both"):
            raise ConfigError(f"role must be student, teacher or both, got {role!r}")
        if memo is not None and role != "student":
            raise ConfigError("only a student view keeps its inputs (memo)")
        if memo is not None and augment is not None and augment.active:
            raise ConfigError("an augmented view cannot keep its inputs (memo)")
        self.source, self.indices, self.role, self.config = source, list(indices), role, config
        self.preprocess = preprocess
        self.memo = memo
        self.augment = augment if augment is not None and augment.active else None
        self._transform = None

    def __len__(self):
        return len(self.indices)

    @property
    def labels(self) -> list[int]:
        return [self.source.labels[i] for i in self.indices]

    def __getitem__(self, position: int):
        index = self.indices[position]
        if self.memo is not None:
            if index not in self.memo:
                self.memo[index] = self._read(index)
            return self.memo[index], self.source.labels[index], position
        return self._read(index), self.source.labels[index], position

    def _read(self, index: int):
        """The inputs of source sample ``index`` for this view's role."""
        raw = self.source.raw(index)
        if self.config.modality == "images":
            if self._transform is None:
                self._transform = self.preprocess.transform()
            return self._transform(raw)
        from neuroclip.frames.clip_input import clip_frames
        from neuroclip.spikeclip.model import event_input

        stream = raw.require_events() if hasattr(raw, "require_events") else raw
        if self.augment is not None:
            rng = np.random.default_rng(int(torch.randint(2**62, ()).item()))
            stream = augment_events(stream, self.augment, rng)
        if self.role == "student":
            return event_input(stream, self.config)
        teacher = clip_frames(stream, self.config.teacher_frames, self.preprocess.size, mean=self.preprocess.mean,
                              std=self.preprocess.std)
        if self.role == "teacher":
            return teacher
        return event_input(stream, self.config), teacher


def student_part(inputs, modality: str):
    """The student's tensor of a batch from a ``both`` view."""
    return inputs[0] if modality == "events" else inputs


def teacher_part(inputs, modality: str):
    return inputs[1] if modality == "events" else inputs


def parse_data_spec(spec: str, **fields) -> tuple[DataConfig, str]:
    """A data source from a command-line string, and the split it names:

    ``digits[:split]``, ``nmnist:ROOT[:split]``, ``event-folder:ROOT[:split]``, ``image-folder:ROOT[:split]``,
    ``torchvision:NAME:ROOT[:split]``, or a stage config file (``.json``/``.yaml``: its ``data``). The split
    defaults to ``test``. ``fields`` override the DataConfig (e.g. ``per_class``).
    """
    from neuroclip.spikeclip.config import from_dict, load_config_file

    if spec.endswith((".json", ".yaml", ".yml")) and Path(spec).expanduser().is_file():
        values = load_config_file(spec).get("data", {})
        return from_dict(DataConfig, values | fields, DataConfig(), "data"), "test"
    source, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    split = "test"
    values: dict = {"source": source}
    if source == "digits":
        split = parts[0] if parts else split
    elif source in ("nmnist", "event-folder", "image-folder"):
        if not parts:
            raise ConfigError(f"--data {spec!r}: give the folder, e.g. {source}:/data/{source}[:test]")
        values["root"] = parts[0]
        split = parts[1] if len(parts) > 1 else split
    elif source == "torchvision":
        if len(parts) < 2:
            raise ConfigError(f"--data {spec!r}: use torchvision:NAME:ROOT[:split], e.g. torchvision:CIFAR10:~/data")
        values["name"], values["root"] = parts[0], parts[1]
        split = parts[2] if len(parts) > 2 else split
    else:
        raise ConfigError(f"--data {spec!r}: the source must be digits, nmnist, event-folder, image-folder or "
                          "torchvision (SOURCE:ROOT[:split]), or a stage config file")
    return from_dict(DataConfig, values | fields, DataConfig(), "data"), split
