"""``neuroclip spikeclip ...`` and ``neuroclip energy``: thin command functions over the library (registered by
:mod:`neuroclip.cli.main`). The library is imported inside each command, so the command line starts without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from neuroclip.cli.options import given_names
from neuroclip.errors import ConfigError

spikeclip_app = typer.Typer(
    help="SpikeCLIP: distil a CLIP into a spiking two-tower model (stages align-text, align-image, "
         "finetune-teacher, finetune), evaluate it, describe it.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

_SET_HELP = "Override a config field, dotted: --set optim.lr=1e-3 --set data.root=/data (values parsed as JSON)."


def _overrides(pairs: list[str] | None) -> dict:
    values = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs KEY=VALUE, got {pair!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def _train(stage: str, config: Path, resume: bool, out: Path | None, device: str | None, sets: list[str] | None,
           max_steps: int | None):
    from neuroclip.spikeclip.config import load_config_file, load_stage_config
    from neuroclip.spikeclip.train import run_stage

    values = load_config_file(config)
    if values.setdefault("stage", stage) != stage:
        raise ConfigError(f"{config} is a config for stage {values['stage']!r}; run "
                          f"'neuroclip spikeclip {values['stage']} {config}' instead")
    overrides = _overrides(sets)
    for key, flag, value in (("out", "--out", None if out is None else str(out)), ("device", "--device", device),
                             ("max_steps", "--max-steps", max_steps)):
        if value is None:
            continue
        same = str(Path(str(overrides.get(key)))) == str(Path(value)) if key == "out" else overrides.get(key) == value
        if key in overrides and not same:
            raise ConfigError(f"{flag} {value} and --set {key}={overrides[key]} disagree: give one of them")
        overrides[key] = value
    stage_config = load_stage_config(values, overrides)
    if resume and not (Path(stage_config.out) / "last.pt").is_file():
        typer.echo(f"--resume: {Path(stage_config.out) / 'last.pt'} does not exist; starting a new run", err=True)
    result = run_stage(stage_config, resume=resume)
    if result.get("stopped"):
        typer.echo(f"{stage}: stopped after step {result['steps']}; continue with --resume")
        return
    best = result["best"]
    typer.echo(f"{stage}: {result['epochs_run']} epoch(s), {result['steps']} steps; best {best['metric']} "
               f"{best['value']:.4f} at epoch {best['epoch']} -> {result['checkpoint']}")


def _stage_command(stage: str, doc: str):
    def command(
        config: Path = typer.Argument(..., help="Stage config file (JSON or YAML)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from <out>/last.pt after an interruption."),
        out: Path | None = typer.Option(None, "--out", help="Output folder (overrides the config's 'out')."),
        device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if present)."),
        sets: list[str] | None = typer.Option(None, "--set", help=_SET_HELP),
        max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps."),
    ):
        _train(stage, config, resume, out, device, sets, max_steps)

    command.__doc__ = doc
    command.__name__ = stage.replace("-", "_")
    return command


spikeclip_app.command("align-text")(_stage_command(
    "align-text", "Stage A: align the spiking text tower with the teacher's text embeddings."))
spikeclip_app.command("align-image")(_stage_command(
    "align-image", "Stage B: align the spiking image tower with the teacher's image embeddings."))
spikeclip_app.command("finetune-teacher")(_stage_command(
    "finetune-teacher", "Stage C (optional): fine-tune the CLIP teacher against the frozen SNN text prototypes."))
spikeclip_app.command("finetune")(_stage_command(
    "finetune", "Stage D: dual-loss fine-tuning of the image tower (CE + KL to the teacher)."))


def _names(classes: str | None):
    if classes is None:
        return None
    from neuroclip.spikeclip.labels import classnames

    return classnames(classes)


def _uls_names(pairs: str | None) -> dict[str, str] | None:
    """``--uls-names one=single,two=pair`` as a replacement table."""
    if not pairs:
        return None
    table = {}
    for pair in pairs.split(","):
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ConfigError(f"--uls-names needs OLD=NEW pairs separated by commas, got {pair!r}")
        table[old.strip()] = new.strip()
    return table


def _els_counts(els: str | None) -> tuple[int, ...]:
    """``--els 10,20,40`` as numbers of distractor classes."""
    if not els:
        return ()
    try:
        counts = tuple(int(n) for n in els.split(",") if n.strip())
    except ValueError:
        raise ConfigError(f"--els {els!r}: give numbers of distractor classes separated by commas, e.g. --els "
                          "10,20,40") from None
    if not counts or any(n < 0 for n in counts):
        raise ConfigError(f"--els {els!r}: the numbers of distractor classes must be >= 0, e.g. --els 10,20,40")
    return counts


@spikeclip_app.command("eval")
def eval_command(
    checkpoint: Path = typer.Argument(..., help="A SpikeCLIP checkpoint (best.pt of any stage)."),
    data: str = typer.Option(..., "--data", help="digits[:split], nmnist:ROOT[:split], event-folder:ROOT[:split], "
                                                 "image-folder:ROOT[:split], torchvision:NAME:ROOT[:split]."),
    classes: str | None = typer.Option(None, "--classes", help="Class-name set or comma-separated names."),
    template: str | None = typer.Option(None, "--template", help="Template with {}, a set name, or a file."),
    per_class: int | None = typer.Option(None, "--per-class", min=1, help="Use the first n samples per class."),
    els: str | None = typer.Option(None, "--els", help="ELS: numbers of distractor classes, e.g. 10,20,40 (the "
                                                       "released fixed list of 70 CIFAR-100 names, in order)."),
    els_distractors: str | None = typer.Option(None, "--els-distractors",
                                               help="ELS distractors instead of the released list: a class-name "
                                                    "set or comma-separated names, used in order."),
    uls: bool = typer.Option(False, "--uls", help="ULS: rename 2 classes, seeds 42, 43, 44."),
    uls_names: str | None = typer.Option(None, "--uls-names", help="ULS substitutes instead of the released ones "
                                         "(which cover STL-10/CIFAR-10): OLD=NEW pairs, e.g. one=single,two=pair."),
    teacher: bool = typer.Option(False, "--teacher", help="Also measure cosine and agreement with the teacher."),
    teacher_model: str | None = typer.Option(None, "--teacher-model", help="Teacher model (default: checkpoint's)."),
    teacher_pretrained: str | None = typer.Option(None, "--teacher-pretrained", help="Teacher weights/tag."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Also write the result JSON here."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cpu)."),
):
    """Accuracy of a SpikeCLIP on a dataset split (plus ELS / ULS and teacher agreement)."""
    from neuroclip.spikeclip.data import parse_data_spec
    from neuroclip.spikeclip.evaluate import evaluate
    from neuroclip.spikeclip.model import load_spikeclip

    els_counts = _els_counts(els)  # options first: a mistake there fails before the model loads
    for base, needed, name, given in (("--teacher", teacher, "--teacher-model", teacher_model),
                                      ("--teacher", teacher, "--teacher-pretrained", teacher_pretrained),
                                      ("--els", els, "--els-distractors", els_distractors),
                                      ("--uls", uls, "--uls-names", uls_names)):
        if given is not None and not needed:
            raise ConfigError(f"{name} sets up {base}, which is not given: add {base} (or drop {name})")
    replacements = _uls_names(uls_names)
    if out is not None:
        from neuroclip.outputs import check_output_file

        check_output_file(out, "--out")
    data_config, split = parse_data_spec(data, **({"per_class": per_class} if per_class else {}))
    model = load_spikeclip(checkpoint, device or "cpu")
    backbone = None
    if teacher:
        from neuroclip.clip import load_backbone

        spec = model.config.teacher
        backbone = load_backbone(teacher_model or spec.model,
                                 teacher_pretrained if teacher_pretrained is not None else spec.pretrained,
                                 device=device or "cpu")
    templates = None
    if template is not None:
        from neuroclip.spikeclip.labels import templates as resolve

        templates = resolve(template)
    result = evaluate(model, data_config, split, backbone, _names(classes), templates, els_counts, uls,
                      uls_replacements=replacements,
                      els_distractors=_names(els_distractors))
    if out is not None:
        from neuroclip.outputs import atomic_write

        text = json.dumps(result, indent=2)
        atomic_write(out, lambda fp: fp.write(text.encode()))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    line = f"{data} ({split}): top-1 {result['top1']:.4f} on {result['n_samples']} samples"
    if "agreement_teacher" in result:
        line += f"; agreement with teacher {result['agreement_teacher']:.4f}, cosine {result['teacher_cosine']:.4f}"
    typer.echo(line)
    for size, accuracy in result.get("els", {}).items():
        typer.echo(f"  ELS {size} classes: top-1 {accuracy:.4f}")
    if "uls" in result:
        typer.echo(f"  ULS mean top-1 {result['uls']['mean_top1']:.4f} over seeds "
                   f"{', '.join(result['uls']['per_seed'])}")


@spikeclip_app.command("describe")
def describe_command(
    context: typer.Context,
    preset: str = typer.Option("paper", "--preset", help="paper, paper-events, tiny, tiny-events."),
    config: Path | None = typer.Option(None, "--config", help="Describe the model of this stage config instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
):
    """Parameter counts and settings of a SpikeCLIP preset."""
    from neuroclip.spikeclip.model import describe

    if config is not None and given_names(context, ("preset",)):
        raise ConfigError("--preset and --config both choose the model to describe: give one of them")

    info = describe(preset, config)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"SpikeCLIP {info['preset']} ({info['modality']}), teacher {info['teacher']['model']} "
               f"({info['teacher']['pretrained']})")
    typer.echo(f"  image tower {info['image_params']:,} parameters ({info['image_params'] / 1e6:.2f} M)")
    typer.echo(f"  text tower  {info['text_params']:,} parameters ({info['text_params'] / 1e6:.2f} M; "
               f"embeddings {info['text_embedding_params'] / 1e6:.2f} M)")
    typer.echo(f"  total       {info['total_params']:,} parameters ({info['total_params'] / 1e6:.2f} M)")


def energy_command(
    checkpoint: Path = typer.Argument(..., help="A SpikeCLIP checkpoint (best.pt)."),
    data: str = typer.Option(..., "--data", help="Inputs for the firing rates: digits[:split], nmnist:ROOT[:split], "
                                                 "event-folder:ROOT[:split], image-folder:..., torchvision:..."),
    samples: int = typer.Option(64, "--samples", min=1, help="How many samples to measure firing rates on."),
    preset: list[str] | None = typer.Option(None, "--preset", help="Energy preset(s): 45nm-fp32, 45nm-fp16, "
                                                                   "45nm-int8 (default: all)."),
    no_teacher: bool = typer.Option(False, "--no-teacher", help="Skip the CLIP teacher baseline."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cpu)."),
):
    """Energy per sample of a SpikeCLIP: per-layer FLOPs, firing rates, SOPs, MACs, energy per preset, and totals
    against the CLIP teacher and a same-size ANN student."""
    print_energy(checkpoint, data, samples, preset or None, not no_teacher, as_json, device)


def print_energy(checkpoint, data: str, samples: int = 64, presets=None, with_teacher: bool = True,
                 as_json: bool = False, device: str | None = None) -> dict:
    """The energy report of a checkpoint on ``samples`` inputs of ``data`` (printed as a table or JSON)."""
    import torch

    from neuroclip.energy import format_energy_report
    from neuroclip.spikeclip.data import SampleView, open_source, parse_data_spec, select_indices
    from neuroclip.spikeclip.energy_report import spikeclip_energy
    from neuroclip.spikeclip.model import load_spikeclip

    model = load_spikeclip(checkpoint, device or "cpu")
    data_config, split = parse_data_spec(data)
    source = open_source(data_config, data_config.test_split if split == "test" else data_config.split)
    indices = select_indices(source, data_config, split)[:samples]
    if not indices:
        raise ConfigError(f"no samples in {data}")
    view = SampleView(source, indices, "student", model.config, model.preprocess)
    loader = torch.utils.data.DataLoader(view, batch_size=32)
    teacher = None
    if with_teacher:
        from neuroclip.clip import load_backbone

        teacher = load_backbone(model.config.teacher.model, None, device=device or "cpu")  # architecture only
    info = getattr(model, "checkpoint_info", {})
    sentences = None
    if info.get("classnames") and info.get("templates"):
        sentences = [info["templates"][0].format(info["classnames"][0])]
    report = spikeclip_energy(model, (inputs for inputs, _, _ in loader), teacher, presets, sentences)
    report["checkpoint"], report["data"] = str(checkpoint), data
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(f"{checkpoint} on {len(indices)} samples of {data}:")
        typer.echo(format_energy_report(report))
    return report

