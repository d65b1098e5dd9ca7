"""CLIP backbones through open_clip: a model name plus a pretrained tag, a local checkpoint, ``hf-hub:`` or
``local-dir:``.

* ``load_backbone("ViT-B-32", "openai")`` — the NeuroCLIP default; weights download on first use.
* ``load_backbone("RN50", "/path/to/RN50.pt")`` — a local checkpoint file (state dict or open_clip checkpoint).
* ``load_backbone("hf-hub:timm/ViT-B-16-SigLIP")`` / ``load_backbone("local-dir:/models/my-clip")``.
* ``load_backbone("neuroclip-tiny-vit", None)`` — a tiny architecture shipped for tests, randomly initialised.

With no network and no weights cached, loading a pretrained tag raises :class:`ModelNotFoundError` saying how to
supply a local file.

A pretrained tag decides more than the weights: open_clip's entry for it (``open_clip.pretrained.get_pretrained_cfg``)
names the activation the weights were trained with (``quick_gelu``) and the image preprocessing (mean, std,
interpolation, resize mode). Since open_clip 2.29 ``create_model(model, pretrained=tag)`` only warns when the tag
needs QuickGELU and the model config says GELU, so :func:`tag_config` reads what the tag requires and
:func:`build_model` builds exactly that; :func:`load_backbone` then loads the tag's weights into it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging
import os
from functools import cached_property
from pathlib import Path

import torch

from neuroclip.devices import resolve_device
from neuroclip.errors import ConfigError, NeuroclipError

MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"
_registered = False


class ModelNotFoundError(NeuroclipError):
    """The requested CLIP weights could not be found or downloaded. ``weights_file_hint``: the file a user could
    pass instead (set when the weights of a tag could not be fetched), for callers that word their own fix."""

    def __init__(self, message: str, weights_file_hint: tuple[str, str] | None = None):
        super().__init__(message)
        self.weights_file_hint = weights_file_hint


def _open_clip():
    global _registered
    import open_clip

    if not _registered:
        open_clip.add_model_config(MODEL_CONFIGS)
        _registered = True
    return open_clip


def _is_schema(name: str) -> bool:
    return name.startswith(("hf-hub:", "local-dir:"))


@dataclasses.dataclass(frozen=True)
class TagConfig:
    """What a (model, pretrained) pair requires: the activation of the towers open_clip builds itself (QuickGELU
    or GELU) and the image preprocessing the weights were trained with."""

    quick_gelu: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    resize_mode: str

    def preprocess(self) -> dict:
        """The fields of ``open_clip.transform.PreprocessCfg`` this config sets."""
        return {"mean": self.mean, "std": self.std, "interpolation": self.interpolation,
                "resize_mode": self.resize_mode}


def _schema_file_config(model: str) -> dict:
    """The ``open_clip_config.json`` of an ``hf-hub:``/``local-dir:`` model (``hf-hub:`` downloads that small file,
    as open_clip itself does to build the model)."""
    open_clip = _open_clip()
    if model.startswith("local-dir:"):
        path = Path(model[len("local-dir:"):]).expanduser() / "open_clip_config.json"
    else:
        path = Path(open_clip.pretrained.download_pretrained_from_hf(model[len("hf-hub:"):],
                                                                      filename="open_clip_config.json"))
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def tag_config(model: str, pretrained: str | None) -> TagConfig:
    """What open_clip's pretrained entry for ``(model, pretrained)`` requires.

    ``quick_gelu`` is the entry's ``quick_gelu`` if it has one, else the model config's own (default False); the
    preprocessing is the entry's over open_clip's defaults (``open_clip.transform.PreprocessCfg``: OpenAI's
    mean/std, bicubic, shortest side). A checkpoint file or None (random weights) gets the model config's activation
    and those defaults; an ``hf-hub:``/``local-dir:`` model its ``open_clip_config.json`` (``model_cfg`` and
    ``preprocess_cfg``), as open_clip builds it.
    """
    open_clip = _open_clip()
    if _is_schema(model):
        file_config = _schema_file_config(model)
        model_cfg = file_config.get("model_cfg", file_config)
        entry = file_config.get("preprocess_cfg", {})
    else:
        model_cfg = open_clip.get_model_config(model)
        if model_cfg is None:
            raise ConfigError(f"unknown CLIP model {model!r}; see open_clip.list_models()")
        entry = open_clip.pretrained.get_pretrained_cfg(model, pretrained) if pretrained else {}
    quick_gelu = entry.get("quick_gelu", model_cfg.get("quick_gelu", False))
    # open_clip's defaults (transform.PreprocessCfg: bicubic, shortest side) with OpenAI's mean/std spelled out
    defaults = open_clip.transform.PreprocessCfg(mean=open_clip.constants.OPENAI_DATASET_MEAN,
                                                 std=open_clip.constants.OPENAI_DATASET_STD)
    preprocess = open_clip.transform.merge_preprocess_dict(defaults, entry)
    return TagConfig(
        quick_gelu=bool(quick_gelu),
        mean=tuple(float(v) for v in preprocess["mean"]),
        std=tuple(float(v) for v in preprocess["std"]),
        interpolation=str(preprocess["interpolation"]),
        resize_mode=str(preprocess["resize_mode"]),
    )


def build_model(model: str, config: TagConfig, *, precision: str = "fp32", device: str | torch.device = "cpu",
                base_text_weights: bool = False) -> torch.nn.Module:
    """The architecture of ``model`` as ``config`` (:func:`tag_config`) requires, with random weights.

    Downloads no CLIP weights: ``quick_gelu`` goes to open_clip as a model keyword, which overrides the model config
    in both directions, and the preprocessing is set on ``model.visual`` as open_clip does for a tag. On the meta
    device nothing is allocated. Models with a Hugging Face text tower still fetch that tower's config (and with
    ``base_text_weights`` its pretrained weights, what open_clip does for random CLIP weights).
    """
    open_clip = _open_clip()
    device = torch.device(device)
    on_meta = torch.device("meta") if device.type == "meta" else contextlib.nullcontext()
    with _quiet_root_logger(True), on_meta:  # open_clip warns that the weights are random, which is the point
        clip_model = open_clip.create_model(model, pretrained=None, precision=precision, device=device,
                                            pretrained_text=base_text_weights, quick_gelu=config.quick_gelu)
    preprocess = {**clip_model.visual.preprocess_cfg, **config.preprocess()}
    open_clip.set_model_preprocess_cfg(clip_model, preprocess)
    return clip_model


def _weights_file(model: str, pretrained: str) -> str:
    """The file of a tag's weights (from the cache, or downloaded) or the given checkpoint file; found before the
    model is built, so that an offline machine is told at once."""
    entry = _open_clip().pretrained.get_pretrained_cfg(model, pretrained)
    return _tag_weights(entry, model, pretrained) if entry else str(Path(pretrained).expanduser())


def _load_pretrained(clip_model: torch.nn.Module, path: str) -> None:
    """Load a weights file strictly, as open_clip's create_model does."""
    _open_clip().load_checkpoint(clip_model, path, strict=True)


def _cached_hub_file(entry: dict) -> str | None:
    """The tag's weights from the local Hugging Face cache, without the network, or None."""
    hub = entry.get("hf_hub", "")
    if not hub:
        return None
    from huggingface_hub import hf_hub_download
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    model_id, filename = os.path.split(hub)
    filename = filename or HF_WEIGHTS_NAME
    # open_clip prefers a .safetensors twin of a .bin file (open_clip.pretrained.download_pretrained_from_hf)
    twin = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else filename.rsplit(".", 1)[0] + ".safetensors"
    for name in (twin, filename):
        try:
            return hf_hub_download(repo_id=model_id, filename=name, local_files_only=True)
        except Exception:  # not in the cache (huggingface_hub raises several kinds)
            continue
    return None


def _host_answers(url: str, timeout: float = 3.0) -> bool:
    """Whether the weights' host accepts a connection within ``timeout`` seconds (DNS included)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_downloads():
    """huggingface_hub logs a warning per retry (about 24 lines over 50 s offline): our one message replaces them."""
    loggers = [logging.getLogger(), logging.getLogger("huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _tag_weights(entry: dict, model: str, pretrained: str) -> str:
    """The weights file of a pretrained tag: from the cache when it is there, else downloaded. Offline (no answer
    from the host within seconds, or ``HF_HUB_OFFLINE`` set), :class:`ModelNotFoundError` at once."""
    open_clip = _open_clip()
    if entry.get("file"):  # an entry that names a local file (open_clip's download_pretrained honours it too)
        return entry["file"]
    cached = _cached_hub_file(entry)
    if cached:
        return cached
    if entry.get("hf_hub"):
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    else:  # an older entry with a plain URL: open_clip keeps those files in ~/.cache/clip and checks their hash
        endpoint, offline = entry.get("url", ""), False
        local = Path("~/.cache/clip").expanduser() / os.path.basename(endpoint)
        if local.is_file():
            with _quiet_downloads():
                return open_clip.pretrained.download_pretrained(entry)
    if offline or not _host_answers(endpoint):
        raise ModelNotFoundError(_offline_hint(model, pretrained) + " (no answer from the download host)",
                                 _file_model(model, pretrained))
    with _quiet_downloads():
        path = open_clip.pretrained.download_pretrained(entry)
    if not path:
        raise ModelNotFoundError(f"open_clip's entry for {model} {pretrained!r} names no file to download")
    return path


def _file_model(model: str, pretrained: str) -> tuple[str, str]:
    """(model name, file name) for loading a tag's weights from a file: weights trained with QuickGELU load into
    the ``-quickgelu`` model, since a file brings no tag config."""
    as_file = model
    if tag_config(model, pretrained).quick_gelu and f"{model}-quickgelu" in _open_clip().list_models():
        as_file = f"{model}-quickgelu"
    return as_file, f"{model}.pt"


def _offline_hint(model: str, pretrained: str) -> str:
    as_file, _ = _file_model(model, pretrained)
    return (
        f"Could not load the pretrained weights '{pretrained}' of {model}: no network, or the download failed. "
        f"Either run once on a machine with internet (the weights go to the Hugging Face cache, "
        f"~/.cache/huggingface, which you can copy over), or download the checkpoint file yourself and pass its "
        f"path: --model {as_file} --pretrained /path/to/{model}.pt (Python: load_backbone('{as_file}', "
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
    if Path(spec.pretrained).expanduser().is_dir():
        raise ModelNotFoundError(f"--pretrained {spec.pretrained} is a folder: give the checkpoint file in it, or "
                                 f"load an open_clip model folder with --model local-dir:{spec.pretrained}")
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
                 image_mean, image_std, amp_dtype: torch.dtype | None, known_tokens: set[int] | None = None):
        self.model = model.eval().requires_grad_(False)
        self.known_tokens = known_tokens  # None: every token of the tokenizer has a trained embedding
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

    @cached_property
    def activation(self) -> str:
        """``quick_gelu`` when the towers use CLIP's QuickGELU (OpenAI's weights need it), else ``gelu``."""
        from open_clip.transformer import QuickGELU

        return "quick_gelu" if any(isinstance(m, QuickGELU) for m in self.model.modules()) else "gelu"

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

    def unknown_words(self, texts: list[str]) -> list[str]:
        """The words of ``texts`` with a token this CLIP has no trained embedding for (only a CLIP that stores part
        of its vocabulary, such as the bundled ``neuroclip-mini``, has any): prompts with them embed wrongly."""
        if self.known_tokens is None:
            return []
        words = dict.fromkeys(word.strip('.,:;!?"\'()') for text in texts for word in text.split())
        words.pop("", None)
        if not words:
            return []
        ids = self.tokenizer(list(words))
        return [word for word, row in zip(words, ids.tolist()) if any(t not in self.known_tokens for t in row)]

    def check_vocabulary(self, texts: list[str]) -> None:
        """A :class:`ConfigError` naming the words of ``texts`` this CLIP cannot read (see :meth:`unknown_words`)."""
        unknown = self.unknown_words(texts)
        if unknown:
            shown = ", ".join(repr(word) for word in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise ConfigError(f"{self.spec.model} was trained on digit captions only and cannot read {shown}: every "
                              "class would score the same. Use class names it knows (nmnist, nmnist-words) and its "
                              "templates, or a full CLIP (--model ViT-B-32)")

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


def load_backbone(model: str = "ViT-B-32", pretrained: str | None = "default", device: str | torch.device | None = None,
                  precision: str = "fp32", amp: bool | None = None, seed: int = 0) -> ClipBackbone:
    """Load a CLIP through open_clip (see the module docstring for the sources).

    ``pretrained='default'`` is the model's usual weights: OpenAI's (NeuroCLIP's) for an open_clip model, the shipped
    ones for ``neuroclip-mini`` (which takes no other). A pretrained tag builds the architecture its entry requires
    (:func:`tag_config`, :func:`build_model`: e.g. QuickGELU for ``openai``) and the backbone's
    ``image_mean``/``image_std`` are the tag's. A checkpoint file keeps the model config's activation: for OpenAI's
    weights in a file, name the ``-quickgelu`` model (``load_backbone('ViT-B-32-quickgelu', '/path/to/ViT-B-32.pt')``).

    ``amp`` (default: on for CUDA) runs the towers under autocast in bfloat16 where supported, else float16.
    ``seed`` fixes random weights (``pretrained=None``), so every process of a job builds the same model; the global
    random state is left as it was.
    """
    if isinstance(pretrained, str) and pretrained.strip().lower() in ("", "none", "random"):
        pretrained = None  # the command line's way to ask for random weights
    device = resolve_device(device)
    if pretrained == "default":
        pretrained = None if model == BUNDLED_MODEL else DEFAULT_TAG
    if model == BUNDLED_MODEL:
        if pretrained in (None, "default", "bundled"):
            return load_bundled(device, amp)
        if Path(pretrained).expanduser().is_file():  # a fine-tuned copy (a SpikeCLIP stage C teacher, say)
            return load_bundled(device, amp, Path(pretrained).expanduser())
        raise ConfigError(f"{BUNDLED_MODEL} ships its own weights: --pretrained {pretrained} is neither a checkpoint "
                          "file of it nor its weights; drop --pretrained (or use --model ViT-B-32 for OpenAI's)")
    spec = BackboneSpec(model, pretrained, precision)
    check_spec(spec)
    open_clip = _open_clip()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if _is_schema(spec.model):  # config and weights come from the hub or the folder
                clip_model = open_clip.create_model(spec.model, precision=precision, device=device)
                config = tag_config(spec.model, None)
            else:
                config = tag_config(spec.model, spec.pretrained)
                weights = None if spec.pretrained is None else _weights_file(spec.model, spec.pretrained)
                clip_model = build_model(spec.model, config, precision=precision, device=device,
                                         base_text_weights=spec.pretrained is None)
                if weights is not None:
                    _load_pretrained(clip_model, weights)
        tokenizer = open_clip.get_tokenizer(spec.model)
    except (KeyboardInterrupt, MemoryError):
        raise
    except NeuroclipError:
        raise
    except Exception as error:
        if spec.pretrained and not Path(spec.pretrained).expanduser().is_file() and not _is_schema(spec.model):
            raise ModelNotFoundError(_offline_hint(spec.model, spec.pretrained) + f" ({type(error).__name__}: "
                                                                                    f"{error})",
                                     _file_model(spec.model, spec.pretrained)) from None
        if _is_schema(spec.model):
            raise ModelNotFoundError(f"could not load {spec.model}: {type(error).__name__}: {error}") from None
        raise ModelNotFoundError(f"could not load the checkpoint {spec.pretrained!r} into {spec.model}: "
                                 f"{type(error).__name__}: {error}. Is it a checkpoint of that architecture?") \
            from None
    if amp is None:
        amp = device.type == "cuda"
    amp_dtype = None
    if amp:
        amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    return ClipBackbone(clip_model, tokenizer, spec, device, config.mean, config.std, amp_dtype)


BUNDLED_MODEL = "neuroclip-mini"
# the weights NeuroCLIP used (OpenAI CLIP): what pretrained='default' (and no --pretrained) means for open_clip models
DEFAULT_TAG = "openai"
BUNDLED_WEIGHTS = Path(__file__).resolve().parent / "bundled" / "neuroclip-mini.safetensors"


def load_bundled_state(path: Path, model: torch.nn.Module) -> tuple[dict, set[int]]:
    """Load an export of scripts/neuroclip_mini/train.py (fp16 safetensors holding only the token-embedding rows
    the captions use) into a freshly built model; returns the model card and the token ids whose embeddings the
    export stores (every other token embeds as zeros: the model never saw it)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    state = load_file(str(path))
    rows = state.pop("token_embedding.rows")
    weight_rows = state.pop("token_embedding.weight_rows")
    embedding = torch.zeros_like(model.token_embedding.weight)
    embedding[rows] = weight_rows.float()
    state["token_embedding.weight"] = embedding
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    with safe_open(str(path), "pt") as handle:
        return json.loads(handle.metadata().get("card", "{}")), set(rows.tolist())


def load_bundled(device: torch.device, amp: bool | None = None, path: Path = BUNDLED_WEIGHTS) -> ClipBackbone:
    """The small CLIP shipped inside the package (trained from scratch on 2D digit images by
    scripts/train_neuroclip_mini.py); works offline. ``path`` reads another export of it (a training run's
    ``.safetensors``) or a checkpoint of its architecture (a ``.pt`` state dict, e.g. the teacher a SpikeCLIP stage C
    fine-tuned)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"the bundled model's weights {path} are missing; reinstall neuroclip, or train them with "
            "python scripts/train_neuroclip_mini.py"
        )
    open_clip = _open_clip()
    with _quiet_root_logger(True):
        clip_model = open_clip.create_model(BUNDLED_MODEL, pretrained=None)
    if path.suffix == ".safetensors":
        card, known_tokens = load_bundled_state(path, clip_model)
    else:
        try:
            _load_pretrained(clip_model, str(path))
        except Exception as error:  # torch and open_clip raise several kinds for a foreign or damaged file
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            raise ModelNotFoundError(f"could not load {path} into {BUNDLED_MODEL}: {first}. Is it a checkpoint of "
                                     "that model?") from None
        # the export stores only the tokens training used; the others kept all-zero embeddings
        rows = clip_model.token_embedding.weight.detach().abs().sum(dim=1) > 0
        card, known_tokens = {}, set(rows.nonzero().flatten().tolist())
    clip_model = clip_model.to(device)
    spec = BackboneSpec(BUNDLED_MODEL, "bundled" if path == BUNDLED_WEIGHTS else str(path), "fp32")
    amp_dtype = None
    if amp if amp is not None else device.type == "cuda":
        amp_dtype = torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    # the bundled model was trained on x/255 - 0.5 (to_model_input in scripts/neuroclip_mini/train.py): mean 0.5,
    # std 1, so that normalization='clip' gives it exactly its training input
    backbone = ClipBackbone(clip_model, open_clip.get_tokenizer(BUNDLED_MODEL), spec, device,
                            (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), amp_dtype, known_tokens=known_tokens)
    backbone.card = card
    return backbone

