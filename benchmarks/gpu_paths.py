"""The GPU paths, measured on a CUDA machine, each against its peer on the same input in the same run.

    python benchmarks/gpu_paths.py [--recordings DIR] [--out results.json]

The README's table used the 200 development recordings: ``python scripts/make_nmnist_heldout.py`` then
``--recordings out/nmnist-heldout/Train``.

1. Event frames: ``batch_count_frames`` on CUDA (T = 10, split by number) against spikingjelly's
   ``integrate_events_by_fixed_frames_number`` (numpy, one stream at a time) and our CPU batched path; the outputs
   are checked equal first. Inputs: real N-MNIST recordings (every ``.bin`` under ``--recordings``) repeated to 2,000
   streams, and 8 synthetic 640x480 streams of 1,000,000 events.
2. LIF neurons: our multi-step LIF (SpikeCLIP preset: tau 2, threshold 1, hard reset to 0, detached reset, sigmoid
   surrogate alpha 4) against spikingjelly's ``LIFNode(step_mode='m')`` with the same parameters, forward and
   backward on a Spikingformer-4-384-sized input ``[4, 128, 384, 64]``; spikes and input gradients checked equal.
3. CLIP image tower (ViT-B-32, random weights): images/s in fp32 and under autocast (bf16), and how far the
   autocast features are from fp32 (cosine); then whole zero-shot feature extraction of the recordings (read, frame,
   preprocess, tower) in recordings/s.
4. SpikeCLIP's image tower at the paper's size (Spikingformer-4-384, T = 4, 32x32): training steps/s at batch 128
   in fp32 and with fp16 autocast and gradient scaling (the trainer's AMP path).

Prints one line per measurement and writes them to ``--out`` as JSON.
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


def cuda_time(function, repeats: int = 5) -> float:
    """Best wall time of ``function`` over ``repeats`` runs, synchronised, after one warm-up."""
    function()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def frames(streams, results):
    from spikingjelly.datasets.utils import integrate_events_by_fixed_frames_number

    from neuroclip.frames.functional import batch_count_frames, stack_events

    cases = {"N-MNIST real x2000": [streams[i % len(streams)] for i in range(2000)]}
    rng = np.random.default_rng(0)
    synthetic = []
    for _ in range(8):
        n = 1_000_000
        events = make_events(np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 640, n),
                             rng.integers(0, 480, n), rng.integers(0, 2, n))
        synthetic.append(EventStream(events, (640, 480)))
    cases["640x480, 1M events x8"] = synthetic
    for name, batch_streams in cases.items():
        batch = stack_events(batch_streams)
        n_events = int(batch.lengths.sum())
        on_gpu = batch.to("cuda")
        gpu = batch_count_frames(on_gpu, 10)
        cpu = batch_count_frames(batch, 10)
        width, height = batch.sensor_size
        dicts = [{key: s.events[key].astype(np.int64) for key in ("t", "x", "y", "p")} for s in batch_streams[:50]]
        peer = [integrate_events_by_fixed_frames_number(d, "number", 10, height, width) for d in dicts]
        assert torch.equal(gpu.cpu(), cpu), "CUDA and CPU frames differ"
        assert all(np.array_equal(p, c.numpy()) for p, c in zip(peer, cpu[:50])), "spikingjelly's frames differ"
        gpu_s = cuda_time(lambda: batch_count_frames(on_gpu, 10))  # noqa: B023
        start = time.perf_counter()
        batch_count_frames(batch, 10)
        cpu_s = time.perf_counter() - start
        start = time.perf_counter()
        for d in dicts:
            integrate_events_by_fixed_frames_number(d, "number", 10, height, width)
        peer_s = (time.perf_counter() - start) * len(batch_streams) / len(dicts)
        row = {"events": n_events, "gpu_mev_s": n_events / gpu_s / 1e6, "cpu_batched_mev_s": n_events / cpu_s / 1e6,
               "spikingjelly_mev_s": n_events / peer_s / 1e6, "ratio_vs_spikingjelly": peer_s / gpu_s}
        results[f"frames, {name}"] = row
        print(f"frames {name}: CUDA {row['gpu_mev_s']:.0f} Mev/s, CPU batched {row['cpu_batched_mev_s']:.1f}, "
              f"spikingjelly {row['spikingjelly_mev_s']:.1f} -> ratio {row['ratio_vs_spikingjelly']:.0f}x")


def lif(results):
    from spikingjelly.activation_based import functional, neuron, surrogate

    from neuroclip.snn.neurons import LIF, NEURON_PRESETS

    ours = LIF(NEURON_PRESETS["spikeclip"]).cuda()
    peer = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                          surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m").cuda()
    x = (torch.randn(4, 128, 384, 64, device="cuda") * 1.5).requires_grad_()
    grad = torch.randn_like(x)

    def run(module):
        if module is peer:
            functional.reset_net(peer)
        else:
            ours.reset_state()
        x.grad = None
        out = module(x)
        out.backward(grad)
        return out

    spikes_ours, grad_ours = run(ours).detach(), x.grad.clone()
    spikes_peer, grad_peer = run(peer).detach(), x.grad.clone()
    assert torch.equal(spikes_ours, spikes_peer), "spikes differ from spikingjelly's"
    max_grad_diff = float((grad_ours - grad_peer).abs().max())
    ours_s, peer_s = cuda_time(lambda: run(ours)), cuda_time(lambda: run(peer))
    results["lif, [4,128,384,64] fwd+bwd"] = {"ours_ms": ours_s * 1e3, "spikingjelly_ms": peer_s * 1e3,
                                              "ratio_vs_spikingjelly": peer_s / ours_s,
                                              "max_input_grad_difference": max_grad_diff}
    print(f"LIF fwd+bwd [4,128,384,64]: ours {ours_s * 1e3:.2f} ms, spikingjelly {peer_s * 1e3:.2f} ms -> ratio "
          f"{peer_s / ours_s:.2f}x (spikes equal, max input-gradient difference {max_grad_diff:.2e})")


def clip_tower(streams, results):
    from neuroclip.clip import load_backbone
    from neuroclip.clip.features import frame_features

    images = torch.rand(512, 3, 224, 224, device="cuda") - 0.5
    rows = {}
    for amp in (False, True):
        backbone = load_backbone("ViT-B-32", None, device="cuda", amp=amp)
        seconds = cuda_time(lambda: backbone.encode_images(images, batch_size=512), repeats=3)  # noqa: B023
        rows["amp" if amp else "fp32"] = (backbone, 512 / seconds)
    fp32 = F.normalize(rows["fp32"][0].encode_images(images[:128]).float(), dim=-1)
    amp = F.normalize(rows["amp"][0].encode_images(images[:128]).float(), dim=-1)
    cosine = float((fp32 * amp).sum(-1).min())
    backbone = rows["amp"][0]
    start = time.perf_counter()
    features = frame_features(streams, backbone, batch_size=64)
    torch.cuda.synchronize()
    end_to_end = len(streams) / (time.perf_counter() - start)
    results["clip ViT-B-32 image tower"] = {"fp32_images_s": rows["fp32"][1], "amp_images_s": rows["amp"][1],
                                            "amp_speedup": rows["amp"][1] / rows["fp32"][1],
                                            "min_cosine_amp_vs_fp32": cosine,
                                            "zero_shot_recordings_s_amp": end_to_end,
                                            "recordings": len(streams), "features": list(features.shape)}
    print(f"ViT-B-32 image tower: fp32 {rows['fp32'][1]:.0f} images/s, AMP {rows['amp'][1]:.0f} images/s "
          f"({rows['amp'][1] / rows['fp32'][1]:.1f}x), min cosine AMP vs fp32 {cosine:.4f}; zero-shot features of "
          f"{len(streams)} real recordings (T=10): {end_to_end:.0f} recordings/s")


def spikeclip_step(results):
    from neuroclip.snn.neurons import reset_states
    from neuroclip.spikeclip.config import ModelConfig
    from neuroclip.spikeclip.image_encoder import SpikingImageEncoder

    encoder = SpikingImageEncoder(ModelConfig().image).cuda().train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-4, amsgrad=True)
    scaler = torch.amp.GradScaler("cuda")
    images = torch.randn(128, 3, 32, 32, device="cuda")
    target = F.normalize(torch.randn(128, ModelConfig().image.output_dim, device="cuda"), dim=-1)
    losses = {}

    def step(amp: bool):
        reset_states(encoder)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = (1 - (F.normalize(encoder(images).float(), dim=-1) * target).sum(-1)).mean()
        scaler.scale(loss).backward() if amp else loss.backward()
        if amp:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        losses[amp] = float(loss.detach())

    fp32_s = cuda_time(lambda: step(False))
    amp_s = cuda_time(lambda: step(True))
    params = sum(p.numel() for p in encoder.parameters())
    results["spikeclip image tower train step, batch 128"] = {
        "parameters": params, "fp32_steps_s": 1 / fp32_s, "amp_steps_s": 1 / amp_s, "amp_speedup": fp32_s / amp_s,
        "last_loss_fp32": losses[False], "last_loss_amp": losses[True]}
    print(f"SpikeCLIP image tower ({params:,} parameters) train step, batch 128: fp32 {1 / fp32_s:.1f} steps/s, "
          f"AMP {1 / amp_s:.1f} steps/s ({fp32_s / amp_s:.1f}x); losses finite: "
          f"{all(np.isfinite(v) for v in losses.values())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=Path, default=REPO.parent / "shared" / "data" / "nmnist")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="*", choices=("frames", "lif", "clip", "spikeclip"), help="sections to run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    files = sorted(args.recordings.rglob("*.bin"))
    if not files:
        raise SystemExit(f"no N-MNIST recordings (.bin files) under {args.recordings}")
    streams = [read_events(f) for f in files]
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    print(f"{results['device']}, torch {results['torch']}, {len(streams)} real N-MNIST recordings")
    sections = {"frames": lambda: frames(streams, results), "lif": lambda: lif(results),
                "clip": lambda: clip_tower(streams, results), "spikeclip": lambda: spikeclip_step(results)}
    for name, section in sections.items():
        if args.only and name not in args.only:
            continue
        try:
            section()
        except Exception:  # report and go on: one broken section should not hide the others' numbers
            traceback.print_exc()
            results.setdefault("failed", []).append(traceback.format_exc(limit=3))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
