"""The SpikeCLIP trainer: resuming after a kill, torchrun data parallelism, and a small end-to-end run of every
stage on real data (scikit-learn's digit pictures, real N-MNIST recordings) with tiny models."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from neuroclip.errors import ConfigError
from neuroclip.spikeclip.config import load_stage_config
from neuroclip.spikeclip.train import LAST, epoch_batches, run_stage

from conftest import NMNIST_ROOT, needs_all_recordings, nmnist_files

HELPERS = Path(__file__).parent / "helpers"
SRC = Path(__file__).resolve().parents[1] / "src"


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["trainable"]


def _digits_config(out, **changes) -> dict:
    config = {"stage": "align-image", "preset": "tiny", "out": str(out), "progress": False, "select": "val_cosine",
              "data": {"source": "digits", "per_class": 8, "val_fraction": 0.25},
              "optim": {"epochs": 2, "batch_size": 8, "lr": 5e-3}, "checkpoint_every": 1}
    for key, value in changes.items():
        config[key] = value
    return config


def test_epoch_batches_split_one_global_batch_across_processes():
    from neuroclip.processes import Processes

    single = epoch_batches(10, 4, seed=1, epoch=0, processes_=Processes())
    ranks = [epoch_batches(10, 2, seed=1, epoch=0, processes_=Processes(rank=r, world=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == single  # the same global batches, each process a slice
    assert sorted(i for batch in single for i in batch) == list(range(10))
    assert epoch_batches(10, 4, 1, 1, Processes()) != single  # a new order every epoch


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("straight")
    result = run_stage(load_stage_config(_digits_config(out)))
    return result, _weights(out / LAST)


def test_stopped_and_resumed_training_ends_with_identical_weights(tmp_path, straight_run):
    straight, weights = straight_run
    assert straight["steps"] == 16 and len(straight["history"]) == 2
    # stop mid-epoch (step 5 of 8) and exactly at the epoch's end (before its validation), then resume
    for stop in (5, 8):
        out = tmp_path / f"stop{stop}"
        stopped = run_stage(load_stage_config(_digits_config(out, stop_after_steps=stop)))
        assert stopped["stopped"] and stopped["steps"] == stop
        resumed = run_stage(load_stage_config(_digits_config(out)), resume=True)
        assert resumed["steps"] == 16 and resumed["history"] == straight["history"]
        for name, tensor in weights.items():
            assert torch.equal(tensor, _weights(out / LAST)[name]), name


def test_resume_after_a_kill_ends_with_the_same_weights_as_a_straight_run(tmp_path, straight_run):
    straight, weights = straight_run
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(_digits_config(tmp_path / "killed")))
    process = subprocess.Popen([sys.executable, str(HELPERS / "spikeclip_run.py"), str(config_file), "--sleep",
                                "0.25"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    last = tmp_path / "killed" / LAST
    step = 0
    deadline = time.time() + 120
    while step < 5 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        if last.exists():
            step = torch.load(last, map_location="cpu", weights_only=True)["state"]["global_step"]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    assert 5 <= step < 16
    resumed = run_stage(load_stage_config(json.loads(config_file.read_text())), resume=True)
    assert resumed["steps"] == 16 and resumed["history"] == straight["history"]
    for name, tensor in weights.items():
        assert torch.equal(tensor, _weights(last)[name]), name
    # a different config cannot resume this run
    with pytest.raises(ConfigError, match="config differs in optim"):
        changed = _digits_config(tmp_path / "killed", optim={"epochs": 2, "batch_size": 8, "lr": 1e-3})
        run_stage(load_stage_config(changed), resume=True)


def test_two_process_gloo_run_on_events_matches_one_process(tmp_path):
    # sized for the 500 recordings: on the 50 samples the one- and two-process runs end 0.720 vs 0.728 apart (the
    # per-class split of 5 recordings; not yet looked into), so the comparison needs the whole set
    needs_all_recordings()
    nmnist_files()

    def config(out, batch_size):
        # Adam's eps at 1e-3: a parameter whose true gradient is zero (a bias before a batch norm) gets float noise
        # of ~1e-9 that Adam's default eps would blow up to a full +-lr step in either direction
        return {"stage": "align-image", "preset": "tiny-events", "out": str(out), "progress": False,
                "select": "val_cosine", "max_steps": 3,
                "data": {"source": "nmnist", "root": str(NMNIST_ROOT), "per_class": 3, "val_fraction": 0.3},
                "optim": {"epochs": 1, "batch_size": batch_size, "lr": 5e-3, "eps": 1e-3}}

    single = run_stage(load_stage_config(config(tmp_path / "one", 8)))
    config_file = tmp_path / "two.json"
    config_file.write_text(json.dumps(config(tmp_path / "two", 4)))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(HELPERS / "spikeclip_run.py"), str(config_file)], env=_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["world_size"] == 2 and two["steps"] == single["steps"] == 3
    assert two["history"][0]["train_loss"] == pytest.approx(single["history"][0]["train_loss"], rel=1e-5)
    assert two["history"][0]["val_cosine"] == pytest.approx(single["history"][0]["val_cosine"], rel=1e-4)
    one_weights, two_weights = _weights(tmp_path / "one" / LAST), _weights(tmp_path / "two" / LAST)
    assert one_weights.keys() == two_weights.keys()
    # weights and batch-norm running statistics (which only match if the norms saw the global batch)
    for name, tensor in one_weights.items():
        torch.testing.assert_close(two_weights[name], tensor, rtol=1e-3, atol=1e-4, msg=name)

    # the event student classifies recordings, and its first layer reads real-valued counts that change per step
    from neuroclip.events import read_events
    from neuroclip.spikeclip.energy_report import spikeclip_energy
    from neuroclip.spikeclip.model import event_input, load_spikeclip, predict, predict_files

    model = load_spikeclip(tmp_path / "two" / "best.pt")
    streams = [read_events(path) for path in nmnist_files()[:2]]
    predictions = predict(model, streams, [str(d) for d in range(10)], ['the digit "{}"'], k=3)
    assert [len(p.labels) for p in predictions] == [3, 3]
    from_files = predict_files(model, nmnist_files()[:2], [str(d) for d in range(10)], ['the digit "{}"'], k=3)
    assert from_files == predictions
    inputs = torch.stack([event_input(stream, model.config) for stream in streams])
    assert inputs.shape == (2, 4, 2, 32, 32) and float(inputs.sum()) > 0
    report = spikeclip_energy(model, [inputs])
    first = report["layers"][0]
    assert (first["input"], first["steps"], first["macs"]) == ("real", 4, first["dense_macs"])


# --------------------------------------------------------------------------------------------------- end to end


DIGIT_TEMPLATES = ["a photo of the number {}.", "a picture of the number {}.", "a drawing of the number {}."]


@pytest.fixture(scope="module")
def digit_teacher(tmp_path_factory):
    """The tiny CLIP with its image tower trained a little on the digits' training part (see the helper)."""
    from helpers.digit_teacher import train_digit_teacher
    from neuroclip.spikeclip.config import DataConfig, model_config
    from neuroclip.spikeclip.data import DigitsSource, SampleView, select_indices
    from neuroclip.spikeclip.model import ImagePreprocess

    torch.set_num_threads(1)
    source = DigitsSource("train")
    view = SampleView(source, select_indices(source, DataConfig(per_class=40, val_fraction=0.25), "train"),
                      "teacher", model_config("tiny"), ImagePreprocess())
    images = torch.stack([view[i][0] for i in range(len(view))])
    path = tmp_path_factory.mktemp("teacher") / "digit-teacher.pt"
    return str(train_digit_teacher(path, images, torch.tensor(view.labels), steps=200))


def test_every_stage_end_to_end_on_digit_pictures(tmp_path, digit_teacher):
    from neuroclip.clip import load_backbone
    from neuroclip.energy import format_energy_report
    from neuroclip.spikeclip.config import DataConfig
    from neuroclip.spikeclip.energy_report import spikeclip_energy
    from neuroclip.spikeclip.evaluate import evaluate
    from neuroclip.spikeclip.model import load_spikeclip, predict, predict_logits

    teacher = {"model": "neuroclip-tiny-vit", "pretrained": digit_teacher}
    data = {"source": "digits", "per_class": 40, "val_fraction": 0.25, "templates": DIGIT_TEMPLATES[:1]}
    common = {"preset": "tiny", "progress": False, "model": {"teacher": teacher}}

    text = run_stage(load_stage_config(common | {
        "stage": "align-text", "out": str(tmp_path / "a"), "select": "val_cosine",
        "data": {"source": "sentences", "classnames": ["digits", "cifar10"], "templates": DIGIT_TEMPLATES,
                 "val_fraction": 0.2},
        "optim": {"epochs": 12, "batch_size": 8, "lr": 5e-2, "eta_min": 1e-3}}))
    first, best = text["history"][0], max(h["val_cosine"] for h in text["history"])
    assert best > first["val_cosine"] + 0.05  # held-out sentences moved towards the teacher's text embeddings

    image = run_stage(load_stage_config(common | {
        "stage": "align-image", "out": str(tmp_path / "b"), "init": str(tmp_path / "a" / "best.pt"),
        "select": "val_cosine", "data": data, "optim": {"epochs": 10, "batch_size": 16, "lr": 1e-2,
                                                        "eta_min": 5e-4}}))
    chosen = image["history"][image["best"]["epoch"] - 1]
    # alignment: far better than the teacher's mean direction, the best any constant output can do
    assert chosen["val_cosine"] > chosen["val_cosine_constant_baseline"] + 0.2
    # the student's image embeddings, scored like the teacher's with CLIP's text classifier, agree with the
    # teacher's zero-shot predictions far above chance (the teacher's predictions spread over the classes)
    assert chosen["val_teacher_majority"] < 0.4
    assert chosen["val_agreement_teacher_clip_text"] > 0.3 and chosen["val_kappa_teacher_clip_text"] > 0.2

    run_stage(load_stage_config(common | {
        "stage": "finetune-teacher", "out": str(tmp_path / "c"), "init": str(tmp_path / "b" / "best.pt"),
        "data": data | {"per_class": 10}, "loss": {"teacher_logit_scale": 20.0},
        "optim": {"epochs": 1, "batch_size": 16, "lr": 1e-4}}))
    tuned_teacher = str(tmp_path / "c" / "teacher.pt")
    load_backbone("neuroclip-tiny-vit", tuned_teacher, device="cpu")  # an open_clip checkpoint

    dual = run_stage(load_stage_config(common | {
        "stage": "finetune", "out": str(tmp_path / "d"), "init": str(tmp_path / "b" / "best.pt"),
        "model": {"teacher": {"model": "neuroclip-tiny-vit", "pretrained": tuned_teacher}},
        "data": data | {"per_class": 10}, "optim": {"epochs": 1, "batch_size": 16, "lr": 5e-4}}))
    assert dual["config"]["loss"]["kl_reduction"] == "sum" and "val_top1" in dual["history"][0]

    # evaluation on the test split, never seen in training or selection
    model = load_spikeclip(tmp_path / "b" / "best.pt")
    backbone = load_backbone("neuroclip-tiny-vit", digit_teacher, device="cpu")
    test = DataConfig(source="digits", per_class=15, templates=DIGIT_TEMPLATES[:1])
    result = evaluate(model, test, "test", backbone, els=(10,), uls=True,
                      uls_replacements={"zero": "nought", "one": "single", "two": "pair", "three": "triple",
                                        "four": "quad", "five": "pentad", "six": "sextet", "seven": "heptad",
                                        "eight": "octet", "nine": "nonet"})
    assert result["n_samples"] == 150 and result["agreement_teacher_clip_text"] > 0.25
    assert set(result["els"]) == {"20"} and 0 <= result["els"]["20"] <= 1
    assert len(result["uls"]["per_seed"]) == 3 and result["uls"]["per_seed"]["44"]["classnames"][6] == "sextet"
    # predict() ranks like the evaluation
    images = torch.stack([image for image, _, _ in _digit_views(model, test, 6)])
    logits = predict_logits(model, images, model.checkpoint_info["classnames"], DIGIT_TEMPLATES[:1])
    assert logits.shape == (6, 10) and float(logits.abs().max()) <= 1.0 + 1e-5  # cosines: temperature 1
    # every stage's checkpoint keeps its teacher's logit scale; the shown probabilities use it
    assert model.checkpoint_info["teacher_logit_scale"] == pytest.approx(backbone.logit_scale)
    for stage in "abcd":
        assert "teacher_logit_scale" in load_spikeclip(tmp_path / stage / "best.pt").checkpoint_info, stage
    shown = predict(model, images, model.checkpoint_info["classnames"], DIGIT_TEMPLATES[:1], k=1)
    expected = (backbone.logit_scale * logits).softmax(-1).max(-1).values
    assert [p.probabilities[0] for p in shown] == pytest.approx(expected.tolist(), rel=1e-5)

    report = spikeclip_energy(model, [images], backbone, sentences=["a photo of the number one."])
    totals, baselines = report["totals"], report["baselines"]
    assert report["layers"][0]["input"] == "real, same every step" and report["layers"][-1]["layer"] == "proj"
    assert all(row["firing_rate"] is None or 0 <= row["firing_rate"] <= 1 for row in report["layers"])
    ann = baselines["ANN student (LIF->relu)"]
    assert totals["dense_macs"] == pytest.approx(4 * ann["macs"] - 3 * report["layers"][-1]["macs"])
    assert set(totals["energy_mj"]) == {"45nm-fp32", "45nm-fp16", "45nm-int8"}
    assert "text tower (per sentence)" in report["groups"] and "proj" in format_energy_report(report)

    # the command functions
    from neuroclip.cli import app
    from neuroclip.cli.spikeclip import spikeclip_app

    runner = CliRunner()
    checkpoint = str(tmp_path / "b" / "best.pt")
    evaluated = runner.invoke(spikeclip_app, ["eval", checkpoint, "--data", "digits", "--per-class", "3",
                                              "--template", DIGIT_TEMPLATES[0], "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["n_samples"] == 30
    energy = runner.invoke(app, ["energy", checkpoint, "--data", "digits", "--samples", "8", "--json"])
    assert energy.exit_code == 0, energy.output
    energy_json = json.loads(energy.output)
    assert energy_json["measured_on"]["samples"] == 8 and "CLIP teacher neuroclip-tiny-vit" in energy_json[
        "baselines"]
    config_file = tmp_path / "text.yaml"
    config_file.write_text(f"preset: tiny\nprogress: false\ndata: {{classnames: digits}}\n"
                           f"model: {{teacher: {{model: neuroclip-tiny-vit, pretrained: {digit_teacher}}}}}\n")
    trained = runner.invoke(spikeclip_app, ["align-text", str(config_file), "--out", str(tmp_path / "cli"),
                                            "--max-steps", "1", "--set", "optim.batch_size=4"])
    assert trained.exit_code == 0, trained.output
    assert "align-text: 1 epoch(s), 1 steps" in trained.output and (tmp_path / "cli" / "best.pt").is_file()


def _digit_views(model, data, n):
    from neuroclip.spikeclip.data import SampleView, open_source, select_indices

    source = open_source(data, "test")
    view = SampleView(source, select_indices(source, data, "test")[:n], "student", model.config, model.preprocess)
    return [view[i] for i in range(len(view))]


def test_the_cli_says_when_resume_finds_nothing_to_continue(tmp_path, capsys):
    """--resume on a folder without last.pt starts a new run (so a script may always pass it) and says so."""
    from neuroclip.cli import main

    config_file = tmp_path / "b.json"
    config_file.write_text(json.dumps(_digits_config(tmp_path / "run", optim={"epochs": 1, "batch_size": 8})))
    assert main(["spikeclip", "align-image", str(config_file), "--resume", "--max-steps", "1"]) == 0
    captured = capsys.readouterr()
    assert "--resume" in captured.err and "starting a new run" in captured.err
    assert (tmp_path / "run" / LAST).is_file()
