"""``neuroclip frames FILE --out PATH``: draw a recording's event frames as a PNG strip or a GIF animation.

The CLI registers :func:`frames_command`; the work is done by :func:`neuroclip.frames.encode` and
:func:`neuroclip.frames.draw.save_frames_picture`. User mistakes raise neuroclip errors, which the CLI prints on one
line (exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuroclip.errors import ConfigError
from neuroclip.events.io import read_events
from neuroclip.frames import functional as FF
from neuroclip.frames.draw import save_frames_picture

_ENCODING_HELP = f"One of: {', '.join(FF.ENCODINGS)}. The default is NeuroCLIP's."


def frames_command(
    file: Annotated[Path, typer.Argument(help="Recording to draw, in any format neuroclip reads.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output picture: .png for a strip of the frames, .gif for an animation.")
    ],
    encoding: Annotated[str, typer.Option("--encoding", "-e", help=_ENCODING_HELP)] = "discrimination",
    frames: Annotated[int, typer.Option("--frames", "-T", help="Number of frames T.")] = FF.NEUROCLIP_FRAMES,
    split_by: Annotated[
        str, typer.Option("--split-by", help="'number': equal event counts (NeuroCLIP); 'time': equal durations.")
    ] = "number",
) -> None:
    """Draw the T event frames of a recording (NeuroCLIP's discrimination map by default)."""
    encoding = FF.check_encoding(encoding)
    if split_by not in ("number", "time"):
        raise ConfigError(f"--split-by must be 'number' or 'time', got {split_by!r}")
    FF._check_int("--frames", frames, 1)
    suffix = Path(out).suffix.lower()
    if suffix not in (".png", ".gif"):
        raise ConfigError(f"--out {out}: the output must end in .png (a strip) or .gif (an animation)")
    stream = read_events(file).require_events()
    pictures = FF.encode(stream, encoding, frames, split_by)
    written = save_frames_picture(pictures, out)
    how = "equal time bins over the whole stream" if encoding == "voxel_grid" else f"split by {split_by}"
    typer.echo(f"wrote {written}: {frames} frames ({encoding}, {how}) of {len(stream)} events")
