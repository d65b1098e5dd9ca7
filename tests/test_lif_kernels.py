"""The fused LIF kernels against the torch sequence: Triton's (run on the CPU through its interpreter) and numba's.

``TRITON_INTERPRET=1`` has to be set before Triton is imported, so the Triton comparisons run in one subprocess (this
file run as a script) that prints its results as JSON; the numba comparisons run here. Spikes and final membranes
must be equal bit for bit, input and initial-membrane gradients equal to the fp32 rounding of the surrogate."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuroclip.errors import ConfigError
from neuroclip.snn import LIF, NEURON_PRESETS, neuron_config
from neuroclip.snn import neurons as neurons_module

CONFIGS = {
    **{f"preset-{name}": config for name, config in NEURON_PRESETS.items()},
    "soft-attached": neuron_config("spikeclip", reset="soft", detach_reset=False),
    "soft-detached": neuron_config("neuroclip", reset="soft", detach_reset=True),
    "no-reset": neuron_config("neuroclip", reset="none"),
    "hard-reset-value-attached": neuron_config("spikeclip", detach_reset=False, reset_value=0.3),
    "rectangular-width-3": neuron_config("neuroclip", reset_value=-0.2, surrogate_parameter=3.0),
    "tau-3-no-input-decay": neuron_config(neuron_config("spikeclip"), decay=2 / 3, input_scale=1.0),
    "tau-3-input-decay": neuron_config("spikeclip", decay=2 / 3, input_scale=1 / 3, threshold=0.7),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# the presets in every dtype, from rest and from a given membrane; the other configs in fp32 both ways, fp16 from rest,
# bf16 from a membrane; all on a [T, ...] with odd T and N (the tile padded, the block masked); T = 1 in fp32; and,
# for the presets, more neurons than one block holds (several programs)
CASES = [(config, dtype, (3, 3, 5), with_v0) for config in CONFIGS for dtype in DTYPES for with_v0 in (False, True)
         if config.startswith("preset-") or dtype == "float32" or with_v0 == (dtype == "bfloat16")]
CASES += [(config, "float32", (1, 9), False) for config in CONFIGS]
CASES += [(config, "float32", (2, 1100), True) for config in CONFIGS if config.startswith("preset-")]
# gradients: fp32 differs from the torch path only where sigmoid does in its last bits; fp16 / bf16 are those fp32
# values rounded once, so at most one unit in the last place apart
GRAD_TOLERANCE = {"float32": (1e-5, 1e-6), "float16": (1e-3, 1e-5), "bfloat16": (8e-3, 1e-4)}


def _case(config, shape, dtype, with_v0: bool, seed: int, kernel: str) -> dict:
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=generator) * 1.5 + 0.6).to(dtype)
    x[0, ..., :1] = config.threshold / config.input_scale  # at the threshold (exactly, for most configs)
    v0 = torch.rand(shape[1:], generator=generator) * 0.5 if with_v0 else None
    grad_spikes = torch.randn(shape, generator=generator).to(dtype)
    grad_v = torch.randn(shape[1:], generator=generator)
    outputs = {}
    for backend in ("torch", kernel):
        leaf = x.clone().requires_grad_(True)
        start = None if v0 is None else v0.clone().requires_grad_(True)
        spikes, v = neurons_module.lif_multistep(leaf, config, start, backend=backend)
        ((spikes.float() * grad_spikes.float()).sum() + (v * grad_v).sum()).backward()
        outputs[backend] = (spikes.detach(), v.detach(), leaf.grad, None if start is None else start.grad)
    reference, fused = outputs["torch"], outputs[kernel]
    spikes_equal = torch.equal(reference[0], fused[0]) and reference[0].dtype == fused[0].dtype == dtype
    membrane_equal = torch.equal(reference[1], fused[1]) and reference[1].dtype == fused[1].dtype
    grad_x = (reference[2].float() - fused[2].float()).abs()
    result = {"spikes_equal": spikes_equal, "membrane_equal": membrane_equal,
              "firing_rate": float(reference[0].float().mean()),
              "grad_x_dtype_ok": reference[2].dtype == fused[2].dtype == dtype,
              "grad_x_max_difference": float(grad_x.max()),
              "grad_x_max_relative": float((grad_x / reference[2].float().abs().clamp_min(1e-30)).max()),
              "grad_x_scale": float(reference[2].float().abs().max())}
    rtol, atol = GRAD_TOLERANCE[str(dtype).removeprefix("torch.")]
    result["grad_x_close"] = bool(torch.allclose(fused[2].float(), reference[2].float(), rtol=rtol, atol=atol))
    if with_v0:
        result["grad_v0_close"] = bool(torch.allclose(fused[3], reference[3], rtol=rtol, atol=atol))
    return result


def _carried_state_case(kernel: str) -> dict:
    """The module with ``carry_state``: two calls in a row, the second starting from the first's membrane."""
    x = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(5)) + 0.5
    runs = {}
    for backend in ("torch", kernel):
        leaf = x.clone().requires_grad_(True)
        neuron = LIF("neuroclip", carry_state=True, backend=backend)
        spikes = torch.cat([neuron(leaf[:3]), neuron(leaf[3:])])
        (spikes * torch.arange(1.0, 4.0)).sum().backward()
        runs[backend] = (spikes.detach(), neuron.state.detach(), leaf.grad)
    return {"spikes_equal": torch.equal(runs["torch"][0], runs[kernel][0]),
            "membrane_equal": torch.equal(runs["torch"][1], runs[kernel][1]),
            "grad_x_close": bool(torch.allclose(runs["torch"][2], runs[kernel][2], rtol=1e-5, atol=1e-6))}


def _key(config_name: str, dtype_name: str, shape: tuple, with_v0: bool) -> str:
    return f"{config_name}/{dtype_name}/{list(shape)}/{'v0' if with_v0 else 'rest'}"


def run_comparisons(kernel: str, cases: list) -> dict:
    results = {_key(*case): _case(CONFIGS[case[0]], case[2], DTYPES[case[1]], case[3], seed, kernel)
               for seed, case in enumerate(cases)}
    results["module-carry-state"] = _carried_state_case(kernel)
    return results


def _check(results: dict, cases: list, config_name: str) -> None:
    chosen = {name: result for name, result in results.items() if name.startswith(f"{config_name}/")}
    assert len(chosen) == sum(case[0] == config_name for case in cases)
    wrong = {name: result for name, result in chosen.items()
             if not (result["spikes_equal"] and result["membrane_equal"] and result["grad_x_dtype_ok"]
                     and result["grad_x_close"] and result.get("grad_v0_close", True))}
    assert not wrong, wrong
    # the inputs exercise both sides of the threshold, and the gradient is not trivially zero
    assert all(0 < result["firing_rate"] < 1 for name, result in chosen.items() if "[1, 9]" not in name)
    assert all(result["grad_x_scale"] > 0 for result in chosen.values())


# --------------------------------------------------------------------------------------------------- tests

TRITON_MISSING = importlib.util.find_spec("triton") is None


@pytest.fixture(scope="module")
def interpreted():
    if TRITON_MISSING:
        pytest.skip("triton is not installed (it ships with torch's CUDA wheels)")
    environment = {**os.environ, "TRITON_INTERPRET": "1"}
    environment.pop(neurons_module.BACKEND_VARIABLE, None)
    completed = subprocess.run([sys.executable, str(Path(__file__))], env=environment, capture_output=True, text=True,
                               timeout=300)
    if completed.returncode == 3:
        pytest.skip(f"triton does not import in interpreter mode: {completed.stdout.strip()}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_triton_kernels_equal_the_torch_path(interpreted, config_name):
    _check(interpreted, CASES, config_name)


def test_triton_kernels_carry_the_membrane_between_calls(interpreted):
    assert interpreted["module-carry-state"] == {"spikes_equal": True, "membrane_equal": True, "grad_x_close": True}


def test_cpu_tensors_never_take_the_triton_path_outside_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.delenv(neurons_module.BACKEND_VARIABLE, raising=False)

    def refuse(*args):
        raise AssertionError("the Triton path was tried for a CPU tensor")

    monkeypatch.setattr(neurons_module, "_triton_kernels", refuse)  # not even imported
    x = torch.randn(4, 3, 5, requires_grad=True)
    LIF("spikeclip")(x).sum().backward()
    assert neurons_module.triton_unsupported(x) is not None
    with pytest.raises(ConfigError, match="CUDA"):
        neurons_module.lif_multistep(x, backend="triton")
    monkeypatch.setenv(neurons_module.BACKEND_VARIABLE, "triton")
    with pytest.raises(ConfigError, match="CUDA"):
        LIF("neuroclip")(x)
    monkeypatch.setenv(neurons_module.BACKEND_VARIABLE, "torch")
    LIF("neuroclip", backend="torch")(x)
    monkeypatch.setenv(neurons_module.BACKEND_VARIABLE, "fastest")
    with pytest.raises(ConfigError, match=neurons_module.BACKEND_VARIABLE):
        LIF("neuroclip")(x)
    with pytest.raises(ConfigError, match="backend"):
        LIF("neuroclip", backend="cupy")


# --------------------------------------------------------------------------------------------------- numba

# the float32 cases, plus inputs that span several of the kernel's chunks and threads (a ragged last chunk)
NUMBA_CASES = [case for case in CASES if case[1] == "float32"]
NUMBA_CASES += [(config, "float32", (4, 3, 30001), with_v0) for config in CONFIGS if config.startswith("preset-")
                for with_v0 in (False, True)]


@pytest.fixture(scope="module")
def numba_results():
    pytest.importorskip("numba")
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two ranges for the large cases, on any machine
    try:
        return run_comparisons("numba", NUMBA_CASES)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_numba_kernels_equal_the_torch_path(numba_results, config_name):
    _check(numba_results, NUMBA_CASES, config_name)


def test_numba_kernels_carry_the_membrane_between_calls(numba_results):
    assert numba_results["module-carry-state"] == {"spikes_equal": True, "membrane_equal": True,
                                                   "grad_x_close": True}


def test_numba_kernels_take_strided_input_and_split_it_among_threads(monkeypatch):
    lif_numba = pytest.importorskip("neuroclip.snn.lif_numba")
    x = (torch.randn(3, 200, 700) + 0.5).transpose(1, 2)  # not contiguous
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert lif_numba._ranges(200 * 700, 3) == [(0, 200 * 700)]
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)  # too few elements for 8: one range per 2**17
    assert len(lif_numba._ranges(200 * 700, 3)) == 200 * 700 * 3 // lif_numba.MIN_PER_THREAD
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    ranges = lif_numba._ranges(200 * 700, 3)
    assert len(ranges) == 3 and ranges[0][0] == 0 and ranges[-1][1] == 200 * 700
    assert all(hi == next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:]))
    leaves = [x.clone().requires_grad_(True) for _ in range(2)]
    outputs = [neurons_module.lif_multistep(leaf, NEURON_PRESETS["spikeclip"], backend=backend)
               for leaf, backend in zip(leaves, ("torch", "numba"))]
    assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])
    for spikes, _ in outputs:
        (spikes * torch.linspace(-1, 1, 700)[:, None]).sum().backward()
    assert torch.allclose(leaves[0].grad, leaves[1].grad, rtol=1e-5, atol=1e-6)
    assert leaves[1].grad.abs().max() > 0


def test_cpu_float32_takes_the_numba_path_unless_told_otherwise(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv(neurons_module.BACKEND_VARIABLE, raising=False)
    calls = []
    original = neurons_module._LIFKernelSequence.apply
    lif_numba = neurons_module._numba_kernels()

    def counted(*args):
        calls.extend([1] if args[-1] is lif_numba else [])
        return original(*args)

    monkeypatch.setattr(neurons_module._LIFKernelSequence, "apply", counted)
    x = torch.randn(4, 3, 5, requires_grad=True)
    LIF("spikeclip")(x).sum().backward()
    assert calls == [1]
    LIF("spikeclip", backend="torch")(x)
    LIF("spikeclip")(x.double())  # float64: the torch sequence
    LIF("spikeclip")(x.half())
    assert calls == [1]
    with pytest.raises(ConfigError, match="numba.*float32"):
        neurons_module.lif_multistep(x.half(), backend="numba")
    monkeypatch.setenv(neurons_module.BACKEND_VARIABLE, "torch")
    LIF("spikeclip")(x)
    assert calls == [1]
    monkeypatch.setenv(neurons_module.BACKEND_VARIABLE, "numba")
    LIF("spikeclip")(x)
    assert calls == [1, 1]
    monkeypatch.delenv(neurons_module.BACKEND_VARIABLE)
    monkeypatch.setenv("NEUROCLIP_NUMBA", "0")
    neurons_module._numba_kernels.cache_clear()
    try:
        LIF("spikeclip")(x)
        assert calls == [1, 1]
        with pytest.raises(ConfigError, match="NEUROCLIP_NUMBA=0"):
            neurons_module.lif_multistep(x, backend="numba")
    finally:
        monkeypatch.delenv("NEUROCLIP_NUMBA")
        neurons_module._numba_kernels.cache_clear()


def _lif_in_child(queue) -> None:
    torch.set_num_threads(1)  # as DataLoader workers do: torch's own OpenMP pool does not survive a fork
    x = torch.randn(4, 2, 100000) + 0.5
    queue.put(float(neurons_module.lif_multistep(x, NEURON_PRESETS["spikeclip"], backend="numba")[0].sum()))


def test_numba_thread_pool_works_in_a_forked_child(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    x = torch.randn(4, 2, 100000) + 0.5
    expected = float(neurons_module.lif_multistep(x, NEURON_PRESETS["spikeclip"], backend="torch")[0].sum())
    neurons_module.lif_multistep(x, NEURON_PRESETS["spikeclip"], backend="numba")  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    torch.manual_seed(1)
    child = context.Process(target=_lif_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked child hung or failed running the numba LIF"
    torch.manual_seed(1)
    x = torch.randn(4, 2, 100000) + 0.5
    reference = float(neurons_module.lif_multistep(x, NEURON_PRESETS["spikeclip"], backend="torch")[0].sum())
    assert queue.get(timeout=5) == reference and expected > 0


def test_half_inputs_keep_an_fp32_membrane_on_the_torch_path():
    x = torch.full((3, 2), 0.3, dtype=torch.float16, requires_grad=True)
    spikes, v = neurons_module.lif_multistep(x, NEURON_PRESETS["neuroclip"])
    assert spikes.dtype == torch.float16 and v.dtype == torch.float32
    # u = 0.3, 0.375, 0.39375 (fp32 arithmetic on the fp16 value of 0.3)
    x32 = float(torch.tensor(0.3, dtype=torch.float16))
    expected = torch.tensor(0.25 * (0.25 * x32 + x32) + x32, dtype=torch.float32)
    assert v[0] == expected
    spikes.sum().backward()
    assert x.grad.dtype == torch.float16


if __name__ == "__main__":
    try:
        import triton  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure means: skip
        print(f"{type(error).__name__}: {error}")
        sys.exit(3)
    torch.manual_seed(0)
    print(json.dumps(run_comparisons("triton", CASES)))
