"""The stored benchmark results stay readable: each GPU run's CSV is its JSON's numbers, row for row, and the
README's held-out zero-shot table is its result files' numbers."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def leaves(value):
    if isinstance(value, dict):
        return sum(leaves(item) for item in value.values())
    return 1


@pytest.mark.parametrize("stored", sorted((REPO / "results").glob("gpu_paths_*.json")), ids=lambda p: p.stem)
def test_gpu_paths_csv_is_the_stored_json(stored, tmp_path):
    out = tmp_path / "gpu.csv"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_paths.py"), "--from-json", str(stored),
                           "--csv", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(stored.read_text())
    with open(out, newline="") as fp:
        rows = list(csv.DictReader(fp))
    nested = {key: value for key, value in results.items() if isinstance(value, (dict, list))}
    assert len(rows) == sum(leaves(value) for value in nested.values())
    assert {row["device"] for row in rows} == {results["device"]}
    e2e = results["end to end zero-shot, 640x480, 1M events"]
    row = next(r for r in rows if r["section"] == "end to end zero-shot, 640x480, 1M events"
               and r["metric"] == "loader_only_recordings_s")
    assert float(row["value"]) == e2e["loader_only_recordings_s"]
    assert stored.with_suffix(".csv").read_text() == out.read_text()  # the committed CSV is current


def test_gpu_paths_from_json_without_csv_is_one_clear_error(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_paths.py"), "--from-json",
                           str(tmp_path / "missing.json"), "--csv", str(tmp_path / "x.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot read it as JSON" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("encoding", ["discrimination", "eventclip", "voxel_grid", "eventbind", "time_surface"])
def test_readme_zero_shot_table_is_the_stored_results(encoding):
    """The README's held-out zero-shot row of an encoding gives the top-1 and top-5 of its result files, as they
    are and centred, in that order."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{encoding}`") and "centred" not in line
               and line.count("|") == 8)
    shown = [float(value) for value in re.findall(r"([0-9.]+)%", row)[:4]]
    stored = []
    for suffix in ("", "_centred"):
        result = json.loads((REPO / "results" / f"nmnist_heldout_mini_zeroshot_{encoding}{suffix}.json").read_text())
        stored += [round(100 * result["top1"], 1), round(100 * result["top5"], 1)]
        assert (result["config"].get("center_on") is not None) == (suffix == "_centred")
    assert shown == stored
