"""Recognise files with whichever head the user chose: zero-shot CLIP, a saved few-shot adapter, or a SpikeCLIP
checkpoint. Each input is read once, and only as what the chosen head takes (a SpikeCLIP trained on pictures takes
picture files, every other head takes recordings)."""

from __future__ import annotations

from pathlib import Path

from neuroclip.errors import ConfigError
from neuroclip.frames.clip_input import FrameConfig


def read_recordings(paths, format: str | None = None, reading: dict | None = None) -> list:
    """Each path read once as a recording that has events (``format``: force a reader, else detected; ``reading``:
    reader options such as ``layout`` or ``sensor_size``)."""
    from neuroclip.events import read_events

    return [read_events(path, format=format, **(reading or {})).require_events() for path in paths]


def classify_files(paths, classnames: list[str] | None = None, templates: list[str] | None = None, *,
                   backbone=None, frame_config: FrameConfig = FrameConfig(), fusion: str = "mean_cosine",
                   adapter=None, spikeclip=None, k: int = 3, device=None, format: str | None = None,
                   reading: dict | None = None) -> list:
    """Top-k predictions (:class:`neuroclip.clip.zeroshot.Prediction`) per file.

    * ``spikeclip`` (a checkpoint path or a loaded model): the spiking model, with ``classnames`` and ``templates``;
    * ``adapter`` (a saved few-shot adapter): its own class names, frame settings and CLIP;
    * otherwise zero-shot with ``backbone``, ``classnames``, ``templates``, ``frame_config`` and ``fusion``.
    """
    paths = [Path(p) for p in paths]
    if spikeclip is not None:
        from neuroclip.spikeclip.model import load_spikeclip, predict_files

        model = load_spikeclip(spikeclip, device or "cpu") if isinstance(spikeclip, (str, Path)) else spikeclip
        return predict_files(model, paths, classnames, templates, k, format=format, reading=reading)
    streams = read_recordings(paths, format, reading)
    if adapter is not None:
        from neuroclip.fewshot import classify_with_adapter

        return classify_with_adapter(adapter, streams, k=k, device=device)
    from neuroclip.clip.features import frame_features
    from neuroclip.clip.zeroshot import ZeroShotClassifier
    from neuroclip.frames.names import check_frame_count

    for path, stream in zip(paths, streams):
        try:
            check_frame_count(frame_config.n_frames, len(stream), stream.duration, frame_config.split_by)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
    classifier = ZeroShotClassifier(backbone, classnames, templates, fusion=fusion)
    return classifier.predict(frame_features(streams, backbone, frame_config), k=k)
