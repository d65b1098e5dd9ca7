"""Each (model, pretrained tag) is built as open_clip's pretrained entry for it requires: the activation (QuickGELU
or GELU) and the image preprocessing; and the backbone's mean/std reach the frames.

The per-entry test builds every architecture of ``open_clip.list_pretrained()`` on the meta device (nothing
allocated, nothing downloaded: the network is blocked for the whole module).
"""

from __future__ import annotations

import functools
import logging
import socket
from collections import Counter

import numpy as np
import open_clip
import pytest
import torch
from open_clip.constants import INCEPTION_MEAN, INCEPTION_STD, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.transformer import QuickGELU, TextTransformer, VisionTransformer
from torch.utils._python_dispatch import TorchDispatchMode

from neuroclip import ConfigError, EventStream, make_events
from neuroclip.clip import backbone as backbone_module
from neuroclip.clip.backbone import (
    BackboneSpec,
    ClipBackbone,
    ModelNotFoundError,
    TagConfig,
    build_model,
    load_backbone,
    tag_config,
)
from neuroclip.clip.extract import extract_features
from neuroclip.clip.features import FrameConfig, clip_frames, frame_features
from neuroclip.datasets.loader import make_loader
from neuroclip.frames.functional import CLIP_MEAN, CLIP_STD, encode
from neuroclip.frames.tensors import to_clip_input

ENTRIES = open_clip.list_pretrained()
TINY = "neuroclip-tiny-vit"  # src/neuroclip/clip/model_configs/neuroclip-tiny-vit.json


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt (a download) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test of this module tried to connect: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


# ------------------------------------------------------------------------------------------------ building on meta


class _SkipInitOnMeta(TorchDispatchMode):
    """Skips in-place elementwise ops (the initialisers' normal_, uniform_, fill_...) on meta tensors: they change
    no shape, and their meta kernels are Python decompositions that make a build several times slower."""

    ops = {"normal_", "uniform_", "fill_", "zero_", "erfinv_", "mul_", "add_", "sub_", "div_", "clamp_",
           "copy_", "exponential_", "bernoulli_", "random_", "trunc_normal_"}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        target = args[0] if args else None
        if isinstance(target, torch.Tensor) and target.is_meta and func.overloadpacket.__name__ in self.ops:
            return target
        return func(*args, **(kwargs or {}))


@functools.cache
def built_on_meta(model: str, config: TagConfig) -> torch.nn.Module:
    """build_model on the meta device, once per (model, config): tags whose configs are equal share a build."""
    with _SkipInitOnMeta():
        return build_model(model, config, device="meta")


def activations(module: torch.nn.Module) -> Counter:
    kinds = Counter()
    for sub in module.modules():
        if isinstance(sub, QuickGELU):
            kinds["QuickGELU"] += 1
        elif type(sub) is torch.nn.GELU:
            kinds["GELU"] += 1
    return kinds


def act_layer_towers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The towers open_clip builds with ``act_layer`` (QuickGELU if quick_gelu else GELU, open_clip/model.py
    _build_vision_tower/_build_text_tower, coca_model.py _build_text_decoder_tower). ModifiedResNet, timm and
    Hugging Face towers take no act_layer."""
    towers = {}
    text = getattr(model, "text", None)
    if text is None:
        towers["text"] = model.transformer  # CLIP keeps its text tower's modules on itself
    elif isinstance(text, TextTransformer):
        towers["text"] = text
    if isinstance(model.visual, VisionTransformer):
        towers["visual"] = model.visual
    if getattr(model, "text_decoder", None) is not None:
        towers["text_decoder"] = model.text_decoder
    return towers


def required_quick_gelu(model: str, tag: str) -> bool:
    """The rule: the entry's quick_gelu if it has one, else the model config's own, default False."""
    entry = open_clip.pretrained.get_pretrained_cfg(model, tag)
    return bool(entry.get("quick_gelu", open_clip.get_model_config(model).get("quick_gelu", False)))


def assert_activation(clip_model: torch.nn.Module, quick_gelu: bool) -> None:
    wanted, other = ("QuickGELU", "GELU") if quick_gelu else ("GELU", "QuickGELU")
    towers = act_layer_towers(clip_model)
    assert "text" in towers or "visual" in towers, "no tower built with open_clip's act_layer"
    for name, tower in towers.items():
        kinds = activations(tower)
        assert kinds[wanted] > 0 and kinds[other] == 0, f"{name} tower: {dict(kinds)}, wanted {wanted}"
    if not quick_gelu:
        assert activations(clip_model)["QuickGELU"] == 0


@pytest.mark.parametrize("model, tag", ENTRIES, ids=[f"{m}:{t}" for m, t in ENTRIES])
def test_every_pretrained_entry_builds_the_activation_and_preprocessing_it_requires(model, tag):
    model_cfg = open_clip.get_model_config(model)
    hf_text = model_cfg["text_cfg"].get("hf_model_name")
    if hf_text:
        pytest.skip(f"Hugging Face text tower {hf_text}: building it downloads its config (transformers AutoConfig)")
    entry = open_clip.pretrained.get_pretrained_cfg(model, tag)
    config = tag_config(model, tag)

    assert config.quick_gelu == required_quick_gelu(model, tag)
    assert config.mean == pytest.approx(entry.get("mean", OPENAI_DATASET_MEAN))
    assert config.std == pytest.approx(entry.get("std", OPENAI_DATASET_STD))
    assert config.interpolation == entry.get("interpolation", "bicubic")
    assert config.resize_mode == entry.get("resize_mode", "shortest")

    clip_model = built_on_meta(model, config)
    assert next(clip_model.parameters()).is_meta
    assert_activation(clip_model, config.quick_gelu)
    preprocess = clip_model.visual.preprocess_cfg
    assert tuple(preprocess["mean"]) == config.mean and tuple(preprocess["std"]) == config.std
    assert (preprocess["interpolation"], preprocess["resize_mode"]) == (config.interpolation, config.resize_mode)


@pytest.mark.parametrize("model, tag, quick_gelu", [
    ("ViT-B-32", "openai", True),  # open_clip >= 2.29 builds GELU here and only warns
    ("ViT-B-32", "laion2b_s34b_b79k", False),
    ("RN50", "openai", True),
    ("ViT-B-16", "dfn2b", True),
    ("ViT-B-16", "laion2b_s34b_b88k", False),
    ("ViT-B-32-quickgelu", "openai", True),
])
def test_known_tags_get_their_activation(model, tag, quick_gelu):
    config = tag_config(model, tag)
    assert config.quick_gelu is quick_gelu
    clip_model = built_on_meta(model, config)
    assert_activation(clip_model, quick_gelu)
    if model.startswith("ViT"):
        assert set(act_layer_towers(clip_model)) == {"text", "visual"}
    if model == "RN50":
        assert set(act_layer_towers(clip_model)) == {"text"}  # the ResNet tower has no act_layer
        assert activations(clip_model.transformer)["QuickGELU"] == 12  # one per text block


def test_files_and_random_weights_keep_the_model_configs_activation_and_openai_constants():
    for pretrained in (None, "/some/checkpoint.pt"):
        assert tag_config("ViT-B-32", pretrained) == TagConfig(False, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD,
                                                               "bicubic", "shortest")
        assert tag_config("ViT-B-32-quickgelu", pretrained).quick_gelu
    # the name the docstring of load_backbone gives for OpenAI weights in a file
    assert "ViT-B-32-quickgelu" in open_clip.list_models()
    siglip = tag_config("ViT-B-16-SigLIP", "webli")
    assert (siglip.mean, siglip.std) == (INCEPTION_MEAN, INCEPTION_STD)


# ------------------------------------------------------------------------------------------------ load_backbone


@pytest.fixture(scope="module")
def vit_b_32_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    clip_model = open_clip.create_model("ViT-B-32")
    path = tmp_path_factory.mktemp("weights") / "ViT-B-32.pt"
    torch.save({name: tensor.half() for name, tensor in clip_model.state_dict().items()}, path)
    return path


def serve_downloads_from(monkeypatch, path) -> list:
    """open_clip's downloads return ``path``; the entries asked for are recorded."""
    asked = []

    def download(cfg, *args, **kwargs):
        asked.append(cfg)
        return str(path)

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", download)
    monkeypatch.setattr(open_clip.factory, "download_pretrained", download)  # the name open_clip's factory uses
    monkeypatch.setattr(backbone_module, "_host_answers", lambda url, timeout=3.0: True)  # as if online
    return asked


def test_offline_a_tag_fails_at_once_in_one_message_without_retries(monkeypatch, tmp_path, caplog):
    # no answer from the host (the no_network fixture refuses every connection): no download is tried, nothing
    # is logged, and the message names the file to pass, with the -quickgelu model OpenAI's weights need
    asked = []
    monkeypatch.setattr(open_clip.pretrained, "download_pretrained", lambda cfg, *a, **k: asked.append(cfg))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with caplog.at_level(logging.DEBUG), pytest.raises(ModelNotFoundError) as caught:
        load_backbone("ViT-B-32", "openai", device="cpu")
    assert asked == [] and not [r for r in caplog.records if r.name.startswith("huggingface_hub")]
    assert "--model ViT-B-32-quickgelu --pretrained /path/to/ViT-B-32.pt" in str(caught.value)
    assert "no answer from the download host" in str(caught.value)


def test_a_folder_given_as_pretrained_is_named_a_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="is a folder: give the checkpoint file in it"):
        load_backbone("ViT-B-32", str(tmp_path), device="cpu")


@pytest.mark.parametrize("tag, quick_gelu", [("openai", True), ("laion2b_s34b_b79k", False)])
def test_load_backbone_builds_the_tags_activation_and_loads_its_weights(tag, quick_gelu, vit_b_32_checkpoint,
                                                                         monkeypatch):
    asked = serve_downloads_from(monkeypatch, vit_b_32_checkpoint)
    backbone = load_backbone("ViT-B-32", tag, device="cpu")
    assert asked == [open_clip.pretrained.get_pretrained_cfg("ViT-B-32", tag)]
    assert_activation(backbone.model, quick_gelu)
    reference = torch.load(vit_b_32_checkpoint, weights_only=True)
    loaded = backbone.model.state_dict()
    assert all(torch.equal(loaded[name].half(), reference[name]) for name in ("visual.proj", "text_projection"))
    assert (backbone.image_mean, backbone.image_std) == (OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)


@pytest.fixture
def siglip_like_tag(monkeypatch, tmp_path):
    """A pretrained entry ``fake`` for the tiny test model that asks for QuickGELU and SigLIP's preprocessing."""
    torch.manual_seed(3)
    weights = open_clip.create_model(TINY).state_dict()  # registered by neuroclip.clip.backbone
    path = tmp_path / "tiny.pt"
    torch.save(weights, path)
    entry = {"file": str(path), "quick_gelu": True, "mean": INCEPTION_MEAN, "std": INCEPTION_STD,
             "interpolation": "bilinear", "resize_mode": "squash"}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, {"fake": entry})
    return weights, path


def test_a_tags_weights_activation_and_preprocessing_reach_the_backbone(siglip_like_tag):
    weights, path = siglip_like_tag
    backbone = load_backbone(TINY, "fake", device="cpu")
    assert_activation(backbone.model, True)
    loaded = backbone.model.state_dict()
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[name], weights[name]) for name in weights)
    assert (backbone.image_mean, backbone.image_std) == (INCEPTION_MEAN, INCEPTION_STD)
    preprocess = backbone.model.visual.preprocess_cfg
    assert (preprocess["interpolation"], preprocess["resize_mode"]) == ("bilinear", "squash")
    # a checkpoint file of the same model keeps the model config's GELU and OpenAI's constants
    from_file = load_backbone(TINY, str(path), device="cpu")
    assert_activation(from_file.model, False)
    assert (from_file.image_mean, from_file.image_std) == (OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)


# ------------------------------------------------------------------------------------------------ mean/std to frames


def test_to_clip_input_uses_the_given_mean_and_std():
    white = np.full((2, 1, 5, 5), 255, np.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = to_clip_input(white, size=4, normalization="clip", mean=mean, std=std)
    for channel in range(3):
        torch.testing.assert_close(out[:, channel], torch.full((2, 4, 4), (1 - mean[channel]) / std[channel]))
    default = to_clip_input(white, size=4, normalization="clip")
    torch.testing.assert_close(default[:, 0], torch.full((2, 4, 4), (1 - CLIP_MEAN[0]) / CLIP_STD[0]))
    # mean/std only apply to 'clip'
    assert torch.equal(to_clip_input(white, 4, "neuroclip", mean=mean, std=std), to_clip_input(white, 4, "neuroclip"))
    for bad_mean, bad_std in (((0.5, 0.5), (1, 1, 1)), ((0.5,) * 3, (1, 0, 1)), (("a",) * 3, (1,) * 3)):
        with pytest.raises(ConfigError, match="mean and std"):
            to_clip_input(white, 4, "clip", mean=bad_mean, std=bad_std)


def events(seed: int, n: int = 400) -> EventStream:
    rng = np.random.default_rng(seed)
    return EventStream(make_events(np.sort(rng.integers(0, 50_000, n)), rng.integers(0, 34, n),
                                   rng.integers(0, 34, n), rng.integers(0, 2, n)), (34, 34))


class Recordings:
    """A dataset of a few synthetic recordings: ``dataset[i] -> (EventStream, label)``."""

    def __init__(self, n: int = 3):
        self.streams = [events(seed) for seed in range(n)]

    def __len__(self) -> int:
        return len(self.streams)

    def __getitem__(self, index: int):
        return self.streams[index], index % 2


@pytest.fixture
def inception_backbone():
    """A tiny CLIP whose mean/std differ from OpenAI's, and the images its image tower was given."""
    clip_model = build_model(TINY, tag_config(TINY, None))
    backbone = ClipBackbone(clip_model, open_clip.get_tokenizer(TINY), BackboneSpec(TINY, None), torch.device("cpu"),
                            INCEPTION_MEAN, INCEPTION_STD, None)
    seen = []
    encode_images = backbone.encode_images

    def recording(images, batch_size=256):
        seen.append(images.clone())
        return encode_images(images, batch_size)

    backbone.encode_images = recording
    backbone.seen = seen
    return backbone


def expected_images(stream, config: FrameConfig, size: int) -> torch.Tensor:
    frames = encode(stream, config.encoding, config.n_frames, config.split_by, threshold=config.threshold)
    return to_clip_input(frames, size, "clip", mean=INCEPTION_MEAN, std=INCEPTION_STD)


def test_the_backbones_mean_and_std_reach_the_frames(inception_backbone):
    config = FrameConfig(normalization="clip", n_frames=2)
    dataset = Recordings()
    size = inception_backbone.image_size
    expected = torch.stack([expected_images(dataset[i][0], config, size) for i in range(len(dataset))])
    assert not torch.allclose(expected, torch.stack([clip_frames(dataset[i][0], config, size)
                                                     for i in range(len(dataset))]))
    assert torch.equal(clip_frames(dataset[0][0], config, size, mean=INCEPTION_MEAN, std=INCEPTION_STD),
                       expected[0])

    frame_features(dataset.streams, inception_backbone, config)
    assert torch.equal(inception_backbone.seen[-1], expected.flatten(0, 1))

    extract_features(dataset, inception_backbone, config, progress=False)
    assert torch.equal(inception_backbone.seen[-1], expected.flatten(0, 1))

    images, _, _ = next(iter(make_loader(dataset, config, size, batch_size=3, mean=INCEPTION_MEAN,
                                         std=INCEPTION_STD)))
    assert torch.equal(images, expected)
    with pytest.raises(ConfigError, match="mean and std"):
        make_loader(dataset, config, size, mean=(0.5, 0.5), std=INCEPTION_STD)
