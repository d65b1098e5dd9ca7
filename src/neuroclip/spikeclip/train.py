"""The training loop of SpikeCLIP's stages (the stages themselves: :mod:`neuroclip.spikeclip.stages`).

Adam (amsgrad) and a cosine schedule stepped per epoch, as released; ``torchrun`` runs it data-parallel (DDP, batch
norms synchronised across processes; gloo on CPU, NCCL on GPU), with fp16 autocast and gradient scaling on CUDA. The
resumable state (``last.pt``: weights, optimiser, schedule, scaler, :class:`TrainState`, random state) is written
atomically; the data order of an epoch is a function of the seed and the epoch, so a run killed and resumed with
``resume=True`` ends with the same weights as an uninterrupted one (on CPU, bit for bit). Resuming compares the
recipe only (:meth:`~neuroclip.spikeclip.config.StageConfig.recipe`): run settings such as the device may change.
The checkpoint with the best *validation* metric is ``best.pt``; the test split is never looked at.
``result.json`` carries the whole config, the package version, the seed and the per-epoch history.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from neuroclip.devices import fp16_autocast
from neuroclip.errors import ConfigError
from neuroclip.outputs import atomic_write
from neuroclip.processes import Processes, batch_loader, epoch_batches, join_processes, to_device
from neuroclip.provenance import versions
from neuroclip.spikeclip.config import RUN_SETTINGS, LossConfig, StageConfig, legacy_model_dict, to_dict
from neuroclip.spikeclip.layers import convert_batchnorm_for_processes
from neuroclip.spikeclip.model import save_torch
from neuroclip.spikeclip.stages import BEST, LAST, RESULT, TASKS

TRAIN_STATE_FORMAT = "neuroclip-spikeclip-train"


@dataclasses.dataclass
class TrainState:
    """Where a stage's training is: what ``last.pt`` stores besides the weights, optimiser and random state."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    epoch_loss_sum: float = 0.0
    epoch_batches: int = 0
    history: list = dataclasses.field(default_factory=list)
    done: bool = False


def _better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    lower = metric in ("train_loss", "val_loss")
    return value < best if lower else value > best


def _config_difference(saved: dict, current: dict) -> list[str]:
    """The recipe fields (dotted paths, e.g. ``optim.lr``) in which a saved stage config differs from the current
    one; run settings (:data:`~neuroclip.spikeclip.config.RUN_SETTINGS`) may differ. The saved model config gets
    the fields it predates (``legacy_model_dict``)."""
    if isinstance(saved.get("model"), dict):
        saved = {**saved, "model": legacy_model_dict(saved["model"])}
    if isinstance(saved.get("loss"), dict):  # configs saved before stage B's optional KL term: its defaults (off)
        defaults = LossConfig()
        added = {name: getattr(defaults, name) for name in ("align_kl_weight", "align_kl_scale")}
        saved = {**saved, "loss": {**added, **saved["loss"]}}
    return sorted(path for key in set(saved) | set(current) if key not in RUN_SETTINGS
                  for path in _differing_paths(saved.get(key), current.get(key), key))


def _differing_paths(saved, current, path: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        return [found for key in set(saved) | set(current)
                for found in _differing_paths(saved.get(key), current.get(key), f"{path}.{key}")]
    return [] if saved == current else [path]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_stage(config: StageConfig, resume: bool = False, on_step=None) -> dict:
    """Train one stage; returns the result record (also written to ``<out>/result.json``).

    ``resume``: continue from ``<out>/last.pt`` if it exists (the config must be the same but for
    its recipe). ``on_step(state)`` is called after every optimisation step with the step counters.
    The returned record has ``"stopped": True`` when ``stop_after_steps`` ended the run early.
    """
    config.check()
    started = time.time()
    procs = join_processes(config.device)
    try:
        return _run(config, procs, resume, on_step, started)
    finally:
        procs.close()


def _run(config: StageConfig, procs: Processes, resume: bool, on_step, started: float) -> dict:
    from tqdm.auto import tqdm

    out = Path(config.out).expanduser()
    _seed_everything(config.seed)
    task = TASKS[config.stage](config, procs)
    module = task.trainable
    module.train()
    if procs.world > 1 and config.sync_batchnorm:
        convert_batchnorm_for_processes(module, procs.device)
    wrapped = module
    if procs.world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[procs.device.index] if procs.device.type == "cuda" else None)
    optim = config.optim
    parameters = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=optim.lr, betas=optim.betas, eps=optim.eps,
                                 weight_decay=optim.weight_decay, amsgrad=optim.amsgrad)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=optim.t_max or optim.epochs,
                                                           eta_min=optim.eta_min)
    use_amp = config.amp and procs.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    state = TrainState()
    config_dict = to_dict(config)
    last = out / LAST
    if resume and last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=True)
        if saved.get("format") != TRAIN_STATE_FORMAT:
            raise ConfigError(f"{last} is not a SpikeCLIP training state")
        different = _config_difference(saved["config"], config_dict)
        if different:
            raise ConfigError(f"cannot resume {last}: the config differs in {', '.join(different)}; use the "
                              "config of the interrupted run (or another --out)")
        task.model.load_state_dict(saved["model"])
        module.load_state_dict(saved["trainable"])  # the student tower again, or the teacher's image tower
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        state = TrainState(**saved["state"])
        torch.set_rng_state(saved["rng"])
    if state.done:
        return json.loads((out / RESULT).read_text()) if (out / RESULT).is_file() else {"done": True}

    def save_state():
        if not procs.main:
            return
        save_torch({
            "format": TRAIN_STATE_FORMAT, "config": config_dict, "state": dataclasses.asdict(state),
            "trainable": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "model": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "rng": torch.get_rng_state(),
        }, last)

    def record() -> dict:
        return {
            "stage": config.stage, "best": {"metric": config.select, "value": state.best,
                                            "epoch": state.best_epoch},
            "history": state.history, "steps": state.global_step, "epochs_run": state.epoch,
            "world_size": procs.world, "device": str(procs.device), "seed": config.seed,
            "config": config_dict, "model": task.model_config_dict(),
            **versions(), "seconds_this_run": round(time.time() - started, 2),
            "checkpoint": str(out / BEST),
        }

    run_steps = 0
    stop = False
    for epoch in range(state.epoch, optim.epochs):
        batches = epoch_batches(len(task.train_view), optim.batch_size, config.seed, epoch, procs,
                                drop_last=optim.drop_last)
        if not batches:
            raise ConfigError(f"no full batch of {optim.batch_size} in {len(task.train_view)} training samples "
                              "(optim.drop_last is on): lower optim.batch_size")
        start = state.step_in_epoch
        bar = tqdm(total=len(batches), initial=start, desc=f"{config.stage} epoch {epoch + 1}/{optim.epochs}",
                   disable=not (config.progress and procs.main), leave=False, file=sys.stderr)
        module.train()
        reached_max = False
        for batch in batch_loader(task.train_view, batches[start:], config.data.workers, procs.device):
            batch = to_device(batch, procs.device)
            with fp16_autocast(use_amp, procs.device):
                loss, parts = task.loss(wrapped, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            state.global_step += 1
            state.step_in_epoch += 1
            state.epoch_loss_sum += float(loss.detach())
            state.epoch_batches += 1
            run_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", **{k: f"{v:.3g}" for k, v in parts.items()})
            if config.checkpoint_every and state.global_step % config.checkpoint_every == 0:
                save_state()
            if on_step is not None:
                on_step(dataclasses.asdict(state))
            if config.max_steps is not None and state.global_step >= config.max_steps:
                reached_max = True
                break
            if config.stop_after_steps is not None and run_steps >= config.stop_after_steps:
                stop = True
                break
        bar.close()
        if stop:
            save_state()
            procs.barrier()
            return record() | {"stopped": True}
        with warnings.catch_warnings():  # a run resumed at an epoch's end steps the schedule before any step
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            scheduler.step()
        train_loss = procs.all_reduce_sum(torch.tensor([state.epoch_loss_sum, state.epoch_batches],
                                                       dtype=torch.float64))
        metrics = {"epoch": epoch + 1, "step": state.global_step, "lr": optimizer.param_groups[0]["lr"],
                   "train_loss": float(train_loss[0] / max(train_loss[1], 1))}
        metrics |= task.validate()
        if config.select not in metrics:
            raise ConfigError(f"select={config.select!r} is not measured in stage {config.stage} with this data "
                              f"(measured: {', '.join(k for k in metrics if k not in ('epoch', 'step', 'lr'))}); "
                              "use train_loss, or give the data a validation part (data.val_fraction > 0)")
        value = metrics[config.select]
        state.epoch = epoch + 1
        state.step_in_epoch = 0
        state.epoch_loss_sum, state.epoch_batches = 0.0, 0
        state.history.append(metrics)
        if _better(config.select, value, state.best):
            state.best, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
            if procs.main:
                task.save_best(out, {"stage": config.stage, "epoch": epoch + 1, "metrics": metrics,
                                     "classnames": getattr(task, "classnames", None),
                                     "templates": getattr(task, "templates", None), "stage_config": config_dict})
        else:
            state.bad_epochs += 1
        patience = config.early_stop_patience
        finished = reached_max or epoch + 1 == optim.epochs or (patience is not None
                                                                  and state.bad_epochs >= patience)
        state.done = finished
        save_state()
        result = record()
        if procs.main:
            encoded = json.dumps(result, indent=2, default=str).encode()
            atomic_write(out / RESULT, lambda fp, data=encoded: fp.write(data))
        procs.barrier()
        if finished:
            return result
    return record()


def train_from_file(path, overrides: dict | None = None, resume: bool = False) -> dict:
    """Load a stage config file (JSON/YAML), apply dotted overrides, train."""
    from neuroclip.spikeclip.config import load_stage_config

    return run_stage(load_stage_config(path, overrides), resume=resume)


__all__ = ["TrainState", "epoch_batches", "run_stage", "train_from_file"]
