"""CLIP backbones through open_clip: a model name plus a pretrained tag, a local checkpoint, ``hf-hub:`` or
``local-dir:``.

* ``load_backbone("ViT-B-32", "openai")`` — the NeuroCLIP default; weights download on first use.
* ``load_backbone("RN50", "/path/to/RN50.pt")`` — a local checkpoint file (state dict or open_clip checkpoint).
* ``load_backbone("hf-hub:timm/ViT-B-16-SigLIP")`` / ``load_backbone("local-dir:/models/my-clip")``.
* ``load_backbone("neuroclip-tiny-vit", None)`` — a tiny architecture shipped for tests, randomly initialised.

With no network and no weights cached, loading a pretrained tag raises :class:`ModelNotFoundError` saying how to
supply a local file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import logging
import os
from functools import cached_property
from pathlib import Path

import torch

from neuroclip.errors import ConfigError, NeuroclipError

MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"
_registered = False


class ModelNotFoundError(NeuroclipError):
    """The requested CLIP weights could not be found or downloaded."""


def _open_clip():
    global _registered
    import open_clip

    if not _registered:
        open_clip.add_model_config(MODEL_CONFIGS)
        _registered = True
    return open_clip


def _is_schema(name: str) -> bool:
    return name.startswith(("hf-hub:", "local-dir:"))


def _offline_hint(model: str, pretrained: str) -> str:
    return (
        f"Could not load the pretrained weights '{pretrained}' of {model}: no network, or the download failed. "
        f"Either run once on a machine with internet (the weights go to the Hugging Face cache, "
        f"~/.cache/huggingface, which you can copy over), or download the checkpoint file yourself and pass its "
        f"path: --model {model} --pretrained /path/to/{model}.pt (Python: load_backbone('{model}', "
        f"'/path/to/{model}.pt'))."
    )


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Which CLIP to load. ``pretrained`` is a tag (``openai``, ``laion2b_s34b_b79k``...), a file path, or None for
    random weights."""

    model: str = "ViT-B-32"
    pretrained: str | None = "openai"
    precision: str = "fp32"

    def identity(self) -> dict:
        """What identifies the weights, for cache keys: a local file contributes its size and mtime."""
        identity = dataclasses.asdict(self)
        if self.pretrained and Path(self.pretrained).expanduser().is_file():
            stat = Path(self.pretrained).expanduser().stat()
            identity["pretrained_file"] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        return identity


def check_spec(spec: BackboneSpec) -> None:
    """Raise a clear error for an unknown model name or pretrained tag, before any download is tried."""
    open_clip = _open_clip()
    if _is_schema(spec.model):
        if spec.model.startswith("local-dir:") and not Path(spec.model[len("local-dir:"):]).expanduser().is_dir():
            raise ModelNotFoundError(f"model folder {spec.model[len('local-dir:'):]!r} does not exist")
        return
    models = open_clip.list_models()
    if spec.model not in models:
        close = difflib.get_close_matches(spec.model, models, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see open_clip.list_models()"
        raise ConfigError(f"unknown CLIP model {spec.model!r}{hint}")
    if spec.pretrained is None or Path(spec.pretrained).expanduser().is_file():
        return
    looks_like_path = any(sep in spec.pretrained for sep in ("/", os.sep))
    if looks_like_path or spec.pretrained.endswith((".pt", ".bin", ".safetensors")):
        raise ModelNotFoundError(f"checkpoint file {spec.pretrained!r} does not exist")
    tags = open_clip.list_pretrained_tags_by_model(spec.model)
    if spec.pretrained not in tags:
        raise ConfigError(
            f"{spec.model} has no pretrained tag {spec.pretrained!r}; known tags: {', '.join(tags) or 'none'} "
            "(or pass a checkpoint file path)"
        )


class ClipBackbone:
    """A loaded CLIP: its frozen image and text towers, tokenizer and preprocessing constants."""

    def __init__(self, model: torch.nn.Module, tokenizer, spec: BackboneSpec, device: torch.device,
                 image_mean, image_std, amp_dtype: torch.dtype | None):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.spec = spec
        self.device = device
        self.image_mean = tuple(float(v) for v in image_mean)
        self.image_std = tuple(float(v) for v in image_std)
        self.amp_dtype = amp_dtype

    def __repr__(self) -> str:
        return f"ClipBackbone({self.spec.model}, pretrained={self.spec.pretrained}, device={self.device})"

    @cached_property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @cached_property
    def embed_dim(self) -> int:
        with torch.no_grad():
            return int(self.encode_text(["a"]).shape[-1])

    @property
    def logit_scale(self) -> float:
        scale = getattr(self.model, "logit_scale", None)
        return float(scale.exp()) if scale is not None else 100.0

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Raw (unnormalised) image embeddings [N, C] in float32 of preprocessed images [N, 3, S, S]."""
        outputs = []
        for start in range(0, images.shape[0], batch_size):
            batch = images[start:start + batch_size].to(self.device, non_blocking=True)
            with self._autocast():
                outputs.append(self.model.encode_image(batch).float())
        if not outputs:
            return torch.empty(0, self.embed_dim)
        return torch.cat(outputs)

    @torch.no_grad()
    def encode_text(self, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
        """Raw (unnormalised) text embeddings [K, C] in float32."""
        outputs = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[start:start + batch_size])).to(self.device)
            with self._autocast():
                outputs.append(self.model.encode_text(tokens).float())
        return torch.cat(outputs)

    def fingerprint(self) -> str:
        """A short hash of the weights actually loaded (used in cache keys for random or local weights)."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            flat = tensor.detach().float().flatten()
            digest.update(flat[:: max(1, flat.numel() // 64)].cpu().numpy().tobytes())
        return digest.hexdigest()[:16]


@contextlib.contextmanager
def _quiet_root_logger(active: bool):
    """open_clip warns on the root logger when it initialises randomly, which is what a None tag asks for."""
    logger = logging.getLogger()
    level = logger.level
    if active:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_backbone(model: str = "ViT-B-32", pretrained: str | None = "openai", device: str | torch.device | None = None,
                  precision: str = "fp32", amp: bool | None = None, seed: int = 0) -> ClipBackbone:
    """Load a CLIP through open_clip (see the module docstring for the sources).

    ``amp`` (default: on for CUDA) runs the towers under autocast in bfloat16 where supported, else float16.
    ``seed`` fixes random weights (``pretrained=None``), so every process of a job builds the same model; the global
    random state is left as it was.
    """
    if isinstance(pretrained, str) and pretrained.strip().lower() in ("", "none", "random"):
        pretrained = None  # the command line's way to ask for random weights
    device = torch.device(device) if device is not None else default_device()
    if model == BUNDLED_MODEL:
        return load_bundled(device, amp)
    spec = BackboneSpec(model, pretrained, precision)
    check_spec(spec)
    open_clip = _open_clip()
    try:
        with _quiet_root_logger(spec.pretrained is None), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clip_model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model, pretrained=None if _is_schema(spec.model) else spec.pretrained, precision=precision,
                device=device,
            )
        tokenizer = open_clip.get_tokenizer(spec.model)
    except (KeyboardInterrupt, MemoryError):
        raise
    except NeuroclipError:
        raise
    except Exception as error:
        if spec.pretrained and not Path(spec.pretrained).expanduser().is_file() and not _is_schema(spec.model):
            raise ModelNotFoundError(_offline_hint(spec.model, spec.pretrained) + f" ({type(error).__name__}: "
                                                                                    f"{error})") from None
        if _is_schema(spec.model):
            raise ModelNotFoundError(f"could not load {spec.model}: {type(error).__name__}: {error}") from None
        raise ModelNotFoundError(f"could not load the checkpoint {spec.pretrained!r} into {spec.model}: "
                                 f"{type(error).__name__}: {error}. Is it a checkpoint of that architecture?") \
            from None
    mean = getattr(clip_model.visual, "image_mean", None) or _transform_constant(preprocess, "mean")
    std = getattr(clip_model.visual, "image_std", None) or _transform_constant(preprocess, "std")
    if amp is None:
        amp = device.type == "cuda"
    amp_dtype = None
    if amp:
        amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    return ClipBackbone(clip_model, tokenizer, spec, device, mean, std, amp_dtype)


BUNDLED_MODEL = "neuroclip-mini"
BUNDLED_WEIGHTS = Path(__file__).resolve().parent / "bundled" / "neuroclip-mini.safetensors"


def load_bundled(device: torch.device, amp: bool | None = None, path: Path = BUNDLED_WEIGHTS) -> ClipBackbone:
    """The small CLIP shipped inside the package (trained from scratch on 2D digit images by
    scripts/train_neuroclip_mini.py); works offline. ``path`` reads another export of it (a training run's)."""
    from neuroclip.mini.train import load_bundled_state

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"the bundled model's weights {path} are missing; reinstall neuroclip, or train them with "
            "python scripts/train_neuroclip_mini.py"
        )
    open_clip = _open_clip()
    with _quiet_root_logger(True):
        clip_model = open_clip.create_model(BUNDLED_MODEL, pretrained=None)
    card = load_bundled_state(path, clip_model)
    clip_model = clip_model.to(device)
    spec = BackboneSpec(BUNDLED_MODEL, "bundled", "fp32")
    amp_dtype = None
    if amp if amp is not None else device.type == "cuda":
        amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    backbone = ClipBackbone(clip_model, open_clip.get_tokenizer(BUNDLED_MODEL), spec, device,
                            (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), amp_dtype)
    backbone.card = card
    return backbone


def _transform_constant(preprocess, name: str):
    for transform in getattr(preprocess, "transforms", []):
        if hasattr(transform, name):
            return getattr(transform, name)
    # OpenAI CLIP's constants, used by most open_clip models
    return (0.48145466, 0.4578275, 0.40821073) if name == "mean" else (0.26862954, 0.26130258, 0.27577711)
