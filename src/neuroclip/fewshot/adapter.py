"""NeuroCLIP's inter-timestep adapter and the few-shot classifier around it.

Reference: NeuroCLIP's released code, trainers/fewshot.py (``Adapter``, ``PointCLIP_Model``). One set of modules is
shared by all T timesteps and applied in order t = 1..T to the raw (unnormalised) CLIP feature f_t::

    a_t = ReLU(Linear(C/8 -> C)(Dropout(0.5)(LIF(BatchNorm1d(Linear(C -> C/8)(Dropout(0.5)(BatchNorm1d(f_t))))))))

The timesteps interact only through the LIF membrane, carried from t to t+1 and reset for every forward. Then::

    G = 0.6 * concat_t a_t + 0.4 * concat_t f_t          (raw features in the residual)
    logits_k = 100 * norm(G) . norm(concat_t w_k)        (ONE norm over all T*C; text feature repeated T times)

Each BatchNorm is called once per timestep in the released code, so in training it normalises with the statistics
of that timestep's batch and updates its running statistics T times per batch. :class:`TimestepBatchNorm1d` does
exactly that for all timesteps at once. The released code runs the adapter in fp16; we keep float32.

Switches for the ablations: ``bottleneck='relu'`` puts a ReLU in place of the LIF (the "without SNN" adapter: the
timesteps then do not interact at all), and ``residual_ratio`` sets the 0.6 / 0.4 mix.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from neuroclip.errors import ConfigError
from neuroclip.snn.neurons import LIF, NEURON_PRESETS

BOTTLENECKS = {
    "lif": "NeuroCLIP: a LIF neuron (membrane carried over the timesteps) between the two Linear layers",
    "relu": "ablation 'without SNN': a ReLU in its place; timesteps are adapted independently",
}


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    """The adapter's architecture. Defaults are NeuroCLIP's (trainers/fewshot.py; MODEL.ADAPTER.RATIO = 0.6,
    MODEL.ADAPTER.DROPOUT = 0.5, bottleneck C/8)."""

    reduction: int = 8
    dropout: float = 0.5
    residual_ratio: float = 0.6
    bottleneck: str = "lif"
    neuron: str = "neuroclip"

    def __post_init__(self):
        if not isinstance(self.reduction, int) or self.reduction < 1:
            raise ConfigError(f"adapter reduction must be a positive integer, got {self.reduction!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"adapter dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.residual_ratio <= 1:
            raise ConfigError(f"residual_ratio must be in [0, 1], got {self.residual_ratio!r}")
        if self.bottleneck not in BOTTLENECKS:
            raise ConfigError(f"bottleneck must be one of {', '.join(BOTTLENECKS)}; got {self.bottleneck!r}")
        if self.neuron not in NEURON_PRESETS:
            raise ConfigError(f"neuron must be one of {', '.join(NEURON_PRESETS)}; got {self.neuron!r}")


class TimestepBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over ``[B, T, C]`` that equals T separate BatchNorm1d calls on ``[B, C]``, t = 1..T.

    Training: each timestep is normalised with its own batch mean and (biased) variance, and the running statistics
    receive the T updates in order, r <- (1 - m) r + m stat_t, folded into one weighted sum. Evaluation: the running
    statistics, as for any BatchNorm. The state dict is BatchNorm1d's. Per-timestep statistics are those of
    BatchNorm over the T*C columns of the [B, T*C] view, so torch's fused kernel does the work.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.num_features:
            raise ConfigError(f"expected [B, T, {self.num_features}], got {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        flat = x.reshape(batch, steps * self.num_features)
        weight = None if self.weight is None else self.weight.repeat(steps)
        bias = None if self.bias is None else self.bias.repeat(steps)
        if not self.training and self.track_running_stats:
            return F.batch_norm(flat, self.running_mean.repeat(steps), self.running_var.repeat(steps), weight, bias,
                                False, 0.0, self.eps).reshape(x.shape)
        if batch < 2:
            raise ConfigError("batch normalisation in training needs at least 2 samples per batch")
        if not (self.training and self.track_running_stats):
            return F.batch_norm(flat, None, None, weight, bias, True, 0.0, self.eps).reshape(x.shape)
        if self.momentum is None:
            raise ConfigError("TimestepBatchNorm1d needs a momentum (the cumulative average is not supported)")
        # momentum 1 makes these buffers exactly this batch's mean and unbiased variance, per timestep and channel
        batch_mean = torch.zeros(steps * self.num_features, device=x.device, dtype=self.running_mean.dtype)
        batch_var = torch.ones_like(batch_mean)
        out = F.batch_norm(flat, batch_mean, batch_var, weight, bias, True, 1.0, self.eps)
        with torch.no_grad():
            momentum = self.momentum
            # weight of timestep t's statistics after the T sequential updates: m (1 - m)^(T - 1 - t)
            exponents = torch.arange(steps - 1, -1, -1, device=x.device, dtype=batch_mean.dtype)
            weights = momentum * (1 - momentum) ** exponents
            keep = (1 - momentum) ** steps
            self.running_mean.mul_(keep).add_(weights @ batch_mean.view(steps, -1))
            self.running_var.mul_(keep).add_(weights @ batch_var.view(steps, -1))
            self.num_batches_tracked.add_(steps)
        return out.reshape(x.shape)


class FastDropout(nn.Dropout):
    """nn.Dropout drawing its mask by comparing uniform numbers with p, about three times faster on CPU than torch's
    Bernoulli kernel (0.5 ms against 1.7 ms for a [32, 10, 512] batch); the same distribution: keep with
    probability 1 - p, scale by 1/(1 - p)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        scaled_keep = torch.rand(x.shape, device=x.device, dtype=x.dtype).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * scaled_keep


class InterTimestepAdapter(nn.Module):
    """The shared per-timestep bottleneck C -> C/reduction -> C with a LIF (or ReLU) inside: ``[B, T, C]`` raw
    frame features to the adapter outputs a_t ``[B, T, C]`` (non-negative)."""

    def __init__(self, embed_dim: int, config: AdapterConfig = AdapterConfig()):
        super().__init__()
        hidden = embed_dim // config.reduction
        if hidden < 1:
            raise ConfigError(f"embed_dim {embed_dim} is smaller than the reduction {config.reduction}")
        self.embed_dim, self.hidden_dim, self.config = int(embed_dim), hidden, config
        self.input_norm = TimestepBatchNorm1d(embed_dim)
        self.input_dropout = FastDropout(config.dropout)
        self.down = nn.Linear(embed_dim, hidden)
        self.hidden_norm = TimestepBatchNorm1d(hidden)
        self.neuron = LIF(config.neuron) if config.bottleneck == "lif" else nn.ReLU()
        self.hidden_dropout = FastDropout(config.dropout)
        self.up = nn.Linear(hidden, embed_dim)

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        if frame_features.ndim != 3 or frame_features.shape[-1] != self.embed_dim:
            raise ConfigError(f"adapter input must be [B, T, {self.embed_dim}]; got {tuple(frame_features.shape)}")
        x = self.hidden_norm(self.down(self.input_dropout(self.input_norm(frame_features))))
        if isinstance(self.neuron, LIF):
            x = self.neuron(x.transpose(0, 1)).transpose(0, 1)  # the LIF runs time-first: [T, B, C/8]
        else:
            x = self.neuron(x)
        return F.relu(self.up(self.hidden_dropout(x)))


class NeuroCLIPAdapterClassifier(nn.Module):
    """The adapter, the residual mix and the text classifier: raw frame features ``[B, T, C]`` to logits ``[B, K]``.

    ``class_weights`` ``[K, C]`` are CLIP's normalised text features (kept as a buffer, not trained); ``logit_scale``
    is CLIP's exp(logit_scale), 100 for OpenAI's models.
    """

    def __init__(self, class_weights: torch.Tensor, config: AdapterConfig = AdapterConfig(),
                 logit_scale: float = 100.0):
        super().__init__()
        if class_weights.ndim != 2:
            raise ConfigError(f"class weights must be [K, C]; got {tuple(class_weights.shape)}")
        self.config = config
        self.logit_scale = float(logit_scale)
        self.adapter = InterTimestepAdapter(class_weights.shape[1], config)
        self.register_buffer("class_weights", class_weights.detach().float().clone())

    @property
    def n_classes(self) -> int:
        return self.class_weights.shape[0]

    def mixed_features(self, frame_features: torch.Tensor) -> torch.Tensor:
        """G = ratio * concat_t a_t + (1 - ratio) * concat_t f_t, ``[B, T*C]`` (not normalised)."""
        ratio = self.config.residual_ratio
        mixed = ratio * self.adapter(frame_features) + (1 - ratio) * frame_features
        return mixed.flatten(1)

    def forward(self, frame_features: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
        weights = self.class_weights if class_weights is None else class_weights.to(self.class_weights)
        n_frames = frame_features.shape[1]
        text = F.normalize(weights.repeat(1, n_frames), dim=-1)  # [K, T*C]: w_k repeated T times, normalised
        mixed = self.mixed_features(frame_features)
        # norm(G) . text, with the division after the product (F.normalize's x / max(||x||, eps), cheaper backward)
        norms = mixed.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.logit_scale * (mixed @ text.T) / norms
