"""Draw docs/images/simulated_vs_real_nmnist.png: real N-MNIST recordings next to simulated ones of the same digits,
with their event statistics.

    python scripts/make_simulation_picture.py
"""

from pathlib import Path

import numpy as np

from neuroclip.demo import render_digit
from neuroclip.events import read_events
from neuroclip.events.simulate import nmnist_recording
from neuroclip.frames.draw import draw_frame_grid

REPO = Path(__file__).resolve().parents[1]
NMNIST = REPO.parent / "shared" / "data" / "nmnist" / "Train"


def main():
    digits = (0, 3, 7)
    real = [read_events(sorted((NMNIST / str(d)).glob("*.bin"))[0]) for d in digits]
    simulated = [nmnist_recording(render_digit(d), seed=d) for d in digits]
    streams, labels = [], []
    for d, r, s in zip(digits, real, simulated):
        streams += [r, s]
        labels += [f"real {d}: {len(r)} ev, {r.duration / 1000:.0f} ms, ON {r.on_fraction:.2f}",
                   f"sim. {d}: {len(s)} ev, {s.duration / 1000:.0f} ms, ON {s.on_fraction:.2f}"]
    out = draw_frame_grid(streams, REPO / "docs" / "images" / "simulated_vs_real_nmnist.png", labels=labels)
    print(out, np.mean([len(s) for s in simulated]))


if __name__ == "__main__":
    main()
