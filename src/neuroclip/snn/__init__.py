"""Spiking neurons shared by the NeuroCLIP adapter and SpikeCLIP."""

from neuroclip.snn.neurons import (
    LIF,
    NEURON_PRESETS,
    SURROGATES,
    LIFConfig,
    RectangularSpike,
    SigmoidSpike,
    heaviside,
    lif_multistep,
    lif_step,
    neuron_config,
    rectangular_derivative,
    reset_states,
    sigmoid_derivative,
    spike,
)

__all__ = [
    "LIF",
    "NEURON_PRESETS",
    "SURROGATES",
    "LIFConfig",
    "RectangularSpike",
    "SigmoidSpike",
    "heaviside",
    "lif_multistep",
    "lif_step",
    "neuron_config",
    "rectangular_derivative",
    "reset_states",
    "sigmoid_derivative",
    "spike",
]
