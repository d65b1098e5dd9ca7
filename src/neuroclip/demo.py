"""``neuroclip demo``: the package's main job, offline, on recordings it makes itself.

1. Simulate N-MNIST-style recordings (three saccades, DVS pixel model) of the digits 0-9 rendered in several fonts;
   write them as N-MNIST ``.bin`` files and read them back.
2. Zero-shot: recognise the test recordings with a CLIP (by default the bundled ``neuroclip-mini``, which works
   offline) reading T = 10 event frames, NeuroCLIP's way.
3. Few-shot: train NeuroCLIP's spiking adapter, NeuroCLIP+ (ours) and Tip-Adapter on 1 and 4 recordings per digit
   from a separate pool (other fonts), and score them on the same test recordings; and zero-shot with the bundled
   fully spiking CLIP ``neuroclip-mini-spiking`` (SpikeCLIP distilled from neuroclip-mini).

The fonts are matplotlib's. The bundled model saw them as still 2D images in training (never as events), so the
simulated recordings are easy for it; the demo shows the pipeline, not a benchmark.
4. Print a table and draw the test recordings' frames with their predictions.

The README's results on real N-MNIST recordings come from ``neuroclip zeroshot`` / ``neuroclip fewshot``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from neuroclip.events import read_events, write_events
from neuroclip.events.simulate import nmnist_recording

DEMO_TEMPLATE = ['A black and white photo of the Arabic numeral number: "{}".']


def render_digit(digit: int, size: int = 28, font_path: str | None = None) -> np.ndarray:
    """A white digit on black, ``size`` pixels square (Pillow's built-in font, or a TrueType file)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    if font_path is not None:
        font = ImageFont.truetype(font_path, int(size * 0.9))
    else:
        try:
            font = ImageFont.load_default(size=int(size * 0.9))
        except TypeError:  # Pillow < 10.1 has a single fixed-size bitmap font
            font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    draw.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top), str(digit), fill=255, font=font)
    return np.asarray(image, np.float64) / 255.0


def demo_fonts() -> list[str | None]:
    """Fonts that ship with matplotlib (a dependency), so the demo is the same on every machine."""
    import matplotlib

    folder = Path(matplotlib.get_data_path(), "fonts", "ttf")
    names = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Italic.ttf",
             "STIXGeneral.ttf", "DejaVuSansMono-Oblique.ttf", "cmr10.ttf"]
    return [str(folder / name) if (folder / name).exists() else None for name in names]


def make_recordings(folder: Path, fonts: list, seed: int = 0) -> tuple[list[Path], list[int]]:
    """One simulated recording per digit and font, written to ``folder/<digit>/<font index>.bin``."""
    paths, labels = [], []
    for f, font in enumerate(fonts):
        for digit in range(10):
            stream = nmnist_recording(render_digit(digit, font_path=font), seed=seed + 10 * f + digit)
            paths.append(write_events(folder / str(digit) / f"font{f}.bin", stream))
            labels.append(digit)
    return paths, labels


SPIKING_MODEL = "neuroclip-mini-spiking"


def spiking_row(streams, labels: torch.Tensor, names: list[str], echo=print, device: str | None = "cpu"):
    """Zero-shot with the bundled fully spiking CLIP (``neuroclip-mini-spiking``, the spiking image tower on 4
    event-count frames and its own spiking text tower), or None with a note when the package lacks it."""
    from neuroclip.errors import ConfigError
    from neuroclip.spikeclip.model import load_spikeclip, predict_logits

    try:
        model = load_spikeclip(SPIKING_MODEL, device or "cpu")
    except ConfigError as error:
        echo(f"(no spiking row: {error})")
        return None
    streams = [s.require_events() if hasattr(s, "require_events") else s for s in streams]
    predictions = predict_logits(model, streams, names, DEMO_TEMPLATE).argmax(-1)
    return (f"SpikeCLIP {SPIKING_MODEL} (fully spiking)", 0, float((predictions == labels).float().mean()), None)


def run_demo(out: Path, model: str = "neuroclip-mini", pretrained: str | None = None, seed: int = 0,
             device: str | None = "cpu", echo=print) -> dict:
    from neuroclip.clip import ZeroShotClassifier, load_backbone
    from neuroclip.clip.features import FrameConfig, frame_features
    from neuroclip.fewshot import FewShotPlan, run_fewshot, summarize
    from neuroclip.frames.draw import draw_frame_grid
    from neuroclip.outputs import check_output_dir

    started = time.time()
    out = check_output_dir(out, "--out")
    # a wrong model name fails here, before the work; no pretrained means the model's usual weights
    backbone = load_backbone(model, "default" if pretrained is None else pretrained, device=device)
    echo(f"Loaded {model}; simulating recordings of the digits 0-9 in {len(demo_fonts())} fonts ...")
    fonts = demo_fonts()
    pool_paths, pool_labels = make_recordings(out / "recordings" / "shots", fonts[:4], seed)
    test_paths, test_labels = make_recordings(out / "recordings" / "test", fonts[4:], seed + 1000)
    pool = [read_events(p) for p in pool_paths]
    test = [read_events(p) for p in test_paths]
    echo(f"Simulated {len(pool) + len(test)} N-MNIST-style recordings (34x34, three saccades): "
         f"{np.mean([len(s) for s in test]):.0f} events and {np.mean([s.duration for s in test]) / 1000:.0f} ms on "
         f"average; written to {out / 'recordings'}")

    echo("Computing CLIP features and training the few-shot adapters ...")
    frame_config = FrameConfig()
    pool_features = frame_features(pool, backbone, frame_config)
    test_features = frame_features(test, backbone, frame_config)
    names = [str(d) for d in range(10)]
    classifier = ZeroShotClassifier(backbone, names, DEMO_TEMPLATE)
    zero_shot = classifier.logits(test_features).argmax(-1)
    labels = torch.tensor(test_labels)
    rows = [("zero-shot (no training recordings)", 0, float((zero_shot == labels).float().mean()), None)]
    plan = FewShotPlan(methods=("neuroclip", "neuroclip-plus", "tip"), shots=(1, 4), seeds=(1, 2, 3),
                       protocol="last-epoch")
    results = run_fewshot(pool_features, np.asarray(pool_labels), test_features, np.asarray(test_labels),
                          classifier.class_weights, backbone.logit_scale, plan, model_name=model,
                          device=str(backbone.device))
    for row in summarize(results):
        label = {"neuroclip": "NeuroCLIP spiking adapter", "neuroclip-plus": "NeuroCLIP+ (ours)",
                 "tip": "Tip-Adapter"}.get(row["method"], row["method"])
        rows.append((label, row["shots"], row["top1_mean"], row["top1_std"]))
    spiking = spiking_row(test, labels, names, echo, device=str(backbone.device))
    if spiking is not None:
        rows.append(spiking)

    echo(f"\nRecognising {len(test)} simulated recordings with {model}"
         f"{'' if pretrained is None else ' / ' + str(pretrained)} (T = 10 frames, chance = 10%; shots and test "
         "recordings use different fonts):")
    width = max(38, *(len(row[0]) for row in rows))
    echo(f"{'method':{width}s} {'shots':>5s} {'top-1':>14s}")
    for name, shots, accuracy, spread in rows:
        shown = f"{100 * accuracy:.1f}%" + ("" if spread is None else f" ± {100 * spread:.1f}")
        echo(f"{name:{width}s} {shots:>5d} {shown:>14s}")

    picks = [i for i in range(len(test)) if test_paths[i].stem == "font0"]  # the first test font, 0-9
    picture = draw_frame_grid([test[i] for i in picks], out / "frames.png",
                              labels=[f"true {test_labels[i]}, zero-shot {int(zero_shot[i])}" for i in picks])
    echo(f"\nFrames and zero-shot predictions: {picture}  ({time.time() - started:.0f} s in all)")
    return {"rows": rows, "picture": str(picture)}
