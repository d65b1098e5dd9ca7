"""Pictures of event frames: a strip of the T frames (PNG) or an animation (GIF), drawn with Pillow.

Pillow alone draws these (no matplotlib figure): the frames are already images, and enlarging them by an integer
factor with nearest-neighbour keeps every sensor pixel a sharp square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from neuroclip.errors import ConfigError
from neuroclip.frames.functional import NEUROCLIP_FRAMES, _is_tensor, encode
from neuroclip.outputs import atomic_write

PICTURE_SUFFIXES = (".png", ".gif")
_BACKGROUND = (255, 255, 255)
_INK = (40, 40, 40)
_FRAME = (190, 190, 190)
_TARGET_TILE_PX = 136  # smallest frame edge on the picture; N-MNIST's 34 px become 136 px (x4)


def _as_numpy(frames) -> np.ndarray:
    if _is_tensor(frames):  # a tensor can only exist once torch is imported: no import here
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1] not in (1, 2, 3):
        raise ConfigError(f"frames to draw must be [T, C, H, W] with C = 1, 2 or 3; got shape {frames.shape}")
    if frames.shape[0] == 0:
        raise ConfigError("there are no frames to draw (T = 0); use a split that gives at least one frame")
    return frames


def frame_tiles(frames) -> tuple[list[list[Image.Image]], list[str]]:
    """Rows of Pillow tiles for ``[T, C, H, W]`` frames, and a label per row.

    C = 1 or 3: one row of grey / RGB images (uint8, or floats in 0..255). C = 2 (per-polarity counts): two rows,
    OFF then ON, drawn dark on white with one scale for the whole clip (the largest count is black).
    """
    frames = _as_numpy(frames)
    if frames.shape[1] == 2:
        peak = max(float(frames.max()), 1.0)
        grey = np.round(255.0 - 255.0 * np.clip(frames, 0, None) / peak).astype(np.uint8)
        rows = [[Image.fromarray(frame[channel], "L") for frame in grey] for channel in (0, 1)]
        return rows, ["OFF", "ON"]
    pixels = np.clip(np.round(frames), 0, 255).astype(np.uint8) if frames.dtype != np.uint8 else frames
    if pixels.shape[1] == 1:
        return [[Image.fromarray(frame[0], "L") for frame in pixels]], [""]
    return [[Image.fromarray(np.moveaxis(frame, 0, -1), "RGB") for frame in pixels]], [""]


def _scale_for(height: int, width: int) -> int:
    return max(1, -(-_TARGET_TILE_PX // max(1, min(height, width))))


def grid_picture(
    rows: list[list[Image.Image]],
    row_labels: list[str] | None = None,
    *,
    scale: int | None = None,
    gap: int = 4,
    column_labels: bool = True,
) -> Image.Image:
    """Tiles in a grid, each enlarged ``scale`` times (nearest), rows labelled on the left, ``t=j`` under columns.

    Every tile is drawn in the box of the first one (scaled), so rows from sensors of one size line up.
    """
    if not rows or not rows[0]:
        raise ConfigError("there are no frames to draw")
    height, width = rows[0][0].height, rows[0][0].width
    scale = scale or _scale_for(height, width)
    if scale < 1 or gap < 0:
        raise ConfigError(f"scale must be >= 1 and gap >= 0, got {scale} and {gap}")
    row_labels = list(row_labels or [""] * len(rows))
    tile_h, tile_w = height * scale, width * scale
    font = ImageFont.load_default(size=max(11, min(18, 4 + tile_h // 10)))
    left = (max(font.getbbox(label)[2] for label in row_labels) + 2 * gap) if any(row_labels) else gap
    caption = (font.getbbox("t=0")[3] + 2 * gap) if column_labels else 0
    n_columns = max(len(row) for row in rows)
    picture = Image.new(
        "RGB", (left + n_columns * (tile_w + gap), gap + len(rows) * (tile_h + gap) + caption), _BACKGROUND
    )
    draw = ImageDraw.Draw(picture)
    for r, (row, label) in enumerate(zip(rows, row_labels, strict=True)):
        top = gap + r * (tile_h + gap)
        if label:
            draw.text((gap, top + tile_h // 2), label, fill=_INK, font=font, anchor="lm")
        for j, tile in enumerate(row):
            x0 = left + j * (tile_w + gap)
            picture.paste(tile.convert("RGB").resize((tile_w, tile_h), Image.NEAREST), (x0, top))
            if gap >= 2:  # a thin frame, so tiles with a white background stand out from the page
                draw.rectangle((x0 - 1, top - 1, x0 + tile_w, top + tile_h), outline=_FRAME)
    if column_labels:
        base = gap + len(rows) * (tile_h + gap)
        for j in range(n_columns):
            centre = left + j * (tile_w + gap) + tile_w // 2
            draw.text((centre, base + gap), f"t={j}", fill=_INK, font=font, anchor="mt")
    return picture


def strip_picture(frames, *, scale: int | None = None, gap: int = 4, labels: bool = True) -> Image.Image:
    """The T frames ``[T, C, H, W]`` side by side (two rows, OFF and ON, for counts), with ``t = j`` under each."""
    rows, row_labels = frame_tiles(frames)
    return grid_picture(rows, row_labels, scale=scale, gap=gap, column_labels=labels)


def draw_frame_grid(
    streams,
    path,
    labels: list[str] | None = None,
    *,
    encoding: str = "discrimination",
    n_frames: int = NEUROCLIP_FRAMES,
    split_by: str = "number",
    scale: int | None = None,
) -> Path:
    """One row of frames per recording (two for ``'counts'``), labelled, written to a PNG; returns the path."""
    streams = list(streams)
    if not streams:
        raise ConfigError("draw_frame_grid needs at least one recording")
    labels = list(labels) if labels is not None else [str(i) for i in range(len(streams))]
    if len(labels) != len(streams):
        raise ConfigError(f"got {len(labels)} labels for {len(streams)} recordings; give one label per recording")
    rows, row_labels = [], []
    for stream, label in zip(streams, labels, strict=True):
        stream_rows, polarity_labels = frame_tiles(encode(stream, encoding, n_frames, split_by))
        rows.extend(stream_rows)
        row_labels.extend(f"{label} {polarity}".strip() for polarity in polarity_labels)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"draw_frame_grid writes a PNG; {path.name!r} does not end in .png")
    picture = grid_picture(rows, row_labels, scale=scale)
    return atomic_write(path, lambda fp: picture.save(fp, format="PNG"))


def animation_frames(frames, *, scale: int | None = None) -> list[Image.Image]:
    """One enlarged Pillow image per frame (counts: OFF above ON), for an animation."""
    rows, _ = frame_tiles(frames)
    height, width = rows[0][0].height, rows[0][0].width
    scale = scale or _scale_for(height, width)
    images = []
    for j in range(len(rows[0])):
        image = Image.new("RGB", (width * scale, len(rows) * height * scale), _BACKGROUND)
        for r, row in enumerate(rows):
            tile = row[j].convert("RGB").resize((width * scale, height * scale), Image.NEAREST)
            image.paste(tile, (0, r * height * scale))
        images.append(image)
    return images


def save_frames_picture(frames, path, *, frame_ms: int = 100, scale: int | None = None) -> Path:
    """Write ``frames`` ``[T, C, H, W]`` as a strip (``.png``) or a looping animation (``.gif``, ``frame_ms`` each)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PICTURE_SUFFIXES:
        raise ConfigError(
            f"cannot draw frames to {path.name!r}: the output must end in .png (a strip) or .gif (an animation)"
        )
    if frame_ms < 1:
        raise ConfigError(f"frame_ms must be >= 1, got {frame_ms}")
    if not path.parent.exists():
        raise ConfigError(f"the folder {str(path.parent)!r} does not exist; create it or choose another output path")
    if suffix == ".png":
        picture = strip_picture(frames, scale=scale)
        return atomic_write(path, lambda fp: picture.save(fp, format="PNG"))
    images = animation_frames(frames, scale=scale)
    return atomic_write(path, lambda fp: images[0].save(fp, format="GIF", save_all=True, append_images=images[1:],
                                                        duration=frame_ms, loop=0))
