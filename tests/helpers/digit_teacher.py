"""A tiny CLIP teacher that knows a little about digits, so that agreement with its predictions means something.

A randomly initialised tiny CLIP maps every digit picture to nearly the same embedding (pairwise cosine ~0.99), so
its zero-shot predictions are one or two classes for everything. Here its image tower is trained for a few hundred
steps to classify digits against its own (frozen, random) text embeddings of the prompts, at a CLIP-like logit
scale; the text tower stays as initialised. Seeded, CPU, about ten seconds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuroclip.clip import load_backbone

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEMPLATE = "a photo of the number {}."


def train_digit_teacher(path, images: torch.Tensor, labels: torch.Tensor, steps: int = 200, seed: int = 0,
                        batch_size: int = 32, lr: float = 1e-3, scale: float = 20.0):
    """Train neuroclip-tiny-vit's image tower on CLIP-preprocessed ``images`` [N, 3, 224, 224]; save the whole
    state dict to ``path`` (loadable with ``load_backbone('neuroclip-tiny-vit', path)``)."""
    torch.manual_seed(seed)
    backbone = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    model = backbone.model
    with torch.no_grad():
        text = F.normalize(model.encode_text(backbone.tokenizer([TEMPLATE.format(w) for w in DIGIT_WORDS])), dim=-1)
    model.visual.train().requires_grad_(True)
    optimizer = torch.optim.Adam(model.visual.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(0, len(images), (batch_size,), generator=generator)
        logits = scale * F.normalize(model.visual(images[batch]), dim=-1) @ text.T
        loss = F.cross_entropy(logits, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().requires_grad_(False)
    torch.save({name: tensor.detach().clone() for name, tensor in model.state_dict().items()}, path)
    return path
