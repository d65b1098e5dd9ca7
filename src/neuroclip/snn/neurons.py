"""Leaky integrate-and-fire neurons: explicit state, a pure step function, surrogate gradients as autograd Functions.

One neuron model covers both papers' neurons. Per timestep t, with membrane V and input X::

    H_t = decay * V_{t-1} + input_scale * X_t          charge (V_0 = 0: every sequence starts at rest)
    S_t = Heaviside(H_t - threshold)                    fire; Heaviside(0) = 1, so H_t == threshold fires
    V_t = H_t * (1 - S_t) + reset_value * S_t           reset='hard'
        = H_t - threshold * S_t                         reset='soft' (subtract the threshold)
        = H_t                                           reset='none'

The forward pass uses the Heaviside step; the backward pass replaces its derivative with a surrogate. With
``detach_reset=False`` the gradient also flows through the S_t of the reset (NeuroCLIP); with True it does not
(spikingjelly's ``detach_reset=True``, SpikeCLIP).

Presets (:data:`NEURON_PRESETS`):

* ``neuroclip`` — NeuroCLIP's ``LIFSpike`` (trainers/fewshot.py): multiplicative leak 0.25, threshold 0.5, hard reset
  to 0 not detached, rectangular surrogate of width 1 (dS/dH = 1[|H - 0.5| < 0.5]).
* ``spikeclip`` — SpikeCLIP's spikingjelly ``MultiStepLIFNode(tau=2, detach_reset=True)``: H = V + (X - V)/tau,
  i.e. 0.5 V + 0.5 X; threshold 1; hard reset to 0, detached; sigmoid surrogate with alpha 4
  (dS/dH = alpha * sig(alpha x) * (1 - sig(alpha x)), x = H - threshold).

Layout is time-first, as in spikingjelly's multi-step mode: a sequence is ``[T, B, ...]``. :func:`lif_multistep`
runs a whole sequence as one autograd node whose backward is written out by hand (the unrolled graph would hold
about six nodes per timestep); :func:`lif_step` is the plain single-step reference it is tested against.

Written here rather than taken from spikingjelly or snntorch: neither has NeuroCLIP's non-detached reset with a
rectangular surrogate of this form, and the fused sequence is a few dozen lines.

Precision: the membrane is computed and kept in at least fp32 (as spikingjelly does); fp16 / bf16 inputs give spikes
and input gradients in their own dtype and a final membrane in fp32.

Three implementations of :func:`lif_multistep`, equal in spikes and membranes (gradients to fp32 rounding of the
surrogate): the torch sequence below (the reference), the fused Triton kernels of :mod:`neuroclip.snn.lif_triton`,
used for CUDA tensors when Triton imports (it ships with torch's CUDA wheels) and T <= 32, and the numba passes of
:mod:`neuroclip.snn.lif_numba`, used for float32 CPU tensors when numba imports (and ``NEUROCLIP_NUMBA`` is not 0);
other CPU tensors take the torch sequence. ``backend='torch'`` (or ``LIF(..., backend='torch')``, or the environment
variable ``NEUROCLIP_LIF_BACKEND=torch``) forces the torch sequence; ``'triton'`` and ``'numba'`` insist on their
kernels and raise where they cannot run (Triton: CPU tensors only under its interpreter, ``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from neuroclip.errors import ConfigError
from neuroclip.jit import numba_module

# --------------------------------------------------------------------------------------------------- surrogates


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """1 where x >= 0, else 0, in x's dtype."""
    return (x >= 0).to(x.dtype)


def rectangular_derivative(x: torch.Tensor, width: float) -> torch.Tensor:
    """The rectangular surrogate's dS/dx: 1/width inside |x| < width/2, 0 outside (NeuroCLIP, width 1)."""
    return (x.abs() < width / 2).to(x.dtype) / width


def sigmoid_derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The sigmoid surrogate's dS/dx: alpha * sig(alpha x) * (1 - sig(alpha x)) (spikingjelly's Sigmoid)."""
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


class RectangularSpike(torch.autograd.Function):
    """Heaviside forward; rectangular surrogate backward. ``RectangularSpike.apply(x, width)``, x = H - threshold."""

    @staticmethod
    def forward(ctx, x, width: float):
        ctx.save_for_backward(x)
        ctx.width = width
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * rectangular_derivative(x, ctx.width), None


class SigmoidSpike(torch.autograd.Function):
    """Heaviside forward; sigmoid surrogate backward. ``SigmoidSpike.apply(x, alpha)``, x = H - threshold."""

    @staticmethod
    def forward(ctx, x, alpha: float):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * sigmoid_derivative(x, ctx.alpha), None


SURROGATES = {
    "rectangular": (RectangularSpike, rectangular_derivative),
    "sigmoid": (SigmoidSpike, sigmoid_derivative),
}
RESETS = ("hard", "soft", "none")


def spike(x: torch.Tensor, surrogate: str = "rectangular", parameter: float = 1.0) -> torch.Tensor:
    """Heaviside(x) whose gradient is the named surrogate's (``parameter``: rectangular width or sigmoid alpha)."""
    return SURROGATES[surrogate][0].apply(x, parameter)


# --------------------------------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class LIFConfig:
    """Parameters of the LIF neuron (see the module docstring for the equations). Defaults: NeuroCLIP's LIFSpike."""

    decay: float = 0.25
    input_scale: float = 1.0
    threshold: float = 0.5
    reset: str = "hard"
    reset_value: float = 0.0
    detach_reset: bool = False
    surrogate: str = "rectangular"
    surrogate_parameter: float = 1.0  # rectangular: width (gamma); sigmoid: alpha

    def __post_init__(self):
        for name in ("decay", "input_scale", "threshold", "reset_value", "surrogate_parameter"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
                raise ConfigError(f"LIF {name} must be a finite number, got {value!r}")
        if self.reset not in RESETS:
            raise ConfigError(f"LIF reset must be one of {', '.join(RESETS)}; got {self.reset!r}")
        if self.surrogate not in SURROGATES:
            raise ConfigError(f"LIF surrogate must be one of {', '.join(SURROGATES)}; got {self.surrogate!r}")
        if self.surrogate_parameter <= 0:
            raise ConfigError(f"LIF surrogate_parameter (width or alpha) must be > 0, got {self.surrogate_parameter}")

    @classmethod
    def from_time_constant(cls, tau: float, decay_input: bool = True, **fields) -> LIFConfig:
        """spikingjelly's LIF with time constant ``tau`` (> 1) and rest potential 0: H = V + (X - V)/tau
        (``decay_input=True``) or H = V - V/tau + X (False)."""
        if not isinstance(tau, (int, float)) or not tau > 1:
            raise ConfigError(f"the time constant tau must be a number > 1, got {tau!r}")
        return cls(decay=1.0 - 1.0 / tau, input_scale=1.0 / tau if decay_input else 1.0, **fields)

    def surrogate_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return SURROGATES[self.surrogate][1](x, self.surrogate_parameter)


NEURON_PRESETS = {
    # NeuroCLIP trainers/fewshot.py LIFSpike(thresh=0.5, tau=0.25, gamma=1.0)
    "neuroclip": LIFConfig(),
    # SpikeCLIP model.py MultiStepLIFNode(tau=2.0, detach_reset=True); spikingjelly defaults v_threshold=1,
    # v_reset=0, surrogate.Sigmoid(alpha=4)
    "spikeclip": LIFConfig.from_time_constant(2.0, threshold=1.0, reset="hard", reset_value=0.0, detach_reset=True,
                                              surrogate="sigmoid", surrogate_parameter=4.0),
}


def neuron_config(preset: str | LIFConfig = "neuroclip", **overrides) -> LIFConfig:
    """A preset by name (or a config), with fields replaced by ``overrides``."""
    if isinstance(preset, LIFConfig):
        config = preset
    elif preset in NEURON_PRESETS:
        config = NEURON_PRESETS[preset]
    else:
        raise ConfigError(f"unknown neuron preset {preset!r}; choose one of {', '.join(NEURON_PRESETS)}")
    try:
        return dataclasses.replace(config, **overrides) if overrides else config
    except TypeError as error:
        raise ConfigError(f"bad LIF field: {error}") from None


# --------------------------------------------------------------------------------------------------- dynamics


def _after_reset(h: torch.Tensor, s: torch.Tensor, config: LIFConfig) -> torch.Tensor:
    if config.reset == "hard":
        return h * (1 - s) + config.reset_value * s
    if config.reset == "soft":
        return h - config.threshold * s
    return h


def lif_step(x: torch.Tensor, v: torch.Tensor | None, config: LIFConfig = NEURON_PRESETS["neuroclip"]):
    """One timestep: input ``x`` and membrane ``v`` (None: at rest, 0) to ``(spike, v_next)``. Pure: nothing is
    stored; gradients follow the surrogate (and through the reset unless ``detach_reset``). Computed in at least
    fp32, as :func:`lif_multistep` is: the spike in ``x``'s dtype, the membrane in the computing dtype."""
    compute = torch.promote_types(x.dtype, torch.float32)
    x_c = x.to(compute)
    h = config.input_scale * x_c if v is None else config.decay * v.to(compute) + config.input_scale * x_c
    s = spike(h - config.threshold, config.surrogate, config.surrogate_parameter)
    return s.to(x.dtype), _after_reset(h, s.detach() if config.detach_reset else s, config)


class _LIFSequence(torch.autograd.Function):
    """A whole sequence [T, ...] as one node. Saves the pre-reset membranes H_t; backward runs t = T..1::

        dL/dH_t = dL/dS_t * sg(H_t - thr) + dL/dV_t * dV_t/dH_t,   dL/dX_t = input_scale * dL/dH_t,
        dL/dV_{t-1} = decay * dL/dH_t

    with dV_t/dH_t = (1 - S_t) + (reset_value - H_t) * sg (hard), 1 - thr * sg (soft), 1 (none); the sg terms
    vanish when the reset is detached. Everything that does not depend on the recursion (the surrogate, dV/dH)
    is computed for all timesteps at once, so each step of the loops is two or three tensor operations. Arithmetic
    in at least fp32, one rounding per operation (no fused multiply-add), the order the Triton kernels follow.
    """

    @staticmethod
    def forward(ctx, x_seq, v0, config: LIFConfig):
        compute = torch.promote_types(x_seq.dtype, torch.float32)
        x = x_seq.to(compute)
        drive = x if config.input_scale == 1 else x * config.input_scale
        pre_reset = torch.empty_like(x)
        fired = torch.empty(x_seq.shape, dtype=torch.bool, device=x_seq.device)
        v = None if v0 is None else v0.to(compute)
        for t in range(x_seq.shape[0]):
            h = drive[t] if v is None else drive[t] + v * config.decay
            pre_reset[t] = h
            s = torch.ge(h, config.threshold, out=fired[t])
            if config.reset == "hard":
                v = h.masked_fill(s, config.reset_value)
            elif config.reset == "soft":
                v = h - config.threshold * s
            else:
                v = h
        if v._base is not None:  # reset='none' with T = 1 left a view of the input
            v = v.clone()
        ctx.config = config
        ctx.dtypes = (x_seq.dtype, None if v0 is None else v0.dtype)
        ctx.save_for_backward(pre_reset, fired)
        return fired.to(x_seq.dtype), v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_last):
        pre_reset, fired = ctx.saved_tensors
        config = ctx.config
        compute = pre_reset.dtype
        surrogate = config.surrogate_derivative(pre_reset - config.threshold)
        direct = surrogate * grad_spikes.to(compute) if grad_spikes is not None else torch.zeros_like(pre_reset)
        if config.reset == "hard":
            dv_dh = (~fired).to(compute)
            if not config.detach_reset:
                dv_dh = dv_dh + (config.reset_value - pre_reset) * surrogate
        elif config.reset == "soft" and not config.detach_reset:
            dv_dh = 1 - config.threshold * surrogate
        else:
            dv_dh = None  # dV/dH = 1
        grad_h = torch.empty_like(pre_reset)
        grad_v = None if grad_v_last is None else grad_v_last.to(compute)
        for t in range(pre_reset.shape[0] - 1, -1, -1):
            if grad_v is None:
                grad_h[t] = direct[t]
            elif dv_dh is None:
                torch.add(direct[t], grad_v, out=grad_h[t])
            else:
                torch.add(direct[t], grad_v * dv_dh[t], out=grad_h[t])
            grad_v = grad_h[t] * config.decay
        grad_x = grad_h if config.input_scale == 1 else grad_h * config.input_scale
        x_dtype, v0_dtype = ctx.dtypes
        return grad_x.to(x_dtype), (grad_v.to(v0_dtype) if v0_dtype is not None else None), None


class _LIFKernelSequence(torch.autograd.Function):
    """The same node on fused kernels: ``kernels`` is the Triton module (:mod:`neuroclip.snn.lif_triton`, CUDA) or
    the numba one (:mod:`neuroclip.snn.lif_numba`, float32 CPU), both with ``forward`` and ``backward``. Saves only the
    input (a reference, no copy) and the initial membrane: the backward kernel recomputes the membranes."""

    @staticmethod
    def forward(ctx, x_seq, v0, config: LIFConfig, kernels):
        x = x_seq.contiguous()
        v0 = None if v0 is None else v0.contiguous()
        spikes, v_last = kernels.forward(x, v0, decay=config.decay, input_scale=config.input_scale,
                                         threshold=config.threshold, reset=config.reset,
                                         reset_value=config.reset_value)
        ctx.config = config
        ctx.kernels = kernels
        ctx.has_v0 = v0 is not None
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, v0)
        return spikes, v_last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes, grad_v_last):
        x, v0 = ctx.saved_tensors
        config = ctx.config
        grad_x, grad_v0 = ctx.kernels.backward(
            x, v0 if ctx.has_v0 else None,
            None if grad_spikes is None else grad_spikes.contiguous(),
            None if grad_v_last is None else grad_v_last.contiguous(),
            decay=config.decay, input_scale=config.input_scale, threshold=config.threshold, reset=config.reset,
            reset_value=config.reset_value, detach_reset=config.detach_reset, surrogate=config.surrogate,
            surrogate_parameter=config.surrogate_parameter)
        return grad_x, grad_v0, None, None


BACKENDS = ("auto", "torch", "triton", "numba")
BACKEND_VARIABLE = "NEUROCLIP_LIF_BACKEND"


@functools.cache
def _numba_kernels():
    """The numba module, or the reason it cannot be used (a string); imported on first use only."""
    return numba_module("neuroclip.snn.lif_numba")


def numba_unsupported(x_seq: torch.Tensor, v0: torch.Tensor | None = None) -> str | None:
    """Why :func:`lif_multistep` cannot run these tensors on the numba passes (None: it can)."""
    if x_seq.device.type != "cpu" or x_seq.dtype != torch.float32:
        return f"the numba passes take float32 CPU tensors, not {x_seq.dtype} on {x_seq.device}"
    if v0 is not None and (v0.device.type != "cpu" or v0.dtype != torch.float32):
        return f"the initial membrane ({v0.dtype} on {v0.device}) must be float32 on the CPU"
    if x_seq[0].numel() == 0:
        return "there are no neurons"
    kernels = _numba_kernels()
    return kernels if isinstance(kernels, str) else None


@functools.cache
def _triton_kernels():
    """The kernel module, or the reason it does not import (a string). Imported on first use only: importing Triton
    takes a while, and CPU-only installs may not have it."""
    try:
        from neuroclip.snn import lif_triton
    except ImportError as error:  # triton missing or broken
        return f"Triton does not import ({error})"
    return lif_triton


def triton_unsupported(x_seq: torch.Tensor, v0: torch.Tensor | None = None) -> str | None:
    """Why :func:`lif_multistep` cannot run these tensors on the Triton kernels (None: it can). Every
    :class:`LIFConfig` is supported."""
    if x_seq.device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0").lower() not in ("1", "true"):
        return f"the Triton kernels run on CUDA tensors, not {x_seq.device} (outside Triton's interpreter)"
    kernels = _triton_kernels()
    if isinstance(kernels, str):
        return kernels
    return kernels.unsupported(x_seq, v0)


def _kernels_for(x_seq: torch.Tensor, v0: torch.Tensor | None, backend: str):
    """The kernel module that runs this input (Triton's or numba's), or None for the torch sequence: ``auto`` picks
    Triton for CUDA tensors and numba for CPU tensors where they can run; ``triton`` / ``numba`` insist and say why
    they cannot."""
    if backend == "auto":
        backend = os.environ.get(BACKEND_VARIABLE) or "auto"
        if backend not in BACKENDS:
            raise ConfigError(f"{BACKEND_VARIABLE} must be one of {', '.join(BACKENDS)}; got {backend!r}")
    elif backend not in BACKENDS:
        raise ConfigError(f"LIF backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "torch":
        return None
    kind = backend if backend != "auto" else ("triton" if x_seq.device.type == "cuda" else "numba")
    unsupported, kernels, name = ((triton_unsupported, _triton_kernels, "Triton") if kind == "triton"
                                  else (numba_unsupported, _numba_kernels, "numba"))
    reason = unsupported(x_seq, v0)
    if reason is not None and backend != "auto":
        raise ConfigError(f"the {name} LIF cannot run this input: {reason}")
    return kernels() if reason is None else None


def lif_multistep(x_seq: torch.Tensor, config: LIFConfig = NEURON_PRESETS["neuroclip"],
                  v0: torch.Tensor | None = None, *, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """A sequence ``[T, ...]`` from membrane ``v0`` (None: rest) to ``(spikes [T, ...], v_T)``. Pure, and equal
    (values and gradients) to :func:`lif_step` applied for t = 1..T. ``backend``: ``auto`` (the Triton kernels for
    CUDA tensors where they run, the numba passes for float32 CPU tensors where numba imports, else torch;
    ``NEUROCLIP_LIF_BACKEND`` overrides), ``torch``, ``triton`` or ``numba``."""
    if x_seq.ndim < 1 or x_seq.shape[0] == 0:
        raise ConfigError(f"a spike sequence needs a leading time axis with T >= 1; got shape {tuple(x_seq.shape)}")
    if not x_seq.is_floating_point():
        raise ConfigError(f"LIF input must be floating point, got {x_seq.dtype}")
    if v0 is not None and v0.shape != x_seq.shape[1:]:
        raise ConfigError(f"initial membrane {tuple(v0.shape)} does not match one timestep {tuple(x_seq.shape[1:])}")
    kernels = _kernels_for(x_seq, v0, backend)
    if kernels is not None:
        return _LIFKernelSequence.apply(x_seq, v0, config, kernels)
    return _LIFSequence.apply(x_seq, v0, config)


# --------------------------------------------------------------------------------------------------- module


class LIF(nn.Module):
    """A multi-step LIF layer: ``[T, B, ...]`` in, spikes ``[T, B, ...]`` out.

    ``LIF("neuroclip")``, ``LIF("spikeclip")``, ``LIF(LIFConfig(...))`` or a preset with overrides
    (``LIF("spikeclip", threshold=0.5)``). By default each call starts at rest (both papers reset the membrane per
    sample / per batch). The membrane after the last timestep is kept in :attr:`state` (detached) for inspection;
    with ``carry_state=True`` it is instead the starting membrane of the next call, gradients included, until
    :meth:`reset_state` (or :func:`reset_states` on a whole network). :meth:`step` is the single-step form.
    ``backend``: see :func:`lif_multistep`.
    """

    def __init__(self, config: str | LIFConfig = "neuroclip", *, carry_state: bool = False, backend: str = "auto",
                 **overrides):
        super().__init__()
        self.config = neuron_config(config, **overrides)
        self.carry_state = bool(carry_state)
        if backend not in BACKENDS:
            raise ConfigError(f"LIF backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.backend = backend
        self.state: torch.Tensor | None = None

    def extra_repr(self) -> str:
        c = self.config
        return (f"decay={c.decay}, input_scale={c.input_scale}, threshold={c.threshold}, reset={c.reset}, "
                f"detach_reset={c.detach_reset}, surrogate={c.surrogate}({c.surrogate_parameter})"
                + (", carry_state=True" if self.carry_state else "")
                + (f", backend={self.backend}" if self.backend != "auto" else ""))

    def _initial(self, like: torch.Tensor) -> torch.Tensor | None:
        if not self.carry_state or self.state is None:
            return None
        if self.state.shape != like.shape:
            raise ConfigError(f"the carried membrane {tuple(self.state.shape)} does not fit input "
                              f"{tuple(like.shape)}; call reset_state() between batches of different shapes")
        return self.state

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        spikes, v = lif_multistep(x_seq, self.config, self._initial(x_seq[0]) if x_seq.ndim else None,
                                  backend=self.backend)
        self.state = v if self.carry_state else v.detach()
        return spikes

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One timestep from the stored membrane (rest if none, or after :meth:`reset_state`); updates it."""
        v = self.state
        if v is not None and v.shape != x.shape:
            raise ConfigError(f"the stored membrane {tuple(v.shape)} does not fit input {tuple(x.shape)}")
        s, self.state = lif_step(x, v, self.config)
        return s

    def reset_state(self) -> None:
        self.state = None


def reset_states(module: nn.Module) -> None:
    """Put every LIF in ``module`` back at rest (spikingjelly's ``functional.reset_net``)."""
    for child in module.modules():
        if isinstance(child, LIF):
            child.reset_state()
