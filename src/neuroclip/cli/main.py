"""The ``neuroclip`` command. Subcommands call the library; no logic lives here.

A user mistake (a bad file, an impossible parameter) prints one line to stderr and exits with code 2, with no
traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from neuroclip.cli.options import (
    CLIP_FRAME_OPTIONS,
    DEVICE_HELP,
    MODEL_HELP,
    ClassnamesOption,
    DecayOption,
    DeviceOption,
    EncodingOption,
    FormatOption,
    FramesOption,
    FusionOption,
    HotPixelOption,
    LayoutOption,
    ModelOption,
    NormalizationOption,
    PretrainedOption,
    SensorSizeOption,
    SplitByOption,
    TemplateOption,
    ThresholdOption,
    WorkersOption,
    check_encoding_options,
    check_split_and_encoding_parameters,
    given_options,
    read_options,
)
from neuroclip.errors import NeuroclipError

app = typer.Typer(
    name="neuroclip",
    help="Event-camera recordings: read real sensor files, turn them into frames, recognise them with CLIP.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _format_number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


# --------------------------------------------------------------------------------------------------- checks

def _check_frame_options(context: typer.Context, encoding: str, split_by: str = "number",
                         normalization: str = "neuroclip", hot_pixel_sigmas: float = 10.0,
                         decay_us: float = 50_000.0) -> None:
    """Reject unknown encodings, splits, normalisations and encoding parameters, and parameters given to an
    encoding that does not read them, before any model or data is loaded (FrameConfig checks the values again,
    under its field names)."""
    from neuroclip.errors import ConfigError
    from neuroclip.frames.names import ENCODINGS, NORMALIZATIONS

    if encoding not in ENCODINGS or encoding == "counts":
        choices = ", ".join(name for name in ENCODINGS if name != "counts")
        raise ConfigError(f"--encoding {encoding!r} is unknown; choose one of {choices}")
    check_split_and_encoding_parameters(split_by, hot_pixel_sigmas, decay_us)
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    check_encoding_options(context, encoding)


def _check_fusion(fusion: str) -> None:
    from neuroclip.clip.zeroshot import FUSIONS
    from neuroclip.errors import ConfigError

    if fusion not in FUSIONS:
        raise ConfigError(f"--fusion {fusion!r} is unknown; choose one of {', '.join(FUSIONS)}")


def _dataset_name(name: str | None) -> str | None:
    """The registered name of ``--dataset`` (``N-MNIST`` works), or an error listing the known ones."""
    if name is None:
        return None
    from neuroclip.datasets.registry import dataset_key

    return dataset_key(name)


def _load_backbone(model: str, pretrained: str | None, device: str | None):
    """``--model``/``--pretrained`` as a loaded CLIP; no ``--pretrained`` means the model's usual weights."""
    from neuroclip.clip import load_backbone

    return load_backbone(model, "default" if pretrained is None else pretrained, device=device)


# --------------------------------------------------------------------------------------------------- commands


@app.command()
def info(
    files: list[Path] = typer.Argument(..., help="Recordings to summarise (any supported format)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file, as a JSON list."),
    format: FormatOption = None,
    layout: LayoutOption = None,
    sensor_size: SensorSizeOption = None,
):
    """Print sensor size, event count, duration, event rate and ON fraction of each recording (read chunk by
    chunk where the format allows, so files larger than memory work)."""
    from neuroclip.events import summarize_file

    rows, failures = [], []
    for path in files:
        try:
            summary = summarize_file(path, format=format, **read_options(layout, sensor_size))
        except NeuroclipError as error:  # describe the readable files all the same, then report the others
            failures.append(str(error))
            continue
        rows.append({"file": str(path), **summary})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif rows:
        _print_info_table(rows)
    if failures:
        more = f" (and {len(failures) - 1} more unreadable file(s))" if len(failures) > 1 else ""
        raise NeuroclipError(failures[0] + more)


def _print_info_table(rows: list[dict]) -> None:
    header = ("file", "format", "sensor", "events", "duration_ms", "rate_ev_per_s", "on_fraction")
    table = [header]
    for row in rows:
        duration_ms = row["duration_us"] / 1000
        table.append((row["file"], row["format"], f"{row['width']}x{row['height']}", str(row["events"]),
                      f"{duration_ms:.1f}", _format_number(row["event_rate_hz"]),
                      _format_number(row["on_fraction"])))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


@app.command()
def formats():
    """List the file formats neuroclip reads and writes."""
    from neuroclip.events.io import FORMATS

    for name, (_reader, writer, description) in FORMATS.items():
        typer.echo(f"{name:15s} {'read/write' if writer else 'read':10s} {description}")


@app.command()
def classify(
    context: typer.Context,
    files: list[Path] = typer.Argument(..., help="Recordings to recognise (pictures for a SpikeCLIP trained on "
                                                 "pictures)."),
    classnames: ClassnamesOption = None,
    template: TemplateOption = None,
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset whose NeuroCLIP settings (template, "
                                                               "threshold, class names) to use."),
    model: ModelOption = "ViT-B-32",
    pretrained: PretrainedOption = None,
    top: int = typer.Option(3, "--top-k", min=1, help="How many classes to print per file."),
    frames: FramesOption = 10,
    split_by: SplitByOption = "number",
    encoding: EncodingOption = "discrimination",
    threshold: ThresholdOption = None,
    hot_pixel_sigmas: HotPixelOption = 10.0,
    decay_us: DecayOption = 50_000.0,
    normalization: NormalizationOption = "neuroclip",
    fusion: FusionOption = "mean_cosine",
    device: DeviceOption = None,
    adapter: Path | None = typer.Option(None, "--adapter", help="A trained few-shot adapter (neuroclip fewshot "
                                                                "--save-adapter); its classes and CLIP are used."),
    spikeclip: Path | None = typer.Option(None, "--spikeclip", help="A SpikeCLIP checkpoint: recognise with the "
                                                                    "spiking model instead of CLIP."),
    format: FormatOption = None,
    layout: LayoutOption = None,
    sensor_size: SensorSizeOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the predictions as JSON (a list, one per file)."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the predictions as CSV (file, rank, class, "
                                                            "probability); with --window, the timeline CSV."),
    window: str | None = typer.Option(None, "--window", help="Recognise one long recording window by window: the "
                                                             "window's length (50ms, 2s, 800us)."),
    stride: str | None = typer.Option(None, "--stride", help="With --window: the step between windows (default: "
                                                             "the window, no overlap)."),
    plot: Path | None = typer.Option(None, "--plot", help="With --window: the PNG of class probabilities over time "
                                                          "(default: beside the CSV)."),
    center_on: Path | None = typer.Option(None, "--center-on", help="Ours, not NeuroCLIP's: a folder of unlabelled "
                                                                    "recordings from the same sensor; their mean "
                                                                    "frame feature (of at most 100) is subtracted "
                                                                    "before zero-shot scoring."),
):
    """Print the top-k classes of each recording: zero-shot CLIP, a few-shot adapter, or a SpikeCLIP model; with
    --window, a timeline of one long recording (CSV and plot)."""
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.devices import resolve_device
    from neuroclip.errors import ConfigError
    from neuroclip.frames.clip_input import FrameConfig
    from neuroclip.recognize import classify_files

    device = str(resolve_device(device))
    reading = read_options(layout, sensor_size)
    timeline = _timeline_options(files, window, stride, csv_out, plot, adapter, spikeclip)
    if timeline is not None and given_options(context, ("top",)):
        raise ConfigError("--top-k ranks the classes of whole recordings; a --window timeline writes every class's "
                          "probability for every window: drop --top-k")
    if csv_out is not None:
        from neuroclip.outputs import check_output_file

        check_output_file(csv_out, "--csv", suffixes=(".csv",))
    if adapter is not None and spikeclip is not None:
        raise ConfigError("give either --adapter or --spikeclip, not both")
    if center_on is not None and (adapter is not None or spikeclip is not None or timeline is not None):
        given = "--adapter" if adapter is not None else "--spikeclip" if spikeclip is not None else "--window"
        raise ConfigError(f"--center-on applies to zero-shot CLIP on whole recordings, not with {given}; drop one "
                          "of them")
    if spikeclip is not None:
        ignored = given_options(context, CLIP_FRAME_OPTIONS)
        if ignored:
            raise ConfigError(f"{', '.join(ignored)}: a SpikeCLIP reads its own count frames, without CLIP; drop "
                              "these options (or classify with CLIP without --spikeclip)")
    if adapter is not None:
        ignored = given_options(context, ("classnames", "template", "dataset", *CLIP_FRAME_OPTIONS))
        if ignored:
            raise ConfigError(f"{', '.join(ignored)}: an adapter brings its own classes, prompts, frames and CLIP; "
                              "drop these options (or classify zero-shot without --adapter)")
        predictions = classify_files(files, adapter=adapter, k=top, device=device, format=format, reading=reading)
    else:
        _check_frame_options(context, encoding, split_by, normalization, hot_pixel_sigmas, decay_us)
        _check_fusion(fusion)
        dataset = _dataset_name(dataset)
        if dataset is None and classnames is not None:  # a set name such as cifar10dvs brings its dataset's settings
            from neuroclip.clip.presets import DATASET_SETTINGS

            dataset = classnames if classnames in DATASET_SETTINGS else None
        if classnames is None and dataset is None:
            raise ConfigError("--classnames is needed (a set such as nmnist, or names separated by commas), or "
                              "--dataset NAME for that dataset's classes")
        settings = resolve_settings(dataset, threshold, template, classnames)
        if spikeclip is not None:
            predictions = classify_files(files, settings.classnames, settings.templates, spikeclip=spikeclip,
                                         k=top, device=device, format=format, reading=reading)
        else:
            config = FrameConfig(encoding=encoding, n_frames=frames, split_by=split_by,
                                 threshold=settings.threshold, normalization=normalization,
                                 hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us)
            backbone = _load_backbone(model, pretrained, device)
            if timeline is not None:
                _classify_timeline(files[0], backbone, settings, config, fusion, timeline, format, reading, as_json)
                return
            center = None
            if center_on is not None:
                from neuroclip.recognize import center_from_recordings

                center, used, found = center_from_recordings(center_on, backbone, config, format=format,
                                                             reading=reading)
                typer.echo(f"centred on {used} of the {found} recordings under {center_on}", err=True)
            predictions = classify_files(files, settings.classnames, settings.templates, backbone=backbone,
                                         frame_config=config, fusion=fusion, k=top, format=format,
                                         reading=reading, center=center)
    shown = len(predictions[0].labels) if predictions else top
    if shown < top and given_options(context, ("top",)):
        typer.echo(f"note: --top-k {top} is more than the {shown} classes; all {shown} are shown", err=True)
    rows = [{"file": str(path), "top": [{"class": name, "label": int(label), "probability": round(float(p), 6)}
                                        for label, name, p in zip(prediction.labels, prediction.classnames,
                                                                  prediction.probabilities)]}
            for path, prediction in zip(files, predictions)]
    if csv_out is not None:
        _write_predictions_csv(rows, csv_out)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['file']}: " + ", ".join(f"{t['class']} {t['probability']:.3f}" for t in row["top"]))


def _timeline_options(files, window, stride, csv_out, plot, adapter, spikeclip) -> dict | None:
    """--window/--stride/--plot checked before anything is loaded: the timeline's (window, stride, csv, plot)."""
    from neuroclip.errors import ConfigError
    from neuroclip.outputs import check_output_file
    from neuroclip.timeline import parse_duration_us

    if window is None:
        given = [name for name, value in (("--stride", stride), ("--plot", plot)) if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} belong to a timeline: add --window LENGTH (e.g. --window 50ms)")
        return None
    if len(files) != 1:
        raise ConfigError(f"--window makes a timeline of one recording; got {len(files)} files")
    if adapter is not None or spikeclip is not None:
        raise ConfigError("--window recognises windows zero-shot with CLIP; drop --adapter/--spikeclip")
    window_us = parse_duration_us(window, "--window")
    stride_us = parse_duration_us(stride, "--stride") if stride is not None else window_us
    if stride_us > window_us:
        raise ConfigError(f"--stride {stride} is longer than --window {window}: events between windows would be "
                          "skipped; use a stride at most as long as the window")
    csv_path = csv_out if csv_out is not None else Path(f"{Path(files[0]).stem}_timeline.csv")
    check_output_file(csv_path, "--csv", suffixes=(".csv",))
    plot_path = plot if plot is not None else csv_path.with_suffix(".png")
    check_output_file(plot_path, "--plot", suffixes=(".png",))
    return {"window_us": window_us, "stride_us": stride_us, "csv": csv_path, "plot": plot_path}


def _classify_timeline(path, backbone, settings, frame_config, fusion, timeline, format, reading, as_json) -> None:
    from neuroclip.timeline import classify_timeline, write_timeline

    result = classify_timeline(path, backbone, settings.classnames, settings.templates,
                               window_us=timeline["window_us"], stride_us=timeline["stride_us"],
                               frame_config=frame_config, fusion=fusion, format=format, reading=reading)
    written = write_timeline(result, timeline["csv"], timeline["plot"])
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    rows = result["rows"]
    scored = [row for row in rows if row["probabilities"] is not None]
    names = settings.classnames
    for row in scored[:20]:
        best = max(range(len(names)), key=lambda k: row["probabilities"][k])
        typer.echo(f"{row['start_us'] / 1e3:10.1f} ms  {row['events']:8d} events  {names[best]} "
                   f"{row['probabilities'][best]:.3f}")
    if len(scored) > 20:
        typer.echo(f"... {len(scored) - 20} more windows in the CSV")
    factor = result["realtime_factor"]
    typer.echo(f"{len(rows)} windows ({len(rows) - len(scored)} with fewer events than frames), "
               f"{result['seconds']:.2f} s, real-time factor {factor:.3g} -> {', '.join(map(str, written))}")


def _write_predictions_csv(rows: list[dict], path: Path) -> None:
    import csv
    import io

    from neuroclip.outputs import atomic_write

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "rank", "label", "class", "probability"])
    for row in rows:
        for rank, top in enumerate(row["top"], start=1):
            writer.writerow([row["file"], rank, top["label"], top["class"], top["probability"]])
    atomic_write(path, lambda fp: fp.write(buffer.getvalue().encode()))


@app.command()
def zeroshot(
    context: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (nmnist, cifar10dvs, ...) or 'folder'."),
    root: Path = typer.Option(..., "--root", help="Dataset folder (N-MNIST: Train/<digit>/*.bin, Test/<digit>/...)."),
    split: str = typer.Option("test", "--split", help="Split to evaluate: test, train, val, train_full (folder: "
                                                      "also all)."),
    model: ModelOption = "ViT-B-32",
    pretrained: PretrainedOption = None,
    out: Path = typer.Option(Path("zeroshot.json"), "--out", help="Result JSON (top1, n_samples, config)."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write per-recording predictions as CSV."),
    classnames: ClassnamesOption = None,
    template: TemplateOption = None,
    frames: FramesOption = 10,
    split_by: SplitByOption = "number",
    encoding: EncodingOption = "discrimination",
    threshold: ThresholdOption = None,
    hot_pixel_sigmas: HotPixelOption = 10.0,
    decay_us: DecayOption = 50_000.0,
    normalization: NormalizationOption = "neuroclip",
    fusion: FusionOption = "mean_cosine",
    center_on: str | None = typer.Option(None, "--center-on", help="Ours, not NeuroCLIP's: subtract the mean frame "
                                                                   "feature of this split's recordings (e.g. "
                                                                   "train: at most 100, evenly spaced; labels "
                                                                   "never used) before scoring."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Recordings per CLIP batch."),
    workers: WorkersOption = None,
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache (default ~/.cache/neuroclip)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    device: DeviceOption = None,
    spikeclip: str | None = typer.Option(None, "--spikeclip", help="A SpikeCLIP checkpoint, or the bundled "
                                                                   "neuroclip-mini-spiking: evaluate the spiking "
                                                                   "model instead of CLIP."),
):
    """Evaluate NeuroCLIP zero-shot (or a SpikeCLIP) on a dataset split; write JSON (and CSV) with the full
    configuration."""
    from neuroclip.cache import FeatureCache
    from neuroclip.clip.evaluate import write_result, zeroshot_evaluate
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.datasets import get_dataset
    from neuroclip.devices import default_workers
    from neuroclip.errors import ConfigError
    from neuroclip.frames.clip_input import FrameConfig
    from neuroclip.outputs import check_output_dir, check_output_file
    from neuroclip.processes import join_processes

    _check_frame_options(context, encoding, split_by, normalization, hot_pixel_sigmas, decay_us)
    _check_fusion(fusion)
    if spikeclip is not None:
        clip_only = given_options(context, (*CLIP_FRAME_OPTIONS, "center_on", "workers", "cache_dir", "no_cache"))
        if clip_only:
            raise ConfigError(f"{', '.join(clip_only)}: a SpikeCLIP reads its own count frames, without CLIP or "
                              "its feature cache; drop these options (or evaluate CLIP without --spikeclip)")
    if cache_dir is not None and no_cache:
        raise ConfigError("--cache-dir names a feature cache that --no-cache turns off: give one of them")
    check_output_file(out, "--out")
    if csv_out is not None:
        check_output_file(csv_out, "--csv")
    if cache_dir is not None:
        check_output_dir(cache_dir, "--cache-dir")
    processes = join_processes(device)  # under torchrun: one share of the recordings per rank
    workers = default_workers(processes.device) if workers is None else workers
    device = str(processes.device)
    name = _dataset_name(dataset)
    data = get_dataset(name, root, split)
    unlabelled = get_dataset(name, root, center_on) if center_on is not None else None
    settings = resolve_settings(name, threshold, template, classnames, dataset_classes=list(data.classes))
    if spikeclip is not None:
        from neuroclip.spikeclip.model import zeroshot_evaluate_spikeclip


        result = zeroshot_evaluate_spikeclip(data, spikeclip, settings.classnames, settings.templates, device,
                                             batch_size=batch_size)
        result["config"]["settings"] = settings.record()
        write_result(result, out, csv_out)
        typer.echo(f"{data.name} {split}: top-1 {result['top1']:.4f}, top-5 {result['top5']:.4f} "
                   f"on {result['n_samples']} recordings (SpikeCLIP {spikeclip}) -> {out}")
        return
    frame_config = FrameConfig(encoding=encoding, n_frames=frames, split_by=split_by, threshold=settings.threshold,
                               normalization=normalization, hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us)
    backbone = _load_backbone(model, pretrained, device)
    cache = None if no_cache else FeatureCache(cache_dir)
    result = zeroshot_evaluate(data, backbone, settings.classnames, settings.templates, frame_config, fusion,
                               cache, batch_size=batch_size, num_workers=workers, center_on=unlabelled)
    result["config"]["settings"] = settings.record()
    if not processes.main:
        return
    write_result(result, out, csv_out)
    centred = f"; centred on {center_on}" if center_on is not None else ""
    typer.echo(f"{data.name} {split}: top-1 {result['top1']:.4f}, top-5 {result['top5']:.4f} "
               f"on {result['n_samples']} recordings ({model}, {backbone.spec.pretrained}{centred}) -> {out}")


@app.command()
def fewshot(
    context: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (nmnist, cifar10dvs, ...) or 'folder'."),
    root: Path = typer.Option(..., "--root", help="Dataset folder; shots come from its train split, scores from "
                                                  "its test split."),
    shots: list[int] = typer.Option([1, 2, 4, 8, 16], "--shots", min=1, help="Recordings per class: --shots 1 2 4, "
                                                                              "--shots 1,2,4 or repeated."),
    seeds: list[int] = typer.Option([1, 2, 3], "--seeds", min=0, help="Seeds of the shot draws (a list, as "
                                                                      "--shots)."),
    methods: list[str] = typer.Option(["neuroclip"], "--method", help="Methods (a list, as --shots): neuroclip, "
                                      "neuroclip-plus, neuroclip-relu, zeroshot, linear, tip, tip-f, clip-adapter."),
    model: ModelOption = "ViT-B-32",
    pretrained: PretrainedOption = None,
    out: Path = typer.Option(Path("fewshot.json"), "--out", help="Result JSON: results = [{method, shots, seed, "
                                                                 "top1}], summary and config."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the rows as CSV."),
    plot: Path | None = typer.Option(None, "--plot", help="PNG plot of accuracy vs shots (default: beside --out)."),
    protocol: str = typer.Option("shots", "--protocol", help="shots (default: only the shots; cross-validation "
                                 "within them), validation (select on the val split: extra labelled recordings), "
                                 "last-epoch, or paper-test-selection (the released code's selection on test, for "
                                 "comparison only)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs of the NeuroCLIP adapter (methods "
                                                                     "neuroclip, neuroclip-relu; default: "
                                                                     "NeuroCLIP's 150 for RN50, 250 otherwise)."),
    classnames: ClassnamesOption = None,
    template: TemplateOption = None,
    frames: FramesOption = 10,
    split_by: SplitByOption = "number",
    encoding: EncodingOption = "discrimination",
    threshold: ThresholdOption = None,
    hot_pixel_sigmas: HotPixelOption = 10.0,
    decay_us: DecayOption = 50_000.0,
    normalization: NormalizationOption = "neuroclip",
    save_adapter: Path | None = typer.Option(None, "--save-adapter", help="Save the first NeuroCLIP head of "
                                                                         "--method (neuroclip, neuroclip-plus) "
                                                                         "trained at the largest shot count, first "
                                                                         "seed (under paper-test-selection, its "
                                                                         "last epoch: a saved head never sees the "
                                                                         "test split; with --within, the head that "
                                                                         "seed's row scored)."),
    augment_views: int = typer.Option(0, "--augment-views", min=0, help="Augmented views per shot, encoded once "
                                      "(0 = off, the default); the trained methods and Tip-Adapter use them, the "
                                      "linear probe does not."),
    augment: str | None = typer.Option(None, "--augment", help="Kind of the views: events (default: shift 3 px, "
                                       "rotation 10 deg, zoom 10%, up to 30% of events dropped, before framing), "
                                       "counts (the released code's rotation, flip and shear of the count frames) or "
                                       "counts-noflip."),
    within: str | None = typer.Option(None, "--within", help="Score recordings of this split instead of the test "
                                      "split (ours): per seed, --test-fraction of each class is scored and the "
                                      "shots are drawn from the rest. One folder of class folders: --dataset folder "
                                      "--within all."),
    test_fraction: float | None = typer.Option(None, "--test-fraction", help="With --within: the share of each "
                                               "class scored per seed (default 0.5)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Recordings per CLIP batch."),
    workers: WorkersOption = None,
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for adapter training."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache (default ~/.cache/neuroclip)."),
    device: DeviceOption = None,
):
    """Few-shot: K recordings per class from the train split, methods compared on the test split (mean ± std over
    seeds); writes JSON, CSV and a plot."""
    from neuroclip.cache import FeatureCache
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.datasets import get_dataset
    from neuroclip.devices import default_workers
    from neuroclip.errors import ConfigError
    from neuroclip.fewshot import FewShotPlan, fewshot_experiment, fewshot_within_split, format_summary, recipe
    from neuroclip.fewshot.experiment import check_within
    from neuroclip.fewshot.plan import RECIPE_METHODS, SAVABLE_METHODS
    from neuroclip.fewshot.protocol import PROTOCOLS, check_methods
    from neuroclip.frames.clip_input import FrameConfig
    from neuroclip.outputs import check_output_dir, check_output_file
    from neuroclip.processes import join_processes

    _check_frame_options(context, encoding, split_by, normalization, hot_pixel_sigmas, decay_us)
    methods = check_methods(methods)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol {protocol!r} is unknown; choose one of {', '.join(PROTOCOLS)}")
    shot_options = given_options(context, ("shots", "protocol", "threads")) if methods == ["zeroshot"] else []
    if shot_options:
        raise ConfigError(f"{', '.join(shot_options)}: zero-shot trains nothing and reads no shot; add a trained "
                          "--method (or run neuroclip zeroshot)")
    if set(methods) <= {"linear"} and given_options(context, ("template",)):
        raise ConfigError("--template shapes the text classifier, which the linear probe does not use; drop "
                          "--template or add a method that uses text (zeroshot, neuroclip-plus, tip, ...)")
    if epochs is not None and not set(methods) & set(RECIPE_METHODS):
        raise ConfigError(f"--epochs sets the NeuroCLIP adapter's epochs ({', '.join(RECIPE_METHODS)}); none of "
                          f"the methods asked for ({', '.join(methods)}) trains it: drop --epochs or add "
                          "--method neuroclip")
    from neuroclip.fewshot.augment import view_config

    train_config = recipe("neuroclip", model, **({"epochs": epochs} if epochs else {}))
    plan = FewShotPlan(methods=tuple(methods), shots=tuple(shots), seeds=tuple(seeds), protocol=protocol,
                       train_config=train_config, augment=view_config(augment, augment_views, encoding))
    if save_adapter is not None and not set(methods) & set(SAVABLE_METHODS):
        raise ConfigError(f"--save-adapter saves a NeuroCLIP adapter ({', '.join(SAVABLE_METHODS)}): add --method "
                          "neuroclip-plus or --method neuroclip (or drop --save-adapter)")
    if within is None and test_fraction is not None:
        raise ConfigError("--test-fraction sets the share --within scores; add --within SPLIT or drop it")
    if within is not None:
        test_fraction = 0.5 if test_fraction is None else test_fraction
        check_within(protocol, test_fraction)
    plot = plot or out.with_suffix(".png")
    check_output_file(out, "--out")
    check_output_file(plot, "--plot", suffixes=(".png",))
    if csv_out is not None:
        check_output_file(csv_out, "--csv")
    if save_adapter is not None:
        check_output_file(save_adapter, "--save-adapter")
    if cache_dir is not None:
        check_output_dir(cache_dir, "--cache-dir")
    joined = join_processes(device).device
    workers = default_workers(joined) if workers is None else workers
    device = str(joined)
    name = _dataset_name(dataset)
    train = get_dataset(name, root, within or "train")
    settings = resolve_settings(name, threshold, template, classnames, dataset_classes=list(train.classes))
    frame_config = FrameConfig(encoding=encoding, n_frames=frames, split_by=split_by, threshold=settings.threshold,
                               normalization=normalization, hot_pixel_sigmas=hot_pixel_sigmas, decay_us=decay_us)
    shared = dict(frame_config=frame_config, cache=FeatureCache(cache_dir), batch_size=batch_size,
                  num_workers=workers, device=device, out_json=out, out_csv=csv_out, out_png=plot,
                  cpu_threads=threads)
    if within is None:  # the other splits are found before the model loads
        val, test = get_dataset(name, root, "val"), get_dataset(name, root, "test")
    backbone = _load_backbone(model, pretrained, device)
    shared["extra_config"] = {"command": "neuroclip fewshot", "dataset": name, "root": str(root), "model": model,
                              "pretrained": backbone.spec.pretrained, "settings": settings.record()}
    if within is not None:
        record = fewshot_within_split(train, backbone, settings.classnames, settings.templates, plan,
                                      test_fraction=test_fraction, save_adapter_to=save_adapter, **shared)
    else:
        record = fewshot_experiment(train, test, backbone, settings.classnames, settings.templates, plan,
                                    val_dataset=val, save_adapter_to=save_adapter, **shared)
    if record is not None:
        typer.echo(format_summary(record["results"]))
        typer.echo(f"-> {out}, {plot}")


@app.command()
def simulate(
    context: typer.Context,
    images: list[Path] = typer.Argument(..., help="Images to turn into recordings (PNG, JPEG, ...)."),
    out: Path = typer.Option(..., "--out", help="Folder for the recordings."),
    motion: str = typer.Option("nmnist", "--motion", help="nmnist (34x34 .bin), cifar10dvs (128x128 .npz) or "
                                                         "esimagenet (224x224 .npz)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (threshold mismatch and noise)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Contrast threshold (log intensity)."),
):
    """Simulate event recordings of still images, moved as the public datasets' recordings were."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from neuroclip.errors import ConfigError
    from neuroclip.events import write_events
    from neuroclip.events.simulate import MOTIONS, PixelModel
    from neuroclip.outputs import check_output_dir

    if motion not in MOTIONS:
        raise ConfigError(f"--motion must be one of {', '.join(MOTIONS)}; got {motion!r}")
    if motion == "esimagenet" and given_options(context, ("seed",)):
        raise ConfigError("--seed: the esimagenet conversion has no noise or mismatch to draw (the same image gives "
                          "the same recording); drop --seed")
    check_output_dir(out, "--out")
    stems = [path.stem for path in images]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise ConfigError(f"several images are named {', '.join(repeated)}: their recordings would overwrite each "
                          "other in --out; rename them or simulate them into separate folders")
    for path in images:
        try:
            with Image.open(path) as handle:
                picture = np.asarray(handle.convert("RGB"), np.float64) / 255.0
        except (OSError, UnidentifiedImageError) as error:
            raise ConfigError(f"{path}: not a readable image ({error})") from None
        if motion == "esimagenet":
            stream = MOTIONS[motion](picture, **({} if threshold is None else {"threshold": threshold}))
        else:
            defaults = PixelModel() if motion == "nmnist" else PixelModel(threshold=0.3)
            model = defaults if threshold is None else PixelModel(threshold=threshold)
            stream = MOTIONS[motion](picture, model=model, seed=seed)
        if len(stream) == 0:
            raise ConfigError(f"{path}: the {motion} motion gave no events for this {picture.shape[1]}x"
                              f"{picture.shape[0]} image (the picture is too small or flat for it); use a larger, "
                              "textured image or another --motion")
        target = out / (path.stem + (".bin" if motion == "nmnist" else ".npz"))
        write_events(target, stream)
        typer.echo(f"{path} -> {target}: {len(stream)} events, {stream.duration / 1000:.1f} ms")


@app.command()
def download(
    name: str = typer.Argument(..., help="Dataset: nmnist, cifar10dvs, ncaltech101, dvs128gesture, ncars (for "
                                         "esimagenet it says how to get it by hand)."),
    root: Path = typer.Argument(..., help="Folder to download into."),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are there."),
):
    """Download and unpack a public event dataset (tonic's URLs and checksums)."""
    from neuroclip.datasets import download as download_dataset

    typer.echo(f"{name}: {download_dataset(name, root, force=force)}")


@app.command()
def demo(
    out: Path = typer.Option(Path("neuroclip-demo"), "--out", help="Folder for the demo's recordings and picture."),
    model: str = typer.Option("neuroclip-mini", "--model", help=MODEL_HELP),
    pretrained: PretrainedOption = None,
    seed: int = typer.Option(0, help="Random seed of the simulated recordings."),
    device: str | None = typer.Option("cpu", "--device", help=DEVICE_HELP.replace("Default: cuda if present",
                                                                                  "Default: cpu")),
):
    """The offline demo: simulate N-MNIST-style recordings, recognise them zero-shot and few-shot, print a table and
    draw the frames with their predictions."""
    from neuroclip.demo import run_demo
    from neuroclip.devices import resolve_device

    run_demo(out, model=model, pretrained=pretrained, seed=seed, device=str(resolve_device(device)), echo=typer.echo)


def _register_commands():
    from neuroclip.cli.cache import cache_app
    from neuroclip.cli.frames import frames_command
    from neuroclip.cli.spikeclip import energy_command, spikeclip_app

    app.command("frames")(frames_command)
    app.add_typer(spikeclip_app, name="spikeclip")
    app.command("energy")(energy_command)
    app.add_typer(cache_app, name="cache")


_register_commands()


# list options whose values may contain commas of their own (JSON in --set): never split at commas
_NO_COMMA_SPLIT = {"--set"}


def _list_options(command) -> dict[str, object]:
    """The options of a click command that take several values (``multiple=True``), by every spelling."""
    options = {}
    for param in getattr(command, "params", []):
        if getattr(param, "multiple", False) and getattr(param, "opts", None):
            for name in param.opts:
                options[name] = param
    return options


def normalise_list_arguments(argv: list[str]) -> list[str]:
    """Accept the three ways users type a list option: ``--shots 1 2 4``, ``--shots 1,2,4`` and ``--shots 1 --shots
    2``; the parser itself only knows the last. Values after a list option up to the next option belong to it."""
    import typer.main

    command = typer.main.get_command(app)
    position = 0
    while position < len(argv) and hasattr(command, "commands"):  # walk down the command groups
        token = argv[position]
        position += 1
        if not token.startswith("-") and token in command.commands:
            command = command.commands[token]
    list_options = _list_options(command)
    if not list_options:
        return list(argv)
    out = list(argv[:position])
    rest = argv[position:]
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if token == "--":
            out.extend(rest[index - 1:])
            break
        name, sep, inline = token.partition("=")
        if name not in list_options:
            out.append(token)
            continue
        values = [inline] if sep else []
        while index < len(rest) and not (rest[index].startswith("-") and len(rest[index]) > 1
                                         and not _is_number(rest[index])):
            if rest[index] == "--" or (name in _NO_COMMA_SPLIT and values and "=" not in rest[index]):
                break  # KEY=VALUE options end where a token is no pair (a positional argument follows)
            values.append(rest[index])
            index += 1
            if sep:
                break
        if not values:
            out.append(token)  # let the parser report the missing value
            continue
        for value in values:
            parts = [value] if name in _NO_COMMA_SPLIT else [part for part in value.split(",") if part.strip()]
            for part in parts or [value]:
                out.extend([name, part.strip()])
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning neuroclip errors and command-line mistakes into one line on stderr and exit
    code 2."""
    argv = normalise_list_arguments(list(sys.argv[1:] if argv is None else argv))
    _show_library_warnings()
    try:
        app(args=argv, prog_name="neuroclip", standalone_mode=False)
    except NeuroclipError as error:
        _error_line(error)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as error:
        # an input or output path the checks before the work did not foresee: name the path and the problem
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        _error_line(f"{where}{error.strerror or error}")
        return 2
    except KeyboardInterrupt:
        typer.echo("\nneuroclip: interrupted", err=True)
        return 130
    except Exception as error:  # the command-line parser's own errors (typer ships its own copy of click)
        if type(error).__name__ == "Abort":
            return 1
        exit_code = getattr(error, "exit_code", None)
        if exit_code is None:
            raise
        if hasattr(error, "format_message"):  # a usage mistake: one line, with the command to ask for help
            context = getattr(error, "ctx", None)
            where = f" (see: {context.command_path} --help)" if context is not None else ""
            _error_line(f"{_usage_message(error, argv)}{where}")
            return exit_code
        return exit_code
    return 0


_PARSER_PHRASES = (("Input should be greater than or equal to", "must be >="),
                   ("Input should be less than or equal to", "must be <="),
                   ("Input should be a valid integer, unable to parse string as an integer", "must be an integer"),
                   ("Input should be a valid number, unable to parse string as a number", "must be a number"))


def _usage_message(error, argv: list[str]) -> str:
    """The parser's message in our words, with the value the user gave for the option it is about."""
    message = error.format_message()
    for phrase, ours in _PARSER_PHRASES:
        message = message.replace(phrase, ours)
    param = getattr(error, "param", None)
    names = set(getattr(param, "opts", None) or [])
    given = [argv[i + 1] for i, token in enumerate(argv[:-1]) if token in names]
    if given and getattr(error, "message", None) is not None and "got" not in message:
        shown = ", ".join(repr(value) for value in dict.fromkeys(given))
        message = f"{message} (got {shown})"
    return message


def _show_library_warnings() -> None:
    """The library's warnings (``logging.getLogger('neuroclip')``) as one line each on stderr, once."""
    import logging

    logger = logging.getLogger("neuroclip")
    if not any(getattr(handler, "_neuroclip_cli", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("neuroclip: warning: %(message)s"))
        handler._neuroclip_cli = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _error_line(message) -> None:
    """One line on stderr, on a line of its own even when a progress bar was drawing."""
    progress = sys.modules.get("tqdm")
    if progress is not None:  # finish an interrupted progress bar's line first
        for bar in list(getattr(progress.tqdm, "_instances", ())):
            bar.close()
    text = " ".join(str(message).split())
    typer.echo(f"neuroclip: error: {text}", err=True)


if __name__ == "__main__":
    sys.exit(main())
