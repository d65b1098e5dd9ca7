"""SpikeCLIP's four stages as tasks of one training loop (:mod:`neuroclip.spikeclip.train`): each says what it
trains, on which data, with which loss, how it validates and what its best checkpoint is.

=====================  ==================================================  ====================================
stage                  loss                                                trains
=====================  ==================================================  ====================================
``align-text`` (A)     mean [1 - cos(TextSNN(s), CLIP_text(s))]             the text tower
``align-image`` (B)    mean [1 - cos(ImageSNN(x), CLIP_image(x))]           the image tower
                       (+ optional KL of zero-shot distributions, ours)
``finetune-teacher``   CE(norm(CLIP_image(x)) . W_SNN, y)  (optional C)     the teacher's image tower
``finetune`` (D)       CE(z_s, y) + KL(p_t || p_s), z = norm(.) . W_SNN     the image tower
=====================  ==================================================  ====================================

``W_SNN`` are the text tower's class prototypes (frozen after stage A). For event data the teacher sees the NeuroCLIP
event frames (its target: the mean of its normalised per-frame embeddings) and the student sees count frames, one per
timestep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from neuroclip.errors import ConfigError
from neuroclip.outputs import atomic_write
from neuroclip.processes import Processes
from neuroclip.spikeclip import data as data_module
from neuroclip.spikeclip.config import StageConfig, to_dict
from neuroclip.spikeclip.embeddings import cached_teacher_targets, load_teacher, student_embeddings, teacher_embeddings
from neuroclip.spikeclip.losses import alignment_loss, dual_loss, kl_divergence
from neuroclip.spikeclip.metrics import image_metrics
from neuroclip.spikeclip.model import build_spikeclip, class_logits, load_spikeclip, save_spikeclip, save_torch

# the files a stage writes into its ``out`` folder
LAST, BEST, RESULT, TEACHER = "last.pt", "best.pt", "result.json", "teacher.pt"


# the text tower's settings that an init checkpoint fixes and a stage config could still ask to change; the others
# follow the teacher (vocab_size, token_width, position_rows, output_dim) or only shape a fresh tower (linear_init*)
_TEXT_FIELDS_OF_INIT = ("context_length", "timesteps", "hidden_dim", "neuron", "activation", "pad", "truncate")


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
        """The stage runs the init checkpoint's model, frames and teacher view: refuse a stage config that asks for
        others (it would be silently ignored)."""
        mine, theirs = self.config.model, self.model.config
        fields = {"modality": (mine.modality, theirs.modality),
                  "image": (mine.image, dataclasses.replace(theirs.image, output_dim=mine.image.output_dim))}
        fields |= {f"text.{name}": (getattr(mine.text, name), getattr(theirs.text, name))
                   for name in _TEXT_FIELDS_OF_INIT}
        if mine.modality == "events":
            fields |= {"events": (mine.events, theirs.events),
                       "teacher_frames": (mine.teacher_frames, theirs.teacher_frames)}
        differ = [name for name, (a, b) in fields.items() if a != b]
        if differ:
            raise ConfigError(f"the init checkpoint {self.config.init} was built with another model config than "
                              f"this stage's (model.{', model.'.join(differ)}); use the same preset and model "
                              "overrides in every stage")

    def loss(self, wrapped, batch) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def validate(self) -> dict:
        return {}

    def save_best(self, out: Path, extras: dict) -> None:
        """``best.pt`` with ``extras`` and the teacher's logit scale, the temperature of the probabilities shown for
        the student's predictions (:func:`neuroclip.spikeclip.model.probability_scale`)."""
        save_spikeclip(self.model, out / BEST, **extras, teacher_logit_scale=float(self.teacher.logit_scale))

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
        self.indices = {part: data_module.select_indices(source, data, part) for part in ("train", "val")}
        # stage B only (StageConfig.check): recordings without labels join the training part
        source, unlabelled = data_module.with_unlabelled(source, data)
        self.indices["train"] += unlabelled
        self.source = source
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

        def view(part, role, memo=None):
            augment = data.augment if part == "train" else None  # validation samples are never augmented
            return data_module.SampleView(source, self.indices[part], role, self.model.config, preprocess, memo,
                                          augment)

        self.view = view
        self.val_student = view("val", "student", {} if config.keep_inputs else None)
        self.val_labels = torch.tensor(self.val_student.labels) if self.classnames else None

    def teacher_targets(self, part: str) -> torch.Tensor:
        """The frozen teacher's targets ``[N, D]`` of the part's samples, in the part's order: computed once per
        sample (a sample repeated in the part is embedded once), per plain source, and stored in / read from
        ``teacher_cache`` when set."""
        indices = self.indices[part]
        rows: dict[int, torch.Tensor] = {}
        for source, offset in data_module.source_parts(self.source):
            local = sorted({i - offset for i in indices if offset <= i < offset + len(source)})
            if not local:
                continue
            targets = self._source_targets(source, local, part)
            rows.update({offset + i: row for i, row in zip(local, targets)})
        return torch.stack([rows[i] for i in indices]) if indices else torch.zeros(0, self.teacher.embed_dim)

    def _source_targets(self, source, local: list[int], part: str) -> torch.Tensor:
        view = data_module.SampleView(source, local, "teacher", self.model.config, self.model.preprocess)

        def compute():
            return cached_teacher_targets(view, self.teacher, self.modality, self.processes,
                                          self.config.eval_batch_size, self.config.data.workers,
                                          self.config.progress, f"teacher targets ({part})")

        if not self.config.teacher_cache:
            return compute()
        path = Path(self.config.teacher_cache).expanduser() / f"teacher-{self.teacher_cache_key(source, local)}.pt"
        if path.is_file():
            return torch.load(path, map_location="cpu", weights_only=True)
        targets = compute()
        if self.processes.main:
            atomic_write(path, lambda fp: torch.save(targets, fp))
        return targets

    def teacher_cache_key(self, source, local: list[int]) -> str:
        """A digest of what the teacher's targets of ``source``'s samples ``local`` depend on: the source (type,
        name, root, split) and the samples' keys, the modality, the teacher's weights and precision, its event
        frames and preprocessing. (The samples' contents are not read: a source whose files change in place needs
        another cache folder.)"""
        identity = {
            "source": [type(source).__name__, str(getattr(source, "name", "")), str(getattr(source, "root", "")),
                       str(getattr(source, "split", ""))],
            "keys": [source.keys[i] for i in local], "modality": self.modality,
            "teacher": self.teacher.spec.identity(), "amp": bool(self.config.amp and self.device.type == "cuda"),
            "frames": to_dict(self.model.config.teacher_frames), "preprocess": repr(self.model.preprocess)}
        encoded = json.dumps(identity, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()[:24]

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
        augmented = config.data.augment is not None and config.data.augment.active
        # an augmented sample differs at every read: its teacher target is computed with it, in the loop
        self.cache = config.cache_teacher and not augmented
        self.val_targets = self.teacher_targets("val") if len(self.indices["val"]) else None
        if self.cache:
            self.train_targets = self.teacher_targets("train")
            self.train_view = self.view("train", "student", {} if config.keep_inputs else None)
        else:
            self.train_view = self.view("train", "both")
        self.trainable = self.model.image_encoder
        self.align_kl = config.loss.align_kl_weight if not self.needs_labels else 0.0
        if self.align_kl and self.teacher_classifier is None:
            raise ConfigError("loss.align_kl_weight compares zero-shot predictions: give data.classnames (or a "
                              "labelled source) so both towers have class prompts")
        if self.needs_labels or self.align_kl:
            self.prototypes_device = self.prototypes.to(self.device)
        if self.align_kl:
            self.teacher_classifier_device = self.teacher_classifier.to(self.device)

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
            loss = alignment_loss(student, teacher)
            if not self.align_kl:
                return loss, {}
            scale = self.config.loss.align_kl_scale
            kl = kl_divergence(class_logits(student, self.prototypes_device) * scale,
                               class_logits(teacher, self.teacher_classifier_device) * scale, 1.0, "batchmean")
            return loss + self.align_kl * kl, {"cosine_loss": float(loss.detach()), "kl": float(kl.detach())}
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
        super().save_best(out, {**extras, "teacher_checkpoint": str(out / TEACHER)})


TASKS = {"align-text": TextAlignment, "align-image": ImageStudent, "finetune-teacher": TeacherFinetune,
         "finetune": ImageStudent}
