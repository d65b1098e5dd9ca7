"""LIF neurons: dynamics and surrogate gradients pinned against values computed by hand."""

import math

import pytest
import torch

from neuroclip.errors import ConfigError
from neuroclip.snn import (
    LIF,
    NEURON_PRESETS,
    LIFConfig,
    RectangularSpike,
    SigmoidSpike,
    lif_multistep,
    lif_step,
    neuron_config,
    reset_states,
)

NEUROCLIP = NEURON_PRESETS["neuroclip"]
SPIKECLIP = NEURON_PRESETS["spikeclip"]


def sequence(values):
    """A [T, 1] input sequence that records its gradient."""
    return torch.tensor(values, dtype=torch.float64).view(-1, 1).requires_grad_(True)


def unrolled(x_seq, config, v0=None):
    """The sequence through the single-step reference."""
    v, spikes = v0, []
    for t in range(x_seq.shape[0]):
        s, v = lif_step(x_seq[t], v, config)
        spikes.append(s)
    return torch.stack(spikes), v


# --------------------------------------------------------------------------------------------------- presets


def test_presets_hold_the_papers_constants():
    assert (NEUROCLIP.decay, NEUROCLIP.input_scale, NEUROCLIP.threshold) == (0.25, 1.0, 0.5)
    assert (NEUROCLIP.reset, NEUROCLIP.reset_value, NEUROCLIP.detach_reset) == ("hard", 0.0, False)
    assert (NEUROCLIP.surrogate, NEUROCLIP.surrogate_parameter) == ("rectangular", 1.0)
    # spikingjelly LIF, tau 2: H = V + (X - V)/2
    assert (SPIKECLIP.decay, SPIKECLIP.input_scale, SPIKECLIP.threshold) == (0.5, 0.5, 1.0)
    assert (SPIKECLIP.reset, SPIKECLIP.detach_reset) == ("hard", True)
    assert (SPIKECLIP.surrogate, SPIKECLIP.surrogate_parameter) == ("sigmoid", 4.0)


def test_bad_parameters_raise_config_errors():
    with pytest.raises(ConfigError, match="reset"):
        LIFConfig(reset="sideways")
    with pytest.raises(ConfigError, match="surrogate"):
        LIFConfig(surrogate="triangle")
    with pytest.raises(ConfigError, match="surrogate_parameter"):
        LIFConfig(surrogate_parameter=0.0)
    with pytest.raises(ConfigError, match="tau"):
        LIFConfig.from_time_constant(1.0)
    with pytest.raises(ConfigError, match="preset"):
        neuron_config("izhikevich")
    with pytest.raises(ConfigError, match="T >= 1"):
        lif_multistep(torch.zeros(0, 3))


# --------------------------------------------------------------------------------------------------- dynamics


def test_neuroclip_dynamics_by_hand():
    # u_t = 0.25 u_{t-1} + x_t, fire at u >= 0.5, hard reset to 0:
    # t1: u = 0.25 -> 0;  t2: u = 0.0625 + 0.5 = 0.5625 -> fire, reset;  t3: u = 0.125 -> 0;
    # t4: u = 0.03125 + 1 = 1.03125 -> fire, reset;  t5: u = -0.25 -> 0, membrane -0.25
    spikes, v = lif_multistep(torch.tensor([0.25, 0.5, 0.125, 1.0, -0.25]).view(5, 1), NEUROCLIP)
    assert spikes.flatten().tolist() == [0, 1, 0, 1, 0]
    assert v.item() == -0.25


def test_neuroclip_fires_exactly_at_threshold():
    spikes, v = lif_multistep(torch.tensor([[0.5], [0.4999]]), NEUROCLIP)
    assert spikes.flatten().tolist() == [1, 0]
    assert v.item() == pytest.approx(0.4999)


def test_spikeclip_dynamics_by_hand():
    # H = 0.5 V + 0.5 X, fire at H >= 1, reset to 0:
    # H1 = 0.75; H2 = 0.375 + 0.4 = 0.775; H3 = 0.3875 + 1.25 = 1.6375 -> fire, reset; H4 = 0.05
    spikes, v = lif_multistep(torch.tensor([1.5, 0.8, 2.5, 0.1], dtype=torch.float64).view(4, 1), SPIKECLIP)
    assert spikes.flatten().tolist() == [0, 0, 1, 0]
    assert v.item() == pytest.approx(0.05, abs=1e-12)


def test_soft_reset_and_no_reset_by_hand():
    soft = neuron_config("neuroclip", reset="soft")
    # soft: u1 = 0.75 -> fire, 0.75 - 0.5 = 0.25; u2 = 0.0625 + 0.5 = 0.5625 -> fire, 0.0625
    spikes, v = lif_multistep(torch.tensor([[0.75], [0.5]]), soft)
    assert spikes.flatten().tolist() == [1, 1] and v.item() == 0.0625
    none = neuron_config("neuroclip", reset="none")
    spikes, v = lif_multistep(torch.tensor([[0.75], [0.5]]), none)
    assert spikes.flatten().tolist() == [1, 1] and v.item() == 0.25 * 0.75 + 0.5
    x = torch.tensor([[0.75]])
    _, v = lif_multistep(x, none)
    x += 1  # the final membrane is its own tensor, not a view of the input
    assert v.item() == 0.75


# --------------------------------------------------------------------------------------------------- surrogates


def test_rectangular_surrogate_window():
    x = torch.tensor([-0.6, -0.5, -0.49, 0.0, 0.49, 0.5, 0.6], requires_grad=True)
    out = RectangularSpike.apply(x, 1.0)
    out.sum().backward()
    assert out.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0, 0]  # 1[|x| < 1/2], strict at the edges
    x.grad = None
    RectangularSpike.apply(x, 2.0).sum().backward()
    assert x.grad.tolist() == [0.5] * 7  # width 2: 1/2 inside |x| < 1


def test_sigmoid_surrogate_value():
    x = torch.tensor([0.0, 0.3], dtype=torch.float64, requires_grad=True)
    SigmoidSpike.apply(x, 4.0).sum().backward()
    s = 1 / (1 + math.exp(-4 * 0.3))
    assert x.grad[0].item() == pytest.approx(4 * 0.25)
    assert x.grad[1].item() == pytest.approx(4 * s * (1 - s))


def test_neuroclip_gradient_through_the_reset_by_hand():
    # x = (0.25, 0.5, 0.125), loss = S1 + 2 S2 + 4 S3. H = (0.25, 0.5625, 0.125), S = (0, 1, 0), all H inside the
    # surrogate window (0, 1), so dS/dH = 1. Reset not detached: dV/dH = (1 - S) - H dS/dH.
    # t3: gH = 4                               -> gx3 = 4,        gV2 = 0.25 * 4 = 1
    # t2: gH = 2 + 1 * (0 - 0.5625) = 1.4375   -> gx2 = 1.4375,   gV1 = 0.359375
    # t1: gH = 1 + 0.359375 * (1 - 0.25)       -> gx1 = 1.26953125
    x = sequence([0.25, 0.5, 0.125])
    spikes, _ = lif_multistep(x, NEUROCLIP)
    (spikes.flatten() * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)).sum().backward()
    assert x.grad.flatten().tolist() == [1.26953125, 1.4375, 4.0]


def test_detached_reset_changes_the_gradient_by_hand():
    # the same with the reset detached: t2: gH = 2 (dV/dH = 1 - S = 0), gV1 = 0.5; t1: gH = 1 + 0.5 = 1.5
    x = sequence([0.25, 0.5, 0.125])
    spikes, _ = lif_multistep(x, neuron_config("neuroclip", detach_reset=True))
    (spikes.flatten() * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)).sum().backward()
    assert x.grad.flatten().tolist() == [1.5, 2.0, 4.0]


def test_spikeclip_gradient_by_hand():
    # H = (0.75, 0.775, 1.6375, 0.05), S = (0, 0, 1, 0); loss = sum S; sg(h) = 4 s (1 - s), s = sigmoid(4 (h - 1));
    # reset detached: dV/dH = 1 - S; dH/dX = 0.5, dH_t/dV_{t-1} = 0.5
    def sg(h):
        s = 1 / (1 + math.exp(-4 * (h - 1)))
        return 4 * s * (1 - s)

    g4 = sg(0.05)
    g3 = sg(1.6375) + 0.5 * g4 * 0.0
    g2 = sg(0.775) + 0.5 * g3 * 1.0
    g1 = sg(0.75) + 0.5 * g2 * 1.0
    x = sequence([1.5, 0.8, 2.5, 0.1])
    spikes, _ = lif_multistep(x, SPIKECLIP)
    spikes.sum().backward()
    expected = [0.5 * g1, 0.5 * g2, 0.5 * g3, 0.5 * g4]
    assert x.grad.flatten().tolist() == pytest.approx(expected, rel=1e-12)


def test_spikeclip_preset_matches_spikingjelly():
    neuron_module = pytest.importorskip("spikingjelly.activation_based.neuron")
    surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    torch.manual_seed(0)
    x = (torch.randn(6, 4, 5, dtype=torch.float64) * 1.5 + 0.8).requires_grad_(True)
    reference = neuron_module.LIFNode(tau=2.0, detach_reset=True, step_mode="m",
                                      surrogate_function=surrogate.Sigmoid(alpha=4.0))
    weights = torch.randn(6, 4, 5, dtype=torch.float64)
    (reference(x) * weights).sum().backward()
    expected_grad, x.grad = x.grad.clone(), None
    ours = LIF("spikeclip")
    out = ours(x)
    (out * weights).sum().backward()
    assert torch.equal(out.detach(), reference(x.detach()))
    torch.testing.assert_close(x.grad, expected_grad, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------------- fused = unrolled


@pytest.mark.parametrize("config", [
    NEUROCLIP, SPIKECLIP, neuron_config("neuroclip", reset="soft"), neuron_config("neuroclip", reset="none"),
    neuron_config("spikeclip", reset="soft", detach_reset=False), neuron_config("neuroclip", reset_value=-0.2),
    neuron_config("spikeclip", detach_reset=False, reset_value=0.3),
], ids=["neuroclip", "spikeclip", "soft", "none", "soft-attached", "reset-value", "sigmoid-attached-reset-value"])
def test_fused_sequence_equals_the_step_function(config):
    torch.manual_seed(1)
    x = (torch.rand(7, 3, 4, dtype=torch.float64) * 1.6 - 0.2).requires_grad_(True)
    v0 = (torch.rand(3, 4, dtype=torch.float64) * 0.4).requires_grad_(True)
    weights, v_weights = torch.randn(7, 3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    spikes, v = lif_multistep(x, config, v0)
    ((spikes * weights).sum() + (v * v_weights).sum()).backward()
    fused = (spikes.detach(), v.detach(), x.grad.clone(), v0.grad.clone())
    x.grad = v0.grad = None
    spikes, v = unrolled(x, config, v0)
    ((spikes * weights).sum() + (v * v_weights).sum()).backward()
    assert fused[0].sum() > 0 and fused[0].sum() < fused[0].numel()  # the input makes it fire and not fire
    assert torch.equal(fused[0], spikes)
    torch.testing.assert_close(fused[1], v, rtol=0, atol=1e-12)
    torch.testing.assert_close(fused[2], x.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fused[3], v0.grad, rtol=1e-12, atol=1e-12)
    assert fused[2].abs().sum() > 0


# --------------------------------------------------------------------------------------------------- module state


def test_module_starts_at_rest_every_call_and_keeps_the_final_membrane():
    neuron = LIF("neuroclip")
    x = torch.tensor([0.25, 0.25]).view(2, 1)
    first = neuron(x)
    assert neuron.state.item() == pytest.approx(0.3125)  # 0.25 * 0.25 + 0.25
    assert torch.equal(neuron(x), first)  # no membrane carried between calls
    assert not neuron.state.requires_grad


def test_carried_state_continues_the_sequence_until_reset():
    # u = 0.25, 0.3125, 0.078125 + 0.45 = 0.528125 (fires only with the carried membrane), 0.1
    x = torch.tensor([0.25, 0.25, 0.45, 0.1]).view(4, 1)
    whole, _ = lif_multistep(x, NEUROCLIP)
    assert whole.flatten().tolist() == [0, 0, 1, 0]
    network = torch.nn.Sequential(LIF("neuroclip", carry_state=True))
    halves = torch.cat([network(x[:2]), network(x[2:])])
    assert torch.equal(halves, whole)
    reset_states(network)
    assert network[0].state is None
    assert torch.equal(network(x[2:]), lif_multistep(x[2:], NEUROCLIP)[0])


def test_single_step_method_matches_the_sequence():
    x = torch.tensor([0.3, 0.3, 0.3, 0.9]).view(4, 1)
    neuron = LIF("neuroclip")
    steps = torch.stack([neuron.step(x[t]) for t in range(4)])
    assert torch.equal(steps, lif_multistep(x, NEUROCLIP)[0])
    neuron.reset_state()
    assert neuron.state is None
