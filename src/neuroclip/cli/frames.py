"""``neuroclip frames FILE --out PATH``: draw a recording's event frames as a PNG strip or a GIF animation.

The CLI registers :func:`frames_command`; the work is done by :func:`neuroclip.frames.encode` and
:func:`neuroclip.frames.draw.save_frames_picture`. Only torch-free names are imported here, so the command line
starts fast; user mistakes raise neuroclip errors, which the CLI prints on one line (exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuroclip.cli.options import (
    DecayOption,
    FormatOption,
    HotPixelOption,
    LayoutOption,
    SensorSizeOption,
    check_encoding_options,
    check_split_and_encoding_parameters,
    read_options,
)
from neuroclip.errors import ConfigError
from neuroclip.frames.names import ENCODINGS, NEUROCLIP_FRAMES, check_encoding, encoding_parts

_ENCODING_HELP = f"One of: {', '.join(ENCODINGS)}. The default is NeuroCLIP's; a pair (a+b) draws T frames of each."
# a strip wider than this many frames is unreadable as a picture (and costs memory in proportion)
MAX_DRAWN_FRAMES = 1000


def frames_command(
    file: Annotated[Path, typer.Argument(help="Recording to draw, in any format neuroclip reads.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output picture: .png for a strip of the frames, .gif for an animation.")
    ],
    encoding: Annotated[str, typer.Option("--encoding", "-e", help=_ENCODING_HELP)] = "discrimination",
    frames: Annotated[int, typer.Option("--frames", "-T", min=1, help="Number of frames T.")] = NEUROCLIP_FRAMES,
    split_by: Annotated[
        str, typer.Option("--split-by", help="'number': equal event counts (NeuroCLIP); 'time': equal durations.")
    ] = "number",
    threshold: Annotated[
        float, typer.Option("--threshold", min=0, help="discrimination encoding: the map's threshold (NeuroCLIP: 0, "
                                                       "CIFAR10-DVS 1).")
    ] = 0.0,
    hot_pixel_sigmas: HotPixelOption = 10.0,
    decay_us: DecayOption = 50_000.0,
    format: FormatOption = None,
    layout: LayoutOption = None,
    sensor_size: SensorSizeOption = None,
    context: typer.Context = None,  # given by the command line; a Python caller leaves it out
) -> None:
    """Draw the T event frames of a recording (NeuroCLIP's discrimination map by default)."""
    from neuroclip.outputs import check_output_file

    encoding = check_encoding(encoding)
    check_split_and_encoding_parameters(split_by, hot_pixel_sigmas, decay_us)
    if context is not None:
        check_encoding_options(context, encoding)
    if frames * len(encoding_parts(encoding)) > MAX_DRAWN_FRAMES:  # a pair of encodings draws T frames of each
        raise ConfigError(f"--frames {frames} of {encoding}: a picture of more than {MAX_DRAWN_FRAMES} frames cannot "
                          "be read; draw fewer frames")
    check_output_file(out, "--out", suffixes=(".png", ".gif"))
    from neuroclip.frames.draw import save_frames_picture
    from neuroclip.frames.streamed import encode_recording

    # a file in a streamed format is read piece by piece: a recording larger than memory draws as any other
    pictures, n_events = encode_recording(file, encoding, frames, split_by, threshold=threshold,
                                          hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us, format=format,
                                          **read_options(layout, sensor_size))
    written = save_frames_picture(pictures, out)
    how = ", then ".join(f"{part}, " + ("equal time bins over the whole stream" if part == "voxel_grid" else
                                         f"split by {split_by}") for part in encoding_parts(encoding))
    typer.echo(f"wrote {written}: {len(pictures)} frames ({how}) of {n_events} events")
