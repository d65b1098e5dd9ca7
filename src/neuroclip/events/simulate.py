"""A DVS pixel model: turn an image sequence into events, and the N-MNIST recording motion.

Each pixel keeps a reference log intensity; when the log intensity moves a contrast threshold away from it, the
pixel emits one event per threshold crossed (ON for an increase), timestamps interpolated linearly between the two
frames, and the reference moves by the crossed thresholds. Thresholds vary per pixel (mismatch), and a pixel that
fired stays silent for a refractory period.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.events.stream import EVENT_DTYPE, EventStream, make_events

# N-MNIST recording motion (Orchard et al. 2015): three linear saccades of about 105 ms each, moving the image on the
# sensor by (+3.5, +7), (+3.5, -7) and (-7, 0) pixels; window 34x34.
NMNIST_SACCADES_PX = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))
NMNIST_SACCADE_US = 105_000
NMNIST_SIZE = (34, 34)


@dataclasses.dataclass(frozen=True)
class PixelModel:
    """Parameters of the DVS pixel model."""

    threshold: float = 0.8  # contrast threshold on log intensity; gives ~4.4k events on a rendered digit, as N-MNIST
    threshold_mismatch: float = 0.05  # std of the per-pixel threshold
    refractory_us: int = 1_000
    log_epsilon: float = 0.02  # intensity offset before the log, so black pixels stay finite

    def __post_init__(self):
        for name in ("threshold", "threshold_mismatch", "log_epsilon"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"PixelModel.{name} must be a finite number >= 0, got {value}")
        if self.threshold <= 0 or self.refractory_us < 0 or self.log_epsilon <= 0:
            raise ConfigError("PixelModel needs threshold > 0, log_epsilon > 0 and refractory_us >= 0")


def simulate_events(frames: np.ndarray, timestamps_us: np.ndarray, model: PixelModel = PixelModel(),
                    seed: int = 0) -> np.ndarray:
    """Events from a [N, H, W] intensity sequence in [0, 1] sampled at ``timestamps_us``; sorted by time."""
    frames = np.asarray(frames, np.float64)
    timestamps_us = np.asarray(timestamps_us, np.int64)
    if frames.ndim != 3 or frames.shape[0] != timestamps_us.shape[0] or frames.shape[0] < 2:
        raise ConfigError("need frames [N>=2, H, W] and N timestamps")
    if np.any(np.diff(timestamps_us) <= 0):
        raise ConfigError("frame timestamps must increase strictly")
    rng = np.random.default_rng(seed)
    height, width = frames.shape[1:]
    threshold = np.maximum(model.threshold + model.threshold_mismatch * rng.standard_normal((height, width)),
                           model.threshold * 0.2)
    log_frames = np.log(frames + model.log_epsilon)
    reference = log_frames[0].copy()
    last_event = np.full((height, width), -np.inf)
    parts = []
    for i in range(1, frames.shape[0]):
        t0, t1 = timestamps_us[i - 1], timestamps_us[i]
        change = log_frames[i] - reference
        crossings = np.floor(np.abs(change) / threshold).astype(np.int64)
        ys, xs = np.nonzero(crossings)
        if ys.size:
            counts = crossings[ys, xs]
            sign = np.sign(change[ys, xs])
            delta_frame = log_frames[i][ys, xs] - log_frames[i - 1][ys, xs]
            # the k-th crossing of each pixel, timed by linear interpolation of log intensity between the frames
            pixel = np.repeat(np.arange(ys.size), counts)
            k = np.arange(pixel.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
            level = reference[ys, xs][pixel] + sign[pixel] * k * threshold[ys, xs][pixel]
            with np.errstate(divide="ignore", invalid="ignore"):
                fraction = (level - log_frames[i - 1][ys, xs][pixel]) / delta_frame[pixel]
            fraction = np.clip(np.nan_to_num(fraction, nan=1.0), 0.0, 1.0)
            t = (t0 + fraction * (t1 - t0)).astype(np.int64)
            # refractory period: drop crossings too soon after the pixel's previous event
            order = np.lexsort((t, pixel))
            pixel, t, k = pixel[order], t[order], k[order]
            keep = np.ones(pixel.size, bool)
            previous = last_event[ys, xs][pixel]
            same = np.r_[False, pixel[1:] == pixel[:-1]]
            gap_previous = np.where(same, t - np.r_[0, t[:-1]], t - previous)
            keep &= gap_previous >= model.refractory_us
            reference[ys, xs] += sign * counts * threshold[ys, xs]
            if keep.any():
                last_t = np.full(ys.size, -np.inf)
                np.maximum.at(last_t, pixel[keep], t[keep])
                fired = np.isfinite(last_t)
                last_event[ys[fired], xs[fired]] = last_t[fired]
                parts.append(make_events(t[keep], xs[pixel[keep]], ys[pixel[keep]], sign[pixel[keep]] > 0))
    events = np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


def _shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Bilinear sub-pixel shift; pixels shifted in from outside are 0."""
    height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    sx, sy = xs - dx, ys - dy
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    padded = np.pad(image, 1)

    def at(yy, xx):
        return padded[np.clip(yy + 1, 0, height + 1), np.clip(xx + 1, 0, width + 1)]

    return ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
            + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))


def nmnist_recording(image: np.ndarray, model: PixelModel = PixelModel(), seed: int = 0,
                     step_us: int = 1_000) -> EventStream:
    """Simulate an N-MNIST recording of a static image (H, W in [0, 1], placed in the 34x34 window's centre)."""
    image = np.asarray(image, np.float64)
    canvas = np.zeros((NMNIST_SIZE[1], NMNIST_SIZE[0]))
    h, w = min(image.shape[0], canvas.shape[0]), min(image.shape[1], canvas.shape[1])
    top, left = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[top:top + h, left:left + w] = image[:h, :w]
    # start so the whole path stays centred: the three saccades end where they began
    frames, times, offset, t = [], [], np.array([-3.5, 0.0]), 0
    steps = NMNIST_SACCADE_US // step_us
    for dx, dy in NMNIST_SACCADES_PX:
        for s in range(steps):
            position = offset + np.array([dx, dy]) * s / steps
            frames.append(_shift_image(canvas, *position))
            times.append(t)
            t += step_us
        offset = offset + np.array([dx, dy])
    frames.append(_shift_image(canvas, *offset))
    times.append(t)
    events = simulate_events(np.stack(frames), np.asarray(times), model, seed)
    return EventStream(events, NMNIST_SIZE, {"format": "simulated", "motion": "nmnist"})
