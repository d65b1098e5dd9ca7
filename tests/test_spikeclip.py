"""SpikeCLIP's towers, classifier, losses, configs and label sets, pinned against the released code's values."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from neuroclip.cli.spikeclip import spikeclip_app
from neuroclip.errors import ConfigError
from neuroclip.snn import LIF
from neuroclip.spikeclip.config import (
    ImageEncoderConfig,
    LossConfig,
    ModelConfig,
    TextEncoderConfig,
    load_stage_config,
    model_config,
)
from neuroclip.spikeclip.image_encoder import SpikingImageEncoder
from neuroclip.spikeclip.labels import expanded_label_set, uls_positions, unseen_label_set
from neuroclip.spikeclip.layers import CrossProcessBatchNorm, TemporalWeighting, convert_batchnorm_for_processes
from neuroclip.spikeclip.losses import alignment_loss, dual_loss, kl_divergence
from neuroclip.spikeclip.model import ImagePreprocess, SpikeCLIP, class_logits, describe
from neuroclip.spikeclip.text_encoder import SpikingTextEncoder, tokenize

TINY_IMAGE = ImageEncoderConfig(embed_dim=16, depth=1, heads=2, mlp_ratio=2, output_dim=8)
TINY_TEXT = TextEncoderConfig(context_length=4, hidden_dim=8, vocab_size=10, token_width=2, position_rows=4,
                              output_dim=8)


# --------------------------------------------------------------------------------------------------- sizes


def test_paper_preset_has_the_released_parameter_counts():
    with torch.device("meta"):  # the 512-d ViT-B/16 teacher config: 49408 x 512 token table, 77 positions
        model = SpikeCLIP(model_config("paper"))
    image = sum(p.numel() for p in model.image_encoder.parameters())
    text = sum(p.numel() for p in model.text_encoder.parameters())
    assert image == 9_513_396 and round(image / 1e6, 2) == 9.51
    assert text == 47_358_980 and round(text / 1e6, 2) == 47.36
    assert round((image + text) / 1e6, 2) == 56.87  # the paper-v1 total (per its reviews)
    assert model.text_encoder.token_embedding.weight.shape == (49408, 512)
    assert model.text_encoder.fc1.in_features == 20 * 512 and model.text_encoder.fc1.out_features == 2048


def test_describe_command_prints_the_counts_as_json():
    result = CliRunner().invoke(spikeclip_app, ["describe", "--preset", "paper", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["image_params"], info["text_params"]) == (9_513_396, 47_358_980)
    assert info["teacher"] == {"model": "ViT-B-16", "pretrained": "openai"}
    # the projection follows the teacher's embedding width
    wider = describe("paper", embed_dim=768)
    assert wider["image_params"] - info["image_params"] == 384 * 256 + 256


def test_image_tower_layout_follows_the_released_model():
    encoder = SpikingImageEncoder(ImageEncoderConfig())
    convs = [stage.conv for stage in encoder.tokenizer.stages]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.bias) for c in convs] == [
        (3, 48, (3, 3), None), (48, 96, (3, 3), None), (96, 192, (3, 3), None), (192, 384, (3, 3), None),
        (384, 384, (3, 3), None)]
    pools = [type(stage.pool).__name__ for stage in encoder.tokenizer.stages]
    assert pools == ["Identity", "Identity", "MaxPool2d", "MaxPool2d", "Identity"]
    assert len(encoder.blocks) == 4 and encoder.blocks[0].attention.heads == 8
    block = encoder.blocks[0]
    assert block.attention.q_conv.bias is None and block.attention.proj_conv.bias is not None
    assert (block.mlp.fc1.in_channels, block.mlp.fc1.out_channels) == (384, 1536)
    assert encoder.proj.in_features == 384 and encoder.proj.out_features == 512
    # the 224 CLIP image is downsampled to 32 x 32 and repeated over T = 4
    image = torch.randn(2, 3, 224, 224)
    sequence = encoder.sequence(image)
    assert sequence.shape == (4, 2, 3, 32, 32)
    expected = F.interpolate(image, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.equal(sequence[3], expected) and torch.equal(sequence[0], sequence[3])


# --------------------------------------------------------------------------------------------------- neurons


def _spikeclip_neurons(module):
    return [m for m in module.modules() if isinstance(m, LIF)]


def test_towers_use_spikeclip_lif_with_threshold_half_only_after_attention():
    encoder = SpikingImageEncoder(TINY_IMAGE)
    neurons = _spikeclip_neurons(encoder)
    thresholds = sorted(n.config.threshold for n in neurons)
    # 4 tokenizer + (input, q, k, v, attention) + 2 MLP neurons; only the attention neuron has threshold 0.5
    assert len(neurons) == 4 + 5 + 2 and thresholds == [0.5] + [1.0] * 10
    assert encoder.blocks[0].attention.attention_neuron.config.threshold == 0.5
    for neuron in neurons + _spikeclip_neurons(SpikingTextEncoder(TINY_TEXT)):
        c = neuron.config
        assert (c.decay, c.input_scale, c.reset, c.reset_value, c.detach_reset) == (0.5, 0.5, "hard", 0.0, True)
        assert (c.surrogate, c.surrogate_parameter, neuron.carry_state) == ("sigmoid", 4.0, False)


@pytest.mark.parametrize("value, expected", [
    (1.0, [0, 0, 0, 0]),  # H = .5, .75, .875, .9375: never reaches 1
    (1.5, [0, 1, 0, 1]),  # H = .75, 1.125 (fire, reset to 0), .75, 1.125
    (2.5, [1, 1, 1, 1]),  # H = 1.25 every step after the hard reset
])
def test_text_tower_first_neuron_dynamics_by_hand(value, expected):
    encoder = SpikingTextEncoder(TINY_TEXT)
    with torch.no_grad():
        encoder.token_embedding.weight.fill_(value)
        encoder.position_embedding.zero_()
    seen = []
    encoder.neuron1.register_forward_hook(lambda module, inputs, output: seen.append(output))
    encoder(torch.zeros(1, 4, dtype=torch.long))
    spikes = seen[0]  # [T, B, L * width]: the same input repeated at every step
    assert spikes.shape == (4, 1, 8)
    assert spikes[:, 0, 0].tolist() == expected and bool((spikes == spikes[:, :, :1]).all())


def test_trunc_normal_text_tower_runs_in_fp32_under_autocast():
    # with the trunc_normal init (zero output at the start) fp16 autocast silenced this tower in training on a GPU
    # (stage A), so that init always runs in fp32. CPU autocast (bfloat16) takes the same path, so the guard is
    # checked here without a GPU. (The released pytorch init follows autocast: test_spikeclip_released.py.)
    torch.manual_seed(0)
    encoder = SpikingTextEncoder(dataclasses.replace(TINY_TEXT, linear_init="trunc_normal"))
    with torch.no_grad():
        encoder.token_embedding.weight.normal_(0, 2.0)  # large enough that the first neurons fire
    ids = torch.randint(0, TINY_TEXT.vocab_size, (3, TINY_TEXT.context_length))
    reference = encoder(ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = encoder(ids)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, reference)


def test_attention_neuron_fires_at_half():
    neuron = SpikingImageEncoder(TINY_IMAGE).blocks[0].attention.attention_neuron
    # constant 0.6: H = .3, .45, .525 (fire at 0.5), then .3 after the reset
    assert neuron(torch.full((4, 1), 0.6))[:, 0].tolist() == [0, 0, 1, 0]


def test_surrogate_and_detached_reset_inside_the_image_tower():
    neuron = SpikingImageEncoder(TINY_IMAGE).tokenizer.neurons[0]
    x = torch.tensor([[1.5]], requires_grad=True)
    neuron(x).sum().backward()
    # dS/dX = input_scale * alpha * sig(alpha (H - 1)) (1 - sig(.)), H = 0.75, alpha = 4
    sig = 1 / (1 + math.exp(4 * 0.25))
    assert x.grad.item() == pytest.approx(0.5 * 4 * sig * (1 - sig), rel=1e-6)
    # a spike at t=1 resets V to 0; with the reset detached no gradient reaches x_1 through the reset
    x = torch.tensor([[2.5], [0.0]], requires_grad=True)
    spikes = neuron(x)
    assert spikes[:, 0].tolist() == [1, 0]
    spikes[1].sum().backward()
    assert x.grad[0].item() == 0.0


# --------------------------------------------------------------------------------------------------- head, classifier


def test_temporal_weighting_is_linear_with_log_initial_weights():
    weighting = TemporalWeighting(4)
    assert torch.allclose(weighting.weight, torch.log(torch.tensor([0.1, 0.2, 0.4, 0.8])), atol=1e-6)
    x = torch.arange(8.0).reshape(4, 2, 1)
    assert torch.allclose(weighting(x)[:, 0], (weighting.weight.detach()[:, None] * x[:, :, 0]).sum(0))


def test_prototypes_are_means_of_normalised_text_embeddings_not_renormalised():
    model = SpikeCLIP(ModelConfig(image=TINY_IMAGE, text=TINY_TEXT))
    fixed = {"a x": [3.0, 4.0] + [0.0] * 6, "b x": [0.0, 2.0] + [0.0] * 6,
             "a y": [1.0, 0.0] + [0.0] * 6, "b y": [0.0, 0.0, 5.0] + [0.0] * 5}
    model.encode_text = lambda texts, batch_size=1024: torch.tensor([fixed[t] for t in texts])
    prototypes = model.class_prototypes(["x", "y"], ["a {}", "b {}"])
    assert torch.allclose(prototypes[0, :2], torch.tensor([0.3, 0.9]))  # mean of (.6, .8) and (0, 1)
    assert prototypes[1, :3].tolist() == [0.5, 0.0, 0.5] and prototypes[1].norm() < 1
    image = torch.tensor([[2.0, 0.0, 0.0, 0, 0, 0, 0, 0]])
    logits = class_logits(image, prototypes)
    assert torch.allclose(logits, torch.tensor([[0.3, 0.5]]))  # cosines, no logit scale


def test_tokenization_pads_with_end_of_text_and_refuses_long_sentences():
    from neuroclip.clip.backbone import _open_clip

    tokenizer = _open_clip().get_tokenizer("ViT-B-16")
    ids = tokenize(tokenizer, ["a photo of a cat."], 20)
    assert ids.shape == (1, 20) and ids[0, 0] == tokenizer.sot_token_id
    length = int((ids[0] != tokenizer.eot_token_id).sum()) + 1
    assert bool((ids[0, length - 1:] == tokenizer.eot_token_id).all())
    assert tokenize(tokenizer, ["a photo of a cat."], 20, pad="zero")[0, length:].abs().sum() == 0
    long = "a photo of " + "a very " * 10 + "cat."
    with pytest.raises(ConfigError, match="more than 20 tokens"):
        tokenize(tokenizer, [long], 20)
    truncated = tokenize(tokenizer, [long], 20, truncate=True)
    assert truncated[0, -1] == tokenizer.eot_token_id


# --------------------------------------------------------------------------------------------------- losses


def test_dual_loss_paper_kl_is_summed_over_the_batch():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 5), torch.randn(6, 5)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    p_t = teacher.softmax(-1)
    by_hand = (p_t * (p_t.log() - student.log_softmax(-1))).sum()
    assert kl_divergence(student, teacher).item() == pytest.approx(by_hand.item(), rel=1e-5)
    loss, parts = dual_loss(student, teacher, labels)
    ce = F.cross_entropy(student, labels).item()
    assert loss.item() == pytest.approx(ce + by_hand.item(), rel=1e-5)
    normalised, _ = dual_loss(student, teacher, labels, LossConfig(kl_reduction="batchmean", kl_weight=0.5,
                                                                   temperature=2.0))
    p_t2 = (teacher / 2).softmax(-1)
    kl2 = (p_t2 * (p_t2.log() - (student / 2).log_softmax(-1))).sum() / 6
    assert normalised.item() == pytest.approx(ce + 0.5 * kl2.item(), rel=1e-5)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    assert alignment_loss(a, b).item() == pytest.approx(1 - 1 / math.sqrt(2))


# --------------------------------------------------------------------------------------------------- label sets


def test_uls_positions_and_renamed_classes_are_the_released_ones():
    assert [uls_positions(seed) for seed in (42, 43, 44)] == [[1, 0], [0, 4], [6, 8]]  # 1-based [2,1],[1,5],[7,9]
    stl10 = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    renamed = unseen_label_set(stl10, 44)
    assert renamed[6] == "zebra" and renamed[8] == "boat" and renamed[:6] == stl10[:6]  # the shipped file
    expanded = expanded_label_set(stl10, 10)
    assert expanded[:10] == stl10 and len(set(expanded)) == 20
    with pytest.raises(ConfigError, match="no ULS substitute"):
        unseen_label_set([str(i) for i in range(10)], 42)


# --------------------------------------------------------------------------------------------------- configs


def test_stage_configs_from_json_and_yaml_with_presets_and_errors(tmp_path):
    values = {"stage": "finetune", "preset": "tiny", "init": "b/best.pt", "data": {"source": "digits"},
              "optim": {"epochs": 3}}
    (tmp_path / "d.json").write_text(json.dumps(values))
    (tmp_path / "d.yaml").write_text("stage: finetune\npreset: tiny\ninit: b/best.pt\ndata: {source: digits}\n"
                                     "optim: {epochs: 3}\n")
    for name in ("d.json", "d.yaml"):
        config = load_stage_config(tmp_path / name, {"loss.kl_weight": 0.5})
        # the released dual-FT settings, with the file's and the override's changes
        assert (config.optim.lr, config.optim.eta_min, config.optim.batch_size) == (5e-4, 1e-5, 196)
        assert config.optim.epochs == 3 and config.optim.amsgrad and config.optim.t_max is None
        assert (config.loss.kl_reduction, config.loss.kl_weight, config.loss.temperature) == ("sum", 0.5, 1.0)
        assert config.model.image.embed_dim == 32 and config.model.teacher.model == "neuroclip-tiny-vit"
    paper_text = load_stage_config({"stage": "align-text", "data": {"classnames": "cifar10"}})
    assert (paper_text.optim.batch_size, paper_text.optim.drop_last, paper_text.early_stop_patience) == (1024, True,
                                                                                                           20)
    # the text stage of an event model trains on sentences like any other
    assert load_stage_config({"stage": "align-text", "preset": "tiny-events"}).model.modality == "events"
    teacher_stage = load_stage_config({"stage": "finetune-teacher", "data": {"source": "torchvision",
                                                                             "name": "STL10", "root": "x"}})
    assert (teacher_stage.optim.lr, teacher_stage.optim.eta_min) == (1e-6, 1e-8)  # the released STL10 script
    with pytest.raises(ConfigError, match="unknown field"):
        load_stage_config({"stage": "finetune", "optim": {"learning_rate": 1}})
    with pytest.raises(ConfigError, match="does not fit model.modality"):
        load_stage_config({"stage": "align-image", "data": {"source": "nmnist", "root": "x"}})
    with pytest.raises(ConfigError, match="in_channels"):
        model_config("paper", {"modality": "events"})


def test_cross_process_batch_norm_is_plain_batch_norm_in_one_process():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 1), torch.nn.BatchNorm1d(4))
    reference = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 1), torch.nn.BatchNorm1d(4))
    reference.load_state_dict(model.state_dict())
    convert_batchnorm_for_processes(model, torch.device("cpu"))
    assert isinstance(model[1], CrossProcessBatchNorm)
    x = torch.randn(5, 3, 7)
    assert torch.allclose(model(x), reference(x)) and torch.allclose(model[1].running_var, reference[1].running_var)


def test_image_folder_source_holds_out_a_validation_part_per_class(tmp_path):
    from PIL import Image

    from neuroclip.spikeclip.config import DataConfig
    from neuroclip.spikeclip.data import SampleView, open_source, parse_data_spec, select_indices

    for name in ("cat", "dog"):
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (10, 12), (40 * i, 0, 0)).save(tmp_path / "train" / name / f"{i}.png")
    data, split = parse_data_spec(f"image-folder:{tmp_path}:train", val_fraction=0.4)
    assert (data.source, data.root, split) == ("image-folder", str(tmp_path), "train")
    source = open_source(data, "train")
    assert source.classes == ["cat", "dog"] and len(source) == 10
    train, val = select_indices(source, data, "train"), select_indices(source, data, "val")
    assert sorted(train + val) == list(range(10)) and not set(train) & set(val)
    assert sorted(source.labels[i] for i in val) == [0, 0, 1, 1]  # ceil(0.4 * 5) per class
    # the rule depends on file names only: the same files give the same split
    assert select_indices(open_source(data, "train"), data, "val") == val
    image, label, position = SampleView(source, val, "student", model_config("tiny"), ImagePreprocess())[1]
    assert image.shape == (3, 224, 224) and label == source.labels[val[1]] and position == 1
    with pytest.raises(ConfigError, match="give the folder"):
        parse_data_spec("nmnist")
    assert DataConfig().source == "digits"


def test_recording_files_are_classified_a_batch_at_a_time_as_their_streams(tmp_path):
    """classify --spikeclip reads its files one batch at a time: the same logits as the streams read first, and
    an empty file is one error naming it."""
    from neuroclip.errors import EmptyStreamError
    from neuroclip.events import read_events
    from neuroclip.spikeclip import build_spikeclip, model_config
    from neuroclip.spikeclip.model import _RecordingFiles, predict, predict_files, predict_logits

    from conftest import nmnist_files

    torch.manual_seed(0)
    model = build_spikeclip(model_config("tiny-events"))
    paths = nmnist_files()[:5]
    names, templates = [str(d) for d in range(10)], ['the digit "{}"']
    streams = predict_logits(model, [read_events(path) for path in paths], names, templates, batch_size=64)
    by_file = [p.labels for p in predict_files(model, paths, names, templates, k=3)]
    assert by_file == [p.labels for p in predict(model, [read_events(path) for path in paths], names, templates, 3)]
    batched = predict_logits(model, _RecordingFiles(model, paths, None, None), names, templates, batch_size=2)
    torch.testing.assert_close(batched, streams, rtol=1e-5, atol=1e-5)
    empty = tmp_path / "empty.raw"  # an EVT 2.0 header (with the sensor size) and no event
    empty.write_bytes(b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n")
    with pytest.raises(EmptyStreamError, match="empty.raw holds no events"):
        predict_files(model, [paths[0], empty], names, templates)
