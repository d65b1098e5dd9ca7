import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuroclip import ConfigError
from neuroclip.clip import ModelNotFoundError, ZeroShotClassifier, fuse_logits, load_backbone, resolve_templates


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("neuroclip-tiny-vit", None, device="cpu")


def test_tiny_backbone_encodes_images_and_text_with_the_real_tokenizer(tiny):
    features = tiny.encode_images(torch.zeros(3, 3, 224, 224))
    assert features.shape == (3, 64) and features.dtype == torch.float32
    assert tiny.encode_text(["a photo of a 3", "a photo of a 7"]).shape == (2, 64)
    # the real CLIP BPE tokenizer: 'zero' is one known token, start/end tokens 49406/49407
    tokens = tiny.tokenizer(["zero"])[0]
    assert tokens[0] == 49406 and tokens[2] == 49407 and tokens[1] not in (0, 49406, 49407)


def test_unknown_model_and_tag_are_clear_config_errors():
    with pytest.raises(ConfigError, match="did you mean.*ViT-B-32"):
        load_backbone("ViT-B-33", "openai")
    with pytest.raises(ConfigError, match="no pretrained tag 'opneai'.*openai"):
        load_backbone("ViT-B-32", "opneai")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_backbone("ViT-B-32", "/nowhere/ViT-B-32.pt")


def test_offline_pretrained_tag_says_how_to_supply_a_local_file(tmp_path):
    # huggingface_hub reads HF_HUB_OFFLINE when imported, so the offline load runs in a fresh interpreter
    code = ("from neuroclip.clip import load_backbone, ModelNotFoundError\n"
            "try:\n    load_backbone('RN50', 'openai', device='cpu')\n"
            "except ModelNotFoundError as error:\n    print('ERROR:', error)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.startswith("ERROR: Could not load the pretrained weights 'openai' of RN50")
    assert "--pretrained /path/to/RN50.pt" in result.stdout


@pytest.mark.parametrize("architecture", ["ViT-B-32", "RN50"])
def test_real_architectures_load_back_through_the_local_checkpoint_path(architecture, tmp_path):
    """The paper's backbones, built with random weights, saved, and loaded back as a user's local file would be."""
    import open_clip

    torch.manual_seed(1)
    model = open_clip.create_model(architecture, pretrained=None)
    path = tmp_path / f"{architecture}.pt"
    torch.save({name: tensor.half() for name, tensor in model.state_dict().items()}, path)
    del model
    backbone = load_backbone(architecture, str(path), device="cpu")
    assert backbone.embed_dim == (1024 if architecture == "RN50" else 512)
    loaded = backbone.model.state_dict()
    reference = torch.load(path, weights_only=True)
    name = next(n for n in reference if n.endswith("weight") and reference[n].ndim > 1)
    assert torch.equal(loaded[name].half(), reference[name])


def test_concat_and_mean_cosine_rank_identically_and_differ_by_sqrt_t():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(40, 10, 32, generator=generator)
    weights = torch.nn.functional.normalize(torch.randn(7, 32, generator=generator), dim=-1)
    mean_cosine = fuse_logits(features, weights, "mean_cosine", 100.0)
    concat = fuse_logits(features, weights, "concat", 100.0)
    torch.testing.assert_close(concat, mean_cosine * np.sqrt(10), rtol=1e-5, atol=1e-4)
    assert torch.equal(concat.argmax(-1), mean_cosine.argmax(-1))


def test_fusions_match_their_formulas():
    features = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one sample, two frames
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert fuse_logits(features, weights, "mean_cosine", 1.0).tolist() == [[0.5, 0.5]]
    assert fuse_logits(features, weights, "max", 1.0).tolist() == [[1.0, 1.0]]
    weighted = fuse_logits(features, weights, "weighted", 1.0, [3.0, 1.0])
    torch.testing.assert_close(weighted, torch.tensor([[0.75, 0.25]]))
    torch.testing.assert_close(fuse_logits(features, weights, "mean_feature", 1.0),
                               torch.tensor([[2 ** -0.5, 2 ** -0.5]]))
    with pytest.raises(ConfigError, match="frame_weights"):
        fuse_logits(features, weights, "weighted", 1.0, [1.0, float("nan")])
    with pytest.raises(ConfigError, match="fusion must be"):
        fuse_logits(features, weights, "median", 1.0)


def test_zero_shot_classifier_top_k(tiny):
    classnames = [str(d) for d in range(10)]
    classifier = ZeroShotClassifier(tiny, classnames, resolve_templates(None, "nmnist"))
    assert classifier.class_weights.shape == (10, 64)
    torch.testing.assert_close(classifier.class_weights.norm(dim=-1), torch.ones(10))
    # a feature equal to a class's text embedding scores that class highest in every frame
    features = classifier.class_weights[3].repeat(2, 10, 1)
    predictions = classifier.predict(features, k=3)
    assert predictions[0].labels[0] == 3 and predictions[0].classnames[0] == "3"
    assert len(predictions[0].labels) == 3 and sum(predictions[0].probabilities) <= 1.0 + 1e-6
    # built once per backbone and prompt set
    again = ZeroShotClassifier(tiny, classnames, resolve_templates(None, "nmnist"))
    assert again.class_weights is classifier.class_weights


def test_templates():
    assert resolve_templates(None, "nmnist") == ['A black and white photo of the Arabic numeral number: "{}".']
    assert resolve_templates(None, "cifar10dvs") == ["A low quality stick figure of the object {}."]
    assert len(resolve_templates("clip-imagenet")) == 80
    assert resolve_templates("a sketch of {}") == ["a sketch of {}"]
    with pytest.raises(ConfigError, match="neither a known set"):
        resolve_templates("no placeholder")


def test_random_weights_are_fixed_by_the_seed_and_leave_the_global_state_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    assert torch.equal(torch.rand(1), expected_next)
    second = load_backbone("neuroclip-tiny-vit", "none", device="cpu")
    other = load_backbone("neuroclip-tiny-vit", None, device="cpu", seed=1)
    assert first.fingerprint() == second.fingerprint() != other.fingerprint()
