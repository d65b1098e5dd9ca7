"""The options several commands share, defined once: one name, one meaning, one help text (typer's Annotated
aliases: ``frames: FramesOption = 10``). Torch-free, so that the command line starts fast."""

from __future__ import annotations

from typing import Annotated

import typer

from neuroclip.datasets.classnames import CLASSNAME_SETS
from neuroclip.frames.names import ENCODINGS

MODEL_HELP = ("CLIP: neuroclip-mini (bundled, offline), an open_clip model name (ViT-B-32, RN50, ... see "
              "open_clip.list_models()), hf-hub:ORG/NAME or local-dir:FOLDER.")
PRETRAINED_HELP = ("Weights for --model: a pretrained tag (openai, laion2b_s34b_b79k, ...), a checkpoint file, or "
                   "none for random weights. Default: openai for open_clip models, the bundled weights for "
                   "neuroclip-mini.")
CLASSNAMES_HELP = (f"Class names: a set ({', '.join(n for n in CLASSNAME_SETS if n != 'imagenet')}) or a "
                   "comma-separated list in label order. Default: the dataset's.")
THRESHOLD_HELP = "Discrimination threshold. Default: the dataset's NeuroCLIP value (1 for CIFAR10-DVS, else 0)."
TEMPLATE_HELP = ("Prompt template: one with {}, a set (neuroclip, clip-imagenet, simple, nmnist-search, "
                 "spikeclip-<dataset>) or a file of templates. Default: the dataset's NeuroCLIP template.")
DEVICE_HELP = "cpu, cuda, cuda:N or mps. Default: cuda if present."


ENCODING_HELP = ("Event-frame encoding: " + ", ".join(name for name in ENCODINGS if name != "counts")
                 + ". A pair (a+b) makes T frames of each part.")
# the fusions of neuroclip.clip.zeroshot.FUSIONS (a test checks the list), named here without importing torch
FUSION_HELP = "How frame scores are fused: mean_cosine (NeuroCLIP), concat, mean_feature, max, weighted."


ModelOption = Annotated[str, typer.Option("--model", help=MODEL_HELP)]
PretrainedOption = Annotated[str | None, typer.Option("--pretrained", help=PRETRAINED_HELP)]
ClassnamesOption = Annotated[str | None, typer.Option("--classnames", "--classes", help=CLASSNAMES_HELP)]
TemplateOption = Annotated[str | None, typer.Option("--template", help=TEMPLATE_HELP)]
FramesOption = Annotated[int, typer.Option("--frames", min=1, help="Number of frames T (at most one per event).")]
SplitByOption = Annotated[str, typer.Option("--split-by", help="number (equal counts) or time (equal durations).")]
EncodingOption = Annotated[str, typer.Option("--encoding", help=ENCODING_HELP)]
ThresholdOption = Annotated[float | None, typer.Option("--threshold", min=0, help=THRESHOLD_HELP)]
NormalizationOption = Annotated[str, typer.Option("--normalization", help="neuroclip (x/255-0.5), clip (the "
                                                                         "backbone's mean/std) or none.")]
HotPixelOption = Annotated[float, typer.Option("--hot-pixel-sigmas", help="eventclip encoding: pixels whose "
                                                "count is this many standard deviations above the mean are clipped.")]
DecayOption = Annotated[float, typer.Option("--decay-us", help="time_surface encoding: the exponential decay "
                                            "constant, in microseconds.")]
FusionOption = Annotated[str, typer.Option("--fusion", help=FUSION_HELP)]
WorkersOption = Annotated[int | None, typer.Option("--workers", min=0, help="DataLoader worker processes (default: "
                                                   "0 on the CPU; with a GPU, this process's cores less one, at "
                                                   "most 16).")]
DeviceOption = Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)]
FormatOption = Annotated[str | None, typer.Option("--format", help="Force a reader (see neuroclip formats) instead "
                                                                   "of detecting the format.")]
LayoutOption = Annotated[str | None, typer.Option("--layout", help="AEDAT 2.0 address layout: jaer (the camera "
                                                                   "software's view, default) or cifar10dvs "
                                                                   "(spikingjelly's CIFAR10-DVS mapping).")]


SensorSizeOption = Annotated[str | None, typer.Option("--sensor-size", help="WIDTHxHEIGHT of the sensor, for "
                                                                           "files that do not say it (e.g. 640x480).")]


def check_split_and_encoding_parameters(split_by: str, hot_pixel_sigmas: float, decay_us: float) -> None:
    """--split-by, --hot-pixel-sigmas and --decay-us, checked before anything is read or loaded (every command that
    makes frames)."""
    import math

    from neuroclip.errors import ConfigError

    if split_by not in ("number", "time"):
        raise ConfigError(f"--split-by must be number (equal event counts) or time (equal durations), got {split_by!r}")
    for flag, value in (("--hot-pixel-sigmas", hot_pixel_sigmas), ("--decay-us", decay_us)):
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{flag} must be a finite number > 0, got {value}")


def read_options(layout: str | None = None, sensor_size: str | None = None) -> dict:
    """The reader options a command's --layout and --sensor-size ask for (none when not given)."""
    from neuroclip.errors import ConfigError

    options = {"layout": layout} if layout else {}
    if sensor_size:
        width, sep, height = sensor_size.lower().partition("x")
        if not sep or not width.strip().isdigit() or not height.strip().isdigit() or min(int(width), int(height)) < 1:
            raise ConfigError(f"--sensor-size {sensor_size!r}: give WIDTHxHEIGHT in pixels, e.g. 640x480")
        options["sensor_size"] = (int(width), int(height))
    return options


# options that shape CLIP's input or choose CLIP: a saved adapter or a SpikeCLIP brings its own
CLIP_FRAME_OPTIONS = ("model", "pretrained", "frames", "split_by", "encoding", "threshold", "hot_pixel_sigmas",
                      "decay_us", "normalization", "fusion")


def given_names(context: typer.Context, names) -> list[str]:
    """Those of the parameters ``names`` that the user gave, on the command line or in the environment, even with
    their default value: an option passed and then ignored is a mistake to report."""
    # compared by name: recent typer releases carry their own copy of click's ParameterSource
    sources = {name: getattr(context.get_parameter_source(name), "name", None) for name in names}
    return [name for name in names if sources[name] in ("COMMANDLINE", "ENVIRONMENT")]


def _flags(context: typer.Context) -> dict[str, str]:
    """Each parameter's flag (``frames`` -> ``--frames``)."""
    return {param.name: param.opts[0] for param in context.command.params}


def given_options(context: typer.Context, names) -> list[str]:
    """The flags (``--frames``, ...) of :func:`given_names`."""
    flags = _flags(context)
    return [flags[name] for name in given_names(context, names)]


def check_encoding_options(context: typer.Context, encoding: str) -> None:
    """Refuse --split-by, --threshold, --hot-pixel-sigmas and --decay-us given with an encoding that does not read
    them (every command that makes frames); the encoding is already checked."""
    from neuroclip.errors import ConfigError
    from neuroclip.frames.names import ENCODING_PARAMETERS

    unused = [name for name in ("split_by", "threshold", "hot_pixel_sigmas", "decay_us")
              if name not in ENCODING_PARAMETERS[encoding]]
    ignored = given_names(context, unused)
    if ignored:
        flags = _flags(context)
        readers = "; ".join(f"{flags[name]} is read by "
                            f"{', '.join(e for e, used in ENCODING_PARAMETERS.items() if name in used)}"
                            for name in ignored)
        raise ConfigError(f"{', '.join(flags[name] for name in ignored)}: the {encoding} encoding does not use it "
                          f"({readers}); drop it or change --encoding")
