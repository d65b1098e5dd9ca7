"""``neuroclip demo``: an offline walk through the package on recordings it makes itself.

It renders the digits 0-9, simulates an N-MNIST recording of each (three saccades, DVS pixel model), writes them as
N-MNIST ``.bin`` files, reads them back, prints their summary and draws their frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuroclip.events import EventStream, read_events, write_events
from neuroclip.events.simulate import nmnist_recording


def render_digit(digit: int, size: int = 28) -> np.ndarray:
    """A white digit on black, ``size`` pixels square, drawn with Pillow's built-in font."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=int(size * 0.9))
    except TypeError:  # Pillow < 10.1 has a single fixed-size bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    draw.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top), str(digit), fill=255, font=font)
    return np.asarray(image, np.float64) / 255.0


def make_sample_recordings(folder: Path, seed: int = 0) -> list[Path]:
    """Write one simulated N-MNIST-style recording per digit into ``folder/<digit>/sample.bin``."""
    paths = []
    for digit in range(10):
        stream = nmnist_recording(render_digit(digit), seed=seed + digit)
        paths.append(write_events(folder / str(digit) / "sample.bin", stream))
    return paths


def run_demo(out: Path, seed: int = 0, echo=print) -> list[EventStream]:
    out = Path(out)
    paths = make_sample_recordings(out / "recordings", seed)
    streams = [read_events(p) for p in paths]
    echo(f"Simulated N-MNIST-style recordings of the digits 0-9, written to {out / 'recordings'}:")
    echo(f"{'digit':>5}  {'events':>6}  {'duration_ms':>11}  {'on_fraction':>11}")
    for digit, stream in enumerate(streams):
        echo(f"{digit:>5}  {len(stream):>6}  {stream.duration / 1000:>11.1f}  {stream.on_fraction:>11.3f}")
    try:
        from neuroclip.frames.draw import draw_frame_grid
    except ImportError:
        return streams
    picture = draw_frame_grid(streams, out / "frames.png", labels=[str(d) for d in range(10)])
    echo(f"Frames of each recording (T=10, NeuroCLIP's discrimination map): {picture}")
    return streams
