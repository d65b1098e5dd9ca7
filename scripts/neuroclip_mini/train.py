"""Training of ``neuroclip-mini``, the small CLIP bundled with the package, from scratch on 2D digit images.

The image tower (a small CLIP ResNet) and the text tower (a small transformer) are an open_clip architecture
(``model_configs/neuroclip-mini.json``) trained with a
contrastive loss in which every image-caption pair of the same digit counts as a positive: with ten concepts most of
a batch shares a class, and treating those pairs as negatives would fight the labels.

Images are shown to the model exactly as event frames will be at inference: a 34x34 canvas, resized bilinearly to the
model's input size, replicated to 3 channels and normalised as x/255 - 0.5 (NeuroCLIP's normalisation).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from neuroclip_mini.data import (
    captions_for,
    handwriting_font_files,
    place_on_canvas,
    render_font_digits,
    sklearn_digits,
    stylise,
)

MODEL_NAME = "neuroclip-mini"
# the real N-MNIST recordings are measured in two parts, split per digit by file order: the first 20 of each digit
# (development: every choice about the model is judged there) and the rest (held out, scored once)
DEVELOPMENT_PER_DIGIT = 20


@dataclasses.dataclass(frozen=True)
class MiniTrainConfig:
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 3e-4
    warmup_steps: int = 100
    # augmentation curriculum: the share of styled images grows from 0 to 1 over these steps; without it the
    # contrastive loss collapses (every embedding the same) before the towers learn anything
    curriculum_steps: int = 300
    max_grad_norm: float = 1.0
    weight_decay: float = 0.05
    # shares of each batch: scikit-learn's handwritten digits, the handwriting fonts (data.HANDWRITING_FONTS),
    # and the printed fonts (the rest); chosen on the development recordings (scripts/sweep_neuroclip_mini.py)
    handwritten_fraction: float = 0.25
    handwriting_font_fraction: float = 0.5
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 200


def to_model_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """[N, 1, 34, 34] in 0..255 → [N, 3, size, size], as ``neuroclip.frames.to_clip_input`` does for frames."""
    resized = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return (resized / 255.0 - 0.5).expand(-1, 3, -1, -1)


def same_class_contrastive_loss(image_features, text_features, labels, logit_scale):
    """Symmetric cross-entropy whose target spreads evenly over every same-label pair."""
    logits = logit_scale * F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).T
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    image_to_text = -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()
    text_to_image = -(targets * logits.T.log_softmax(dim=1)).sum(dim=1).mean()
    return (image_to_text + text_to_image) / 2


def glyph_banks(handwriting_fonts: Path | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Digit glyphs on 34x34 canvases with labels: printed fonts, scikit-learn's handwritten digits and, given the
    folder of fetched handwriting fonts, those."""
    as_canvas = lambda a: place_on_canvas(torch.from_numpy(a).float() / 255)[:, None]  # noqa: E731
    files = None if handwriting_fonts is None else handwriting_font_files(handwriting_fonts)
    if files is not None and not files:
        raise FileNotFoundError(f"no handwriting fonts in {handwriting_fonts}; fetch them with "
                                "python scripts/train_neuroclip_mini.py --fetch-fonts")
    banks = {}
    sources = {"fonts": render_font_digits(), "handwritten": sklearn_digits()}
    if files:
        sources["handwriting_fonts"] = render_font_digits(fonts=files)
    for name, (images, labels) in sources.items():
        banks[name] = (as_canvas(images), torch.from_numpy(labels))
    return banks


def build_model():
    from neuroclip.clip.backbone import _open_clip

    open_clip = _open_clip()
    model = open_clip.create_model(MODEL_NAME, pretrained=None)
    return model, open_clip.get_tokenizer(MODEL_NAME)


def _save_atomic(state: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def train_mini_clip(config: MiniTrainConfig, work_dir: Path, log=print, resume: bool = True,
                    handwriting_fonts: Path | None = None, device: str = "cpu") -> torch.nn.Module:
    """Train and return the model (on the CPU). A checkpoint in ``work_dir`` is resumed (same result as an
    uninterrupted run: the data generator's state is saved with it). ``handwriting_fonts`` is the folder of fetched
    handwriting fonts, needed when ``config.handwriting_font_fraction`` > 0. ``device`` moves the model's work to a
    GPU (the images are still made on the CPU; results then differ from a CPU run in the last bits)."""
    if config.handwriting_font_fraction > 0 and handwriting_fonts is None:
        raise ValueError("handwriting_font_fraction > 0 needs the folder of handwriting fonts (fetch them with "
                         "python scripts/train_neuroclip_mini.py --fetch-fonts), or set handwriting_font_fraction=0")
    if config.handwritten_fraction + config.handwriting_font_fraction > 1:
        raise ValueError("handwritten_fraction + handwriting_font_fraction must be at most 1")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer = build_model()
    model.to(device)  # before the optimizer's state is loaded, which follows its parameters' device
    image_size = int(model.visual.image_size[0] if isinstance(model.visual.image_size, tuple)
                     else model.visual.image_size)
    banks = glyph_banks(handwriting_fonts if config.handwriting_font_fraction > 0 else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    def learning_rate(step):
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    start_step = 0
    checkpoint = work_dir / "checkpoint.pt"
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["config"] != dataclasses.asdict(config):
            raise ValueError(f"{checkpoint} was written with another configuration; remove it or pass its config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        start_step = state["step"]
        log(f"resumed from step {start_step}")
    model.train()
    started = time.time()
    n_hand = round(config.batch_size * config.handwritten_fraction)
    n_hand_fonts = round(config.batch_size * config.handwriting_font_fraction)
    composition = [("fonts", config.batch_size - n_hand - n_hand_fonts), ("handwritten", n_hand)]
    if n_hand_fonts:
        composition.append(("handwriting_fonts", n_hand_fonts))
    for step in range(start_step, config.steps):
        parts = []
        for name, count in composition:
            glyphs, labels = banks[name]
            index = torch.randint(0, glyphs.shape[0], (count,), generator=generator)
            parts.append((glyphs[index], labels[index]))
        glyphs = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        strength = min(1.0, step / config.curriculum_steps) if config.curriculum_steps else 1.0
        images = to_model_input(stylise(glyphs, generator, strength), image_size)
        tokens = tokenizer(captions_for(labels, generator))
        image_features = model.encode_image(images.to(device))
        text_features = model.encode_text(tokens.to(device))
        scale = model.logit_scale.exp().clamp(max=100)
        loss = same_class_contrastive_loss(image_features, text_features, labels.to(device), scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if (step + 1) % 50 == 0 or step == start_step:
            log(f"step {step + 1}/{config.steps}  loss {loss.item():.4f}  "
                f"lr {scheduler.get_last_lr()[0]:.2e}  {time.time() - started:.0f}s")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            _save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                          "step": step + 1, "config": dataclasses.asdict(config)}, checkpoint)
    model.cpu().eval()
    return model


def export_bundled(model: torch.nn.Module, path: Path, card: dict) -> Path:
    """Write the weights as fp16 safetensors. Only the token-embedding rows of tokens the captions use are stored
    (the others were never trained); loading fills the rest with zeros."""
    from safetensors.torch import save_file

    from neuroclip_mini.data import CAPTION_TEMPLATES, DIGIT_WORDS

    _, tokenizer = build_model()
    texts = [t.format(w) for t in CAPTION_TEMPLATES for w in DIGIT_WORDS + [str(d) for d in range(10)]]
    used = torch.unique(tokenizer(texts).flatten())
    state = {name: tensor.detach().half().contiguous() for name, tensor in model.state_dict().items()}
    embedding = state.pop("token_embedding.weight")
    state["token_embedding.rows"] = used.to(torch.int64)
    state["token_embedding.weight_rows"] = embedding[used].contiguous()
    state["logit_scale"] = model.logit_scale.detach().float().reshape(())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    save_file(state, str(temporary), metadata={"card": json.dumps(card)})
    os.replace(temporary, path)
    return path
