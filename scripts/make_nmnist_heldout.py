"""Lay the 500 real N-MNIST recordings of ../shared/data out as an N-MNIST folder for measurements:

    python scripts/make_nmnist_heldout.py [SOURCE] [DEST]      (defaults: ../shared/data/nmnist out/nmnist-heldout)

DEST/Train/<digit>/ links the development recordings (the first 20 of each digit, by file name) and DEST/Test/<digit>/
the held-out final recordings (the rest, about 30 per digit). Everything about the bundled model and its default
settings was chosen on the development recordings; the README's numbers on this folder's Test split are the final
check. The recordings are linked, not copied.
"""

import sys
from pathlib import Path

from neuroclip.datasets.nmnist import link_nmnist_split
from neuroclip_mini.train import DEVELOPMENT_PER_DIGIT

REPO = Path(__file__).resolve().parents[1]


def main():
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "nmnist"
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "out" / "nmnist-heldout"
    counts = link_nmnist_split(source / "Train", dest, DEVELOPMENT_PER_DIGIT)
    print(f"{dest}: Train (development) {counts['Train']} recordings, Test (held out) {counts['Test']} recordings")


if __name__ == "__main__":
    main()
