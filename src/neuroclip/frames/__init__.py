"""Event frames: NeuroCLIP's event-frame module and the encodings later methods use.

A stream is split into T segments, counted per polarity and pixel into ``[T, 2, H, W]``, encoded as images, and
turned into CLIP input. Pure numpy functions live in :mod:`neuroclip.frames.functional` (which does not import
torch), their batched torch forms and CLIP input in :mod:`neuroclip.frames.tensors`; :mod:`neuroclip.frames.transforms`
wraps them in frozen dataclasses; :mod:`neuroclip.frames.clip_input` holds :class:`FrameConfig`, the one description of
recording -> CLIP input; :mod:`neuroclip.frames.draw` draws them.

The submodules load on first use (PEP 562), so :mod:`neuroclip.frames.names` (the encodings and NeuroCLIP's
defaults) is importable without torch: the command line lists and checks them before anything heavy is loaded. The
tuples below are the one list of what the package exports.
"""

from __future__ import annotations

import importlib

_FROM_FUNCTIONAL = (
    "CLIP_INPUT_SIZE",
    "CLIP_MEAN",
    "CLIP_STD",
    "COUNT_ENCODINGS",
    "DISCRIMINATION_THRESHOLDS",
    "ENCODINGS",
    "NEUROCLIP_FRAMES",
    "SPLIT_METHODS",
    "count_frames",
    "discrimination",
    "encode",
    "eventbind_colour",
    "eventclip_histogram",
    "images_from_counts",
    "integrate_segments",
    "segment_bounds",
    "split_by_count",
    "split_by_number",
    "split_by_time",
    "split_by_window",
    "time_surface",
    "time_surface_image",
    "voxel_grid",
    "voxel_grid_image",
)
_FROM_TENSORS = ("EventBatch", "batch_count_frames", "stack_events", "to_clip_input")
_FROM_CLIP_INPUT = ("FrameConfig", "clip_frames", "clip_frames_batch", "frames_on_device", "student_frames")
_FROM_TRANSFORMS = (
    "Compose",
    "Discrimination",
    "EncodeFrames",
    "EventBindColour",
    "EventCLIPHistogram",
    "NeuroCLIPFrames",
    "TimeSurfaceImage",
    "ToCLIPInput",
    "ToCountFrames",
    "ToTimeSurface",
    "ToVoxelGrid",
    "VoxelGridImage",
)


def __getattr__(name: str):
    if name in _FROM_FUNCTIONAL:
        return getattr(importlib.import_module("neuroclip.frames.functional"), name)
    if name in _FROM_TENSORS:
        return getattr(importlib.import_module("neuroclip.frames.tensors"), name)
    if name in _FROM_CLIP_INPUT:
        return getattr(importlib.import_module("neuroclip.frames.clip_input"), name)
    if name in _FROM_TRANSFORMS:
        return getattr(importlib.import_module("neuroclip.frames.transforms"), name)
    raise AttributeError(f"module 'neuroclip.frames' has no attribute {name!r}")


__all__ = sorted([*_FROM_FUNCTIONAL, *_FROM_TENSORS, *_FROM_CLIP_INPUT, *_FROM_TRANSFORMS])
