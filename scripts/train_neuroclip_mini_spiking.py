"""Train ``neuroclip-mini-spiking``: the bundled CLIP ``neuroclip-mini`` distilled into a fully spiking two-tower CLIP
for event recordings, with the project's SpikeCLIP stages (issue #16). Seeded and resumable (rerun the same command).

Training data (no label of a real recording; never a held-out recording):

* the 2D digit images neuroclip-mini was trained on: scikit-learn's 1,797 handwritten digits, the digits in the
  printed TrueType fonts found here (``neuroclip_mini.data.font_files``) and in the handwriting fonts of
  ``python scripts/train_neuroclip_mini.py --fetch-fonts`` (out/fonts/handwriting);
* each turned into ``--variants`` N-MNIST-style recordings by our simulator (``nmnist_recording``: three saccades,
  DVS pixel model), after a random 2D augmentation (rotation, scale, shear, shift, elastic distortion, stroke width,
  contrast) and a random digit size; written as an N-MNIST folder ``<sim>/Train/<digit>/*.bin``, read by
  the SpikeCLIP data source ``nmnist``. The digit labels of those images are the only labels used (stage D);
* ``--sim-threshold``, ``--sim-noise``, ``--digit-sizes``: the simulator's contrast threshold, noise scale and digit
  sizes (defaults: ``PixelModel()``, 24-30; a setting matched to the development recordings' event statistics scored
  lower, see the README);
* ``--unlabelled FOLDER...``: real recordings (the 200 development recordings) added to stage B without labels
  (stage option ``data.unlabelled``; folder names are not read), ``--unlabelled-repeat`` times per epoch.

The bundled model: ``--unlabelled out/nmnist-heldout/Train --unlabelled-repeat 8 --epochs-b 60``, stage B's
``best.pt`` (stage D lowered the score on the development recordings); see the README.

Stages (``neuroclip.spikeclip.train.run_stage``, one config dict each, written to ``<out>/configs``):

* A ``align-text``: the spiking text tower against neuroclip-mini's text embeddings of the teacher's 24 caption
  templates x the digits and their words, and NeuroCLIP's N-MNIST prompt with the ELS distractor names (run once;
  every student below starts from its text tower);
* B ``align-image``: the spiking image tower (T event-count frames) against the teacher's embedding of the same
  recording (the mean over NeuroCLIP's 10 discrimination frames), on the simulated recordings;
* D ``finetune``: CE on the simulated recordings' digit labels + KL to the teacher, against the frozen SNN prototypes
  of NeuroCLIP's N-MNIST prompt.

Students (``--variants-to-train``): ``snn-t4`` (the bundled model), ``ann-t4`` (the same network with LIF -> ReLU,
trained identically), ``snn-t1``, ``snn-t2``, ``snn-t8`` (the timestep sweep), and ``img-t4`` (the image path: the
same recipe on scikit-learn's digits train split as 2D images).

    python scripts/train_neuroclip_mini_spiking.py --device cuda --jobs 16 --parallel   # everything (GPU: minutes)
    python scripts/train_neuroclip_mini_spiking.py --only snn-t4 --threads 2            # the bundled student only
    python scripts/train_neuroclip_mini_spiking.py --bundle out/spiking/runs/snn-t4/b/best.pt   # the package file
    python scripts/evaluate_neuroclip_mini_spiking.py ...                               # scores (dev / held-out)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

SEED = 0
NEUROCLIP_TEMPLATE = 'A black and white photo of the Arabic numeral number: "{}".'
DIGITS = [str(d) for d in range(10)]
DEFAULT_OUT = REPO / "out" / "spiking"
HANDWRITING = REPO / "out" / "fonts" / "handwriting"
BUNDLED = REPO / "src" / "neuroclip" / "spikeclip" / "bundled" / "neuroclip-mini-spiking.pt"
# --augment: the event-level augmentation of stage B (neuroclip.events.augment), drawn afresh at every read of a
# training recording, simulated or real; the teacher frames the same augmented recording
AUGMENT = {"shift_px": 3.0, "rotate_degrees": 10.0, "scale": 0.1, "drop": 0.3}
VARIANTS = {  # name: (modality, timesteps, activation)
    "snn-t4": ("events", 4, "lif"),
    "ann-t4": ("events", 4, "relu"),
    "snn-t1": ("events", 1, "lif"),
    "snn-t2": ("events", 2, "lif"),
    "snn-t8": ("events", 8, "lif"),
    "img-t4": ("images", 4, "lif"),
}


# --------------------------------------------------------------------------------------------------- the model


def model_values(modality: str = "events", timesteps: int = 4, activation: str = "lif",
                 representation: str = "counts", width: int | None = None, depth: int | None = None,
                 teacher_encoding: str | None = None) -> dict:
    """The student: the ``neuroclip-mini-spiking`` preset (neuroclip.spikeclip.config: a 192-wide, one-block spiking
    image tower on 32x32 input, a spiking text MLP 512 wide, teacher neuroclip-mini on NeuroCLIP's 10 discrimination
    frames) with T event frames (``counts`` or ``binary``); ``width`` / ``depth`` / ``teacher_encoding`` replace the
    image tower's width and number of blocks and the teacher's frame encoding (None: the preset's). For the image
    path a 96-wide tower on 2D images (the ``tiny`` preset with the first recipe's sizes, the ones its README results
    come from: a 2D image repeated T times)."""
    if modality == "events":
        image = {"timesteps": timesteps, "activation": activation}
        image |= {"embed_dim": width} if width is not None else {}
        image |= {"depth": depth} if depth is not None else {}
        values = {"preset": "neuroclip-mini-spiking", "image": image,
                  "events": {"n_frames": timesteps, "representation": representation}}
        if teacher_encoding is not None:
            values["teacher_frames"] = {"n_frames": 10, "encoding": teacher_encoding}
        return values
    image = {"embed_dim": 96, "depth": 1, "heads": 4, "mlp_ratio": 4, "timesteps": timesteps, "input_size": 32,
             "activation": activation}
    return {"preset": "tiny", "image": image, "text": {"hidden_dim": 512, "context_length": 20},
            "teacher": {"model": "neuroclip-mini", "pretrained": None}, "teacher_frames": {"n_frames": 10}}


def student_values(variant: str, args) -> dict:
    """:func:`model_values` of a student variant with the command line's representation, sizes and teacher view."""
    return model_values(*VARIANTS[variant], args.representation, args.image_width, args.image_depth,
                        args.teacher_encoding)


# --------------------------------------------------------------------------------------------------- 2D images


def build_images(path: Path, handwriting: Path, log=print) -> dict:
    """The 2D digit images neuroclip-mini was trained on (uint8 [N, 26, 26] white on black) with labels and
    source names, saved to ``path`` (npz)."""
    from neuroclip_mini.data import font_files, handwriting_font_files, render_font_digits, sklearn_digits

    if path.is_file():
        return dict(np.load(path))
    parts = []
    images, labels = sklearn_digits(26)
    parts.append(("sklearn", images, labels))
    printed = font_files()
    images, labels = render_font_digits(26, printed)
    parts.append(("printed", images, labels))
    hand = handwriting_font_files(handwriting) if handwriting.is_dir() else []
    if hand:
        images, labels = render_font_digits(26, hand)
        parts.append(("handwriting", images, labels))
    else:
        log(f"no handwriting fonts under {handwriting}: fetch them with "
            "python scripts/train_neuroclip_mini.py --fetch-fonts (training goes on without them)")
    data = {"images": np.concatenate([p[1] for p in parts]), "labels": np.concatenate([p[2] for p in parts]),
            "source": np.concatenate([[p[0]] * len(p[1]) for p in parts]).astype("U16")}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    log("2D images: " + ", ".join(f"{name} {len(images)}" for name, images, _ in parts)
        + f" ({len(printed)} printed font files, {len(hand)} handwriting font files)")
    return data


# --------------------------------------------------------------------------------------------------- simulation


def augment(glyph: np.ndarray, seed: int, sizes: tuple[int, int] = (24, 30)) -> tuple[np.ndarray, int]:
    """A random 2D variant of a 26x26 glyph on the 34x34 canvas (white on black, as MNIST) and a digit size in
    ``sizes`` (pixels the 34-px canvas is scaled to, both ends included)."""
    from neuroclip_mini.data import _affine, _elastic, _stroke, place_on_canvas

    generator = torch.Generator().manual_seed(seed)
    x = place_on_canvas(torch.from_numpy(glyph).float()[None, None] / 255.0)
    x = _affine(x, generator)
    u = torch.rand(4, generator=generator)
    if u[0] < 0.5:
        x = _elastic(x, generator)
    x = _stroke(x, torch.tensor([1 if u[1] < 0.3 else (-1 if u[1] > 0.92 else 0)]))
    x = x.clamp(0, 1) * (0.7 + 0.3 * float(u[2]))
    # default: the 34-px canvas scaled to 24-30 px, glyphs of about 18-23 px, as MNIST's 20
    size = sizes[0] + int(u[3] * (sizes[1] - sizes[0] + 1))
    return x[0, 0].numpy(), size


def _simulate_one(job) -> int:
    from neuroclip.events import write_events
    from neuroclip.events.simulate import nmnist_recording

    path, glyph, seed, step_us, model, sizes = job
    path = Path(path)
    if path.is_file():
        return 0
    image, size = augment(glyph, seed, sizes)
    stream = nmnist_recording(image, model, seed=seed, step_us=step_us, digit_size=size)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_events(path, stream)  # atomic
    return 1


def simulate(data: dict, root: Path, variants: int, jobs: int, step_us: int, log=print, model=None,
             sizes: tuple[int, int] = (24, 30)) -> Path:
    """``variants`` simulated recordings of every image, as ``root/Train/<digit>/<source>-<index>-<v>.bin``
    (existing files are kept: resumable), with the pixel model ``model`` (default ``PixelModel()``) and digit
    sizes ``sizes``."""
    from neuroclip.events.simulate import PixelModel

    model = model or PixelModel()
    work = []
    for index, (glyph, label, source) in enumerate(zip(data["images"], data["labels"], data["source"])):
        for v in range(variants):
            seed = SEED * 10_000_019 + index * 97 + v
            work.append((str(root / "Train" / str(int(label)) / f"{source}-{index:05d}-{v}.bin"), glyph, seed,
                         step_us, model, tuple(sizes)))
    todo = [job for job in work if not Path(job[0]).is_file()]
    started = time.time()
    if todo:
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for _ in pool.imap_unordered(_simulate_one, todo, chunksize=16):
                    pass
        else:
            for job in todo:
                _simulate_one(job)
    log(f"simulated {len(todo)} recordings ({len(work)} in all) in {time.time() - started:.0f} s -> {root}")
    (root / "Test").mkdir(exist_ok=True)  # the N-MNIST layout; nothing is scored on it
    return root


# --------------------------------------------------------------------------------------------------- stages


def text_sentences(out: Path) -> Path:
    """Stage A's sentences, one per line: the teacher's caption templates and NeuroCLIP's prompt x the digits and
    their words, and NeuroCLIP's prompt with the first 40 ELS distractor names (the released code trains the text
    tower on the label sentences of many datasets)."""
    from neuroclip.spikeclip.labels import ELS_DISTRACTORS
    from neuroclip_mini.data import CAPTION_TEMPLATES

    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    sentences = [t.format(name) for t in dict.fromkeys(CAPTION_TEMPLATES + [NEUROCLIP_TEMPLATE])
                 for name in DIGITS + words]
    sentences += [NEUROCLIP_TEMPLATE.format(name) for name in ELS_DISTRACTORS[:40]]
    path = out / "stage-a-sentences.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sentence + "\n" for sentence in dict.fromkeys(sentences)))
    return path


def stage_a(out: Path, device: str | None, threads: int) -> dict:
    return {"stage": "align-text", **_common(device), "model": model_values(), "preset": "neuroclip-mini-spiking",
            "out": str(out / "runs" / "a"), "select": "val_cosine",
            "data": {"source": "sentences", "sentences_file": str(text_sentences(out)), "val_fraction": 0.1},
            "optim": {"epochs": 80, "batch_size": 32, "lr": 1e-2, "eta_min": 1e-4}}


def _common(device: str | None) -> dict:
    return {"seed": SEED, "device": device, "progress": False}


def _data(variant: str, args, stage: str) -> dict:
    data = {"classnames": list(DIGITS), "templates": [NEUROCLIP_TEMPLATE], "val_fraction": 0.05,
            "workers": args.workers}
    if VARIANTS[variant][0] == "images":
        return data | {"source": "digits", "val_fraction": 0.1}
    data |= {"source": "nmnist", "root": str(args.sim)}
    if stage == "align-image" and args.unlabelled:  # real recordings, no labels: stage B only
        data |= {"unlabelled": [str(Path(folder).resolve()) for folder in args.unlabelled],
                 "unlabelled_repeat": args.unlabelled_repeat}
    if stage == "align-image" and args.augment:
        data |= {"augment": dict(AUGMENT)}
    return data


def student_stages(variant: str, args, epochs_b: int | None = None) -> list[dict]:
    """Stage B and D configs of a student. Run settings (not part of the recipe): the shared teacher-target cache
    and, with data-loader workers 0, the student inputs kept in memory."""
    modality, timesteps, activation = VARIANTS[variant]
    model = student_values(variant, args)
    preset = model["preset"]
    folder = args.out / "runs" / variant
    run_settings = {"teacher_cache": str(args.teacher_cache), "keep_inputs": args.workers == 0 and not args.augment}
    # fp16 autocast let the ReLU student's activations overflow (NaN from epoch 1 on count frames): it trains in fp32
    amp = {"amp": activation != "relu"}
    b = {"stage": "align-image", **_common(args.device), **run_settings, **amp, "preset": preset, "model": model,
         "init": str(folder / "init.pt"), "out": str(folder / "b"), "select": "val_cosine",
         "data": _data(variant, args, "align-image"),
         "optim": {"epochs": epochs_b or args.epochs_b, "batch_size": 128, "lr": 3e-3, "eta_min": 1e-4}}
    if args.align_kl and modality == "events":
        b["loss"] = {"align_kl_weight": args.align_kl}
    d = {"stage": "finetune", **_common(args.device), **run_settings, **amp, "preset": preset, "model": model,
         "init": str(folder / "b" / "best.pt"), "out": str(folder / "d"), "select": "val_top1",
         "data": _data(variant, args, "finetune"),
         "loss": {"ce_weight": 1.0, "kl_weight": 1.0, "kl_reduction": "batchmean", "temperature": 1.0},
         "optim": {"epochs": args.epochs_d, "batch_size": 128, "lr": 5e-4, "eta_min": 1e-5}}
    return [b, d] if args.epochs_d else [b]


def text_checkpoint(args) -> Path:
    return Path(args.text_from) if args.text_from else args.out / "runs" / "a" / "best.pt"


def make_init(variant: str, args) -> Path:
    """The variant's starting checkpoint: a fresh student of its config (seeded) with stage A's text tower."""
    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip.config import model_config
    from neuroclip.spikeclip.model import build_spikeclip, load_spikeclip, save_spikeclip

    path = args.out / "runs" / variant / "init.pt"
    if path.is_file():
        return path
    values = student_values(variant, args)
    config = model_config(values.pop("preset"), values)
    torch.manual_seed(SEED)
    teacher = load_backbone("neuroclip-mini", None, device="cpu")
    model = build_spikeclip(config, teacher)
    text = load_spikeclip(text_checkpoint(args)).text_encoder.state_dict()
    model.text_encoder.load_state_dict(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_spikeclip(model.cpu(), path, stage="init", note=f"stage A's text tower ({text_checkpoint(args)}), "
                   "a fresh image tower")
    return path


def run(values: dict, log_dir: Path, log=print) -> dict:
    from neuroclip.spikeclip.config import load_stage_config
    from neuroclip.spikeclip.train import run_stage

    name = Path(values["out"]).relative_to(log_dir / "runs").as_posix().replace("/", "-")
    (log_dir / "configs").mkdir(parents=True, exist_ok=True)
    (log_dir / "configs" / f"{name}.json").write_text(json.dumps(values, indent=2))
    started = time.time()
    result = run_stage(load_stage_config(values), resume=True)
    best = result["history"][result["best"]["epoch"] - 1] if result.get("history") else {}
    log(f"{name}: {time.time() - started:.0f} s, {result.get('steps')} steps, best epoch {result['best']['epoch']}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in best.items() if isinstance(v, float) and k != "lr"))
    return result


def train_variant(variant: str, args) -> None:
    make_init(variant, args)
    for values in student_stages(variant, args):
        run(values, args.out)


def prepare_teacher_targets(variant: str, args, log=print) -> None:
    """The teacher's targets of a student's data, computed once into the teacher cache (the students, run in
    parallel, then read them)."""
    from neuroclip.processes import join_processes
    from neuroclip.spikeclip.config import load_stage_config
    from neuroclip.spikeclip.stages import TASKS

    make_init(variant, args)
    t = time.time()
    values = student_stages(variant, args, epochs_b=1)[0]
    TASKS["align-image"](load_stage_config(values), join_processes(args.device))
    log(f"teacher targets for {VARIANTS[variant][0]}: {time.time() - t:.0f} s")


# --------------------------------------------------------------------------------------------------- bundling


def bundle(checkpoint: Path, target: Path = BUNDLED) -> Path:
    """Write the package's ``neuroclip-mini-spiking``: the checkpoint with fp16 weights, the text tower's token
    embedding stored as its non-zero rows (the others are the teacher's zeros, tokens it never saw), and the
    teacher's logit scale (the temperature of the probabilities ``classify`` shows) if the checkpoint predates it.
    Packing a bundled file again keeps its weights and its ``bundled_from``."""
    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip.model import pack_bundled, read_checkpoint, save_torch

    checkpoint = Path(checkpoint)
    payload = pack_bundled(read_checkpoint(checkpoint))
    if "teacher_logit_scale" not in payload:
        teacher = payload["config"]["teacher"]
        payload["teacher_logit_scale"] = float(load_backbone(teacher["model"], teacher["pretrained"]).logit_scale)
    payload["bundled_from"] = payload.get("bundled_from") or \
        str(checkpoint.relative_to(REPO) if checkpoint.is_relative_to(REPO) else checkpoint)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_torch(payload, target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
    return target


# --------------------------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--handwriting-fonts", type=Path, default=HANDWRITING)
    parser.add_argument("--images", type=Path, default=None, help="the 2D images file (default <out>/images.npz)")
    parser.add_argument("--sim", type=Path, default=None,
                        help="the simulated recordings (default <out>/sim-nmnist; made there if missing)")
    parser.add_argument("--teacher-cache", type=Path, default=None,
                        help="folder of the teacher's targets (default <out>/teacher-cache; shareable between runs)")
    parser.add_argument("--unlabelled", type=Path, nargs="+", default=[],
                        help="folders of REAL recordings added to stage B without labels (e.g. the 200 development "
                             "recordings); never the held-out ones")
    parser.add_argument("--unlabelled-repeat", type=int, default=1, help="times per epoch each unlabelled recording "
                                                                          "appears in stage B")
    parser.add_argument("--augment", action="store_true",
                        help=f"stage B: augment every training recording afresh at each read ({AUGMENT})")
    parser.add_argument("--align-kl", type=float, default=0.0,
                        help="stage B: weight of the KL between the teacher's and the student's zero-shot "
                             "distributions (loss.align_kl_weight; 0: cosine alignment only, as released)")
    parser.add_argument("--representation", choices=("counts", "binary"), default="counts",
                        help="the student's event frames: counts or binary (count > 0)")
    parser.add_argument("--image-width", type=int, default=None,
                        help="the event students' image tower width (default: the preset's, 192; a multiple of 4, "
                             "its attention heads)")
    parser.add_argument("--image-depth", type=int, default=None,
                        help="the event students' number of transformer blocks (default: the preset's, 1)")
    parser.add_argument("--teacher-encoding", default=None,
                        help="the frames the teacher sees (default: the preset's, NeuroCLIP's discrimination; e.g. "
                             "voxel_grid)")
    parser.add_argument("--text-from", type=Path, default=None,
                        help="take stage A's text tower from this SpikeCLIP checkpoint instead of training stage A")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per process")
    parser.add_argument("--jobs", type=int, default=2, help="processes simulating recordings")
    parser.add_argument("--workers", type=int, default=0, help="data-loader workers per training process")
    parser.add_argument("--variants", type=int, default=2, help="simulated recordings per 2D image")
    parser.add_argument("--step-us", type=int, default=2000, help="simulator time step (interpolated timestamps)")
    parser.add_argument("--sim-threshold", type=float, default=None,
                        help="the simulator's contrast threshold (default PixelModel's 0.8)")
    parser.add_argument("--sim-noise", type=float, default=1.0,
                        help="scale of the simulator's shot and leak noise rates (default 1: PixelModel's)")
    parser.add_argument("--digit-sizes", type=int, nargs=2, default=(24, 30), metavar=("LO", "HI"),
                        help="pixels the 34-px canvas of a glyph is scaled to, drawn in [LO, HI] (default 24 30)")
    parser.add_argument("--epochs-b", type=int, default=60,
                        help="stage B epochs (60: the bundled model's; the 96-wide comparison rows used 20)")
    parser.add_argument("--epochs-d", type=int, default=10, help="stage D epochs (0: no stage D)")
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)  # images per source (smoke runs)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="students to train (default: all)")
    parser.add_argument("--parallel", action="store_true", help="train the students in parallel processes")
    parser.add_argument("--data-only", action="store_true", help="make the 2D images and recordings, then stop")
    parser.add_argument("--targets-only", action="store_true", help="also compute the teacher's targets, then stop")
    parser.add_argument("--bundle", type=Path, nargs="?", const=True, default=None,
                        help=f"only write the package file {BUNDLED} from a checkpoint "
                             "(default <out>/runs/snn-t4/d/best.pt)")
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)  # one student (subprocess)
    args = parser.parse_args()
    from neuroclip.errors import ConfigError
    from neuroclip.spikeclip.config import model_config

    try:  # a bad --image-width / --image-depth / --teacher-encoding stops here, before any simulating
        values = student_values("snn-t4", args)
        model_config(values.pop("preset"), values)
    except ConfigError as error:
        parser.error(str(error))
    args.out = args.out.resolve()
    args.sim = (args.sim or args.out / "sim-nmnist").resolve()
    args.teacher_cache = (args.teacher_cache or args.out / "teacher-cache").resolve()
    torch.set_num_threads(args.threads)
    if args.bundle is not None:
        bundle(args.out / "runs" / "snn-t4" / "d" / "best.pt" if args.bundle is True else args.bundle)
        return
    if args.variant:
        train_variant(args.variant, args)
        return
    started = time.time()
    log_path = args.out / "train-log.txt"
    args.out.mkdir(parents=True, exist_ok=True)

    def log(message):
        line = f"[{time.time() - started:6.0f} s] {message}"
        print(line, flush=True)
        with open(log_path, "a") as fp:
            fp.write(line + "\n")

    log(f"device {args.device or 'auto'}, torch {torch.__version__}, threads {args.threads}, jobs {args.jobs}; "
        f"representation {args.representation}, unlabelled real recordings in stage B: "
        f"{[str(f) for f in args.unlabelled] or 'none'} (x{args.unlabelled_repeat})")
    if any(VARIANTS[v][0] == "events" for v in args.only) and not (args.sim / "Train").is_dir():
        data = build_images(args.images or args.out / "images.npz", args.handwriting_fonts, log)
        if args.limit:
            keep = np.concatenate([np.flatnonzero(data["source"] == name)[:args.limit]
                                   for name in np.unique(data["source"])])
            data = {key: value[keep] for key, value in data.items()}
        from neuroclip.events.simulate import PixelModel

        base = PixelModel()
        model = PixelModel(threshold=args.sim_threshold or base.threshold,
                           shot_noise_hz=base.shot_noise_hz * args.sim_noise,
                           leak_noise_hz=base.leak_noise_hz * args.sim_noise)
        log(f"simulator: {model}, digit sizes {tuple(args.digit_sizes)}")
        simulate(data, args.sim, args.variants, args.jobs, args.step_us, log, model, tuple(args.digit_sizes))
    if args.data_only:
        return
    if args.text_from:
        log(f"stage A: the text tower of {args.text_from}")
    else:
        run(stage_a(args.out, args.device, args.threads), args.out, log)
    # the teacher's targets of each data set once (then shared by every student through the teacher cache)
    for variant in dict.fromkeys({VARIANTS[v][0]: v for v in args.only}.values()):
        prepare_teacher_targets(variant, args, log)
    if args.targets_only:
        return
    if args.parallel:
        passed = ["--out", str(args.out), "--sim", str(args.sim), "--teacher-cache", str(args.teacher_cache),
                  "--threads", str(args.threads), "--workers", str(args.workers), "--epochs-b", str(args.epochs_b),
                  "--epochs-d", str(args.epochs_d), "--representation", args.representation,
                  "--unlabelled-repeat", str(args.unlabelled_repeat)]
        passed += ["--unlabelled", *map(str, args.unlabelled)] if args.unlabelled else []
        passed += ["--augment"] if args.augment else []
        passed += ["--align-kl", str(args.align_kl)] if args.align_kl else []
        passed += ["--text-from", str(args.text_from)] if args.text_from else []
        passed += ["--image-width", str(args.image_width)] if args.image_width is not None else []
        passed += ["--image-depth", str(args.image_depth)] if args.image_depth is not None else []
        passed += ["--teacher-encoding", args.teacher_encoding] if args.teacher_encoding is not None else []
        passed += ["--device", args.device] if args.device else []
        procs = {v: subprocess.Popen([sys.executable, __file__, "--variant", v, *passed],
                                     stdout=open(args.out / f"log-{v}.txt", "a"), stderr=subprocess.STDOUT)
                 for v in args.only}
        for v, proc in procs.items():
            code = proc.wait()
            log(f"{v}: exit {code} ({time.time() - started:.0f} s); see {args.out / f'log-{v}.txt'}")
    else:
        for v in args.only:
            t = time.time()
            train_variant(v, args)
            log(f"{v}: {time.time() - t:.0f} s")
    log(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
