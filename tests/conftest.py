"""Shared test fixtures: where the real recordings live, and skips when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
NMNIST_ROOT = SHARED_DATA / "nmnist"
FORMATS_ROOT = SHARED_DATA / "formats"


def real_file(relative: str) -> Path:
    """Path of a real recording under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real recording {path} is absent (it ships beside the repository, not inside it)")
    return path


def nmnist_files() -> list[Path]:
    files = sorted(NMNIST_ROOT.glob("Train/*/*.bin"))
    if not files:
        pytest.skip(f"real N-MNIST recordings are absent from {NMNIST_ROOT}")
    return files
