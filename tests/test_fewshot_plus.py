"""NeuroCLIP+ (``neuroclip-plus``) and the default ``shots`` protocol: the head starts at the zero-shot solution
(by hand), its cache and calibration by hand, cross-validation within the shots by hand, every registered method
under the default protocol, saving and loading the head, and bad input."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuroclip.errors import ConfigError
from neuroclip.fewshot import (
    METHODS,
    AdapterFileError,
    FewShotPlan,
    load_adapter,
    predict_with_adapter,
    recipe,
    run_fewshot,
    save_adapter,
    write_results,
)
from neuroclip.fewshot.baselines import (
    WITHIN_SHOTS,
    TipAdapter,
    TipAdapterConfig,
    fit_linear_probe,
    fit_tip_adapter,
    shot_folds,
    zero_shot_logits,
)
from neuroclip.fewshot.plus import NeuroCLIPPlusClassifier, PlusConfig, calibrated_scale, fit_neuroclip_plus
from neuroclip.fewshot.protocol import BaselineConfigs

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def synthetic(n_per_class=6, n_classes=4, frames=5, width=32, seed=0, text_noise=1.5):
    """Raw frame features around a per-class direction, and class weights near (or far from) those directions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, width))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = 3 * centres[labels][:, None, :] + rng.standard_normal((labels.size, frames, width))
    weights = F.normalize(torch.tensor(centres + text_noise * rng.standard_normal(centres.shape),
                                       dtype=torch.float32), dim=-1)
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels), weights


def pooled(features):
    return F.normalize(F.normalize(features, dim=-1).mean(1), dim=-1)


# --------------------------------------------------------------------------------------------------- the head


def test_plus_at_initialisation_is_exactly_zero_shot_then_plus_the_cache_by_hand():
    features, labels, weights = synthetic()
    keys, values = pooled(features), F.one_hot(labels).float()
    plain = NeuroCLIPPlusClassifier(weights, keys, values, PlusConfig(cache=False), logit_scale=100.0).eval()
    with torch.no_grad():
        by_hand = 100.0 * torch.einsum("btc,kc->btk", F.normalize(features, dim=-1), weights).mean(1)
        torch.testing.assert_close(plain(features), by_hand)
        torch.testing.assert_close(plain(features), zero_shot_logits(features, weights, 100.0))
        cached = NeuroCLIPPlusClassifier(weights, keys, values, PlusConfig(alpha=2.0, beta=3.0), 100.0).eval()
        queries = pooled(features[:5])
        expected = by_hand[:5] + 2.0 * torch.exp(-3.0 * (1 - queries @ keys.T)) @ values
        torch.testing.assert_close(cached(features[:5]), expected)
    # zero-initialised Up and Head: the spiking branch and the head add exactly nothing before training
    assert not plain.up.weight.any() and not plain.head.weight.any() and not plain.head.bias.any()


def test_fitted_plus_with_no_epochs_keeps_the_zero_shot_predictions():
    features, labels, weights = synthetic(text_noise=0.5)
    model = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=0, cache=False),
                               device="cpu")
    logits = model.logits(features)
    zero_shot = zero_shot_logits(features, weights, 100.0)
    assert torch.equal(logits.argmax(1), zero_shot.argmax(1))
    scale = model.hyperparameters["zero_shot_scale"]
    torch.testing.assert_close(logits, zero_shot * scale / 100.0)


def test_calibrated_zero_shot_scale_by_hand():
    labels = torch.tensor([0, 1, 0, 1])
    uninformative = torch.full((4, 2), 0.3)  # every scale gives log 2: the first of the grid, 0
    assert calibrated_scale(uninformative, labels) == 0.0
    wrong = torch.tensor([[0.0, 0.5], [0.5, 0.0], [0.0, 0.5], [0.5, 0.0]])  # always wrong: trust it not at all
    assert calibrated_scale(wrong, labels) == 0.0
    right = wrong.flip(1)  # always right with a margin: the loss falls with s until float32 rounds it to 0
    scale = calibrated_scale(right, labels)
    assert scale > 30 and float(F.cross_entropy(scale * right, labels)) < 1e-6


def test_alpha_and_beta_are_learned_only_when_a_class_has_a_second_shot():
    features, labels, weights = synthetic(n_per_class=3, text_noise=3.0)
    learned = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=20), seed=1,
                                 device="cpu")
    assert (learned.alpha, learned.beta) != pytest.approx((1.0, 1.0))
    one = torch.tensor([0, 3, 6, 9])  # one shot per class: nothing to leave out, Tip-Adapter's (1, 1) stay
    single = fit_neuroclip_plus(features[one], labels[one], weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=20),
                                seed=1, device="cpu")
    assert (single.alpha, single.beta) == pytest.approx((1.0, 1.0))
    assert single.hyperparameters["selected_epoch"] == 20


def test_plus_is_deterministic_per_seed_and_learns_a_large_gap():
    features, labels, weights = synthetic(n_per_class=8, text_noise=20.0)  # text nearly unrelated to the classes
    test_x, test_y, _ = synthetic(n_per_class=20, seed=0)
    test_x, test_y = test_x[::3], test_y[::3]
    first = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=30), seed=3,
                               device="cpu")
    again = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=30), seed=3,
                               device="cpu")
    assert torch.equal(first.logits(test_x), again.logits(test_x))
    accuracy = float((first.logits(test_x).argmax(1) == test_y).float().mean())
    zero_shot = float((zero_shot_logits(test_x, weights).argmax(1) == test_y).float().mean())
    assert accuracy > zero_shot + 0.2 and accuracy > 0.9


def test_plus_beats_zero_shot_when_the_text_is_only_roughly_right():
    # a useful-but-imperfect zero-shot: 8 shots per class must improve on it, and never fall under it
    every, every_labels, weights = synthetic(n_per_class=40, text_noise=4.0, seed=4)
    shots = (torch.arange(every_labels.numel()) % 40) < 8
    features, labels, test_x, test_y = every[shots], every_labels[shots], every[~shots], every_labels[~shots]
    zero_shot = float((zero_shot_logits(test_x, weights).argmax(1) == test_y).float().mean())
    assert 0.5 < zero_shot < 0.95
    for seed in (1, 2):
        model = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=60),
                                   seed=seed, device="cpu")
        accuracy = float((model.logits(test_x).argmax(1) == test_y).float().mean())
        assert accuracy >= zero_shot + 0.05 and accuracy > 0.95


def test_per_frame_head_starts_at_zero_shot_too():
    features, labels, weights = synthetic()
    keys, values = pooled(features), F.one_hot(labels).float()
    model = NeuroCLIPPlusClassifier(weights, keys, values, PlusConfig(cache=False, head_input="frames")).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(features), zero_shot_logits(features, weights, 100.0))


def test_cross_validated_shrinkage_scales_the_same_head_trained_alongside_its_folds():
    features, labels, weights = synthetic(n_per_class=4, text_noise=3.0)
    config = PlusConfig(epochs=15)
    plain = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, config, seed=5, device="cpu")
    shrunk = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, config.replace(shrink="cv"),
                                seed=5, device="cpu")
    assert plain.hyperparameters["residual_weight"] == 1.0 and "folds" not in plain.hyperparameters
    weight = shrunk.hyperparameters["residual_weight"]
    assert shrunk.hyperparameters["folds"] == 4 and weight in config.shrink_grid
    # member 0 of the stacked training is the head trained alone: same parameters, only lambda differs
    for name in ("down.weight", "up.weight", "head.weight", "head.bias", "log_alpha", "log_beta"):
        torch.testing.assert_close(shrunk.state_dict()[name], plain.state_dict()[name])
    with torch.no_grad():
        frames = F.normalize(features, dim=-1)
        head = plain.head(F.normalize(plain.adapted(frames).mean(1), dim=-1))
        torch.testing.assert_close(shrunk(features), plain(features) - (1 - weight) * head, atol=1e-4, rtol=1e-5)
    # one shot per class: nothing to hold out, lambda stays 1
    one = torch.tensor([0, 4, 8, 12])
    single = fit_neuroclip_plus(features[one], labels[one], weights, 100.0, WITHIN_SHOTS,
                                config.replace(shrink="cv"), seed=5, device="cpu")
    assert single.hyperparameters["residual_weight"] == 1.0


def test_prior_penalty_by_hand_weighs_more_with_fewer_shots():
    from neuroclip.fewshot.plus import _Members, _prior_penalty

    features, labels, weights = synthetic(n_per_class=2)
    model = NeuroCLIPPlusClassifier(weights, pooled(features), F.one_hot(labels).float(), PlusConfig())
    members = _Members(model, torch.tensor([100.0, 100.0]))
    with torch.no_grad():
        members.up_w.fill_(0.5)  # member 0: 0.25 per weight, member 1: likewise; biases and head stay 0 but one
        members.head_b[1].fill_(2.0)  # member 1's head bias: 4 per class
    masks = torch.tensor([[True] * 8, [True] * 2 + [False] * 6])  # member 0 on 8 shots, member 1 on 2
    up = members.up_w[0].numel() * 0.25
    expected = 0.3 * (up / 8 + (up + 4.0 * model.n_classes) / 2)
    assert float(_prior_penalty(members, masks, 0.3).detach()) == pytest.approx(expected)


def test_a_strong_prior_keeps_the_head_at_the_zero_shot_start():
    features, labels, weights = synthetic(n_per_class=3, text_noise=3.0)
    test_x = synthetic(n_per_class=10, seed=7)[0]
    zero_shot = zero_shot_logits(test_x, weights, 100.0)
    config = PlusConfig(epochs=60, cache=False, calibrate=False)
    free, held = (fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, config.replace(prior=prior),
                                     seed=2, device="cpu") for prior in (0.0, 1.0))
    assert float(held.head.weight.detach().norm()) < 0.05 * float(free.head.weight.detach().norm())
    moved = [float((model.logits(test_x) - zero_shot).abs().max()) for model in (free, held)]
    assert moved[0] > 0.1 and moved[1] < 0.05 * moved[0]


def test_shrinkage_choice_by_hand():
    from neuroclip.fewshot.plus import _choose_weight

    labels = torch.tensor([0, 1])
    base = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # right on the first shot, wrong on the second
    trained = torch.tensor([[-4.0, 4.0], [-4.0, 4.0]])  # the reverse, strongly
    config = PlusConfig(shrink_grid=(0.0, 0.5, 1.0))
    # cross-entropy: lambda = 0 costs log(1 + e) + log(1 + e^-1), lambda = 1/2 or 1 pay more for the first shot
    assert _choose_weight(base, trained, labels, config) == 0.0
    # accuracy: every lambda gets one shot right; ties go to the lowest cross-entropy
    assert _choose_weight(base, trained, labels, config.replace(shrink_criterion="accuracy")) == 0.0
    assert _choose_weight(base, torch.tensor([[2.0, -2.0], [-2.0, 2.0]]), labels, config) == 1.0  # right on both


def test_plus_config_and_inputs_are_checked():
    with pytest.raises(ConfigError, match="bottleneck"):
        PlusConfig(bottleneck="gru")
    with pytest.raises(ConfigError, match="frame_keep"):
        PlusConfig(frame_keep=0.0)
    with pytest.raises(ConfigError, match="cache_fit"):
        PlusConfig(cache_fit="search")
    with pytest.raises(ConfigError, match="shrink"):
        PlusConfig(shrink="always")
    with pytest.raises(ConfigError, match="head_input"):
        PlusConfig(head_input="max")
    with pytest.raises(ConfigError, match="shrink_grid"):
        PlusConfig(shrink_grid=(0.5, -1.0))
    with pytest.raises(ConfigError, match="prior"):
        PlusConfig(prior=-0.1)
    features, labels, weights = synthetic()
    with pytest.raises(ConfigError, match="class weights"):
        fit_neuroclip_plus(features, labels, weights[:, :8], device="cpu")
    with pytest.raises(ConfigError, match="views"):
        fit_neuroclip_plus(features, labels, weights, views=features, device="cpu")


# --------------------------------------------------------------------------------------------------- protocol


def test_shot_folds_and_leave_one_out_tip_search_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 0, 1])
    folds = shot_folds(labels)
    assert [f.tolist() for f in folds] == [[True, False, True, False, False, False],
                                          [False, True, False, True, False, False],
                                          [False, False, False, False, True, True]]
    assert len(shot_folds(torch.arange(3).repeat_interleave(9))) == 4  # at most 4 folds
    features, labels, weights = synthetic(n_per_class=2)
    keys, values = pooled(features), F.one_hot(labels).float()
    config = TipAdapterConfig(beta_steps=3, alpha_steps=2)
    tip = TipAdapter(keys, values, weights, 100.0)
    score = tip.search_leave_one_out(keys, labels, config)
    betas, alphas = config.grid()
    best = -1.0
    for beta in betas:  # shot i is scored without its own key
        for alpha in alphas:
            cache = torch.exp(-beta * (1 - keys @ keys.T)) * (1 - torch.eye(8))
            accuracy = float(((100 * keys @ weights.T + alpha * cache @ values).argmax(1) == labels).float().mean())
            best = max(best, accuracy)
    assert score == pytest.approx(best)
    single = fit_tip_adapter(features[::2], labels[::2], weights, 100.0, WITHIN_SHOTS, device="cpu")
    assert (single.alpha, single.beta) == (1.0, 1.0)  # one shot per class: the defaults
    probe = fit_linear_probe(features, labels, 4, WITHIN_SHOTS, device="cpu")
    assert probe.hyperparameters["weight_decay"] in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_registered_method_runs_under_the_default_shots_protocol(method):
    features, labels, weights = synthetic(n_per_class=6)
    test_x, test_y, _ = synthetic(n_per_class=3, seed=1)
    baselines = BaselineConfigs(plus=PlusConfig(epochs=5))
    plan = FewShotPlan(methods=[method], shots=[1, 2], seeds=[1], train_config=recipe(epochs=3), baselines=baselines)
    rows = run_fewshot(features, labels, test_x, test_y, weights, 100.0, plan, device="cpu", cpu_threads=1)
    assert rows and all(r["protocol"] == "shots" and 0 <= r["top1"] <= 1 for r in rows)
    for row in rows:
        assert row["n_selection"] == 0 and row["n_labelled"] == row["n_train"] == 4 * row["shots"]
        assert row["selected_on"] == ("none" if method == "zeroshot" else "shots")


def test_labelled_recordings_are_counted_in_rows_and_the_json(tmp_path):
    features, labels, weights = synthetic(n_per_class=8)
    test_x, test_y, _ = synthetic(n_per_class=3, seed=1)
    baselines = BaselineConfigs(plus=PlusConfig(epochs=5))
    plan = FewShotPlan(methods=["neuroclip-plus", "tip"], shots=[2], seeds=[1], protocol="validation", val_per_class=3,
                       baselines=baselines)
    rows = run_fewshot(features, labels, test_x, test_y, weights, 100.0, plan, device="cpu")
    assert all(r["n_train"] == 8 and r["n_selection"] == 12 and r["n_labelled"] == 20 for r in rows)
    record = write_results(rows, tmp_path / "r.json", {"protocol": "validation"}, tmp_path / "r.csv")
    stored = json.loads((tmp_path / "r.json").read_text())
    assert stored == json.loads(json.dumps(record, default=str))
    assert all(s["n_labelled"] == 20 for s in stored["summary"]) and "validation" in stored["protocols"]
    assert "n_labelled" in (tmp_path / "r.csv").read_text().splitlines()[0]


# --------------------------------------------------------------------------------------------------- persistence


def test_saved_plus_round_trip_gives_identical_logits(tmp_path):
    features, labels, weights = synthetic()
    model = fit_neuroclip_plus(features, labels, weights, 100.0, WITHIN_SHOTS, PlusConfig(epochs=5), seed=2,
                               device="cpu")
    _, json_path = save_adapter(tmp_path / "plus", model, {"classnames": list("abcd")}, n_frames=5)
    document = json.loads(json_path.read_text())
    assert document["head"] == "neuroclip-plus" and document["format_version"] == 2
    with torch.no_grad():
        expected = model(features)
    assert torch.equal(predict_with_adapter(tmp_path / "plus", features), expected)
    loaded, _ = load_adapter(json_path)
    assert isinstance(loaded, NeuroCLIPPlusClassifier) and loaded.alpha == model.alpha
    assert math.isclose(float(loaded.zero_shot_scale), model.hyperparameters["zero_shot_scale"])
    assert document["adapter"]["shrink"] == "none" and float(loaded.residual_weight) == 1.0
    # a head saved before lambda existed (no residual_weight tensor, no shrink fields) loads with lambda = 1
    from safetensors.torch import load_file, save_file

    weights_file = json_path.with_suffix(".safetensors")
    tensors = load_file(str(weights_file))
    del tensors["residual_weight"]
    save_file(tensors, str(weights_file), metadata={"format": document["format"]})
    old = dict(document, adapter={k: v for k, v in document["adapter"].items()
                                  if k not in ("shrink", "shrink_grid", "shrink_criterion", "max_folds", "head_input")})
    old.pop("weights_sha256")
    json_path.write_text(json.dumps(old))
    assert torch.equal(predict_with_adapter(tmp_path / "plus", features), expected)
    document = old
    with pytest.raises(ConfigError, match="4 classes"):
        predict_with_adapter(json_path, features, F.normalize(torch.randn(3, weights.shape[1]), dim=-1))
    document["head"] = "neuroclip-future"
    json_path.write_text(json.dumps(document))
    with pytest.raises(AdapterFileError, match="upgrade"):
        load_adapter(json_path)
