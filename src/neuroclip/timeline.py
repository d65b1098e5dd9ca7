"""Long recordings window by window, as an event camera is used live: NeuroCLIP zero-shot on sliding windows of a
recording read in pieces (:func:`neuroclip.iter_events`), giving class probabilities over time, written as a CSV and
a plot."""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, iter_events
from neuroclip.frames.clip_input import FrameConfig
from neuroclip.outputs import atomic_write
from neuroclip.provenance import versions

_UNITS_US = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000}


def parse_duration_us(text: str, option: str = "duration") -> int:
    """``'50ms'``, ``'2.5 s'``, ``'800us'`` (or a bare number of µs) as whole microseconds, at least 1."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s)?\s*", str(text))
    if not match:
        raise ConfigError(f"{option} {text!r}: give a duration such as 50ms, 2.5s or 800us")
    value = float(match[1]) * _UNITS_US[match[2] or "us"]
    if value < 1 or not math.isfinite(value):
        raise ConfigError(f"{option} {text!r} is shorter than 1 µs, the timestamps' resolution")
    return int(round(value))


def sliding_windows(path, window_us: int, stride_us: int, *, format: str | None = None,
                    reading: dict | None = None) -> Iterator[tuple[int, int, EventStream]]:
    """``(start_us, stop_us, events)`` of the windows ``[t0 + i*stride, t0 + i*stride + window)`` from the first
    event ``t0`` until the last event, read in stride-long pieces: memory holds one window."""
    if window_us < 1 or stride_us < 1:
        raise ConfigError("the window and the stride must be at least 1 µs")
    if stride_us > window_us:
        raise ConfigError(f"a stride ({stride_us} µs) longer than the window ({window_us} µs) would skip events; "
                          "use a stride at most as long as the window")
    span = math.ceil(window_us / stride_us)  # pieces a window overlaps
    pieces: deque[EventStream] = deque(maxlen=span)
    last_start = None

    def window_of(first_piece: EventStream) -> tuple[int, int, EventStream]:
        start = first_piece.metadata["start_us"]
        events = np.concatenate([piece.events for piece in pieces])
        events = events[events["t"] < start + window_us]
        return start, start + window_us, EventStream.unchecked(events, first_piece.sensor_size)

    for piece in iter_events(path, window_us=stride_us, format=format, **(reading or {})):
        pieces.append(piece)
        if len(pieces) == span:
            last_start = pieces[0].metadata["start_us"]
            yield window_of(pieces[0])
    # the windows that start in the last pieces, cut short by the end of the recording
    while pieces:
        if pieces[0].metadata["start_us"] != last_start:
            yield window_of(pieces[0])
        pieces.popleft()


def classify_timeline(path, backbone, classnames: list[str], templates: list[str], *, window_us: int,
                      stride_us: int, frame_config: FrameConfig = FrameConfig(), fusion: str = "mean_cosine",
                      batch_size: int = 16, format: str | None = None, reading: dict | None = None) -> dict:
    """NeuroCLIP zero-shot on every sliding window of a recording. Returns ``rows`` (one per window: ``start_us``,
    ``stop_us``, ``events`` and the class ``probabilities``, None for a window with fewer events than frames), the
    ``config`` and the ``realtime_factor`` (recording seconds per wall-clock second)."""
    from neuroclip.clip.features import frame_features
    from neuroclip.clip.zeroshot import ZeroShotClassifier

    started = time.perf_counter()
    classifier = ZeroShotClassifier(backbone, classnames, templates, fusion=fusion)
    rows, waiting = [], []

    def flush():
        if waiting:
            features = frame_features([stream for _, stream in waiting], backbone, frame_config, batch_size)
            probabilities = classifier.logits(features).float().softmax(dim=-1).numpy()
            for (row, _), p in zip(waiting, probabilities):
                row["probabilities"] = [round(float(v), 6) for v in p]
            waiting.clear()

    for start, stop, stream in sliding_windows(path, window_us, stride_us, format=format, reading=reading):
        row = {"start_us": int(start), "stop_us": int(stop), "events": len(stream), "probabilities": None}
        rows.append(row)
        long_enough = stream.duration >= frame_config.n_frames if frame_config.split_by == "time" else True
        if len(stream) >= frame_config.n_frames and long_enough:
            waiting.append((row, stream))
            if len(waiting) == batch_size:
                flush()
    flush()
    seconds = time.perf_counter() - started
    if not rows:
        raise ConfigError(f"{path} holds no events: there is no window to classify")
    recorded_s = (rows[-1]["start_us"] - rows[0]["start_us"] + stride_us) / 1e6
    return {
        "file": str(path), "rows": rows, "seconds": round(seconds, 3),
        "realtime_factor": recorded_s / seconds if seconds > 0 else None,
        "config": {"window_us": window_us, "stride_us": stride_us, "classnames": list(classnames),
                   "templates": list(templates), "fusion": fusion, "frames": frame_config.record(),
                   "backbone": backbone.spec.identity()} | versions(),
    }


def write_timeline(result: dict, csv_path, plot_path=None) -> list[Path]:
    """The timeline as CSV (a ``# config: {...}`` first line, then one row per window: start, stop, events, top
    class and one probability column per class; empty where a window had too few events) and, with ``plot_path``,
    a PNG of each class's probability over time."""
    names = result["config"]["classnames"]
    lines = ["# config: " + json.dumps({"file": result["file"], **result["config"]}),
             ",".join(["start_us", "stop_us", "events", "top_class", *(f'"p_{n}"' for n in names)])]
    for row in result["rows"]:
        p = row["probabilities"]
        top = names[int(np.argmax(p))] if p is not None else ""
        values = [f"{v:.6f}" for v in p] if p is not None else [""] * len(names)
        lines.append(",".join([str(row["start_us"]), str(row["stop_us"]), str(row["events"]), f'"{top}"', *values]))
    data = ("\n".join(lines) + "\n").encode()
    written = [atomic_write(Path(csv_path), lambda fp: fp.write(data))]
    if plot_path is not None:
        written.append(_plot(result, Path(plot_path)))
    return written


def _plot(result: dict, path: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result["config"]["classnames"]
    rows = [row for row in result["rows"] if row["probabilities"] is not None]
    centres = np.array([(row["start_us"] + row["stop_us"]) / 2e3 for row in rows])  # ms
    probabilities = np.array([row["probabilities"] for row in rows]).reshape(len(rows), len(names))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    order = np.argsort(-probabilities.max(axis=0)) if rows else np.arange(len(names))
    for k in order[:10]:  # the ten classes that peak highest
        ax.plot(centres, probabilities[:, k], marker="o", markersize=2.5, linewidth=1.2, label=names[k])
    ax.set_xlabel("window centre (ms, the recording's clock)")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    config = result["config"]
    ax.set_title(f"{Path(result['file']).name}: {config['window_us'] / 1e3:g} ms windows every "
                 f"{config['stride_us'] / 1e3:g} ms", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, lambda fp: fp.write(buffer.getvalue()))
