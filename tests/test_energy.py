"""Energy accounting against hand counts on small networks, and against PyTorch's FLOP counter."""

import json

import pytest
import torch
from torch import nn

from neuroclip.energy import (
    ENERGY_PRESETS,
    MatMul,
    OperationCounter,
    dense_macs,
    energy_report,
    format_energy_report,
    resolve_presets,
)
from neuroclip.errors import ConfigError


class TwoLayer(nn.Module):
    """Linear(4 -> 3) on a real input, a threshold (spikes), Linear(3 -> 2) on the spikes; time-first [T, B, F]."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2((self.fc1(x) > 0).float())


def toy(weights1, bias1):
    model = TwoLayer()
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor(weights1))
        model.fc1.bias.copy_(torch.tensor(bias1))
    return model


def test_two_layer_network_matches_a_hand_count():
    # fc1 picks the input's first three features, so its spikes are exactly the signs of x[..., :3]
    model = toy([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]], [0.0, 0.0, 0.0])
    x = torch.tensor([  # T = 2, B = 2, features 4
        [[1.0, -1.0, 2.0, 0.5], [-1.0, -1.0, -1.0, 0.3]],
        [[1.0, 1.0, 1.0, 0.1], [0.5, -2.0, -1.0, 0.2]],
    ])
    counter = OperationCounter(model, timesteps=2)
    counter.measure(lambda: model(x), batch_size=2)
    first, second = counter.layers()
    # fc1: 4 * 3 = 12 MACs per step, real input differing between steps: 2 steps * 12 = 24 MACs per sample
    assert (first.name, first.spiking_input, first.steps, first.flops) == ("fc1", False, 2, 12)
    assert first.macs == 24 and first.sops == 0
    # fc2: 3 * 2 = 6 FLOPs per step; spikes: step 1 [1,0,1], [0,0,0]; step 2 [1,1,1], [1,0,0] -> 6 ones of 12
    assert (second.spiking_input, second.steps, second.flops) == (True, 2, 6)
    assert second.firing_rate == pytest.approx(6 / 12)
    assert second.sops == pytest.approx(0.5 * 2 * 6) and second.macs == 0
    report = energy_report([first, second], "45nm-fp32", baselines={"ann": 2 * (12 + 6)})
    fp32 = ENERGY_PRESETS["45nm-fp32"]
    expected_pj = 4.6 * 24 + 0.9 * 6
    assert (fp32.mac_pj, fp32.ac_pj) == (4.6, 0.9)
    assert report["totals"]["energy_mj"]["45nm-fp32"] == pytest.approx(expected_pj * 1e-9)
    assert report["baselines"]["ann"]["energy_mj"]["45nm-fp32"] == pytest.approx(4.6 * 36 * 1e-9)
    assert report["baselines"]["ann"]["snn_energy_ratio"]["45nm-fp32"] == pytest.approx(expected_pj / (4.6 * 36))
    rows = report["layers"]
    assert [row["input"] for row in rows] == ["real", "spikes"] and rows[1]["firing_rate"] == 0.5
    json.dumps(report)  # JSON-ready
    text = format_energy_report(report)
    assert "fc1" in text.splitlines()[1] and "fc2" in text.splitlines()[2]


def test_a_static_input_repeated_over_time_costs_its_macs_once():
    model = toy([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]], [0.0, 0.0, 0.0])
    image = torch.tensor([[1.0, -1.0, 2.0, 0.5], [0.2, 0.3, -0.4, 0.5], [1.0, 1.0, 1.0, 1.0]])
    x = image.unsqueeze(0).expand(4, -1, -1)  # T = 4, B = 3
    counter = OperationCounter(model, timesteps=4)
    counter.measure(lambda: model(x), batch_size=3)
    first, second = counter.layers()
    assert first.repeated_input and first.steps == 4 and first.dense_macs == 48 and first.macs == 12
    assert second.firing_rate == pytest.approx((2 + 2 + 3) / 9)  # the same spikes at every step
    assert second.sops == pytest.approx(7 / 9 * 4 * 6)


def test_the_ann_mode_counts_every_layer_as_macs():
    model = toy([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]], [0.0, 0.0, 0.0])
    counter = OperationCounter(model, timesteps=1, spiking=False)
    counter.measure(lambda: model(torch.randn(5, 4)), batch_size=5)
    assert [layer.macs for layer in counter.layers()] == [12, 6]
    assert all(layer.sops == 0 for layer in counter.layers())


def test_matmul_rate_comes_from_the_binary_operand():
    matmul = MatMul()
    a = torch.tensor([[[2.0, 3.0], [1.0, 0.0]]])  # integer-valued, not binary: [1, 2, 2]
    b = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # binary [1, 2, 3]: 2 ones of 6
    counter = OperationCounter(matmul, timesteps=1)
    counter.measure(lambda: matmul(a, b), batch_size=1)
    (layer,) = counter.layers()
    assert layer.dense_macs == 2 * 2 * 3 and layer.firing_rate == pytest.approx(2 / 6)
    assert layer.sops == pytest.approx(4) and layer.macs == 0


def test_conv_macs_agree_with_pytorchs_flop_counter():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 5))
    x = torch.randn(2, 3, 6, 6)
    counter = OperationCounter(model, spiking=False)
    counter.measure(lambda: model(x), batch_size=2)
    by_hand = (6 * 6 * 8 * 3 * 9) + (6 * 6 * 4 * 8) + (144 * 5)
    assert sum(layer.dense_macs for layer in counter.layers()) == by_hand
    assert dense_macs(lambda: model(x)) / 2 == by_hand


def test_presets_are_horowitz_45nm_and_unknown_names_are_refused():
    assert {name: (p.mac_pj, p.ac_pj) for name, p in ENERGY_PRESETS.items()} == {
        "45nm-fp32": (4.6, 0.9), "45nm-fp16": (1.5, 0.4), "45nm-int8": (0.23, 0.03)}
    assert [p.name for p in resolve_presets(None)] == list(ENERGY_PRESETS)
    with pytest.raises(ConfigError, match="unknown energy preset"):
        resolve_presets(["45nm-fp64"])
    with pytest.raises(ConfigError, match="nothing measured"):
        OperationCounter(TwoLayer()).layers()
