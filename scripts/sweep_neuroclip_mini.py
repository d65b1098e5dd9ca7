"""Compare training recipes for ``neuroclip-mini`` on the development recordings only.

    python scripts/sweep_neuroclip_mini.py [--device cuda] [--jobs 4] [--only NAME ...]

Each candidate is a full run of scripts/train_neuroclip_mini.py with some MiniTrainConfig fields changed; its weights
go to out/sweep/NAME.safetensors (never the bundled file) and its development-set accuracies (zero-shot, and
few-shot NeuroCLIP+ and linear probe over 10 draws) to out/sweep/NAME.json.
The held-out recordings are never scored here: pick the recipe from this table, then train it with
train_neuroclip_mini.py and score the held-out set once (--final).

Runs on a GPU (--device cuda) differ from CPU runs in the last bits, so the table ranks recipes; the bundled weights
come from a CPU run of the chosen one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from neuroclip.outputs import atomic_write

REPO = Path(__file__).resolve().parents[1]
HANDWRITING = {"handwriting_font_fraction": 0.5, "handwritten_fraction": 0.25}  # the defaults since this sweep
NO_HANDWRITING_FONTS = {"handwriting_font_fraction": 0.0, "handwritten_fraction": 0.5}
# results/neuroclip_mini_sweep_dev.json holds this table as measured (H100, --jobs 5 --threads 3)
CANDIDATES = {
    # the recipe of the first bundled model: printed fonts and scikit-learn's digits, half each
    "base-s0": NO_HANDWRITING_FONTS, "base-s1": NO_HANDWRITING_FONTS | {"seed": 1},
    # handwriting fonts in the mix
    "hw40-s0": {"handwriting_font_fraction": 0.4, "handwritten_fraction": 0.3},
    "hw40-s1": {"handwriting_font_fraction": 0.4, "handwritten_fraction": 0.3, "seed": 1},
    "hw50-s0": HANDWRITING, "hw50-s1": HANDWRITING | {"seed": 1},
    "hw60-s0": {"handwriting_font_fraction": 0.6, "handwritten_fraction": 0.2},
    "hw60-s1": {"handwriting_font_fraction": 0.6, "handwritten_fraction": 0.2, "seed": 1},
    "hw50-3k-s0": HANDWRITING | {"steps": 3000},
    # measured by their development few-shot score (after the table above; CPU, 2 threads)
    "hw50-4k-s0": HANDWRITING | {"steps": 4000},
}


def run(name: str, overrides: dict, device: str, threads: int, out: Path) -> dict:
    overrides = {"threads": threads} | overrides
    command = [sys.executable, str(REPO / "scripts" / "train_neuroclip_mini.py"), "--no-resume",
               "--device", device, "--work-dir", str(out / name), "--out", str(out / f"{name}.safetensors"),
               "--results", str(out / f"{name}.json"),
               "--set", *[f"{key}={value}" for key, value in overrides.items()]]
    log = out / f"{name}.log"
    with open(log, "w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        return {"name": name, "error": f"exit {code}, see {log}"}
    report = json.loads((out / f"{name}.json").read_text())
    return {"name": name, "minutes": report["train_minutes"], **report.get("nmnist_results", {})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "sweep")
    args = parser.parse_args()
    names = args.only or list(CANDIDATES)
    unknown = set(names) - set(CANDIDATES)
    if unknown:
        raise SystemExit(f"unknown candidates {sorted(unknown)}; known: {', '.join(CANDIDATES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda n: run(n, CANDIDATES[n], args.device, args.threads, args.out), names))
    atomic_write(args.out / "sweep.json", lambda fp: fp.write(json.dumps(rows, indent=1).encode()))
    for row in rows:
        values = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items() if k != "name"}
        print(row["name"], json.dumps(values))
    failed = [row["name"] for row in rows if "error" in row]
    if failed:  # a sweep with failed runs is not a result: say so in the exit code too
        raise SystemExit(f"{len(failed)} of {len(rows)} run(s) failed: {', '.join(failed)} (see their .log files)")


if __name__ == "__main__":
    main()
