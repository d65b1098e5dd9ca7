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
        trunc_normal_linear_init(self, config.linear_init_std)

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
        # Always fp32. At initialisation no neuron fires and fc2's bias is zero, so the output is exactly zero; the
        # cosine loss's gradient there is about 1/eps (1e8), which overflows fp16: under fp16 autocast every step
        # was non-finite (skipped by the gradient scaler on an H100; NaN losses under CPU autocast) and stage A
        # never left that state (firing rate 0). In fp32 that gradient is what starts training. The tower is two
        # linear layers, so fp16 would save little.
        autocast_off = (torch.autocast(ids.device.type, enabled=False) if ids.device.type in ("cuda", "cpu")
                        else contextlib.nullcontext())  # the energy count runs it on the meta device
        with autocast_off:
            embedded = self.token_embedding(ids) + self.position_embedding[:config.context_length]
            x = embedded.float().flatten(1).unsqueeze(0).expand(config.timesteps, -1, -1)
            x = self.fc2(self.neuron2(self.fc1(self.neuron1(x))))
            return self.temporal(x)
