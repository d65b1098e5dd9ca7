"""Where the time goes in zero-shot recognition on the CPU: reading, framing and CLIP preprocessing against the
ViT-B-32 image tower (random weights: the cost is the architecture's, not the weights').

    python benchmarks/zeroshot_profile.py [--files 16] [--threads 2]

Ends with the line ``non-CLIP share: <percent>%``. For comparison it also frames the same streams with tonic's
ToFrame (counts only), the peer library's equivalent of our framing step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from neuroclip import read_events
from neuroclip.clip import load_backbone
from neuroclip.frames.functional import encode
from neuroclip.frames.tensors import to_clip_input

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nmnist"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(DATA.glob("Train/*/*.bin"))[:: max(1, 500 // args.files)][: args.files]
    if not files:
        raise SystemExit(f"no real N-MNIST recordings under {DATA}")
    backbone = load_backbone(args.model, None, device="cpu")

    timings = {}
    start = time.perf_counter()
    streams = [read_events(p) for p in files]
    timings["read"] = time.perf_counter() - start
    start = time.perf_counter()
    frames = [encode(s, "discrimination", 10) for s in streams]
    timings["frame"] = time.perf_counter() - start
    start = time.perf_counter()
    images = torch.stack([to_clip_input(f, backbone.image_size) for f in frames])
    timings["preprocess"] = time.perf_counter() - start
    backbone.encode_images(images[0, :2])  # warm-up
    start = time.perf_counter()
    features = backbone.encode_images(images.flatten(0, 1), batch_size=40)
    timings["clip image tower"] = time.perf_counter() - start

    try:
        import tonic

        to_frame = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_event_bins=10)
        start = time.perf_counter()
        for stream in streams:
            to_frame(stream.to_tonic())
        tonic_seconds = time.perf_counter() - start
    except ImportError:
        tonic_seconds = None

    total = sum(timings.values())
    print(f"{len(files)} real N-MNIST recordings, T = 10, {args.model} (random weights), CPU, "
          f"{args.threads} thread(s); features {tuple(features.shape)}")
    for name, seconds in timings.items():
        print(f"  {name:18s} {seconds * 1000:9.1f} ms  {100 * seconds / total:5.1f}%")
    if tonic_seconds is not None:
        print(f"  (peer: tonic ToFrame counts alone took {tonic_seconds * 1000:.1f} ms; our framing "
              f"{timings['frame'] * 1000:.1f} ms, ratio {tonic_seconds / timings['frame']:.1f}x)")
    share = 100 * (timings["read"] + timings["frame"] + timings["preprocess"]) / total
    print(f"non-CLIP share: {share:.2f}%")


if __name__ == "__main__":
    main()
