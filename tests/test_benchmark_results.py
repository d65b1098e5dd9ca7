"""The stored benchmark results stay readable: each GPU run's CSV is its JSON's numbers, row for row, and the
README's result tables (held-out zero-shot and few-shot, the development frames sweep) are their files' numbers."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroclip.frames.names import ENCODINGS

REPO = Path(__file__).resolve().parents[1]


def leaves(value):
    if isinstance(value, dict):
        return sum(leaves(item) for item in value.values())
    return 1


def readme_table(header: str) -> list[list[str]]:
    """The body rows of the README table whose header line starts with ``header``, as stripped cells."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def readme_text() -> str:
    """The README as one line, its whitespace runs single spaces: prose figures can be found across line breaks."""
    return " ".join((REPO / "README.md").read_text(encoding="utf-8").split())


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


@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
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


FEWSHOT_TABLES = {  # the first cell of a README few-shot table -> its result file
    "(a) discrimination": "nmnist_heldout_mini_fewshot.json",
    "(b) eventbind (large gap)": "nmnist_heldout_mini_fewshot_eventbind.json",
    "(c) voxel_grid (strong zero-shot)": "nmnist_heldout_mini_fewshot_voxel_grid.json",
    "(d) time_surface (large gap)": "nmnist_heldout_mini_fewshot_time_surface.json",
    "(a) discrimination, 10 draws": "nmnist_heldout_mini_fewshot_10seeds.json",
    "(e) discrimination, T = 40": "nmnist_heldout_mini_fewshot_T40.json",
    "(f) eventbind, T = 40": "nmnist_heldout_mini_fewshot_eventbind_T40.json",
    "(g) discrimination+voxel_grid": "nmnist_heldout_mini_fewshot_discrimination_voxel_grid.json",
}
FEWSHOT_LABELS = {"zero-shot": "zeroshot", "NeuroCLIP adapter (`neuroclip`, as released)": "neuroclip",
                  "NeuroCLIP+ (`neuroclip-plus`, ours)": "neuroclip-plus", "Tip-Adapter": "tip",
                  "Tip-Adapter-F": "tip-f", "linear probe": "linear"}


@pytest.mark.parametrize("heading", list(FEWSHOT_TABLES))
def test_readme_few_shot_table_is_the_stored_results(heading):
    """Each method row of a README few-shot table gives the mean ± std of its result file's summary, per K."""
    import re

    rows = {}
    for cells in readme_table(f"| {heading} | 1 shot"):
        label = cells[0].replace("**", "")
        if label in FEWSHOT_LABELS:
            rows[FEWSHOT_LABELS[label]] = [[float(v) for v in re.findall(r"[0-9.]+", c.replace("**", ""))]
                                           for c in cells[1:]]
    assert set(rows) == set(FEWSHOT_LABELS.values())
    result = json.loads((REPO / "results" / FEWSHOT_TABLES[heading]).read_text())
    summary = {(e["method"], e["shots"]): e for e in result["summary"]}
    shots = result["config"]["shots"]
    for method, cells in rows.items():
        for k, shown in zip(shots, cells):
            entry = summary[(method, 0 if method == "zeroshot" else k)]
            stored = [round(100 * entry["top1_mean"], 1)]
            if method != "zeroshot":
                stored.append(round(100 * entry["top1_std"], 1))
            assert shown == stored, (method, k)


def _script_choose(module: str):
    """The ``choose`` rule of a development script in scripts/."""
    import importlib

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        return importlib.import_module(module).choose
    finally:
        sys.path.remove(str(REPO / "scripts"))


def test_readme_more_frames_runs_use_the_frames_the_development_sweep_chose():
    """The README's held-out T = 40 runs use the T that ``frames_sweep_dev.choose`` picks from the stored sweep, and
    the stored files were run with it."""
    choose = _script_choose("frames_sweep_dev")
    sweep = json.loads((REPO / "results" / "frames_sweep_dev.json").read_text())
    chosen = choose(sweep["rows"])
    assert chosen == sweep["chosen_frames"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("nmnist_heldout_mini_fewshot_T40", "nmnist_heldout_mini_fewshot_eventbind_T40"):
        assert name == name.replace("T40", f"T{chosen}")
        command = next(block for block in readme.split("neuroclip fewshot")[1:] if f"results/{name}.json" in block)
        assert f"--frames {chosen} " in command.split("--out")[0]
        result = json.loads((REPO / "results" / f"{name}.json").read_text())
        assert result["config"]["frames"]["n_frames"] == chosen


def test_readme_frames_sweep_table_is_the_stored_sweep():
    """Each row of the README's development T sweep gives the stored mean over K of every method, both encodings."""
    import re

    sweep = json.loads((REPO / "results" / "frames_sweep_dev.json").read_text())
    means = {(row["encoding"], row["frames"], row["method"]): round(float(np.mean(row["top1"])), 1)
             for row in sweep["rows"]}
    shown_frames = []
    for cells in readme_table("| T | discrimination: zero-shot"):
        frames = int(re.match(r"\**(\d+)", cells[0]).group(1))
        shown_frames.append(frames)
        expected = [means[(encoding, frames, method)] for encoding in ("discrimination", "eventbind")
                    for method in ("zeroshot", "neuroclip-plus", "tip", "tip-f", "linear")]
        assert [float(cell.replace("*", "")) for cell in cells[1:]] == expected, frames
    assert shown_frames == sorted({row["frames"] for row in sweep["rows"]})


TEN_DRAW_ROWS = {  # the first cell of a README ten-draw NeuroCLIP+ row -> its result file
    "(c) voxel_grid: NeuroCLIP+": "nmnist_heldout_mini_fewshot_voxel_grid_10seeds.json",
    "(d) time_surface: NeuroCLIP+": "nmnist_heldout_mini_fewshot_time_surface_10seeds.json",
    "(e) discrimination: NeuroCLIP+": "nmnist_heldout_mini_fewshot_T40_10seeds.json",
    "(f) eventbind: NeuroCLIP+": "nmnist_heldout_mini_fewshot_eventbind_T40_10seeds.json",
    "(g) discrimination+voxel_grid: NeuroCLIP+": "nmnist_heldout_mini_fewshot_discrimination_voxel_grid_10seeds.json",
}


@pytest.mark.parametrize("start", list(TEN_DRAW_ROWS))
def test_readme_ten_draw_rows_are_the_stored_results(start):
    """A README ten-draw row gives its file's zero-shot top-1 and NeuroCLIP+'s mean top-1 per K."""
    import re

    line = next(line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
                if line.startswith(f"| {start} (zero-shot "))
    zero_shot = float(re.search(r"\(zero-shot ([0-9.]+)\)", line).group(1))
    shown = [float(cell) for cell in line.strip("|").split("|")[1:]]
    result = json.loads((REPO / "results" / TEN_DRAW_ROWS[start]).read_text())
    assert len(result["config"]["seeds"]) == 10
    summary = {(e["method"], e["shots"]): e["top1_mean"] for e in result["summary"]}
    assert zero_shot == round(100 * summary[("zeroshot", 0)], 1)
    assert shown == [round(100 * summary[("neuroclip-plus", k)], 1) for k in result["config"]["shots"]]


def test_readme_encoding_pairs_table_is_the_stored_run_and_its_choice():
    """The README's development table of encoding pairs gives the stored mean over K of every method; the pair the
    README's held-out runs use is the one ``encoding_pairs_dev.choose`` picks from the stored run, and those runs
    used it."""
    choose = _script_choose("encoding_pairs_dev")
    run = json.loads((REPO / "results" / "encoding_pairs_dev.json").read_text())
    chosen = choose(run["rows"])
    assert chosen == run["chosen"] == "discrimination+voxel_grid"
    for name in ("nmnist_heldout_mini_fewshot_discrimination_voxel_grid",
                 "nmnist_heldout_mini_fewshot_discrimination_voxel_grid_10seeds"):
        result = json.loads((REPO / "results" / f"{name}.json").read_text())
        assert result["config"]["frames"]["encoding"] == chosen
    means = {(row["encoding"], row["method"]): round(float(np.mean(row["top1"])), 1) for row in run["rows"]}
    shown = []
    for cells in readme_table("| development set, 10 draws | zero-shot"):
        cells = [cell.replace("*", "") for cell in cells]
        encoding = cells[0].split()[0]
        shown.append(encoding)
        expected = [means[(encoding, method)] for method in ("zeroshot", "neuroclip-plus", "tip", "tip-f", "linear")]
        assert [float(cell) for cell in cells[1:]] == expected, encoding
    assert shown == list(dict.fromkeys(row["encoding"] for row in run["rows"]))


ABLATION_ROWS = {  # the first cell of a row of the README's NeuroCLIP+ design table -> its stored method
    "zero-shot": "zeroshot",
    "Tip-Adapter": "tip",
    "Tip-Adapter-F": "tip-f",
    "linear probe": "linear",
    "**NeuroCLIP+ (recipe without the prior)**": "neuroclip-plus [full]",
    "ReLU in place of the LIF (frames adapted independently)": "neuroclip-plus [relu]",
    "no spiking branch (head on the plain frame mean)": "neuroclip-plus [no-bottleneck]",
    "no fresh frame-subset augmentation": "neuroclip-plus [no-frame-augmentation]",
    "cache keeps each shot's own key in training": "neuroclip-plus [own-key-in-training]",
    "zero-shot scale fixed at CLIP's (not fitted to the shots)": "neuroclip-plus [no-calibration]",
    "no shot cache": "neuroclip-plus [no-cache]",
    "cache α, β from Tip-Adapter's grid (leave-one-out accuracy), not learned": "neuroclip-plus [grid-cache]",
    "no training (calibrated zero-shot + cache only)": "neuroclip-plus [training-free]",
    "head weight λ by 4-fold cross-validation within the shots (cross-entropy), logits = z + c + λ·r":
        "neuroclip-plus [cv-shrink]",
    "the same, λ by held-out accuracy (ties by cross-entropy)": "neuroclip-plus [cv-shrink-accuracy]",
    "head on the per-timestep features, logits averaged over the frames": "neuroclip-plus [per-frame-head]",
    "400 epochs": "neuroclip-plus [400-epochs]",
    "100 epochs": "neuroclip-plus [100-epochs]",
    "learning rate 1e-2": "neuroclip-plus [lr-1e-2]",
    "8 views of each shot, `--augment counts` (the released rotation, flip, shear)":
        "neuroclip-plus [8 counts views]",
    "8 views, `--augment counts-noflip`": "neuroclip-plus [8 counts-noflip views]",
    "8 views, `--augment events` (shift, rotation, zoom, drop)": "neuroclip-plus [8 events views]",
}


def test_readme_neuroclip_plus_design_table_is_the_stored_ablation():
    """Every row of the README's development-set design table of NeuroCLIP+ (6 draws) gives its stored method's
    mean top-1 per K and their mean, for both encodings; the Tip-Adapter rows with views give the stored means."""
    import re

    run = json.loads((REPO / "results" / "fewshot_plus_ablation_dev.json").read_text())
    assert run["draws"] == 6 and run["base"] == "no-prior"
    stored = {(row["encoding"], row["method"]): row["top1"] for row in run["rows"]}
    rows = readme_table("| development set, 6 draws: K = 1 / 2 / 4 / 8 / 16 (mean)")
    assert {row[0] for row in rows if "with 8" not in row[0]} == set(ABLATION_ROWS)
    for label, *cells in rows:
        for encoding, cell in zip(("discrimination", "eventbind"), cells):
            if label.startswith("Tip-Adapter / Tip-Adapter-F with 8 "):  # "a / b (means)"
                kind = label.split("`")[1]
                shown = [float(v) for v in re.findall(r"[0-9]+\.[0-9]", cell)]
                assert shown == [round(float(np.mean(stored[(encoding, f"{m} [8 {kind} views]")])), 1)
                                 for m in ("tip", "tip-f")], (label, encoding)
                continue
            top1 = stored[(encoding, ABLATION_ROWS[label])]
            per_k, mean = cell.split("(")
            assert [float(v) for v in per_k.split("/")] == [round(v, 1) for v in top1], (label, encoding)
            assert float(mean.strip("*) ")) == round(float(np.mean(top1)), 1), (label, encoding)


def test_readme_ten_draw_views_and_heads_figures_are_the_stored_run():
    """The README's ten-draw figures on views and on averaging four heads are the stored run's means over K."""
    run = json.loads((REPO / "results" / "fewshot_plus_ablation_dev_10draws.json").read_text())
    assert run["draws"] == 10 and run["base"] == "no-prior"
    mean = {(row["encoding"], row["method"]): f"{np.mean(row['top1']):.1f}" for row in run["rows"]}
    text = readme_text()
    d, e = "discrimination", "eventbind"
    full, no_flip, events = "neuroclip-plus [full]", "neuroclip-plus [8 counts-noflip views]", \
        "neuroclip-plus [8 events views]"
    assert (f"{mean[d, full]} without views against {mean[d, no_flip]} (no flip) and {mean[d, events]} (events) "
            f"with discrimination frames, {mean[e, full]} against {mean[e, no_flip]} and {mean[e, events]} "
            f"on eventbind") in text
    heads = "neuroclip-plus [4-heads]"
    assert (f"averaging four heads of different seeds gave {mean[d, heads]} against {mean[d, full]} "
            f"(discrimination) and {mean[e, heads]} against {mean[e, full]} (eventbind) over 10 draws") in text


def test_readme_voxel_grid_development_figures_are_the_stored_run():
    """The README's development figures for voxel grids alone (the pairs section) are the stored run's means."""
    run = json.loads((REPO / "results" / "fewshot_plus_ablation_dev_voxel_grid.json").read_text())
    assert run["draws"] == 10 and run["base"] == "full"
    mean = {row["method"]: f"{np.mean(row['top1']):.1f}" for row in run["rows"] if row["encoding"] == "voxel_grid"}
    text = readme_text()
    assert f"scored a NeuroCLIP+ mean of {mean['neuroclip-plus [full]']} on the same draws" in text
    assert (f"zero-shot ({mean['zeroshot']}) was above every few-shot method (Tip-Adapter {mean['tip']}, NeuroCLIP+ "
            f"{mean['neuroclip-plus [full]']}, Tip-Adapter-F {mean['tip-f']}, linear probe {mean['linear']})") in text


def test_readme_bundled_model_few_shot_bar_is_the_stored_development_run():
    """The development few-shot figures the README sets for a new bundled-model recipe (what the training script's
    ``--fewshot-draws`` measures) are those of the stored run on the same draws: discrimination frames alone."""
    run = json.loads((REPO / "results" / "encoding_pairs_dev.json").read_text())
    rows = {row["method"]: row["top1"] for row in run["rows"] if row["encoding"] == "discrimination"}
    plus, linear = rows["neuroclip-plus"], rows["linear"]
    text = readme_text()
    per_k = " / ".join(f"{v:.1f}" for v in plus)
    assert (f"the bundled weights give NeuroCLIP+ {per_k} at 1 / 2 / 4 / 8 / 16 shots (mean {np.mean(plus):.1f}) "
            f"and the linear probe a mean of {np.mean(linear):.1f}") in text


def test_readme_bundled_model_candidates_table_is_the_stored_sweep():
    """The README's development few-shot table of neuroclip-mini candidates gives the stored sweep's figures."""
    rows = {row["name"]: row for row in json.loads(
        (REPO / "results" / "neuroclip_mini_fewshot_sweep_dev.json").read_text())}
    shown = {cells[0]: cells[1:] for cells in readme_table("| candidate (the chosen recipe) | dev zero-shot")}
    for label, name in (("seed 1, 2,000 steps", "hw50-s1"), ("seed 0, 4,000 steps", "hw50-4k-s0")):
        row = rows[name]
        assert shown[label][0] == f"{100 * row['dev zero-shot, neuroclip digits']:.1f}"
        for cell, method in zip(shown[label][1:], ("neuroclip-plus", "linear")):
            per_k = " / ".join(f"{v:.1f}" for v in row[f"dev few-shot {method}, K = 1/2/4/8/16"])
            assert cell == f"{per_k} ({row[f'dev few-shot {method}, mean over K']:.1f})", (label, method)


WITHIN_HELDOUT = {  # a part of the README's within-held-out table -> (its result file, encoding)
    "(a) discrimination": ("nmnist_heldout_within_fewshot.json", "discrimination"),
    "(b) eventbind": ("nmnist_heldout_within_fewshot.json", "eventbind"),
    "(g) discrimination+voxel_grid": ("nmnist_heldout_within_fewshot_discrimination_voxel_grid.json",
                                      "discrimination+voxel_grid"),
}


def test_readme_within_heldout_table_is_the_stored_run():
    """The README's few-shot table with the shots drawn from the held-out recordings gives the stored runs' means,
    the best baseline by mean, and NeuroCLIP+ minus it paired by draw; its prose gives table (a)'s gains over the
    10-draw run with shots from the development recordings."""
    shown = {cells[0]: cells[1:] for cells in readme_table("| shots from the held-out recordings, 10 draws")}
    assert len(shown) == 4 * len(WITHIN_HELDOUT)
    signed = lambda v: f"{v:+.1f}".replace("-", "−")  # noqa: E731
    for part, (name, encoding) in WITHIN_HELDOUT.items():
        run = json.loads((REPO / "results" / name).read_text())
        assert run["draws"] == 10
        rows = {row["method"]: row for row in run["rows"] if row["encoding"] == encoding}
        label = part.split()[0]
        assert shown[f"{part}: zero-shot"] == [f"{v:.1f}" for v in rows["zeroshot"]["top1"]]
        plus = rows["neuroclip-plus"]
        assert shown[f"{label} NeuroCLIP+ (`neuroclip-plus`, ours)"] == [f"{v:.1f}" for v in plus["top1"]]
        best_cells, gap_cells = [], []
        for k in range(len(plus["top1"])):
            best = max(("tip", "tip-f", "linear"), key=lambda m: rows[m]["top1"][k])
            best_cells.append(f"{rows[best]['top1'][k]:.1f} ({best})")
            gap = np.array(plus["top1_per_draw"][k]) - np.array(rows[best]["top1_per_draw"][k])
            gap_cells.append(f"{signed(gap.mean())} ({(gap > 0).sum()}/{(gap == 0).sum()}/{(gap < 0).sum()})")
        assert shown[f"{label} the best of Tip-Adapter, Tip-Adapter-F and the linear probe"] == best_cells, part
        assert shown[f"{label} NeuroCLIP+ minus the best baseline"] == gap_cells, part
    ten = json.loads((REPO / "results" / "nmnist_heldout_mini_fewshot_10seeds.json").read_text())
    before = {(e["method"], e["shots"]): 100 * e["top1_mean"] for e in ten["summary"]}
    within = {row["method"]: row["top1"] for row in json.loads(
        (REPO / "results" / "nmnist_heldout_within_fewshot.json").read_text())["rows"]
        if row["encoding"] == "discrimination"}
    gain = {m: [f"{within[m][i] - before[(m, k)]:.1f}" for i, k in ((3, 8), (4, 16))]
            for m in ("neuroclip-plus", "tip-f", "linear")}
    assert (f"NeuroCLIP+ gained {gain['neuroclip-plus'][0]} and {gain['neuroclip-plus'][1]} points over the shots "
            f"from the development recordings, Tip-Adapter-F {gain['tip-f'][0]} and {gain['tip-f'][1]}, the linear "
            f"probe {gain['linear'][0]} and {gain['linear'][1]}") in readme_text()


def test_readme_third_h200_table_is_the_stored_runs():
    """The README's table of the third H200 session gives the rates of its stored runs: the first machine's
    gpu_paths run and, in the order run, the alternating end-to-end runs of the two commits on the second."""
    shown = {cells[0]: cells[1:] for cells in readme_table("| path | 6c1befc, first machine")}
    first = json.loads((REPO / "results" / "gpu_paths_h200_6c1befc.json").read_text())
    ab = json.loads((REPO / "results" / "gpu_end_to_end_ab_h200.json").read_text())
    nmnist, wide = "end to end zero-shot, N-MNIST real", "end to end zero-shot, 640x480, 1M events"

    def rate(run):
        with_startup, steady = run["end_to_end_recordings_s_with_startup"], run["end_to_end_recordings_s_steady_state"]
        return f"{with_startup:,.0f} ({steady:,.0f})"

    def share(runs, key):
        return f"{min(r[key] for r in runs) * 100:.0f}-{max(r[key] for r in runs) * 100:.0f}%"

    row = shown["end-to-end, 10,000 N-MNIST recordings: recordings/s with start-up (steady state)"]
    e2e = first[nmnist]
    assert row[0] == (f"{rate(e2e)}: {e2e['with_startup_over_tower_only'] * 100:.0f}% "
                      f"({e2e['steady_state_over_tower_only'] * 100:.0f}%) of the tower")
    for cell, tree in zip(row[1:], ("head", "old")):
        runs = [ab["runs"][name][nmnist] for name in ab["order"] if name.startswith(tree)]
        assert cell == (f"{', '.join(rate(r) for r in runs)}: {share(runs, 'with_startup_over_tower_only')} "
                        f"({share(runs, 'steady_state_over_tower_only')})")
    row = shown["end-to-end, 1,024 recordings of 640x480 x 1 M events"]
    e2e = first[wide]
    assert row[0] == (f"{rate(e2e)}: {e2e['with_startup_over_tower_only'] * 100:.0f}% "
                      f"({e2e['steady_state_over_tower_only'] * 100:.0f}%)")
    for cell, tree in zip(row[1:], ("head", "old")):
        assert cell == ", ".join(rate(ab["runs"][name][wide]) for name in ab["order"] if name.startswith(tree))
    frames = [first[f"frames, {name}"] for name in ("N-MNIST real x2000", "640x480, 1M events x8")]
    assert shown["event frames, 2,000 real N-MNIST / 8 x 640x480 1 M events, vs spikingjelly"][0] == " / ".join(
        f"{f['gpu_mev_s']:,.0f} Mev/s, {f['ratio_vs_spikingjelly']:.0f}x" for f in frames)
    surfaces = first["time surface and voxel grid, N-MNIST real x2000"]
    assert shown["batched time surface / voxel grid vs our per-recording numpy, N-MNIST"][0] == " / ".join(
        f"{surfaces[k]['device_mev_s']:,.0f} Mev/s, {surfaces[k]['ratio']:.0f}x"
        for k in ("time_surface", "voxel_grid"))
    timeline = [first[f"timeline, EVT {v}"]["realtime_factor"] for v in ("2.0", "3.0")]
    assert shown["`classify --window 50ms --stride 25ms`, EVT 2.0 / EVT 3.0 samples"][0] == \
        f"real-time factor {timeline[0]:.2f} / {timeline[1]:.2f}"


def test_readme_candidate_baselines_table_is_the_stored_runs():
    """The README's table of every baseline for the 4,000-step neuroclip-mini candidate gives the stored run's
    figures, and the bundled column the frames sweep's T = 10 rows (the same development draws)."""
    sweep = json.loads((REPO / "results" / "frames_sweep_dev.json").read_text())
    candidate = json.loads((REPO / "results" / "fewshot_plus_ablation_dev_hw50_4k.json").read_text())
    assert candidate["weights"] == "hw50-4k-s0.safetensors" and candidate["draws"] == sweep["draws"] == 10
    names = {"zeroshot": "zero-shot", "neuroclip-plus": "NeuroCLIP+", "tip": "Tip-Adapter", "tip-f": "Tip-Adapter-F",
             "linear": "linear probe"}
    shown = {cells[0]: cells[1:] for cells in readme_table("| development, 10 draws | bundled: seed 0, 2,000 steps")}
    assert len(shown) == 2 * len(names)

    def cell(values):
        return " / ".join(f"{v:.1f}" for v in values) + f" ({np.mean(values):.1f})"

    for encoding in ("discrimination", "eventbind"):
        bundled = {r["method"]: r["top1"] for r in sweep["rows"] if r["encoding"] == encoding and r["frames"] == 10}
        stronger = {r["method"].removesuffix(" [full]"): r["top1"] for r in candidate["rows"]
                    if r["encoding"] == encoding}
        for method, name in names.items():
            assert shown[f"{encoding}: {name}"] == [cell(bundled[method]), cell(stronger[method])], (encoding, method)


def test_readme_comparison_size_table_is_the_stored_runs():
    """The README's table of the recordings and draws a comparison would need gives comparison_size on the stored
    ten-draw runs, against the best baseline by mean at each K."""
    from neuroclip.fewshot import comparison_size

    names = {"tip": "Tip-Adapter", "tip-f": "Tip-Adapter-F", "linear": "linear"}
    shown = {cells[0]: cells[1:] for cells in readme_table("| NeuroCLIP+ against the best baseline, 10 draws")}
    for label, name in (("(a) discrimination", "nmnist_heldout_mini_fewshot_10seeds.json"),
                        ("(b) eventbind, against the linear probe",
                         "nmnist_heldout_mini_fewshot_eventbind_10seeds.json")):
        results = json.loads((REPO / "results" / name).read_text())["results"]
        means = {(r["method"], r["shots"]): [] for r in results}
        for r in results:
            means[(r["method"], r["shots"])].append(r["top1"])
        for cell, k in zip(shown[label], (1, 2, 4, 8, 16), strict=True):
            best = max(names, key=lambda m: np.mean(means[(m, k)]))
            entry = next(e for e in comparison_size(results, "neuroclip-plus", best) if e["shots"] == k)
            figures = f"{entry['recordings_needed']:,} / {entry['draws_needed']:,}"
            difference = f"{100 * entry['difference']:+.1f}".replace("-", "−")
            expected = f"{figures} ({difference}, {names[best]})" if label.startswith("(a)") else \
                f"{figures} ({difference})"
            assert best == "linear" or label.startswith("(a)")
            assert cell == expected, (label, k)


def test_readme_width_table_is_the_stored_runs_and_the_map_keeps_every_cosine():
    """The README's NeuroCLIP+-by-width table gives the stored runs (width 128: the frames sweep's T = 10 rows, the
    same draws); zero-shot and Tip-Adapter score exactly as at width 128, since the map keeps every cosine."""
    import importlib

    import torch

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        widened = importlib.import_module("fewshot_plus_ablation").widened
    finally:
        sys.path.remove(str(REPO / "scripts"))
    features, weights = torch.randn(6, 3, 128), torch.randn(10, 128)
    wide, wide_weights, views = widened(features, weights, {"events": features[:, None]}, 512)
    assert wide.shape == (6, 3, 512) and views["events"].shape == (6, 1, 3, 512)
    torch.testing.assert_close(wide @ wide_weights.T, features @ weights.T, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(wide.norm(dim=-1), features.norm(dim=-1), atol=1e-4, rtol=1e-4)

    sweep = json.loads((REPO / "results" / "frames_sweep_dev.json").read_text())
    runs = {n: json.loads((REPO / "results" / f"fewshot_plus_ablation_dev_width{n}.json").read_text())
            for n in (512, 1024)}
    shown = {cells[0]: cells[1:] for cells in readme_table("| NeuroCLIP+, development, 10 draws | width 128")}

    def cell(values):
        return " / ".join(f"{v:.1f}" for v in values) + f" ({np.mean(values):.1f})"

    for encoding in ("discrimination", "eventbind"):
        narrow = {r["method"]: r["top1"] for r in sweep["rows"] if r["encoding"] == encoding and r["frames"] == 10}
        wider = [{r["method"].removesuffix(" [full]"): r["top1"] for r in runs[n]["rows"] if r["encoding"] == encoding}
                 for n in (512, 1024)]
        assert all(run["width"] == n and run["draws"] == 10 for n, run in runs.items())
        assert shown[encoding] == [cell(narrow["neuroclip-plus"])] + [cell(w["neuroclip-plus"]) for w in wider]
        for method in ("zeroshot", "tip"):
            assert all(w[method] == pytest.approx(narrow[method], abs=1e-9) for w in wider), (encoding, method)
