"""Shared test fixtures: where the real recordings live, and skips when they are absent.

The real recordings sit beside the repository in ../shared/data (CI has them). A clone without them runs the key
tests on the small real samples in tests/data/samples (see its README for their provenance); tests that need the
whole set skip with the reason. ``NEUROCLIP_SHARED_DATA=/nonexistent pytest`` runs the suite as such a clone does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = Path(__file__).resolve().parent / "data" / "samples"
_SHARED = Path(os.environ.get("NEUROCLIP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
USING_SAMPLES = not (_SHARED / "nmnist").is_dir()
SHARED_DATA = SAMPLE_DATA if USING_SAMPLES else _SHARED
NMNIST_ROOT = SHARED_DATA / "nmnist"
FORMATS_ROOT = SHARED_DATA / "formats"


def real_file(relative: str) -> Path:
    """Path of a real recording under ../shared/data (or the samples), or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real recording {_SHARED / relative} is absent (it ships beside the repository, not inside it)")
    return path


def nmnist_files() -> list[Path]:
    files = sorted(NMNIST_ROOT.glob("Train/*/*.bin"))
    if not files:
        pytest.skip(f"real N-MNIST recordings are absent from {NMNIST_ROOT}")
    return files


def needs_all_recordings() -> None:
    """Skip a test that counts or splits the whole set of 500 real N-MNIST recordings when only samples exist."""
    if USING_SAMPLES:
        pytest.skip(f"needs the 500 real N-MNIST recordings of {_SHARED / 'nmnist'}; tests/data/samples has 50")


@pytest.fixture
def one_cpu_thread():
    """One CPU thread for the test: small tensors gain nothing from more, runs in this process and in helper
    processes then reduce in the same order (bit-identical results), and a busy 2-core machine is not
    oversubscribed. Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_cpu_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
