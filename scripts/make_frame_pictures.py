"""Draw the README's event-frame pictures into docs/images/ from the real N-MNIST recordings in ../shared/data.

    python scripts/make_frame_pictures.py [--data ../shared/data] [--out docs/images]

Writes, for one real recording (Train/3/00011.bin, the README's example, else the first one found):

* ``frames_nmnist.png``: its T = 10 frames in NeuroCLIP's discrimination encoding;
* ``frames_<encoding>.png``: the same recording in every encoding of ``neuroclip.frames.ENCODINGS``;
* ``frames_nmnist_digits.png``: one real recording per digit, discrimination encoding, one row each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import neuroclip
from neuroclip.frames import ENCODINGS, encode
from neuroclip.frames.draw import draw_frame_grid, save_frames_picture

REPO = Path(__file__).resolve().parents[1]
PREFERRED = Path("Train") / "3" / "00011.bin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()

    root = args.data / "nmnist"
    files = sorted(root.glob("Train/*/*.bin"))
    if not files:
        raise SystemExit(f"no N-MNIST recordings under {root}; pass --data pointing at the shared data folder")
    recording = root / PREFERRED if (root / PREFERRED).exists() else files[0]
    args.out.mkdir(parents=True, exist_ok=True)

    stream = neuroclip.read_events(recording)
    print(f"{recording.relative_to(root)}: {stream}")
    written = [save_frames_picture(encode(stream, "discrimination"), args.out / "frames_nmnist.png")]
    for name in ENCODINGS:
        written.append(save_frames_picture(encode(stream, name), args.out / f"frames_{name}.png"))

    per_digit = [sorted(root.glob(f"Train/{digit}/*.bin"))[0] for digit in range(10)]
    written.append(
        draw_frame_grid(
            [neuroclip.read_events(path) for path in per_digit],
            args.out / "frames_nmnist_digits.png",
            labels=[path.parent.name for path in per_digit],
        )
    )
    for path in written:
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


if __name__ == "__main__":
    main()
