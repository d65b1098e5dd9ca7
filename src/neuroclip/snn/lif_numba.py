"""The multi-step LIF on the CPU as two numba passes (forward, backward); :mod:`neuroclip.snn.neurons` calls them for
float32 CPU tensors where numba imports, and keeps its pure-torch sequence as the reference.

Why: on the CPU the torch sequence is a few full passes over memory per timestep, plus, in the backward, whole-size
temporaries for the surrogate and dV/dH. One pass per chunk of neurons that keeps the membrane in a small buffer
reads and writes each element once. ``python benchmarks/lif.py`` (our 2-core CPU machine, 2 threads, forward +
backward, the LIF inputs of the 192-wide ``neuroclip-mini-spiking`` student at its training batch,
results/lif_cpu_2core.csv):
1.2x to 3.9x the torch path (the [4, 196, 768, 8, 8] MLP input: 1817 -> 574 ms) and 1.0x to 4.5x spikingjelly's CPU
LIF; a whole training step of the student 1.33x (its convolutions are most of the rest). The sigmoid surrogate's
``exp`` is a scalar call (numba has no vector math library without Intel's SVML): the sigmoid backward took 118 ms
against 66 ms for the rectangular one on the same input.

Layout and arithmetic follow the Triton kernels (:mod:`neuroclip.snn.lif_triton`): a contiguous ``[T, N]`` view of
``[T, ...]``; the forward writes the spikes and the final membrane and saves nothing; the backward recomputes the
membranes H_t from x (kept by reference) into a ``[T, chunk]`` buffer, then runs t = T..1. Every operation is the
torch path's, in its order, in fp32, one rounding each (numba does not contract to fused multiply-adds without
``fastmath``), so spikes and membranes are equal to it bit for bit and gradients differ only by the last bits of the
sigmoid's ``exp``. The loops over neurons are innermost and contiguous, so LLVM can vectorise them.

Threads: each call splits the neurons into contiguous ranges, one per torch intra-op thread
(``torch.get_num_threads()``, which ``--threads`` sets), and runs the single-threaded, GIL-free kernels on a small
thread pool. That keeps numba's own threading layers (OpenMP, TBB) out of the process: torch already runs one, and
an OpenMP pool started before a fork does not survive in the child.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading

import numpy as np
import torch
from numba import njit

RESET_CODES = {"hard": 0, "soft": 1, "none": 2}
SURROGATE_CODES = {"rectangular": 0, "sigmoid": 1}
CHUNK = 2048  # neurons per inner pass: the backward's [T, CHUNK] fp32 buffer stays in L1/L2 for T <= 32
# elements per thread below which one thread is as fast (2-core machine, forward + backward: 65,536 elements took
# 0.88 ms on one thread and 1.00 ms on two; 262,144 took 5.4 and 3.6 ms)
MIN_PER_THREAD = 1 << 17


@njit(cache=True, nogil=True, inline="always")
def _charge(x, v0, has_v0, start, n, decay, scale, threshold, reset, reset_value, v, record, offset, record_h):
    """Run neurons ``start .. start + n`` through all timesteps from V_0, leaving V_T in ``v[:n]``. Per timestep
    ``record[t, offset + j]`` gets the spike (``record_h`` False) or the pre-reset membrane H_t (True). Reset: hard
    (0), soft (1) or none (2), as the torch path computes it."""
    one = np.float32(1)
    zero = np.float32(0)
    for j in range(n):
        v[j] = v0[start + j] if has_v0 else zero
    for t in range(x.shape[0]):
        for j in range(n):
            h = x[t, start + j] * scale + v[j] * decay
            fired = h >= threshold
            record[t, offset + j] = h if record_h else (one if fired else zero)
            if reset == 0:
                v[j] = reset_value if fired else h
            elif reset == 1:
                v[j] = h - (threshold if fired else zero)
            else:
                v[j] = h


@njit(cache=True, nogil=True)
def _forward(x, v0, has_v0, lo, hi, decay, scale, threshold, reset, reset_value, spikes, v_last):
    v = np.zeros(CHUNK, np.float32)
    for start in range(lo, hi, CHUNK):
        n = min(CHUNK, hi - start)
        _charge(x, v0, has_v0, start, n, decay, scale, threshold, reset, reset_value, v, spikes, start, False)
        for j in range(n):
            v_last[start + j] = v[j]


@njit(cache=True, nogil=True)
def _backward(x, v0, has_v0, grad_spikes, has_grad_spikes, grad_v_last, has_grad_v, lo, hi, decay, scale,
              threshold, reset, reset_value, detach_reset, surrogate, parameter, grad_x, grad_v0):
    timesteps = x.shape[0]
    one = np.float32(1)
    zero = np.float32(0)
    half_width = parameter / np.float32(2)
    height = one / parameter
    h_all = np.empty((timesteps, CHUNK), np.float32)
    v = np.empty(CHUNK, np.float32)
    g = np.empty(CHUNK, np.float32)
    for start in range(lo, hi, CHUNK):
        n = min(CHUNK, hi - start)
        _charge(x, v0, has_v0, start, n, decay, scale, threshold, reset, reset_value, v, h_all, 0, True)
        for j in range(n):
            g[j] = grad_v_last[start + j] if has_grad_v else zero
        for t in range(timesteps - 1, -1, -1):
            for j in range(n):
                h = h_all[t, j]
                z = h - threshold
                if surrogate == 0:
                    sg = height if abs(z) < half_width else zero
                else:
                    s = one / (one + np.exp(-(parameter * z)))
                    sg = parameter * s * (one - s)
                gh = sg * grad_spikes[t, start + j] if has_grad_spikes else zero
                if reset == 0:
                    dv_dh = zero if h >= threshold else one
                    if not detach_reset:
                        dv_dh = dv_dh + (reset_value - h) * sg
                    gh = gh + g[j] * dv_dh
                elif reset == 1 and not detach_reset:
                    gh = gh + g[j] * (one - threshold * sg)
                else:
                    gh = gh + g[j]
                grad_x[t, start + j] = gh * scale
                g[j] = gh * decay
        if has_v0:
            for j in range(n):
                grad_v0[start + j] = g[j]


_POOL: tuple[concurrent.futures.ThreadPoolExecutor, int] | None = None  # the pool and its number of threads
_POOL_LOCK = threading.Lock()


def _reset_pool_in_child() -> None:
    global _POOL
    _POOL = None  # the parent's threads do not exist in a forked child


os.register_at_fork(after_in_child=_reset_pool_in_child)


def _ranges(neurons: int, timesteps: int) -> list[tuple[int, int]]:
    threads = max(1, min(torch.get_num_threads(), neurons * timesteps // MIN_PER_THREAD))
    step = -(-neurons // threads)
    step = -(-step // CHUNK) * CHUNK  # whole chunks per thread
    return [(lo, min(neurons, lo + step)) for lo in range(0, neurons, step)]


def _run(kernel, ranges, *args) -> None:
    global _POOL
    if len(ranges) == 1:
        kernel(*args[:-1], *ranges[0], *args[-1])
        return
    with _POOL_LOCK:
        if _POOL is None or _POOL[1] < len(ranges):
            _POOL = (concurrent.futures.ThreadPoolExecutor(len(ranges), thread_name_prefix="neuroclip-lif"),
                     len(ranges))
        pool = _POOL[0]
    futures = [pool.submit(kernel, *args[:-1], lo, hi, *args[-1]) for lo, hi in ranges]
    for future in futures:
        future.result()


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _array(tensor: torch.Tensor, rows: int | None = None) -> np.ndarray:
    """A float32 CPU tensor as a numpy array, ``[rows, -1]`` or flat (a view where it is contiguous, which every
    output here is)."""
    tensor = tensor.detach()
    return (tensor.reshape(-1) if rows is None else tensor.reshape(rows, -1)).numpy()


def forward(x_seq: torch.Tensor, v0: torch.Tensor | None, *, decay: float, input_scale: float, threshold: float,
            reset: str, reset_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, ...]`` and the final membrane of a contiguous float32 CPU ``x_seq`` (``v0``: float32 or None)."""
    timesteps = x_seq.shape[0]
    x = _array(x_seq, timesteps)
    neurons = x.shape[1]
    spikes = torch.empty(x_seq.shape, dtype=torch.float32)  # contiguous, whatever x_seq's strides
    v_last = torch.empty(x_seq.shape[1:], dtype=torch.float32)
    start = v_last if v0 is None else v0
    _run(_forward, _ranges(neurons, timesteps),
         x, _array(start), v0 is not None,
         (_f32(decay), _f32(input_scale), _f32(threshold), RESET_CODES[reset], _f32(reset_value),
          _array(spikes, timesteps), _array(v_last)))
    return spikes, v_last


def backward(x_seq: torch.Tensor, v0: torch.Tensor | None, grad_spikes: torch.Tensor | None,
             grad_v_last: torch.Tensor | None, *, decay: float, input_scale: float, threshold: float, reset: str,
             reset_value: float, detach_reset: bool, surrogate: str,
             surrogate_parameter: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """dL/dX and dL/dV_0 (None without v0), recomputing the membranes from ``x_seq``. ``grad_spikes`` /
    ``grad_v_last``: contiguous float32, or None where the loss does not depend on them."""
    timesteps = x_seq.shape[0]
    x = _array(x_seq, timesteps)
    neurons = x.shape[1]
    grad_x = torch.empty(x_seq.shape, dtype=torch.float32)
    grad_v0 = None if v0 is None else torch.empty(v0.shape, dtype=torch.float32)
    flat_grad_x = _array(grad_x, timesteps)
    _run(_backward, _ranges(neurons, timesteps),
         x, x[0] if v0 is None else _array(v0), v0 is not None,
         x if grad_spikes is None else _array(grad_spikes, timesteps), grad_spikes is not None,
         x[0] if grad_v_last is None else _array(grad_v_last), grad_v_last is not None,
         (_f32(decay), _f32(input_scale), _f32(threshold), RESET_CODES[reset], _f32(reset_value),
          bool(detach_reset), SURROGATE_CODES[surrogate], _f32(surrogate_parameter), flat_grad_x,
          flat_grad_x[0] if grad_v0 is None else _array(grad_v0)))
    return grad_x, grad_v0
