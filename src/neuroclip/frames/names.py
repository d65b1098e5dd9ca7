"""The names and constants of the frame module (encodings, split methods, NeuroCLIP's defaults), importable without
torch, so that the command line can list them in its help and check them before loading anything heavy."""

from __future__ import annotations

from neuroclip.errors import ConfigError

# NeuroCLIP configs: MODEL.PROJECT.NUM_TIMES = 10 in every shipped config.
NEUROCLIP_FRAMES = 10
# CLIP's input resolution, which NeuroCLIP uses for every backbone.
CLIP_INPUT_SIZE = 224
# OpenAI CLIP preprocessing (clip/clip.py, _transform: Normalize(mean, std)).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# NeuroCLIP's discrimination threshold per dataset: "> 0" in mv_proj; its comment asks for th = 1 on CIFAR10-DVS.
DISCRIMINATION_THRESHOLDS = {"nmnist": 0, "esimagenet": 0, "cifar10dvs": 1}
# NeuroCLIP's grey levels: background, polarity-0 (OFF) pixels, polarity-1 (ON) pixels.
GREY, OFF_LEVEL, ON_LEVEL = 127, 255, 0

SPLIT_METHODS = ("number", "time", "count", "window")
NORMALIZATIONS = ("neuroclip", "clip", "none")

# --------------------------------------------------------------------------------------------------- named encodings

ENCODINGS = {
    "discrimination": "NeuroCLIP: grey 127, OFF pixels white (255), ON pixels black (0); uint8 [T, 1, H, W]",
    "counts": "raw per-polarity event counts, channel 0 OFF and 1 ON; int32 [T, 2, H, W] (not an image)",
    "eventclip": "EventCLIP: grey event histogram on white, hot pixels removed; uint8 [T, 1, H, W]",
    "eventbind": "EventBind: white background, ON red, OFF blue, both black; uint8 [T, 3, H, W]",
    "time_surface": "exponential time surface at each frame's end, ON red and OFF blue on black; uint8 [T, 3, H, W]",
    "voxel_grid": "voxel grid with T time bins over the whole stream, grey 128 = no change; uint8 [T, 1, H, W]",
    # ours: two framings of one recording as one sequence of 2T images (CLIP encodes each image alone, so the
    # features are those of both encodings side by side); the partner of discrimination was chosen on the
    # development recordings (scripts/encoding_pairs_dev.py, results/encoding_pairs_dev.json)
    "discrimination+voxel_grid": "ours: the T discrimination frames, then the T voxel-grid frames; uint8 [2T, 1, H, W]",
}

# the settings each encoding reads besides T (FrameConfig's and encode's names); it ignores the others: the voxel
# grid has its own time bins, so even split_by (a test checks this table against what the encodings make)
ENCODING_PARAMETERS = {
    "discrimination": ("split_by", "threshold"),
    "counts": ("split_by",),
    "eventclip": ("split_by", "hot_pixel_sigmas"),
    "eventbind": ("split_by",),
    "time_surface": ("split_by", "decay_us"),
    "voxel_grid": (),
}
# a pair reads what its parts read
ENCODING_PARAMETERS |= {name: tuple(dict.fromkeys(setting for part in name.split("+")
                                                  for setting in ENCODING_PARAMETERS[part]))
                        for name in ENCODINGS if "+" in name}


def check_encoding(encoding: str) -> str:
    """The canonical name of an encoding (hyphens accepted for underscores), or :class:`ConfigError` listing them."""
    name = str(encoding).strip().lower().replace("-", "_")
    if name not in ENCODINGS:
        raise ConfigError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    return name


def encoding_parts(encoding: str) -> tuple[str, ...]:
    """The encodings whose frames an encoding puts one after the other: itself, or the parts of a name joined by
    ``+`` (``discrimination+voxel_grid``: T discrimination frames, then T voxel-grid frames)."""
    return tuple(encoding.split("+"))


def check_frame_count(n_frames: int, n_events: int, duration_us: int, split_by: str = "number") -> int:
    """``n_frames`` if a recording of ``n_events`` events over ``duration_us`` can fill that many frames, else a
    :class:`ConfigError` with the bound: split by number, a frame needs at least one event; split by time, a frame
    spans at least one microsecond (the timestamps' resolution). More frames would only add empty ones, at a cost
    that grows with T (CLIP runs once per frame)."""
    if split_by == "time":
        limit, unit = max(int(duration_us), 1), f"it lasts {int(duration_us)} µs and a frame spans at least 1 µs"
    else:
        limit, unit = max(int(n_events), 1), f"it has {int(n_events)} events and a frame needs at least one"
    if n_frames > limit:
        raise ConfigError(f"{n_frames} frames is more than this recording can fill ({unit}); use --frames {limit} "
                          "or fewer (NeuroCLIP uses 10)")
    return n_frames
