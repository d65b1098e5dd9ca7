"""SpikeCLIP's spiking text tower (``Language_Encoder`` of the released model.py) and its tokenisation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from neuroclip.errors import ConfigError
from neuroclip.spikeclip.config import TextEncoderConfig
from neuroclip.spikeclip.layers import TemporalWeighting, activation, trunc_normal_linear_init


def tokenize(tokenizer, texts: list[str], context_length: int = 20, pad: str = "eot",
             truncate: bool = False) -> torch.Tensor:
    """Token ids ``[N, context_length]`` as the released code feeds its text tower: start token, the sentence,
    end-of-text, then padding (``eot``: the end-of-text id repeated, as the HF CLIP tokenizer pads; ``zero``: 0, as
    open_clip pads). A sentence longer than ``context_length`` tokens is an error unless ``truncate`` (then its last
    kept token becomes end-of-text, as open_clip truncates)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ConfigError("no sentences to tokenize")
    eot = getattr(tokenizer, "eot_token_id", None)
    if eot is None:  # tokenizers without CLIP's start/end tokens (HF tokenizers of other CLIPs): their own padding
        return tokenizer(texts, context_length=context_length)
    full = tokenizer(texts)  # open_clip's own context length (77 for CLIP), zero-padded
    is_end = full == eot
    lengths = torch.where(is_end.any(1), is_end.int().argmax(1) + 1, torch.full_like(full[:, 0], full.shape[1]))
    too_long = (lengths > context_length).nonzero().flatten().tolist()
    if too_long and not truncate:
        example = texts[too_long[0]]
        raise ConfigError(f"{len(too_long)} sentence(s) have more than {context_length} tokens, e.g. {example!r} "
                          f"({int(lengths[too_long[0]])} tokens); shorten the templates or class names, raise "
                          "text.context_length, or set text.truncate")
    ids = full[:, :context_length].clone()
    if too_long:
        ids[too_long, -1] = eot
        lengths = lengths.clamp(max=context_length)
    positions = torch.arange(context_length).unsqueeze(0)
    padding = positions >= lengths.unsqueeze(1)
    ids[padding] = eot if pad == "eot" else 0
    return ids


class SpikingTextEncoder(nn.Module):
    """Token ids ``[B, L]`` to embeddings ``[B, output_dim]``::

        e = token_embedding(ids) + position_embedding[:L]        (trainable copy of the teacher's)
        x = flatten(e) repeated T times                          [T, B, L * width]
        z = temporal_weighting(Linear(LIF(Linear(LIF(x)))))

    Every token is embedded, padding included (the released code passes an attention mask it does not use).
    """

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig()):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.token_width)
        self.position_embedding = nn.Parameter(torch.empty(config.position_rows, config.token_width))
        nn.init.normal_(self.token_embedding.weight, std=0.02)  # CLIP's init, for a teacher without a table to copy
        nn.init.normal_(self.position_embedding, std=0.01)
        self.neuron1 = activation(config.activation, config.neuron)
        self.fc1 = nn.Linear(config.context_length * config.token_width, config.hidden_dim)
        self.neuron2 = activation(config.activation, config.neuron)
        self.fc2 = nn.Linear(config.hidden_dim, config.output_dim)
        self.temporal = TemporalWeighting(config.timesteps)
        if config.linear_init == "trunc_normal":
            trunc_normal_linear_init(self, config.linear_init_std)
        # else fc1 and fc2 keep nn.Linear's own init, as the released Language_Encoder does (SpikeCLIP: model.py)

    def copy_teacher_embeddings(self, clip_model: nn.Module) -> bool:
        """Copy the teacher's token table and position embeddings (open_clip ``CLIP`` or ``CustomTextCLIP``).
        Returns False (keeping the random init) when the teacher has no tables of matching shape."""
        source = clip_model if hasattr(clip_model, "token_embedding") else getattr(clip_model, "text", None)
        tokens = getattr(source, "token_embedding", None)
        positions = getattr(source, "positional_embedding", None)
        if not isinstance(tokens, nn.Embedding) or positions is None:
            return False
        if tuple(tokens.weight.shape) != tuple(self.token_embedding.weight.shape) \
                or tuple(positions.shape) != tuple(self.position_embedding.shape):
            return False
        with torch.no_grad():
            self.token_embedding.weight.copy_(tokens.weight)
            self.position_embedding.copy_(positions)
        return True

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        config = self.config
        if ids.ndim != 2 or ids.shape[1] != config.context_length:
            raise ConfigError(f"token ids must be [B, {config.context_length}], got {tuple(ids.shape)}")
        # fp32 is forced only for the trunc_normal init. There a fresh tower outputs exactly 0 (no spikes, zero
        # fc2 bias), and the cosine loss's gradient at 0, about 1/eps (1e8), overflows fp16: under fp16 autocast
        # every step was non-finite (skipped by the gradient scaler on an H100, stage A's firing rate stuck at 0;
        # NaN losses under CPU autocast). With the released pytorch init the output starts non-zero (fc2's bias)
        # and fp16 trains as fp32 does. Measured on CPU, the tiny preset's text tower (vocab cut to 1000), cosine
        # loss to 64 fixed random targets, Adam (amsgrad, lr 5e-3), fp16 autocast without the forcing:
        #   pytorch, fp16, no scaler: loss 0.9940 at step 0, 0.8675 at 40, 0.0018 at 399, all finite (fp32: 0.9939,
        #     0.8675, 0.0024), firing rates 0.095 / 0.294 after training (fp32: 0.094 / 0.292);
        #   trunc_normal, fp16, no scaler: loss 1.0000 at step 0, NaN from step 1 on (no finite gradient);
        #   trunc_normal, fp16 with a gradient scaler: 25 of 400 steps skipped, the loss stuck at 0.8959 from step
        #     40 to 399, firing rate 0;
        #   trunc_normal, fp32 (the forcing): finite, but stuck at 0.8959 from step 1 to 399 too, firing rate 0
        #     (Adam's second moment keeps the first step's ~1e8 gradient, with or without amsgrad), so this init
        #     trains badly in any precision; the forcing only keeps it finite.
        autocast_off = (torch.autocast(ids.device.type, enabled=False)
                        if config.linear_init == "trunc_normal" and ids.device.type in ("cuda", "cpu")
                        else contextlib.nullcontext())  # the energy count runs it on the meta device
        with autocast_off:
            embedded = self.token_embedding(ids) + self.position_embedding[:config.context_length]
            x = embedded.float().flatten(1).unsqueeze(0).expand(config.timesteps, -1, -1)
            x = self.fc2(self.neuron2(self.fc1(self.neuron1(x))))
            return self.temporal(x)
