"""Running a few-shot plan: every method at every number of shots for every seed on cached features, one result
row per run. The plan (methods, shots, seeds, protocols) is :mod:`neuroclip.fewshot.plan`, drawing shots
:mod:`neuroclip.fewshot.sampling`, result files and plots :mod:`neuroclip.fewshot.report`; their names are
importable from here as well."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from neuroclip.clip.zeroshot import logits_in_chunks
from neuroclip.devices import resolve_device
from neuroclip.errors import ConfigError
from neuroclip.fewshot.baselines import (
    WITHIN_SHOTS,
    ZeroShot,
    fit_clip_adapter,
    fit_linear_probe,
    fit_tip_adapter,
    fit_tip_adapter_f,
)
from neuroclip.fewshot.plan import (  # noqa: F401 (re-exported)
    METHOD_ALIASES,
    METHODS,
    PROTOCOLS,
    TEST_SELECTION_WARNING,
    BaselineConfigs,
    FewShotPlan,
    check_methods,
)
from neuroclip.fewshot.plus import fit_neuroclip_plus
from neuroclip.fewshot.report import (  # noqa: F401 (re-exported)
    CSV_COLUMNS,
    describe_config,
    format_summary,
    pack_hits,
    plot_accuracy_vs_shots,
    result_record,
    summarize,
    write_results,
)
from neuroclip.fewshot.sampling import check_shots_available, sample_shots, split_validation  # noqa: F401
from neuroclip.fewshot.train import as_tensor, cpu_thread_limit, predict_logits, train_adapter
from neuroclip.provenance import accuracy, hits


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


def _plain(value):
    """A hyper-parameter as JSON/CSV shows it: numpy and torch scalars as Python numbers, floats to 6 decimals."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return round(value, 6) if isinstance(value, float) else value


def _scores(logits, labels) -> dict:
    """A row's test scores: top-1, top-5, and which recordings were right at top-1 (``correct``, packed)."""
    return {"top1": accuracy(logits, labels, 1), "top5": accuracy(logits, labels, 5),
            "correct": pack_hits(hits(logits, labels).cpu().numpy())}


def feature_rows(train_positions, n_labels: int, n_rows: int) -> Callable[[np.ndarray], np.ndarray]:
    """A map from positions in a train split of ``n_labels`` recordings to rows of its features: the identity when
    every recording has a row (``train_positions`` None), else row i holds position ``train_positions[i]``. Asking
    for a position without a row is a ConfigError."""
    if train_positions is None:
        if n_rows != n_labels:
            raise ConfigError(f"the train split has {n_labels} labels but {n_rows} feature rows; pass "
                              "train_positions when the features cover part of the split")
        return lambda positions: np.asarray(positions)
    train_positions = np.asarray(train_positions, dtype=np.int64)
    if train_positions.ndim != 1 or train_positions.size != n_rows:
        raise ConfigError(f"train_positions must list one position per feature row ({n_rows}); got shape "
                          f"{tuple(train_positions.shape)}")
    if train_positions.size and (train_positions.min() < 0 or train_positions.max() >= n_labels):
        raise ConfigError(f"train_positions must lie in [0, {n_labels}), the positions of the train labels")
    lookup = np.full(n_labels, -1, dtype=np.int64)
    lookup[train_positions] = np.arange(n_rows)

    def rows(positions):
        found = lookup[np.asarray(positions, dtype=np.int64)]
        if (found < 0).any():
            missing = np.asarray(positions)[found < 0]
            raise ConfigError(f"no features for train position(s) {missing[:5].tolist()}: extract the positions "
                              "FewShotPlan.train_positions lists for this plan")
        return found

    return rows


def run_fewshot(train_features, train_labels, test_features, test_labels, class_weights, logit_scale: float = 100.0,
                plan: FewShotPlan = FewShotPlan(), *, val_features=None, val_labels=None, model_name: str | None = None,
                views=None, device=None, progress: bool = False, on_result: Callable[[dict], None] | None = None,
                cpu_threads: int | None = None, train_positions=None) -> list[dict]:
    """Run every method at every number of shots for every seed; one result row per run.

    ``*_features`` are raw per-frame CLIP features [N, T, C] (``CachedFeatures.features``), ``class_weights`` the
    normalised text features [K, C] (:func:`neuroclip.clip.text_classifier`), ``logit_scale`` CLIP's (100 for
    OpenAI's). ``plan`` says what runs (:class:`~neuroclip.fewshot.plan.FewShotPlan`); its recipe defaults to
    NeuroCLIP's for ``model_name`` (150 epochs for RN50, else 250).
    ``views``: augmented features of the train split, an array [N_train, V, T, C] or a callable taking train
    positions and returning their [n, V, T, C] views (see :mod:`neuroclip.fewshot.augment`); used by the trained
    heads and Tip-Adapter's cache. ``on_result`` is called with each row as it is finished.

    ``train_labels`` label the whole train split, since the shots are drawn from them. ``train_features`` may hold
    only some of its recordings: ``train_positions`` then gives the position of each row (at least those
    :meth:`FewShotPlan.train_positions` lists; the draws are the same as with every row present). Views are asked
    for by position in the split.

    A row: ``{method, shots, seed, top1, top5, protocol, selected_on, n_train, n_selection, n_labelled, n_test,
    seconds, hyperparameters, correct}`` plus ``warning`` under the test-selection protocol; ``correct`` holds
    which test recordings were right at top-1 (:func:`~neuroclip.fewshot.report.unpack_hits`), so that two
    methods can be compared recording by recording (:func:`~neuroclip.fewshot.report.paired_differences`).
    ``n_labelled`` counts every labelled recording the run used to train and select (shots + validation; the test
    set under ``paper-test-selection``; 0 for zero-shot). Zero-shot gives one row per seed, with ``shots = 0``.

    ``cpu_threads`` sets torch's intra-op threads for the run (restored after). The batches are small, so extra
    threads gain little, and on a CPU shared with other jobs they can cost several times over (benchmarks/
    fewshot.py: 250 epochs took 6 s with 1 thread and 49 s with 2 on a busy 2-core machine).
    """
    if cpu_threads is not None:
        with cpu_thread_limit(cpu_threads):
            return run_fewshot(train_features, train_labels, test_features, test_labels, class_weights, logit_scale,
                               plan, val_features=val_features, val_labels=val_labels, model_name=model_name,
                               views=views, device=device, progress=progress, on_result=on_result,
                               train_positions=train_positions)
    if not isinstance(plan, FewShotPlan):
        raise ConfigError(f"plan must be a FewShotPlan, got {type(plan).__name__}")
    methods, shots, seeds, protocol = plan.methods, plan.shots, plan.seeds, plan.protocol
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
    rows = feature_rows(train_positions, train_labels.size, train_x.shape[0])
    config = plan.recipe_for(model_name)
    baselines = plan.baselines

    pool, held = plan.pool(train_labels, n_classes, validation_given=val_features is not None)
    selection, selected_on = None, "none"
    if protocol == "shots":
        selection, selected_on = WITHIN_SHOTS, "shots"
    elif protocol == "validation":
        if val_features is not None:
            selection = (as_tensor(val_features, device), as_tensor(np.asarray(val_labels), device, torch.long))
        else:
            selection = (train_x[torch.as_tensor(rows(held), device=device)],
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
        scores = _scores(logits_in_chunks(ZeroShot(weights, logit_scale).logits, test_x), test_y)
        for seed in seeds:
            finish({"method": "zeroshot", "shots": 0, "seed": int(seed), **scores, "n_train": 0, "seconds": 0.0,
                    "hyperparameters": {}})
    trained_methods = [m for m in methods if m != "zeroshot"]
    runs = [(k, seed) for k in shots for seed in seeds]
    bar = None
    if progress and trained_methods:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(runs) * len(trained_methods), desc="few-shot runs", leave=False)
    for k, seed in runs:
        chosen = plan.draw(train_labels, pool, k, seed, n_classes)
        index = torch.as_tensor(rows(chosen), device=device)
        shot_x, shot_y = train_x[index], torch.as_tensor(train_labels[chosen], device=device)
        shot_views = None
        if views is not None:
            shot_views = views(chosen) if callable(views) else np.asarray(views)[chosen]
        for method in trained_methods:
            started = time.perf_counter()
            predict, hyperparameters = _fit_method(method, shot_x, shot_y, weights, logit_scale, selection, config,
                                                   baselines, seed, shot_views, device)
            scores = _scores(logits_in_chunks(predict, test_x), test_y)
            finish({"method": method, "shots": k, "seed": int(seed), **scores, "n_train": int(chosen.size),
                    "seconds": round(time.perf_counter() - started, 3),
                    "hyperparameters": {key: _plain(v) for key, v in hyperparameters.items()}})
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results


