"""NeuroCLIP few-shot: the adapter against its formula, the recipe's loss and schedule, shots, baselines, the
protocol and its files, saved adapters, augmentation; and on real N-MNIST features, the adapter beats zero-shot."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.seeded_clip import seeded_tiny_clip
from neuroclip.clip import resolve_templates, text_classifier
from neuroclip.clip.extract import extract_features
from neuroclip.clip.features import FrameConfig, frame_features
from neuroclip.datasets import NMNIST
from neuroclip.errors import ConfigError
from neuroclip.events.augment import EventAugmentConfig
from neuroclip.fewshot import (
    METHODS,
    AdapterConfig,
    AdapterFileError,
    AugmentConfig,
    BaselineConfigs,
    FewShotPlan,
    NeuroCLIPAdapterClassifier,
    OptimConfig,
    PlusConfig,
    TimestepBatchNorm1d,
    augmented_view_features,
    classify_with_adapter,
    fewshot_experiment,
    fit_neuroclip_plus,
    load_adapter,
    paired_differences,
    plot_accuracy_vs_shots,
    predict_with_adapter,
    recipe,
    run_fewshot,
    sample_shots,
    save_adapter,
    smoothed_cross_entropy,
    split_test_part,
    split_validation,
    summarize,
    train_adapter,
    write_results,
)
from neuroclip.fewshot.augment import AffineDraw, EventViewConfig, affine_counts, view_config
from neuroclip.fewshot.baselines import fit_linear_probe, fit_tip_adapter
from neuroclip.fewshot.report import CSV_COLUMNS, pack_hits, unpack_hits
from neuroclip.fewshot.train import neuroclip_epochs

from conftest import NMNIST_ROOT, REPO_ROOT, needs_all_recordings, nmnist_files

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def backbone():
    return seeded_tiny_clip(0)


@pytest.fixture(scope="module")
def class_weights(backbone):
    return text_classifier(backbone, [str(d) for d in range(10)], resolve_templates(None, "nmnist"))


@pytest.fixture(scope="module")
def real(backbone):
    """Tiny-CLIP features of the 500 real N-MNIST recordings, split by a fixed rule: within each digit, in file
    order, recordings 0, 1, 2 of every 5 are train and 3, 4 test."""
    nmnist_files()
    dataset = NMNIST(NMNIST_ROOT, split="train")
    cached = extract_features(dataset, backbone, FrameConfig(), None, batch_size=50, progress=False)
    labels = cached.labels.astype(np.int64)
    rank = np.zeros_like(labels)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        rank[members] = np.arange(members.size)
    test = rank % 5 >= 3
    return {"train": (cached.features[~test], labels[~test]), "test": (cached.features[test], labels[test]),
            "dataset": dataset, "indices": cached.indices}


def synthetic(n_per_class=12, n_classes=4, frames=5, width=32, seed=0, spread=1.0):
    """Raw frame features around a per-class direction, and class weights near those directions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, width))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = 3 * centres[labels][:, None, :] + spread * rng.standard_normal((labels.size, frames, width))
    weights = F.normalize(torch.tensor(centres + 1.5 * rng.standard_normal(centres.shape), dtype=torch.float32),
                          dim=-1)
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels), weights


# --------------------------------------------------------------------------------------------------- adapter


def adapter_by_hand(model, features, class_weights):
    """NeuroCLIP's adapter written out per timestep (training mode, no dropout), then the residual and logits."""
    a = model.adapter
    batch, frames, _ = features.shape
    membrane = torch.zeros(batch, a.hidden_dim, dtype=features.dtype)
    outputs, fired = [], []
    for t in range(frames):
        x = features[:, t]
        x = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5) * a.input_norm.weight + a.input_norm.bias
        h = x @ a.down.weight.T + a.down.bias
        h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5) * a.hidden_norm.weight + \
            a.hidden_norm.bias
        membrane = 0.25 * membrane + h
        spikes = (membrane >= 0.5).to(h.dtype)
        membrane = membrane * (1 - spikes)
        fired.append(spikes)
        outputs.append(torch.relu(spikes @ a.up.weight.T + a.up.bias))
    mixed = (0.6 * torch.stack(outputs, 1) + 0.4 * features).reshape(batch, -1)
    text = class_weights.repeat(1, frames)
    logits = 100 * (mixed / mixed.norm(dim=1, keepdim=True)) @ (text / text.norm(dim=1, keepdim=True)).T
    return logits, torch.stack(fired)


def test_adapter_forward_matches_the_formula_by_hand():
    torch.manual_seed(0)
    features = torch.randn(6, 4, 16, dtype=torch.float64) * 3 + 1
    weights = F.normalize(torch.randn(5, 16, dtype=torch.float64), dim=-1)
    model = NeuroCLIPAdapterClassifier(weights, AdapterConfig(dropout=0.0)).double().train()
    with torch.no_grad():
        for norm in (model.adapter.input_norm, model.adapter.hidden_norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.3, 0.5)
    expected, fired = adapter_by_hand(model, features, model.class_weights)
    assert 0.1 < fired.mean() < 0.9  # the LIF both fires and stays silent on this input
    torch.testing.assert_close(model(features), expected, rtol=1e-10, atol=1e-10)


def test_relu_ablation_replaces_the_lif_and_residual_ratio_is_a_switch():
    torch.manual_seed(0)
    features, _, weights = synthetic()
    relu = NeuroCLIPAdapterClassifier(weights, AdapterConfig(bottleneck="relu", dropout=0.0))
    assert isinstance(relu.adapter.neuron, torch.nn.ReLU)
    pure_clip = NeuroCLIPAdapterClassifier(weights, AdapterConfig(residual_ratio=0.0)).eval()
    # ratio 0: only the raw features remain, so the logits are NeuroCLIP's normalised-concat score of raw features
    raw = features.reshape(features.shape[0], -1)
    text = F.normalize(weights.repeat(1, features.shape[1]), dim=-1)
    torch.testing.assert_close(pure_clip(features), 100 * F.normalize(raw, dim=-1) @ text.T, rtol=1e-5, atol=1e-4)


def test_timestep_batchnorm_equals_one_batchnorm_call_per_timestep():
    torch.manual_seed(0)
    x = (torch.randn(8, 5, 6) * 2 + 0.5).requires_grad_(True)
    ours, reference = TimestepBatchNorm1d(6), torch.nn.BatchNorm1d(6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ours.bias.uniform_(-1, 1)
    reference.load_state_dict(ours.state_dict())
    grad = torch.randn(8, 5, 6)
    out = ours(x)
    (out * grad).sum().backward()
    ours_grads = (x.grad.clone(), ours.weight.grad.clone(), ours.bias.grad.clone())
    x.grad = None
    expected = torch.stack([reference(x[:, t]) for t in range(5)], 1)
    (expected * grad).sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ours_grads[0], x.grad)
    torch.testing.assert_close(ours_grads[1], reference.weight.grad)
    torch.testing.assert_close(ours_grads[2], reference.bias.grad)
    torch.testing.assert_close(ours.running_mean, reference.running_mean)
    torch.testing.assert_close(ours.running_var, reference.running_var)
    assert int(ours.num_batches_tracked) == int(reference.num_batches_tracked) == 5
    ours.eval(), reference.eval()
    torch.testing.assert_close(ours(x), torch.stack([reference(x[:, t]) for t in range(5)], 1))


# --------------------------------------------------------------------------------------------------- recipe


def test_label_smoothed_loss_by_hand():
    # logits (0, ln 2, 0), true class 1: softmax (1/4, 1/2, 1/4); targets (0.1, 0.8, 0.1)
    # loss = -(0.2 ln 1/4 + 0.8 ln 1/2) = 1.2 ln 2
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]])
    loss = smoothed_cross_entropy(logits, torch.tensor([1]), 0.2)
    assert loss.item() == pytest.approx(1.2 * math.log(2.0), rel=1e-6)
    # torch's label_smoothing spreads eps over all K classes, which is a different loss
    assert F.cross_entropy(logits, torch.tensor([1]), label_smoothing=0.2).item() != pytest.approx(loss.item())
    assert smoothed_cross_entropy(logits, torch.tensor([1]), 0.0).item() == pytest.approx(math.log(2.0))


def test_schedule_is_dassl_warmup_then_restarted_cosine():
    optim = recipe().optim
    assert (optim.epochs, optim.batch_size, optim.lr, optim.momentum, optim.weight_decay) == (250, 32, 0.01, 0.9,
                                                                                              5e-4)
    assert optim.label_smoothing == 0.2 and recipe().adapter == AdapterConfig()
    # Dassl: ConstantWarmupScheduler(1 epoch at 1e-5) over CosineAnnealingLR(T_max=250), count restarted
    parameter = torch.nn.Parameter(torch.zeros(1))
    sgd = torch.optim.SGD([parameter], lr=0.01)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=250)
    expected = [1e-5]
    for _ in range(1, 250):
        expected.append(cosine.get_last_lr()[0])
        sgd.step()
        cosine.step()
    assert [optim.lr_at(e) for e in range(250)] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert optim.lr_at(1) == 0.01 and optim.lr_at(2) == pytest.approx(0.005 * (1 + math.cos(math.pi / 250)))


def test_epochs_per_backbone():
    assert neuroclip_epochs("RN50") == 150 and neuroclip_epochs("ViT-B-32") == 250
    assert recipe(model_name="RN50").optim.epochs == 150 and recipe(model_name="RN101").optim.epochs == 250
    assert recipe("neuroclip-relu").adapter.bottleneck == "relu"
    assert recipe(epochs=7, residual_ratio=0.5).optim.epochs == 7
    with pytest.raises(ConfigError, match="unknown training field"):
        recipe(epochs_total=3)
    with pytest.raises(ConfigError):
        OptimConfig(epochs=0)


def test_training_is_deterministic_per_seed_and_keeps_the_best_selection_epoch():
    features, labels, weights = synthetic(spread=4.0)
    config = recipe(epochs=12)
    first = train_adapter(features, labels, weights, 100.0, config, seed=3, device="cpu")
    second = train_adapter(features, labels, weights, 100.0, config, seed=3, device="cpu")
    other = train_adapter(features, labels, weights, 100.0, config, seed=4, device="cpu")
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert not torch.equal(first.model.adapter.down.weight, other.model.adapter.down.weight)
    assert first.fit.selected_epoch == 12 and len(first.fit.history) == 12
    assert first.fit.history[0]["lr"] == 1e-5 and first.fit.history[1]["lr"] == 0.01
    # with a selection set, the weights of its best epoch come back
    held_x, held_y, _ = synthetic(n_per_class=5, seed=1, spread=4.0)
    chosen = train_adapter(features, labels, weights, 100.0, config, seed=3, selection_features=held_x,
                           selection_labels=held_y, device="cpu")
    scores = [h["selection_top1"] for h in chosen.fit.history]
    assert chosen.fit.selected_epoch == int(np.argmax(scores)) + 1
    with torch.no_grad():
        accuracy = (chosen.model(held_x).argmax(1) == held_y).float().mean().item()
    assert accuracy == pytest.approx(max(scores))


def test_training_rejects_mismatched_inputs():
    features, labels, weights = synthetic()
    with pytest.raises(ConfigError, match="other backbone"):
        train_adapter(features, labels, weights[:, :8], config=recipe(epochs=2))
    with pytest.raises(ConfigError, match="labels must be in"):
        train_adapter(features, labels + 10, weights, config=recipe(epochs=2))


# --------------------------------------------------------------------------------------------------- shots


def test_shot_sampling_is_balanced_deterministic_and_refuses_a_short_class():
    labels = np.array([0] * 10 + [1] * 4 + [2] * 7)
    shots = sample_shots(labels, 4, seed=5)
    assert np.array_equal(shots, sample_shots(labels, 4, seed=5))
    assert not np.array_equal(shots, sample_shots(labels, 4, seed=6))
    assert np.bincount(labels[shots]).tolist() == [4, 4, 4]
    assert all(len(set(shots[labels[shots] == k])) == 4 for k in range(3))  # distinct recordings
    with pytest.raises(ConfigError, match=r"class 1 has only 4 training recording\(s\) to draw 5 shots from; use "
                                          r"--shots 4 or fewer"):
        sample_shots(labels, 5, seed=0)
    with pytest.raises(ConfigError, match="class 3 has no training"):
        sample_shots(labels, 2, seed=0, n_classes=4)


def test_validation_split_is_disjoint_from_the_shot_pool():
    labels = np.repeat(np.arange(3), [20, 6, 11])
    pool, held = split_validation(labels, 5, seed=0)
    assert not set(pool) & set(held) and sorted(np.concatenate([pool, held])) == list(range(labels.size))
    assert np.bincount(labels[held]).tolist() == [5, 3, 5]  # never more than half of a class


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_a_within_split_test_part_is_stratified_disjoint_and_the_same_size_every_seed(fraction):
    labels = np.repeat(np.arange(3), [20, 6, 11])
    sizes = set()
    parts = []
    for seed in (1, 2, 3):
        pool, test = split_test_part(labels, fraction, seed, shots=1)
        assert not set(pool) & set(test) and sorted(np.concatenate([pool, test])) == list(range(labels.size))
        counts = np.bincount(labels[test], minlength=3).tolist()
        assert counts == [max(1, round(fraction * n)) for n in (20, 6, 11)]
        sizes.add(test.size)
        parts.append(tuple(test))
    assert len(sizes) == 1 and len(set(parts)) == 3  # same size, other recordings
    assert tuple(split_test_part(labels, fraction, 1, shots=1)[1]) == parts[0]  # seeded


def test_a_within_split_refuses_a_class_too_small_for_its_shots_and_a_wrong_fraction():
    labels = np.repeat(np.arange(2), [10, 4])
    with pytest.raises(ConfigError, match=r"class 'b' has 4 recording\(s\): scoring 2 of them leaves 2 for 3"):
        split_test_part(labels, 0.5, 1, shots=3, classnames=["a", "b"])
    for fraction in (0, 1, 1.5, -0.1, True):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            split_test_part(labels, fraction, 1)


def test_within_split_runs_never_score_a_shot(real, backbone, monkeypatch):
    """fewshot_within_split hands run_fewshot, per seed, a pool and a test part with no recording in common, the
    one seed the plan runs, and scores every seed's methods on the same number of recordings."""
    import neuroclip.fewshot.experiment as experiment
    from neuroclip.fewshot import fewshot_within_split

    calls = []
    original = experiment.run_fewshot

    def spy(train_x, train_y, test_x, test_y, *args, **kwargs):
        calls.append((np.asarray(train_x), np.asarray(test_x), args[2].seeds))
        return original(train_x, train_y, test_x, test_y, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_fewshot", spy)
    data = _split_per_digit(real["dataset"], 4, 0)[0]  # 4 real recordings of each digit
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    plan = FewShotPlan(methods=["zeroshot", "tip"], shots=[1, 2], seeds=[1, 2])
    record = fewshot_within_split(data, backbone, names, templates, plan, progress=False, device="cpu")
    assert [seeds for _, _, seeds in calls] == [(1,), (2,)]
    for train_x, test_x, _ in calls:
        flat_train, flat_test = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
        assert not any((row == flat_train).all(1).any() for row in flat_test)
    assert {r["n_test"] for r in record["results"]} == {20}  # 2 of each digit's 4
    assert all(r["test_part"] == r["seed"] for r in record["results"])
    with pytest.raises(ConfigError, match="'paper-test-selection'"):
        fewshot_within_split(data, backbone, names, templates,
                             FewShotPlan(methods=["tip"], shots=[1], seeds=[1], protocol="paper-test-selection"))


def test_comparison_size_gives_the_recordings_and_draws_a_difference_needs():
    """comparison_size on hand-made rows: two seeds of 100 test recordings where the method gets 10 and 30 more
    right than the other (and nothing else differs): difference 0.2, per-recording variance within a draw
    w = (0.1 - 0.01 + 0.3 - 0.09) / 2 = 0.15, draw variance 0.02 (own test parts: 0.02 - w / 100 = 0.0185), so with
    z = 1.96 a 95% interval needs 1.96^2 * 0.15 / 0.04 = 14.4 -> 15 recordings and 1.92 -> 2 draws."""
    from neuroclip.fewshot import comparison_size
    from neuroclip.fewshot.report import pack_hits

    def rows(method, extra, **fields):
        return [{"method": method, "shots": 4, "seed": seed, "protocol": "shots", "n_test": 100,
                 "correct": pack_hits(np.arange(100) < 50 + extra * gain), **fields}
                for seed, gain in ((1, 10), (2, 30))]

    results = rows("neuroclip-plus", 1) + rows("tip", 0)
    entry, = comparison_size(results, "neuroclip-plus", "tip")
    assert entry["difference"] == pytest.approx(0.2) and entry["disagreement"] == pytest.approx(0.2)
    assert entry["draw_sd"] == pytest.approx(0.02 ** 0.5)
    assert (entry["recordings_needed"], entry["draws_needed"]) == (15, 2)
    own, = comparison_size(rows("neuroclip-plus", 1, test_part=1) + rows("tip", 0, test_part=1), "neuroclip-plus",
                           "tip")
    assert own["draw_sd"] == pytest.approx(0.0185 ** 0.5) and own["draws_needed"] == 2  # 1.78 -> 2
    # the reverse comparison needs the same; no difference: nothing decides it; one seed: no draw spread
    reversed_, = comparison_size(results, "tip", "neuroclip-plus")
    assert reversed_["difference"] == pytest.approx(-0.2) and reversed_["recordings_needed"] == 15
    same, = comparison_size(rows("neuroclip-plus", 0) + rows("tip", 0), "neuroclip-plus", "tip")
    assert same["recordings_needed"] is None and same["draws_needed"] is None
    one_seed, = comparison_size([r for r in results if r["seed"] == 1], "neuroclip-plus", "tip")
    assert one_seed["draw_sd"] is None and one_seed["draws_needed"] is None
    assert one_seed["recordings_needed"] == 35  # 1.96^2 * 0.09 / 0.01 = 34.6
    with pytest.raises(ConfigError, match="level"):
        comparison_size(results, "neuroclip-plus", "tip", level=1.0)


def test_a_within_split_run_saves_the_head_its_first_row_scored(real, backbone, tmp_path):
    """fewshot_within_split(save_adapter_to=...) saves the NeuroCLIP+ head of the first seed at the largest shots:
    trained on recordings of that seed's pool, never on its scored part, and scoring that part recording for
    recording as the run's row did."""
    from neuroclip.fewshot import fewshot_within_split
    from neuroclip.fewshot.plus import PlusConfig
    from neuroclip.fewshot.protocol import BaselineConfigs
    from neuroclip.fewshot.report import unpack_hits
    from neuroclip.fewshot.sampling import split_test_part

    data = _split_per_digit(real["dataset"], 4, 0)[0]  # 4 real recordings of each digit
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    plan = FewShotPlan(methods=["zeroshot", "neuroclip-plus"], shots=[1, 2], seeds=[3, 1],
                       baselines=BaselineConfigs(plus=PlusConfig(epochs=5)))
    record = fewshot_within_split(data, backbone, names, templates, plan, progress=False, device="cpu",
                                  save_adapter_to=tmp_path / "head", cpu_threads=1)
    assert record["config"]["saved_method"] == "neuroclip-plus"
    assert record["config"]["saved_adapter"][0].endswith("head.safetensors")
    metadata = load_adapter(tmp_path / "head")[1]["metadata"]
    assert metadata["shots"] == 2 and metadata["seed"] == 3
    assert metadata["within"] == {"test_part": 3, "test_fraction": 0.5, "n_scored": 20}
    paths, labels = zip(*((str(path), label) for path, label in data.samples))
    pool, scored = split_test_part(np.asarray(labels), 0.5, 3, 10, 2)
    trained_on = set(metadata["training_recordings"])
    assert len(trained_on) == 20 and trained_on <= {paths[i] for i in pool}
    assert not trained_on & {paths[i] for i in scored}
    row = next(r for r in record["results"] if (r["method"], r["shots"], r["seed"]) == ("neuroclip-plus", 2, 3))
    streams = [data[int(i)][0] for i in scored]
    logits = predict_with_adapter(tmp_path / "head", frame_features(streams, backbone, FrameConfig()))
    hits = logits.argmax(1).numpy() == np.asarray(labels)[scored]
    assert hits.tolist() == unpack_hits(row["correct"], scored.size).tolist()


# --------------------------------------------------------------------------------------------------- real N-MNIST


def test_adapter_beats_zero_shot_on_real_nmnist_and_the_relu_ablation_runs(real, class_weights):
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    (train_x, train_y), (test_x, test_y) = real["train"], real["test"]
    plan = FewShotPlan(methods=["zeroshot", "neuroclip", "neuroclip-relu"], shots=[8], seeds=[1], protocol="validation",
                       val_per_class=8)
    results = run_fewshot(train_x, train_y, test_x, test_y, class_weights, 100.0, plan, device="cpu")
    top1 = {r["method"]: r["top1"] for r in results}
    assert top1["zeroshot"] < 0.15  # a random tiny CLIP is at chance
    assert top1["neuroclip"] > top1["zeroshot"] + 0.10
    assert top1["neuroclip-relu"] > top1["zeroshot"] + 0.05
    rows = {r["method"]: r for r in results}
    assert rows["neuroclip"]["selected_on"] == "validation" and rows["neuroclip"]["n_train"] == 80
    assert rows["neuroclip"]["n_selection"] == 80 and rows["neuroclip"]["n_test"] == test_y.size
    assert rows["neuroclip"]["hyperparameters"]["epochs"] == 250
    assert "warning" not in rows["neuroclip"]


def test_baselines_on_real_nmnist(real, class_weights):
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    (train_x, train_y), (test_x, test_y) = real["train"], real["test"]
    plan = FewShotPlan(methods=["zeroshot", "linear", "tip", "tip-f", "clip-adapter"], shots=[4], seeds=[2],
                       protocol="validation", val_per_class=8)
    results = run_fewshot(train_x, train_y, test_x, test_y, class_weights, 100.0, plan, device="cpu")
    top1 = {r["method"]: r["top1"] for r in results}
    assert top1["linear"] > top1["zeroshot"] + 0.15
    assert top1["tip"] > top1["zeroshot"] and top1["tip-f"] > top1["zeroshot"]
    tip = next(r for r in results if r["method"] == "tip")["hyperparameters"]
    assert 0.1 <= tip["alpha"] < 13 and 0.1 <= tip["beta"] < 13 and "selection_top1" in tip


def test_tip_adapter_formula_and_linear_probe_selection():
    features, labels, weights = synthetic()
    tip = fit_tip_adapter(features, labels, weights, 100.0, None, device="cpu")
    pooled = F.normalize(F.normalize(features, dim=-1).mean(1), dim=-1)
    expected = 100 * pooled @ weights.T + 1.0 * torch.exp(-1.0 * (1 - pooled @ pooled.T)) @ F.one_hot(labels).float()
    torch.testing.assert_close(tip.logits(features), expected)
    held_x, held_y, _ = synthetic(n_per_class=6, seed=1)
    probe = fit_linear_probe(features, labels, 4, (held_x, held_y), device="cpu")
    assert probe.hyperparameters["weight_decay"] in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    assert (probe.logits(held_x).argmax(1) == held_y).float().mean() == probe.hyperparameters["selection_top1"]


def test_test_selection_protocol_is_labelled_in_rows_files_and_plot(real, class_weights, tmp_path):
    (train_x, train_y), (test_x, test_y) = real["train"], real["test"]
    plan = FewShotPlan(methods=["neuroclip", "tip", "zeroshot"], shots=[1, 2], seeds=[1, 2],
                       protocol="paper-test-selection", train_config=recipe(epochs=6))
    results = run_fewshot(train_x, train_y, test_x, test_y, class_weights, 100.0, plan, device="cpu")
    zero_shot = [r for r in results if r["method"] == "zeroshot"]
    results = [r for r in results if r["method"] != "zeroshot"]
    assert len(results) == 8 and len(zero_shot) == 2
    assert all(r["selected_on"] == "test" and "TEST" in r["warning"] for r in results)
    assert all(r["selected_on"] == "none" and "warning" not in r for r in zero_shot)  # nothing to select
    assert all(r["protocol"] == "paper-test-selection" for r in results + zero_shot)
    record = write_results(results, tmp_path / "fewshot.json", {"dataset": "nmnist"}, tmp_path / "fewshot.csv")
    stored = json.loads((tmp_path / "fewshot.json").read_text())
    assert stored == json.loads(json.dumps(record, default=str))
    assert "TEST" in stored["warning"] and "paper-test-selection" in stored["protocols"]
    assert {k for k in stored["results"][0]} >= {"method", "shots", "seed", "top1"}
    assert all("TEST" in s["warning"] for s in stored["summary"])
    csv_lines = (tmp_path / "fewshot.csv").read_text().splitlines()
    assert len(csv_lines) == 9 and "selected_on" in csv_lines[0] and ",test," in csv_lines[1]
    png = plot_accuracy_vs_shots(results, tmp_path / "fewshot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_summary_mean_and_sample_std_by_hand():
    rows = [{"method": "neuroclip", "shots": 4, "seed": s, "top1": v, "protocol": "validation",
             "selected_on": "validation"} for s, v in [(1, 0.5), (2, 0.7), (3, 0.9)]]
    (entry,) = summarize(rows)
    assert entry["top1_mean"] == pytest.approx(0.7) and entry["top1_std"] == pytest.approx(0.2)
    assert entry["n_seeds"] == 3


def test_protocol_rejects_unknown_names():
    features, labels, weights = synthetic()
    with pytest.raises(ConfigError, match="protocol"):
        plan = FewShotPlan(protocol="best-on-test")
        run_fewshot(features, labels, features, labels, weights, plan)
    with pytest.raises(ConfigError, match="method"):
        plan = FewShotPlan(methods=["neuroclip", "magic"])
        run_fewshot(features, labels, features, labels, weights, plan)
    threads = torch.get_num_threads()
    with pytest.raises(ConfigError, match="cpu_threads"):
        run_fewshot(features, labels, features, labels, weights, cpu_threads=0)
    assert torch.get_num_threads() == threads


# --------------------------------------------------------------------------------------------------- persistence


def test_saved_adapter_round_trip_gives_identical_logits(tmp_path):
    features, labels, weights = synthetic()
    trained = train_adapter(features, labels, weights, 100.0, recipe(epochs=5), seed=1, device="cpu")
    weights_path, json_path = save_adapter(tmp_path / "digits", trained.model,
                                           {"classnames": ["a", "b", "c", "d"], "seed": 1}, n_frames=5)
    assert weights_path.name == "digits.safetensors" and json_path.name == "digits.json"
    assert not list(tmp_path.glob(".*.tmp"))
    with torch.no_grad():
        expected = trained.model.eval()(features)
    for given in (tmp_path / "digits", weights_path, json_path):
        assert torch.equal(predict_with_adapter(given, features), expected)
    model, document = load_adapter(json_path)
    assert document["metadata"]["classnames"] == ["a", "b", "c", "d"] and document["n_frames"] == 5
    assert torch.equal(model.adapter.input_norm.running_var, trained.model.adapter.input_norm.running_var)
    # other class weights: the same adapter scores them
    other = F.normalize(torch.randn(3, weights.shape[1]), dim=-1)
    with torch.no_grad():
        assert torch.equal(predict_with_adapter(json_path, features.numpy(), other), trained.model(features, other))
    with pytest.raises(AdapterFileError, match="5 frames"):
        predict_with_adapter(json_path, features[:, :3])
    with pytest.raises(AdapterFileError, match="backbone"):
        predict_with_adapter(json_path, features[..., :8])


def test_saved_adapter_detects_a_mismatched_pair(tmp_path):
    features, labels, weights = synthetic()
    first = train_adapter(features, labels, weights, 100.0, recipe(epochs=2), seed=1, device="cpu")
    second = train_adapter(features, labels, weights, 100.0, recipe(epochs=2), seed=2, device="cpu")
    save_adapter(tmp_path / "a", first.model)
    save_adapter(tmp_path / "b", second.model)
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(AdapterFileError, match="checksum"):
        load_adapter(tmp_path / "a")
    with pytest.raises(AdapterFileError, match="does not exist"):
        load_adapter(tmp_path / "missing")


@pytest.mark.parametrize("head", ["neuroclip", "neuroclip-plus"])
def test_a_saved_head_with_a_setting_from_a_later_release_asks_for_an_upgrade(tmp_path, head):
    features, labels, weights = synthetic()
    if head == "neuroclip":
        model = train_adapter(features, labels, weights, 100.0, recipe(epochs=2), seed=1, device="cpu").model
    else:
        model = fit_neuroclip_plus(features, labels, weights, 100.0, config=PlusConfig(epochs=1), device="cpu")
    save_adapter(tmp_path / "a", model)
    document = json.loads((tmp_path / "a.json").read_text())
    document["adapter"]["a_later_setting"] = 1
    (tmp_path / "a.json").write_text(json.dumps(document))
    with pytest.raises(AdapterFileError, match=r"does not know \(a_later_setting\).*upgrade neuroclip"):
        load_adapter(tmp_path / "a")


# --------------------------------------------------------------------------------------------------- augmentation


def test_affine_counts_identity_flip_and_shared_draw():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, size=(3, 2, 9, 11)).astype(np.int32)
    assert np.array_equal(affine_counts(counts, AffineDraw()), counts)
    assert np.array_equal(affine_counts(counts, AffineDraw(flip=True)), counts[..., ::-1])
    same = np.repeat(counts[:1], 3, axis=0)
    rotated = affine_counts(same, AffineDraw(rotation=8.0, shear=-4.0))
    assert all(np.array_equal(rotated[0], rotated[t]) for t in range(3))  # one draw for every frame
    assert not np.array_equal(rotated, same)


def test_augmented_views_of_real_recordings(real, backbone):
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    dataset = real["dataset"]
    indices = [0, 60]
    identity = AugmentConfig(rotation_degrees=0.0, flip_probability=0.0, shear_degrees=0.0, n_views=2)
    views = augmented_view_features(dataset, indices, backbone, FrameConfig(), identity, seed=0)
    direct = frame_features([dataset[i][0] for i in indices], backbone, FrameConfig()).numpy()
    assert views.shape == (2, 2, 10, direct.shape[-1])
    np.testing.assert_allclose(views[:, 0], direct, rtol=1e-4, atol=1e-4)
    augmented = augmented_view_features(dataset, indices, backbone, FrameConfig(), AugmentConfig(n_views=3), seed=7)
    again = augmented_view_features(dataset, [60], backbone, FrameConfig(), AugmentConfig(n_views=3), seed=7)
    assert augmented.shape == (2, 3, 10, direct.shape[-1])
    np.testing.assert_array_equal(augmented[1], again[0])  # a recording's views depend on the seed and its index
    assert np.abs(augmented[:, 0] - direct).max() > 1e-3
    # the trainer draws one view per recording per epoch instead of the unaugmented features
    weights = F.normalize(torch.randn(2, direct.shape[-1], generator=torch.Generator().manual_seed(0)), dim=-1)
    plain = train_adapter(direct, np.array([0, 1]), weights, config=recipe(epochs=3), seed=0, device="cpu")
    viewed = train_adapter(direct, np.array([0, 1]), weights, config=recipe(epochs=3), seed=0, views=augmented,
                           device="cpu")
    assert not torch.equal(plain.model.adapter.down.weight, viewed.model.adapter.down.weight)
    with pytest.raises(ConfigError, match="views"):
        train_adapter(direct, np.array([0, 1]), weights, config=recipe(epochs=3), views=augmented[:, :, :5])


def test_event_level_views_go_through_the_feature_path(real, backbone):
    dataset = real["dataset"]
    indices = [0, 1]
    direct = frame_features([dataset[i][0] for i in indices], backbone, FrameConfig()).numpy()
    nothing = EventViewConfig(events=EventAugmentConfig(drop=1e-9), n_views=2)  # drops (almost surely) no event
    same = augmented_view_features(dataset, indices, backbone, FrameConfig(), nothing, seed=0)
    np.testing.assert_allclose(same[:, 1], direct, rtol=1e-4, atol=1e-4)
    views = augmented_view_features(dataset, indices, backbone, FrameConfig(), EventViewConfig(n_views=3), seed=3)
    again = augmented_view_features(dataset, [1], backbone, FrameConfig(), EventViewConfig(n_views=3), seed=3)
    assert views.shape == (2, 3, 10, direct.shape[-1]) and views.dtype == np.float32
    np.testing.assert_array_equal(views[1], again[0])
    assert np.abs(views[:, 0] - direct).max() > 1e-3
    # every encoding, not only the count-based ones
    voxel = augmented_view_features(dataset, [0], backbone, FrameConfig(encoding="voxel_grid"),
                                    EventViewConfig(n_views=1), seed=0)
    assert voxel.shape == (1, 1, 10, direct.shape[-1])


def test_view_config_of_the_cli_options():
    assert view_config(None, 0, "discrimination") is None
    assert view_config(None, 4, "time_surface") == EventViewConfig(n_views=4)
    assert view_config("counts", 2, "eventbind") == AugmentConfig(n_views=2)
    assert view_config("counts-noflip", 2, "discrimination").flip_probability == 0.0
    for kind, n, encoding, words in [("events", 0, "discrimination", "--augment-views"),
                                     ("foo", 2, "discrimination", "events"),
                                     ("counts", 2, "voxel_grid", "--augment events"),
                                     (None, -1, "discrimination", ">= 0")]:
        with pytest.raises(ConfigError, match=words):
            view_config(kind, n, encoding)
    with pytest.raises(ConfigError, match="changes something"):
        EventViewConfig(events=EventAugmentConfig())
    with pytest.raises(ConfigError, match="n_views"):
        EventViewConfig(n_views=0)
    plan = FewShotPlan(methods=("neuroclip-plus",), augment=EventViewConfig(n_views=2))
    assert plan.record()["augment"] == {"events": {"shift_px": 3.0, "rotate_degrees": 10.0, "scale": 0.1,
                                                   "drop": 0.3}, "n_views": 2, "level": "events"}



@pytest.mark.parametrize("method", list(METHODS))
def test_views_are_refused_exactly_for_the_methods_that_ignore_them(method):
    """VIEW_METHODS is what the methods do: views change a listed method's test logits and leave the others'
    unchanged, and a plan with views and only unlisted methods is refused (the views would be encoded for
    nothing)."""
    from neuroclip.fewshot.baselines import WITHIN_SHOTS
    from neuroclip.fewshot.plan import VIEW_METHODS
    from neuroclip.fewshot.protocol import _fit_method

    features, labels, weights = synthetic(n_per_class=4)
    test_x, _, _ = synthetic(n_per_class=7, seed=1)
    views = features[:, None] + 2.0 * torch.randn((features.shape[0], 2, *features.shape[1:]),
                                                  generator=torch.Generator().manual_seed(3))
    baselines = BaselineConfigs(plus=PlusConfig(epochs=4))

    def logits(shot_views):
        torch.manual_seed(0)
        predict, _ = _fit_method(method, features, labels, weights, 100.0, WITHIN_SHOTS, recipe(epochs=4),
                                 baselines, 1, shot_views, "cpu")
        return predict(test_x)

    if method != "zeroshot":  # zero-shot is scored before any shot, or view, is drawn
        assert (not torch.equal(logits(views), logits(None))) == (method in VIEW_METHODS)
    if method not in VIEW_METHODS:
        with pytest.raises(ConfigError, match="would use them"):
            FewShotPlan(methods=[method], augment=EventViewConfig(n_views=2))
    else:
        FewShotPlan(methods=[method], augment=EventViewConfig(n_views=2))


# --------------------------------------------------------------------------------------------------- experiment


class Subset:
    """Some recordings of a dataset, as a dataset (named, with the split they stand for)."""

    def __init__(self, dataset, indices, split):
        self.samples = [dataset.samples[i] for i in indices]
        self.name, self.root, self.split, self._dataset = "nmnist", dataset.root, split, dataset
        self._indices = list(indices)

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, position):
        return self._dataset[self._indices[position]]


def _split_per_digit(dataset, n_train: int, n_test: int) -> tuple[Subset, Subset]:
    """The first ``n_train`` recordings of each digit as the train split, the next ``n_test`` as the test split."""
    labels = np.array(dataset.labels)
    per_digit = [np.flatnonzero(labels == d)[:n_train + n_test] for d in range(10)]
    return (Subset(dataset, [i for group in per_digit for i in group[:n_train]], "train"),
            Subset(dataset, [i for group in per_digit for i in group[n_train:]], "test"))


def test_experiment_writes_files_and_saves_an_adapter_that_classify_uses(real, backbone, tmp_path):
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    train, test = _split_per_digit(real["dataset"], 6, 3)
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    plan = FewShotPlan(methods=["neuroclip", "tip", "zeroshot"], shots=[1, 2], seeds=[1], protocol="validation",
                       val_per_class=2, train_config=recipe(epochs=4))
    record = fewshot_experiment(train, test, backbone, names, templates, plan, device="cpu", progress=False,
                                out_json=tmp_path / "r.json", out_csv=tmp_path / "r.csv", out_png=tmp_path / "r.png",
                                save_adapter_to=tmp_path / "adapter", cpu_threads=1)
    stored = json.loads((tmp_path / "r.json").read_text())
    assert [(r["method"], r["shots"], r["seed"]) for r in stored["results"]] == [
        ("zeroshot", 0, 1), ("neuroclip", 1, 1), ("tip", 1, 1), ("neuroclip", 2, 1), ("tip", 2, 1)]
    assert all(0 <= r["top1"] <= 1 for r in stored["results"])
    config = stored["config"]
    assert config["recipe"]["optim"]["epochs"] == 4 and config["classnames"] == names
    assert config["backbone"]["model"] == "neuroclip-tiny-vit" and config["protocol"] == "validation"
    assert config["plan"]["methods"] == ["neuroclip", "tip", "zeroshot"] and config["plan"]["val_per_class"] == 2
    assert config["plan"]["train_config"]["optim"]["epochs"] == 4
    assert config["frames"]["n_frames"] == 10 and stored["neuroclip_version"]
    assert config["datasets"]["train"]["n_recordings"] == 60 and config["datasets"]["test"]["split"] == "test"
    assert (tmp_path / "r.png").stat().st_size > 0 and len((tmp_path / "r.csv").read_text().splitlines()) == 6
    assert record["config"]["saved_adapter"][0].endswith("adapter.safetensors")
    assert stored["config"]["saved_adapter"] == record["config"]["saved_adapter"]
    info = load_adapter(tmp_path / "adapter")[1]
    assert info["metadata"]["shots"] == 2 and info["metadata"]["selected_on"] == "validation"
    shots = info["metadata"]["training_recordings"]
    assert len(shots) == 20 and set(shots) <= {str(path) for path, _ in train.samples}
    streams = [test[i][0] for i in range(3)]
    predictions = classify_with_adapter(tmp_path / "adapter.json", streams, backbone, k=3)
    logits = predict_with_adapter(tmp_path / "adapter", frame_features(streams, backbone, FrameConfig()))
    assert [p.labels[0] for p in predictions] == logits.argmax(1).tolist()
    assert all(len(p.classnames) == 3 and p.classnames[0] in names for p in predictions)
    # a backbone with other weights is refused: the features would not be the ones it was trained on
    with pytest.raises(AdapterFileError, match="other weights"):
        classify_with_adapter(tmp_path / "adapter", streams, seeded_tiny_clip(1))


def test_experiment_saves_a_neuroclip_plus_head_that_classify_uses(real, backbone, tmp_path):
    """The default protocol (shots only: the val split is not read), --method neuroclip-plus --save-adapter, then
    classify --adapter: the saved head's predictions are the ones predict_with_adapter gives."""
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    from neuroclip.fewshot.plus import PlusConfig
    from neuroclip.fewshot.protocol import BaselineConfigs

    train, test = _split_per_digit(real["dataset"], 4, 3)
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    plan = FewShotPlan(methods=["neuroclip-plus", "zeroshot"], shots=[2], seeds=[1],
                       baselines=BaselineConfigs(plus=PlusConfig(epochs=5)))
    record = fewshot_experiment(train, test, backbone, names, templates, plan, val_dataset=test, device="cpu",
                                progress=False, save_adapter_to=tmp_path / "plus", cpu_threads=1)
    assert record["config"]["protocol"] == "shots" and record["config"]["datasets"]["validation"] is None
    assert record["config"]["saved_method"] == "neuroclip-plus"
    row = next(r for r in record["results"] if r["method"] == "neuroclip-plus")
    assert row["n_labelled"] == 20 and row["n_selection"] == 0 and row["selected_on"] == "shots"
    info = load_adapter(tmp_path / "plus")[1]
    assert info["head"] == "neuroclip-plus" and info["metadata"]["method"] == "neuroclip-plus"
    assert info["metadata"]["selected_on"] == "none (last epoch)" and len(info["metadata"]["training_recordings"]) == 20
    streams = [test[i][0] for i in range(3)]
    predictions = classify_with_adapter(tmp_path / "plus", streams, backbone, k=2)
    logits = predict_with_adapter(tmp_path / "plus", frame_features(streams, backbone, FrameConfig()))
    assert [p.labels[0] for p in predictions] == logits.argmax(1).tolist()


@pytest.mark.parametrize("protocol", ["shots", "validation", "last-epoch"])
def test_features_of_the_planned_train_recordings_only_give_the_same_rows(protocol):
    """run_fewshot on the rows FewShotPlan.train_positions lists (and their positions) draws the same shots and
    gives the same rows as on every train recording; a position without a row is refused."""
    from neuroclip.fewshot.plus import PlusConfig
    from neuroclip.fewshot.protocol import BaselineConfigs

    x, y, w = synthetic(n_per_class=30, n_classes=4, seed=3, spread=2.0)
    test_x, test_y, _ = synthetic(n_per_class=10, n_classes=4, seed=3, spread=2.0)
    plan = FewShotPlan(methods=["zeroshot", "tip", "linear", "neuroclip-plus"], shots=[1, 4], seeds=[1, 2],
                       protocol=protocol, val_per_class=3, baselines=BaselineConfigs(plus=PlusConfig(epochs=3)))
    positions = plan.train_positions(y.numpy(), 4, validation_given=False)
    carved = plan.pool(y.numpy(), 4, validation_given=False)[1]
    drawn = {int(i) for k in plan.shots for seed in plan.seeds
             for i in plan.draw(y.numpy(), plan.pool(y.numpy(), 4, False)[0], k, seed, 4)}
    assert positions.tolist() == sorted(drawn | set([] if carved is None else carved.tolist()))
    assert positions.size < y.numel()

    def rows(**kwargs):
        return [(r["method"], r["shots"], r["seed"], r["top1"], r["correct"])
                for r in run_fewshot(features, y, test_x, test_y, w, 30.0, plan, device="cpu", **kwargs)]

    features = x
    every = rows()
    features = x[torch.as_tensor(positions)]
    assert rows(train_positions=positions) == every
    features = x[torch.as_tensor(positions[1:])]
    with pytest.raises(ConfigError, match="no features for train position"):
        rows(train_positions=positions[1:])
    with pytest.raises(ConfigError, match="train_positions"):
        rows()


@pytest.mark.parametrize("protocol", ["shots", "validation"])
def test_an_experiment_encodes_only_the_train_recordings_its_plan_draws(real, backbone, tmp_path, protocol):
    """A train split that lists its labels has only the drawn recordings (and the carved validation part) encoded;
    the rows and the saved adapter are the ones the whole split gives (a dataset without labels is encoded whole)."""
    needs_all_recordings()  # draws more recordings per class than tests/data/samples has
    whole, test = _split_per_digit(real["dataset"], 5, 1)
    labelled = real["dataset"].subset(whole._indices)
    names, templates = [str(d) for d in range(10)], resolve_templates(None, "nmnist")
    plan = FewShotPlan(methods=["zeroshot", "tip", "neuroclip"], shots=[1, 2], seeds=[1, 2], protocol=protocol,
                       val_per_class=1, train_config=recipe(epochs=2))
    records = [fewshot_experiment(train, test, backbone, names, templates, plan, device="cpu", progress=False,
                                  cpu_threads=1, save_adapter_to=tmp_path / name)
               for train, name in ((whole, "whole"), (labelled, "labelled"))]
    rows = [[(r["method"], r["shots"], r["seed"], r["top1"], r["correct"]) for r in record["results"]]
            for record in records]
    assert rows[0] == rows[1]
    saved = [load_adapter(tmp_path / name)[1]["metadata"] for name in ("whole", "labelled")]
    assert saved[0]["training_recordings"] == saved[1]["training_recordings"]
    assert saved[0]["selected_epoch"] == saved[1]["selected_epoch"]
    counts = [record["config"]["datasets"]["train"] for record in records]
    expected = plan.train_positions(np.asarray(labelled.labels), 10, validation_given=False).size
    assert counts[0]["n_recordings"] == counts[0]["n_with_features"] == 50
    assert counts[1]["n_recordings"] == 50 and counts[1]["n_with_features"] == expected < 50


def test_labels_beyond_the_class_names_are_one_error_whether_the_split_lists_them_or_not(real, backbone):
    whole, test = _split_per_digit(real["dataset"], 1, 1)
    labelled = real["dataset"].subset(whole._indices)
    plan = FewShotPlan(methods=["zeroshot"], shots=[1], seeds=[1])
    for train in (whole, labelled):
        with pytest.raises(ConfigError, match="the train split has labels up to 9 but there are only 9 class names"):
            fewshot_experiment(train, test, backbone, [str(d) for d in range(9)], ["{}"], plan, device="cpu",
                               progress=False)


def test_the_plan_is_checked_recorded_and_is_the_one_place_shots_are_drawn():
    plan = FewShotPlan(methods=["Tip-Adapter", "neuroclip"], shots=[2, 1], seeds=[3])
    assert plan.methods == ("tip", "neuroclip") and plan.shots == (2, 1) and plan.protocol == "shots"
    record = plan.record()
    assert record["methods"] == ["tip", "neuroclip"] and "val_per_class" not in record
    labels = np.repeat(np.arange(4), 5)
    pool, held = plan.pool(labels, 4, validation_given=False)
    assert held is None and pool.tolist() == list(range(20))
    np.testing.assert_array_equal(plan.draw(labels, pool, 2, 3, 4), sample_shots(labels, 2, 3, 4))
    carved = FewShotPlan(protocol="validation", val_per_class=2)
    pool, held = carved.pool(labels, 4, validation_given=False)
    assert held.size == 8 and not set(pool.tolist()) & set(held.tolist())
    assert set(carved.draw(labels, pool, 3, 1, 4).tolist()) <= set(pool.tolist())
    for bad in ({"shots": [0]}, {"seeds": []}, {"val_per_class": 0}, {"methods": []}):
        with pytest.raises(ConfigError):
            FewShotPlan(**bad)


# --------------------------------------------------------------------------------------------------- comparing methods


@pytest.mark.parametrize("method", list(METHODS))
def test_every_row_records_which_test_recordings_it_got_right(method):
    features, labels, weights = synthetic()
    test_x, test_y, _ = synthetic(n_per_class=7, seed=1)
    plan = FewShotPlan(methods=[method], shots=[2], seeds=[1, 2], train_config=recipe(epochs=4),
                       baselines=BaselineConfigs(plus=PlusConfig(epochs=4)))
    rows = run_fewshot(features, labels, test_x, test_y, weights, 100.0, plan, device="cpu")
    assert rows
    for row in rows:
        correct = unpack_hits(row["correct"], row["n_test"])
        assert correct.shape == (28,) and correct.mean() == row["top1"]
    assert "correct" not in CSV_COLUMNS  # the CSV keeps one short line per run


@pytest.mark.parametrize("method", list(METHODS))
def test_test_recordings_scored_a_chunk_at_a_time_give_the_same_rows(method, monkeypatch):
    """Every method scores the test split SCORE_CHUNK recordings at a time (bounded memory on large splits):
    chunks of 5 give the rows of one pass over all 28."""
    from neuroclip.clip import zeroshot
    from neuroclip.fewshot import protocol

    features, labels, weights = synthetic()
    test_x, test_y, _ = synthetic(n_per_class=7, seed=1)
    plan = FewShotPlan(methods=[method], shots=[2], seeds=[1], train_config=recipe(epochs=4),
                       baselines=BaselineConfigs(plus=PlusConfig(epochs=4)))
    whole = run_fewshot(features, labels, test_x, test_y, weights, 100.0, plan, device="cpu")
    monkeypatch.setattr(zeroshot, "SCORE_CHUNK", 5)
    sizes, fit = [], protocol._fit_method

    def counted(*args, **kwargs):
        predict, hyperparameters = fit(*args, **kwargs)
        return (lambda x: sizes.append(x.shape[0]) or predict(x)), hyperparameters

    monkeypatch.setattr(protocol, "_fit_method", counted)
    chunked = run_fewshot(features, labels, test_x, test_y, weights, 100.0, plan, device="cpu")
    assert [(r["top1"], r["top5"], r["correct"]) for r in chunked] == \
        [(r["top1"], r["top5"], r["correct"]) for r in whole]
    assert sizes == ([] if method == "zeroshot" else [5, 5, 5, 5, 5, 3])


def rows_with_hits(method, shots, per_seed):
    return [{"method": method, "shots": shots, "seed": seed, "protocol": "shots", "n_test": len(hit),
             "top1": float(np.mean(hit)), "correct": pack_hits(hit)} for seed, hit in per_seed.items()]


def test_hits_pack_and_unpack_and_refuse_a_wrong_length():
    hit = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert pack_hits(hit) == "b1c0" and np.array_equal(unpack_hits(pack_hits(hit), 11), hit)
    with pytest.raises(ConfigError, match="cannot hold"):
        unpack_hits(pack_hits(hit), 30)


def test_paired_differences_by_hand():
    rng = np.random.default_rng(0)
    a = {1: rng.random(400) < 0.9, 2: rng.random(400) < 0.9, 3: rng.random(400) < 0.9}
    b = {seed: hit.copy() for seed, hit in a.items()}
    b[1][:20] = ~b[1][:20]  # seed 1: b differs from a on 20 recordings
    rows = rows_with_hits("plus", 4, a) + rows_with_hits("linear", 4, b) + \
        rows_with_hits("zeroshot", 0, {s: np.zeros(400, bool) for s in a})
    (entry,) = paired_differences(rows, "plus", "linear")
    expected = (a[1][:20].sum() - b[1][:20].sum()) / 400 / 3
    assert entry["difference"] == pytest.approx(expected) and entry["n_seeds"] == 3 and entry["n_test"] == 400
    assert entry["low"] <= expected <= entry["high"] and entry["high"] > entry["low"]
    assert (entry["seeds_ahead"], entry["seeds_behind"]) == ((1, 0) if expected > 0 else (0, 1))
    narrow = paired_differences(rows, "plus", "linear", level=0.5)[0]
    assert entry["low"] <= narrow["low"] <= narrow["high"] <= entry["high"]
    assert paired_differences(rows, "plus", "linear") == [entry]  # a fixed seed: the same interval again
    same = paired_differences(rows, "plus", "plus")[0]
    assert same["difference"] == same["low"] == same["high"] == 0
    # zero-shot (shots = 0, every row wrong here) pairs with every number of shots: a - 0, exactly
    (versus_zero,) = paired_differences(rows, "plus", "zeroshot")
    assert versus_zero["difference"] == pytest.approx(np.mean([hit.mean() for hit in a.values()]))


def test_paired_differences_sees_a_real_gap_and_not_a_null_one():
    rng = np.random.default_rng(1)
    base = {seed: rng.random(2000) < 0.85 for seed in (1, 2, 3)}
    better = {seed: hit | (rng.random(2000) < 0.4) for seed, hit in base.items()}  # about 6 points better
    twin = {seed: rng.random(2000) < 0.85 for seed in (1, 2, 3)}  # another method, the same accuracy
    rows = rows_with_hits("a", 8, better) + rows_with_hits("b", 8, base) + rows_with_hits("c", 8, twin)
    gap = paired_differences(rows, "a", "b")[0]
    assert 0.04 < gap["low"] and gap["seeds_ahead"] == 3
    null = paired_differences(rows, "c", "b")[0]
    assert null["low"] < 0 < null["high"]


def test_paired_differences_draw_each_seeds_own_recordings_independently():
    """Seeds that scored their own recordings (a within-split run's rows carry ``test_part``) are independent test
    sets. With the same differences in all nine, nine seeds that scored the same recordings (counts drawn once for
    all) vary like one test set, and nine own sets, drawn with replacement, like sqrt(81 / 17) = 2.18 times less:
    the mean of the squared multinomial counts of 9 draws from 9 seeds is 17 / 9."""
    rng = np.random.default_rng(2)
    a = rng.random(300) < 0.8
    b = a.copy()
    b[:60] = ~b[:60]  # the same 60 flipped recordings in every seed
    seeds = range(1, 10)
    shared = rows_with_hits("a", 4, {s: a for s in seeds}) + rows_with_hits("b", 4, {s: b for s in seeds})
    own = [row | {"test_part": row["seed"]} for row in shared]
    width = {name: (lambda e: e["high"] - e["low"])(paired_differences(rows, "a", "b")[0])
             for name, rows in (("shared", shared), ("own", own))}
    assert paired_differences(own, "a", "b")[0]["difference"] == paired_differences(shared, "a", "b")[0]["difference"]
    assert 1.8 < width["shared"] / width["own"] < 2.6, width


def test_paired_differences_refuse_what_they_cannot_compare():
    rows = rows_with_hits("plus", 4, {1: np.ones(10, bool)}) + rows_with_hits("tip", 4, {1: np.ones(10, bool)})
    with pytest.raises(ConfigError, match="no rows of method 'linear'"):
        paired_differences(rows, "plus", "linear")
    with pytest.raises(ConfigError, match="no trained rows of method 'linear'"):
        paired_differences(rows, "linear", "plus")
    with pytest.raises(ConfigError, match="level"):
        paired_differences(rows, "plus", "tip", level=1.5)
    old = [{k: v for k, v in row.items() if k != "correct"} for row in rows]
    with pytest.raises(ConfigError, match="run the fewshot command again"):
        paired_differences(old, "plus", "tip")
    longer = rows_with_hits("tip", 4, {1: np.ones(12, bool)})
    with pytest.raises(ConfigError, match="different test sets"):
        paired_differences(rows[:1] + longer, "plus", "tip")


def test_the_table_script_prints_the_paired_comparison(tmp_path):
    from neuroclip.fewshot import comparison_size

    rng = np.random.default_rng(2)
    rows = rows_with_hits("zeroshot", 0, {1: rng.random(50) < 0.5, 2: rng.random(50) < 0.5})
    rows += rows_with_hits("neuroclip-plus", 1, {1: rng.random(50) < 0.7, 2: rng.random(50) < 0.7})
    rows += rows_with_hits("linear", 1, {1: rng.random(50) < 0.6, 2: rng.random(50) < 0.6})
    config = {"model": "m", "frames": {"encoding": "discrimination"}, "protocol": "shots", "seeds": [1, 2]}
    write_results(rows, tmp_path / "r.json", config)
    script = REPO_ROOT / "scripts" / "fewshot_table.py"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "r.json"), "--compare", "neuroclip-plus"],
                         capture_output=True, text=True, check=True).stdout
    expected = paired_differences(rows, "neuroclip-plus", "linear")[0]
    assert f"| linear | {100 * expected['difference']:+.1f} [{100 * expected['low']:+.1f}, " in out
    assert "| zeroshot | " in out and "| neuroclip-plus |" in out  # the summary table too
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "r.json"), "--compare", "tip"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "no trained rows of method 'tip'" in missing.stderr
    assert "Traceback" not in missing.stderr
    sized = subprocess.run([sys.executable, str(script), str(tmp_path / "r.json"), "--compare", "neuroclip-plus",
                            "--size"], capture_output=True, text=True, check=True).stdout
    size = comparison_size(rows, "neuroclip-plus", "linear")[0]
    assert f"| linear | {size['recordings_needed']:,} / {size['draws_needed']:,} (" in sized
    alone = subprocess.run([sys.executable, str(script), str(tmp_path / "r.json"), "--size"], capture_output=True,
                           text=True)
    assert alone.returncode == 2 and "--compare" in alone.stderr and "Traceback" not in alone.stderr


@pytest.mark.parametrize("options, words", [(["--weights", "{dir}/nope.safetensors"], ["--weights", "no such file"]),
                                            (["--width", "64"], ["--width 64", "128"])])
def test_the_ablation_script_refuses_bad_weights_and_widths_in_one_line_before_any_work(tmp_path, options, words):
    """scripts/fewshot_plus_ablation.py: a missing --weights file or a --width under the model's is one line, before
    any recording is read (no --root exists here) and before --out is written."""
    script = REPO_ROOT / "scripts" / "fewshot_plus_ablation.py"
    done = subprocess.run([sys.executable, str(script), "--root", str(tmp_path / "no-root"), "--out",
                           str(tmp_path / "a.json"), *[o.format(dir=tmp_path) for o in options]],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and all(w in done.stderr for w in words), done.stderr
    assert not (tmp_path / "a.json").exists()


def test_the_interval_coverage_simulation_runs_and_reports_each_number_of_draws():
    script = REPO_ROOT / "scripts" / "paired_interval_coverage.py"
    out = subprocess.run([sys.executable, str(script), "--seeds", "2", "3", "--simulations", "2"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split()[0] for line in out] == ["2", "3"]
    assert all("% of 2 simulations" in line and "disagree" in line for line in out)
