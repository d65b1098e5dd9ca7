"""SpikeCLIP's settings as frozen dataclasses, the paper's values as the ``paper`` preset, and config files.

Every value of the ``paper`` presets is the released code's (SpikeCLIP: model.py, bash/*.sh, language/*.sh), as
described in the project's reference notes; where the code and the obvious reading of the paper differ, the code wins
and the docstring says so.

A stage config file (JSON or YAML) names a stage and a preset and overrides any field::

    stage: align-image
    preset: paper
    model: {teacher: {model: ViT-B-16, pretrained: openai}, image: {depth: 4}}
    data: {source: torchvision, name: CIFAR10, root: ~/data}
    optim: {epochs: 50, batch_size: 196}
    init: runs/align-text/best.pt
    out: runs/align-image
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from neuroclip.configs import (  # noqa: F401 (from_dict, to_dict, load_config_file: re-exported)
    check_choice,
    check_finite,
    check_positive_int,
    from_dict,
    load_config_file,
    set_dotted,
    to_dict,
)
from neuroclip.errors import ConfigError
from neuroclip.events.augment import EventAugmentConfig
from neuroclip.frames.clip_input import FrameConfig

ACTIVATIONS = ("lif", "relu", "identity")
MODALITIES = ("images", "events")
STAGES = ("align-text", "align-image", "finetune-teacher", "finetune")
DATA_SOURCES = ("sentences", "digits", "torchvision", "image-folder", "nmnist", "event-folder")
SELECTION_METRICS = ("val_top1", "val_cosine", "val_loss", "train_loss")
TEXT_LINEAR_INITS = ("pytorch", "trunc_normal")
# model-config fields added after checkpoints were first written, with the value every earlier checkpoint was built
# with (see legacy_model_dict)
LEGACY_MODEL_FIELDS = {("text", "linear_init"): "trunc_normal"}


def _positive_int(owner: str, name: str, value) -> None:
    check_positive_int(f"{owner}.{name}", value)


def _finite(owner: str, name: str, value, positive: bool = False) -> None:
    check_finite(f"{owner}.{name}", value, positive)


def _choice(owner: str, name: str, value, choices) -> None:
    check_choice(f"{owner}.{name}", value, choices)


@dataclasses.dataclass(frozen=True)
class ImageEncoderConfig:
    """The spiking image tower (SpikeCLIP's ``Vision_Encoder``, a Spikingformer-4-384 variant).

    The tokenizer's widths are ``embed_dim`` / 8, / 4, / 2, 1, 1 (48, 96, 192, 384, 384 for 384) with a max-pool
    after the third and fourth convolutions. ``input_size``: side the input is resized to (the paper: the CLIP
    image downsampled to 32 x 32, bilinear); None keeps the input's size. ``activation``: ``lif`` for the SNN,
    ``relu``/``identity`` for the same-size ANN counterpart used in energy comparisons.
    """

    embed_dim: int = 384
    depth: int = 4
    heads: int = 8
    mlp_ratio: int = 4
    timesteps: int = 4
    in_channels: int = 3
    input_size: int | None = 32
    resize_mode: str = "bilinear"
    attention_scale: float = 0.125
    attention_threshold: float = 0.5
    neuron: str = "spikeclip"
    activation: str = "lif"
    output_dim: int = 512
    linear_init_std: float = 0.02

    def __post_init__(self):
        owner = "image"
        for name in ("embed_dim", "depth", "heads", "mlp_ratio", "timesteps", "in_channels", "output_dim"):
            _positive_int(owner, name, getattr(self, name))
        if self.input_size is not None:
            _positive_int(owner, "input_size", self.input_size)
        if self.embed_dim % 8 or self.embed_dim % self.heads:
            raise ConfigError(f"image.embed_dim ({self.embed_dim}) must be divisible by 8 (the tokenizer widths are "
                              f"embed_dim/8, /4, /2) and by image.heads ({self.heads})")
        _choice(owner, "resize_mode", self.resize_mode, ("bilinear", "area", "nearest", "bicubic"))
        _choice(owner, "activation", self.activation, ACTIVATIONS)
        _finite(owner, "attention_scale", self.attention_scale)
        _finite(owner, "attention_threshold", self.attention_threshold)
        _finite(owner, "linear_init_std", self.linear_init_std, positive=True)


@dataclasses.dataclass(frozen=True)
class TextEncoderConfig:
    """The spiking text tower (SpikeCLIP's ``Language_Encoder``): a trainable copy of the teacher's token and
    position embeddings, ``context_length`` tokens flattened, repeated over T, then LIF -> Linear(hidden_dim) -> LIF
    -> Linear(output_dim) and the learnable temporal weighting.

    ``vocab_size``, ``token_width``, ``position_rows`` and ``output_dim`` follow the teacher (the defaults are CLIP
    ViT-B/16's; the whole 77-row position table is copied, of which the first ``context_length`` rows are used, as in
    the released code, which is why its text tower has 47.36 M parameters). ``pad``: the id after the end-of-text
    token, ``eot`` as the HF CLIP tokenizer pads (the released code), or ``zero`` as open_clip pads.
    ``truncate=False`` rejects sentences longer than ``context_length`` tokens (the released code does not truncate).

    ``linear_init``: how fc1 and fc2 start. ``pytorch`` (the released code: ``Language_Encoder`` keeps ``nn.Linear``'s
    default, weights and biases uniform in +-1/sqrt(fan_in)) or ``trunc_normal`` (truncated normal with std
    ``linear_init_std`` and zero bias, the image tower's rule, which this tower used before; with zero bias and no
    spikes a fresh tower then outputs exactly 0).
    """

    context_length: int = 20
    timesteps: int = 4
    hidden_dim: int = 2048
    vocab_size: int = 49408
    token_width: int = 512
    position_rows: int = 77
    output_dim: int = 512
    neuron: str = "spikeclip"
    activation: str = "lif"
    pad: str = "eot"
    truncate: bool = False
    # Configs store every field, so a config written before this field existed (always trunc_normal then) reads
    # back as the default: that affects only how a fresh tower is initialised, never the loading of trained
    # weights; checkpoints and training states are read through legacy_model_dict, which restores trunc_normal.
    linear_init: str = "pytorch"
    linear_init_std: float = 0.02

    def __post_init__(self):
        owner = "text"
        for name in ("context_length", "timesteps", "hidden_dim", "vocab_size", "token_width", "position_rows",
                     "output_dim"):
            _positive_int(owner, name, getattr(self, name))
        if self.position_rows < self.context_length:
            raise ConfigError(f"text.position_rows ({self.position_rows}) must be >= text.context_length "
                              f"({self.context_length})")
        _choice(owner, "activation", self.activation, ACTIVATIONS)
        _choice(owner, "pad", self.pad, ("eot", "zero"))
        _choice(owner, "linear_init", self.linear_init, TEXT_LINEAR_INITS)
        _finite(owner, "linear_init_std", self.linear_init_std, positive=True)


@dataclasses.dataclass(frozen=True)
class EventInputConfig:
    """How the student sees a recording: ``n_frames`` count frames [T, 2, H, W] (one per timestep), split by event
    number or time; ``representation`` ``counts`` (event counts, real-valued input) or ``binary`` (count > 0, so
    the first convolution is spike-driven too)."""

    n_frames: int = 4
    split_by: str = "number"
    representation: str = "counts"

    def __post_init__(self):
        _positive_int("events", "n_frames", self.n_frames)
        _choice("events", "split_by", self.split_by, ("number", "time"))
        _choice("events", "representation", self.representation, ("counts", "binary"))


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """The CLIP teacher: any open_clip model (name plus pretrained tag, checkpoint file, or None for random)."""

    model: str = "ViT-B-16"
    pretrained: str | None = "openai"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Both towers, the input modality and the teacher that defines the embedding space and tokenizer.

    With ``modality='events'`` the image tower takes ``events.n_frames`` count frames (2 polarity channels) as its
    timesteps, and the teacher sees the recording through ``teacher_frames`` (the NeuroCLIP event-frame encoding):
    its target is the mean of its normalised per-frame embeddings.
    """

    image: ImageEncoderConfig = ImageEncoderConfig()
    text: TextEncoderConfig = TextEncoderConfig()
    teacher: TeacherConfig = TeacherConfig()
    modality: str = "images"
    events: EventInputConfig = EventInputConfig()
    teacher_frames: FrameConfig = FrameConfig()

    def __post_init__(self):
        _choice("model", "modality", self.modality, MODALITIES)
        if self.modality == "events":
            if self.image.in_channels != 2:
                raise ConfigError(f"event input has 2 polarity channels; set image.in_channels to 2 "
                                  f"(got {self.image.in_channels})")
            if self.image.timesteps != self.events.n_frames:
                raise ConfigError(f"the image tower's timesteps ({self.image.timesteps}) must equal events.n_frames "
                                  f"({self.events.n_frames}): each count frame is one timestep")
        if self.image.output_dim != self.text.output_dim:
            raise ConfigError(f"image.output_dim ({self.image.output_dim}) and text.output_dim "
                              f"({self.text.output_dim}) must both be the teacher's embedding width")

    def fitted_to_teacher(self, embed_dim: int, vocab_size: int, token_width: int, position_rows: int) -> ModelConfig:
        """The same config with the widths the teacher dictates."""
        return dataclasses.replace(
            self, image=dataclasses.replace(self.image, output_dim=embed_dim),
            text=dataclasses.replace(self.text, output_dim=embed_dim, vocab_size=vocab_size, token_width=token_width,
                                     position_rows=max(position_rows, self.text.context_length)))


def _events_model(base: ModelConfig, n_frames: int = 4) -> ModelConfig:
    # count frames are resized by area averaging, which keeps the counts' mass per area
    return dataclasses.replace(base, modality="events",
                               image=dataclasses.replace(base.image, in_channels=2, timesteps=n_frames,
                                                         resize_mode="area"),
                               events=EventInputConfig(n_frames=n_frames))


_PAPER = ModelConfig()
_TINY = ModelConfig(
    image=ImageEncoderConfig(embed_dim=32, depth=1, heads=2, mlp_ratio=2, output_dim=64),
    text=TextEncoderConfig(hidden_dim=128, token_width=64, output_dim=64),
    teacher=TeacherConfig("neuroclip-tiny-vit", None),
    teacher_frames=FrameConfig(n_frames=4),
)
# the student of scripts/train_neuroclip_mini_spiking.py (the bundled ``neuroclip-mini-spiking``): the bundled CLIP
# neuroclip-mini as teacher (128-wide embeddings, NeuroCLIP's 10 discrimination frames), a 192-wide one-block spiking
# image tower on 4 event count frames of 32 x 32, a 20-token spiking text MLP 512 wide. 192 wide: chosen over 96 on
# the development recordings, out of fold (89.5% against 87.0% with 60 epochs each;
# results/nmnist_dev_mini_spiking_recipes.json)
_MINI_SPIKING = _events_model(ModelConfig(
    image=ImageEncoderConfig(embed_dim=192, depth=1, heads=4, mlp_ratio=4, output_dim=128),
    text=TextEncoderConfig(hidden_dim=512, token_width=128, position_rows=32, output_dim=128),
    teacher=TeacherConfig("neuroclip-mini", None),
    teacher_frames=FrameConfig(n_frames=10),
))
MODEL_PRESETS = {
    "paper": _PAPER,
    "paper-events": _events_model(_PAPER),
    "tiny": _TINY,
    "tiny-events": _events_model(_TINY),
    "neuroclip-mini-spiking": _MINI_SPIKING,
}
MODEL_PRESET_HELP = {
    "paper": "SpikeCLIP as released: Spikingformer-4-384 image tower (T=4, 32x32), 20-token MLP text tower, "
             "teacher CLIP ViT-B/16 (openai)",
    "paper-events": "the paper's towers with 4 event count frames [4, 2, H, W] as the image tower's timesteps",
    "tiny": "a tiny student for tests and CPU demos (embed 32, 1 block) with the tiny random test teacher",
    "tiny-events": "the tiny student on 4 event count frames",
    "neuroclip-mini-spiking": "the bundled neuroclip-mini-spiking's student: teacher neuroclip-mini (bundled, "
                              "offline), a 192-wide 1-block spiking image tower on 4 event count frames (32x32), "
                              "a 512-wide spiking text MLP",
}


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Adam (amsgrad in every released script) with a cosine schedule stepped once per epoch."""

    lr: float = 5e-3
    eta_min: float = 5e-4
    epochs: int = 50
    t_max: int | None = None  # None: the number of epochs
    batch_size: int = 196  # per process, as the released scripts' per-GPU batch
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = True
    drop_last: bool = False

    def __post_init__(self):
        _finite("optim", "lr", self.lr, positive=True)
        _finite("optim", "eta_min", self.eta_min)
        _positive_int("optim", "epochs", self.epochs)
        _positive_int("optim", "batch_size", self.batch_size)
        if self.t_max is not None:
            _positive_int("optim", "t_max", self.t_max)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {self.betas!r}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Dual loss of stage D: ``ce_weight * CE(z_s, y) + kl_weight * T^2-free KL(p_t || p_s)`` with both
    distributions at ``temperature``.

    The paper preset is the released code's: KL summed over the batch (``reduction='sum'``), weight 1, temperature 1
    (so the KL outweighs the batch-mean CE by about the batch size). ``kl_reduction='batchmean'`` is the normalised
    variant (KL averaged over the batch); ``temperature_squared`` multiplies the KL by T^2 (Hinton's scaling).

    ``teacher_logit_scale`` multiplies the cosine logits of stage C's cross-entropy (released: 1, no temperature;
    with cosines in [-1, 1] that loss is nearly flat, so a CLIP-like scale such as 20 trains a weak teacher faster).

    ``align_kl_weight`` (ours, stage B only; 0 = the released loss): adds ``align_kl_weight * KL(p_t || p_s)`` to
    the cosine alignment, batch mean, where ``p_t`` is the teacher's zero-shot distribution (its image embedding
    against its own text classifier of ``data.classnames``) and ``p_s`` the student's (against the SNN prototypes),
    both at logit scale ``align_kl_scale`` (CLIP's 100). It needs no label, so it also trains on recordings of
    ``data.unlabelled``, and it weighs the directions of the embedding that decide the zero-shot class.
    """

    ce_weight: float = 1.0
    kl_weight: float = 1.0
    kl_reduction: str = "sum"
    temperature: float = 1.0
    temperature_squared: bool = False
    teacher_logit_scale: float = 1.0
    align_kl_weight: float = 0.0
    align_kl_scale: float = 100.0  # CLIP's logit scale at the end of training (exp of its clamp, ln 100)

    def __post_init__(self):
        _finite("loss", "ce_weight", self.ce_weight)
        _finite("loss", "align_kl_weight", self.align_kl_weight)
        _finite("loss", "align_kl_scale", self.align_kl_scale, positive=True)
        if self.align_kl_weight < 0:
            raise ConfigError(f"loss.align_kl_weight must be >= 0, got {self.align_kl_weight!r}")
        _finite("loss", "kl_weight", self.kl_weight)
        _finite("loss", "temperature", self.temperature, positive=True)
        _finite("loss", "teacher_logit_scale", self.teacher_logit_scale, positive=True)
        _choice("loss", "kl_reduction", self.kl_reduction, ("sum", "batchmean"))


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where a stage's samples come from.

    ``source``:

    * ``sentences``: ``templates`` x ``classnames`` (stage A), plus the lines of ``sentences_file``;
    * ``digits``: scikit-learn's 8 x 8 handwritten digits (1 797 images) as RGB pictures, a small offline image set;
    * ``torchvision``: a torchvision dataset class ``name`` (CIFAR10, CIFAR100, STL10, ...) under ``root``;
    * ``image-folder``: ``root/<class>/<image>``;
    * ``nmnist``: the N-MNIST layout ``root/Train|Test/<digit>/*.bin``;
    * ``event-folder``: recordings in ``root/<class>/<file>`` (any format neuroclip reads).

    ``split`` is the training split (``train``); ``val_fraction`` of it is held out for model selection (a hashed
    per-class rule, ``val_seed``); the test split is never used for selection. ``classnames``: a class-name set
    (``nmnist-words``, ``cifar10``, ...), a list, or None for the dataset's own names. ``per_class``: keep only the
    first n samples of each class (for small runs).

    ``unlabelled``: folders of event recordings (searched recursively, any format neuroclip reads; folder names
    are ignored, so no label is read) added to the training part of stage ``align-image`` only, which needs the
    teacher's embedding and no label; each appears ``unlabelled_repeat`` times per epoch. They are never part of
    the validation part.

    ``augment`` (event sources, stages align-image and finetune): a random event-level augmentation
    (:class:`neuroclip.events.augment.EventAugmentConfig`: ``shift_px``, ``rotate_degrees``, ``scale``, ``drop``)
    drawn afresh each time a training sample is read; student and teacher see the same augmented recording, so the
    teacher's targets are computed during training (``cache_teacher`` and ``keep_inputs`` do not apply).
    Validation samples are never augmented.
    """

    source: str = "digits"
    name: str | None = None
    root: str | None = None
    split: str = "train"
    test_split: str = "test"
    val_fraction: float = 0.1
    val_seed: int = 0
    classnames: str | list[str] | None = None
    templates: str | list[str] | None = None
    sentences_file: str | None = None
    per_class: int | None = None
    workers: int = 0
    unlabelled: list[str] | None = None
    unlabelled_repeat: int = 1
    augment: EventAugmentConfig | None = None

    def __post_init__(self):
        _choice("data", "source", self.source, DATA_SOURCES)
        if self.unlabelled is not None and (isinstance(self.unlabelled, str) or not all(
                isinstance(folder, str) for folder in self.unlabelled)):
            raise ConfigError(f"data.unlabelled must be a list of folders of recordings, got {self.unlabelled!r}")
        _positive_int("data", "unlabelled_repeat", self.unlabelled_repeat)
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.per_class is not None:
            _positive_int("data", "per_class", self.per_class)
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"data.workers must be an integer >= 0, got {self.workers!r}")
        if self.source in ("torchvision", "image-folder", "nmnist", "event-folder") and not self.root:
            raise ConfigError(f"data.root is required for data.source {self.source!r}")
        if self.source == "torchvision" and not self.name:
            raise ConfigError("data.name must name a torchvision dataset class (CIFAR10, STL10, ...) for "
                              "data.source 'torchvision'")


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """One training stage: which, on what, how, from which checkpoint, into which folder.

    ``init``: a SpikeCLIP checkpoint to start from (the previous stage's ``best.pt``). ``select``: the validation
    metric that picks ``best.pt`` (``train_loss`` reproduces stage A's released selection on the training loss).
    ``early_stop_patience``: stop after this many epochs without improvement (stage A: 20). ``checkpoint_every``:
    also write the resumable ``last.pt`` every this many steps (0: at epoch ends only). ``max_steps`` ends training
    after that many optimisation steps in all; ``stop_after_steps`` stops this run after that many steps of this
    run, leaving a checkpoint to ``--resume`` from (time-limited jobs). ``amp``: fp16 autocast with gradient
    scaling on CUDA (the released scripts); ignored on CPU. ``cache_teacher``: compute the frozen teacher's targets
    once before training instead of every epoch (same values: no augmentation is applied). ``teacher_cache``: a
    folder where those targets are stored and read back, one file per data source and split part, named by a digest
    of everything they depend on (the samples' keys, the teacher and its precision, its event frames and
    preprocessing), so that stages and runs on the same data compute them once. ``keep_inputs``: keep each
    training sample's student input in memory after its first read (with ``cache_teacher``; inputs get no
    augmentation, so the values are the same; it pays with ``data.workers`` 0, whose reads stay in this process).
    Both are run settings: they change no weight.
    """

    stage: str = "align-image"
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    init: str | None = None
    out: str = "spikeclip-run"
    seed: int = 42
    device: str | None = None
    amp: bool = True
    select: str = "val_top1"
    early_stop_patience: int | None = None
    checkpoint_every: int = 0
    max_steps: int | None = None
    stop_after_steps: int | None = None
    eval_batch_size: int = 256
    cache_teacher: bool = True
    teacher_cache: str | None = None
    keep_inputs: bool = False
    sync_batchnorm: bool = True
    progress: bool = True

    def __post_init__(self):
        _choice("stage", "stage", self.stage, STAGES)
        _choice("stage", "select", self.select, SELECTION_METRICS)
        for name in ("early_stop_patience", "max_steps", "stop_after_steps"):
            if getattr(self, name) is not None:
                _positive_int("stage", name, getattr(self, name))
        _positive_int("stage", "eval_batch_size", self.eval_batch_size)
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}")

    def check(self) -> StageConfig:
        """Cross-field checks, run once the whole config is assembled (a preset's defaults may not fit a half-built
        config)."""
        if self.stage == "align-text" and self.data.source != "sentences":
            raise ConfigError("stage align-text trains on sentences: set data.source to 'sentences'")
        if self.stage != "align-text" and self.data.source == "sentences":
            raise ConfigError(f"stage {self.stage} needs images or recordings, not data.source 'sentences'")
        if self.data.unlabelled and self.stage != "align-image":
            raise ConfigError(f"data.unlabelled is for stage align-image only (stage {self.stage} needs labels); "
                              "remove it from this stage's data")
        if self.data.augment is not None and self.data.augment.active:
            if self.model.modality != "events":
                raise ConfigError("data.augment changes event recordings: use it with an events preset "
                                  "(model.modality 'events')")
            if self.stage not in ("align-image", "finetune"):
                raise ConfigError(f"data.augment is for stages align-image and finetune, not {self.stage}")
        if self.loss.align_kl_weight and self.stage != "align-image":
            raise ConfigError(f"loss.align_kl_weight is for stage align-image only, not {self.stage}; "
                              "stage finetune has loss.kl_weight")
        if self.data.unlabelled and self.model.modality != "events":
            raise ConfigError("data.unlabelled holds event recordings: use it with an events preset "
                              "(model.modality 'events')")
        event_source = self.data.source in ("nmnist", "event-folder")
        if self.data.source != "sentences" and event_source != (self.model.modality == "events"):
            raise ConfigError(f"data.source {self.data.source!r} does not fit model.modality "
                              f"{self.model.modality!r} (event sources need an events preset, e.g. paper-events)")
        return self

    def recipe(self) -> dict:
        """The config as a dict without its run settings (:data:`RUN_SETTINGS`): what the trained weights depend
        on, and what a resumed run must share with the interrupted one."""
        return {key: value for key, value in to_dict(self).items() if key not in RUN_SETTINGS}


# How a run is executed, not what it trains: where it writes, on which device, what it shows, when it pauses and
# checkpoints, the evaluation batch size. A run may be resumed with other values of these.
RUN_SETTINGS = frozenset({"out", "device", "progress", "stop_after_steps", "max_steps", "checkpoint_every",
                          "eval_batch_size", "teacher_cache", "keep_inputs"})


# The released scripts' per-stage settings (SpikeCLIP: language/alignment_text.sh, bash/alignment.sh,
# bash/*.sh task_ft, bash/dual_ft.sh).
STAGE_PRESETS = {
    "paper": {
        "align-text": {"optim": {"lr": 5e-3, "eta_min": 5e-4, "epochs": 2000, "batch_size": 1024,
                                 "drop_last": True},
                       "select": "train_loss", "early_stop_patience": 20,
                       "data": {"source": "sentences", "val_fraction": 0.0}},
        "align-image": {"optim": {"lr": 5e-3, "eta_min": 5e-4, "epochs": 50, "batch_size": 196},
                        "select": "val_top1"},
        "finetune-teacher": {"optim": {"lr": 5e-6, "eta_min": 1e-8, "epochs": 20, "batch_size": 32},
                             "select": "val_top1"},
        "finetune": {"optim": {"lr": 5e-4, "eta_min": 1e-5, "epochs": 200, "batch_size": 196},
                     "loss": {"kl_reduction": "sum", "kl_weight": 1.0, "temperature": 1.0},
                     "select": "val_top1"},
    },
}
# Stage C learning rates per dataset (SpikeCLIP: bash/*.sh of vision/task_ft_CLIP): (lr, eta_min)
TEACHER_FINETUNE_LR = {
    "cifar10": (5e-6, 1e-8), "cifar100": (1e-5, 5e-6), "caltech101": (5e-5, 1e-5), "flowers102": (5e-5, 1e-6),
    "oxfordiiitpet": (5e-6, 1e-6), "stl10": (1e-6, 1e-8),
}


def legacy_model_dict(values: dict) -> dict:
    """A stored model-config dict (a checkpoint's or training state's) with the fields it predates filled in with
    the values it was built with (:data:`LEGACY_MODEL_FIELDS`), so that reading it back describes the model truly
    rather than with today's defaults. Dicts that have the fields are returned unchanged."""
    values = dict(values)
    for (section, name), value in LEGACY_MODEL_FIELDS.items():
        part = values.get(section)
        if isinstance(part, dict) and name not in part:
            values[section] = {**part, name: value}
    return values


def model_config(preset: str | ModelConfig = "paper", overrides: dict | None = None) -> ModelConfig:
    """A model preset (``paper``, ``paper-events``, ``tiny``, ``tiny-events``, ``neuroclip-mini-spiking``) with
    fields overridden."""
    if isinstance(preset, ModelConfig):
        base = preset
    elif preset in MODEL_PRESETS:
        base = MODEL_PRESETS[preset]
    else:
        raise ConfigError(f"unknown SpikeCLIP preset {preset!r}; known: {', '.join(MODEL_PRESETS)}")
    overrides = dict(overrides or {})
    overrides.pop("preset", None)
    return from_dict(ModelConfig, overrides, base, "model")


def stage_config(values: dict) -> StageConfig:
    """A stage config from a dict: ``stage`` and ``preset`` (model preset, default ``paper``; the stage's released
    settings apply), then any field of :class:`StageConfig` overridden."""
    values = dict(values)
    stage = values.get("stage")
    if stage not in STAGES:
        raise ConfigError(f"a stage config needs 'stage', one of {', '.join(STAGES)}; got {stage!r}")
    preset = values.pop("preset", "paper")
    model_values = values.pop("model", None) or {}
    if isinstance(model_values, str):
        model_values = {"preset": model_values}
    model = model_config(model_values.get("preset", preset), model_values)
    base = StageConfig(stage=stage, model=model, data=DataConfig(source="sentences" if stage == "align-text"
                                                                 else "digits"))
    base = from_dict(StageConfig, STAGE_PRESETS["paper"][stage], base, "preset")
    config = from_dict(StageConfig, values, base, "config")
    dataset = (config.data.name or config.data.source or "").lower()
    if stage == "finetune-teacher" and dataset in TEACHER_FINETUNE_LR and "lr" not in (values.get("optim") or {}):
        lr, eta_min = TEACHER_FINETUNE_LR[dataset]
        config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, lr=lr, eta_min=eta_min))
    return config.check()


def load_stage_config(path_or_values, overrides: dict | None = None) -> StageConfig:
    """A stage config from a file or dict, with dotted-key overrides (``{"optim.lr": 1e-3}``) applied on top."""
    values = load_config_file(path_or_values) if isinstance(path_or_values, (str, Path)) else dict(path_or_values)
    return stage_config(set_dotted(values, overrides or {}))
