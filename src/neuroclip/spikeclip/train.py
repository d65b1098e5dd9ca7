"""One trainer for SpikeCLIP's four stages.

=====================  ==================================================  ====================================
stage                  loss                                                trains
=====================  ==================================================  ====================================
``align-text`` (A)     mean [1 - cos(TextSNN(s), CLIP_text(s))]             the text tower
``align-image`` (B)    mean [1 - cos(ImageSNN(x), CLIP_image(x))]           the image tower
``finetune-teacher``   CE(norm(CLIP_image(x)) . W_SNN, y)  (optional C)     the teacher's image tower
``finetune`` (D)       CE(z_s, y) + KL(p_t || p_s), z = norm(.) . W_SNN     the image tower
=====================  ==================================================  ====================================

``W_SNN`` are the text tower's class prototypes (frozen after stage A). For event data the teacher sees the NeuroCLIP
event frames (its target: the mean of its normalised per-frame embeddings) and the student sees count frames, one per
timestep.

Engineering: Adam (amsgrad) and a cosine schedule stepped per epoch, as released; ``torchrun`` runs it data-parallel
(DDP, batch norms synchronised across processes; gloo on CPU, NCCL on GPU), with fp16 autocast and gradient scaling
on CUDA. The resumable state (``last.pt``: weights, optimiser, schedule, scaler, position in the epoch, random state)
is written atomically; the data order of an epoch is a function of the seed and the epoch, so a run killed and
resumed with ``resume=True`` ends with the same weights as an uninterrupted one (on CPU, bit for bit). The
checkpoint with the best *validation* metric is ``best.pt``; the test split is never looked at. ``result.json``
carries the whole config, the package version, the seed and the per-epoch history.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip.devices import resolve_device
from neuroclip.errors import ConfigError
from neuroclip.outputs import atomic_write
from neuroclip.spikeclip import data as data_module
from neuroclip.spikeclip.config import StageConfig, legacy_model_dict, to_dict
from neuroclip.spikeclip.layers import convert_batchnorm_for_processes
from neuroclip.spikeclip.losses import alignment_loss, dual_loss
from neuroclip.spikeclip.model import (
    SpikeCLIP,
    build_spikeclip,
    class_logits,
    load_spikeclip,
    save_spikeclip,
    save_torch,
)

TRAIN_STATE_FORMAT = "neuroclip-spikeclip-train"
LAST, BEST, RESULT, TEACHER = "last.pt", "best.pt", "result.json", "teacher.pt"
# fields that may change between a run and its resumption
RESUMABLE_CHANGES = {"out", "device", "progress", "stop_after_steps", "max_steps", "checkpoint_every",
                     "eval_batch_size"}


# --------------------------------------------------------------------------------------------------- processes


@dataclasses.dataclass
class Processes:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            moved = tensor.to(self.device)
            torch.distributed.all_reduce(moved)
            return moved.to(tensor.device)
        return tensor

    def close(self):
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def processes(device: str | None = None) -> Processes:
    """Join the torchrun job described by the environment (WORLD_SIZE, RANK, LOCAL_RANK), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", local_rank if world > 1 else torch.cuda.current_device())
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
        owns = True
    return Processes(rank, world, local_rank, chosen, owns)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, processes_: Processes, shuffle: bool = True,
                  drop_last: bool = False) -> list[list[int]]:
    """This process's batches of an epoch: a permutation drawn from (seed, epoch), cut into global batches of
    ``batch_size * world`` of which each process takes its slice. With several processes a last partial batch is
    padded by wrapping around (as DistributedSampler pads), so every process runs the same number of steps."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    world, rank = processes_.world, processes_.rank
    global_size = batch_size * world
    batches = []
    for start in range(0, n, global_size):
        chunk = order[start:start + global_size]
        if len(chunk) < global_size:
            if drop_last:
                break
            if world > 1:
                per_rank = math.ceil(len(chunk) / world)
                chunk = (chunk * (per_rank * world // len(chunk) + 1))[:per_rank * world]
                batches.append(chunk[rank * per_rank:(rank + 1) * per_rank])
                continue
        batches.append(chunk[rank * batch_size:(rank + 1) * batch_size])
    return batches


class _Batches(torch.utils.data.Sampler):
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def _loader(dataset, batches, workers: int, device: torch.device):
    return torch.utils.data.DataLoader(dataset, batch_sampler=_Batches(batches), num_workers=workers,
                                       pin_memory=device.type == "cuda")


def _to(value, device):
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value


def _amp(enabled: bool, device: torch.device):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    import contextlib

    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------------- teacher


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
    for inputs, _labels, where in _loader(view, batches, workers, backbone.device):
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
        for inputs, _labels, _where in _loader(view, batches, workers, device):
            outputs.append(encoder(inputs.to(device)).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0, 1)


def cohen_kappa(a: torch.Tensor, b: torch.Tensor, n_classes: int) -> float | None:
    """Agreement corrected for chance: (p_o - p_e) / (1 - p_e), with p_e = sum_k P(a = k) P(b = k), the agreement
    of two independent predictors with the same class frequencies. None when p_e = 1 (both constant, same class)."""
    observed = float((a == b).float().mean())
    expected = float((torch.bincount(a, minlength=n_classes).double() / len(a)
                      * torch.bincount(b, minlength=n_classes).double() / len(b)).sum())
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def image_metrics(student: torch.Tensor, teacher: torch.Tensor | None, labels: torch.Tensor | None,
                  prototypes: torch.Tensor | None, teacher_classifier: torch.Tensor | None) -> dict:
    """Alignment and classification metrics of student embeddings against teacher embeddings and labels.

    ``cosine``: mean cos(student, teacher) (``cosine_constant_baseline``: that of the teacher's mean direction, the
    best constant output); ``top1``: student zero-shot accuracy with the SNN prototypes;
    ``agreement_teacher``: fraction of samples where the student's zero-shot prediction (SNN image tower, SNN
    prototypes) equals the teacher's zero-shot prediction (CLIP image tower, CLIP's own text classifier): the two
    towers together; ``agreement_teacher_snn_text``: both image embeddings scored against the SNN prototypes (the
    teacher's predictions in stage D's sense); ``agreement_teacher_clip_text``: both image embeddings scored against
    CLIP's text classifier (the image alignment alone); ``kappa_*``: those agreements corrected for chance (Cohen's
    kappa); ``teacher_top1``; ``teacher_majority``: the share of the teacher's most frequent prediction (what a
    constant predictor would agree with)."""
    metrics: dict = {}
    if teacher is not None:
        metrics["cosine"] = float(F.cosine_similarity(student, teacher, dim=-1).mean())
        # what predicting the teacher's mean direction for every sample would score
        mean_direction = F.normalize(teacher, dim=-1).mean(0, keepdim=True)
        metrics["cosine_constant_baseline"] = float(F.cosine_similarity(mean_direction, teacher, dim=-1).mean())
    if prototypes is None:
        return metrics
    predictions = class_logits(student, prototypes).argmax(-1)
    if labels is not None:
        metrics["top1"] = float((predictions == labels).float().mean())
    if teacher is not None:
        snn_text = class_logits(teacher, prototypes).argmax(-1)
        metrics["agreement_teacher_snn_text"] = float((predictions == snn_text).float().mean())
        metrics["kappa_teacher_snn_text"] = cohen_kappa(predictions, snn_text, prototypes.shape[0])
        if teacher_classifier is not None:
            teacher_predictions = (F.normalize(teacher, dim=-1) @ teacher_classifier.T).argmax(-1)
            metrics["agreement_teacher"] = float((predictions == teacher_predictions).float().mean())
            metrics["kappa_teacher"] = cohen_kappa(predictions, teacher_predictions, prototypes.shape[0])
            student_clip_text = (F.normalize(student, dim=-1) @ teacher_classifier.T).argmax(-1)
            metrics["agreement_teacher_clip_text"] = float((student_clip_text == teacher_predictions).float().mean())
            metrics["kappa_teacher_clip_text"] = cohen_kappa(student_clip_text, teacher_predictions,
                                                             prototypes.shape[0])
            counts = torch.bincount(teacher_predictions, minlength=prototypes.shape[0])
            metrics["teacher_majority"] = float(counts.max() / counts.sum())
            if labels is not None:
                metrics["teacher_top1"] = float((teacher_predictions == labels).float().mean())
    return metrics


# --------------------------------------------------------------------------------------------------- stage tasks


class _Task:
    """What differs between stages: the models, the data, the loss, validation and what 'best' writes."""

    trainable: torch.nn.Module
    train_view: torch.utils.data.Dataset

    def __init__(self, config: StageConfig, processes_: Processes):
        self.config, self.processes = config, processes_
        self.device = processes_.device
        self.teacher = load_teacher(config, self.device)
        if config.init:
            self.model = load_spikeclip(config.init, self.device)
            self.model._tokenizer = self.teacher.tokenizer
            self._check_init()
        else:
            if config.stage in ("finetune-teacher", "finetune"):
                raise ConfigError(f"stage {config.stage} needs the SNN text prototypes: set init to a checkpoint "
                                  "with an aligned text tower (the align-text or align-image stage's best.pt)")
            self.model = build_spikeclip(config.model, self.teacher)
        self.model.to(self.device)

    def _check_init(self):
        mine, theirs = self.config.model, self.model.config
        if (mine.modality, mine.image, mine.text.context_length) != (theirs.modality, dataclasses.replace(
                theirs.image, output_dim=mine.image.output_dim), theirs.text.context_length):
            raise ConfigError(f"the init checkpoint {self.config.init} was built with another model config than "
                              "this stage's; use the same preset and model overrides in every stage")

    def loss(self, wrapped, batch) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def validate(self) -> dict:
        return {}

    def save_best(self, out: Path, extras: dict) -> None:
        save_spikeclip(self.model, out / BEST, **extras)

    def model_config_dict(self) -> dict:
        return to_dict(self.model.config)


class TextAlignment(_Task):
    """Stage A: the text tower against the teacher's text embeddings of template x class sentences."""

    def __init__(self, config, processes_):
        super().__init__(config, processes_)
        sentences = data_module.sentences_of(config.data)
        held = data_module.holdout_mask(sentences, [0] * len(sentences), config.data.val_fraction,
                                        config.data.val_seed)
        train = [s for s, h in zip(sentences, held) if not h]
        val = [s for s, h in zip(sentences, held) if h]
        self.sentences = {"train": train, "val": val}

        def dataset(texts):
            ids = self.model.tokenize(texts)
            targets = self.teacher.encode_text(texts).cpu() if texts else torch.zeros(0, 1)
            return torch.utils.data.TensorDataset(ids, targets, torch.arange(len(texts)))

        self.train_view = dataset(train)
        self.val_view = dataset(val) if val else None
        self.trainable = self.model.text_encoder

    def loss(self, wrapped, batch):
        ids, targets, _ = batch
        return alignment_loss(wrapped(ids), targets), {}

    @torch.no_grad()
    def validate(self) -> dict:
        if self.val_view is None:
            return {}
        ids, targets, _ = self.val_view.tensors
        encoder = self.model.text_encoder
        was_training = encoder.training
        encoder.eval()
        try:
            student = torch.cat([encoder(ids[i:i + 1024].to(self.device)).float().cpu()
                                 for i in range(0, len(ids), 1024)])
        finally:
            encoder.train(was_training)
        cosine = float(F.cosine_similarity(student, targets, dim=-1).mean())
        return {"val_cosine": cosine, "val_loss": 1 - cosine}


class _ImageTask(_Task):
    """Shared by stages B, C and D: image/recording sources, the validation part, cached teacher targets, the SNN
    prototypes and teacher classifier used for validation."""

    needs_labels = False

    def __init__(self, config, processes_):
        super().__init__(config, processes_)
        data = config.data
        source = data_module.open_source(data, data.split)
        self.source = source
        self.indices = {part: data_module.select_indices(source, data, part) for part in ("train", "val")}
        if not self.indices["train"]:
            raise ConfigError(f"no training samples in {data.source} {data.split} (per_class={data.per_class})")
        has_labels = getattr(source, "classes", None) or data.classnames is not None
        self.classnames = data_module.class_names_of(data, source) if has_labels else None
        if self.needs_labels and self.classnames is None:
            raise ConfigError(f"stage {config.stage} needs labelled data with class names")
        self.templates = data_module.templates_of(data) if self.classnames else None
        self.prototypes = self.model.class_prototypes(self.classnames, self.templates).cpu() \
            if self.classnames else None
        self.teacher_classifier = None
        if self.classnames:
            from neuroclip.clip.zeroshot import text_classifier

            self.teacher_classifier = text_classifier(self.teacher, self.classnames, self.templates).float()
        self.modality = self.model.config.modality
        preprocess = self.model.preprocess

        def view(part, role):
            return data_module.SampleView(source, self.indices[part], role, self.model.config, preprocess)

        self.view = view
        self.val_student = view("val", "student")
        self.val_labels = torch.tensor(self.val_student.labels) if self.classnames else None

    def teacher_targets(self, part: str) -> torch.Tensor:
        return cached_teacher_targets(self.view(part, "teacher"), self.teacher, self.modality, self.processes,
                                      self.config.eval_batch_size, self.config.data.workers, self.config.progress,
                                      f"teacher targets ({part})")

    def student_metrics(self, teacher_val: torch.Tensor | None) -> dict:
        if not len(self.val_student):
            return {}
        student = student_embeddings(self.model.image_encoder, self.val_student, self.config.eval_batch_size,
                                     self.config.data.workers, self.device)
        metrics = image_metrics(student, teacher_val, self.val_labels, self.prototypes, self.teacher_classifier)
        return {f"val_{key}": value for key, value in metrics.items()} | (
            {"val_loss": 1 - metrics["cosine"]} if "cosine" in metrics else {})


class ImageStudent(_ImageTask):
    """Stages B (alignment) and D (dual-loss fine-tuning) train the image tower against a frozen teacher."""

    def __init__(self, config, processes_):
        self.needs_labels = config.stage == "finetune"
        super().__init__(config, processes_)
        self.cache = config.cache_teacher
        self.val_targets = self.teacher_targets("val") if len(self.indices["val"]) else None
        if self.cache:
            self.train_targets = self.teacher_targets("train")
            self.train_view = self.view("train", "student")
        else:
            self.train_view = self.view("train", "both")
        self.trainable = self.model.image_encoder
        if self.needs_labels:
            self.prototypes_device = self.prototypes.to(self.device)

    def _teacher(self, inputs, positions):
        if self.cache:
            # the cached targets stay in host memory (ImageNet-sized sets); the batch's positions may be on the GPU
            return self.train_targets[positions.to(self.train_targets.device)].to(self.device)
        with torch.no_grad():
            return teacher_embeddings(self.teacher.encode_images, data_module.teacher_part(inputs, self.modality),
                                      self.modality).to(self.device)

    def loss(self, wrapped, batch):
        inputs, labels, positions = batch
        student_input = inputs if self.cache else data_module.student_part(inputs, self.modality)
        student = wrapped(student_input)
        teacher = self._teacher(inputs, positions)
        if not self.needs_labels:
            return alignment_loss(student, teacher), {}
        student_logits = class_logits(student, self.prototypes_device)
        teacher_logits = class_logits(teacher, self.prototypes_device)
        return dual_loss(student_logits, teacher_logits, labels, self.config.loss)

    def validate(self) -> dict:
        return self.student_metrics(self.val_targets)


class TeacherFinetune(_ImageTask):
    """Stage C: the teacher's image tower trained with CE against the frozen SNN prototypes; writes ``teacher.pt``
    (an open_clip state dict: pass its path as the teacher's ``pretrained`` in stage D)."""

    needs_labels = True

    def __init__(self, config, processes_):
        super().__init__(config, processes_)
        self.train_view = self.view("train", "teacher")
        self.val_teacher = self.view("val", "teacher")
        self.trainable = self.teacher.model.visual
        self.trainable.requires_grad_(True)
        self.prototypes_device = self.prototypes.to(self.device)

    def loss(self, wrapped, batch):
        inputs, labels, _ = batch
        embedded = teacher_embeddings(wrapped, inputs, self.modality)
        logits = class_logits(embedded, self.prototypes_device) * self.config.loss.teacher_logit_scale
        return F.cross_entropy(logits, labels), {}

    @torch.no_grad()
    def validate(self) -> dict:
        if not len(self.val_teacher):
            return {}
        visual = self.trainable
        was_training = visual.training
        visual.eval()
        try:
            embedded = cached_teacher_targets(self.val_teacher, self.teacher, self.modality, self.processes,
                                              self.config.eval_batch_size, self.config.data.workers, False)
        finally:
            visual.train(was_training)
        predictions = class_logits(embedded, self.prototypes).argmax(-1)
        return {"val_top1": float((predictions == self.val_labels).float().mean())}

    def save_best(self, out: Path, extras: dict) -> None:
        state = {name: tensor.detach().cpu() for name, tensor in self.teacher.model.state_dict().items()}
        save_torch(state, out / TEACHER)
        save_spikeclip(self.model, out / BEST, **extras, teacher_checkpoint=str(out / TEACHER))


TASKS = {"align-text": TextAlignment, "align-image": ImageStudent, "finetune-teacher": TeacherFinetune,
         "finetune": ImageStudent}


# --------------------------------------------------------------------------------------------------- the loop


def _better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    lower = metric in ("train_loss", "val_loss")
    return value < best if lower else value > best


def _config_difference(saved: dict, current: dict) -> list[str]:
    """The fields (dotted paths, e.g. ``optim.lr``) in which a saved stage config differs from the current one,
    but for :data:`RESUMABLE_CHANGES`. The saved model config gets the fields it predates (``legacy_model_dict``)."""
    if isinstance(saved.get("model"), dict):
        saved = {**saved, "model": legacy_model_dict(saved["model"])}
    return sorted(path for key in set(saved) | set(current) if key not in RESUMABLE_CHANGES
                  for path in _differing_paths(saved.get(key), current.get(key), key))


def _differing_paths(saved, current, path: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        return [found for key in set(saved) | set(current)
                for found in _differing_paths(saved.get(key), current.get(key), f"{path}.{key}")]
    return [] if saved == current else [path]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_stage(config: StageConfig, resume: bool = False, on_step=None) -> dict:
    """Train one stage; returns the result record (also written to ``<out>/result.json``).

    ``resume``: continue from ``<out>/last.pt`` if it exists (the config must be the same but for
    :data:`RESUMABLE_CHANGES`). ``on_step(state)`` is called after every optimisation step with the step counters.
    The returned record has ``"stopped": True`` when ``stop_after_steps`` ended the run early.
    """
    config.check()
    started = time.time()
    procs = processes(config.device)
    try:
        return _run(config, procs, resume, on_step, started)
    finally:
        procs.close()


def _run(config: StageConfig, procs: Processes, resume: bool, on_step, started: float) -> dict:
    from tqdm.auto import tqdm

    from neuroclip import __version__

    out = Path(config.out).expanduser()
    _seed_everything(config.seed)
    task = TASKS[config.stage](config, procs)
    module = task.trainable
    module.train()
    if procs.world > 1 and config.sync_batchnorm:
        convert_batchnorm_for_processes(module, procs.device)
    wrapped = module
    if procs.world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[procs.device.index] if procs.device.type == "cuda" else None)
    optim = config.optim
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=optim.lr, betas=optim.betas, eps=optim.eps,
                                 weight_decay=optim.weight_decay, amsgrad=optim.amsgrad)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=optim.t_max or optim.epochs,
                                                           eta_min=optim.eta_min)
    use_amp = config.amp and procs.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "best_epoch": None,
             "bad_epochs": 0, "epoch_loss_sum": 0.0, "epoch_batches": 0, "history": [], "done": False}
    config_dict = to_dict(config)
    last = out / LAST
    if resume and last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=True)
        if saved.get("format") != TRAIN_STATE_FORMAT:
            raise ConfigError(f"{last} is not a SpikeCLIP training state")
        different = _config_difference(saved["config"], config_dict)
        if different:
            raise ConfigError(f"cannot resume {last}: the config differs in {', '.join(different)}; use the "
                              "config of the interrupted run (or another --out)")
        task.model.load_state_dict(saved["model"])
        module.load_state_dict(saved["trainable"])  # the student tower again, or the teacher's image tower
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        state = saved["state"]
        torch.set_rng_state(saved["rng"])
    if state["done"]:
        return json.loads((out / RESULT).read_text()) if (out / RESULT).is_file() else {"done": True}

    def save_state():
        if not procs.main:
            return
        save_torch({
            "format": TRAIN_STATE_FORMAT, "config": config_dict, "state": state,
            "trainable": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "model": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "rng": torch.get_rng_state(),
        }, last)

    def record() -> dict:
        return {
            "stage": config.stage, "best": {"metric": config.select, "value": state["best"],
                                            "epoch": state["best_epoch"]},
            "history": state["history"], "steps": state["global_step"], "epochs_run": state["epoch"],
            "world_size": procs.world, "device": str(procs.device), "seed": config.seed,
            "config": config_dict, "model": task.model_config_dict(),
            "neuroclip_version": __version__, "torch_version": torch.__version__,
            "seconds_this_run": round(time.time() - started, 2),
            "checkpoint": str(out / BEST),
        }

    run_steps = 0
    stop = False
    for epoch in range(state["epoch"], optim.epochs):
        batches = epoch_batches(len(task.train_view), optim.batch_size, config.seed, epoch, procs,
                                drop_last=optim.drop_last)
        if not batches:
            raise ConfigError(f"no full batch of {optim.batch_size} in {len(task.train_view)} training samples "
                              "(optim.drop_last is on): lower optim.batch_size")
        start = state["step_in_epoch"]
        bar = tqdm(total=len(batches), initial=start, desc=f"{config.stage} epoch {epoch + 1}/{optim.epochs}",
                   disable=not (config.progress and procs.main), leave=False, file=sys.stderr)
        module.train()
        reached_max = False
        for batch in _loader(task.train_view, batches[start:], config.data.workers, procs.device):
            batch = _to(batch, procs.device)
            with _amp(use_amp, procs.device):
                loss, parts = task.loss(wrapped, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            state["global_step"] += 1
            state["step_in_epoch"] += 1
            state["epoch_loss_sum"] += float(loss.detach())
            state["epoch_batches"] += 1
            run_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", **{k: f"{v:.3g}" for k, v in parts.items()})
            if config.checkpoint_every and state["global_step"] % config.checkpoint_every == 0:
                save_state()
            if on_step is not None:
                on_step(dict(state))
            if config.max_steps is not None and state["global_step"] >= config.max_steps:
                reached_max = True
                break
            if config.stop_after_steps is not None and run_steps >= config.stop_after_steps:
                stop = True
                break
        bar.close()
        if stop:
            save_state()
            procs.barrier()
            return record() | {"stopped": True}
        with warnings.catch_warnings():  # a run resumed at an epoch's end steps the schedule before any step
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            scheduler.step()
        train_loss = procs.all_reduce_sum(torch.tensor([state["epoch_loss_sum"], state["epoch_batches"]],
                                                       dtype=torch.float64))
        metrics = {"epoch": epoch + 1, "step": state["global_step"], "lr": optimizer.param_groups[0]["lr"],
                   "train_loss": float(train_loss[0] / max(train_loss[1], 1))}
        metrics |= task.validate()
        if config.select not in metrics:
            raise ConfigError(f"select={config.select!r} is not measured in stage {config.stage} with this data "
                              f"(measured: {', '.join(k for k in metrics if k not in ('epoch', 'step', 'lr'))}); "
                              "use train_loss, or give the data a validation part (data.val_fraction > 0)")
        value = metrics[config.select]
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        state["epoch_loss_sum"], state["epoch_batches"] = 0.0, 0
        state["history"].append(metrics)
        if _better(config.select, value, state["best"]):
            state["best"], state["best_epoch"], state["bad_epochs"] = value, epoch + 1, 0
            if procs.main:
                task.save_best(out, {"stage": config.stage, "epoch": epoch + 1, "metrics": metrics,
                                     "classnames": getattr(task, "classnames", None),
                                     "templates": getattr(task, "templates", None), "stage_config": config_dict})
        else:
            state["bad_epochs"] += 1
        patience = config.early_stop_patience
        finished = reached_max or epoch + 1 == optim.epochs or (patience is not None
                                                                  and state["bad_epochs"] >= patience)
        state["done"] = finished
        save_state()
        result = record()
        if procs.main:
            encoded = json.dumps(result, indent=2, default=str).encode()
            atomic_write(out / RESULT, lambda fp, data=encoded: fp.write(data))
        procs.barrier()
        if finished:
            return result
    return record()


def train_from_file(path, overrides: dict | None = None, resume: bool = False) -> dict:
    """Load a stage config file (JSON/YAML), apply dotted overrides, train."""
    from neuroclip.spikeclip.config import load_stage_config

    return run_stage(load_stage_config(path, overrides), resume=resume)


__all__ = ["SpikeCLIP", "epoch_batches", "run_stage", "train_from_file"]
