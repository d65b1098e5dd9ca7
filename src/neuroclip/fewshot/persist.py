"""Saving and loading a trained NeuroCLIP adapter or NeuroCLIP+ head: ``NAME.safetensors`` (weights, BatchNorm
statistics, the shot cache of NeuroCLIP+, the class weights it was trained with) and ``NAME.json`` beside it
(architecture, training recipe, class names, backbone, frame settings, and the weights file's SHA-256). Both are
written atomically (temporary file, then os.replace), the weights first; a JSON whose checksum does not match its
weights is refused on loading.

The JSON's ``head`` names the model: ``neuroclip`` (format version 1; files without ``head`` are this) or
``neuroclip-plus`` (format version 2, so that a neuroclip that predates it says "upgrade" instead of failing on the
unknown architecture).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch

from neuroclip.cache import file_sha256
from neuroclip.errors import ConfigError, NeuroclipError
from neuroclip.fewshot.adapter import AdapterConfig, NeuroCLIPAdapterClassifier
from neuroclip.fewshot.plus import NeuroCLIPPlusClassifier, PlusConfig
from neuroclip.outputs import atomic_write
from neuroclip.provenance import versions

FORMAT = "neuroclip-fewshot-adapter"
FORMAT_VERSION = 2
HEAD_FORMAT_VERSIONS = {"neuroclip": 1, "neuroclip-plus": 2}  # the version each head's files are written with


class AdapterFileError(NeuroclipError):
    """A saved adapter is missing, incomplete, or does not fit the features it is asked to score."""


def adapter_paths(path) -> tuple[Path, Path]:
    """(weights, config) paths for ``path`` given as ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    path = Path(path).expanduser()
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")




def save_adapter(path, model: NeuroCLIPAdapterClassifier | NeuroCLIPPlusClassifier, metadata: dict | None = None,
                 n_frames: int | None = None) -> tuple[Path, Path]:
    """Save ``model`` (a NeuroCLIP adapter or a NeuroCLIP+ head) as ``NAME.safetensors`` + ``NAME.json``.
    ``metadata`` is stored as given (JSON-ready: e.g. classnames, templates, backbone, frames, train config, seed,
    shots); ``n_frames`` is the T it was trained on. Returns the two paths."""
    from safetensors.torch import save

    weights_path, config_path = adapter_paths(path)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    payload = save(tensors, metadata={"format": FORMAT})
    atomic_write(weights_path, lambda fp: fp.write(payload))
    head = "neuroclip-plus" if isinstance(model, NeuroCLIPPlusClassifier) else "neuroclip"
    document = {
        "format": FORMAT,
        "format_version": HEAD_FORMAT_VERSIONS[head],
        "head": head,
        "weights_file": weights_path.name,
        "weights_sha256": hashlib.sha256(payload).hexdigest(),
        "adapter": dataclasses.asdict(model.config),
        "embed_dim": int(model.class_weights.shape[1]),
        "n_classes": int(model.class_weights.shape[0]),
        "n_frames": None if n_frames is None else int(n_frames),
        "logit_scale": model.logit_scale,
        **versions(),
        "metadata": metadata or {},
    }
    text = json.dumps(document, indent=2, default=str)
    atomic_write(config_path, lambda fp: fp.write(text.encode()))
    return weights_path, config_path


def load_adapter(path, device="cpu") -> tuple[NeuroCLIPAdapterClassifier | NeuroCLIPPlusClassifier, dict]:
    """The saved adapter (or NeuroCLIP+ head) in evaluation mode on ``device``, and its JSON document
    (``metadata`` holds what :func:`save_adapter` was given)."""
    from safetensors.torch import load_file

    weights_path, config_path = adapter_paths(path)
    for required in (config_path, weights_path):
        if not required.is_file():
            raise AdapterFileError(f"{required} does not exist: a saved adapter is NAME.safetensors plus NAME.json "
                                   f"(pass either, or NAME)")
    try:
        document = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdapterFileError(f"{config_path} is not valid JSON") from None
    if document.get("format") != FORMAT:
        raise AdapterFileError(f"{config_path} is not a neuroclip few-shot adapter (format {document.get('format')!r})")
    if document.get("format_version", 0) > FORMAT_VERSION:
        raise AdapterFileError(f"{config_path} was written by a newer neuroclip (format version "
                               f"{document['format_version']}); upgrade neuroclip")
    if document.get("weights_sha256") and file_sha256(weights_path) != document["weights_sha256"]:
        raise AdapterFileError(f"{weights_path} does not match {config_path.name} (checksum): the pair was not "
                               "saved together, or one of them was interrupted or edited")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except Exception as error:  # safetensors raises several kinds for a damaged file
        raise AdapterFileError(f"{weights_path} is unreadable ({type(error).__name__}: {error})") from None
    head = document.get("head", "neuroclip")
    if head not in HEAD_FORMAT_VERSIONS:
        raise AdapterFileError(f"{config_path} holds a {head!r} head, which this neuroclip does not know; upgrade "
                               "neuroclip")
    config_class = PlusConfig if head == "neuroclip-plus" else AdapterConfig
    unknown = sorted(set(document.get("adapter") or {}) - {f.name for f in dataclasses.fields(config_class)})
    if unknown:  # a setting added by a later release: refuse with the fix rather than guess its meaning
        raise AdapterFileError(f"{config_path} has settings this neuroclip does not know ({', '.join(unknown)}); it "
                               f"was saved by neuroclip {document.get('neuroclip_version', '(unknown version)')}: "
                               "upgrade neuroclip")
    try:
        scale = document.get("logit_scale", 100.0)
        if head == "neuroclip-plus":
            model = NeuroCLIPPlusClassifier(tensors["class_weights"], tensors["keys"], tensors["values"],
                                            PlusConfig(**document["adapter"]), scale)
        else:
            model = NeuroCLIPAdapterClassifier(tensors["class_weights"], AdapterConfig(**document["adapter"]), scale)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, RuntimeError, ConfigError) as error:
        raise AdapterFileError(f"{weights_path} does not hold the adapter {config_path.name} describes "
                               f"({type(error).__name__}: {error})") from None
    return model.to(device).eval(), document


@torch.no_grad()
def predict_with_adapter(path, frame_features, class_weights=None, device=None, batch_size: int = 2048):
    """Logits [N, K] of a saved adapter for raw per-frame CLIP features [N, T, C] (numpy or torch).

    ``class_weights`` [K, C] (normalised text features) default to those it was trained with; passing them lets the
    same adapter score a class list rebuilt from the stored class names and templates. The features must come from
    the backbone and frame settings stored in the JSON (``metadata``)."""
    import numpy as np

    model, document = load_adapter(path, device or "cpu")
    features = frame_features if isinstance(frame_features, torch.Tensor) else \
        torch.from_numpy(np.ascontiguousarray(frame_features))
    features = features.float().to(model.class_weights.device)
    if features.ndim == 2:
        features = features.unsqueeze(0)
    if features.ndim != 3 or features.shape[-1] != document["embed_dim"]:
        raise AdapterFileError(f"the adapter takes features [N, T, {document['embed_dim']}]; got "
                               f"{tuple(features.shape)}: use the backbone it was trained with "
                               f"({document.get('metadata', {}).get('backbone', 'see its JSON')})")
    if document.get("n_frames") and features.shape[1] != document["n_frames"]:
        raise AdapterFileError(f"the adapter was trained on {document['n_frames']} frames per recording; got "
                               f"{features.shape[1]}: use the same frame settings")
    weights = None
    if class_weights is not None:
        weights = class_weights if isinstance(class_weights, torch.Tensor) else torch.as_tensor(class_weights)
        if weights.ndim != 2 or weights.shape[1] != document["embed_dim"]:
            raise AdapterFileError(f"class weights must be [K, {document['embed_dim']}]; got {tuple(weights.shape)}")
    outputs = [model(features[start:start + batch_size], weights) for start in range(0, features.shape[0],
                                                                                      batch_size)]
    return torch.cat(outputs).cpu() if outputs else torch.empty(0, model.n_classes if weights is None else
                                                                weights.shape[0])
