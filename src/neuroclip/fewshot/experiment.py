"""Whole few-shot experiments from datasets, and recognition with a saved adapter: what the command line calls.

``neuroclip fewshot`` -> :func:`fewshot_experiment`: features of the test split and of the train recordings the
plan draws as shots (through the feature cache), the text classifier, every method x shots x seed under the
protocol, and the result files (JSON with the whole configuration, optional CSV and PNG), optionally a saved
NeuroCLIP adapter or NeuroCLIP+ head.

``neuroclip classify --adapter PATH`` -> :func:`classify_with_adapter`: the backbone, frame settings and class
names stored beside the adapter, so the recordings are read exactly as the training ones were.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from neuroclip.errors import ConfigError
from neuroclip.fewshot.augment import view_provider
from neuroclip.fewshot.baselines import WITHIN_SHOTS
from neuroclip.fewshot.persist import AdapterFileError, load_adapter, predict_with_adapter, save_adapter
from neuroclip.fewshot.plan import SAVABLE_METHODS, FewShotPlan, check_methods
from neuroclip.fewshot.plus import fit_neuroclip_plus
from neuroclip.fewshot.protocol import feature_rows, run_fewshot
from neuroclip.fewshot.report import describe_config, plot_accuracy_vs_shots, result_record, write_results
from neuroclip.fewshot.sampling import check_shots_available, check_test_fraction, split_test_part
from neuroclip.fewshot.train import cpu_thread_limit, train_adapter


def _dataset_description(dataset, cached) -> dict:
    return {"name": getattr(dataset, "name", type(dataset).__name__),
            "root": str(getattr(dataset, "root", "")) or None, "split": getattr(dataset, "split", None),
            # the split's recordings, and those whose features the run computed (the train split: its shots)
            "n_recordings": len(dataset), "n_with_features": int(cached.labels.size),
            "feature_cache": str(cached.path) if str(cached.path) not in ("", ".") else None}


def fewshot_experiment(train_dataset, test_dataset, backbone, classnames: list[str], templates: list[str],
                       plan: FewShotPlan = FewShotPlan(), *, val_dataset=None, frame_config=None, cache=None,
                       batch_size: int = 32, num_workers: int = 0, device=None, progress: bool = True, out_json=None,
                       out_csv=None, out_png=None, save_adapter_to=None, extra_config: dict | None = None,
                       cpu_threads: int | None = None) -> dict | None:
    """Run a few-shot experiment end to end and return its record (``results``: one row per method x shots x
    seed with ``method, shots, seed, top1``; ``summary``; ``config``).

    Datasets give ``dataset[i] -> (EventStream, label)`` (``neuroclip.datasets``); features come from
    :func:`neuroclip.clip.extract.extract_features` with ``frame_config`` and ``cache``. Of a train split that
    lists its ``labels`` (every ``neuroclip.datasets`` split), only the recordings the plan reads are encoded
    (:meth:`~neuroclip.fewshot.plan.FewShotPlan.train_positions`): a 16-shot run on N-MNIST's 60,000 training
    recordings encodes at most 930 of them. Other datasets are encoded whole. ``plan`` says what runs
    (:class:`~neuroclip.fewshot.plan.FewShotPlan`; stored whole in the result's ``config.plan``); its recipe
    defaults to NeuroCLIP's for the backbone (150 epochs for RN50, else 250), and its ``augment`` (off by default)
    encodes that many augmented views of every training recording drawn as a shot. ``save_adapter_to`` also trains the
    NeuroCLIP adapter at the largest number of shots with the first seed and saves it with everything
    :func:`classify_with_adapter` needs; its epoch is chosen on the validation split under the ``validation``
    protocol and is the last one otherwise (never on test). Under ``torchrun`` every rank extracts its share of
    the features and only rank 0 trains and writes (the others return None). ``cpu_threads``: see
    :func:`~neuroclip.fewshot.protocol.run_fewshot`.
    """
    from neuroclip.clip import text_classifier
    from neuroclip.clip.extract import extract_features
    from neuroclip.clip.features import FrameConfig
    from neuroclip.processes import current_processes

    frame_config = frame_config or FrameConfig()
    if len(classnames) < 2:
        raise ConfigError("few-shot classification needs at least 2 class names")
    protocol = plan.protocol
    if protocol != "validation":
        val_dataset = None  # the default protocol uses the shots only: no other labelled recording is read
    # the shots come from the whole train split unless a validation part is carved from it
    if (val_dataset is not None or protocol != "validation") and hasattr(train_dataset, "labels"):
        check_shots_available(train_dataset, max(plan.shots))
    extract = dict(batch_size=batch_size, num_workers=num_workers, progress=progress)
    positions = None  # features of the whole train split, unless the dataset lists its labels
    if hasattr(train_dataset, "labels") and hasattr(train_dataset, "subset"):
        train_labels = np.asarray(train_dataset.labels, dtype=np.int64)
        _check_labels("train", train_labels, classnames)
        positions = plan.train_positions(train_labels, len(classnames), validation_given=val_dataset is not None)
        train = extract_features(train_dataset.subset(positions), backbone, frame_config, cache, **extract)
    else:
        train = extract_features(train_dataset, backbone, frame_config, cache, **extract)
        train_labels = train.labels.astype(np.int64)
        _check_labels("train", train_labels, classnames)
    test = extract_features(test_dataset, backbone, frame_config, cache, **extract)
    val = extract_features(val_dataset, backbone, frame_config, cache, **extract) if val_dataset is not None \
        else None
    if not current_processes().main:
        return None
    for name, split in (("test", test), ("validation", val)):  # the train labels were checked above
        if split is not None:
            _check_labels(name, split.labels, classnames)
    class_weights = text_classifier(backbone, list(classnames), list(templates))
    model_name = backbone.spec.model
    config = plan.recipe_for(model_name)
    # positions in the train split are its dataset indices (extract_features returns them in index order)
    views = None
    if plan.augment is not None:
        views = view_provider(train_dataset, backbone, frame_config, plan.augment, seed=0)

    results = run_fewshot(
        train.features, train_labels, test.features, test.labels, class_weights, backbone.logit_scale, plan,
        val_features=None if val is None else val.features, val_labels=None if val is None else val.labels,
        model_name=model_name, views=views, device=device, progress=progress, cpu_threads=cpu_threads,
        train_positions=positions)

    carved = protocol == "validation" and val is None  # a validation part carved from the train split
    description = _describe(
        plan, config, backbone, classnames, templates, frame_config, extra_config,
        val_per_class=plan.val_per_class if carved else None,
        validation_seed=plan.val_seed if carved else None,
        datasets={"train": _dataset_description(train_dataset, train),
                  "test": _dataset_description(test_dataset, test),
                  "validation": None if val is None else _dataset_description(val_dataset, val)})
    if save_adapter_to is not None:
        with cpu_thread_limit(cpu_threads):
            saved = _train_and_save(save_adapter_to, plan, train_dataset, train.features, train_labels, positions,
                                    val, class_weights, backbone, config, frame_config, classnames, templates, views,
                                    device)
        description["saved_adapter"] = [str(p) for p in saved]
        description["saved_method"] = _saved_method(plan.methods)
    return _write(results, description, out_json, out_csv, out_png, model_name)


# the protocols that select on nothing but the shots: the only ones a within-split run offers (a validation part or
# test selection would take recordings from the part being scored)
WITHIN_PROTOCOLS = ("shots", "last-epoch")


def check_within(protocol: str, test_fraction: float) -> None:
    """One line for a within-split run that cannot run: a protocol outside :data:`WITHIN_PROTOCOLS` or a test
    fraction outside (0, 1)."""
    if protocol not in WITHIN_PROTOCOLS:
        raise ConfigError(f"protocol {protocol!r} selects on recordings beside the shots, which a within-split run "
                          f"scores; use one of {', '.join(WITHIN_PROTOCOLS)}")
    check_test_fraction(test_fraction)


def fewshot_within_split(dataset, backbone, classnames: list[str], templates: list[str],
                         plan: FewShotPlan = FewShotPlan(), *, test_fraction: float = 0.5, frame_config=None,
                         cache=None, batch_size: int = 32, num_workers: int = 0, device=None, progress: bool = True,
                         out_json=None, out_csv=None, out_png=None, save_adapter_to=None,
                         extra_config: dict | None = None, cpu_threads: int | None = None) -> dict | None:
    """A few-shot experiment inside one labelled split (ours): for a user whose recordings are one folder of class
    folders, with no separate test split.

    Each seed scores its own part of the split, ``test_fraction`` of every class drawn with that seed
    (:func:`~neuroclip.fewshot.sampling.split_test_part`), and draws every number of shots from the rest, so no
    recording is both a shot and scored. Zero-shot is scored on each seed's part too, and every method of a seed on
    the same recordings, so :func:`~neuroclip.fewshot.report.paired_differences` pairs them as in
    :func:`fewshot_experiment`; the seeds' spread now also covers which recordings were scored. The rest as there
    (result record and files), except that only the protocols of :data:`WITHIN_PROTOCOLS` apply.
    ``save_adapter_to`` saves the head of the first seed's run at the largest number of shots, the one its row
    scored: its shots come from that seed's pool, and its metadata names the seed that drew the scored part
    (``within``). Every recording of the split is encoded once (through ``cache``)."""
    from neuroclip.clip import text_classifier
    from neuroclip.clip.extract import extract_features
    from neuroclip.clip.features import FrameConfig
    from neuroclip.processes import current_processes

    frame_config = frame_config or FrameConfig()
    if len(classnames) < 2:
        raise ConfigError("few-shot classification needs at least 2 class names")
    check_within(plan.protocol, test_fraction)
    names = list(getattr(dataset, "classes", None) or classnames)  # the folders' names in messages
    names = names if len(names) == len(classnames) else list(classnames)

    def split(labels):  # every seed's (pool, test part), checked against the largest number of shots
        _check_labels("scored", labels, classnames)
        return {seed: split_test_part(labels, test_fraction, seed, len(classnames), max(plan.shots), names)
                for seed in plan.seeds}

    # a split that lists its labels (every neuroclip.datasets split) is checked before anything is encoded
    parts = split(np.asarray(dataset.labels, dtype=np.int64)) if hasattr(dataset, "labels") else None
    whole = extract_features(dataset, backbone, frame_config, cache, batch_size=batch_size, num_workers=num_workers,
                             progress=progress)
    labels = whole.labels.astype(np.int64)  # in index order, as the features
    parts = parts or split(labels)
    if not current_processes().main:
        return None
    class_weights = text_classifier(backbone, list(classnames), list(templates))
    model_name = backbone.spec.model
    provider = None if plan.augment is None else view_provider(dataset, backbone, frame_config, plan.augment, seed=0)

    def pool_views(pool):  # views of shots drawn by position in ``pool``
        return None if provider is None else (lambda chosen: provider(pool[np.asarray(chosen)]))

    bar = None
    if progress:  # one bar over every seed's rows (run_fewshot's own would restart at each seed)
        from tqdm.auto import tqdm

        trained = sum(m != "zeroshot" for m in plan.methods)
        per_seed = len(plan.shots) * trained + int("zeroshot" in plan.methods)
        bar = tqdm(total=len(plan.seeds) * per_seed, desc="few-shot runs", leave=False)
    results = []
    for seed, (pool, test) in parts.items():
        rows = run_fewshot(whole.features[pool], labels[pool], whole.features[test], labels[test], class_weights,
                           backbone.logit_scale, dataclasses.replace(plan, seeds=(seed,)), model_name=model_name,
                           views=pool_views(pool), device=device, cpu_threads=cpu_threads,
                           on_result=None if bar is None else (lambda row: bar.update(1)))
        results += [row | {"test_part": int(seed)} for row in rows]  # the seed that drew the scored recordings
    if bar is not None:
        bar.close()
    first, (pool, test) = next(iter(parts.items()))  # every seed's parts have these sizes
    description = _describe(
        plan, plan.recipe_for(model_name), backbone, classnames, templates, frame_config, extra_config,
        datasets={"train": _dataset_description(dataset, whole), "test": _dataset_description(dataset, whole),
                  "validation": None},
        within={"test_fraction": test_fraction, "n_scored_per_seed": int(test.size), "n_pool_per_seed": int(pool.size),
                "rule": "per seed, round(test_fraction * n) of each class's n recordings (at least 1) are scored "
                        "and the shots drawn from the rest (neuroclip.fewshot.sampling.split_test_part)"})
    if save_adapter_to is not None:  # the head of the first seed's row at the largest shots, drawn from its pool
        with cpu_thread_limit(cpu_threads):
            saved = _train_and_save(
                save_adapter_to, dataclasses.replace(plan, seeds=(first,)), dataset, whole.features[pool],
                labels[pool], None, None, class_weights, backbone, plan.recipe_for(model_name), frame_config,
                classnames, templates, pool_views(pool), device, dataset_indices=pool,
                extra_metadata={"within": {"test_part": int(first), "test_fraction": test_fraction,
                                           "n_scored": int(test.size)}})
        description["saved_adapter"] = [str(p) for p in saved]
        description["saved_method"] = _saved_method(plan.methods)
    return _write(results, description, out_json, out_csv, out_png, model_name)


def _describe(plan: FewShotPlan, config, backbone, classnames, templates, frame_config, extra_config, **fields):
    """A run's ``config`` record: the plan, its recipe, the backbone, prompts and frames, plus ``fields``."""
    return describe_config(
        config, plan.baselines,
        plan=plan.record() | {"train_config": config.to_dict()},
        protocol=plan.protocol, methods=list(plan.methods), shots=list(plan.shots), seeds=list(plan.seeds),
        classnames=list(classnames), templates=list(templates), frames=dataclasses.asdict(frame_config),
        backbone=backbone.spec.identity() | {"weights_fingerprint": backbone.fingerprint(),
                                            "image_size": backbone.image_size, "logit_scale": backbone.logit_scale},
        augment=None if plan.augment is None else dataclasses.asdict(plan.augment), **fields,
    ) | (extra_config or {})


def _write(results, description, out_json, out_csv, out_png, model_name) -> dict:
    record = write_results(results, out_json, description, out_csv) if out_json is not None else \
        result_record(results, description)
    if out_png is not None:
        title = f"{description['datasets']['train']['name']} few-shot, {model_name}"
        plot_accuracy_vs_shots(results, out_png, title=title)
    return record


def _recording_names(dataset, indices) -> list:
    """The files of ``dataset``'s samples at ``indices`` where it lists them, else the indices."""
    if hasattr(dataset, "path"):
        return [str(dataset.path(int(i))) for i in indices]
    if hasattr(dataset, "samples"):
        samples = dataset.samples  # built once: a property that lists the whole split
        return [str(samples[int(i)][0]) for i in indices]
    return [int(i) for i in indices]


def _check_labels(split: str, labels, classnames) -> None:
    labels = np.asarray(labels)
    if labels.size and int(labels.max()) >= len(classnames):
        raise ConfigError(f"the {split} split has labels up to {int(labels.max())} but there are only "
                          f"{len(classnames)} class names")


def _saved_method(methods) -> str:
    savable = [m for m in check_methods(methods) if m in SAVABLE_METHODS]
    if not savable:
        raise ConfigError(f"saving an adapter needs one of the methods {', '.join(SAVABLE_METHODS)}")
    return savable[0]


def _train_and_save(path, plan: FewShotPlan, train_dataset, features, labels, positions, val, class_weights,
                    backbone, config, frame_config, classnames, templates, views, device, dataset_indices=None,
                    extra_metadata: dict | None = None):
    """Train the plan's first savable head at its largest number of shots with its first seed, on the same shots
    :func:`run_fewshot` draws for that run, and save it. ``labels`` label the recordings the shots are drawn from;
    the rows of ``features`` are their ``positions`` (None: all of them). ``dataset_indices`` maps those recordings
    to ``train_dataset``'s indices (None: the same), for the recording names the metadata lists."""
    method, protocol, baselines = _saved_method(plan.methods), plan.protocol, plan.baselines
    rows = feature_rows(positions, labels.size, features.shape[0])
    n_classes = class_weights.shape[0]
    pool, held = plan.pool(labels, n_classes, validation_given=val is not None)
    selection = WITHIN_SHOTS if protocol == "shots" else None
    if protocol == "validation":
        selection = (val.features, val.labels) if val is not None else (features[rows(held)], labels[held])
    k, seed = max(plan.shots), plan.seeds[0]
    chosen = plan.draw(labels, pool, k, seed, n_classes)
    shot_features = features[rows(chosen)]
    shot_views = None if views is None else views(chosen)
    held_out = None if isinstance(selection, str) else selection
    if method == "neuroclip-plus":
        model = fit_neuroclip_plus(shot_features, labels[chosen], class_weights, backbone.logit_scale,
                                   selection, baselines.plus, seed, shot_views, device)
        saved_config, selected_epoch = {"plus": dataclasses.asdict(baselines.plus)}, \
            model.hyperparameters["selected_epoch"]
    else:
        if method == "neuroclip-relu":
            config = config.replace(bottleneck="relu")
        trained = train_adapter(shot_features, labels[chosen], class_weights, backbone.logit_scale, config,
                                seed, views=shot_views,
                                selection_features=None if held_out is None else held_out[0],
                                selection_labels=None if held_out is None else held_out[1], device=device)
        model, saved_config, selected_epoch = trained.model, config.to_dict(), trained.fit.selected_epoch
    metadata = {
        "method": method, "protocol": protocol,
        "classnames": list(classnames), "templates": list(templates), "frames": dataclasses.asdict(frame_config),
        "backbone": {"model": backbone.spec.model, "pretrained": backbone.spec.pretrained,
                     "precision": backbone.spec.precision, "weights_fingerprint": backbone.fingerprint()},
        "train_config": saved_config, "shots": k, "seed": seed,
        "selected_on": "validation" if held_out is not None else "none (last epoch)",
        "selected_epoch": selected_epoch,
        "training_recordings": _recording_names(
            train_dataset, chosen if dataset_indices is None else np.asarray(dataset_indices)[chosen]),
    } | (extra_metadata or {})
    return save_adapter(path, model.cpu(), metadata, n_frames=features.shape[1])


def adapter_info(path) -> dict:
    """The JSON document saved beside an adapter (``metadata``: classnames, templates, frames, backbone, ...)."""
    return load_adapter(path)[1]


def classify_with_adapter(path, recordings, backbone=None, *, k: int = 5, device=None, batch_size: int = 16,
                          format: str | None = None, reading: dict | None = None):
    """Top-k predictions (``neuroclip.clip.zeroshot.Prediction``) of a saved NeuroCLIP adapter or NeuroCLIP+ head
    for recordings: event streams or files (read a batch at a time; ``format`` and ``reading`` go to the reader,
    see :func:`neuroclip.clip.features.frame_features`).

    The frame settings and class names come from the adapter's JSON; ``backbone`` defaults to the one stored there
    (``load_backbone(model, pretrained)``). A backbone whose weights differ from the training one is refused when
    the stored fingerprint says so.
    """
    from neuroclip.clip import load_backbone, top_k
    from neuroclip.clip.features import FrameConfig, frame_features

    document = adapter_info(path)
    metadata = document.get("metadata", {})
    stored = metadata.get("backbone") or {}
    if backbone is None:
        if not stored.get("model"):
            raise AdapterFileError(f"{path}: its JSON names no backbone; pass one")
        backbone = load_backbone(stored["model"], stored.get("pretrained"), device=device,
                                 precision=stored.get("precision", "fp32"))
    fingerprint = stored.get("weights_fingerprint")
    if fingerprint and fingerprint != backbone.fingerprint():
        raise AdapterFileError(f"{path} was trained on features of {stored.get('model')} ({stored.get('pretrained')}) "
                               f"with other weights than the backbone given; load that backbone")
    frame_config = FrameConfig(**metadata["frames"]) if metadata.get("frames") else FrameConfig()
    classnames = metadata.get("classnames") or [str(i) for i in range(document["n_classes"])]
    features = frame_features(list(recordings), backbone, frame_config, batch_size=batch_size, format=format,
                              reading=reading)
    logits = predict_with_adapter(Path(path), features, device=device)
    return top_k(logits, classnames, k)
