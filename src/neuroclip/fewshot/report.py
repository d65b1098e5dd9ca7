"""Reporting few-shot runs: mean and spread over seeds, paired differences between two methods with a bootstrap
interval, a text table, the JSON and CSV result files (with the configuration and package versions) and a plot of
accuracy against shots."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.fewshot.plan import PROTOCOLS, TEST_SELECTION_WARNING, BaselineConfigs
from neuroclip.fewshot.train import TrainConfig
from neuroclip.outputs import atomic_write
from neuroclip.provenance import versions


def summarize(results: Sequence[dict]) -> list[dict]:
    """Mean and sample standard deviation of top-1 over seeds, per (method, shots, protocol), in first-seen order."""
    groups: dict = {}
    for row in results:
        groups.setdefault((row["method"], row["shots"], row.get("protocol")), []).append(row)
    summary = []
    for (method, shots, protocol), rows in groups.items():
        values = np.array([r["top1"] for r in rows], dtype=np.float64)
        entry = {"method": method, "shots": shots, "protocol": protocol, "n_seeds": int(values.size),
                 "top1_mean": float(values.mean()), "top1_std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                 "selected_on": rows[0].get("selected_on")}
        if "n_labelled" in rows[0]:
            entry["n_labelled"] = int(rows[0]["n_labelled"])
        if "top5" in rows[0]:
            entry["top5_mean"] = float(np.mean([r["top5"] for r in rows]))
        if entry["selected_on"] == "test":
            entry["warning"] = TEST_SELECTION_WARNING
        summary.append(entry)
    return summary


def pack_hits(hit) -> str:
    """Per-recording top-1 hits (booleans, test order) as the hex string a result row stores under ``correct``."""
    return np.packbits(np.asarray(hit, dtype=bool)).tobytes().hex()


def unpack_hits(text: str, n: int) -> np.ndarray:
    """The ``n`` booleans :func:`pack_hits` stored."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))
    if bits.size < n or bits.size - n >= 8:
        raise ConfigError(f"a 'correct' field of {len(text)} hex digits cannot hold {n} recordings")
    return bits[:n].astype(bool)


def _hits_by_seed(results: Sequence[dict], method: str, shots: int, protocol) -> dict[int, np.ndarray]:
    rows = [r for r in results if r["method"] == method and r.get("protocol") == protocol and
            (r["shots"] == shots or method == "zeroshot")]
    missing = [r for r in rows if "correct" not in r]
    if missing:
        raise ConfigError(f"the {method} rows have no per-recording results ('correct'): the file was written by "
                          "an older neuroclip; run the fewshot command again to compare methods")
    return {int(r["seed"]): unpack_hits(r["correct"], int(r["n_test"])) for r in rows}


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")


def _paired_hits(results: Sequence[dict], method: str, other: str):
    """Per number of shots of ``method``'s trained rows: (shots, protocol, ``method`` minus ``other`` hit by hit
    ``[seeds, test recordings]`` over their common seeds, whether each seed scored its own recordings (a
    within-split run's ``test_part``))."""
    rows = [r for r in results if r["method"] == method and r["shots"] > 0]
    if not rows:
        raise ConfigError(f"no trained rows of method {method!r} to compare; the file has "
                          f"{', '.join(dict.fromkeys(r['method'] for r in results))}")
    if not any(r["method"] == other for r in results):
        raise ConfigError(f"no rows of method {other!r} to compare with; the file has "
                          f"{', '.join(dict.fromkeys(r['method'] for r in results))}")
    own_parts = any("test_part" in r for r in results if r["method"] in (method, other))
    for shots, protocol in dict.fromkeys((r["shots"], r.get("protocol")) for r in rows):
        mine = _hits_by_seed(results, method, shots, protocol)
        theirs = _hits_by_seed(results, other, shots, protocol)
        seeds = sorted(set(mine) & set(theirs))
        if not seeds:
            continue
        if len({mine[s].size for s in seeds} | {theirs[s].size for s in seeds}) != 1:
            raise ConfigError(f"{method} and {other} at {shots} shots were scored on different test sets")
        yield shots, protocol, np.stack([mine[s].astype(np.float64) - theirs[s] for s in seeds]), own_parts


def paired_differences(results: Sequence[dict], method: str, other: str, *, level: float = 0.95,
                       resamples: int = 4000, seed: int = 0) -> list[dict]:
    """``method`` minus ``other`` in top-1, per number of shots of ``method``, paired by seed (the same shots) and
    by test recording.

    Each entry: ``shots``, ``difference`` (mean over the common seeds, exact), ``low`` and ``high`` (a ``level``
    percentile interval from a two-level bootstrap: seeds drawn with replacement, then test recordings reweighted
    by Poisson(1) counts, the same draw for both methods), ``n_seeds``, ``n_test``, and ``seeds_ahead`` /
    ``seeds_behind`` (seeds where ``method`` scored higher / lower). The interval covers both sources of chance a
    user meets, which shots were drawn and which recordings were scored. In a simulation sized like the README's
    held-out runs (``scripts/paired_interval_coverage.py``, 200 cases) the 95% interval held the true difference
    in 94% of cases with three seeds and 98% with ten. Zero-shot (one row per seed, shots = 0) pairs with every
    number of shots. Needs the rows' ``correct`` field, which :func:`~neuroclip.fewshot.protocol.run_fewshot`
    writes. Rows with a ``test_part`` (:func:`~neuroclip.fewshot.experiment.fewshot_within_split`: each seed scored
    its own recordings) get their recordings' counts drawn independently per seed."""
    _check_level(level)
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples!r}")
    rng = np.random.default_rng(seed)
    entries = []
    for shots, protocol, delta, own_parts in _paired_hits(results, method, other):
        n_seeds, n_test = delta.shape
        cells = n_test * (n_seeds if own_parts else 1)
        samples, chunk = [], max(1, min(256, 2 ** 22 // cells))  # at most ~32 MB of drawn counts at a time
        for start in range(0, resamples, chunk):
            count = min(chunk, resamples - start)
            # recordings drawn: Poisson(1) counts per recording (the Poisson bootstrap), much faster than a
            # multinomial draw over many recordings and the same interval for any test set of useful size
            if own_parts:
                weights = rng.poisson(1.0, size=(count, n_seeds, n_test)).astype(np.float64)
                per_seed = ((weights * delta).sum(2) / np.maximum(weights.sum(2), 1.0)).T  # [S, count]
            else:
                weights = rng.poisson(1.0, size=(count, n_test)).astype(np.float64)
                per_seed = delta @ weights.T / np.maximum(weights.sum(1), 1.0)  # [S, count]
            drawn = rng.integers(n_seeds, size=(count, n_seeds))  # seeds drawn
            samples.append(per_seed[drawn, np.arange(count)[:, None]].mean(1))
        samples = np.concatenate(samples)
        per_seed_difference = delta.mean(1)
        tail = 100 * (1 - level) / 2
        entries.append({"shots": shots, "protocol": protocol, "difference": float(per_seed_difference.mean()),
                        "low": float(np.percentile(samples, tail)), "high": float(np.percentile(samples, 100 - tail)),
                        "level": level, "n_seeds": n_seeds, "n_test": n_test,
                        "seeds_ahead": int((per_seed_difference > 0).sum()),
                        "seeds_behind": int((per_seed_difference < 0).sum())})
    return entries


def comparison_size(results: Sequence[dict], method: str, other: str, *, level: float = 0.95) -> list[dict]:
    """How large a paired comparison of ``method`` and ``other`` would have to be for its ``level`` interval to
    exclude 0, were the observed mean difference the true one: planning figures from a normal approximation, not a
    test (ours). Per number of shots of ``method``:

    * ``difference``: the mean paired difference over the common seeds (as :func:`paired_differences`);
    * ``disagreement``: the share of test recordings that exactly one of the two got right (mean over seeds);
    * ``draw_sd``: the spread of the difference from draw to draw: the per-seed differences' standard deviation
      (where each draw scored its own recordings, less the part their chance explains; None with one seed);
    * ``recordings_needed``: scored recordings needed however many draws, z^2 w / difference^2 (w: the
      per-recording variance of the paired difference within a draw; summed over the draws where each draw scores
      its own recordings);
    * ``draws_needed``: draws of shots needed however many recordings are scored, z^2 draw_sd^2 / difference^2;
    * ``n_seeds``, ``n_test``: what the figures came from.

    Any design needs more than both: S draws scored on one test set of N recordings suffice when draw_sd^2 / S +
    w / N <= (difference / z)^2. draw_sd, measured on one test set, holds some of that set's chance too, so
    ``draws_needed`` errs high; three seeds give a rough figure. None where the difference is 0."""
    from statistics import NormalDist

    _check_level(level)
    z2 = NormalDist().inv_cdf(0.5 + level / 2) ** 2
    entries = []
    for shots, protocol, delta, own_parts in _paired_hits(results, method, other):
        n_seeds, n_test = delta.shape
        per_seed = delta.mean(1)
        difference = float(per_seed.mean())
        within = float(delta.var(1).mean())  # w: per recording, within a draw
        tau2 = None
        if n_seeds > 1:
            tau2 = float(per_seed.var(ddof=1))
            tau2 = max(0.0, tau2 - within / n_test) if own_parts else tau2
        decided = difference != 0
        entries.append({
            "shots": shots, "protocol": protocol, "difference": difference,
            "disagreement": float((delta != 0).mean()), "draw_sd": None if tau2 is None else math.sqrt(tau2),
            "recordings_needed": math.ceil(z2 * within / difference ** 2) if decided else None,
            "draws_needed": max(1, math.ceil(z2 * tau2 / difference ** 2)) if decided and tau2 is not None else None,
            "level": level, "n_seeds": n_seeds, "n_test": n_test})
    return entries


def format_summary(results: Sequence[dict]) -> str:
    """A plain-text table: method, shots, top-1 mean ± std (%) over seeds."""
    lines = [f"{'method':<16}{'shots':>6}  {'top-1 (%)':>16}  protocol"]
    for entry in summarize(results):
        flag = "  [selected on TEST]" if entry["selected_on"] == "test" else ""
        lines.append(f"{entry['method']:<16}{entry['shots']:>6}  {100 * entry['top1_mean']:>8.2f} ± "
                     f"{100 * entry['top1_std']:<5.2f}  {entry['protocol']}{flag}")
    return "\n".join(lines)


def result_record(results: Sequence[dict], config: dict | None = None) -> dict:
    """The JSON document: results, summary, the caller's config, protocol and package versions."""
    protocols = sorted({r.get("protocol") for r in results if r.get("protocol")})
    record = {
        "results": list(results),
        "summary": summarize(results),
        "protocols": {name: PROTOCOLS[name] for name in protocols if name in PROTOCOLS},
        "config": config or {},
        **versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if "paper-test-selection" in protocols:
        record["warning"] = "rows with selected_on = 'test' were " + TEST_SELECTION_WARNING
    return record


def describe_config(train_config: TrainConfig | None = None, baselines: BaselineConfigs = BaselineConfigs(),
                    **extra) -> dict:
    """The configuration part of a result file: the NeuroCLIP recipe, the baselines' settings and ``extra``
    (dataset, backbone, frames, seeds, ...)."""
    return {"recipe": (train_config or TrainConfig()).to_dict(), "baselines": dataclasses.asdict(baselines)} | extra


CSV_COLUMNS = ("method", "shots", "seed", "top1", "top5", "protocol", "selected_on", "n_train", "n_selection",
               "n_labelled", "n_test", "seconds", "hyperparameters", "warning")


def write_results(results: Sequence[dict], json_path, config: dict | None = None, csv_path=None) -> dict:
    """Write the JSON record (``results``, ``summary``, ``config``, versions) and optionally one CSV row per run,
    each atomically. Returns the record."""
    record = result_record(results, config)
    text = json.dumps(record, indent=2, default=str)
    atomic_write(Path(json_path), lambda fp: fp.write(text.encode()))
    if csv_path is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in results:
            writer.writerow({**row, "hyperparameters": json.dumps(row.get("hyperparameters", {}), sort_keys=True)})
        atomic_write(Path(csv_path), lambda fp: fp.write(buffer.getvalue().encode()))
    return record


def plot_accuracy_vs_shots(results: Sequence[dict], path, title: str | None = None) -> Path:
    """A PNG of top-1 accuracy (mean ± std over seeds) against shots, one line per method; zero-shot as a
    horizontal line. A test-selected protocol is named in the title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = summarize(results)
    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    FigureCanvasAgg(figure)  # render with Agg, whatever pyplot's backend is
    axes = figure.add_subplot()
    methods = list(dict.fromkeys(e["method"] for e in summary))
    for method in methods:
        entries = sorted((e for e in summary if e["method"] == method), key=lambda e: e["shots"])
        label = f"{method}" + (" [test-selected]" if entries[0]["selected_on"] == "test" else "")
        if method == "zeroshot":
            axes.axhline(100 * entries[0]["top1_mean"], color="grey", linestyle="--", label=label)
            continue
        x = [e["shots"] for e in entries]
        axes.errorbar(x, [100 * e["top1_mean"] for e in entries], yerr=[100 * e["top1_std"] for e in entries],
                      marker="o", capsize=3, label=label)
    shot_values = sorted({e["shots"] for e in summary if e["shots"] > 0})
    if shot_values:
        axes.set_xscale("log", base=2)
        axes.set_xticks(shot_values, [str(s) for s in shot_values])
    axes.set_xlabel("shots per class")
    axes.set_ylabel("top-1 accuracy (%)")
    protocols = sorted({e["protocol"] for e in summary if e["protocol"]})
    heading = title or "few-shot accuracy"
    if protocols:
        heading += f"\nprotocol: {', '.join(protocols)}"
    if any(e["selected_on"] == "test" for e in summary):
        heading += " (selected on TEST: optimistic)"
    axes.set_title(heading, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    atomic_write(path, lambda fp: figure.savefig(fp, format="png"))
    return path
