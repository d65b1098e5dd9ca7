"""Training data of the bundled small CLIP: ordinary 2D images of digits and captions, nothing from event cameras.

Sources:
* digits rendered from TrueType fonts: the fonts that ship with matplotlib, the system's fonts, and the fonts of the
  PyPI packages in the ``train`` extra (Amatic SC, Caladea, Fjalla One, Fredoka One, Lato, Manrope, Roboto,
  Source Sans Pro, Source Serif Pro);
* handwriting fonts: Google Fonts' handwriting and school-script families as Fontsource packages them on npm
  (``HANDWRITING_FONTS``, pinned versions; ``fetch_handwriting_fonts`` downloads them with ``npm pack``);
* the 1,797 handwritten digits that ship with scikit-learn (8x8, 16 grey levels).

Each image is a 34x34 canvas (the size of an N-MNIST window) in varied 2D styles: filled, outlined, inverted,
on grey, low contrast, blurred, noisy, thickened or thinned strokes, elastically distorted (to look hand-written).
No event data, event simulation or event-frame encoding is used anywhere here.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CANVAS = 34
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FONT_PACKAGES = ("font_amatic_sc", "font_caladea", "font_fjallaone", "font_fredoka_one", "font_lato", "font_manrope",
                 "font_roboto", "font_source_sans_pro", "font_source_serif_pro")
# Caption templates; {} is a digit ("3") or a word ("three").
CAPTION_TEMPLATES = [
    "a photo of the number {}.", "the digit {}.", "a picture of the numeral {}.", "a black and white photo of {}.",
    'A black and white photo of the Arabic numeral number: "{}".', "a handwritten {}.",
    "the number {} written by hand.",
    "a drawing of the digit {}.", "an outline of the number {}.", "a blurry photo of the digit {}.",
    "a low contrast image of the number {}.", "a sketch of the numeral {}.", "a gray image of digit number {}",
    "the Arabic numeral {}.", "a printed {}.", "a noisy picture of a {}.", "a small image of the digit {}.",
    "a digit: {}.", "{}", "number {}", "a close-up of the number {}.", "white number {} on a dark background.",
    "a dark number {} on a light background.", "a thin stroke drawing of {}.",
]


# Handwriting families of Google Fonts (SIL Open Font License), as packaged by Fontsource on npm (@fontsource/NAME).
# Only their Latin files are used: every weight, upright, WOFF.
HANDWRITING_FONTS = (
    "annie-use-your-telescope@5.3.0", "architects-daughter@5.3.0", "cabin-sketch@5.3.0", "calligraffitti@5.3.0",
    "caveat@5.3.0", "caveat-brush@5.3.0", "cedarville-cursive@5.3.0", "charm@5.2.7", "comforter@5.2.8",
    "coming-soon@5.3.0", "covered-by-your-grace@5.3.0", "crafty-girls@5.3.0", "dancing-script@5.3.0",
    "dawning-of-a-new-day@5.3.0", "delicious-handrawn@5.3.0", "delius@5.3.0", "east-sea-dokdo@5.3.0",
    "edu-nsw-act-foundation@5.3.0", "edu-qld-beginner@5.3.0", "edu-sa-beginner@5.3.0", "edu-tas-beginner@5.3.0",
    "edu-vic-wa-nt-beginner@5.3.0", "fuzzy-bubbles@5.3.0", "gaegu@5.3.0", "gamja-flower@5.3.0",
    "give-you-glory@5.3.0", "gloria-hallelujah@5.3.0", "gochi-hand@5.3.0", "grechen-fuemen@5.3.0",
    "handlee@5.3.0", "hi-melody@5.3.0", "homemade-apple@5.3.0", "indie-flower@5.3.0", "itim@5.3.0",
    "just-another-hand@5.3.0", "just-me-again-down-here@5.3.0", "kalam@5.3.0", "kite-one@4.5.0", "klee-one@5.3.0",
    "kristi@5.3.0", "la-belle-aurore@5.3.0", "loved-by-the-king@5.3.0", "mali@5.3.0", "marck-script@5.3.0",
    "mynerve@5.3.0", "nanum-brush-script@5.3.0", "nanum-gothic-coding@5.3.0", "nanum-pen-script@5.3.0",
    "neucha@5.3.0", "nothing-you-could-do@5.3.0", "over-the-rainbow@5.3.0", "pacifico@5.3.0", "pangolin@5.3.0",
    "patrick-hand@5.3.0", "patrick-hand-sc@5.3.0", "permanent-marker@5.3.0", "playpen-sans@5.3.0",
    "reenie-beanie@5.3.0", "rock-salt@5.3.0", "sacramento@5.3.0", "satisfy@5.3.0", "schoolbell@5.3.0",
    "sedgwick-ave@5.3.0", "sedgwick-ave-display@5.3.0", "shadows-into-light@5.3.0", "shadows-into-light-two@5.3.0",
    "short-stack@5.3.0", "square-peg@5.3.0", "sriracha@5.3.0", "sue-ellen-francisco@5.3.0",
    "swanky-and-moo-moo@5.3.0", "the-girl-next-door@5.3.0", "waiting-for-the-sunrise@5.3.0",
    "walter-turncoat@5.3.0", "whisper@5.3.0", "yellowtail@5.3.0", "yomogi@5.3.0", "zen-kurenaido@5.3.0",
    "zeyada@5.3.0",
)


# the basic Latin subset (it holds the digits; "latin-ext" does not), any weight, upright
_LATIN_FILE = re.compile(r"-latin-\d+-normal\.woff$")


def fetch_handwriting_fonts(target: Path, log=print) -> Path:
    """Download ``HANDWRITING_FONTS`` with ``npm pack`` into ``target`` (their Latin WOFF files). Already fetched
    packages are skipped; each package's files land in ``target`` together (atomic per package)."""
    if shutil.which("npm") is None:
        raise RuntimeError("fetching the handwriting fonts needs npm (https://nodejs.org); install Node.js and "
                           "run this again, or train the first bundled model's recipe without them: "
                           "--handwriting-fonts none --set handwriting_font_fraction=0 handwritten_fraction=0.5")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for spec in HANDWRITING_FONTS:
        name = spec.split("@")[0]
        done = target / f".{name}.done"
        if done.exists():
            continue
        with tempfile.TemporaryDirectory(dir=target) as scratch:
            result = subprocess.run(["npm", "pack", "--silent", f"@fontsource/{spec}"], cwd=scratch,
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"npm pack @fontsource/{spec} failed: {result.stderr.strip()[-500:]}")
            archive = next(Path(scratch).glob("*.tgz"))
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/files/")
                           and _LATIN_FILE.search(m.name)]
                for member in members:
                    source = tar.extractfile(member)
                    staged = Path(scratch) / Path(member.name).name
                    staged.write_bytes(source.read())
                    os.replace(staged, target / staged.name)
            done.write_text(spec)
        log(f"fetched @fontsource/{spec} ({len(members)} files)")
    return target


def handwriting_font_files(folder: Path) -> list[Path]:
    """The fetched handwriting fonts' Latin files, sorted by name (see ``fetch_handwriting_fonts``)."""
    return sorted((p for p in Path(folder).glob("*.woff") if _LATIN_FILE.search(p.name)), key=lambda p: p.name)


def font_files() -> list[Path]:
    """Every usable TrueType font, sorted by file name so the list is reproducible."""
    import matplotlib

    found = set(Path(matplotlib.get_data_path(), "fonts", "ttf").glob("*.ttf"))
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if folder.is_dir():
            found |= set(folder.rglob("*.ttf"))
    for package in FONT_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        found |= set(Path(module.__file__).parent.rglob("*.ttf"))
    usable = {}
    for path in sorted(found, key=lambda p: p.name):
        # symbol and math-extension fonts have no proper digits
        if any(word in path.name for word in ("STIXSiz", "STIXNonUni", "cmex", "cmsy", "cmmi", "LastResort",
                                               "DejaVuMathTeX", "Display")):
            continue
        usable.setdefault(path.name, path)  # the same font installed twice counts once
    return list(usable.values())


def render_font_digits(size: int = 26, fonts: list[Path] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All digits 0-9 in every font (default ``font_files()``): uint8 [N, size, size] white on black (centred by
    ink), labels [N]."""
    from PIL import Image, ImageDraw, ImageFont

    images, labels = [], []
    for path in font_files() if fonts is None else fonts:
        try:
            font = ImageFont.truetype(str(path), int(size * 0.85))
        except OSError:
            continue
        for digit in range(10):
            canvas = Image.new("L", (size * 2, size * 2), 0)
            ImageDraw.Draw(canvas).text((size // 2, size // 4), str(digit), fill=255, font=font)
            array = np.asarray(canvas)
            ys, xs = np.nonzero(array > 32)
            if ys.size < 10:
                continue
            crop = array[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            scale = (size - 4) / max(crop.shape)
            glyph = Image.fromarray(crop).resize((max(1, round(crop.shape[1] * scale)),
                                                  max(1, round(crop.shape[0] * scale))), Image.BILINEAR)
            out = np.zeros((size, size), np.uint8)
            top, left = (size - glyph.height) // 2, (size - glyph.width) // 2
            out[top:top + glyph.height, left:left + glyph.width] = np.asarray(glyph)
            images.append(out)
            labels.append(digit)
    return np.stack(images), np.asarray(labels)


def sklearn_digits(size: int = 26) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits, upsampled to ``size`` (uint8 white on black)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy(), digits.target.astype(np.int64)


def place_on_canvas(glyphs: torch.Tensor) -> torch.Tensor:
    """[N, s, s] float in 0..1 → [N, CANVAS, CANVAS], centred."""
    size = glyphs.shape[-1]
    pad = (CANVAS - size) // 2
    return F.pad(glyphs, (pad, CANVAS - size - pad, pad, CANVAS - size - pad))


def _affine(images: torch.Tensor, generator: torch.Generator, max_rotation=15, scale=(0.75, 1.15), shift=3.0):
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_rotation)
    zoom = scale[0] + torch.rand(n, generator=generator) * (scale[1] - scale[0])
    shear = (torch.rand(n, generator=generator) * 2 - 1) * 0.2
    translation = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2 / CANVAS
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + shear, translation[:, 0]], 1),
                         torch.stack([sin, cos, translation[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _elastic(images: torch.Tensor, generator: torch.Generator, strength: float = 0.04, smooth: int = 7):
    n = images.shape[0]
    noise = torch.rand(n, 2, CANVAS, CANVAS, generator=generator) * 2 - 1
    kernel = torch.ones(2, 1, smooth, smooth) / smooth ** 2
    field = F.conv2d(F.pad(noise, (smooth // 2,) * 4, mode="reflect"), kernel, groups=2) * strength * smooth
    base = F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), images.shape, align_corners=False)
    return F.grid_sample(images, base + field.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _stroke(images: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
    """Thicken (change = 1) or thin (change = -1) strokes by one pixel; 0 leaves them."""
    dilated = F.max_pool2d(images, 3, 1, 1)
    eroded = -F.max_pool2d(-images, 3, 1, 1)
    change = change.view(-1, 1, 1, 1)
    return torch.where(change > 0, dilated, torch.where(change < 0, eroded, images))


def stylise(glyphs: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Random 2D styles for a batch of white-on-black glyph canvases [N, 1, 34, 34] in 0..1; returns uint8-range
    float images (0..255) [N, 1, 34, 34]. ``strength`` < 1 leaves that share of the batch plain (white on black,
    only moved), for a curriculum that starts easy."""
    n = glyphs.shape[0]
    plain_glyphs = glyphs
    u = lambda: torch.rand(n, generator=generator)  # noqa: E731
    x = _affine(glyphs, generator)
    elastic = u() < 0.5
    if elastic.any():
        x[elastic] = _elastic(x[elastic], generator)
    # thicker strokes often, thinner rarely (thin sklearn strokes vanish when eroded)
    x = _stroke(x, torch.where(u() < 0.35, 1, torch.where(u() < 0.1, -1, 0)))
    x = x.clamp(0, 1)
    # outline renderings: the glyph's boundary only (morphological gradient), one or two pixels wide
    outline = u() < 0.3
    if outline.any():
        ring = F.max_pool2d(x[outline], 3, 1, 1) - (-F.max_pool2d(-x[outline], 3, 1, 1))
        x[outline] = ring.clamp(0, 1)
    blur = u() < 0.3
    if blur.any():
        kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).view(1, 1, 3, 3) / 16
        x[blur] = F.conv2d(x[blur], kernel, padding=1)
    # foreground and background grey levels: white on black, black on white, either on mid-grey, low contrast
    background = torch.where(u() < 0.35, torch.full((n,), 0.5), torch.where(u() < 0.5, u() * 0.2, 1 - u() * 0.2))
    contrast = 0.5 + 0.5 * u()
    lighter = torch.where(background < 0.4, True, torch.where(background > 0.6, False, u() < 0.5))
    foreground = torch.where(lighter, background + contrast * (1 - background), background - contrast * background)
    image = background.view(-1, 1, 1, 1) + (foreground - background).view(-1, 1, 1, 1) * x
    noisy = u() < 0.5
    sigma = (noisy * 0.06 * u()).view(-1, 1, 1, 1)
    image = image + sigma * torch.randn(image.shape, generator=generator)
    # salt-and-pepper specks
    specks = (torch.rand(image.shape, generator=generator) < (0.02 * u() * (u() < 0.5)).view(-1, 1, 1, 1))
    image = torch.where(specks, torch.randint(0, 2, image.shape, generator=generator).float(), image)
    plain = (torch.rand(n, generator=generator) >= strength).view(-1, 1, 1, 1)
    image = torch.where(plain, _affine(plain_glyphs, generator), image)
    return image.clamp(0, 1) * 255


def captions_for(labels: torch.Tensor, generator: torch.Generator) -> list[str]:
    templates = torch.randint(0, len(CAPTION_TEMPLATES), (labels.shape[0],), generator=generator)
    as_word = torch.rand(labels.shape[0], generator=generator) < 0.4
    return [CAPTION_TEMPLATES[int(t)].format(DIGIT_WORDS[int(d)] if w else str(int(d)))
            for t, d, w in zip(templates, labels, as_word)]
