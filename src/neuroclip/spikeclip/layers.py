"""Building blocks of SpikeCLIP's towers. Tensors are time-first, ``[T, B, ...]``, as in spikingjelly's multi-step
mode; convolutions and batch norms see ``T * B`` samples (the released code's ``flatten(0, 1)``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neuroclip.energy import MatMul
from neuroclip.snn import LIF


def activation(kind: str, neuron: str = "spikeclip", threshold: float | None = None) -> nn.Module:
    """A spiking neuron (``lif``: the multi-step LIF of :mod:`neuroclip.snn`, state reset at every call) or, for the
    same-size ANN counterpart, ``relu`` / ``identity``."""
    if kind == "lif":
        return LIF(neuron) if threshold is None else LIF(neuron, threshold=threshold)
    if kind == "relu":
        return nn.ReLU()
    return nn.Identity()


def temporal_weight_init(timesteps: int) -> torch.Tensor:
    """The released initial temporal weights ln[0.1, 0.2, 0.4, 0.8] for T = 4 (SpikeCLIP: model.py); for other T,
    the same rule ln(0.8 * 2^(t - T + 1)): the last step 0.8, each earlier one half of the next."""
    return torch.tensor([math.log(0.8 * 2.0 ** (t - timesteps + 1)) for t in range(timesteps)])


class TemporalWeighting(nn.Module):
    """z = sum_t w_t x_t over the leading time axis, with learnable w used linearly (no exp, no softmax, a sum rather
    than a mean), as the released code does."""

    def __init__(self, timesteps: int):
        super().__init__()
        self.weight = nn.Parameter(temporal_weight_init(timesteps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.weight.shape[0]:
            raise ValueError(f"expected {self.weight.shape[0]} timesteps, got {x.shape[0]}")
        return torch.einsum("t,t...->...", self.weight.to(x.dtype), x)


def _multistep(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-sample module to ``[T, B, ...]`` by flattening time into the batch."""
    out = module(x.flatten(0, 1))
    return out.reshape(x.shape[0], x.shape[1], *out.shape[1:])


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (+ optional max-pool) applied per timestep."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, pool: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _multistep(lambda y: self.pool(self.bn(self.conv(y))), x)


class SpikingTokenizer(nn.Module):
    """SPS-like stem (SpikeCLIP ``Vision_Encoder``; no residual relative position embedding on the last stage)::

        conv in->e/8, BN -> LIF -> conv ->e/4, BN -> LIF -> conv ->e/2, BN -> MaxPool -> LIF
        -> conv ->e, BN -> MaxPool -> LIF -> conv e->e, BN
    """

    def __init__(self, in_channels: int, embed_dim: int, act):
        super().__init__()
        widths = [embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim, embed_dim]
        self.stages = nn.ModuleList()
        self.neurons = nn.ModuleList()
        previous = in_channels
        for index, width in enumerate(widths):
            self.stages.append(ConvBN(previous, width, pool=index in (2, 3)))
            if index < len(widths) - 1:
                self.neurons.append(act())
            previous = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index < len(self.neurons):
                x = self.neurons[index](x)
        return x


class SpikingSelfAttention(nn.Module):
    """Spikingformer-style spiking self-attention, as SpikeCLIP configures it::

        x = LIF(x); Q, K, V = LIF(BN(Conv1d_1x1(x)))  (no bias)
        A = Q K^T per head (no softmax); Y = (A V) * scale
        out = BN(Conv1d_1x1(LIF_{threshold 0.5}(Y)))  (with bias)
    """

    def __init__(self, dim: int, heads: int, scale: float, attention_threshold: float, act, act_threshold):
        super().__init__()
        self.heads, self.scale = heads, scale
        self.input_neuron = act()
        self.q_conv, self.k_conv, self.v_conv = (nn.Conv1d(dim, dim, 1, bias=False) for _ in range(3))
        self.q_bn, self.k_bn, self.v_bn = (nn.BatchNorm1d(dim) for _ in range(3))
        self.q_neuron, self.k_neuron, self.v_neuron = act(), act(), act()
        self.attention = MatMul()
        self.mix = MatMul()
        self.attention_neuron = act_threshold(attention_threshold)
        self.proj_conv = nn.Conv1d(dim, dim, 1)
        self.proj_bn = nn.BatchNorm1d(dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch, channels, tokens = x.shape
        return x.transpose(-1, -2).reshape(steps, batch, tokens, self.heads, channels // self.heads).transpose(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch, channels, height, width = x.shape
        x = self.input_neuron(x.flatten(3))  # [T, B, C, N]
        q = self.q_neuron(_multistep(lambda y: self.q_bn(self.q_conv(y)), x))
        k = self.k_neuron(_multistep(lambda y: self.k_bn(self.k_conv(y)), x))
        v = self.v_neuron(_multistep(lambda y: self.v_bn(self.v_conv(y)), x))
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # [T, B, h, N, d]
        y = self.mix(self.attention(q, k.transpose(-2, -1)), v) * self.scale
        y = y.transpose(2, 3).reshape(steps, batch, height * width, channels).transpose(-1, -2)
        y = self.attention_neuron(y)
        y = _multistep(lambda z: self.proj_bn(self.proj_conv(z)), y)
        return y.reshape(steps, batch, channels, height, width)


class SpikingMLP(nn.Module):
    """LIF -> 1x1 conv (bias) -> BN -> LIF -> 1x1 conv (bias) -> BN."""

    def __init__(self, dim: int, hidden: int, act):
        super().__init__()
        self.neuron1 = act()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.neuron2 = act()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _multistep(lambda y: self.bn1(self.fc1(y)), self.neuron1(x))
        return _multistep(lambda y: self.bn2(self.fc2(y)), self.neuron2(x))


class SpikingBlock(nn.Module):
    """x = x + SSA(x); x = x + MLP(x)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, scale: float, attention_threshold: float, act,
                 act_threshold):
        super().__init__()
        self.attention = SpikingSelfAttention(dim, heads, scale, attention_threshold, act, act_threshold)
        self.mlp = SpikingMLP(dim, dim * mlp_ratio, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


def trunc_normal_linear_init(module: nn.Module, std: float) -> None:
    """The released init: truncated normal (std 0.02, cut at +-2) on Linear weights, zero bias."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=std, a=-2.0, b=2.0)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


# ------------------------------------------------------------------------------------ batch norm across processes


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes, differentiable: every process's output depends on every input, so the gradient of an
    input is the sum over processes of the output gradients."""

    @staticmethod
    def forward(ctx, x):
        total = x.clone()
        torch.distributed.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone()
        torch.distributed.all_reduce(total)
        return total


class CrossProcessBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are taken over the global batch of all processes.

    On CUDA, :class:`torch.nn.SyncBatchNorm` does this (SpikeCLIP trains with it); it refuses CPU tensors, so CPU
    runs under ``torchrun`` (gloo) use this small module: per-channel sums and squared sums are all-reduced with a
    differentiable all-reduce, then the batch is normalised with the global mean and biased variance, and the
    running variance is updated with the unbiased one, as BatchNorm does. Without a process group it is plain
    batch norm.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not (self.training and distributed):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        channels = x.shape[1]
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels:2 * channels] / total - mean * mean).clamp_min(0)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
        return y


def convert_batchnorm_for_processes(module: nn.Module, device: torch.device) -> nn.Module:
    """Batch norms that see the global batch under torchrun: SyncBatchNorm on CUDA, CrossProcessBatchNorm on CPU."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    result = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossProcessBatchNorm):
        result = CrossProcessBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                       module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                result.weight.copy_(module.weight)
                result.bias.copy_(module.bias)
        if module.track_running_stats:
            result.running_mean.copy_(module.running_mean)
            result.running_var.copy_(module.running_var)
            result.num_batches_tracked.copy_(module.num_batches_tracked)
        result.train(module.training)
    for name, child in module.named_children():
        result.add_module(name, _convert_cpu(child))
    return result


def resize(x: torch.Tensor, size: int | None, mode: str) -> torch.Tensor:
    """Resize the last two axes to ``size`` x ``size`` (None: unchanged); bilinear with align_corners=False as the
    released code downsamples the CLIP image."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    leading = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(flat, size=(size, size), mode=mode, **kwargs)
    return out.reshape(*leading, *out.shape[1:])
