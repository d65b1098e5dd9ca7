"""Regenerate tests/data/zeroshot_nmnist_tiny.npz: the zero-shot logits of a fixed tiny CLIP on real N-MNIST files.

Run only when the pipeline's output is meant to change, and say why in the commit:
    python tests/make_regression_reference.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_zeroshot import REFERENCE, regression_logits  # noqa: E402

if __name__ == "__main__":
    files, logits = regression_logits()
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez(REFERENCE, files=np.array(files), logits=logits.numpy())
    print(f"wrote {REFERENCE}: logits {tuple(logits.shape)} for {len(files)} recordings")
