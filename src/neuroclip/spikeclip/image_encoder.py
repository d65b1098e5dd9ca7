"""SpikeCLIP's spiking image tower (``Vision_Encoder`` of the released model.py, a Spikingformer-4-384 variant)."""

from __future__ import annotations

import functools

import torch
from torch import nn

from neuroclip.errors import ConfigError
from neuroclip.spikeclip.config import ImageEncoderConfig
from neuroclip.spikeclip.layers import (
    SpikingBlock,
    SpikingTokenizer,
    TemporalWeighting,
    activation,
    resize,
    trunc_normal_linear_init,
)


class SpikingImageEncoder(nn.Module):
    """Images or event-frame sequences to embeddings in the teacher's space.

    Input:

    * a static image ``[B, C, H, W]`` (the teacher's CLIP-preprocessed image): resized to ``input_size`` and
      repeated over the T timesteps (direct encoding);
    * a sequence ``[B, T, C, H, W]`` (event count frames): each frame resized, one frame per timestep.

    Output ``[B, output_dim]``: token mean per timestep, learnable linear temporal weighting, Linear projection.
    """

    def __init__(self, config: ImageEncoderConfig = ImageEncoderConfig()):
        super().__init__()
        self.config = config
        act = functools.partial(activation, config.activation, config.neuron)

        def act_threshold(threshold):
            return activation(config.activation, config.neuron, threshold)

        self.tokenizer = SpikingTokenizer(config.in_channels, config.embed_dim, act)
        self.blocks = nn.ModuleList(
            SpikingBlock(config.embed_dim, config.heads, config.mlp_ratio, config.attention_scale,
                         config.attention_threshold, act, act_threshold)
            for _ in range(config.depth)
        )
        self.temporal = TemporalWeighting(config.timesteps)
        self.proj = nn.Linear(config.embed_dim, config.output_dim)
        trunc_normal_linear_init(self, config.linear_init_std)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the time-first sequence ``[T, B, C, s, s]`` the network runs on."""
        config = self.config
        if x.ndim == 4:
            if x.shape[1] != config.in_channels:
                raise ConfigError(f"image input needs {config.in_channels} channels, got {tuple(x.shape)}")
            x = resize(x, config.input_size, config.resize_mode)
            return x.unsqueeze(0).expand(config.timesteps, *x.shape)
        if x.ndim == 5:
            if x.shape[1] != config.timesteps or x.shape[2] != config.in_channels:
                raise ConfigError(f"sequence input must be [B, {config.timesteps}, {config.in_channels}, H, W]; "
                                  f"got {tuple(x.shape)}")
            x = resize(x, config.input_size, config.resize_mode)
            return x.transpose(0, 1)
        raise ConfigError(f"image input must be [B, C, H, W] or [B, T, C, H, W]; got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-timestep token means ``[T, B, embed_dim]`` (before the temporal weighting)."""
        x = self.tokenizer(self.sequence(x))
        for block in self.blocks:
            x = block(x)
        return x.flatten(3).mean(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.temporal(self.features(x)))
