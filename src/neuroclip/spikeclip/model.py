"""The SpikeCLIP model (both spiking towers), its zero-shot classifier, checkpoints and prediction.

Classification as in the released code (SpikeCLIP: utils.labels_candidates): the class prototype is the mean over
templates of the *normalised* text-tower embeddings, not renormalised; the logits are the normalised image embedding
times the prototypes, with no temperature (no logit scale).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuroclip.clip.prompts import prompts_for
from neuroclip.errors import ConfigError
from neuroclip.frames.clip_input import file_student_frames, student_frames
from neuroclip.outputs import atomic_write
from neuroclip.spikeclip.config import ModelConfig, legacy_model_dict, model_config, to_dict
from neuroclip.spikeclip.image_encoder import SpikingImageEncoder
from neuroclip.spikeclip.text_encoder import SpikingTextEncoder, tokenize

CHECKPOINT_FORMAT = "neuroclip-spikeclip"
CHECKPOINT_VERSION = 1
# OpenAI CLIP's preprocessing constants (open_clip.constants), the teacher's unless the teacher says otherwise
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclasses.dataclass(frozen=True)
class ImagePreprocess:
    """The teacher's image preprocessing, which the student's image input also starts from: resize the short side
    to ``size`` (bicubic), centre-crop, scale to [0, 1], normalise with ``mean``/``std``."""

    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def transform(self):
        from torchvision import transforms

        return transforms.Compose([
            transforms.Resize(self.size, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(self.size),
            transforms.Lambda(_to_rgb),
            transforms.ToTensor(),
            transforms.Normalize(self.mean, self.std),
        ])


def _to_rgb(image):
    return image.convert("RGB")


class SpikeCLIP(nn.Module):
    """Spiking image tower + spiking text tower sharing the teacher's embedding space and tokenizer."""

    def __init__(self, config: ModelConfig = ModelConfig(), preprocess: ImagePreprocess = ImagePreprocess(),
                 tokenizer=None):
        super().__init__()
        self.config = config
        self.preprocess = preprocess
        self.image_encoder = SpikingImageEncoder(config.image)
        self.text_encoder = SpikingTextEncoder(config.text)
        self._tokenizer = tokenizer

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from neuroclip.clip.backbone import _open_clip

            self._tokenizer = _open_clip().get_tokenizer(self.config.teacher.model)
        return self._tokenizer

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        text = self.config.text
        return tokenize(self.tokenizer, texts, text.context_length, text.pad, text.truncate)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Raw image embeddings ``[B, D]`` of CLIP-preprocessed images ``[B, 3, S, S]`` or event sequences
        ``[B, T, 2, H, W]``."""
        return self.image_encoder(x)

    def encode_text(self, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
        """Raw text embeddings ``[N, D]`` of sentences."""
        ids = self.tokenize(texts)
        outputs = [self.text_encoder(ids[start:start + batch_size].to(self.device))
                   for start in range(0, ids.shape[0], batch_size)]
        return torch.cat(outputs)

    @torch.no_grad()
    def class_prototypes(self, classnames: list[str], templates: list[str]) -> torch.Tensor:
        """``W [K, D]``: per class, the mean over templates of the normalised text embeddings (not renormalised).

        A departure from the released code: its ``utils.labels_candidates`` never resets the spiking neurons
        between classes, so each class's prompts start from the membrane the previous class's prompts left, and a
        prototype depends on the class order. Here every prompt starts at rest (the towers' neurons reset at every
        call and each prompt is its own sample), so a class's prototype depends on its own prompts only: the order
        of ``classnames``, and the other classes present (ELS, ULS), do not change it."""
        if not classnames:
            raise ConfigError("need at least one class name")
        was_training = self.text_encoder.training
        self.text_encoder.eval()
        try:
            flat = [p for per_class in prompts_for(classnames, templates) for p in per_class]
            embeddings = F.normalize(self.encode_text(flat), dim=-1)
        finally:
            self.text_encoder.train(was_training)
        return embeddings.reshape(len(classnames), len(templates), -1).mean(dim=1)

    def logits(self, x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K]`` = norm(image embedding) . prototypes, temperature 1."""
        return class_logits(self.encode_image(x), prototypes)


def class_logits(image_embeddings: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """norm(embeddings) @ prototypes.T (the released code's logits: no logit scale)."""
    return F.normalize(image_embeddings.float(), dim=-1) @ prototypes.float().to(image_embeddings.device).T


# --------------------------------------------------------------------------------------------------- from a teacher


def teacher_shapes(backbone) -> dict:
    """The widths the student takes from a loaded teacher (:class:`neuroclip.clip.ClipBackbone`)."""
    model = backbone.model
    source = model if hasattr(model, "token_embedding") else getattr(model, "text", None)
    tokens = getattr(source, "token_embedding", None)
    positions = getattr(source, "positional_embedding", None)
    shapes = {"embed_dim": backbone.embed_dim}
    if isinstance(tokens, nn.Embedding):
        shapes["vocab_size"], shapes["token_width"] = tokens.weight.shape
    else:
        shapes["vocab_size"] = int(getattr(backbone.tokenizer, "vocab_size", 49408))
        shapes["token_width"] = backbone.embed_dim
    shapes["position_rows"] = positions.shape[0] if positions is not None else 77
    return shapes


def teacher_preprocess(backbone) -> ImagePreprocess:
    return ImagePreprocess(backbone.image_size, tuple(backbone.image_mean), tuple(backbone.image_std))


def build_spikeclip(config: ModelConfig, backbone=None) -> SpikeCLIP:
    """A fresh SpikeCLIP. With the teacher ``backbone``: widths fitted to it, its token and position embeddings
    copied into the text tower (trainable copies), its tokenizer and preprocessing adopted."""
    if backbone is None:
        return SpikeCLIP(config)
    config = config.fitted_to_teacher(**teacher_shapes(backbone))
    model = SpikeCLIP(config, teacher_preprocess(backbone), backbone.tokenizer)
    model.text_encoder.copy_teacher_embeddings(backbone.model)
    return model.to(backbone.device)


# --------------------------------------------------------------------------------------------------- checkpoints


def checkpoint_payload(model: SpikeCLIP, **extra) -> dict:
    from neuroclip.provenance import versions

    return {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **versions(),
        "config": to_dict(model.config), "preprocess": to_dict(model.preprocess),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        **extra,
    }


def save_torch(payload, path) -> Path:
    """``torch.save`` to ``path`` atomically (a temporary file renamed into place: a kill never leaves half a
    checkpoint)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    return atomic_write(path, lambda fp: fp.write(data))


def save_spikeclip(model: SpikeCLIP, path, **extra) -> Path:
    """Write a SpikeCLIP checkpoint (config, preprocessing, weights, and ``extra`` JSON-able metadata)."""
    return save_torch(checkpoint_payload(model, **extra), path)


# SpikeCLIPs shipped inside the package: a name usable wherever a checkpoint path is accepted
BUNDLED_FOLDER = Path(__file__).resolve().parent / "bundled"
BUNDLED_SPIKECLIP = {"neuroclip-mini-spiking": BUNDLED_FOLDER / "neuroclip-mini-spiking.pt"}
_PACKED = "packed_embedding"


def resolve_checkpoint(path_or_name) -> Path:
    """The file of a SpikeCLIP checkpoint: a path, or the name of a bundled model (``neuroclip-mini-spiking``; a
    file or folder of that name in the working directory wins)."""
    text = str(path_or_name)
    if text in BUNDLED_SPIKECLIP and not Path(text).exists():
        file = BUNDLED_SPIKECLIP[text]
        if not file.is_file():
            raise ConfigError(f"the bundled SpikeCLIP {text} is missing from the package ({file}); reinstall "
                              "neuroclip, or rebuild it: python scripts/train_neuroclip_mini_spiking.py, then the "
                              "same with --bundle")
        return file
    return Path(text).expanduser()


def pack_bundled(payload: dict) -> dict:
    """A checkpoint payload made small for the package: floating-point weights in fp16, and the text tower's token
    embedding stored as its non-zero rows (the teacher's copy is zero for every token it never saw). Read back by
    :func:`read_checkpoint`."""
    state = {name: tensor.half() if tensor.is_floating_point() else tensor
             for name, tensor in payload["state_dict"].items()}
    name = "text_encoder.token_embedding.weight"
    weight = state.pop(name)
    rows = torch.nonzero(weight.abs().sum(dim=1) > 0).flatten()
    packed = {"name": name, "shape": list(weight.shape), "rows": rows, "values": weight[rows]}
    return {**payload, "state_dict": state, _PACKED: packed}


def read_checkpoint(path) -> dict:
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file; torch's own text runs over many lines
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{path} is not a readable SpikeCLIP checkpoint (truncated, damaged or not written by "
                          f"neuroclip spikeclip: {first}); use a best.pt or last.pt of a training run") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a SpikeCLIP checkpoint (written by neuroclip spikeclip ...)")
    packed = payload.pop(_PACKED, None)
    if packed is not None:  # a bundled checkpoint (pack_bundled): fp16, token embedding as its non-zero rows
        state = {name: tensor.float() if tensor.is_floating_point() else tensor
                 for name, tensor in payload["state_dict"].items()}
        weight = torch.zeros(packed["shape"])
        weight[packed["rows"]] = packed["values"].float()
        state[packed["name"]] = weight
        payload = {**payload, "state_dict": state}
    return payload


def load_spikeclip(path, device: str | torch.device | None = "cpu") -> SpikeCLIP:
    """A SpikeCLIP from a checkpoint any stage wrote (``best.pt``), or a bundled one by name
    (``neuroclip-mini-spiking``, see :data:`BUNDLED_SPIKECLIP`), in eval mode. Its extras (stage, metrics, class
    names) are in ``model.checkpoint_info``."""
    payload = read_checkpoint(path)
    config = model_config(ModelConfig(), legacy_model_dict(payload["config"]))
    preprocess = ImagePreprocess(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in payload.get("preprocess", {}).items()})
    model = SpikeCLIP(config, preprocess)
    model.load_state_dict(payload["state_dict"])
    model.checkpoint_info = {key: value for key, value in payload.items() if key not in ("state_dict",)}
    return model.to(device or "cpu").eval()


# --------------------------------------------------------------------------------------------------- prediction


def event_input(stream, config: ModelConfig) -> torch.Tensor:
    """A recording as the student's input ``[T, 2, s, s]`` (float32): ``events.n_frames`` count frames, resized to
    the image tower's input size, binarised if the config's representation is ``binary``
    (:func:`neuroclip.frames.student_frames`)."""
    return student_frames(stream, **_student_options(config))


def _student_options(config: ModelConfig) -> dict:
    return dict(n_frames=config.events.n_frames, split_by=config.events.split_by, size=config.image.input_size,
                resize_mode=config.image.resize_mode, binary=config.events.representation == "binary")


def _as_inputs(model: SpikeCLIP, items) -> torch.Tensor:
    if isinstance(items, torch.Tensor):
        return items if items.ndim in (4, 5) else items.unsqueeze(0)
    items = list(items)
    if not items:
        raise ConfigError("nothing to classify")
    from neuroclip.events.stream import EventStream

    if all(isinstance(item, EventStream) for item in items):
        if model.config.modality != "events":
            raise ConfigError("this SpikeCLIP was trained on images; give it images, or train an events preset")
        return torch.stack([event_input(stream, model.config) for stream in items])
    if model.config.modality == "events":
        raise ConfigError("this SpikeCLIP reads event recordings (EventStream); got something else")
    transform = model.preprocess.transform()
    images = []
    for item in items:
        if isinstance(item, (str, Path)):
            from PIL import Image

            with Image.open(item) as opened:
                item = opened.convert("RGB")
        images.append(item if isinstance(item, torch.Tensor) else transform(item))
    return torch.stack(images)


@torch.no_grad()
def predict_logits(model: SpikeCLIP, items, classnames: list[str], templates: list[str],
                   batch_size: int = 64) -> torch.Tensor:
    """Logits ``[N, K]`` (cosine to the class prototypes) of recordings (EventStreams), images (PIL images, paths,
    or CLIP-preprocessed tensors ``[N, 3, S, S]``) or event sequences ``[N, T, 2, H, W]``."""
    model.eval()
    prototypes = model.class_prototypes(list(classnames), list(templates))
    if isinstance(items, torch.Tensor):
        items = _as_inputs(model, items)
    elif not isinstance(items, _RecordingFiles):
        items = list(items)
    if len(items) == 0:
        raise ConfigError("nothing to classify")
    # one batch of inputs at a time (files are read as their batch comes)
    outputs = [model.logits(_as_inputs(model, items[start:start + batch_size]).to(model.device), prototypes).cpu()
               for start in range(0, len(items), batch_size)]
    return torch.cat(outputs)


class _RecordingFiles:
    """Recording files made into the student's input when sliced, so that :func:`predict_logits` holds one batch
    of inputs; a file over :data:`~neuroclip.frames.clip_input.STREAM_ABOVE_BYTES` is counted piece by piece."""

    def __init__(self, model: SpikeCLIP, paths, format: str | None, reading: dict | None):
        self.config, self.paths, self.format, self.reading = model.config, list(paths), format, reading or {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: slice) -> torch.Tensor:
        options = _student_options(self.config)
        return torch.stack([file_student_frames(path, **options, format=self.format, reading=self.reading)
                            for path in self.paths[index]])


def probability_scale(model: SpikeCLIP) -> float:
    """The scale s of the probabilities shown for a SpikeCLIP's predictions, softmax(s * cosine): its teacher's
    logit scale when the checkpoint records it (``teacher_logit_scale``, written by every stage and by the
    training script's ``--bundle``). The student's cosines are distilled from the teacher's, so s gives about the
    teacher's confidence (neuroclip-mini-spiking: 13.6, mean top probability 0.89 on the development recordings it
    ranks 98% right, against 0.15 unscaled). Without it s = 1: the released code's softmax of the raw cosines,
    close to uniform. Rankings and accuracies never depend on s."""
    return float((getattr(model, "checkpoint_info", None) or {}).get("teacher_logit_scale", 1.0))


def predict(model: SpikeCLIP, streams_or_images, classnames: list[str], templates: list[str], k: int = 5,
            batch_size: int = 64):
    """Top-k classes per input (:class:`neuroclip.clip.zeroshot.Prediction`, best first), with probabilities
    softmax(s * cosine), s = :func:`probability_scale`."""
    from neuroclip.clip.zeroshot import top_k

    logits = predict_logits(model, streams_or_images, classnames, templates, batch_size)
    return top_k(probability_scale(model) * logits, list(classnames), k)


def predict_files(model: SpikeCLIP, paths, classnames: list[str], templates: list[str], k: int = 5,
                  format: str | None = None, reading: dict | None = None):
    """Top-k classes of files: recordings (any format neuroclip reads; ``format`` and ``reading``, e.g. ``layout``
    or ``sensor_size``, go to the reader) for an event model, pictures for an image model. For ``neuroclip classify
    --spikeclip CHECKPOINT``."""
    paths = [Path(p) for p in paths]
    if model.config.modality == "events":
        items = _RecordingFiles(model, paths, format, reading)
    elif format or reading:
        raise ConfigError("--format, --layout and --sensor-size apply to recordings; this SpikeCLIP was trained on "
                          "pictures and reads picture files")
    else:
        items = paths
    return predict(model, items, classnames, templates, k)


def zeroshot_evaluate_spikeclip(dataset, checkpoint, classnames: list[str], templates: list[str],
                                device: str | None = "cpu", batch_size: int = 64) -> dict:
    """Zero-shot top-1/top-5 of a SpikeCLIP (a checkpoint path, the bundled name, or a loaded model) on a dataset
    split of recordings (``neuroclip.datasets.get_dataset``), ``batch_size`` recordings at a time: the record
    ``neuroclip zeroshot --spikeclip`` writes."""
    import time

    from neuroclip.provenance import accuracy, versions

    started = time.time()
    model = checkpoint if isinstance(checkpoint, SpikeCLIP) else load_spikeclip(checkpoint, device or "cpu")
    if model.config.modality != "events":
        raise ConfigError(f"the SpikeCLIP {checkpoint} was trained on images; zero-shot on recordings needs an "
                          "events model such as neuroclip-mini-spiking")
    if len(dataset) == 0:
        raise ConfigError("no recordings in this split")
    labels = np.asarray([int(label) for _, label in dataset.samples])
    logits = torch.cat([
        predict_logits(model, torch.stack([event_input(dataset[i][0].require_events(), model.config)
                                           for i in range(start, min(start + batch_size, len(dataset)))]),
                       classnames, templates, batch_size)
        for start in range(0, len(dataset), batch_size)])
    predictions = logits.argmax(dim=-1).numpy()
    return {
        "top1": accuracy(logits, labels, 1),
        "top5": accuracy(logits, labels, 5),
        "n_samples": int(labels.size),
        "per_class_top1": {name: float(np.mean(predictions[labels == k] == k)) if np.any(labels == k) else None
                           for k, name in enumerate(classnames)},
        "config": {"method": "spikeclip-zeroshot", "dataset": getattr(dataset, "name", None),
                   "root": str(getattr(dataset, "root", "")), "split": getattr(dataset, "split", None),
                   "classnames": list(classnames), "templates": list(templates),
                   "spikeclip": str(checkpoint) if not isinstance(checkpoint, SpikeCLIP) else "model",
                   "model": to_dict(model.config)},
        **versions(),
        "seconds": round(time.time() - started, 2),
        "_predictions": {"indices": list(range(len(labels))), "labels": labels, "predictions": predictions,
                         "probabilities": (probability_scale(model) * logits.float()).softmax(dim=-1)
                         .max(dim=-1).values.numpy(),
                         "paths": [str(path) for path, _ in dataset.samples]},
    }


def describe(preset: str = "paper", config: Path | None = None, embed_dim: int | None = None) -> dict:
    """Parameter counts and settings of a preset (or of a stage config file's model), built on the meta device
    (no memory, no teacher download)."""
    from neuroclip.spikeclip.config import load_config_file

    if config is not None:
        values = load_config_file(config)
        model_values = values.get("model") or {}
        model = model_config(model_values.get("preset", values.get("preset", preset)), model_values)
    else:
        model = model_config(preset)
    if embed_dim is not None:
        text = model.text
        model = model.fitted_to_teacher(embed_dim, text.vocab_size, text.token_width, text.position_rows)
    with torch.device("meta"):
        network = SpikeCLIP(model)
    image = sum(p.numel() for p in network.image_encoder.parameters())
    text = sum(p.numel() for p in network.text_encoder.parameters())
    embedding = network.text_encoder.token_embedding.weight.numel() + network.text_encoder.position_embedding.numel()
    return {"preset": preset if config is None else str(config), "image_params": image, "text_params": text,
            "total_params": image + text, "text_embedding_params": embedding, "modality": model.modality,
            "teacher": to_dict(model.teacher), "image": to_dict(model.image), "text": to_dict(model.text),
            "events": to_dict(model.events) if model.modality == "events" else None}
