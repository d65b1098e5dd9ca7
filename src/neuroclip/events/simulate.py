"""An event-camera simulator: images or image sequences to events with a DVS pixel model, and the recording motions
of the public datasets.

Pixel model (the standard DVS model, as in ESIM / v2e): each pixel keeps a reference log intensity; when its log
intensity moves a contrast threshold away from the reference, the pixel emits one event per threshold crossed (ON
for an increase), timestamps interpolated linearly between the two frames, and the reference moves by the crossed
thresholds. Thresholds vary per pixel (mismatch, Gaussian); a pixel that fired stays silent for a refractory period;
shot noise adds Poisson events of either polarity and leak noise adds ON events, both at a per-pixel rate.

Motions:
* ``nmnist_recording``: a static image, the sensor makes three saccades of about 105 ms moving the image by
  (+3.5, +7), (+3.5, -7) and (-7, 0) px (Orchard et al. 2015), each with a smooth (raised-cosine) velocity profile
  that stops between saccades, which gives the three event bursts of real N-MNIST; 34x34 window.
* ``cifar10dvs_recording``: the image moves on a monitor along a small closed loop, repeated, about 1.2 s; 128x128
  (Li et al. 2017).
* ``es_imagenet_recording``: ES-ImageNet's conversion (Lin et al. 2021): 8 one-pixel shifts of the image along a
  path on a 3x3 grid; an event where the V channel (HSV value) changes by more than 0.18 between consecutive
  positions; ``t`` is the step index 0..7; 224x224.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.events.io._common import kernels
from neuroclip.events.stream import EVENT_DTYPE, EventStream, make_events

NMNIST_SACCADES_PX = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))
NMNIST_SACCADE_US = 102_000  # three saccades span about 306 ms in the real recordings
NMNIST_SIZE = (34, 34)
CIFAR10DVS_SIZE = (128, 128)
CIFAR10DVS_DURATION_US = 1_200_000
ES_IMAGENET_SIZE = (224, 224)
ES_IMAGENET_THRESHOLD = 0.18
# the 3x3-grid path of ES-ImageNet's 8 shifts (each step moves the image by one pixel)
ES_IMAGENET_PATH = ((1, 0), (0, 1), (-1, 0), (-1, 0), (0, -1), (0, -1), (1, 0), (1, 0))


@dataclasses.dataclass(frozen=True)
class PixelModel:
    """Parameters of the DVS pixel model."""

    threshold: float = 0.8  # contrast threshold on log intensity; about 4k events for a rendered digit, as N-MNIST
    threshold_mismatch: float = 0.05  # std of the per-pixel threshold
    refractory_us: int = 1_000
    log_epsilon: float = 0.02  # intensity offset before the log, so black pixels stay finite
    shot_noise_hz: float = 0.2  # per pixel, either polarity
    leak_noise_hz: float = 0.1  # per pixel, ON events

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"PixelModel.{field.name} must be a finite number >= 0, got {value}")
        if self.threshold <= 0 or self.log_epsilon <= 0:
            raise ConfigError("PixelModel needs threshold > 0 and log_epsilon > 0")


def _noise_events(rng, width, height, t_start, t_end, model: PixelModel) -> np.ndarray:
    duration_s = (t_end - t_start) * 1e-6
    parts = []
    for rate, polarity in ((model.shot_noise_hz, None), (model.leak_noise_hz, 1)):
        count = rng.poisson(rate * width * height * duration_s) if rate > 0 else 0
        if count:
            p = rng.integers(0, 2, count) if polarity is None else np.full(count, polarity)
            parts.append(make_events(rng.integers(t_start, t_end + 1, count), rng.integers(0, width, count),
                                     rng.integers(0, height, count), p))
    return np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)


def _crossing_events(log_frames, timestamps_us, threshold, refractory_us) -> list:
    """The pixel model's events, frame by frame (numpy); what ``_kernels.dvs_events`` computes in one numba pass."""
    height, width = log_frames.shape[1:]
    parts = []
    reference = log_frames[0].copy()
    last_event = np.full((height, width), -np.inf)
    for i in range(1, log_frames.shape[0]):
        t0, t1 = timestamps_us[i - 1], timestamps_us[i]
        change = log_frames[i] - reference
        crossings = np.floor(np.abs(change) / threshold).astype(np.int64)
        ys, xs = np.nonzero(crossings)
        if not ys.size:
            continue
        counts = crossings[ys, xs]
        sign = np.sign(change[ys, xs])
        start_level = log_frames[i - 1][ys, xs]
        delta_frame = log_frames[i][ys, xs] - start_level
        # the k-th crossing of each pixel, timed by linear interpolation of log intensity between the two frames
        pixel = np.repeat(np.arange(ys.size), counts)
        k = np.arange(pixel.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        level = reference[ys, xs][pixel] + sign[pixel] * k * threshold[ys, xs][pixel]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = (level - start_level[pixel]) / delta_frame[pixel]
        fraction = np.clip(np.nan_to_num(fraction, nan=1.0), 0.0, 1.0)
        t = (t0 + fraction * (t1 - t0)).astype(np.int64)
        # refractory period: drop a crossing too soon after the pixel's previous kept event; crossings are taken
        # in order of k (a handful per pixel at most), each step vectorised over the pixels
        last = last_event[ys, xs].copy()
        keep = np.zeros(pixel.size, bool)
        for order in range(1, int(counts.max()) + 1):
            at = np.flatnonzero(k == order)
            allowed = t[at] - last[pixel[at]] >= refractory_us
            keep[at[allowed]] = True
            last[pixel[at[allowed]]] = t[at[allowed]]
        last_event[ys, xs] = last
        reference[ys, xs] += sign * counts * threshold[ys, xs]
        if keep.any():
            parts.append(make_events(t[keep], xs[pixel[keep]], ys[pixel[keep]], sign[pixel[keep]] > 0))
    return parts


def simulate_events(frames: np.ndarray, timestamps_us: np.ndarray, model: PixelModel = PixelModel(),
                    seed: int = 0) -> np.ndarray:
    """Events from a [N, H, W] intensity sequence in [0, 1] sampled at ``timestamps_us``; sorted by time."""
    frames = np.asarray(frames, np.float64)
    timestamps_us = np.asarray(timestamps_us, np.int64)
    if frames.ndim != 3 or frames.shape[0] != timestamps_us.shape[0] or frames.shape[0] < 2:
        raise ConfigError(f"need frames [N>=2, H, W] and N timestamps; got {frames.shape} and {timestamps_us.shape}")
    if np.any(np.diff(timestamps_us) <= 0) or timestamps_us[0] < 0:
        raise ConfigError("frame timestamps must be non-negative and increase strictly")
    if not np.all(np.isfinite(frames)) or frames.min() < 0:
        raise ConfigError("frame intensities must be finite and >= 0")
    rng = np.random.default_rng(seed)
    height, width = frames.shape[1:]
    threshold = np.maximum(model.threshold + model.threshold_mismatch * rng.standard_normal((height, width)),
                           model.threshold * 0.2)
    log_frames = np.log(frames + model.log_epsilon)
    parts = [_noise_events(rng, width, height, int(timestamps_us[0]), int(timestamps_us[-1]), model)]
    fast = kernels()  # a numba pass where numba is importable, with identical events
    if fast is not None:
        sized = fast.dvs_events(log_frames, timestamps_us, threshold, model.refractory_us, np.empty(0, EVENT_DTYPE))
        parts.append(np.empty(sized, EVENT_DTYPE))
        fast.dvs_events(log_frames, timestamps_us, threshold, model.refractory_us, parts[-1])
    else:
        parts += _crossing_events(log_frames, timestamps_us, threshold, model.refractory_us)
    events = np.concatenate(parts)
    return events[np.argsort(events["t"], kind="stable")]


def shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Bilinear sub-pixel shift of a [H, W] image; pixels shifted in from outside are 0."""
    return shift_images(image, np.array([[dx, dy]], np.float64))[0]


def shift_images(image: np.ndarray, shifts: np.ndarray, chunk_values: int = 1 << 21) -> np.ndarray:
    """``[N, H, W]``: the [H, W] image shifted by each ``(dx, dy)`` row of ``shifts`` [N, 2], bilinear, pixels
    shifted in from outside 0, with the same arithmetic as one shift at a time, so the frames are identical. A numba
    pass where numba imports, else one vectorised numpy pass per ``chunk_values`` output values (N-MNIST's 307
    positions of 34x34 on one core of our CPU machine: numba 1.7 ms, numpy 25 ms, a loop of single shifts 75 ms)."""
    image = np.asarray(image, np.float64)
    shifts = np.asarray(shifts, np.float64).reshape(-1, 2)
    height, width = image.shape
    padded = np.pad(image, 1)
    # x and y apart ([n, 1, W] and [n, H, 1]): a uniform shift's column and row terms broadcast to [n, H, W]
    xs = np.arange(width, dtype=np.float64)[None, None, :]
    ys = np.arange(height, dtype=np.float64)[None, :, None]
    out = np.empty((len(shifts), height, width))
    fast = kernels()
    if fast is not None:
        fast.shift_frames(padded, shifts, out)
        return out
    step = max(1, chunk_values // max(height * width, 1))
    for start in range(0, len(shifts), step):
        sx = xs - shifts[start:start + step, 0, None, None]
        sy = ys - shifts[start:start + step, 1, None, None]
        x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
        fx, fy = sx - x0, sy - y0

        def at(yy, xx):
            inside = (yy >= -1) & (yy <= height) & (xx >= -1) & (xx <= width)
            return np.where(inside, padded[np.clip(yy + 1, 0, height + 1), np.clip(xx + 1, 0, width + 1)], 0.0)

        out[start:start + step] = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                                   + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
    return out


def _as_grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    if image.ndim != 2:
        raise ConfigError(f"need a [H, W] or [H, W, 3] image, got shape {image.shape}")
    if image.max() > 1.0:
        image = image / 255.0
    return image


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (bilinear, keeping aspect) and centre an image on a black canvas of ``size`` (width, height)."""
    from PIL import Image

    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = Image.fromarray((image * 255).astype(np.uint8)).resize(
        (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))), Image.BILINEAR)
    canvas = np.zeros((height, width))
    top, left = (height - resized.height) // 2, (width - resized.width) // 2
    canvas[top:top + resized.height, left:left + resized.width] = np.asarray(resized) / 255.0
    return canvas


def _path_recording(canvas, positions, times, size, model, seed, metadata) -> EventStream:
    frames = shift_images(canvas, np.asarray(positions, np.float64))
    events = simulate_events(frames, np.asarray(times), model, seed)
    return EventStream(events, size, metadata)


def nmnist_recording(image: np.ndarray, model: PixelModel = PixelModel(), seed: int = 0,
                     step_us: int = 1_000, digit_size: int = 28) -> EventStream:
    """Simulate an N-MNIST recording of a static image (scaled to ``digit_size`` px, centred in the 34x34 window)."""
    image = _as_grey(image)
    canvas = np.zeros((NMNIST_SIZE[1], NMNIST_SIZE[0]))
    digit = _fit(image, (digit_size, digit_size))
    offset = (NMNIST_SIZE[0] - digit_size) // 2
    canvas[offset:offset + digit_size, offset:offset + digit_size] = digit
    steps = NMNIST_SACCADE_US // step_us
    profile = (1 - np.cos(np.pi * np.arange(steps) / steps)) / 2  # raised cosine: stops between saccades
    start = np.array([-3.5, 0.0])  # so the path is centred: it ends where it began
    positions, position = [], start
    for displacement in NMNIST_SACCADES_PX:
        positions += [position + np.asarray(displacement) * s for s in profile]
        position = position + np.asarray(displacement)
    positions.append(position)
    times = np.arange(len(positions)) * step_us
    return _path_recording(canvas, positions, times, NMNIST_SIZE, model, seed,
                           {"format": "simulated", "motion": "nmnist"})


def cifar10dvs_recording(image: np.ndarray, model: PixelModel = PixelModel(threshold=0.3), seed: int = 0,
                         step_us: int = 2_000, radius_px: float = 2.0, loops: int = 4) -> EventStream:
    """Simulate a CIFAR10-DVS recording: the image, upscaled to fill 128x128, moves around a small circle
    ``loops`` times in about 1.2 s."""
    canvas = _fit(_as_grey(image), CIFAR10DVS_SIZE)
    times = np.arange(0, CIFAR10DVS_DURATION_US + 1, step_us)
    angle = 2 * np.pi * loops * times / CIFAR10DVS_DURATION_US
    positions = np.stack([radius_px * np.cos(angle) - radius_px, radius_px * np.sin(angle)], axis=1)
    return _path_recording(canvas, positions, times, CIFAR10DVS_SIZE, model, seed,
                           {"format": "simulated", "motion": "cifar10dvs"})


def es_imagenet_recording(image: np.ndarray, threshold: float = ES_IMAGENET_THRESHOLD) -> EventStream:
    """ES-ImageNet's conversion of an RGB image (values 0..1 or 0..255): V-channel differences of 8 one-pixel shifts
    along a 3x3-grid path; t = step index."""
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.max() > 1.0:
        image = image / 255.0
    value = _fit(image[..., :3].max(axis=-1), ES_IMAGENET_SIZE)  # HSV value = max over R, G, B
    position = np.zeros(2)
    previous = value
    parts = []
    for step, displacement in enumerate(ES_IMAGENET_PATH):
        position = position + displacement
        current = shift_image(value, *position)
        difference = current - previous
        for polarity, mask in ((1, difference > threshold), (0, difference < -threshold)):
            ys, xs = np.nonzero(mask)
            parts.append(make_events(np.full(ys.size, step), xs, ys, np.full(ys.size, polarity)))
        previous = current
    events = np.concatenate(parts)
    events = events[np.argsort(events["t"], kind="stable")]
    return EventStream(events, ES_IMAGENET_SIZE, {"format": "simulated", "motion": "esimagenet",
                                                  "time_unit": "frame index"})


MOTIONS = {
    "nmnist": nmnist_recording,
    "cifar10dvs": cifar10dvs_recording,
    "esimagenet": es_imagenet_recording,
}
