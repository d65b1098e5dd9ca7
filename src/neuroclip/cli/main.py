"""The ``neuroclip`` command. Subcommands call the library; no logic lives here.

A user mistake (a bad file, an impossible parameter) prints one line to stderr and exits with code 2, with no
traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

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


def _class_names(spec: str | None, dataset) -> list[str]:
    """Class names from a set name (nmnist, nmnist-words, cifar10dvs, ...), a comma-separated list, or (None) the
    dataset's own; checked against the dataset's number of classes."""
    from neuroclip.datasets import CLASSNAME_SETS, classnames_for
    from neuroclip.errors import ConfigError

    if spec is None:
        names = classnames_for(dataset.name) if dataset.name in CLASSNAME_SETS else list(dataset.classes)
    elif spec in CLASSNAME_SETS:
        names = classnames_for(spec)
    else:
        names = [name.strip() for name in spec.split(",") if name.strip()]
    if len(names) != len(dataset.classes):
        raise ConfigError(f"{len(names)} class names for a dataset with {len(dataset.classes)} classes")
    return names


@app.command()
def info(
    files: list[Path] = typer.Argument(..., help="Recordings to summarise (any supported format)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file, as a JSON list."),
    format: str | None = typer.Option(None, "--format", help="Force a reader instead of detecting the format."),
):
    """Print sensor size, event count, duration, event rate and ON fraction of each recording."""
    from neuroclip.events import read_events

    rows = []
    for path in files:
        stream = read_events(path, format=format)
        rows.append({"file": str(path), "format": stream.metadata.get("format"), **stream.summary()})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
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
    files: list[Path] = typer.Argument(..., help="Recordings to recognise."),
    classes: str | None = typer.Option(None, "--classes", help="Comma-separated class names, or a set name "
                                                              "(nmnist, nmnist-words, cifar10dvs, ncaltech101, ...)."),
    template: str | None = typer.Option(None, "--template", help="A template with {}, a template set "
                                                                 "(neuroclip, clip-imagenet, simple) or a file."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset whose NeuroCLIP template to use."),
    model: str = typer.Option("ViT-B-32", "--model", help="open_clip model name, hf-hub:..., or local-dir:..."),
    pretrained: str | None = typer.Option("openai", "--pretrained", help="Pretrained tag or checkpoint file."),
    top: int = typer.Option(3, "--top-k", min=1, help="How many classes to print per file."),
    frames: int = typer.Option(10, "--frames", min=1, help="Number of frames T."),
    encoding: str = typer.Option("discrimination", "--encoding", help="Event-frame encoding."),
    fusion: str = typer.Option("mean_cosine", "--fusion", help="How frame scores are fused."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if present)."),
    adapter: Path | None = typer.Option(None, "--adapter", help="A trained few-shot adapter (neuroclip fewshot "
                                                                "--save-adapter); its classes and CLIP are used."),
    spikeclip: Path | None = typer.Option(None, "--spikeclip", help="A SpikeCLIP checkpoint: recognise with the "
                                                                    "spiking model instead of CLIP."),
):
    """Print the top-k classes of each recording: zero-shot CLIP, a few-shot adapter, or a SpikeCLIP model."""
    from neuroclip.clip import ZeroShotClassifier, load_backbone, resolve_templates
    from neuroclip.clip.features import FrameConfig, frame_features
    from neuroclip.datasets import CLASSNAME_SETS, classnames_for
    from neuroclip.events import read_events

    streams = [read_events(path).require_events() for path in files]
    if adapter is not None:
        from neuroclip.fewshot import classify_with_adapter

        predictions = classify_with_adapter(adapter, streams, k=top, device=device)
    else:
        if classes is None:
            from neuroclip.errors import ConfigError

            raise ConfigError("--classes is needed (class names, comma-separated, or a set such as nmnist)")
        if classes in CLASSNAME_SETS:
            dataset = dataset or classes.split("-")[0]
            names = classnames_for(classes)
        else:
            names = [name.strip() for name in classes.split(",") if name.strip()]
        templates = resolve_templates(template, dataset)
        if spikeclip is not None:
            from neuroclip.spikeclip import load_spikeclip, predict_files

            predictions = predict_files(load_spikeclip(spikeclip), files, names, templates, k=top)
        else:
            config = FrameConfig(encoding=encoding, n_frames=frames)
            backbone = load_backbone(model, pretrained, device=device)
            classifier = ZeroShotClassifier(backbone, names, templates, fusion=fusion)
            predictions = classifier.predict(frame_features(streams, backbone, config), k=top)
    for path, prediction in zip(files, predictions):
        ranked = ", ".join(f"{name} {p:.3f}" for name, p in zip(prediction.classnames, prediction.probabilities))
        typer.echo(f"{path}: {ranked}")


@app.command()
def zeroshot(
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (nmnist, cifar10dvs, ...) or 'folder'."),
    root: Path = typer.Option(..., "--root", help="Dataset folder (N-MNIST: Train/<digit>/*.bin, Test/<digit>/...)."),
    split: str = typer.Option("test", "--split", help="Split to evaluate."),
    model: str = typer.Option("ViT-B-32", "--model", help="open_clip model name, hf-hub:..., or local-dir:..."),
    pretrained: str | None = typer.Option("openai", "--pretrained", help="Pretrained tag, checkpoint file, or none."),
    out: Path = typer.Option(Path("zeroshot.json"), "--out", help="Result JSON (top1, n_samples, config)."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write per-recording predictions as CSV."),
    classnames: str | None = typer.Option(None, "--classnames", help="Class-name set (e.g. nmnist-words) or a "
                                                                    "comma-separated list in label order."),
    template: str | None = typer.Option(None, "--template", help="Template with {}, a set name, or a file."),
    frames: int = typer.Option(10, "--frames", min=1, help="Number of frames T."),
    split_by: str = typer.Option("number", "--split-by", help="number (equal counts) or time (equal durations)."),
    encoding: str = typer.Option("discrimination", "--encoding", help="Event-frame encoding."),
    threshold: float = typer.Option(0.0, "--threshold", help="Discrimination threshold (1 for CIFAR10-DVS)."),
    normalization: str = typer.Option("neuroclip", "--normalization", help="neuroclip (x/255-0.5) or clip."),
    fusion: str = typer.Option("mean_cosine", "--fusion", help="How frame scores are fused."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Recordings per CLIP batch."),
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache (default ~/.cache/neuroclip)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)."),
):
    """Evaluate NeuroCLIP zero-shot on a dataset split; write JSON (and CSV) with the full configuration."""
    from neuroclip.cache import FeatureCache
    from neuroclip.clip import load_backbone, resolve_templates
    from neuroclip.clip.evaluate import write_result, zeroshot_evaluate
    from neuroclip.clip.extract import distributed_rank_and_size, init_distributed_from_environment
    from neuroclip.clip.features import FrameConfig
    from neuroclip.datasets import get_dataset

    device = init_distributed_from_environment() or device  # under torchrun: one shard share per rank
    data = get_dataset(dataset, root, split)
    names = _class_names(classnames, data)
    frame_config = FrameConfig(encoding=encoding, n_frames=frames, split_by=split_by, threshold=threshold,
                               normalization=normalization)
    backbone = load_backbone(model, pretrained, device=device)
    cache = None if no_cache else FeatureCache(cache_dir)
    result = zeroshot_evaluate(data, backbone, names, resolve_templates(template, data.name), frame_config, fusion,
                               cache, batch_size=batch_size, num_workers=workers)
    if distributed_rank_and_size()[0] != 0:
        return
    write_result(result, out, csv_out)
    typer.echo(f"{data.name} {split}: top-1 {result['top1']:.4f}, top-5 {result['top5']:.4f} "
               f"on {result['n_samples']} recordings ({model}, {backbone.spec.pretrained}) -> {out}")


@app.command()
def fewshot(
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (nmnist, cifar10dvs, ...) or 'folder'."),
    root: Path = typer.Option(..., "--root", help="Dataset folder; shots come from its train split, scores from "
                                                  "its test split."),
    shots: list[int] = typer.Option([1, 2, 4, 8, 16], "--shots", help="Recordings per class (repeat or list)."),
    seeds: list[int] = typer.Option([1, 2, 3], "--seeds", help="Seeds of the shot draws."),
    methods: list[str] = typer.Option(["neuroclip"], "--method", help="neuroclip, neuroclip-relu, zeroshot, "
                                                                      "linear, tip, tip-f, clip-adapter."),
    model: str = typer.Option("ViT-B-32", "--model", help="open_clip model name, hf-hub:..., local-dir:... or "
                                                          "neuroclip-mini."),
    pretrained: str | None = typer.Option("openai", "--pretrained", help="Pretrained tag, checkpoint file, or none."),
    out: Path = typer.Option(Path("fewshot.json"), "--out", help="Result JSON: results = [{method, shots, seed, "
                                                                 "top1}], summary and config."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the rows as CSV."),
    plot: Path | None = typer.Option(None, "--plot", help="PNG plot of accuracy vs shots (default: beside --out)."),
    protocol: str = typer.Option("validation", "--protocol", help="validation (default: select on a split held "
                                 "out from train), last-epoch, or paper-test-selection (the released code's "
                                 "selection on test, for comparison only)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Adapter epochs (default: NeuroCLIP's 150 "
                                                                     "for RN50, 250 otherwise)."),
    classnames: str | None = typer.Option(None, "--classnames", help="Class-name set or comma-separated names."),
    template: str | None = typer.Option(None, "--template", help="Template with {}, a set name, or a file."),
    frames: int = typer.Option(10, "--frames", min=1, help="Number of frames T."),
    encoding: str = typer.Option("discrimination", "--encoding", help="Event-frame encoding."),
    threshold: float = typer.Option(0.0, "--threshold", help="Discrimination threshold (1 for CIFAR10-DVS)."),
    save_adapter: Path | None = typer.Option(None, "--save-adapter", help="Save the NeuroCLIP adapter trained at "
                                                                         "the largest shot count (first seed)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Recordings per CLIP batch."),
    workers: int = typer.Option(0, "--workers", min=0, help="DataLoader worker processes."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for adapter training."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache (default ~/.cache/neuroclip)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)."),
):
    """Few-shot: K recordings per class from the train split, methods compared on the test split (mean ± std over
    seeds); writes JSON, CSV and a plot."""
    from neuroclip.cache import FeatureCache
    from neuroclip.clip import load_backbone, resolve_templates
    from neuroclip.clip.extract import init_distributed_from_environment
    from neuroclip.clip.features import FrameConfig
    from neuroclip.datasets import get_dataset
    from neuroclip.fewshot import fewshot_experiment, format_summary, recipe

    device = init_distributed_from_environment() or device
    train = get_dataset(dataset, root, "train")
    val = get_dataset(dataset, root, "val")
    test = get_dataset(dataset, root, "test")
    names = _class_names(classnames, train)
    backbone = load_backbone(model, pretrained, device=device)
    train_config = recipe("neuroclip", model, **({"epochs": epochs} if epochs else {}))
    record = fewshot_experiment(
        train, test, backbone, names, resolve_templates(template, train.name),
        frame_config=FrameConfig(encoding=encoding, n_frames=frames, threshold=threshold),
        cache=FeatureCache(cache_dir),
        methods=tuple(methods), shots=tuple(shots), seeds=tuple(seeds), protocol=protocol, val_dataset=val,
        train_config=train_config, batch_size=batch_size, num_workers=workers, device=device, out_json=out,
        out_csv=csv_out, out_png=plot or out.with_suffix(".png"), save_adapter_to=save_adapter, cpu_threads=threads,
        extra_config={"command": "neuroclip fewshot", "dataset": dataset, "root": str(root), "model": model,
                      "pretrained": pretrained},
    )
    if record is not None:
        typer.echo(format_summary(record["results"]))
        typer.echo(f"-> {out}, {plot or out.with_suffix('.png')}")


@app.command()
def simulate(
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

    if motion not in MOTIONS:
        raise ConfigError(f"--motion must be one of {', '.join(MOTIONS)}; got {motion!r}")
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
        target = out / (path.stem + (".bin" if motion == "nmnist" else ".npz"))
        write_events(target, stream)
        typer.echo(f"{path} -> {target}: {len(stream)} events, {stream.duration / 1000:.1f} ms")


@app.command()
def download(
    name: str = typer.Argument(..., help="Dataset: nmnist, cifar10dvs, ncaltech101, dvs128gesture, ncars."),
    root: Path = typer.Argument(..., help="Folder to download into."),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are there."),
):
    """Download and unpack a public event dataset (tonic's URLs and checksums)."""
    from neuroclip.datasets import download as download_dataset

    typer.echo(f"{name}: {download_dataset(name, root, force=force)}")


@app.command()
def demo(
    out: Path = typer.Option(Path("neuroclip-demo"), "--out", help="Folder for the demo's recordings and picture."),
    model: str = typer.Option("neuroclip-mini", "--model", help="CLIP to use: the bundled neuroclip-mini "
                                                                "(offline), or any open_clip model name."),
    pretrained: str | None = typer.Option(None, "--pretrained", help="Pretrained tag or checkpoint file for "
                                                                     "--model (e.g. openai)."),
    seed: int = typer.Option(0, help="Random seed of the simulated recordings."),
    device: str | None = typer.Option("cpu", "--device", help="cpu, cuda, ..."),
):
    """The offline demo: simulate N-MNIST-style recordings, recognise them zero-shot and few-shot, print a table and
    draw the frames with their predictions."""
    from neuroclip.demo import run_demo

    run_demo(out, model=model, pretrained=pretrained, seed=seed, device=device, echo=typer.echo)


def _register_commands():
    from neuroclip.cli.frames import frames_command
    from neuroclip.cli.spikeclip import energy_command, spikeclip_app

    app.command("frames")(frames_command)
    app.add_typer(spikeclip_app, name="spikeclip")
    app.command("energy")(energy_command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning neuroclip errors into one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except NeuroclipError as error:
        typer.echo(f"neuroclip: error: {error}", err=True)
        return 2
    except FileNotFoundError as error:
        typer.echo(f"neuroclip: error: {error}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("neuroclip: interrupted", err=True)
        return 130
    except Exception as error:  # the command-line parser's own errors (typer ships its own copy of click)
        if type(error).__name__ == "Abort":
            return 1
        exit_code = getattr(error, "exit_code", None)
        if exit_code is None:
            raise
        if hasattr(error, "show"):
            error.show()
        return exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
