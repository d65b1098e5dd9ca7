"""SpikeCLIP details pinned to the released code (SpikeCLIP: model.py, utils.py, language/label_sentence/*.py):
the text tower's initialisation and its precision under autocast, the ELS distractors, the default prompt sets, the
ULS draw, and class prototypes that do not depend on the class order."""

import dataclasses
import math
import random

import pytest
import torch
import torch.nn.functional as F

from neuroclip.clip.prompts import clip_imagenet_templates
from neuroclip.errors import ConfigError
from neuroclip.spikeclip.config import (
    MODEL_PRESETS,
    DataConfig,
    ImageEncoderConfig,
    ModelConfig,
    TextEncoderConfig,
    legacy_model_dict,
    model_config,
    to_dict,
)
from neuroclip.spikeclip.data import templates_of
from neuroclip.spikeclip.labels import (
    CIFAR10,
    CIFAR100,
    ELS_DISTRACTORS,
    STL10,
    expanded_label_set,
    templates,
    uls_positions,
)
from neuroclip.spikeclip.losses import alignment_loss
from neuroclip.spikeclip.model import SpikeCLIP, load_spikeclip, save_spikeclip
from neuroclip.spikeclip.text_encoder import SpikingTextEncoder
from neuroclip.spikeclip.train import _config_difference

# wide enough for init statistics, small enough to train in a few seconds on a CPU
TEXT = TextEncoderConfig(context_length=4, hidden_dim=256, vocab_size=50, token_width=32, position_rows=4,
                         output_dim=64)


# --------------------------------------------------------------------------------------------------- text tower init


def test_text_tower_keeps_pytorchs_linear_init_by_default():
    assert TextEncoderConfig().linear_init == "pytorch"
    assert {preset.text.linear_init for preset in MODEL_PRESETS.values()} == {"pytorch"}
    torch.manual_seed(0)
    encoder = SpikingTextEncoder(TEXT)
    for layer in (encoder.fc1, encoder.fc2):
        bound = 1 / math.sqrt(layer.in_features)  # nn.Linear: kaiming_uniform(a=sqrt(5)) and bias U(-b, b)
        weight, bias = layer.weight.detach(), layer.bias.detach()
        assert weight.abs().max() <= bound and weight.abs().max() > 0.99 * bound
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)  # uniform's std
        assert bias.abs().max() <= bound and bool((bias != 0).all())
        assert bias.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.3)
    ids = torch.randint(0, TEXT.vocab_size, (5, TEXT.context_length))
    output = encoder(ids)
    # no neuron fires on CLIP-sized embeddings, so the output is fc2's bias times the summed temporal weights
    expected = encoder.temporal.weight.detach().sum() * encoder.fc2.bias.detach()
    assert output.abs().min() > 0 and torch.allclose(output, expected.expand_as(output), atol=1e-6)


def test_trunc_normal_text_init_is_still_available():
    torch.manual_seed(0)
    encoder = SpikingTextEncoder(dataclasses.replace(TEXT, linear_init="trunc_normal", linear_init_std=0.02))
    for layer in (encoder.fc1, encoder.fc2):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert bool((layer.bias == 0).all())
    ids = torch.randint(0, TEXT.vocab_size, (5, TEXT.context_length))
    assert bool((encoder(ids) == 0).all())  # no spikes and zero bias: exactly zero
    with pytest.raises(ConfigError, match="text.linear_init"):
        TextEncoderConfig(linear_init="xavier")


def test_configs_written_before_the_init_field_read_back_as_trunc_normal(tmp_path):
    model = SpikeCLIP(ModelConfig(image=ImageEncoderConfig(embed_dim=16, depth=1, heads=2, mlp_ratio=2,
                                                           output_dim=TEXT.output_dim), text=TEXT))
    path = save_spikeclip(model, tmp_path / "new.pt")
    assert load_spikeclip(path).config.text.linear_init == "pytorch"
    payload = torch.load(path, map_location="cpu", weights_only=True)
    del payload["config"]["text"]["linear_init"]  # as every checkpoint before the field was written
    torch.save(payload, tmp_path / "old.pt")
    old = load_spikeclip(tmp_path / "old.pt")
    assert old.config.text.linear_init == "trunc_normal"  # what it was built with, not today's default
    for name, tensor in model.state_dict().items():
        assert torch.equal(old.state_dict()[name], tensor), name
    stored = to_dict(model.config)
    assert legacy_model_dict(stored) == stored  # dicts that have the field are left alone
    # resuming a training state written before the field: the same run if the config says trunc_normal
    saved = {"model": _without_init_field(to_dict(model_config("tiny"))), "seed": 42}
    trunc = {"model": to_dict(dataclasses.replace(model_config("tiny"), text=dataclasses.replace(
        model_config("tiny").text, linear_init="trunc_normal"))), "seed": 42}
    assert _config_difference(saved, trunc) == []
    assert _config_difference(saved, {"model": to_dict(model_config("tiny")), "seed": 1}) == [
        "model.text.linear_init", "seed"]


def _without_init_field(values: dict) -> dict:
    return {**values, "text": {k: v for k, v in values["text"].items() if k != "linear_init"}}


# --------------------------------------------------------------------------------------------------- fp16 autocast


def _cosine_training(config: TextEncoderConfig, steps: int = 20, fp16: bool = True) -> tuple[list[float], torch.dtype]:
    """Stage-A-like steps: cosine loss to fixed random targets, Adam as released (amsgrad, lr 5e-3), under CPU fp16
    autocast (or none). Returns the losses and the tower's output dtype."""
    torch.manual_seed(0)
    encoder = SpikingTextEncoder(config)
    ids = torch.randint(0, config.vocab_size, (32, config.context_length))
    targets = F.normalize(torch.randn(32, config.output_dim), dim=-1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=5e-3, amsgrad=True)
    losses, dtype = [], None
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.float16, enabled=fp16):
            output = encoder(ids)
            loss = alignment_loss(output, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        dtype = output.dtype
    return losses, dtype


def test_released_init_trains_under_fp16_autocast_without_forcing_fp32():
    # the measurement behind the forward's comment, in small: fp16 trains the released init as fp32 does
    config = dataclasses.replace(TEXT, hidden_dim=128)  # CPU fp16 matmuls are slow: about 1 s in all
    losses, dtype = _cosine_training(config)
    assert dtype == torch.float16  # the tower follows autocast: no fp32 forcing for the released init
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0] - 0.1, losses
    reference, _ = _cosine_training(config, fp16=False)
    assert max(abs(a - b) for a, b in zip(losses, reference)) < 0.01, (losses, reference)
    # trunc_normal (zero output at the start, whose ~1/eps cosine gradient overflows fp16) stays forced to fp32
    trunc_losses, trunc_dtype = _cosine_training(dataclasses.replace(config, linear_init="trunc_normal"), steps=3)
    assert trunc_dtype == torch.float32 and all(math.isfinite(v) for v in trunc_losses)


# --------------------------------------------------------------------------------------------------- label sets

RELEASED_TEN = ["apple", "aquarium fish", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl"]


def test_els_distractors_are_the_released_fixed_list_in_order():
    assert expanded_label_set(CIFAR10, 10) == CIFAR10 + RELEASED_TEN
    assert expanded_label_set(STL10, 10) == STL10 + RELEASED_TEN  # the shipped "Expand Label" block
    assert len(ELS_DISTRACTORS) == 70 and len(set(ELS_DISTRACTORS)) == 70  # 10 active + 60 commented out
    # CIFAR-100's label order up to skyscraper without seven names the released list leaves out
    left_out = {"baby", "boy", "chimpanzee", "girl", "lion", "man", "pickup truck"}
    upto = [n.replace("_", " ") for n in CIFAR100[:CIFAR100.index("skyscraper") + 1]]
    assert ELS_DISTRACTORS == [n for n in upto if n not in left_out]
    assert ELS_DISTRACTORS[-10:] == ["ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
                                     "skyscraper"]
    assert expanded_label_set(CIFAR10, 70) == CIFAR10 + ELS_DISTRACTORS
    assert expanded_label_set(CIFAR10, 10) == expanded_label_set(CIFAR10, 10)  # no random draw
    # a distractor equal to a true class (underscores as spaces) is skipped; the next one takes its place
    assert expanded_label_set(["bear", "aquarium_fish"], 3) == ["bear", "aquarium_fish", "apple", "beaver", "bed"]
    assert expanded_label_set(["x"], 2, distractors=["y", "x", "z"]) == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="0..70"):
        expanded_label_set(CIFAR10, 71)


def test_uls_draw_is_the_released_one_and_leaves_the_global_random_state_alone():
    random.seed(7)
    state = random.getstate()
    assert [uls_positions(seed) for seed in (42, 43, 44)] == [[1, 0], [0, 4], [6, 8]]  # 1-based [2,1],[1,5],[7,9]
    assert random.getstate() == state


def test_default_prompt_sets_are_clips_ensembles():
    cifar100, caltech101, imagenet = templates(None, "cifar100"), templates(None, "caltech101"), \
        templates(None, "imagenet")
    assert (len(cifar100), len(caltech101), len(imagenet)) == (18, 34, 80)
    assert len(set(cifar100)) == 18 and len(set(caltech101)) == 34
    assert cifar100[:3] == ["a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}."]
    assert cifar100[-1] == "a photo of the big {}."
    assert caltech101[:3] == ["a photo of a {}.", "a painting of a {}.", "a plastic {}."]
    assert caltech101[-1] == "a doodle of the {}."
    assert imagenet == clip_imagenet_templates()
    assert templates("spikeclip-cifar100") == cifar100 and templates("spikeclip-imagenet") == imagenet
    templates(None, "cifar100").append("changed")  # callers get copies
    assert templates(None, "cifar100") == cifar100
    # a torchvision dataset's default prompts
    assert templates_of(DataConfig(source="torchvision", name="CIFAR100", root="data")) == cifar100
    assert templates_of(DataConfig(source="torchvision", name="Caltech101", root="data")) == caltech101
    assert templates(None, "cifar10") == ["a photo of a {}.", "a photo of the {}."]


# --------------------------------------------------------------------------------------------------- prototypes


class _WordTokenizer:
    """Ids from words (no start/end tokens), for a tower with a small vocabulary."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def __call__(self, texts, context_length: int):
        ids = torch.zeros(len(texts), context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            for column, word in enumerate(text.split()[:context_length]):
                ids[row, column] = sum(map(ord, word)) % self.vocab_size
        return ids


def test_each_class_prototype_is_independent_of_the_class_order():
    torch.manual_seed(0)
    model = SpikeCLIP(ModelConfig(image=ImageEncoderConfig(embed_dim=16, depth=1, heads=2, mlp_ratio=2,
                                                           output_dim=TEXT.output_dim), text=TEXT),
                      tokenizer=_WordTokenizer(TEXT.vocab_size))
    encoder = model.text_encoder
    with torch.no_grad():  # large enough that both layers of neurons fire
        encoder.token_embedding.weight.normal_(0, 1.0)
        encoder.fc1.weight.mul_(20)
    fired = []
    for neuron in (encoder.neuron1, encoder.neuron2):
        neuron.register_forward_hook(lambda module, inputs, output: fired.append(float(output.mean())))
    names, prompts = ["cat", "dog", "ship", "truck"], ["a photo of a {}", "the {} here"]
    prototypes = model.class_prototypes(names, prompts)
    assert min(fired) > 0.05  # membranes that a carried state would change
    assert torch.pdist(prototypes).min() > 0.1  # each class has a prototype of its own
    order = [2, 0, 3, 1]
    shuffled = model.class_prototypes([names[i] for i in order], prompts)
    assert torch.allclose(shuffled, prototypes[order], atol=1e-6)
    alone = model.class_prototypes(["ship"], prompts)
    assert torch.allclose(alone[0], prototypes[2], atol=1e-6)


@pytest.mark.parametrize("preset", sorted(MODEL_PRESETS))
def test_every_model_preset_builds_and_describes_itself(preset):
    from neuroclip.spikeclip.model import describe

    described = describe(preset)
    assert described["preset"] == preset and described["image_params"] > 0 and described["text_params"] > 0
    assert described["modality"] == MODEL_PRESETS[preset].modality
