"""Teacher and student embeddings for SpikeCLIP's stages and evaluation: load the CLIP teacher a stage names, embed
images or recordings with it (cached once per split), embed with the student's image tower."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from neuroclip.processes import Processes, batch_loader
from neuroclip.spikeclip.config import StageConfig


def load_teacher(config: StageConfig, device: torch.device):
    from neuroclip.clip import ModelNotFoundError, load_backbone

    teacher = config.model.teacher
    try:
        return load_backbone(teacher.model, teacher.pretrained, device=device,
                             amp=config.amp and device.type == "cuda")
    except ModelNotFoundError as error:  # the fix is in the stage config, not in --model/--pretrained flags
        offline = error.weights_file_hint is not None
        model, file = error.weights_file_hint or (teacher.model, "checkpoint.pt")
        cause = "no network, and its weights are not in the Hugging Face cache" if offline else str(error)
        raise ModelNotFoundError(
            f"the teacher {teacher.model} ({teacher.pretrained}) could not be loaded: {cause}. Give the stage a "
            f"checkpoint file of it (--set model.teacher.model={model} --set model.teacher.pretrained=/path/to/"
            f"{file}, or the same under model.teacher in the config), or use the bundled CLIP, which works offline "
            "(--set model.teacher.model=neuroclip-mini --set model.teacher.pretrained=null)") from None


def teacher_embeddings(encode, x: torch.Tensor, modality: str) -> torch.Tensor:
    """Normalised teacher embeddings of a batch: of images ``[B, 3, S, S]``, or of recordings given as event
    frames ``[B, T, 3, S, S]`` (the mean of the normalised per-frame embeddings, renormalised)."""
    if modality == "events":
        batch, steps = x.shape[:2]
        frames = encode(x.flatten(0, 1)).float().reshape(batch, steps, -1)
        return F.normalize(F.normalize(frames, dim=-1).mean(dim=1), dim=-1)
    return F.normalize(encode(x).float(), dim=-1)


@torch.no_grad()
def cached_teacher_targets(view, backbone, modality: str, processes_: Processes, batch_size: int, workers: int,
                           progress: bool, label: str = "teacher") -> torch.Tensor:
    """Teacher embeddings ``[N, D]`` (float32, CPU) of every item of a teacher view; the processes share the work."""
    from tqdm.auto import tqdm

    positions = list(range(processes_.rank, len(view), processes_.world))
    batches = [positions[i:i + batch_size] for i in range(0, len(positions), batch_size)]
    out = None
    bar = tqdm(total=len(positions), desc=label, disable=not (progress and processes_.main), leave=False,
               file=sys.stderr)
    for inputs, _labels, where in batch_loader(view, batches, workers, backbone.device):
        embedded = teacher_embeddings(backbone.encode_images, inputs.to(backbone.device), modality).cpu()
        if out is None:
            out = torch.zeros(len(view), embedded.shape[1])
        out[where] = embedded
        bar.update(len(where))
    bar.close()
    if out is None:
        out = torch.zeros(len(view), backbone.embed_dim)
    return processes_.all_reduce_sum(out)


@torch.no_grad()
def student_embeddings(encoder, view, batch_size: int, workers: int, device: torch.device) -> torch.Tensor:
    """Raw student image embeddings ``[N, D]`` (CPU) of a student view, in eval mode."""
    was_training = encoder.training
    encoder.eval()
    outputs = []
    try:
        batches = [list(range(i, min(i + batch_size, len(view)))) for i in range(0, len(view), batch_size)]
        for inputs, _labels, _where in batch_loader(view, batches, workers, device):
            outputs.append(encoder(inputs.to(device)).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0, 1)
