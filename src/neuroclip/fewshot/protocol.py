"""The few-shot protocol: shots, a validation split, methods x shots x seeds, summaries, result files and a plot.

Protocols (what chooses the epoch of trained heads and the hyper-parameters of the baselines):

* ``shots`` (default, the headline): only the labelled recordings a K-shot user has, the shots. Hyper-parameters are
  chosen by cross-validation within the shots (Tip-Adapter's alpha and beta by leave-one-shot-out over its cache,
  the linear probe's penalty by K-fold; see :mod:`neuroclip.fewshot.baselines`), trained heads keep their last
  epoch, and with one shot per class every method uses its defaults. No extra labelled recording: every row says
  ``n_selection = 0`` and ``n_labelled = n_train``.
* ``validation``: a validation split held out from the train split, disjoint from the shots (up to
  ``val_per_class`` recordings per class, never more than half of a class), or one the caller passes; every row
  counts those extra labelled recordings in ``n_selection`` and ``n_labelled``.
* ``last-epoch``: no selection at all: trained heads keep their last epoch, baselines their default
  hyper-parameters. Needs no validation data.
* ``paper-test-selection``: NeuroCLIP's released code (Dassl with val = test, TEST.FINAL_MODEL = best_val): the best
  epoch and the hyper-parameters are chosen on the TEST set. Optimistic, for comparison with the paper only; every
  result row says ``selected_on: "test"`` and carries a warning.

Shots: K recordings per class drawn with a seed from the train split (without the validation recordings); a class
with fewer than K recordings is drawn with replacement, as the released code's Dassl sampler does.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from neuroclip.devices import resolve_device
from neuroclip.errors import ConfigError
from neuroclip.fewshot.baselines import (
    WITHIN_SHOTS,
    ClipAdapterConfig,
    LinearProbeConfig,
    TipAdapterConfig,
    ZeroShot,
    fit_clip_adapter,
    fit_linear_probe,
    fit_tip_adapter,
    fit_tip_adapter_f,
)
from neuroclip.fewshot.plus import PlusConfig, fit_neuroclip_plus
from neuroclip.fewshot.train import (
    TrainConfig,
    as_tensor,
    cpu_thread_limit,
    predict_logits,
    recipe,
    train_adapter,
)
from neuroclip.outputs import atomic_write

PROTOCOLS = {
    "shots": "only the shots (default): hyper-parameters by cross-validation within the shots, the last epoch of "
             "trained heads, defaults at one shot per class; no extra labelled recording",
    "validation": "epochs and hyper-parameters chosen on a validation split held out from train (extra labelled "
                  "recordings, counted in n_selection)",
    "last-epoch": "no selection: last epoch, default hyper-parameters",
    "paper-test-selection": "NeuroCLIP's released protocol: best epoch and hyper-parameters chosen on the TEST set "
                            "(optimistic; for comparison only)",
}
TEST_SELECTION_WARNING = ("selected on the TEST set, as NeuroCLIP's released code does: an optimistic number, "
                          "not an estimate of accuracy on unseen data")

METHODS = {
    "neuroclip": "NeuroCLIP inter-timestep spiking adapter (the released recipe)",
    "neuroclip-plus": "ours: zero-shot start, leave-one-out shot cache and a zero-initialised spiking residual head",
    "neuroclip-relu": "the adapter with a ReLU in place of the LIF (ablation 'without SNN')",
    "zeroshot": "NeuroCLIP zero-shot (no training; shots = 0)",
    "linear": "linear probe: logistic regression on the mean normalised frame feature",
    "tip": "Tip-Adapter (training-free cache)",
    "tip-f": "Tip-Adapter-F (cache keys fine-tuned)",
    "clip-adapter": "CLIP-Adapter per frame, residual ratio 0.2",
}
METHOD_ALIASES = {"zero-shot": "zeroshot", "linear-probe": "linear", "tip-adapter": "tip", "tip-adapter-f": "tip-f",
                  "tipf": "tip-f", "clipadapter": "clip-adapter", "relu": "neuroclip-relu",
                  "neuroclip+": "neuroclip-plus", "plus": "neuroclip-plus"}


def check_methods(methods: Sequence[str]) -> list[str]:
    """Canonical method names (aliases accepted), or ConfigError listing the known ones."""
    names = []
    for method in methods:
        name = METHOD_ALIASES.get(str(method).strip().lower(), str(method).strip().lower())
        if name not in METHODS:
            raise ConfigError(f"unknown few-shot method {method!r}; choose from {', '.join(METHODS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError("name at least one few-shot method")
    return names


# --------------------------------------------------------------------------------------------------- sampling


def _class_positions(labels: np.ndarray, n_classes: int | None) -> list[np.ndarray]:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be one-dimensional, got shape {labels.shape}")
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    return [np.flatnonzero(labels == k) for k in range(n_classes)]


def sample_shots(labels, k: int, seed: int, n_classes: int | None = None) -> np.ndarray:
    """Positions of ``k`` distinct recordings per class in ``labels``, drawn with ``seed`` without replacement;
    grouped by class, classes in label order. A class with fewer than ``k`` recordings is an error (drawing the
    same recording twice would report a K-shot result that saw fewer than K recordings)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"shots must be a positive integer, got {k!r}")
    rng = np.random.default_rng(int(seed))
    chosen = []
    for label, positions in enumerate(_class_positions(labels, n_classes)):
        if positions.size == 0:
            raise ConfigError(f"class {label} has no training recordings to draw shots from")
        if positions.size < k:
            raise ConfigError(f"class {label} has only {positions.size} training recording(s) to draw {k} shots "
                              f"from; use --shots {positions.size} or fewer")
        chosen.append(rng.choice(positions, size=int(k), replace=False))
    return np.concatenate(chosen)


def check_shots_available(dataset, shots: int) -> None:
    """Every class of ``dataset`` (a train split: ``labels``, ``classes``) must hold ``shots`` distinct recordings;
    checked from the file list, before any feature is computed."""
    counts = np.bincount(np.asarray(dataset.labels, dtype=np.int64), minlength=len(dataset.classes))
    for label, count in enumerate(counts.tolist()):
        if count < shots:
            name = dataset.classes[label]
            raise ConfigError(f"class {name!r} has {count} recording(s) in the {dataset.split} split of "
                              f"{dataset.root}, too few for {shots} shots; use --shots {count} or fewer"
                              + (", or remove its empty folder" if count == 0 else ""))


def split_validation(labels, per_class: int, seed: int = 0, n_classes: int | None = None):
    """(pool, validation) positions: up to ``per_class`` recordings of each class (at most half of it) held out,
    drawn with ``seed``; the rest is the pool the shots come from."""
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ConfigError(f"val_per_class must be a positive integer, got {per_class!r}")
    rng = np.random.default_rng(int(seed))
    pool, validation = [], []
    for label, positions in enumerate(_class_positions(labels, n_classes)):
        if positions.size < 2:
            raise ConfigError(f"class {label} has {positions.size} training recording(s): too few to hold out a "
                              "validation recording and still draw shots; pass a validation split instead")
        held = rng.choice(positions, size=min(int(per_class), positions.size // 2), replace=False)
        validation.append(np.sort(held))
        pool.append(np.setdiff1d(positions, held))
    return np.concatenate(pool), np.concatenate(validation)


# --------------------------------------------------------------------------------------------------- running


@dataclasses.dataclass(frozen=True)
class BaselineConfigs:
    linear: LinearProbeConfig = LinearProbeConfig()
    tip: TipAdapterConfig = TipAdapterConfig()
    clip_adapter: ClipAdapterConfig = ClipAdapterConfig()
    plus: PlusConfig = PlusConfig()


def _fit_method(method, features, labels, weights, logit_scale, selection, train_config, baselines, seed, views,
                device):
    held_out = None if isinstance(selection, str) else selection  # within the shots: the last epoch
    if method in ("neuroclip", "neuroclip-relu"):
        config = train_config if method == "neuroclip" else train_config.replace(bottleneck="relu")
        trained = train_adapter(features, labels, weights, logit_scale, config, seed, views=views,
                                selection_features=None if held_out is None else held_out[0],
                                selection_labels=None if held_out is None else held_out[1], device=device)
        return (lambda x: predict_logits(trained.model, x)), {"selected_epoch": trained.fit.selected_epoch,
                                                              "epochs": trained.fit.epochs}
    if method == "neuroclip-plus":
        plus = fit_neuroclip_plus(features, labels, weights, logit_scale, selection, baselines.plus, seed, views,
                                  device)
        return plus.logits, plus.hyperparameters
    if method == "linear":
        probe = fit_linear_probe(features, labels, weights.shape[0], selection, baselines.linear, device)
        return probe.logits, probe.hyperparameters
    if method == "tip":
        tip = fit_tip_adapter(features, labels, weights, logit_scale, selection, baselines.tip, views, device)
        return tip.logits, tip.hyperparameters
    if method == "tip-f":
        tip = fit_tip_adapter_f(features, labels, weights, logit_scale, selection, baselines.tip, seed, views,
                                device)
        return tip.logits, tip.hyperparameters
    if method == "clip-adapter":
        adapter = fit_clip_adapter(features, labels, weights, logit_scale, selection, baselines.clip_adapter, seed,
                                   views, device)
        return adapter.logits, adapter.hyperparameters
    raise ConfigError(f"unknown method {method!r}")


def _top_k(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, logits.shape[-1])
    hits = (logits.topk(k, dim=-1).indices == labels.view(-1, 1)).any(dim=-1)
    return int(hits.sum()) / hits.numel()  # exact: a float32 mean printed 0.8999999761581421 for 0.9


def _plain(value):
    """A hyper-parameter as JSON/CSV shows it: numpy and torch scalars as Python numbers, floats to 6 decimals."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return round(value, 6) if isinstance(value, float) else value


def run_fewshot(train_features, train_labels, test_features, test_labels, class_weights, logit_scale: float = 100.0,
                *, val_features=None, val_labels=None, methods: Sequence[str] = ("neuroclip",),
                shots: Sequence[int] = (1, 2, 4, 8, 16), seeds: Sequence[int] = (1, 2, 3),
                protocol: str = "shots", val_per_class: int = 50, val_seed: int = 0,
                train_config: TrainConfig | None = None, model_name: str | None = None,
                baselines: BaselineConfigs = BaselineConfigs(), views=None, device=None, progress: bool = False,
                on_result: Callable[[dict], None] | None = None, cpu_threads: int | None = None) -> list[dict]:
    """Run every method at every number of shots for every seed; one result row per run.

    ``*_features`` are raw per-frame CLIP features [N, T, C] (``CachedFeatures.features``), ``class_weights`` the
    normalised text features [K, C] (:func:`neuroclip.clip.text_classifier`), ``logit_scale`` CLIP's (100 for
    OpenAI's). ``train_config`` defaults to NeuroCLIP's recipe for ``model_name`` (150 epochs for RN50, else 250).
    ``views``: augmented features of the train split, an array [N_train, V, T, C] or a callable taking train
    positions and returning their [n, V, T, C] views (see :mod:`neuroclip.fewshot.augment`); used by the trained
    heads and Tip-Adapter's cache. ``on_result`` is called with each row as it is finished.

    A row: ``{method, shots, seed, top1, top5, protocol, selected_on, n_train, n_selection, n_labelled, n_test,
    seconds, hyperparameters}`` plus ``warning`` under the test-selection protocol. ``n_labelled`` counts every
    labelled recording the run used to train and select (shots + validation; the test set under
    ``paper-test-selection``; 0 for zero-shot). Zero-shot gives one row per seed, with
    ``shots = 0``.

    ``cpu_threads`` sets torch's intra-op threads for the run (restored after). The batches are small, so extra
    threads gain little, and on a CPU shared with other jobs they can cost several times over (benchmarks/
    fewshot.py: 250 epochs took 6 s with 1 thread and 49 s with 2 on a busy 2-core machine).
    """
    if cpu_threads is not None:
        with cpu_thread_limit(cpu_threads):
            return run_fewshot(train_features, train_labels, test_features, test_labels, class_weights, logit_scale,
                               val_features=val_features, val_labels=val_labels, methods=methods, shots=shots,
                               seeds=seeds, protocol=protocol, val_per_class=val_per_class, val_seed=val_seed,
                               train_config=train_config, model_name=model_name, baselines=baselines, views=views,
                               device=device, progress=progress, on_result=on_result)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    methods = check_methods(methods)
    shots = [int(k) for k in shots]
    if any(k < 1 for k in shots) or not shots:
        raise ConfigError(f"shots must be positive integers, got {list(shots)}")
    if not seeds:
        raise ConfigError("name at least one seed")
    device = resolve_device(device)
    weights = as_tensor(class_weights, device)
    n_classes = weights.shape[0]
    train_labels = np.asarray(train_labels).astype(np.int64)
    test_x = as_tensor(test_features, device)
    test_y = as_tensor(np.asarray(test_labels), device, torch.long)
    train_x = as_tensor(train_features, device)
    if train_x.ndim != 3 or test_x.ndim != 3 or train_x.shape[1:] != test_x.shape[1:]:
        raise ConfigError(f"train and test features must both be [N, T, C] with the same T and C; got "
                          f"{tuple(train_x.shape)} and {tuple(test_x.shape)}")
    if train_x.shape[2] != weights.shape[1]:
        raise ConfigError(f"class weights have width {weights.shape[1]} but the features {train_x.shape[2]}: "
                          "they come from different backbones")
    config = train_config if train_config is not None else recipe("neuroclip", model_name)

    pool = np.arange(train_labels.size)
    selection, selected_on = None, "none"
    if protocol == "shots":
        selection, selected_on = WITHIN_SHOTS, "shots"
    elif protocol == "validation":
        if val_features is not None:
            selection = (as_tensor(val_features, device), as_tensor(np.asarray(val_labels), device, torch.long))
        else:
            pool, held = split_validation(train_labels, val_per_class, val_seed, n_classes)
            selection = (train_x[torch.as_tensor(held, device=device)],
                         torch.as_tensor(train_labels[held], device=device))
        selected_on = "validation"
    elif protocol == "paper-test-selection":
        selection, selected_on = (test_x, test_y), "test"

    def finish(row):
        chosen_on = "none" if row["method"] == "zeroshot" else selected_on  # zero-shot has nothing to select
        extra = 0 if chosen_on in ("none", "shots") else int(selection[1].shape[0])
        row.update(protocol=protocol, selected_on=chosen_on, n_selection=extra, n_labelled=row["n_train"] + extra,
                   n_test=int(test_y.shape[0]))
        if chosen_on == "test":
            row["warning"] = TEST_SELECTION_WARNING
        results.append(row)
        if on_result is not None:
            on_result(row)

    results: list[dict] = []
    if "zeroshot" in methods:
        logits = ZeroShot(weights, logit_scale).logits(test_x)
        for seed in seeds:
            finish({"method": "zeroshot", "shots": 0, "seed": int(seed), "top1": _top_k(logits, test_y, 1),
                    "top5": _top_k(logits, test_y, 5), "n_train": 0, "seconds": 0.0, "hyperparameters": {}})
    trained_methods = [m for m in methods if m != "zeroshot"]
    runs = [(k, seed) for k in shots for seed in seeds]
    bar = None
    if progress and trained_methods:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(runs) * len(trained_methods), desc="few-shot runs", leave=False)
    for k, seed in runs:
        chosen = pool[sample_shots(train_labels[pool], k, seed, n_classes)]
        index = torch.as_tensor(chosen, device=device)
        shot_x, shot_y = train_x[index], torch.as_tensor(train_labels[chosen], device=device)
        shot_views = None
        if views is not None:
            shot_views = views(chosen) if callable(views) else np.asarray(views)[chosen]
        for method in trained_methods:
            started = time.perf_counter()
            predict, hyperparameters = _fit_method(method, shot_x, shot_y, weights, logit_scale, selection, config,
                                                   baselines, seed, shot_views, device)
            logits = predict(test_x)
            finish({"method": method, "shots": k, "seed": int(seed), "top1": _top_k(logits, test_y, 1),
                    "top5": _top_k(logits, test_y, 5), "n_train": int(chosen.size),
                    "seconds": round(time.perf_counter() - started, 3),
                    "hyperparameters": {key: _plain(v) for key, v in hyperparameters.items()}})
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results


# --------------------------------------------------------------------------------------------------- reporting


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
    from neuroclip import __version__

    protocols = sorted({r.get("protocol") for r in results if r.get("protocol")})
    record = {
        "results": list(results),
        "summary": summarize(results),
        "protocols": {name: PROTOCOLS[name] for name in protocols if name in PROTOCOLS},
        "config": config or {},
        "neuroclip_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
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
