"""Recognise files with whichever head the user chose: zero-shot CLIP, a saved few-shot adapter, or a SpikeCLIP
checkpoint. Each input is read once, and only as what the chosen head takes (a SpikeCLIP trained on pictures takes
picture files, every other head takes recordings)."""

from __future__ import annotations

from pathlib import Path

from neuroclip.frames.clip_input import FrameConfig


def center_from_recordings(folder, backbone, frame_config: FrameConfig = FrameConfig(), *, limit: int | None = None,
                           format: str | None = None, reading: dict | None = None):
    """The zero-shot ``center`` (:func:`neuroclip.clip.zeroshot.feature_center`) of the unlabelled recordings under
    ``folder``: at most ``limit`` of them (default :data:`~neuroclip.clip.zeroshot.CENTER_RECORDINGS`), evenly
    spaced in name order. Returns (center [C], recordings used, recordings found)."""
    from neuroclip.clip.features import frame_features
    from neuroclip.clip.zeroshot import CENTER_RECORDINGS, center_sample, feature_center
    from neuroclip.datasets.folder import recordings_under

    found = recordings_under(folder, "--center-on")
    chosen = [found[i] for i in center_sample(len(found), CENTER_RECORDINGS if limit is None else limit)]
    features = frame_features(chosen, backbone, frame_config, format=format, reading=reading)
    return feature_center(features), len(chosen), len(found)


def classify_files(paths, classnames: list[str] | None = None, templates: list[str] | None = None, *,
                   backbone=None, frame_config: FrameConfig = FrameConfig(), fusion: str = "mean_cosine",
                   adapter=None, spikeclip=None, k: int = 3, device=None, format: str | None = None,
                   reading: dict | None = None, center=None) -> list:
    """Top-k predictions (:class:`neuroclip.clip.zeroshot.Prediction`) per file.

    * ``spikeclip`` (a checkpoint path or a loaded model): the spiking model, with ``classnames`` and ``templates``;
    * ``adapter`` (a saved few-shot adapter): its own class names, frame settings and CLIP;
    * otherwise zero-shot with ``backbone``, ``classnames``, ``templates``, ``frame_config`` and ``fusion``, and
      ``center`` (:func:`center_from_recordings`; ours) when given.
    """
    paths = [Path(p) for p in paths]
    if center is not None and (spikeclip is not None or adapter is not None):
        from neuroclip.errors import ConfigError

        raise ConfigError("a center applies to zero-shot CLIP only, not to an adapter or a SpikeCLIP")
    if spikeclip is not None:
        from neuroclip.spikeclip.model import load_spikeclip, predict_files

        model = load_spikeclip(spikeclip, device or "cpu") if isinstance(spikeclip, (str, Path)) else spikeclip
        return predict_files(model, paths, classnames, templates, k, format=format, reading=reading)
    # recordings are read a batch at a time, large files in a streamed format piece by piece
    if adapter is not None:
        from neuroclip.fewshot import classify_with_adapter

        return classify_with_adapter(adapter, paths, k=k, device=device, format=format, reading=reading)
    from neuroclip.clip.features import frame_features
    from neuroclip.clip.zeroshot import ZeroShotClassifier

    classifier = ZeroShotClassifier(backbone, classnames, templates, fusion=fusion, center=center)
    return classifier.predict(frame_features(paths, backbone, frame_config, format=format, reading=reading), k=k)
