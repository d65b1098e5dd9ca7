"""The GPU checks of the correctness work, in one run on a CUDA machine (each result also printed as a line):

1. devices: ``resolve_device`` accepts ``cuda`` and refuses a GPU index the machine does not have, in one line;
2. CLIP tags: ``ViT-B-32`` + ``openai`` built the way the tag requires (QuickGELU; random weights, nothing
   downloaded) runs on the GPU under bf16 autocast with features close to fp32 (cosine), images/s both ways;
3. the SpikeCLIP text tower with the released (PyTorch default) init trains under CUDA fp16 autocast without the fp32
   guard, at the paper's size and the tiny size: cosine loss at the first and last step, finite steps, firing rate;
   the truncated-normal init (which keeps the guard) beside it; then stage A of the real trainer with AMP;
4. zero-shot with the bundled ``neuroclip-mini`` on real N-MNIST recordings, GPU (bf16 autocast) against CPU: top-1
   of each and the share of identical predictions, as NeuroCLIP does it and centred on the train split
   (``--center-on train``); and ``neuroclip classify --device cuda`` end to end, also with ``--center-on``;
5. the same zero-shot, GPU against CPU, with every encoding CLIP reads, pairs included (their batched device
   framing);
6. ``neuroclip fewshot`` with every trained method on the GPU against the CPU (1 and 4 shots, one draw): top-1 of
   each, the seconds; the NeuroCLIP+ head saved on the GPU and read back by ``classify --adapter --device cuda``;
7. ``neuroclip demo --device cuda`` end to end.

    python scripts/gpu_checks.py --recordings DIR_WITH_Train_AND_Test --out gpu_checks.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

from neuroclip.errors import ConfigError
from neuroclip.outputs import atomic_write, check_output_file

RESULTS: dict = {}
DEVICE = "cuda"  # --device cpu dry-runs the script
STEPS_SCALE = 1.0


def record(name: str, **values) -> None:
    RESULTS[name] = values
    print(f"{name}: {json.dumps(values)}", flush=True)


def check_devices() -> None:
    from neuroclip.devices import resolve_device
    from neuroclip.errors import ConfigError

    if DEVICE != "cuda":
        return
    index = torch.cuda.device_count()
    try:
        resolve_device(f"cuda:{index}")
        refused = None
    except ConfigError as error:
        refused = str(error)
    record("devices", cuda=str(resolve_device("cuda")), gpu=torch.cuda.get_device_name(0), refused_index=refused)


def _synchronize() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def check_clip_tag(batch: int) -> None:
    from open_clip.transformer import QuickGELU

    from neuroclip.clip.backbone import build_model, tag_config

    config = tag_config("ViT-B-32", "openai")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model("ViT-B-32", config, device=DEVICE).eval()
    quick = sum(isinstance(m, QuickGELU) for m in model.modules())
    images = torch.randn(batch, 3, 224, 224, device=DEVICE)
    with torch.no_grad():
        reference = model.encode_image(images).float()
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            low = model.encode_image(images).float()
        rates = {}
        for name, context in (("fp32", torch.autocast(DEVICE, enabled=False)),
                              ("bf16", torch.autocast(DEVICE, dtype=torch.bfloat16))):
            with context:
                model.encode_image(images)
                _synchronize()
                started = time.perf_counter()
                for _ in range(5):
                    model.encode_image(images)
                _synchronize()
            rates[name] = round(5 * images.shape[0] / (time.perf_counter() - started), 1)
    cosine = F.cosine_similarity(reference, low, dim=-1)
    record("clip_vit_b32_openai_architecture", quick_gelu_modules=quick, mean=list(config.mean),
           bf16_cosine_min=round(float(cosine.min()), 5), images_per_s=rates)


def _text_steps(preset: str, init: str, steps: int, vocab: int | None = None) -> dict:
    import dataclasses

    from neuroclip.spikeclip.config import model_config
    from neuroclip.spikeclip.text_encoder import SpikingTextEncoder

    text = model_config(preset).text
    text = dataclasses.replace(text, linear_init=init, **({"vocab_size": vocab} if vocab else {}))
    torch.manual_seed(0)
    encoder = SpikingTextEncoder(text).to(DEVICE)
    ids = torch.randint(0, text.vocab_size, (64, text.context_length), device=DEVICE)
    targets = F.normalize(torch.randn(64, text.output_dim, device=DEVICE), dim=-1)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=5e-3, amsgrad=True)
    scaler = torch.amp.GradScaler(DEVICE)
    losses, finite = [], 0
    spikes = []
    hook = encoder.neuron2.register_forward_hook(lambda m, i, o: spikes.append(float(o.detach().float().mean())))
    for _ in range(steps):
        with torch.autocast(DEVICE, dtype=torch.float16):
            output = encoder(ids)
            loss = (1 - F.cosine_similarity(output.float(), targets, dim=-1)).mean()
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        finite += int(scaler.get_scale() >= scale)
        losses.append(float(loss.detach()))
    hook.remove()
    return {"output_dtype": str(output.dtype), "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
            "loss_min": round(min(losses), 4), "steps_not_skipped": finite, "steps": steps,
            "firing_rate_last": round(spikes[-1], 4)}


def check_text_tower() -> None:
    for preset, steps in (("tiny", 200), ("paper", 300)):
        for init in ("pytorch", "trunc_normal"):
            record(f"text_tower_fp16_{preset}_{init}", **_text_steps(preset, init, max(2, int(steps * STEPS_SCALE))))


def check_stage_a(work: Path) -> None:
    from neuroclip.spikeclip.config import load_stage_config
    from neuroclip.spikeclip.train import run_stage

    values = {"stage": "align-text", "preset": "tiny", "progress": False, "out": str(work / "a"), "device": DEVICE,
              "select": "train_loss",
              "data": {"source": "sentences", "classnames": ["digits", "cifar10"],
                       "templates": ["a photo of the number {}.", "a picture of the number {}."],
                       "val_fraction": 0.0},
              "optim": {"epochs": max(1, int(30 * STEPS_SCALE)), "batch_size": 8, "lr": 5e-2, "eta_min": 1e-3}}
    started = time.time()
    result = run_stage(load_stage_config(values))
    history = result["history"]
    record("stage_a_tiny_cuda_amp", seconds=round(time.time() - started, 1), epochs=len(history),
           first={k: round(v, 4) for k, v in history[0].items() if isinstance(v, float)},
           best={k: round(v, 4) for k, v in history[result["best"]["epoch"] - 1].items() if isinstance(v, float)})


def _zeroshot_cpu_and_device(name: str, data, settings, backbones: dict, caches, **options) -> None:
    """Record zero-shot of ``data`` with the bundled model on the CPU and on DEVICE: top-1 of each, the seconds,
    the autocast dtype and the share of identical predictions. ``caches(device)``: that device's feature cache."""
    from neuroclip.clip.evaluate import zeroshot_evaluate

    runs = {}
    for device, backbone in backbones.items():
        started = time.time()
        with caches(device) as cache:
            result = zeroshot_evaluate(data, backbone, settings.classnames, settings.templates, cache=cache,
                                       batch_size=64, progress=False, **options)
        runs[device] = (result, time.time() - started, str(backbone.amp_dtype))
    same = float((runs["cpu"][0]["_predictions"]["predictions"] ==
                  runs[DEVICE][0]["_predictions"]["predictions"]).mean())
    record(name, n=runs["cpu"][0]["n_samples"], top1={d: round(r[0]["top1"], 4) for d, r in runs.items()},
           seconds={d: round(r[1], 1) for d, r in runs.items()}, amp={d: r[2] for d, r in runs.items()},
           same_predictions=round(same, 4))


def _bundled_on_both() -> dict:
    from neuroclip.clip import load_backbone

    return {device: load_backbone("neuroclip-mini", device=device) for device in ("cpu", DEVICE)}


def check_zeroshot(root: Path, work: Path) -> None:
    from neuroclip.cache import FeatureCache
    from neuroclip.cli import main
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.datasets import get_dataset

    data = get_dataset("nmnist", root, "test")
    settings = resolve_settings("nmnist", dataset_classes=list(data.classes))
    unlabelled = get_dataset("nmnist", root, "train")
    backbones = _bundled_on_both()
    for name, center_on in (("zeroshot_neuroclip_mini", None), ("zeroshot_neuroclip_mini_centred", unlabelled)):
        _zeroshot_cpu_and_device(name, data, settings, backbones,
                                 lambda device: contextlib.nullcontext(FeatureCache(work / f"cache-{device}")),
                                 center_on=center_on)
    files = sorted((root / "Test").glob("*/*.bin"))[:3]
    code = main(["classify", *map(str, files), "--classnames", "nmnist", "--model", "neuroclip-mini",
                 "--device", DEVICE])
    record("cli_classify_cuda", exit_code=code)
    code = main(["classify", *map(str, files), "--classnames", "nmnist", "--model", "neuroclip-mini",
                 "--device", DEVICE, "--center-on", str(root / "Train")])
    record("cli_classify_centred_cuda", exit_code=code)


def check_encodings(root: Path, work: Path) -> None:
    """Zero-shot with every encoding CLIP reads (pairs included), GPU (the batched device framing) against CPU: top-1
    of each, the share of identical predictions and the seconds, on the Test split."""
    from neuroclip.cache import FeatureCache
    from neuroclip.clip.features import FrameConfig
    from neuroclip.clip.presets import resolve_settings
    from neuroclip.datasets import get_dataset
    from neuroclip.frames.names import ENCODINGS

    @contextlib.contextmanager
    def fresh_cache(_device):  # every feature computed in this run, on that device
        with tempfile.TemporaryDirectory(dir=work) as empty:
            yield FeatureCache(empty)

    data = get_dataset("nmnist", root, "test")
    settings = resolve_settings("nmnist", dataset_classes=list(data.classes))
    backbones = _bundled_on_both()
    for encoding in (name for name in ENCODINGS if name != "counts"):  # raw counts are not an image
        _zeroshot_cpu_and_device(f"zeroshot_encoding_{encoding}", data, settings, backbones, fresh_cache,
                                 frame_config=FrameConfig(encoding=encoding, threshold=settings.threshold))


def check_fewshot(root: Path, work: Path) -> None:
    from neuroclip.cli import main
    from neuroclip.fewshot.plan import METHODS

    methods = [name for name in METHODS if name != "zeroshot"]  # every registered trained method
    runs = {}
    for device in ("cpu", DEVICE):
        out = work / f"fewshot-{device}.json"
        extra = ["--save-adapter", str(work / "adapter")] if device == DEVICE else []
        started = time.time()
        code = main(["fewshot", "--dataset", "nmnist", "--root", str(root), "--shots", "1", "4", "--seeds", "1",
                     "--method", *methods, "--model", "neuroclip-mini", "--device", device, "--out", str(out),
                     "--cache-dir", str(work / f"fewshot-cache-{device}"), *extra])
        seconds = time.time() - started
        rows = json.loads(out.read_text())["results"] if code == 0 else []
        runs[device] = {"exit_code": code, "seconds": round(seconds, 1),
                        "top1": {f"{r['method']}@{r['shots']}": round(r["top1"], 4) for r in rows}}
    record("fewshot_cpu_and_device", **runs)
    files = sorted((root / "Test").glob("*/*.bin"))[:3]
    code = main(["classify", *map(str, files), "--adapter", str(work / "adapter"), "--device", DEVICE])
    record("cli_classify_adapter_cuda", exit_code=code)


def check_demo(work: Path) -> None:
    from neuroclip.cli import main

    started = time.time()
    code = main(["demo", "--out", str(work / "demo"), "--device", DEVICE])
    record("cli_demo_cuda", exit_code=code, seconds=round(time.time() - started, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("gpu_checks.json"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/neuroclip-gpu-checks"))
    parser.add_argument("--device", default="cuda", help="cuda (the checks) or cpu (a dry run of the script)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="fraction of the training steps (dry runs)")
    args = parser.parse_args()
    global DEVICE, STEPS_SCALE
    try:  # before the minutes of checks, not after
        check_output_file(args.out, "--out", (".json",))
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    DEVICE, STEPS_SCALE = args.device, args.steps_scale
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_checks.py needs a CUDA GPU (or --device cpu for a dry run)")
    batch = 256 if DEVICE == "cuda" else 4
    checks = [("devices", check_devices), ("clip_tag", lambda: check_clip_tag(batch)),
              ("text_tower", check_text_tower),
              ("stage_a", lambda: check_stage_a(args.work)),
              ("zeroshot", lambda: check_zeroshot(args.recordings, args.work)),
              ("encodings", lambda: check_encodings(args.recordings, args.work)),
              ("fewshot", lambda: check_fewshot(args.recordings, args.work)),
              ("demo", lambda: check_demo(args.work))]
    for name, check in checks:
        try:
            check()
        except Exception:  # one failing check must not hide the others' results
            RESULTS[f"{name}_error"] = traceback.format_exc()
            print(RESULTS[f"{name}_error"], flush=True)
        atomic_write(args.out, lambda fp: fp.write(json.dumps(RESULTS, indent=2).encode()))  # every check kept


if __name__ == "__main__":
    main()
