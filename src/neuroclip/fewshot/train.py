"""Training the few-shot heads on cached features: NeuroCLIP's recipe, and the loop the other trainable heads share.

NeuroCLIP's recipe (configs/trainers/NeuroCLIP_FS/*.yaml, scripts/fews.sh and the Dassl defaults it runs with):

* loss: cross-entropy with label smoothing 0.2, target 0.8 on the true class and 0.2/(K-1) on each other class
  (``smooth_loss``, inherited from PointCLIP; not torch's ``label_smoothing``, which gives eps/K to every class);
* SGD, lr 0.01, momentum 0.9, weight decay 5e-4, no Nesterov; batch 32, reshuffled every epoch, the last partial
  batch dropped when there are at least 32 samples;
* 250 epochs (150 for RN50), the first a constant warm-up at lr 1e-5; then a cosine from 0.01 whose count restarts
  after the warm-up (WARMUP_RECOUNT): epoch e >= 1 runs at 0.005 (1 + cos(pi (e - 1) / epochs)), stepped per epoch.

Features stay in memory on the device and batches are index slices, so there is no DataLoader in the loop: 250
epochs of 16 shots x 10 classes take seconds on a CPU (benchmarks/fewshot.py).

Which epoch is kept is the caller's choice: the last one, or the best on a selection set (a validation split; the
protocol module labels a test-set selection as such).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from neuroclip.devices import resolve_device
from neuroclip.errors import ConfigError
from neuroclip.fewshot.adapter import AdapterConfig, NeuroCLIPAdapterClassifier


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimiser, schedule and batching. Defaults: NeuroCLIP's few-shot recipe (Dassl's SGD and warm-up)."""

    epochs: int = 250
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    label_smoothing: float = 0.2
    drop_last: bool | None = None  # None: Dassl's rule, drop the last partial batch when n >= batch_size

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.warmup_epochs, int) or not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"warmup_epochs must be an integer in [0, epochs), got {self.warmup_epochs!r}")
        for name in ("lr", "warmup_lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (0-based): warm-up, then the cosine restarted after it (Dassl's
        ConstantWarmupScheduler over CosineAnnealingLR(T_max=epochs), WARMUP_RECOUNT=True)."""
        if epoch < self.warmup_epochs:
            return self.warmup_lr
        return 0.5 * self.lr * (1 + math.cos(math.pi * (epoch - self.warmup_epochs) / self.epochs))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """NeuroCLIP's few-shot recipe: the adapter's architecture and its optimisation."""

    adapter: AdapterConfig = AdapterConfig()
    optim: OptimConfig = OptimConfig()

    def replace(self, **fields) -> TrainConfig:
        """A copy with fields of either part replaced by name: ``config.replace(epochs=50, bottleneck='relu')``."""
        adapter_names = {f.name for f in dataclasses.fields(AdapterConfig)}
        optim_names = {f.name for f in dataclasses.fields(OptimConfig)}
        unknown = set(fields) - adapter_names - optim_names
        if unknown:
            raise ConfigError(f"unknown training field(s) {sorted(unknown)}; known: "
                              f"{sorted(adapter_names | optim_names)}")
        adapter = dataclasses.replace(self.adapter, **{k: v for k, v in fields.items() if k in adapter_names})
        optim = dataclasses.replace(self.optim, **{k: v for k, v in fields.items() if k in optim_names})
        return TrainConfig(adapter, optim)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return cls(AdapterConfig(**data.get("adapter", {})), OptimConfig(**data.get("optim", {})))


# NeuroCLIP configs/trainers/NeuroCLIP_FS/{rn50,rn101,vit_b32,vit_b16}.yaml: MAX_EPOCH 150 for RN50, 250 otherwise
TRAIN_PRESETS = {
    "neuroclip": TrainConfig(),
    "neuroclip-rn50": TrainConfig(optim=OptimConfig(epochs=150)),
    "neuroclip-relu": TrainConfig(adapter=AdapterConfig(bottleneck="relu")),
}
RN50_NAMES = ("RN50", "RN50-quickgelu")


def neuroclip_epochs(model_name: str | None) -> int:
    """NeuroCLIP's epoch count for a backbone: 150 for RN50, 250 for the others."""
    return 150 if model_name in RN50_NAMES else 250


def recipe(preset: str = "neuroclip", model_name: str | None = None, **overrides) -> TrainConfig:
    """A named preset, with NeuroCLIP's per-backbone epochs for ``model_name`` and any field overrides."""
    if preset not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset {preset!r}; choose one of {', '.join(TRAIN_PRESETS)}")
    config = TRAIN_PRESETS[preset]
    if model_name is not None and "epochs" not in overrides and preset != "neuroclip-rn50":
        config = config.replace(epochs=neuroclip_epochs(model_name))
    return config.replace(**overrides) if overrides else config


# --------------------------------------------------------------------------------------------------- loss


def smoothed_targets(labels: torch.Tensor, n_classes: int, smoothing: float) -> torch.Tensor:
    """Soft targets [N, K]: 1 - smoothing on the true class, smoothing / (K - 1) on each other class."""
    if n_classes < 2:
        raise ConfigError("classification needs at least 2 classes")
    targets = torch.full((labels.shape[0], n_classes), smoothing / (n_classes - 1), device=labels.device)
    return targets.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing)


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.2) -> torch.Tensor:
    """NeuroCLIP's (PointCLIP's) ``smooth_loss``: mean over samples of -sum_k target_k log softmax(logits)_k."""
    targets = smoothed_targets(labels, logits.shape[1], smoothing).to(logits.dtype)
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


# --------------------------------------------------------------------------------------------------- loop


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Run with torch's global generators seeded, restoring them afterwards (initialisation and dropout)."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def cpu_thread_limit(threads: int | None):
    """Run with torch's intra-op CPU threads set to ``threads`` (None: unchanged), restored afterwards."""
    if threads is None:
        yield
        return
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"cpu_threads must be a positive integer, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def as_tensor(values, device, dtype=torch.float32) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(values))
    return tensor.to(device=device, dtype=dtype)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, features: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Logits of ``model`` in evaluation mode, batch by batch; the model's mode is restored."""
    was_training = model.training
    model.eval()
    outputs = [model(features[start:start + batch_size]) for start in range(0, features.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(outputs)


def top1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=-1) == labels.to(logits.device)).float().mean())


@dataclasses.dataclass
class FitResult:
    """What a training run kept: the selected epoch (1-based; the last one without a selection set), the number
    of epochs run, per-epoch history (lr, mean loss, selection accuracy) and the wall time."""

    selected_epoch: int
    epochs: int
    history: list[dict]
    seconds: float


def fit(model: torch.nn.Module, features: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch_size: int,
        drop_last: bool | None, make_optimizer: Callable, lr_at: Callable[[int, int, int], float],
        loss_fn: Callable, generator: torch.Generator, views: torch.Tensor | None = None,
        select: Callable[[torch.nn.Module], float] | None = None, progress: bool = False) -> FitResult:
    """Train ``model`` in place on in-memory ``features`` [N, ...] and ``labels`` [N].

    Each epoch reshuffles with ``generator`` and steps through index slices of the tensors. ``lr_at(epoch, step,
    steps_per_epoch)`` sets the learning rate before every step. With ``views`` [N, V, ...] (augmented copies of
    the features), each epoch uses one view per sample, drawn at random. With ``select`` (model -> score, called
    in eval mode after every epoch), the weights of the best-scoring epoch (the first, on ties) are restored at
    the end; otherwise the last epoch's are kept.
    """
    started = time.perf_counter()
    n = features.shape[0]
    if n < 2:
        raise ConfigError("training needs at least 2 samples")
    drop = n >= batch_size if drop_last is None else drop_last
    steps = n // batch_size if drop else math.ceil(n / batch_size)
    if steps == 0:
        raise ConfigError(f"no complete batch of {batch_size} in {n} samples with drop_last")
    if not drop and n % batch_size == 1:  # a final batch of one sample breaks batch normalisation
        steps -= 1
    optimizer = make_optimizer(model.parameters())
    history, best_score, best_state, best_epoch = [], -math.inf, None, epochs
    iterator = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="epochs", leave=False)
    model.train()
    for epoch in iterator:
        order = torch.randperm(n, generator=generator).to(features.device)
        inputs = features
        if views is not None:
            choice = torch.randint(views.shape[1], (n,), generator=generator).to(features.device)
            inputs = views[torch.arange(n, device=features.device), choice]
        total = torch.zeros((), device=features.device)
        for step in range(steps):
            lr = lr_at(epoch, step, steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = order[step * batch_size:(step + 1) * batch_size]
            loss = loss_fn(model(inputs[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        record = {"epoch": epoch + 1, "lr": lr_at(epoch, 0, steps), "loss": float(total) / steps}
        if select is not None:
            model.eval()
            score = float(select(model))
            model.train()
            record["selection_top1"] = score
            if score > best_score:
                best_score, best_epoch = score, epoch + 1
                best_state = copy.deepcopy(model.state_dict())
        history.append(record)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, epochs, history, time.perf_counter() - started)


def sgd_with_warmup(optim: OptimConfig):
    """(make_optimizer, lr_at) of the Dassl-style recipe: SGD, constant warm-up, per-epoch cosine."""

    def make_optimizer(parameters):
        return torch.optim.SGD(parameters, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)

    return make_optimizer, lambda epoch, step, steps: optim.lr_at(epoch)


# --------------------------------------------------------------------------------------------------- NeuroCLIP


@dataclasses.dataclass
class TrainedAdapter:
    """A trained NeuroCLIP adapter (in eval mode) and how it was obtained."""

    model: NeuroCLIPAdapterClassifier
    config: TrainConfig
    seed: int
    fit: FitResult


def train_adapter(train_features, train_labels, class_weights, logit_scale: float = 100.0,
                  config: TrainConfig = TrainConfig(), seed: int = 0, *, views=None, selection_features=None,
                  selection_labels=None, device=None, progress: bool = False) -> TrainedAdapter:
    """Train NeuroCLIP's inter-timestep adapter on raw frame features [N, T, C] with labels [N].

    ``class_weights`` [K, C] are the normalised text features; ``views`` [N, V, T, C] optional augmented features
    (see :mod:`neuroclip.fewshot.augment`). With ``selection_features``/``selection_labels`` the best epoch on them
    is kept, otherwise the last. Deterministic for a given seed and device.
    """
    device = resolve_device(device)
    features = as_tensor(train_features, device)
    labels = as_tensor(train_labels, device, torch.long)
    weights = as_tensor(class_weights, device)
    _check_features(features, labels, weights)
    view_tensor = None
    if views is not None:
        view_tensor = as_tensor(views, device)
        if view_tensor.ndim != 4 or view_tensor.shape[0] != features.shape[0] or \
                view_tensor.shape[2:] != features.shape[1:]:
            raise ConfigError(f"views must be [N, V, T, C] = [{features.shape[0]}, V, {features.shape[1]}, "
                              f"{features.shape[2]}]; got {tuple(view_tensor.shape)}")
    select = None
    if selection_features is not None:
        chosen = as_tensor(selection_features, device)
        chosen_labels = as_tensor(selection_labels, device, torch.long)

        def select(model):
            return top1(predict_logits(model, chosen), chosen_labels)

    optim = config.optim
    make_optimizer, lr_at = sgd_with_warmup(optim)
    smoothing = optim.label_smoothing
    with seeded(seed, device):
        model = NeuroCLIPAdapterClassifier(weights, config.adapter, logit_scale).to(device)
        generator = torch.Generator().manual_seed(int(seed))
        result = fit(model, features, labels, epochs=optim.epochs, batch_size=optim.batch_size,
                     drop_last=optim.drop_last, make_optimizer=make_optimizer, lr_at=lr_at,
                     loss_fn=lambda logits, y: smoothed_cross_entropy(logits, y, smoothing), generator=generator,
                     views=view_tensor, select=select, progress=progress)
    return TrainedAdapter(model, config, int(seed), result)


def _check_features(features: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> None:
    if features.ndim != 3:
        raise ConfigError(f"frame features must be [N, T, C]; got {tuple(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ConfigError(f"need one label per sample: {features.shape[0]} samples, labels {tuple(labels.shape)}")
    if weights.ndim != 2 or weights.shape[1] != features.shape[2]:
        raise ConfigError(f"class weights [K, C] must have C = {features.shape[2]} (the feature width); got "
                          f"{tuple(weights.shape)}: were they made with another backbone?")
    if labels.numel() and (labels.min() < 0 or labels.max() >= weights.shape[0]):
        raise ConfigError(f"labels must be in [0, {weights.shape[0]}) for {weights.shape[0]} classes")
