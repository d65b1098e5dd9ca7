"""Energy of a SpikeCLIP per sample, against its CLIP teacher and a same-size ANN student (see
:mod:`neuroclip.energy` for the convention). Firing rates are measured with hooks on real inputs."""

from __future__ import annotations

import dataclasses

import torch

from neuroclip.energy import OperationCounter, dense_macs, energy_report, resolve_presets
from neuroclip.errors import ConfigError
from neuroclip.spikeclip.config import to_dict
from neuroclip.spikeclip.image_encoder import SpikingImageEncoder
from neuroclip.spikeclip.model import SpikeCLIP
from neuroclip.spikeclip.text_encoder import SpikingTextEncoder


def ann_counterpart(encoder: SpikingImageEncoder | SpikingTextEncoder, activation: str = "relu",
                    static_input: bool = True):
    """The same network with every LIF replaced by ``activation`` (``relu`` or ``identity``). A static image needs
    one pass, not T (``static_input``); a sequence of event frames keeps its T steps."""
    if activation not in ("relu", "identity"):
        raise ConfigError(f"the ANN counterpart's activation must be relu or identity, got {activation!r}")
    config = dataclasses.replace(encoder.config, activation=activation,
                                 timesteps=1 if static_input else encoder.config.timesteps)
    with torch.device("meta"):  # only shapes matter for counting MACs; no memory for the weights
        return type(encoder)(config)


def _meta_macs(module: torch.nn.Module, example: torch.Tensor, timesteps: int) -> list:
    counter = OperationCounter(module, timesteps=timesteps, spiking=False)
    counter.measure(lambda: module(example.to("meta")), example.shape[0])
    return counter.layers()


@torch.no_grad()
def spikeclip_energy(model: SpikeCLIP, batches, teacher=None, presets=None, sentences: list[str] | None = None,
                     ann_activation: str = "relu") -> dict:
    """The energy report (JSON-ready) of ``model``'s image tower on student input ``batches`` (tensors as the model
    takes them), per sample.

    Baselines: the same-size ANN student (LIF -> ``ann_activation``, one pass on a static image) and, given the
    ``teacher`` (:class:`~neuroclip.clip.ClipBackbone`; weights do not matter, only its architecture), the
    teacher's image tower on the teacher's input (T' event frames for recordings). With ``sentences``, the text
    tower gets its own section per sentence (against the teacher's text tower); class prototypes are computed once
    per label set, so inference cost is the image tower's.
    """
    presets = resolve_presets(presets)
    encoder = model.image_encoder
    was_training = encoder.training
    encoder.eval()
    timesteps = encoder.config.timesteps
    counter = OperationCounter(encoder, timesteps=timesteps)
    example = None
    try:
        for batch in batches:
            batch = batch.to(model.device)
            example = batch[:1] if example is None else example
            counter.measure(lambda batch=batch: encoder(batch), batch.shape[0])
    finally:
        encoder.train(was_training)
    if example is None:
        raise ConfigError("no input to measure the firing rates on")
    layers = counter.layers()
    static = example.ndim == 4
    ann_student = ann_counterpart(encoder, ann_activation, static_input=static)
    ann_layers = _meta_macs(ann_student, example, ann_student.config.timesteps)
    baselines = {f"ANN student (LIF->{ann_activation})": sum(layer.dense_macs for layer in ann_layers)}
    size = model.preprocess.size
    if teacher is not None:
        size = teacher.image_size
        frames = 1 if model.config.modality == "images" else model.config.teacher_frames.n_images
        images = torch.zeros(frames, 3, size, size, device=teacher.device)
        baselines[f"CLIP teacher {teacher.spec.model}"] = dense_macs(lambda: teacher.model.encode_image(images))
    groups = {}
    if sentences:
        text = model.text_encoder
        was_training = text.training
        text.eval()
        ids = model.tokenize(list(sentences)).to(model.device)
        text_counter = OperationCounter(text, timesteps=text.config.timesteps)
        try:
            text_counter.measure(lambda: text(ids), ids.shape[0])
        finally:
            text.train(was_training)
        text_baselines = {f"ANN text (LIF->{ann_activation})": sum(
            layer.dense_macs for layer in _meta_macs(ann_counterpart(text, ann_activation), ids[:1], 1))}
        if teacher is not None:
            tokens = teacher.tokenizer(list(sentences[:1])).to(teacher.device)
            text_baselines[f"CLIP teacher {teacher.spec.model} text"] = dense_macs(
                lambda: teacher.model.encode_text(tokens))
        groups["text tower (per sentence)"] = (text_counter.layers(), text_baselines)
    report = energy_report(layers, presets, baselines, groups)
    report["measured_on"] = {"samples": counter.samples, "input_shape": list(example.shape[1:]),
                             "teacher_input": [frames if teacher is not None else None, 3, size, size]
                             if teacher is not None else None}
    report["model"] = to_dict(model.config)
    report["convention"] = ("E_SNN = E_MAC * MACs(real-valued inputs; a repeated static input counted once) + "
                            "E_AC * sum_l fr_l * T * FLOPs_l; E_ANN = E_MAC * MACs; BN, norms and membrane updates "
                            "not counted")
    return report
