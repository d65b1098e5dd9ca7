"""The GPU paths, measured on a CUDA machine, each against its peer on the same input in the same run.

    python benchmarks/gpu_paths.py [--recordings DIR] [--out results.json] [--only SECTION ...] [--evt2 P --evt3 P]
    python benchmarks/gpu_paths.py --smoke        # tiny shapes, on the CPU when there is no GPU: checks the script
    python benchmarks/gpu_paths.py --from-json results/gpu_paths_h100.json --csv results/gpu_paths_h100.csv

``--recordings``: N-MNIST recordings (``DIR/Train/<digit>/*.bin``, or class folders, or any ``.bin`` files below);
the default is the 500 development recordings under ``../shared/data/nmnist``. About two minutes on an H100.

1. ``frames``: ``batch_count_frames`` on CUDA (T = 10, split by number) against spikingjelly's
   ``integrate_events_by_fixed_frames_number`` (numpy, one stream at a time) and our CPU batched path; the outputs
   are checked equal first. Inputs: the real recordings repeated to 2,000 streams, and 8 synthetic 640x480 streams
   of 1,000,000 events. Then the batched time surfaces and voxel grids (T = 10) of the same batches on the device,
   against our per-recording numpy functions (the path those encodings took before), checked close first.
2. ``lif``: our multi-step LIF, on its Triton kernels and on its torch path, against spikingjelly 2.0's fused
   multi-step LIF on each of its CUDA backends (``cuda``: native, only in source builds; ``triton``; ``torch``),
   selected the way ``SJ_LIF_CUDA_IMPLEMENTATION`` does, through ``LIFNode(step_mode='m')`` and through
   ``functional.lif_multi_step`` with an fp32 membrane (its fast path for fp16 / bf16 input; ``LIFNode`` keeps the
   membrane in the input dtype and so falls back to its reference code for half inputs). SpikeCLIP's neuron (tau 2,
   threshold 1, hard reset to 0, detached, sigmoid surrogate alpha 4); forward + backward on a Spikingformer-4-384
   sized ``[4, 128, 384, 64]`` fp32, NeuroCLIP's adapter bottleneck ``[10, 32, 64]``, and the largest LIF input of
   SpikeCLIP's image tower at batch 128 in fp16 and bf16 (what it sees under autocast). Reported per case: the time
   of each, our ratio against the fastest peer, spikes mismatches and the largest input-gradient difference against
   ours. Then a sweep of the kernels' block sizes (forward and backward timed apart).
3. ``clip``: the CLIP image tower (ViT-B-32, random weights): images/s in fp32 and under autocast (bf16), how far
   the autocast features are from fp32 (cosine), and zero-shot features of the real recordings framed one by one on
   the CPU (``frame_features``) in recordings/s.
4. ``end_to_end``: zero-shot recognition as the project runs it on a GPU (``zeroshot_evaluate``: loader workers read
   and pack events, ``clip_frames_batch`` frames them on the GPU, the tower under bf16 autocast, the text
   classifier), T = 10, ViT-B-32 random weights, ``default_workers`` loader workers, against the tower alone on the
   same batches: (a) the real N-MNIST recordings repeated to 10,000, read from disk, batches of 64; (b) 32 generated
   640x480 recordings of 1,000,000 events each held in memory, repeated to 1,024, batches of 8. Each is run at a
   fifth of its length and at full length: the full run gives the rate with start-up (worker processes, the text
   tower, filling the pipeline), the difference of the two the steady state. Also, at the short length, the
   previous transfer (stacked 17-byte events, blocking copies, a wait per batch); the loader alone; and per batch on
   the device alone: the copy, the framing and the tower. Prints ``end-to-end / tower-only: X%`` for each.
5. ``spikeclip``: SpikeCLIP's image tower at the paper's size (Spikingformer-4-384, T = 4, 32x32): training steps/s
   at batch 128 in fp32 and with fp16 autocast and gradient scaling (the trainer's AMP path).
6. ``timeline``: the real-time factor of ``neuroclip classify FILE --window 50ms --stride 25ms`` through the Python
   API (``classify_timeline``), ViT-B-32 random weights, on the real EVT 2.0 and EVT 3.0 samples (``--evt2``,
   ``--evt3``; default the ones under ``../shared/data/formats/prophesee``): recording seconds per wall second.

Prints one line per measurement and writes them all to ``--out`` as JSON and, flattened to one row per number
(device, section, metric, value), to ``--csv``; ``--from-json`` rewrites a stored run's JSON as that CSV without
measuring anything. (``scripts/gpu_checks.py`` checks
correctness on the GPU: devices, CLIP tags, fp16 training, zero-shot GPU against CPU; it times nothing of the above.)
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip import read_events
from neuroclip.events import EventStream, make_events

REPO = Path(__file__).resolve().parents[1]
DEVICE = torch.device("cuda")
SMOKE = False


def synchronize() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def best_time(function, repeats: int = 5) -> float:
    """Best wall time of ``function`` over ``repeats`` runs, synchronised, after one warm-up."""
    function()
    synchronize()
    best = float("inf")
    for _ in range(1 if SMOKE else repeats):
        start = time.perf_counter()
        function()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def synthetic_streams(count: int, events: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [EventStream(make_events(np.sort(rng.integers(0, 1_000_000, events)), rng.integers(0, 640, events),
                                    rng.integers(0, 480, events), rng.integers(0, 2, events)), (640, 480))
            for _ in range(count)]


# --------------------------------------------------------------------------------------------------- 1. frames


def frames(streams, results):
    from spikingjelly.datasets.utils import integrate_events_by_fixed_frames_number

    from neuroclip.frames.tensors import batch_count_frames, stack_events

    repeated = 40 if SMOKE else 2000
    cases = {f"N-MNIST real x{repeated}": [streams[i % len(streams)] for i in range(repeated)],
             f"640x480, {'10k' if SMOKE else '1M'} events x{2 if SMOKE else 8}":
                 synthetic_streams(2 if SMOKE else 8, 10_000 if SMOKE else 1_000_000)}
    for name, batch_streams in cases.items():
        batch = stack_events(batch_streams)
        n_events = int(batch.lengths.sum())
        cpu = batch_count_frames(batch, 10)
        width, height = batch.sensor_size
        dicts = [{key: s.events[key].astype(np.int64) for key in ("t", "x", "y", "p")} for s in batch_streams[:50]]
        peer = [integrate_events_by_fixed_frames_number(d, "number", 10, height, width) for d in dicts]
        assert all(np.array_equal(p, c.numpy()) for p, c in zip(peer, cpu[:50])), "spikingjelly's frames differ"
        row = {"events": n_events}
        if DEVICE.type == "cuda":
            on_gpu = batch.to(DEVICE)
            assert torch.equal(batch_count_frames(on_gpu, 10).cpu(), cpu), "CUDA and CPU frames differ"
            row["gpu_mev_s"] = n_events / best_time(lambda: batch_count_frames(on_gpu, 10)) / 1e6  # noqa: B023
        start = time.perf_counter()
        batch_count_frames(batch, 10)
        row["cpu_batched_mev_s"] = n_events / (time.perf_counter() - start) / 1e6
        start = time.perf_counter()
        for d in dicts:
            integrate_events_by_fixed_frames_number(d, "number", 10, height, width)
        row["spikingjelly_mev_s"] = n_events / ((time.perf_counter() - start) * len(batch_streams) / len(dicts)) / 1e6
        ours = row.get("gpu_mev_s", row["cpu_batched_mev_s"])
        row["ratio_vs_spikingjelly"] = ours / row["spikingjelly_mev_s"]
        results[f"frames, {name}"] = row
        print(f"frames {name}: CUDA {row.get('gpu_mev_s', float('nan')):.0f} Mev/s, CPU batched "
              f"{row['cpu_batched_mev_s']:.1f}, spikingjelly {row['spikingjelly_mev_s']:.1f} -> ratio "
              f"{row['ratio_vs_spikingjelly']:.0f}x", flush=True)
        results[f"time surface and voxel grid, {name}"] = surfaces_and_grids(batch, batch_streams, n_events)


def surfaces_and_grids(batch, batch_streams, n_events: int) -> dict:
    """T = 10 time surfaces (split by number) and voxel grids of a batch on the device, against our per-recording
    numpy functions (the path these encodings took before they were batched), checked close first."""
    from neuroclip.frames.functional import segment_bounds, time_surface, voxel_grid
    from neuroclip.frames.tensors import batch_time_surface, batch_voxel_grid

    row = {}
    sample = batch_streams[:20]
    per_recording = {
        "time_surface": lambda: [time_surface(s, stops=segment_bounds(s.events["t"], "number", 10)[1])
                                 for s in sample],
        "voxel_grid": lambda: [voxel_grid(s, n_bins=10) for s in sample]}
    batched = {"time_surface": lambda b: batch_time_surface(b, 10), "voxel_grid": lambda b: batch_voxel_grid(b, 10)}
    on_device = batch.to(DEVICE)
    for name in ("time_surface", "voxel_grid"):
        expected = np.stack(per_recording[name]())
        got = batched[name](on_device)
        np.testing.assert_allclose(got[:len(sample)].cpu().numpy(), expected, rtol=1e-5, atol=1e-5)
        sample_events = sum(len(s) for s in sample)
        numpy_mev_s = sample_events / best_time(per_recording[name], repeats=1 if SMOKE else 3) / 1e6
        device_mev_s = n_events / best_time(lambda b=on_device, f=batched[name]: f(b)) / 1e6
        row[name] = {"device_mev_s": device_mev_s, "per_recording_numpy_mev_s": numpy_mev_s,
                     "ratio": device_mev_s / numpy_mev_s}
        print(f"  {name}: {DEVICE.type} batched {device_mev_s:.0f} Mev/s, per recording (numpy) "
              f"{numpy_mev_s:.1f} -> {device_mev_s / numpy_mev_s:.0f}x", flush=True)
    return row


# --------------------------------------------------------------------------------------------------- 2. LIF


def _spikingjelly_backends():
    """``{name: reason}`` for the backends that cannot run, and a function selecting one by name (``None``: the
    automatic choice). spikingjelly 2.0 reads ``SJ_LIF_CUDA_IMPLEMENTATION`` once, at import; switching within one
    process sets the same request on its selection object (a private attribute, checked through the public
    ``functional.neuron_implementation``)."""
    from spikingjelly._ops import lif as sj_lif_ops
    from spikingjelly.activation_based import functional

    selection = sj_lif_ops._selection

    def select(name: str | None) -> str:
        selection._requested = name or "auto"
        selection._selections.clear()
        selection._compiled_selections.clear()
        return functional.neuron_implementation("lif", DEVICE)["implementation"]

    select(None)
    unavailable = dict(functional.neuron_implementation("lif", DEVICE)["unavailable"])
    unavailable["cupy"] = "spikingjelly 2.0 has no CuPy LIF (its CUDA backends: cuda, triton, torch)"
    return unavailable, select


def _lif_shapes() -> dict:
    """Name -> (shape, dtype): the realistic LIF inputs."""
    from neuroclip.snn.neurons import LIF
    from neuroclip.spikeclip.config import ModelConfig, model_config
    from neuroclip.spikeclip.image_encoder import SpikingImageEncoder

    shapes = {"[4,128,384,64] fp32": ((4, 8, 24, 16) if SMOKE else (4, 128, 384, 64), torch.float32),
              "NeuroCLIP adapter [10,32,64] fp32": ((10, 4, 8) if SMOKE else (10, 32, 64), torch.float32)}
    config = model_config("tiny").image if SMOKE else ModelConfig().image
    encoder = SpikingImageEncoder(config).to(DEVICE)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((tuple(i[0].shape), i[0].dtype)))
             for m in encoder.modules() if isinstance(m, LIF)]
    images = torch.zeros(2 if SMOKE else 128, 3, 32, 32, device=DEVICE)
    autocast_inputs = {}
    for dtype in (torch.float16, torch.bfloat16):
        seen.clear()
        with torch.no_grad(), torch.autocast(DEVICE.type, dtype=dtype):
            encoder(images)
        autocast_inputs[str(dtype).removeprefix("torch.")] = sorted({str(d).removeprefix("torch.") for _, d in seen})
    for hook in hooks:
        hook.remove()
    largest = max((shape for shape, _ in seen), key=lambda s: (int(np.prod(s)), s))
    for dtype in (torch.float16, torch.bfloat16):
        shapes[f"SpikeCLIP image tower {list(largest)} {str(dtype).removeprefix('torch.')}"] = (largest, dtype)
    del encoder
    print(f"LIF: SpikeCLIP image tower at batch {images.shape[0]}: {len(seen)} LIF layers, largest input "
          f"{list(largest)}; input dtypes under autocast: {autocast_inputs}", flush=True)
    return shapes


def lif(results):
    from spikingjelly.activation_based import functional, neuron, surrogate

    from neuroclip.snn import lif_triton
    from neuroclip.snn.neurons import LIF, NEURON_PRESETS, lif_multistep, triton_unsupported

    preset = NEURON_PRESETS["spikeclip"]
    unavailable, select = _spikingjelly_backends() if DEVICE.type == "cuda" else ({}, None)
    sj_backends = [name for name in ("cuda", "triton", "torch", "cupy") if name not in unavailable]
    for name, reason in unavailable.items():
        print(f"LIF: spikingjelly backend {name} skipped: {reason}", flush=True)
    ours_triton_reason = triton_unsupported(torch.zeros(1, 1, device=DEVICE))
    if ours_triton_reason:
        print(f"LIF: our Triton path skipped: {ours_triton_reason}", flush=True)
    surrogate_function = surrogate.Sigmoid(alpha=4.0)
    node = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                          surrogate_function=surrogate_function, step_mode="m")

    for case, (shape, dtype) in _lif_shapes().items():
        torch.manual_seed(0)
        x = (torch.randn(shape, device=DEVICE) * 1.5 + 0.5).to(dtype).requires_grad_()
        grad = torch.randn(shape, device=DEVICE).to(dtype)

        def run(forward, x=x, grad=grad):
            x.grad = None
            out = forward(x)
            out.backward(grad)
            return out

        def sj_module(x):
            functional.reset_net(node)
            return node(x)

        def sj_functional(x):
            v = torch.zeros(x.shape[1:], device=x.device, dtype=torch.float32)
            return functional.lif_multi_step(x, v, 2.0, True, 1.0, 0.0, surrogate_function, True)[0]

        candidates = {"ours (torch path)": lambda x: lif_multistep(x, preset, backend="torch")[0]}
        if not ours_triton_reason:
            candidates["ours (Triton)"] = lambda x: lif_multistep(x, preset, backend="triton")[0]
        peers = {}
        for backend in sj_backends if DEVICE.type == "cuda" else ["cpu"]:
            if select is not None and backend != "cupy":
                chosen = select(backend)
                if chosen != backend:
                    print(f"LIF: spikingjelly backend {backend} skipped: selection gave {chosen}", flush=True)
                    continue
            for api, function in (("LIFNode", sj_module), ("lif_multi_step fp32 state", sj_functional)):
                label = f"spikingjelly {backend}, {api}"
                try:
                    spikes = run(function).detach()
                    grads = x.grad.clone()
                    peers[label] = (best_time(lambda f=function: run(f)), spikes, grads)
                except Exception as error:  # noqa: BLE001 - one backend failing is a result, not the end
                    print(f"LIF {case}: {label} failed: {type(error).__name__}: {error}", flush=True)
        if select is not None:
            select(None)
        ours = {}
        for label, function in candidates.items():
            spikes = run(function).detach()
            ours[label] = (best_time(lambda f=function: run(f)), spikes, x.grad.clone())
        reference_label = "ours (Triton)" if "ours (Triton)" in ours else "ours (torch path)"
        _, reference_spikes, reference_grad = ours[reference_label]
        row = {"shape": list(shape), "dtype": str(dtype).removeprefix("torch."), "ms": {}, "spike_mismatches": {},
               "max_input_grad_difference": {}, "compared_with": reference_label}
        for label, (seconds, spikes, grads) in {**ours, **peers}.items():
            row["ms"][label] = seconds * 1e3
            row["spike_mismatches"][label] = int((spikes != reference_spikes).sum())
            row["max_input_grad_difference"][label] = float((grads.float() - reference_grad.float()).abs().max())
        if peers:
            fastest = min(peers, key=lambda k: peers[k][0])
            row["fastest_peer"] = fastest
            for label in ours:
                row[f"ratio vs fastest peer, {label}"] = peers[fastest][0] / ours[label][0]
        results[f"lif, {case} fwd+bwd"] = row
        print(f"LIF fwd+bwd {case}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in row["ms"].items()), flush=True)
        for label in ours:
            if peers:
                print(f"  {label}: ratio {row[f'ratio vs fastest peer, {label}']:.2f}x vs the fastest peer "
                      f"({row['fastest_peer']})", flush=True)
        print("  against " + reference_label + ": spike mismatches "
              + ", ".join(f"{k} {v}" for k, v in row["spike_mismatches"].items()) + "; max input-gradient difference "
              + ", ".join(f"{k} {v:.1e}" for k, v in row["max_input_grad_difference"].items()), flush=True)

    # NeuroCLIP's own neuron (rectangular surrogate, attached reset: no peer has it) at the adapter's shape
    x = (torch.randn((10, 4, 8) if SMOKE else (10, 32, 64), device=DEVICE) + 0.3).requires_grad_()
    timings = {}
    for backend in (("torch",) if ours_triton_reason else ("torch", "triton")):
        def step(backend=backend):
            x.grad = None
            LIF("neuroclip", backend=backend)(x).sum().backward()
        timings[backend] = best_time(step) * 1e3
    results["lif, NeuroCLIP preset [10,32,64] fwd+bwd, ours"] = {"ms": timings}
    print("LIF fwd+bwd NeuroCLIP preset [10,32,64], ours: "
          + ", ".join(f"{k} {v:.3f} ms" for k, v in timings.items()), flush=True)

    if not ours_triton_reason:
        _triton_equals_torch(results, lif_multistep, NEURON_PRESETS)
        if DEVICE.type == "cuda":
            _block_sweep(results, lif_triton, preset)


def _triton_equals_torch(results, lif_multistep, presets):
    """The compiled kernels against the torch path, every preset and dtype, from a given membrane (the tests check
    this on the CPU through Triton's interpreter; here the GPU's own compiled code)."""
    rows = {}
    for name, config in presets.items():
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            generator = torch.Generator(device=DEVICE).manual_seed(1)
            x = (torch.randn(5, 1000, 37, device=DEVICE, generator=generator) * 1.5 + 0.5).to(dtype)
            v0 = torch.rand(1000, 37, device=DEVICE, generator=generator)
            grad, grad_v = torch.randn_like(x), torch.randn_like(v0)
            out = {}
            for backend in ("torch", "triton"):
                leaf, start = x.clone().requires_grad_(), v0.clone().requires_grad_()
                spikes, v = lif_multistep(leaf, config, start, backend=backend)
                ((spikes * grad).float().sum() + (v * grad_v).sum()).backward()
                out[backend] = (spikes.detach(), v.detach(), leaf.grad.float(), start.grad)
            reference, fused = out["torch"], out["triton"]
            scale = reference[2].abs().max().clamp_min(1e-30)
            rows[f"{name} {str(dtype).removeprefix('torch.')}"] = {
                "spike_mismatches": int((reference[0] != fused[0]).sum()),
                "membrane_mismatches": int((reference[1] != fused[1]).sum()),
                "max_input_grad_difference_relative": float((reference[2] - fused[2]).abs().max() / scale),
                "max_v0_grad_difference": float((reference[3] - fused[3]).abs().max())}
    results["lif, Triton vs torch path [5,1000,37] from a membrane"] = rows
    print("LIF Triton vs torch path, [5,1000,37] from a membrane: " + "; ".join(
        f"{k}: {v['spike_mismatches']} spike / {v['membrane_mismatches']} membrane mismatches, input grad rel. diff "
        f"{v['max_input_grad_difference_relative']:.1e}" for k, v in rows.items()), flush=True)


def _block_sweep(results, lif_triton, preset):
    """The kernels alone (no autograd) at other block sizes: what the constants in lif_triton.py should be."""
    x = torch.randn(4, 128, 384, 64, device=DEVICE) * 1.5
    grad = torch.randn_like(x)
    params = {"decay": preset.decay, "input_scale": preset.input_scale, "threshold": preset.threshold,
              "reset": preset.reset, "reset_value": preset.reset_value}
    sweep = {}
    for block in (512, 1024, 2048):
        sweep[f"forward block {block}"] = best_time(lambda b=block: lif_triton.forward(x, None, **params, block=b))
    for block in (256, 512, 1024):
        sweep[f"backward block {block}"] = best_time(lambda b=block: lif_triton.backward(
            x, None, grad, None, **params, detach_reset=preset.detach_reset, surrogate=preset.surrogate,
            surrogate_parameter=preset.surrogate_parameter, block=b))
    sweep = {k: v * 1e3 for k, v in sweep.items()}
    results["lif, Triton block sweep [4,128,384,64] fp32 (ms)"] = {
        **sweep, "defaults": {"forward": lif_triton.FORWARD_BLOCK, "backward": lif_triton.backward_block(4)}}
    print("LIF Triton block sweep [4,128,384,64] fp32: " + ", ".join(f"{k} {v:.3f} ms" for k, v in sweep.items()),
          flush=True)


# --------------------------------------------------------------------------------------------------- 3. CLIP tower


def clip_tower(streams, results):
    from neuroclip.clip import load_backbone
    from neuroclip.clip.features import frame_features

    n = 4 if SMOKE else 512
    images = torch.rand(n, 3, 224, 224, device=DEVICE) - 0.5
    rows = {}
    for amp in (False, True):  # (CPU autocast is bf16 and very slow: a smoke run on the CPU times fp32 twice)
        backbone = load_backbone("ViT-B-32", None, device=DEVICE, amp=amp and DEVICE.type == "cuda")
        seconds = best_time(lambda: backbone.encode_images(images, batch_size=n), repeats=3)  # noqa: B023
        rows["amp" if amp else "fp32"] = (backbone, n / seconds)
    fp32 = F.normalize(rows["fp32"][0].encode_images(images[:128]).float(), dim=-1)
    amp = F.normalize(rows["amp"][0].encode_images(images[:128]).float(), dim=-1)
    cosine = float((fp32 * amp).sum(-1).min())
    recordings = streams[:2] if SMOKE else streams
    start = time.perf_counter()
    features = frame_features(recordings, rows["amp"][0], batch_size=64)
    synchronize()
    cpu_framed = len(recordings) / (time.perf_counter() - start)
    results["clip ViT-B-32 image tower"] = {"fp32_images_s": rows["fp32"][1], "amp_images_s": rows["amp"][1],
                                            "amp_speedup": rows["amp"][1] / rows["fp32"][1],
                                            "min_cosine_amp_vs_fp32": cosine,
                                            "zero_shot_recordings_s_amp_cpu_framing": cpu_framed,
                                            "recordings": len(recordings), "features": list(features.shape)}
    print(f"ViT-B-32 image tower: fp32 {rows['fp32'][1]:.0f} images/s, AMP {rows['amp'][1]:.0f} images/s "
          f"({rows['amp'][1] / rows['fp32'][1]:.1f}x), min cosine AMP vs fp32 {cosine:.4f}; zero-shot features of "
          f"{len(recordings)} real recordings framed on the CPU one by one (T=10): {cpu_framed:.0f} recordings/s",
          flush=True)


# --------------------------------------------------------------------------------------------------- 4. end to end


class Repeated:
    """``base`` repeated to ``length`` items (the same recordings read again)."""

    def __init__(self, base, length: int, name: str):
        self.base, self.length, self.name = base, length, name

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.base[index % len(self.base)]


class InMemory:
    """Generated recordings held in memory, all labelled 0."""

    name = "generated-640x480"

    def __init__(self, streams):
        self.streams = streams

    def __len__(self) -> int:
        return len(self.streams)

    def __getitem__(self, index: int):
        return self.streams[index], 0


def _nmnist_dataset(root: Path):
    from neuroclip.datasets import get_dataset
    from neuroclip.datasets.folder import FolderDataset

    if (root / "Train").is_dir():
        return get_dataset("nmnist", root, "train_full")
    if (root / "Test").is_dir():
        return get_dataset("nmnist", root, "test")
    return FolderDataset(root)


def _timed_evaluate(evaluate, dataset) -> float:
    synchronize()
    start = time.perf_counter()
    result = evaluate(dataset)
    synchronize()
    assert result["n_samples"] == len(dataset)
    return time.perf_counter() - start


def _previous_transfer(dataset, backbone, frame_config, batch_size: int, workers: int) -> float:
    """Seconds of the features loop as it was before the packed transfer: stacked EventBatches (17 bytes per event,
    not pinned: the DataLoader cannot pin a dataclass without ``pin_memory``), a blocking copy, and a wait for each
    batch's features before the next batch is queued."""
    from neuroclip.datasets.loader import make_event_loader
    from neuroclip.frames import clip_frames_batch

    synchronize()
    start = time.perf_counter()
    for events, _, _ in make_event_loader(dataset, batch_size, workers, pin_memory=DEVICE.type == "cuda"):
        images = clip_frames_batch(events, frame_config, backbone.image_size, device=DEVICE)
        backbone.encode_images(images.flatten(0, 1)).cpu().numpy()
    synchronize()
    return time.perf_counter() - start


def _device_budget(dataset, backbone, frame_config, batch_size: int) -> dict:
    """ms per batch on the device alone: the packed batch's host-to-device copy (from pinned memory when on a GPU),
    the framing (count, encode, resize, normalise) and the tower, each timed apart on one batch."""
    from neuroclip.frames import clip_frames_batch
    from neuroclip.frames.tensors import pack_events

    streams = [dataset[i][0] for i in range(batch_size)]
    packed = pack_events(streams, times=frame_config.split_by == "time")
    if DEVICE.type == "cuda":
        packed = packed.pin_memory()
    on_device = packed.to(DEVICE)
    images = clip_frames_batch(on_device, frame_config, backbone.image_size, device=DEVICE)
    framing = best_time(lambda: clip_frames_batch(on_device, frame_config, backbone.image_size, device=DEVICE))
    return {"bytes_per_event": packed.nbytes / max(packed.n_events, 1), "events": packed.n_events,
            "copy_ms": best_time(lambda: packed.to(DEVICE)) * 1e3, "framing_ms": framing * 1e3,
            "framing_mev_s": packed.n_events / framing / 1e6,
            "tower_ms": best_time(lambda: backbone.encode_images(images.flatten(0, 1))) * 1e3}


def end_to_end(recordings: Path, results):
    from neuroclip.clip import load_backbone
    from neuroclip.clip.evaluate import zeroshot_evaluate
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.datasets.loader import make_event_loader
    from neuroclip.devices import default_workers
    from neuroclip.frames import FrameConfig

    backbone = load_backbone("ViT-B-32", None, device=DEVICE, amp=DEVICE.type == "cuda")
    settings = resolve_settings("nmnist", dataset_classes=[str(d) for d in range(10)])
    frame_config = FrameConfig(threshold=settings.threshold)
    workers = 0 if SMOKE else default_workers(DEVICE)  # what a user on this machine gets
    nmnist = _nmnist_dataset(recordings)
    vga = InMemory(synthetic_streams(2 if SMOKE else 32, 20_000 if SMOKE else 1_000_000, 1))
    cases = {  # name: (dataset, batch size); the long run, and a fifth of it for the steady state by difference
        "N-MNIST real": (Repeated(nmnist, 3 if SMOKE else 10_000, "nmnist"), 1 if SMOKE else 64),
        "640x480, 1M events": (Repeated(vga, 3 if SMOKE else 1024, vga.name), 1 if SMOKE else 8),
    }
    for name, (dataset, batch_size) in cases.items():
        def evaluate(data, batch_size=batch_size):
            return zeroshot_evaluate(data, backbone, settings.classnames, settings.templates, frame_config,
                                     batch_size=batch_size, num_workers=workers, progress=False)

        short = Repeated(dataset, max(batch_size, len(dataset) // 5), dataset.name)
        evaluate(Repeated(dataset, batch_size, dataset.name))  # warm-up: kernels, autotuning, text tower
        short_s = _timed_evaluate(evaluate, short)
        long_s = _timed_evaluate(evaluate, dataset)
        steady = (len(dataset) - len(short)) / max(long_s - short_s, 1e-9)
        previous_s = _previous_transfer(short, backbone, frame_config, batch_size, workers)
        # the loader alone (workers reading and packing, the pin-memory thread): what the host can feed
        loader_start = time.perf_counter()
        for _ in make_event_loader(dataset, batch_size, workers, pin_memory=DEVICE.type == "cuda", packed=True,
                                   times=False):
            pass
        loader_rate = len(dataset) / (time.perf_counter() - loader_start)
        images = torch.rand(batch_size * 10, 3, backbone.image_size, backbone.image_size, device=DEVICE) - 0.5
        tower_batches = 1 if SMOKE else 30

        def tower(images=images, tower_batches=tower_batches):
            for _ in range(tower_batches):
                backbone.encode_images(images)

        tower_rate = tower_batches * batch_size / best_time(tower, repeats=2)
        budget = _device_budget(dataset, backbone, frame_config, batch_size)
        row = {"recordings": len(dataset), "batch_recordings": batch_size, "frames": 10, "loader_workers": workers,
               "end_to_end_recordings_s_with_startup": len(dataset) / long_s,
               "end_to_end_recordings_s_steady_state": steady,
               "steady_state_from": f"runs of {len(short)} and {len(dataset)} recordings (difference)",
               "tower_only_recordings_s": tower_rate,
               "with_startup_over_tower_only": len(dataset) / long_s / tower_rate,
               "steady_state_over_tower_only": steady / tower_rate,
               f"recordings_s_{len(short)}_with_startup": len(short) / short_s,
               f"recordings_s_{len(short)}_with_startup_previous_transfer": len(short) / previous_s,
               "loader_only_recordings_s": loader_rate,
               "per_batch_on_device_alone": budget}
        results[f"end to end zero-shot, {name}"] = row
        print(f"end-to-end zero-shot, {name} (T=10, batches of {batch_size}, {workers} workers): "
              f"{len(dataset)} recordings in {long_s:.2f} s = {len(dataset) / long_s:.0f} recordings/s with start-up, "
              f"{steady:.0f} steady state; tower only {tower_rate:.0f}; end-to-end / tower-only: "
              f"{100 * len(dataset) / long_s / tower_rate:.0f}% with start-up, {100 * steady / tower_rate:.0f}% "
              f"steady", flush=True)
        print(f"  {len(short)} recordings with start-up: {len(short) / short_s:.0f} recordings/s, previous transfer "
              f"(EventBatch, 17 B/event, blocking) {len(short) / previous_s:.0f}; loader alone {loader_rate:.0f} "
              f"recordings/s; per batch on the device: copy {budget['copy_ms']:.2f} ms "
              f"({budget['bytes_per_event']:.1f} B/event), framing {budget['framing_ms']:.2f} ms "
              f"({budget['framing_mev_s']:.0f} Mev/s), tower {budget['tower_ms']:.2f} ms", flush=True)


# --------------------------------------------------------------------------------------------------- 6. timeline


def timeline(evt2: Path, evt3: Path, results):
    """The real-time factor of ``neuroclip classify FILE --window 50ms --stride 25ms`` through the Python API
    (:func:`neuroclip.timeline.classify_timeline`), ViT-B-32 random weights (bf16 autocast on CUDA), on the real EVT
    2.0 and EVT 3.0 sample recordings. RTF = recording seconds processed per wall second (as the command prints it:
    the text prompts' embedding included); also without it (the windows alone)."""
    from neuroclip.clip import load_backbone
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.clip.zeroshot import ZeroShotClassifier
    from neuroclip.timeline import classify_timeline

    backbone = load_backbone("ViT-B-32", None, device=DEVICE, amp=DEVICE.type == "cuda")
    settings = resolve_settings(None, classnames="pedestrian,car,cyclist,sparkler,firework,tree,building,road")
    for label, option, path in (("EVT 2.0", "--evt2", evt2), ("EVT 3.0", "--evt3", evt3)):
        if not path.is_file():
            raise FileNotFoundError(f"the {label} sample recording {path} is missing: pass {option} PATH")

        def run(path=path):
            return classify_timeline(path, backbone, settings.classnames, settings.templates, window_us=50_000,
                                     stride_us=25_000)

        run()  # warm-up
        repeats = 1 if SMOKE else 5
        best = min((run() for _ in range(repeats)), key=lambda r: r["seconds"])
        prompts = best_time(lambda: ZeroShotClassifier(backbone, settings.classnames, settings.templates),
                            repeats=repeats)
        recorded = best["realtime_factor"] * best["seconds"]
        windows = len(best["rows"])
        results[f"timeline, {label}"] = {
            "file": str(path), "window_ms": 50, "stride_ms": 25, "windows": windows,
            "events": sum(row["events"] for row in best["rows"]), "recording_s": recorded,
            "seconds": best["seconds"], "realtime_factor": best["realtime_factor"],
            "prompt_embedding_s": prompts,
            "realtime_factor_windows_only": recorded / max(best["seconds"] - prompts, 1e-9)}
        print(f"timeline {label} ({path.name}, {windows} windows of 50 ms every 25 ms, {recorded * 1e3:.0f} ms "
              f"recorded): {best['seconds'] * 1e3:.0f} ms -> real-time factor {best['realtime_factor']:.2f} "
              f"(windows alone, without the {prompts * 1e3:.0f} ms prompt embedding: "
              f"{recorded / max(best['seconds'] - prompts, 1e-9):.2f})", flush=True)


# --------------------------------------------------------------------------------------------------- 5. SpikeCLIP


def spikeclip_step(results):
    from neuroclip.snn.neurons import reset_states
    from neuroclip.spikeclip.config import ModelConfig, model_config
    from neuroclip.spikeclip.image_encoder import SpikingImageEncoder

    config = model_config("tiny").image if SMOKE else ModelConfig().image
    batch = 2 if SMOKE else 128
    encoder = SpikingImageEncoder(config).to(DEVICE).train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-4, amsgrad=True)
    scaler = torch.amp.GradScaler(DEVICE.type, enabled=DEVICE.type == "cuda")
    images = torch.randn(batch, 3, 32, 32, device=DEVICE)
    target = F.normalize(torch.randn(batch, config.output_dim, device=DEVICE), dim=-1)
    amp_dtype = torch.float16 if DEVICE.type == "cuda" else torch.bfloat16
    losses = {}

    def step(amp: bool):
        reset_states(encoder)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(DEVICE.type, dtype=amp_dtype, enabled=amp):
            loss = (1 - (F.normalize(encoder(images).float(), dim=-1) * target).sum(-1)).mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses[amp] = float(loss.detach())

    fp32_s = best_time(lambda: step(False))
    amp_s = best_time(lambda: step(True))
    params = sum(p.numel() for p in encoder.parameters())
    results[f"spikeclip image tower train step, batch {batch}"] = {
        "parameters": params, "fp32_steps_s": 1 / fp32_s, "amp_steps_s": 1 / amp_s, "amp_speedup": fp32_s / amp_s,
        "last_loss_fp32": losses[False], "last_loss_amp": losses[True]}
    print(f"SpikeCLIP image tower ({params:,} parameters) train step, batch {batch}: fp32 {1 / fp32_s:.1f} steps/s, "
          f"AMP {1 / amp_s:.1f} steps/s ({fp32_s / amp_s:.1f}x); losses finite: "
          f"{all(np.isfinite(v) for v in losses.values())}", flush=True)


# --------------------------------------------------------------------------------------------------- main

SECTIONS = ("frames", "lif", "clip", "end_to_end", "spikeclip", "timeline")
SAMPLES = REPO.parent / "shared" / "data" / "formats" / "prophesee"


def csv_rows(results: dict) -> list[dict]:
    """One row per measured value: the section (a top-level key), the metric (the nested keys, joined by ' / ')
    and the value (lists as JSON). The run's own fields (device, torch, ...) become columns of every row."""
    run = {key: value for key, value in results.items() if not isinstance(value, (dict, list))}
    rows = []

    def walk(section, prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(section, f"{prefix} / {key}" if prefix else str(key), item)
        else:
            rows.append({**run, "section": section, "metric": prefix,
                         "value": json.dumps(value) if isinstance(value, list) else value})

    for section, value in results.items():
        if isinstance(value, (dict, list)):
            walk(section, "", value)
    return rows


def write_csv(results: dict, path: Path) -> None:
    import csv

    rows = csv_rows(results)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as fp:
        writer = csv.DictWriter(fp, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


def main():
    global DEVICE, SMOKE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "nmnist")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--evt2", type=Path, default=SAMPLES / "sparklers_evt2.raw",
                        help="the EVT 2.0 recording of the timeline section")
    parser.add_argument("--evt3", type=Path, default=SAMPLES / "pedestrians_evt3.raw",
                        help="the EVT 3.0 recording of the timeline section")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="sections to run")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny shapes, one repeat, on the CPU when there is no GPU: a check of the script")
    parser.add_argument("--csv", type=Path, help="also write the results here as CSV, one row per number")
    parser.add_argument("--from-json", type=Path, help="measure nothing: write this stored run's JSON as --csv")
    args = parser.parse_args()
    if args.from_json:
        if not args.csv:
            parser.error("--from-json writes CSV: add --csv PATH")
        try:
            stored = json.loads(args.from_json.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--from-json {args.from_json}: cannot read it as JSON ({error})")
        write_csv(stored, args.csv)
        print(f"{len(csv_rows(stored))} rows -> {args.csv}")
        return
    SMOKE = args.smoke
    if not torch.cuda.is_available():
        if not SMOKE:
            raise SystemExit("this benchmark needs a CUDA GPU (or --smoke for a dry run on the CPU)")
        DEVICE = torch.device("cpu")
    files = sorted(args.recordings.rglob("*.bin"))
    if not files:
        raise SystemExit(f"no N-MNIST recordings (.bin files) under {args.recordings}")
    streams = [read_events(f) for f in (files[:40] if SMOKE else files)]
    if DEVICE.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    results = {"device": torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu",
               "torch": torch.__version__, "smoke": SMOKE}
    try:
        import triton

        results["triton"] = triton.__version__
    except ImportError:
        results["triton"] = None
    try:
        import spikingjelly

        results["spikingjelly"] = getattr(spikingjelly, "__version__", None)
    except ImportError:
        results["spikingjelly"] = None
    print(f"{results['device']}, torch {results['torch']}, triton {results['triton']}, {len(streams)} real N-MNIST "
          f"recordings{' (smoke run: tiny shapes, numbers meaningless)' if SMOKE else ''}", flush=True)
    sections = {"frames": lambda: frames(streams, results), "lif": lambda: lif(results),
                "clip": lambda: clip_tower(streams, results),
                "end_to_end": lambda: end_to_end(args.recordings, results),
                "spikeclip": lambda: spikeclip_step(results),
                "timeline": lambda: timeline(args.evt2, args.evt3, results)}
    started = time.perf_counter()
    for name, section in sections.items():
        if args.only and name not in args.only:
            continue
        section_start = time.perf_counter()
        try:
            section()
        except Exception:  # report and go on: one broken section should not hide the others' numbers
            traceback.print_exc()
            results.setdefault("failed", []).append(traceback.format_exc(limit=3))
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - section_start, 1)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
        if args.csv:
            write_csv(results, args.csv)
    print(f"done in {time.perf_counter() - started:.0f} s; sections: {results.get('seconds')}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    if results.get("failed"):
        raise SystemExit(f"{len(results['failed'])} section(s) failed")


if __name__ == "__main__":
    main()
