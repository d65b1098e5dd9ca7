"""The SpikeCLIP stage options used by scripts/train_neuroclip_mini_spiking.py (issue #16): the teacher-target cache,
student inputs kept in memory, unlabelled recordings in stage B, and the ``neuroclip-mini-spiking`` preset."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch

from neuroclip.errors import ConfigError
from neuroclip.frames.names import ENCODINGS
from neuroclip.processes import Processes
from neuroclip.spikeclip.config import RUN_SETTINGS, load_stage_config, model_config
from neuroclip.spikeclip.stages import ImageStudent
from neuroclip.spikeclip.train import run_stage

from conftest import NMNIST_ROOT, nmnist_files

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _config(tmp_path, **changes) -> dict:
    values = {"stage": "align-image", "preset": "tiny-events", "out": str(tmp_path / "run"), "progress": False,
              "select": "val_cosine", "max_steps": 2, "device": "cpu",
              "data": {"source": "nmnist", "root": str(NMNIST_ROOT), "per_class": 2, "val_fraction": 0.3},
              "optim": {"epochs": 1, "batch_size": 4}}
    for key, value in changes.items():
        values[key] = values[key] | value if isinstance(value, dict) and key in values else value
    return values


def _task(values) -> ImageStudent:
    return ImageStudent(load_stage_config(values), Processes(device=torch.device("cpu")))


def test_teacher_cache_stores_the_same_targets_and_reads_them_back(tmp_path, monkeypatch):
    nmnist_files()
    plain = _task(_config(tmp_path))
    cached = _task(_config(tmp_path, teacher_cache=str(tmp_path / "cache")))
    assert torch.equal(plain.train_targets, cached.train_targets)
    files = sorted((tmp_path / "cache").glob("teacher-*.pt"))
    assert len(files) == 2  # the training and the validation part

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran although its targets are cached")

    monkeypatch.setattr("neuroclip.spikeclip.stages.cached_teacher_targets", no_teacher)
    again = _task(_config(tmp_path, teacher_cache=str(tmp_path / "cache")))
    assert torch.equal(again.train_targets, plain.train_targets)
    # other samples, another file
    monkeypatch.undo()
    _task(_config(tmp_path, teacher_cache=str(tmp_path / "cache"), data={"per_class": 3}))
    assert len(list((tmp_path / "cache").glob("teacher-*.pt"))) == 4


def test_keep_inputs_reads_each_sample_once_with_the_same_values(tmp_path, monkeypatch):
    nmnist_files()
    task = _task(_config(tmp_path, keep_inputs=True))
    view = task.train_view
    reads = []
    original = type(view)._read
    monkeypatch.setattr(type(view), "_read", lambda self, index: reads.append(index) or original(self, index))
    first = [view[i][0] for i in range(len(view))]
    second = [view[i][0] for i in range(len(view))]
    assert len(reads) == len(view)
    fresh = _task(_config(tmp_path)).train_view
    assert all(torch.equal(a, b) and torch.equal(a, fresh[i][0]) for i, (a, b) in enumerate(zip(first, second)))


def test_run_settings_do_not_block_resuming():
    assert {"teacher_cache", "keep_inputs"} <= RUN_SETTINGS


def test_unlabelled_recordings_join_stage_b_training_without_labels(tmp_path):
    files = nmnist_files()[:3]
    folder = tmp_path / "unlabelled"
    for n, path in enumerate(files):
        (folder / f"sub{n % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / f"sub{n % 2}" / f"{n}.bin")
    base = _task(_config(tmp_path))
    task = _task(_config(tmp_path, data={"unlabelled": [str(folder)], "unlabelled_repeat": 2}))
    assert len(task.indices["train"]) == len(base.indices["train"]) + 2 * len(files)
    assert task.indices["val"] == base.indices["val"]
    extra = task.indices["train"][len(base.indices["train"]):]
    assert [task.source.labels[i] for i in extra] == [-1] * (2 * len(files))
    # the teacher's targets of a repeated recording are one row, and the labelled part's are unchanged
    n = len(base.indices["train"])
    assert torch.allclose(task.train_targets[:n], base.train_targets, atol=1e-6)
    assert torch.equal(task.train_targets[n], task.train_targets[n + 1])
    result = run_stage(load_stage_config(_config(tmp_path, data={"unlabelled": [str(folder)]})))
    assert result["steps"] == 2


def test_unlabelled_recordings_are_refused_where_labels_are_needed(tmp_path):
    values = _config(tmp_path, stage="finetune", data={"unlabelled": [str(tmp_path)]})
    with pytest.raises(ConfigError, match="align-image only"):
        load_stage_config(values)
    with pytest.raises(ConfigError, match="list of folders"):
        load_stage_config(_config(tmp_path, data={"unlabelled": str(tmp_path)}))
    with pytest.raises(ConfigError, match="does not exist"):
        _task(_config(tmp_path, data={"unlabelled": [str(tmp_path / "missing")]}))


def test_neuroclip_mini_spiking_preset_is_the_bundled_models_config():
    from neuroclip.spikeclip.config import MODEL_PRESET_HELP, to_dict
    from neuroclip.spikeclip.model import load_spikeclip

    preset = model_config("neuroclip-mini-spiking")
    assert "neuroclip-mini-spiking" in MODEL_PRESET_HELP
    assert (preset.modality, preset.image.embed_dim, preset.image.depth, preset.text.hidden_dim,
            preset.teacher.model, preset.teacher_frames.n_frames) == ("events", 192, 1, 512, "neuroclip-mini", 10)
    assert to_dict(load_spikeclip("neuroclip-mini-spiking").config) == to_dict(preset)


AUGMENT = {"shift_px": 3.0, "rotate_degrees": 10.0, "scale": 0.1, "drop": 0.3}


def test_augmented_stage_b_reads_fresh_draws_with_the_teacher_on_the_same_recording(tmp_path, monkeypatch):
    nmnist_files()
    task = _task(_config(tmp_path, data={"augment": AUGMENT}))
    assert not task.cache  # targets of augmented samples are computed in the loop
    torch.manual_seed(0)
    (student_a, teacher_a), _, _ = task.train_view[0]
    (student_b, teacher_b), _, _ = task.train_view[0]
    assert not torch.equal(student_a, student_b) and not torch.equal(teacher_a, teacher_b)
    torch.manual_seed(0)
    (student_again, teacher_again), _, _ = task.train_view[0]
    assert torch.equal(student_again, student_a) and torch.equal(teacher_again, teacher_a)  # seeded: reproducible
    # the student and the teacher frame one and the same augmented recording
    seen = []
    from neuroclip.events import augment as augment_module
    real = augment_module.augment_events

    def spy(stream, config, rng):
        out = real(stream, config, rng)
        seen.append(out)
        return out

    monkeypatch.setattr("neuroclip.spikeclip.data.augment_events", spy)
    (student, teacher), _, _ = task.train_view[1]
    from neuroclip.frames.clip_input import clip_frames
    from neuroclip.spikeclip.model import event_input

    assert len(seen) == 1
    assert torch.equal(student, event_input(seen[0], task.model.config))
    config = task.model.config
    assert torch.allclose(teacher, clip_frames(seen[0], config.teacher_frames, task.model.preprocess.size,
                                               mean=task.model.preprocess.mean, std=task.model.preprocess.std))
    # validation is never augmented
    val_a, val_b = task.val_student[0][0], task.val_student[0][0]
    assert torch.equal(val_a, val_b)
    result = run_stage(load_stage_config(_config(tmp_path, data={"augment": AUGMENT})))
    assert result["steps"] == 2


def test_stage_b_logit_kl_term_is_added_to_the_alignment(tmp_path):
    nmnist_files()
    plain = _task(_config(tmp_path))
    with_kl = _task(_config(tmp_path, loss={"align_kl_weight": 2.0}))
    with_kl.model.image_encoder.load_state_dict(plain.model.image_encoder.state_dict())
    loader = torch.utils.data.DataLoader(plain.train_view, batch_size=4)
    batch = next(iter(loader))
    torch.manual_seed(1)
    base, _ = plain.loss(plain.model.image_encoder, batch)
    torch.manual_seed(1)
    total, parts = with_kl.loss(with_kl.model.image_encoder, batch)
    assert parts["kl"] > 0
    assert float(total.detach()) == pytest.approx(float(base.detach()) + 2.0 * parts["kl"], rel=1e-5)
    assert parts["cosine_loss"] == pytest.approx(float(base.detach()), rel=1e-5)
    with pytest.raises(ConfigError, match="align-image only"):
        load_stage_config(_config(tmp_path, stage="finetune", loss={"align_kl_weight": 1.0}))


@pytest.mark.parametrize("bad", [{"drop": 1.0}, {"scale": -0.1}, {"shift_px": "3"}, {"rotate_degrees": 200},
                                 {"jitter": 1}])
def test_bad_augment_values_are_refused_by_name(tmp_path, bad):
    with pytest.raises(ConfigError, match="augment"):
        load_stage_config(_config(tmp_path, data={"augment": bad}))


def test_training_script_sizes_the_student_and_refuses_bad_sizes_before_any_work(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_neuroclip_mini_spiking.py"
    sys.path.insert(0, str(script.parent))
    try:
        from train_neuroclip_mini_spiking import model_values
    finally:
        sys.path.remove(str(script.parent))
    values = model_values("events", 2, "lif", "counts", 96, 2, "voxel_grid")
    config = model_config(values.pop("preset"), values)
    assert (config.image.embed_dim, config.image.depth, config.image.timesteps) == (96, 2, 2)
    assert config.teacher_frames.encoding == "voxel_grid" and config.teacher_frames.n_frames == 10
    default = model_config("neuroclip-mini-spiking")
    values = model_values("events", 4)
    assert model_config(values.pop("preset"), values) == default  # no flags: the preset as bundled
    for flags, named in ((["--image-width", "130"], "embed_dim"), (["--image-width", "0"], "embed_dim"),
                         (["--teacher-encoding", "voxels"], "voxels")):
        completed = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), *flags],
                                   capture_output=True, text=True, timeout=120)
        assert completed.returncode == 2 and named in completed.stderr.splitlines()[-1]
        assert not any(tmp_path.iterdir())  # nothing simulated or written


@pytest.mark.parametrize("model", [{"teacher_frames": {"encoding": "voxel_grid"}},
                                   {"events": {"representation": "binary"}},
                                   {"text": {"hidden_dim": 64}}, {"text": {"pad": "zero"}},
                                   {"text": {"timesteps": 2}}])
def test_a_stage_refuses_an_init_checkpoint_with_other_frames(tmp_path, model):
    """The stage runs the init checkpoint's model: another teacher view, student input or text tower in the stage
    config would be silently ignored, so it is one clear error naming the field."""
    from neuroclip.spikeclip.model import build_spikeclip, save_spikeclip

    nmnist_files()
    config = load_stage_config(_config(tmp_path))
    save_spikeclip(build_spikeclip(config.model), tmp_path / "init.pt", stage="init")
    _task(_config(tmp_path, init=str(tmp_path / "init.pt")))  # the same config: accepted
    with pytest.raises(ConfigError, match=f"model.{next(iter(model))}") as error:
        _task(_config(tmp_path, init=str(tmp_path / "init.pt"), model=model))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
def test_the_teacher_energy_counts_every_image_of_its_encoding(encoding):
    """The CLIP teacher's energy baseline runs its image tower once per image of the teacher's frames: T per part of
    the encoding (a pair of encodings doubles it)."""
    from neuroclip.clip import load_backbone
    from neuroclip.frames.clip_input import FrameConfig
    from neuroclip.spikeclip.config import model_config
    from neuroclip.spikeclip.energy_report import spikeclip_energy
    from neuroclip.spikeclip.model import build_spikeclip

    teacher = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    reports = {}
    for n_frames in (2, 4):
        frames = FrameConfig(encoding=encoding, n_frames=n_frames)
        model = build_spikeclip(dataclasses.replace(model_config("tiny-events"), teacher_frames=frames), teacher)
        reports[n_frames] = spikeclip_energy(model, [torch.rand(1, 4, 2, 32, 32)], teacher=teacher)
        assert reports[n_frames]["measured_on"]["teacher_input"][0] == n_frames * len(encoding.split("+"))
    name = "CLIP teacher neuroclip-tiny-vit"
    assert reports[4]["baselines"][name]["macs"] == 2 * reports[2]["baselines"][name]["macs"]
