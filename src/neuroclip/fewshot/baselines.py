"""Few-shot baselines on the same cached per-frame CLIP features as the NeuroCLIP adapter.

A recording's features are T raw per-frame CLIP features [T, C]. The image methods below are ported to it as:

* **zero-shot** — NeuroCLIP's: logit scale x mean over frames of cos(f_t, w_k).
* **linear probe** — multinomial logistic regression on the pooled feature norm(mean_t norm(f_t)) (Radford et al.
  2021 probe on the recording's mean direction), L2 weight penalty chosen on a selection set.
* **Tip-Adapter** (Zhang et al. 2022, training-free) — a cache whose keys are the shots' pooled features and values
  their one-hot labels: logits = 100 f W^T + alpha exp(-beta (1 - f K^T)) L, with f the pooled feature.
  alpha and beta are searched on a selection set over Tip-Adapter's grid, or fixed (1, 1: its init values).
* **Tip-Adapter-F** — the same with the keys fine-tuned (AdamW lr 1e-3, eps 1e-4, 20 epochs, batch 256, cosine per
  step, plain cross-entropy: Tip-Adapter's main.py and configs), then alpha and beta searched again.
* **CLIP-Adapter** (Gao et al. 2021) — per frame, x_t = 0.2 A(f_t) + 0.8 f_t with A = Linear(C, C/4) -> ReLU ->
  Linear(C/4, C) -> ReLU, no biases (clip_adapter.py), then NeuroCLIP's frame fusion of cos(x_t, w_k). Trained
  with CoOp's Dassl recipe that the CLIP-Adapter code runs under (SGD lr 2e-3, 200 epochs, batch 32, 1 warm-up
  epoch at 1e-5, cosine), plain cross-entropy.

Each ``fit_*`` takes the shots (and an optional selection set) and returns a head with ``logits(frame_features)``.
``selection`` is a held-out set ``(features, labels)``, None (defaults, last epoch), or :data:`WITHIN_SHOTS`:
hyper-parameters chosen by cross-validation within the shots themselves (the default protocol ``shots``, which uses
no labelled recording beyond them): Tip-Adapter's alpha and beta by leave-one-shot-out over its cache, the linear
probe's penalty by K-fold cross-validation (at most 4 folds; fold j holds out shots j, j + 4, ... of every class).
With one shot per class there is nothing to hold out, so the defaults are used; trained heads keep their last
epoch.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from neuroclip.clip.zeroshot import fuse_logits
from neuroclip.devices import resolve_device
from neuroclip.fewshot.train import (
    FitResult,
    OptimConfig,
    as_tensor,
    fit,
    predict_logits,
    seeded,
    sgd_with_warmup,
    smoothed_cross_entropy,
    top1,
)

WITHIN_SHOTS = "shots"


def shots_per_class(labels: torch.Tensor) -> int:
    """The smallest number of shots of any class present in ``labels`` (what cross-validation can hold out)."""
    counts = torch.bincount(labels.long())
    return int(counts[counts > 0].min())


MAX_FOLDS = 4  # K-fold cross-validation within the shots uses min(K, 4) folds: 4 L-BFGS fits per penalty, so
# 16 shots take 4 s per linear probe, not 26 s with 16 folds (2-core CPU), at one shot per class held out or more


def shot_folds(labels: torch.Tensor, max_folds: int = MAX_FOLDS) -> list[torch.Tensor]:
    """Masks [N] of the min(K, max_folds) folds of K-shot labels: fold j holds out the shots of every class whose
    rank (their order among that class's shots) is j modulo the number of folds."""
    labels = labels.long().cpu()
    rank = torch.zeros_like(labels)
    for label in labels.unique():
        members = torch.nonzero(labels == label).flatten()
        rank[members] = torch.arange(members.numel())
    n_folds = min(shots_per_class(labels), max_folds)
    return [rank % n_folds == j for j in range(n_folds)]


def pooled_features(frame_features: torch.Tensor) -> torch.Tensor:
    """A recording's direction: norm(mean_t norm(f_t)), [N, C] from [N, T, C]."""
    return F.normalize(F.normalize(frame_features.float(), dim=-1).mean(dim=1), dim=-1)


def zero_shot_logits(frame_features: torch.Tensor, class_weights: torch.Tensor,
                     logit_scale: float = 100.0) -> torch.Tensor:
    """NeuroCLIP zero-shot logits [N, K]: logit_scale x mean_t cos(f_t, w_k)."""
    return fuse_logits(frame_features, class_weights, "mean_cosine", logit_scale)


class ZeroShot:
    """Zero-shot CLIP as a head (no training)."""

    def __init__(self, class_weights: torch.Tensor, logit_scale: float = 100.0):
        self.class_weights, self.logit_scale = class_weights, logit_scale
        self.hyperparameters: dict = {}

    def logits(self, frame_features: torch.Tensor) -> torch.Tensor:
        return zero_shot_logits(frame_features, self.class_weights.to(frame_features.device), self.logit_scale)


# --------------------------------------------------------------------------------------------------- linear probe


@dataclasses.dataclass(frozen=True)
class LinearProbeConfig:
    """L2 penalties searched on the selection set (weight decay on the mean loss; sklearn's C is 1/(decay * N)),
    the penalty used when there is no selection set, and the L-BFGS iteration cap."""

    weight_decays: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    default_weight_decay: float = 1e-4
    max_iter: int = 500


class LinearProbe:
    """Logistic regression on pooled features: logits = f W^T + b."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, weight_decay: float):
        self.weight, self.bias = weight, bias
        self.hyperparameters = {"weight_decay": weight_decay}

    def logits(self, frame_features: torch.Tensor) -> torch.Tensor:
        return pooled_features(frame_features) @ self.weight.T.to(frame_features.device) + \
            self.bias.to(frame_features.device)


def _logistic_regression(x: torch.Tensor, y: torch.Tensor, n_classes: int, weight_decay: float,
                         max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise mean CE + weight_decay/2 ||W||^2 (bias unpenalised) with L-BFGS from zero; float64 for a clean
    optimum. Convex, so the result does not depend on a seed."""
    x64 = x.double()
    weight = torch.zeros(n_classes, x.shape[1], dtype=torch.float64, device=x.device, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, device=x.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x64 @ weight.T + bias, y) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach().float(), bias.detach().float()


def fit_linear_probe(train_features, train_labels, n_classes: int, selection=None,
                     config: LinearProbeConfig = LinearProbeConfig(), device=None) -> LinearProbe:
    """Fit the probe; with ``selection`` = (features, labels) the penalty is the best of ``config.weight_decays``
    on it (the largest, on ties: the simplest model); with :data:`WITHIN_SHOTS` the best by K-fold
    cross-validation within the shots (K >= 2); else ``config.default_weight_decay``."""
    device = resolve_device(device)
    x = pooled_features(as_tensor(train_features, device))
    y = as_tensor(train_labels, device, torch.long)
    if isinstance(selection, str):
        return _linear_probe_cross_validated(x, y, n_classes, config)
    if selection is None:
        weight, bias = _logistic_regression(x, y, n_classes, config.default_weight_decay, config.max_iter)
        return LinearProbe(weight, bias, config.default_weight_decay)
    sel_x = as_tensor(selection[0], device)
    sel_y = as_tensor(selection[1], device, torch.long)
    best = None
    for decay in sorted(config.weight_decays, reverse=True):
        probe = LinearProbe(*_logistic_regression(x, y, n_classes, decay, config.max_iter), decay)
        score = top1(probe.logits(sel_x), sel_y)
        if best is None or score > best[0]:
            best = (score, probe)
    best[1].hyperparameters["selection_top1"] = best[0]
    return best[1]


def _linear_probe_cross_validated(x: torch.Tensor, y: torch.Tensor, n_classes: int,
                                  config: LinearProbeConfig) -> LinearProbe:
    """The penalty of ``config.weight_decays`` with the most correct held-out shots over the K folds (the largest
    on ties), refitted on all shots; the default penalty with one shot per class."""
    folds = shot_folds(y)
    if len(folds) < 2:
        probe = LinearProbe(*_logistic_regression(x, y, n_classes, config.default_weight_decay, config.max_iter),
                            config.default_weight_decay)
        probe.hyperparameters["selection"] = "default (one shot per class)"
        return probe
    best = None
    for decay in sorted(config.weight_decays, reverse=True):
        correct = 0
        for held in folds:
            held = held.to(x.device)
            weight, bias = _logistic_regression(x[~held], y[~held], n_classes, decay, config.max_iter)
            correct += int(((x[held] @ weight.T + bias).argmax(1) == y[held]).sum())
        if best is None or correct > best[0]:
            best = (correct, decay)
    probe = LinearProbe(*_logistic_regression(x, y, n_classes, best[1], config.max_iter), best[1])
    probe.hyperparameters["selection_top1"] = best[0] / y.numel()
    return probe


# --------------------------------------------------------------------------------------------------- Tip-Adapter


@dataclasses.dataclass(frozen=True)
class TipAdapterConfig:
    """Tip-Adapter's hyper-parameters (gaopengcuhk/Tip-Adapter main.py, utils.py, configs/*.yaml).

    ``alpha``/``beta`` are used without a selection set (its init values; its configs set init_alpha per dataset,
    1 to 3). The search grids are its ``search_hp``: ``steps`` values from 0.1 to ``scale`` (exclusive), here with
    the widest scale its configs use (13, 13). The fine-tuning (Tip-Adapter-F) fields follow its configs.
    """

    alpha: float = 1.0
    beta: float = 1.0
    beta_scale: float = 13.0
    beta_steps: int = 200
    alpha_scale: float = 13.0
    alpha_steps: int = 20
    finetune_lr: float = 1e-3
    finetune_eps: float = 1e-4
    finetune_epochs: int = 20
    finetune_batch_size: int = 256

    def grid(self) -> tuple[list[float], list[float]]:
        betas = [i * (self.beta_scale - 0.1) / self.beta_steps + 0.1 for i in range(self.beta_steps)]
        alphas = [i * (self.alpha_scale - 0.1) / self.alpha_steps + 0.1 for i in range(self.alpha_steps)]
        return betas, alphas


class TipAdapter(nn.Module):
    """The cache model: keys [NK, C] (trainable in Tip-Adapter-F), one-hot values [NK, K]."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, class_weights: torch.Tensor,
                 logit_scale: float = 100.0, alpha: float = 1.0, beta: float = 1.0):
        super().__init__()
        self.keys = nn.Parameter(keys.detach().clone().float())
        self.register_buffer("values", values.float())
        self.register_buffer("class_weights", class_weights.float())
        self.logit_scale, self.alpha, self.beta = float(logit_scale), float(alpha), float(beta)
        self.hyperparameters: dict = {}

    def parts(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(zero-shot logits, affinity f K^T) of pooled features."""
        return self.logit_scale * pooled @ self.class_weights.T, pooled @ self.keys.T

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        clip_logits, affinity = self.parts(pooled)
        return clip_logits + self.alpha * torch.exp(-self.beta * (1 - affinity)) @ self.values

    @torch.no_grad()
    def logits(self, frame_features: torch.Tensor) -> torch.Tensor:
        return self(pooled_features(frame_features.to(self.keys.device)))

    @torch.no_grad()
    def search(self, pooled: torch.Tensor, labels: torch.Tensor, config: TipAdapterConfig) -> float:
        """Set alpha and beta to the best pair of the grid on (pooled, labels); the first best, as Tip-Adapter's
        search keeps it. Returns that accuracy."""
        betas, alphas = config.grid()
        clip_logits, affinity = self.parts(pooled)
        alpha_tensor = torch.tensor(alphas, device=pooled.device).view(-1, 1, 1)
        best = (-1.0, self.beta, self.alpha)
        for beta in betas:
            cache = torch.exp(-beta * (1 - affinity)) @ self.values
            predictions = (clip_logits + alpha_tensor * cache).argmax(dim=-1)  # [n_alpha, N]
            scores = (predictions == labels).float().mean(dim=1)
            index = int(scores.argmax())
            if float(scores[index]) > best[0]:
                best = (float(scores[index]), beta, alphas[index])
        self.beta, self.alpha = best[1], best[2]
        return best[0]

    @torch.no_grad()
    def search_leave_one_out(self, pooled: torch.Tensor, labels: torch.Tensor, config: TipAdapterConfig) -> float:
        """Set alpha and beta to the best pair of the grid scored by leave-one-shot-out on the cache's own shots
        (``pooled`` [N, C] are the shots, in key order): shot i is classified by the zero-shot logits and the cache
        without key i. Uses no labelled recording beyond the shots. Returns that accuracy."""
        betas, alphas = config.grid()
        clip_logits, affinity = self.parts(pooled)
        own = torch.eye(pooled.shape[0], dtype=torch.bool, device=pooled.device)
        alpha_tensor = torch.tensor(alphas, device=pooled.device).view(-1, 1, 1)
        best = (-1.0, self.beta, self.alpha)
        for beta in betas:
            cache = torch.exp(-beta * (1 - affinity)).masked_fill(own, 0.0) @ self.values
            scores = ((clip_logits + alpha_tensor * cache).argmax(dim=-1) == labels).float().mean(dim=1)
            index = int(scores.argmax())
            if float(scores[index]) > best[0]:
                best = (float(scores[index]), beta, alphas[index])
        self.beta, self.alpha = best[1], best[2]
        return best[0]


def _cache(train_features: torch.Tensor, train_labels: torch.Tensor, n_classes: int, views=None):
    """Tip-Adapter's cache: keys are the pooled shots (the mean over augmented views, as its augment_epoch
    averaging does, when ``views`` [N, V, T, C] are given), values one-hot labels."""
    if views is not None:
        keys = F.normalize(torch.stack([pooled_features(views[:, v]) for v in range(views.shape[1])]).mean(0),
                           dim=-1)
    else:
        keys = pooled_features(train_features)
    return keys, F.one_hot(train_labels.long(), n_classes).float()


def fit_tip_adapter(train_features, train_labels, class_weights, logit_scale: float = 100.0, selection=None,
                    config: TipAdapterConfig = TipAdapterConfig(), views=None, device=None) -> TipAdapter:
    """Training-free Tip-Adapter; alpha and beta searched on ``selection`` = (features, labels) if given."""
    device = resolve_device(device)
    features, labels = as_tensor(train_features, device), as_tensor(train_labels, device, torch.long)
    weights = as_tensor(class_weights, device)
    keys, values = _cache(features, labels, weights.shape[0], None if views is None else as_tensor(views, device))
    model = TipAdapter(keys, values, weights, logit_scale, config.alpha, config.beta).to(device)
    if isinstance(selection, str):
        if shots_per_class(labels) >= 2:
            model.hyperparameters["selection_top1"] = model.search_leave_one_out(pooled_features(features), labels,
                                                                                 config)
    elif selection is not None:
        score = model.search(pooled_features(as_tensor(selection[0], device)),
                             as_tensor(selection[1], device, torch.long), config)
        model.hyperparameters["selection_top1"] = score
    model.hyperparameters.update(alpha=model.alpha, beta=model.beta)
    return model


def fit_tip_adapter_f(train_features, train_labels, class_weights, logit_scale: float = 100.0, selection=None,
                      config: TipAdapterConfig = TipAdapterConfig(), seed: int = 0, views=None,
                      device=None) -> TipAdapter:
    """Tip-Adapter-F: fine-tune the cache keys from the training-free cache (at the initial alpha, beta), keep the
    best epoch on ``selection`` (else the last), then search alpha and beta on ``selection``."""
    device = resolve_device(device)
    features, labels = as_tensor(train_features, device), as_tensor(train_labels, device, torch.long)
    weights = as_tensor(class_weights, device)
    view_tensor = None if views is None else as_tensor(views, device)
    keys, values = _cache(features, labels, weights.shape[0], view_tensor)
    pooled = pooled_features(features)
    pooled_views = None
    if view_tensor is not None:
        pooled_views = torch.stack([pooled_features(view_tensor[:, v]) for v in range(view_tensor.shape[1])], 1)
    select, alpha, beta = None, config.alpha, config.beta
    if isinstance(selection, str):  # within the shots: alpha, beta by leave-one-out on the training-free cache,
        # then the keys fine-tuned with them for the recipe's epochs (a fine-tuned cache has seen every shot)
        if shots_per_class(labels) >= 2:
            free = TipAdapter(keys, values, weights, logit_scale, alpha, beta).to(device)
            free.search_leave_one_out(pooled, labels, config)
            alpha, beta = free.alpha, free.beta
    elif selection is not None:
        sel_pooled = pooled_features(as_tensor(selection[0], device))
        sel_labels = as_tensor(selection[1], device, torch.long)

        def select(model):
            return top1(predict_logits(model, sel_pooled), sel_labels)

    steps_per_epoch = max(1, math.ceil(pooled.shape[0] / config.finetune_batch_size))
    total_steps = config.finetune_epochs * steps_per_epoch

    def make_optimizer(parameters):
        return torch.optim.AdamW(parameters, lr=config.finetune_lr, eps=config.finetune_eps)

    def lr_at(epoch, step, steps):  # CosineAnnealingLR(T_max = epochs x steps) stepped after every batch
        return 0.5 * config.finetune_lr * (1 + math.cos(math.pi * (epoch * steps + step) / total_steps))

    with seeded(seed, device):
        model = TipAdapter(keys, values, weights, logit_scale, alpha, beta).to(device)
        result = fit(model, pooled, labels, epochs=config.finetune_epochs, batch_size=config.finetune_batch_size,
                     drop_last=False, make_optimizer=make_optimizer, lr_at=lr_at, loss_fn=F.cross_entropy,
                     generator=torch.Generator().manual_seed(int(seed)), views=pooled_views, select=select)
    if selection is not None and not isinstance(selection, str):
        model.hyperparameters["selection_top1"] = model.search(sel_pooled, sel_labels, config)
    model.hyperparameters.update(alpha=model.alpha, beta=model.beta, selected_epoch=result.selected_epoch)
    model.fit_result = result
    return model


# --------------------------------------------------------------------------------------------------- CLIP-Adapter


@dataclasses.dataclass(frozen=True)
class ClipAdapterConfig:
    """CLIP-Adapter (clip_adapter.py: reduction 4, ratio 0.2, no biases) with CoOp's Dassl optimisation."""

    reduction: int = 4
    residual_ratio: float = 0.2
    optim: OptimConfig = OptimConfig(epochs=200, lr=2e-3, label_smoothing=0.0)


class ClipAdapterClassifier(nn.Module):
    """Per-frame CLIP-Adapter and NeuroCLIP's frame fusion: [B, T, C] raw features to logits [B, K]."""

    def __init__(self, class_weights: torch.Tensor, config: ClipAdapterConfig = ClipAdapterConfig(),
                 logit_scale: float = 100.0):
        super().__init__()
        width = class_weights.shape[1]
        hidden = max(1, width // config.reduction)
        self.adapter = nn.Sequential(nn.Linear(width, hidden, bias=False), nn.ReLU(),
                                     nn.Linear(hidden, width, bias=False), nn.ReLU())
        self.register_buffer("class_weights", class_weights.float())
        self.ratio, self.logit_scale = config.residual_ratio, float(logit_scale)
        self.hyperparameters: dict = {}

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        mixed = self.ratio * self.adapter(frame_features) + (1 - self.ratio) * frame_features
        return self.logit_scale * torch.einsum("btc,kc->bk", F.normalize(mixed, dim=-1),
                                               self.class_weights) / frame_features.shape[1]

    @torch.no_grad()
    def logits(self, frame_features: torch.Tensor) -> torch.Tensor:
        return predict_logits(self, frame_features.to(self.class_weights.device))


def fit_clip_adapter(train_features, train_labels, class_weights, logit_scale: float = 100.0, selection=None,
                     config: ClipAdapterConfig = ClipAdapterConfig(), seed: int = 0, views=None,
                     device=None) -> ClipAdapterClassifier:
    """Train CLIP-Adapter; keep the best epoch on ``selection`` (features, labels) if given, else the last."""
    device = resolve_device(device)
    features, labels = as_tensor(train_features, device), as_tensor(train_labels, device, torch.long)
    weights = as_tensor(class_weights, device)
    select = None
    if selection is not None and not isinstance(selection, str):  # within the shots: the last epoch
        sel_features = as_tensor(selection[0], device)
        sel_labels = as_tensor(selection[1], device, torch.long)

        def select(model):
            return top1(predict_logits(model, sel_features), sel_labels)

    make_optimizer, lr_at = sgd_with_warmup(config.optim)
    smoothing = config.optim.label_smoothing
    with seeded(seed, device):
        model = ClipAdapterClassifier(weights, config, logit_scale).to(device)
        result: FitResult = fit(
            model, features, labels, epochs=config.optim.epochs, batch_size=config.optim.batch_size,
            drop_last=config.optim.drop_last, make_optimizer=make_optimizer, lr_at=lr_at,
            loss_fn=lambda logits, y: smoothed_cross_entropy(logits, y, smoothing) if smoothing else
            F.cross_entropy(logits, y), generator=torch.Generator().manual_seed(int(seed)),
            views=None if views is None else as_tensor(views, device), select=select)
    model.hyperparameters["selected_epoch"] = result.selected_epoch
    model.fit_result = result
    return model
