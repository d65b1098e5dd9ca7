"""The multi-step LIF as two fused Triton kernels (forward, backward); :mod:`neuroclip.snn.neurons` calls them for
CUDA tensors and keeps its pure-torch sequence as the reference and the CPU path.

Why Triton: on an H100 the torch sequence (a few tensor operations per timestep, each a full pass over memory) ran
at 0.79x of spikingjelly's LIF (``benchmarks/gpu_paths.py``, [4, 128, 384, 64], forward + backward). A fused kernel
reads and writes each element once per pass. Triton rather than CUDA C++ or CuPy because it ships with torch's CUDA
wheels (nothing to build or install), compiles for whatever GPU is there, and runs on the CPU through its interpreter
(``TRITON_INTERPRET=1``), which is how ``tests/test_lif_kernels.py`` checks these kernels against the torch path
without a GPU.

The layout is spikingjelly's multi-step one: a contiguous ``[T, N]`` view of ``[T, ...]``; each program takes BLOCK
neurons and walks their T timesteps in registers. Arithmetic is in fp32 whatever the input dtype (fp32, fp16, bf16:
spikes and gradients are written in the input dtype, the final membrane in fp32), in the same order, one rounding per
operation, as the torch path (``enable_fp_fusion=False``: no fused multiply-adds), so spikes and membranes are equal
to it bit for bit and gradients differ only by the last bits of ``sigmoid``.

Memory traffic, which bounds both kernels: the forward reads x and writes the spikes (and the final membrane, one
timestep); nothing else is saved, the backward recomputes the membranes H_t from x (saved by reference, not copied)
in a first pass over t = 1..T, keeps them in a [T_PAD, BLOCK] register tile, then runs t = T..1 reading dL/dS_t and
writing dL/dX_t. Per element that is 2 + 3 accesses in the input dtype, against 3 + 3 (two of them fp32) for a
backward that reads a saved fp32 H_t (spikingjelly's way). The tile bounds T: longer sequences use the torch path.

Constants: BLOCK = 1024 neurons (4 warps, 8 per thread: 2 x 128-bit fp32 accesses per timestep) for the forward;
the backward's tile holds T_PAD * BLOCK <= 4096 fp32 values (32 registers a thread at 4 warps), so BLOCK shrinks as T
grows. These are the usual elementwise starting points, not tuned on a GPU yet; ``benchmarks/gpu_paths.py`` times
other block sizes beside them (``block_sweep``) so that a measurement can replace them.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

MAX_TIMESTEPS = 32  # the backward keeps all T membranes of its block in registers
FORWARD_BLOCK = 1024
TILE_ELEMENTS = 4096
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
RESET_CODES = {"hard": 0, "soft": 1, "none": 2}
SURROGATE_CODES = {"rectangular": 0, "sigmoid": 1}


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``, read by Triton at import)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def unsupported(x_seq: torch.Tensor, v0: torch.Tensor | None) -> str | None:
    """Why these tensors cannot take the kernels (None: they can)."""
    if x_seq.device.type != "cuda" and not interpreting():
        return f"the kernels run on CUDA tensors (or in Triton's interpreter); this one is on {x_seq.device}"
    if x_seq.dtype not in DTYPES:
        return f"the kernels take float32, float16 or bfloat16, not {x_seq.dtype}"
    if x_seq.shape[0] > MAX_TIMESTEPS:
        return f"the kernels take up to {MAX_TIMESTEPS} timesteps, not {x_seq.shape[0]}"
    if x_seq[0].numel() == 0:
        return "there are no neurons"
    if x_seq.numel() >= 2**31:
        return "the kernels index with 32-bit time offsets: at most 2^31 - 1 elements"
    if v0 is not None and (v0.dtype not in DTYPES or v0.device != x_seq.device):
        return f"the initial membrane ({v0.dtype} on {v0.device}) must be float32/16 or bfloat16 on {x_seq.device}"
    return None


# --------------------------------------------------------------------------------------------------- kernels


@triton.jit
def _float(condition):
    """1.0 / 0.0 in fp32 (a select: the interpreter cannot cast int1 blocks to float)."""
    return tl.where(condition, 1.0, 0.0)


@triton.jit
def _charge(x_ptr, t: tl.constexpr, N, n, mask, v, decay, input_scale, SCALE_INPUT: tl.constexpr,
            HAS_V: tl.constexpr):
    """H_t = decay * V_{t-1} + input_scale * X_t, as the torch path computes it (no V_{t-1}: H_t = input_scale X_t)."""
    x = tl.load(x_ptr + t * N + n, mask=mask, other=0.0).to(tl.float32)
    drive = x * input_scale if SCALE_INPUT else x
    if HAS_V:
        return drive + v * decay
    return drive


@triton.jit
def _after_reset(h, fired, threshold, reset_value, RESET: tl.constexpr):
    if RESET == 0:  # hard
        return tl.where(fired, reset_value, h)
    if RESET == 1:  # soft
        return h - threshold * _float(fired)
    return h


@triton.jit
def _forward_kernel(x_ptr, v0_ptr, spikes_ptr, v_last_ptr, N, decay, input_scale, threshold, reset_value,
                    T: tl.constexpr, HAS_V0: tl.constexpr, SCALE_INPUT: tl.constexpr, RESET: tl.constexpr,
                    BLOCK: tl.constexpr):
    n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = n < N
    v = tl.zeros([BLOCK], tl.float32)
    if HAS_V0:
        v = tl.load(v0_ptr + n, mask=mask, other=0.0).to(tl.float32)
    for t in tl.static_range(T):
        h = _charge(x_ptr, t, N, n, mask, v, decay, input_scale, SCALE_INPUT, HAS_V0 or t > 0)
        fired = h >= threshold
        tl.store(spikes_ptr + t * N + n, _float(fired).to(spikes_ptr.dtype.element_ty), mask=mask)
        v = _after_reset(h, fired, threshold, reset_value, RESET)
    tl.store(v_last_ptr + n, v, mask=mask)


@triton.jit
def _backward_kernel(x_ptr, v0_ptr, grad_spikes_ptr, grad_v_last_ptr, grad_x_ptr, grad_v0_ptr, N, decay,
                     input_scale, threshold, reset_value, surrogate_a, surrogate_b,
                     T: tl.constexpr, T_PAD: tl.constexpr, HAS_V0: tl.constexpr, HAS_GRAD_SPIKES: tl.constexpr,
                     HAS_GRAD_V: tl.constexpr, SCALE_INPUT: tl.constexpr, RESET: tl.constexpr,
                     DETACH_RESET: tl.constexpr, SURROGATE: tl.constexpr, BLOCK: tl.constexpr):
    """dL/dH_t = dL/dS_t * sg(H_t - thr) + dL/dV_t * dV_t/dH_t, dL/dX_t = input_scale dL/dH_t,
    dL/dV_{t-1} = decay dL/dH_t (see ``neurons._LIFSequence``). surrogate_a, surrogate_b: half width and 1/width
    (rectangular) or alpha and unused (sigmoid)."""
    n = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = n < N
    rows = tl.arange(0, T_PAD)[:, None]
    # pass 1: the membranes H_1..H_T again, into a register tile (row t = H_t)
    charged = tl.zeros([T_PAD, BLOCK], tl.float32)
    v = tl.zeros([BLOCK], tl.float32)
    if HAS_V0:
        v = tl.load(v0_ptr + n, mask=mask, other=0.0).to(tl.float32)
    for t in tl.static_range(T):
        h = _charge(x_ptr, t, N, n, mask, v, decay, input_scale, SCALE_INPUT, HAS_V0 or t > 0)
        charged = tl.where(rows == t, h[None, :], charged)
        v = _after_reset(h, h >= threshold, threshold, reset_value, RESET)
    # pass 2: t = T..1 (each thread holds whole rows, so picking row t out of the tile is register selection)
    grad_v = tl.zeros([BLOCK], tl.float32)
    if HAS_GRAD_V:
        grad_v = tl.load(grad_v_last_ptr + n, mask=mask, other=0.0).to(tl.float32)
    for step in tl.static_range(T):
        t = T - 1 - step
        h = tl.sum(tl.where(rows == t, charged, 0.0), axis=0)
        centred = h - threshold
        if SURROGATE == 0:
            sg = tl.where(tl.abs(centred) < surrogate_a, surrogate_b, 0.0)
        else:
            sig = tl.sigmoid(surrogate_a * centred)
            sg = surrogate_a * sig * (1.0 - sig)
        if HAS_GRAD_SPIKES:
            direct = sg * tl.load(grad_spikes_ptr + t * N + n, mask=mask, other=0.0).to(tl.float32)
        else:
            direct = tl.zeros([BLOCK], tl.float32)
        if HAS_GRAD_V or step > 0:
            if RESET == 0:
                dv_dh = 1.0 - _float(h >= threshold)
                if not DETACH_RESET:
                    dv_dh = dv_dh + (reset_value - h) * sg
                grad_h = direct + grad_v * dv_dh
            elif RESET == 1 and not DETACH_RESET:
                grad_h = direct + grad_v * (1.0 - threshold * sg)
            else:
                grad_h = direct + grad_v
        else:
            grad_h = direct
        grad_x = grad_h * input_scale if SCALE_INPUT else grad_h
        tl.store(grad_x_ptr + t * N + n, grad_x.to(grad_x_ptr.dtype.element_ty), mask=mask)
        grad_v = grad_h * decay
    if HAS_V0:
        tl.store(grad_v0_ptr + n, grad_v.to(grad_v0_ptr.dtype.element_ty), mask=mask)


# --------------------------------------------------------------------------------------------------- launchers


def _pad(timesteps: int) -> int:
    return triton.next_power_of_2(timesteps)


def backward_block(timesteps: int) -> int:
    return max(128, min(1024, TILE_ELEMENTS // _pad(timesteps)))


def _float32(value: float) -> float:
    """``value`` rounded to fp32 the way torch rounds a Python scalar against an fp32 tensor."""
    return float(torch.tensor(value, dtype=torch.float32))


def _launch(kernel, grid, device: torch.device, *args, **constants):
    if device.type == "cuda" and device.index is not None and device.index != torch.cuda.current_device():
        with torch.cuda.device(device):
            kernel[grid](*args, **constants, enable_fp_fusion=False)
    else:
        kernel[grid](*args, **constants, enable_fp_fusion=False)


def forward(x_seq: torch.Tensor, v0: torch.Tensor | None, *, decay: float, input_scale: float, threshold: float,
            reset: str, reset_value: float, block: int = FORWARD_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, ...]`` (input dtype) and the final membrane (fp32) of a contiguous ``x_seq``."""
    timesteps = x_seq.shape[0]
    neurons = x_seq[0].numel()
    spikes = torch.empty_like(x_seq)
    v_last = torch.empty(x_seq.shape[1:], dtype=torch.float32, device=x_seq.device)
    _launch(_forward_kernel, (triton.cdiv(neurons, block),), x_seq.device,
            x_seq, v_last if v0 is None else v0, spikes, v_last, neurons, _float32(decay), _float32(input_scale),
            _float32(threshold), _float32(reset_value),
            T=timesteps, HAS_V0=v0 is not None, SCALE_INPUT=input_scale != 1, RESET=RESET_CODES[reset], BLOCK=block)
    return spikes, v_last


def backward(x_seq: torch.Tensor, v0: torch.Tensor | None, grad_spikes: torch.Tensor | None,
             grad_v_last: torch.Tensor | None, *, decay: float, input_scale: float, threshold: float, reset: str,
             reset_value: float, detach_reset: bool, surrogate: str, surrogate_parameter: float,
             block: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """dL/dX (input dtype) and dL/dV_0 (v0's dtype; None without v0), recomputing the membranes from ``x_seq``.
    ``grad_spikes`` / ``grad_v_last``: contiguous, or None where the loss does not depend on them."""
    timesteps = x_seq.shape[0]
    neurons = x_seq[0].numel()
    block = block or backward_block(timesteps)
    grad_x = torch.empty_like(x_seq)
    grad_v0 = None if v0 is None else torch.empty_like(v0)
    if surrogate == "rectangular":
        surrogate_a = _float32(surrogate_parameter / 2)
        surrogate_b = float(torch.tensor(1.0, dtype=torch.float32) / surrogate_parameter)
    else:
        surrogate_a, surrogate_b = _float32(surrogate_parameter), 0.0
    _launch(_backward_kernel, (triton.cdiv(neurons, block),), x_seq.device,
            x_seq, x_seq if v0 is None else v0, x_seq if grad_spikes is None else grad_spikes,
            x_seq if grad_v_last is None else grad_v_last, grad_x, grad_x if grad_v0 is None else grad_v0,
            neurons, _float32(decay), _float32(input_scale), _float32(threshold), _float32(reset_value),
            surrogate_a, surrogate_b,
            T=timesteps, T_PAD=_pad(timesteps), HAS_V0=v0 is not None, HAS_GRAD_SPIKES=grad_spikes is not None,
            HAS_GRAD_V=grad_v_last is not None, SCALE_INPUT=input_scale != 1, RESET=RESET_CODES[reset],
            DETACH_RESET=bool(detach_reset), SURROGATE=SURROGATE_CODES[surrogate], BLOCK=block)
    return grad_x, grad_v0
