"""Energy of spiking and conventional networks, estimated from operation counts (the Spikformer/Spikingformer and
SpikeCLIP convention).

* A conventional (ANN) layer does one multiply-accumulate (MAC) per weight use: ``E_ANN = E_MAC * MACs``.
* A spiking layer whose input is a binary spike tensor does an accumulate (AC) only where a spike arrives:
  ``SOPs_l = fr_l * T * FLOPs_l`` with ``fr_l`` the firing rate (fraction of ones) of the spike tensor entering layer
  ``l``, measured on real inputs, and ``FLOPs_l`` the layer's MACs per timestep.
* Layers fed real values in a spiking network (the first convolution on the analog image, a projection after the
  temporal sum) still do MACs: ``E_SNN = E_MAC * MACs(real-valued inputs) + E_AC * sum_l SOPs_l``.

Membrane updates, batch/layer norms and element-wise operations are not counted (as in the Spikformer line and the
SpikeCLIP paper's appendix, per its reviews). Counted layers: ``nn.Conv1d``, ``nn.Conv2d``, ``nn.Conv3d``,
``nn.Linear`` and :class:`MatMul` (wrap a tensor product in it to have it counted, e.g. spiking self-attention).

A layer's input counts as spikes when every value is 0 or 1; anything else (the analog image, event counts, a real
temporal sum) counts as real-valued. A real-valued input that is the same at every timestep (a static image repeated
``T`` times) is computed once, so its MACs count once, not ``T`` times.

For a :class:`MatMul` of two operands, the AC rate is the firing rate of the first binary operand: ``Q Kᵀ`` (both
spikes) is driven by ``Q``, ``A V`` (integer ``A`` times binary ``V``) by ``V``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from neuroclip.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class EnergyPreset:
    """Energy of one multiply-accumulate (MAC) and one accumulate (AC), in picojoules."""

    name: str
    mac_pj: float
    ac_pj: float
    source: str


# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: a MAC is a multiply plus an add.
ENERGY_PRESETS = {
    "45nm-fp32": EnergyPreset("45nm-fp32", 4.6, 0.9, "Horowitz 2014, 45nm: fp32 mult 3.7 + add 0.9 pJ; add 0.9 pJ"),
    "45nm-fp16": EnergyPreset("45nm-fp16", 1.5, 0.4, "Horowitz 2014, 45nm: fp16 mult 1.1 + add 0.4 pJ; add 0.4 pJ"),
    "45nm-int8": EnergyPreset("45nm-int8", 0.23, 0.03,
                              "Horowitz 2014, 45nm: int8 mult 0.2 + add 0.03 pJ; add 0.03 pJ"),
}


def resolve_presets(names=None) -> list[EnergyPreset]:
    """Presets by name (all of them for None); EnergyPreset objects pass through."""
    if names is None:
        return list(ENERGY_PRESETS.values())
    names = [names] if isinstance(names, (str, EnergyPreset)) else list(names)
    if all(isinstance(name, EnergyPreset) for name in names):
        return names
    unknown = [name for name in names if name not in ENERGY_PRESETS]
    if unknown:
        raise ConfigError(f"unknown energy preset(s) {unknown}; known: {', '.join(ENERGY_PRESETS)}")
    return [ENERGY_PRESETS[name] for name in names]


class MatMul(nn.Module):
    """``a @ b`` as a module, so that :class:`OperationCounter` sees it (attention products have no module)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


COUNTED_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, MatMul)


@dataclasses.dataclass
class LayerOps:
    """What one layer did, per sample, summed over every call of a measurement.

    ``dense_macs``: the MACs of the layer's dense arithmetic per sample (``T * FLOPs_l`` in a multi-step network);
    ``steps``: timesteps the layer runs per sample (T inside the time loop, 1 outside it);
    ``spiking_input``: whether the input was binary spikes (every call);
    ``firing_rate``: fraction of ones in the spike input (None for real-valued input);
    ``repeated_input``: a real-valued input identical at every timestep, so computed once.
    """

    name: str
    kind: str
    dense_macs: float = 0.0
    steps: int = 1
    spiking_input: bool = True
    repeated_input: bool = True
    nonzero: int = 0
    elements: int = 0
    calls: int = 0
    parameters: int = 0

    @property
    def flops(self) -> float:
        """FLOPs_l: MACs per timestep per sample."""
        return self.dense_macs / max(self.steps, 1)

    @property
    def firing_rate(self) -> float | None:
        if not self.spiking_input:
            return None
        return self.nonzero / self.elements if self.elements else 0.0

    @property
    def sops(self) -> float:
        """Synaptic operations (accumulates) per sample: fr * T * FLOPs_l."""
        return self.firing_rate * self.dense_macs if self.spiking_input else 0.0

    @property
    def macs(self) -> float:
        """MACs per sample actually needed: zero for spike input, once per sample for a repeated real input."""
        if self.spiking_input:
            return 0.0
        return self.flops if self.repeated_input and self.steps > 1 else self.dense_macs

    def energy_pj(self, preset: EnergyPreset) -> float:
        return preset.mac_pj * self.macs + preset.ac_pj * self.sops

    def as_dict(self, presets: list[EnergyPreset]) -> dict:
        rate = self.firing_rate
        return {
            "layer": self.name, "type": self.kind, "parameters": self.parameters,
            "input": "spikes" if self.spiking_input else ("real, same every step" if self.repeated_input
                                                         and self.steps > 1 else "real"),
            "steps": self.steps, "flops": self.flops, "dense_macs": self.dense_macs,
            "firing_rate": None if rate is None else round(rate, 6), "sops": self.sops, "macs": self.macs,
            "energy_mj": {p.name: self.energy_pj(p) * 1e-9 for p in presets},
        }


def _is_binary(tensor: torch.Tensor) -> bool:
    if tensor.dtype == torch.bool:
        return True
    return bool(((tensor == 0) | (tensor == 1)).all())


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> tuple[int, int]:
    """(dense MACs of this call, rows = number of independent input vectors/images in the call)."""
    if isinstance(module, MatMul):
        a, b = inputs[0], inputs[1]
        rows = math.prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        return rows * a.shape[-2] * a.shape[-1] * b.shape[-1], rows
    x = inputs[0]
    if isinstance(module, nn.Linear):
        rows = x.numel() // module.in_features
        return rows * module.in_features * module.out_features, rows
    # convolutions: every output element takes in_channels/groups * prod(kernel) MACs
    kernel = math.prod(module.kernel_size) * (module.in_channels // module.groups)
    rows = x.shape[0] if x.ndim == len(module.kernel_size) + 2 else 1
    return output.numel() * kernel, rows


class OperationCounter:
    """Count MACs and spike rates of every counted layer of ``model`` with forward hooks.

    ``timesteps``: T of the network (a layer run ``T * batch`` times per batch is inside the time loop);
    ``spiking``: False counts every layer as an ANN layer (all MACs, as for an ANN counterpart).

    Use::

        counter = OperationCounter(model, timesteps=4)
        for batch in batches:
            counter.measure(lambda: model(batch), batch_size=len(batch))
        rows = counter.layers()
    """

    def __init__(self, model: nn.Module, timesteps: int = 1, spiking: bool = True,
                 counted_types: tuple = COUNTED_TYPES):
        if not isinstance(timesteps, int) or timesteps < 1:
            raise ConfigError(f"timesteps must be a positive integer, got {timesteps!r}")
        self.model = model
        self.timesteps = timesteps
        self.spiking = spiking
        self.samples = 0
        self._batch_size = 0
        self._layers: dict[str, LayerOps] = {}
        self._modules = [(name or type(module).__name__, module) for name, module in model.named_modules()
                         if isinstance(module, counted_types)]

    def _hook(self, name: str):
        def record(module, inputs, output):
            macs, rows = _macs(module, inputs, output)
            layer = self._layers.get(name)
            if layer is None:
                layer = self._layers[name] = LayerOps(
                    name, type(module).__name__, parameters=sum(p.numel() for p in module.parameters()))
            batch, steps = self._batch_size, self.timesteps
            step_count = steps if steps > 1 and rows % (steps * batch) == 0 else 1
            layer.steps = max(layer.steps, step_count) if layer.calls else step_count
            layer.calls += 1
            layer.dense_macs += macs
            operand = None
            if self.spiking:
                candidates = inputs[:2] if isinstance(module, MatMul) else inputs[:1]
                operand = next((x for x in candidates if _is_binary(x)), None)
            if operand is not None:
                layer.nonzero += int(torch.count_nonzero(operand))
                layer.elements += operand.numel()
                return
            layer.spiking_input = False
            if not self.spiking:
                layer.repeated_input = False
            elif step_count > 1 and layer.repeated_input:
                per_step = inputs[0].detach().reshape(steps, -1)
                layer.repeated_input = bool((per_step == per_step[:1]).all())
            elif step_count == 1:
                layer.repeated_input = False

        return record

    def measure(self, forward: Callable[[], object], batch_size: int):
        """Run ``forward()`` (one batch of ``batch_size`` samples) with the hooks on; returns its output."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self._batch_size = batch_size
        handles = [module.register_forward_hook(self._hook(name)) for name, module in self._modules]
        try:
            with torch.no_grad():
                output = forward()
        finally:
            for handle in handles:
                handle.remove()
        self.samples += batch_size
        return output

    def layers(self) -> list[LayerOps]:
        """Per-layer counts per sample, in the order the layers first ran."""
        if not self.samples:
            raise ConfigError("nothing measured: call measure() on at least one batch first")
        rows = []
        for layer in self._layers.values():
            per_sample = dataclasses.replace(layer, dense_macs=layer.dense_macs / self.samples)
            if not self.spiking:
                per_sample.spiking_input, per_sample.repeated_input = False, False
            rows.append(per_sample)
        return rows


def dense_macs(forward: Callable[[], object]) -> float:
    """MACs of everything ``forward()`` computes (every matrix product and convolution, attention included), from
    PyTorch's FLOP counter (which counts 2 FLOPs per MAC). For ANN baselines such as a CLIP tower."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        forward()
    return counter.get_total_flops() / 2


def totals(layers: list[LayerOps], presets: list[EnergyPreset]) -> dict:
    """Sums over layers: MACs, SOPs, dense MACs, energy per preset (mJ per sample)."""
    return {
        "macs": sum(layer.macs for layer in layers),
        "sops": sum(layer.sops for layer in layers),
        "dense_macs": sum(layer.dense_macs for layer in layers),
        "energy_mj": {p.name: sum(layer.energy_pj(p) for layer in layers) * 1e-9 for p in presets},
    }


def ann_energy_mj(macs: float, presets: list[EnergyPreset]) -> dict:
    """E_ANN = E_MAC * MACs, in mJ, per preset."""
    return {p.name: p.mac_pj * macs * 1e-9 for p in presets}


def energy_section(layers: list[LayerOps], presets, baselines: dict[str, float] | None = None) -> dict:
    """Per-layer rows, totals, mean firing rate and the comparison with ANN baselines (name -> MACs per sample)."""
    presets = resolve_presets(presets)
    snn = totals(layers, presets)
    section = {"layers": [layer.as_dict(presets) for layer in layers], "totals": snn,
               "firing_rate_mean": _mean_rate(layers), "baselines": {}}
    for name, macs in (baselines or {}).items():
        energy = ann_energy_mj(macs, presets)
        section["baselines"][name] = {
            "macs": macs, "energy_mj": energy,
            "snn_energy_ratio": {p: (snn["energy_mj"][p] / energy[p] if energy[p] else None) for p in energy},
        }
    return section


def energy_report(layers: list[LayerOps], presets=None, baselines: dict[str, float] | None = None,
                  groups: dict | None = None) -> dict:
    """A JSON-ready energy report of a spiking network, per sample.

    ``layers``: the spiking network's counts (:meth:`OperationCounter.layers`); ``baselines``: name -> MACs per
    sample of ANN models to compare with (a CLIP teacher, the same-size ANN student); ``groups``: further sections,
    name -> layers or (layers, baselines), e.g. a text tower, reported with their own totals.
    """
    presets = resolve_presets(presets)
    report = {"presets": {p.name: {"mac_pj": p.mac_pj, "ac_pj": p.ac_pj, "source": p.source} for p in presets}}
    report |= energy_section(layers, presets, baselines)
    for name, group in (groups or {}).items():
        group_layers, group_baselines = group if isinstance(group, tuple) else (group, None)
        report.setdefault("groups", {})[name] = energy_section(group_layers, presets, group_baselines)
    return report


def _mean_rate(layers: list[LayerOps]) -> float | None:
    spiking = [layer for layer in layers if layer.spiking_input]
    elements = sum(layer.elements for layer in spiking)
    return sum(layer.nonzero for layer in spiking) / elements if elements else None


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != int(value) and abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.4g}" if abs(value) >= 1e5 else f"{value:.0f}"


def format_energy_report(report: dict) -> str:
    """The report as text: per-layer rows, then totals per preset against the baselines."""
    presets = list(report["presets"])
    header = ("layer", "type", "input", "steps", "FLOPs/step", "fire_rate", "SOPs", "MACs",
              *[f"E[{p}] mJ" for p in presets])
    lines = []

    def table(rows: list[dict]):
        body = [header] + [
            (row["layer"], row["type"], row["input"], str(row["steps"]), _number(row["flops"]),
             _number(row["firing_rate"]), _number(row["sops"]), _number(row["macs"]),
             *[f"{row['energy_mj'][p]:.4g}" for p in presets])
            for row in rows
        ]
        widths = [max(len(r[i]) for r in body) for i in range(len(header))]
        for r in body:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())

    def section(part: dict):
        table(part["layers"])
        total = part["totals"]
        lines.append(f"spiking network per sample: {_number(total['sops'])} SOPs + {_number(total['macs'])} MACs "
                     f"(dense {_number(total['dense_macs'])} MACs); mean firing rate "
                     f"{_number(part['firing_rate_mean'])}")
        for preset in presets:
            parts = [f"SNN {total['energy_mj'][preset]:.4g} mJ"]
            for name, baseline in part["baselines"].items():
                ratio = baseline["snn_energy_ratio"][preset]
                parts.append(f"{name} {baseline['energy_mj'][preset]:.4g} mJ"
                             + (f" (SNN/{name} = {ratio:.3g})" if ratio is not None else ""))
            lines.append(f"  {preset}: " + "; ".join(parts))

    section(report)
    for name, group in report.get("groups", {}).items():
        lines.extend(["", f"{name}:"])
        section(group)
    return "\n".join(lines)
