"""Every command with bad values: each must end with exit code 2, one line on stderr naming the problem, no
traceback, and no output file. New commands and options get a case here."""

import os
import shutil
import stat

import numpy as np
import pytest
import torch

from neuroclip.cli import main

from conftest import NMNIST_ROOT, REPO_ROOT, real_file

RECORDING = "nmnist/Train/3/00011.bin"


@pytest.fixture
def place(tmp_path):
    """A scratch folder with the inputs the cases refer to: a real recording, garbage files, a FIFO, a folder."""
    shutil.copy(real_file(RECORDING), tmp_path / "rec.bin")
    (tmp_path / "garbage.pt").write_bytes(b"this is not a checkpoint" * 40)
    (tmp_path / "bad.yaml").write_text("stage: align-text\nmodel: [unclosed\n")
    (tmp_path / "a_folder").mkdir()
    empty = {name: np.array([], dtype) for name, dtype in (("t", np.int64), ("x", np.uint16), ("y", np.uint16),
                                                           ("p", np.uint8))}
    np.savez(tmp_path / "empty.npz", **empty)  # spikingjelly's layout: no events, so no sensor size
    # an EVT 2.0 header (with its sensor size) and no event
    (tmp_path / "empty.raw").write_bytes(b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n")
    (tmp_path / "a_file").write_text("x")
    os.mkfifo(tmp_path / "fifo.bin")
    picture = tmp_path / "digit.png"
    from PIL import Image

    Image.new("L", (28, 28), 255).save(picture)
    small_nmnist(tmp_path / "nm")
    small_nmnist(tmp_path / "nm-empty-4", empty_class=4)
    adapter_from_a_later_release(tmp_path / "later")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield tmp_path
    locked.chmod(stat.S_IRWXU)


def small_nmnist(root, empty_class: int | None = None):
    """N-MNIST's layout with 3 training and 1 test recording per digit (links to real recordings)."""
    for digit in range(10):
        for split in ("Train", "Test"):
            (root / split / str(digit)).mkdir(parents=True)
        if digit != empty_class:
            for source in sorted((NMNIST_ROOT / "Train" / str(digit)).glob("*.bin"))[:3]:
                os.symlink(source, root / "Train" / str(digit) / source.name)
        source = sorted((NMNIST_ROOT / "Train" / str(digit)).glob("*.bin"))[-1]
        os.symlink(source, root / "Test" / str(digit) / source.name)
    return root


def adapter_from_a_later_release(path):
    """A saved NeuroCLIP+ head (tiny, synthetic) whose JSON carries a setting this neuroclip does not know."""
    import json

    from neuroclip.fewshot import PlusConfig, fit_neuroclip_plus, save_adapter

    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4, 2, 8, generator=generator)
    weights = torch.nn.functional.normalize(torch.randn(2, 8, generator=generator), dim=-1)
    model = fit_neuroclip_plus(features, torch.tensor([0, 0, 1, 1]), weights, config=PlusConfig(epochs=1),
                               device="cpu")
    _, config_path = save_adapter(path, model)
    document = json.loads(config_path.read_text())
    document["adapter"]["a_later_setting"] = 1
    config_path.write_text(json.dumps(document))


MINI = ["--model", "neuroclip-mini", "--device", "cpu"]
ROOT = ["--dataset", "nmnist", "--root", "{dir}/nm"]

# (id, arguments with {dir} for the scratch folder, words the error line must contain)
CASES = [
    ("info-folder", ["info", "{dir}/a_folder"], ["a_folder", "directory"]),
    ("cache-dir-file", ["cache", "list", "--cache-dir", "{dir}/a_file"], ["a_file", "not a cache folder"]),
    ("cache-prune-negative-days", ["cache", "prune", "--cache-dir", "{dir}/a_folder", "--unused-days", "-1"],
     ["--unused-days", ">= 0"]),
    ("info-fifo", ["info", "{dir}/fifo.bin"], ["fifo.bin", "not a regular file"]),
    ("info-missing", ["info", "{dir}/missing.bin"], ["missing.bin", "no such file"]),
    ("unknown-option", ["info", "--frobnicate", "{dir}/rec.bin"], ["--frobnicate", "--help"]),
    ("unknown-command", ["frobnicate"], ["frobnicate"]),
    ("classify-device-name", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--device", "foo"],
     ["foo", "cpu, cuda"]),
    ("classify-frames-unbounded", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--frames", "100000",
                                   *MINI], ["100000 frames", "--frames"]),
    ("classify-dataset-unknown", ["classify", "{dir}/rec.bin", "--dataset", "foo", *MINI], ["foo", "nmnist"]),
    ("classify-one-class", ["classify", "{dir}/rec.bin", "--classnames", "foo-words", *MINI],
     ["foo-words", "comma-separated"]),
    ("classify-duplicate-classes", ["classify", "{dir}/rec.bin", "--classnames", "a,a,b", *MINI], ["'a'", "once"]),
    ("classify-no-classes", ["classify", "{dir}/rec.bin", *MINI], ["--classnames"]),
    ("classify-no-events", ["classify", "{dir}/rec.bin", "{dir}/empty.raw", "--classnames", "nmnist", *MINI],
     ["empty.raw", "no events"]),
    ("classify-spikeclip-no-events", ["classify", "{dir}/rec.bin", "{dir}/empty.raw", "--classnames", "nmnist",
                                      "--spikeclip", "neuroclip-mini-spiking"], ["empty.raw", "no events"]),
    ("classify-encoding", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--encoding", "foo", *MINI],
     ["foo", "discrimination"]),
    ("classify-fusion", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--fusion", "foo", *MINI],
     ["foo", "mean_cosine"]),
    ("classify-threshold", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--threshold", "-1", *MINI],
     ["--threshold", ">= 0"]),
    ("classify-mini-garbage-checkpoint", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--pretrained",
                                          "{dir}/garbage.pt", *MINI], ["garbage.pt", "neuroclip-mini"]),
    ("classify-mini-other-tag", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--pretrained", "openai",
                                 *MINI], ["neuroclip-mini", "--pretrained openai"]),
    ("classify-pretrained-folder", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--pretrained",
                                    "{dir}/a_folder", "--model", "ViT-B-32", "--device", "cpu"],
     ["a_folder", "is a folder"]),
    ("classify-mini-unknown-words", ["classify", "{dir}/rec.bin", "--classnames", "cifar10dvs", *MINI],
     ["neuroclip-mini", "airplane"]),
    ("classify-garbage-spikeclip", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--spikeclip",
                                    "{dir}/garbage.pt", "--device", "cpu"], ["garbage.pt", "checkpoint"]),
    ("classify-garbage-adapter", ["classify", "{dir}/rec.bin", "--adapter", "{dir}/garbage.pt", "--device", "cpu"],
     ["garbage"]),
    ("classify-adapter-later-release", ["classify", "{dir}/rec.bin", "--adapter", "{dir}/later", "--device", "cpu"],
     ["a_later_setting", "upgrade neuroclip"]),
    ("classify-adapter-and-options", ["classify", "{dir}/rec.bin", "--adapter", "{dir}/garbage.pt",
                                      "--classnames", "nmnist", "--device", "cpu"], ["--classnames", "adapter"]),
    ("zeroshot-split-by", ["zeroshot", *ROOT, *MINI, "--split-by", "foo", "--out", "{dir}/z.json"],
     ["--split-by", "foo"]),
    ("zeroshot-out-folder", ["zeroshot", *ROOT, *MINI, "--out", "{dir}/a_folder"], ["a_folder", "folder"]),
    ("zeroshot-out-under-a-file", ["zeroshot", *ROOT, *MINI, "--out", "{dir}/a_file/z.json"], ["a_file", "is a file"]),
    ("zeroshot-cache-is-file", ["zeroshot", *ROOT, *MINI, "--out", "{dir}/z.json", "--cache-dir", "{dir}/a_file"],
     ["--cache-dir", "a_file"]),
    ("zeroshot-dataset-unknown", ["zeroshot", "--dataset", "foo", "--root", "{dir}", *MINI, "--out",
                                  "{dir}/z.json"], ["foo", "nmnist"]),
    ("zeroshot-classes-count", ["zeroshot", *ROOT, *MINI, "--classnames", "a,b,c", "--out", "{dir}/z.json",
                                "--split", "train"], ["3 class names", "10 classes"]),
    ("fewshot-seeds-negative", ["fewshot", *ROOT, *MINI, "--seeds", "-5", "--out", "{dir}/f.json"],
     ["--seeds", ">= 0"]),
    ("fewshot-shots-zero", ["fewshot", *ROOT, *MINI, "--shots", "0", "--out", "{dir}/f.json"], ["--shots", ">= 1"]),
    ("fewshot-shots-type", ["fewshot", *ROOT, *MINI, "--shots", "1", "two", "--out", "{dir}/f.json"],
     ["--shots", "'two'"]),
    ("fewshot-out-folder", ["fewshot", *ROOT, *MINI, "--out", "{dir}/a_folder"], ["a_folder", "folder"]),
    ("fewshot-method", ["fewshot", *ROOT, *MINI, "--method", "foo", "--out", "{dir}/f.json"], ["foo", "tip"]),
    ("fewshot-protocol", ["fewshot", *ROOT, *MINI, "--protocol", "foo", "--out", "{dir}/f.json"], ["foo"]),
    ("fewshot-plot-jpg", ["fewshot", *ROOT, *MINI, "--plot", "{dir}/f.jpg", "--out", "{dir}/f.json"], [".png"]),
    ("fewshot-save-adapter-tip", ["fewshot", *ROOT, *MINI, "--method", "tip", "--save-adapter", "{dir}/ad",
                                  "--out", "{dir}/f.json"], ["--save-adapter", "neuroclip"]),
    ("fewshot-epochs-unused", ["fewshot", *ROOT, *MINI, "--method", "neuroclip-plus", "--method", "tip",
                               "--epochs", "5", "--out", "{dir}/f.json"], ["--epochs", "neuroclip-plus, tip"]),
    ("fewshot-views-unused", ["fewshot", *ROOT, *MINI, "--method", "zeroshot", "--method", "linear",
                              "--augment-views", "2", "--out", "{dir}/f.json"],
     ["--augment-views", "zeroshot, linear"]),
    ("fewshot-zeroshot-shots", ["fewshot", *ROOT, *MINI, "--method", "zeroshot", "--shots", "4", "--out",
                                "{dir}/f.json"], ["--shots", "zero-shot"]),
    ("fewshot-linear-template", ["fewshot", *ROOT, *MINI, "--method", "linear", "--template", "a {}", "--out",
                                 "{dir}/f.json"], ["--template", "linear probe"]),
    ("fewshot-too-many-shots", ["fewshot", *ROOT, *MINI, "--shots", "1000", "--out", "{dir}/f.json"],
     ["1000 shots", "or fewer"]),
    ("fewshot-augment-views-negative", ["fewshot", *ROOT, *MINI, "--augment-views", "-1", "--out", "{dir}/f.json"],
     ["--augment-views", ">= 0"]),
    ("fewshot-augment-kind", ["fewshot", *ROOT, *MINI, "--augment", "foo", "--augment-views", "2", "--out",
                              "{dir}/f.json"], ["foo", "events"]),
    ("fewshot-augment-without-views", ["fewshot", *ROOT, *MINI, "--augment", "events", "--out", "{dir}/f.json"],
     ["--augment-views"]),
    ("fewshot-augment-counts-voxel", ["fewshot", *ROOT, *MINI, "--encoding", "voxel_grid", "--augment", "counts",
                                      "--augment-views", "2", "--out", "{dir}/f.json"], ["counts", "events"]),
    ("fewshot-test-fraction-alone", ["fewshot", *ROOT, *MINI, "--test-fraction", "0.3", "--out", "{dir}/f.json"],
     ["--test-fraction", "--within"]),
    ("fewshot-within-validation", ["fewshot", *ROOT, *MINI, "--within", "test", "--protocol", "validation",
                                   "--out", "{dir}/f.json"], ["'validation'", "shots, last-epoch"]),
    ("fewshot-within-fraction", ["fewshot", *ROOT, *MINI, "--within", "test", "--test-fraction", "1", "--out",
                                 "{dir}/f.json"], ["test fraction", "between 0 and 1"]),
    ("fewshot-within-save-adapter-tip", ["fewshot", *ROOT, *MINI, "--within", "test", "--method", "tip",
                                         "--save-adapter", "{dir}/ad", "--out", "{dir}/f.json"],
     ["--save-adapter", "neuroclip"]),
    ("fewshot-within-too-many-shots", ["fewshot", *ROOT, *MINI, "--within", "test", "--shots", "50", "--out",
                                       "{dir}/f.json"], ["50 shot(s)", "--test-fraction"]),
    ("fewshot-within-split", ["fewshot", *ROOT, *MINI, "--within", "nope", "--out", "{dir}/f.json"], ["'nope'"]),
    ("fewshot-empty-class", ["fewshot", "--dataset", "nmnist", "--root", "{dir}/nm-empty-4", *MINI, "--shots", "1",
                             "--out", "{dir}/f.json"], ["'4'", "0 recording"]),
    ("classify-decay", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--decay-us", "0", *MINI],
     ["--decay-us", "> 0"]),
    ("zeroshot-hot-pixels", ["zeroshot", *ROOT, "--hot-pixel-sigmas", "-2", *MINI], ["--hot-pixel-sigmas", "> 0"]),
    ("frames-decay", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--decay-us", "nan"], ["--decay-us"]),
    ("classify-stride-alone", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--stride", "5ms", *MINI],
     ["--stride", "--window"]),
    ("classify-window-bad", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--window", "soon", *MINI],
     ["--window", "50ms"]),
    ("classify-window-two-files", ["classify", "{dir}/rec.bin", "{dir}/rec.bin", "--classnames", "nmnist",
                                   "--window", "5ms", *MINI], ["one recording", "2 files"]),
    ("classify-stride-longer", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--window", "5ms",
                                "--stride", "10ms", *MINI], ["--stride", "skipped"]),
    ("zeroshot-center-on-scored-split", ["zeroshot", *ROOT, *MINI, "--center-on", "test", "--out", "{dir}/z.json"],
     ["(test) shares", "scored"]),
    ("zeroshot-center-on-overlapping-split", ["zeroshot", *ROOT, *MINI, "--split", "train", "--center-on",
                                              "train_full", "--out", "{dir}/z.json"],
     ["(train_full) shares", "scored"]),
    ("zeroshot-center-on-unknown-split", ["zeroshot", *ROOT, *MINI, "--center-on", "foo", "--out", "{dir}/z.json"],
     ["split", "'foo'"]),
    ("zeroshot-spikeclip-center", ["zeroshot", *ROOT, "--spikeclip", "neuroclip-mini-spiking", "--center-on",
                                   "train", "--device", "cpu"], ["--center-on", "SpikeCLIP"]),
    ("classify-center-on-missing", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--center-on",
                                    "{dir}/missing", *MINI], ["--center-on", "missing", "does not exist"]),
    ("classify-center-on-empty", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--center-on",
                                  "{dir}/a_folder", *MINI], ["--center-on", "no recordings"]),
    ("classify-center-on-window", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--center-on", "{dir}",
                                   "--window", "5ms", *MINI], ["--center-on", "--window"]),
    ("classify-center-on-adapter", ["classify", "{dir}/rec.bin", "--adapter", "{dir}/later", "--center-on", "{dir}",
                                    "--device", "cpu"], ["--center-on", "--adapter"]),
    # an option given with its default value is still refused where it would be ignored
    ("classify-adapter-frames", ["classify", "{dir}/rec.bin", "--adapter", "{dir}/later", "--frames", "10",
                                 "--model", "neuroclip-mini", "--device", "cpu"], ["--model, --frames", "adapter"]),
    ("classify-spikeclip-frames", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--spikeclip",
                                   "neuroclip-mini-spiking", "--encoding", "discrimination", "--device", "cpu"],
     ["--encoding", "SpikeCLIP"]),
    ("zeroshot-spikeclip-default-frames", ["zeroshot", *ROOT, "--spikeclip", "neuroclip-mini-spiking", "--frames",
                                           "10", "--device", "cpu"], ["--frames", "SpikeCLIP"]),
    ("zeroshot-spikeclip-frames", ["zeroshot", *ROOT, "--spikeclip", "neuroclip-mini-spiking", "--encoding",
                                   "eventbind", "--device", "cpu"], ["--encoding", "SpikeCLIP"]),
    ("frames-unused-setting", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--encoding", "eventclip",
                               "--threshold", "0"], ["--threshold", "eventclip", "discrimination"]),
    ("classify-voxel-split", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", *MINI, "--encoding",
                              "voxel_grid", "--split-by", "number"], ["--split-by", "voxel_grid"]),
    ("fewshot-unused-decay", ["fewshot", *ROOT, *MINI, "--decay-us", "1000", "--out", "{dir}/f.json"],
     ["--decay-us", "discrimination", "time_surface"]),
    ("classify-spikeclip-format", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", "--spikeclip",
                                   "neuroclip-mini-spiking", "--format", "aedat4", "--device", "cpu"],
     ["rec.bin", "AEDAT 4"]),
    ("classify-window-top-k", ["classify", "{dir}/rec.bin", "--classnames", "nmnist", *MINI, "--window", "50ms",
                               "--top-k", "2"], ["--top-k", "--window"]),
    ("zeroshot-no-cache-dir", ["zeroshot", *ROOT, *MINI, "--no-cache", "--cache-dir", "{dir}/cache", "--out",
                               "{dir}/z.json"], ["--cache-dir", "--no-cache"]),
    ("zeroshot-spikeclip-workers", ["zeroshot", *ROOT, "--spikeclip", "neuroclip-mini-spiking", "--workers", "0",
                                    "--device", "cpu"], ["--workers", "SpikeCLIP"]),
    ("simulate-esimagenet-seed", ["simulate", "{dir}/digit.png", "--out", "{dir}/sim", "--motion", "esimagenet",
                                  "--seed", "3"], ["--seed", "esimagenet"]),
    ("cache-prune-all-days", ["cache", "prune", "--cache-dir", "{dir}/a_folder", "--all", "--unused-days", "3"],
     ["--all", "--unused-days"]),
    ("spikeclip-describe-preset-and-config", ["spikeclip", "describe", "--preset", "tiny", "--config",
                                              str(REPO_ROOT / "configs" / "a.yaml")], ["--preset", "--config"]),
    ("spikeclip-eval-uls-names-alone", ["spikeclip", "eval", "{dir}/garbage.pt", "--data", "digits", "--uls-names",
                                        "one=single"], ["--uls-names", "--uls"]),
    ("spikeclip-eval-teacher-model-alone", ["spikeclip", "eval", "{dir}/garbage.pt", "--data", "digits",
                                            "--teacher-model", "RN50"], ["--teacher-model", "--teacher"]),
    ("spikeclip-out-disagrees", ["spikeclip", "align-text", str(REPO_ROOT / "configs" / "a.yaml"), "--out",
                                 "{dir}/run1", "--set", "out={dir}/run2"], ["--out", "out=", "disagree"]),
    ("frames-no-events", ["frames", "{dir}/empty.raw", "--out", "{dir}/f.png"], ["empty.raw", "no events"]),
    ("frames-too-many", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--frames", "100000"], ["100000"]),
    ("frames-pair-too-wide", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--encoding",
                              "discrimination+voxel_grid", "--frames", "600"], ["--frames 600", "1000 frames"]),
    ("frames-unknown-pair", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--encoding",
                             "discrimination+eventclip"], ["discrimination+eventclip", "discrimination+voxel_grid"]),
    ("frames-pair-unused-setting", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.png", "--encoding",
                                    "discrimination+voxel_grid", "--decay-us", "5"], ["--decay-us", "time_surface"]),
    ("frames-out-folder", ["frames", "{dir}/rec.bin", "--out", "{dir}/a_folder"], ["a_folder"]),
    ("frames-out-jpg", ["frames", "{dir}/rec.bin", "--out", "{dir}/f.jpg"], [".png or .gif"]),
    ("simulate-out-file", ["simulate", "{dir}/digit.png", "--out", "{dir}/a_file"], ["a_file", "not a folder"]),
    ("simulate-motion", ["simulate", "{dir}/digit.png", "--out", "{dir}/sim", "--motion", "foo"], ["foo"]),
    ("demo-out-file", ["demo", "--out", "{dir}/a_file"], ["a_file", "not a folder"]),
    ("demo-model", ["demo", "--out", "{dir}/demo", "--model", "foo"], ["foo"]),
    ("energy-garbage", ["energy", "{dir}/garbage.pt", "--data", "nmnist:{dir}:test"], ["garbage.pt", "checkpoint"]),
    ("spikeclip-eval-garbage", ["spikeclip", "eval", "{dir}/garbage.pt", "--data", "digits"],
     ["garbage.pt", "checkpoint"]),
    ("spikeclip-eval-els", ["spikeclip", "eval", "{dir}/garbage.pt", "--data", "digits", "--els", "foo"],
     ["--els", "foo"]),
    ("spikeclip-yaml-syntax", ["spikeclip", "align-text", "{dir}/bad.yaml"], ["bad.yaml", "line"]),
    ("spikeclip-uls-names", ["spikeclip", "eval", "{dir}/garbage.pt", "--data", "digits", "--uls", "--uls-names",
                             "one"], ["--uls-names", "OLD=NEW"]),
    ("info-layout", ["info", "{dir}/rec.bin", "--layout", "jaer"], ["rec.bin", "layout"]),
    ("info-sensor-size", ["info", "{dir}/rec.bin", "--sensor-size", "34"], ["--sensor-size", "WIDTHxHEIGHT"]),
    ("info-no-sensor-size", ["info", "{dir}/empty.npz"], ["empty.npz", "--sensor-size"]),
    ("download-unknown", ["download", "foo", "{dir}/dl"], ["foo", "downloads nmnist"]),
    ("download-folder", ["download", "folder", "{dir}/dl"], ["your own data"]),
]
if os.geteuid() != 0:  # root may write anywhere
    CASES.append(("zeroshot-out-unwritable", ["zeroshot", *ROOT, *MINI, "--out", "{dir}/locked/z.json"],
                  ["locked", "permission"]))
if not torch.cuda.is_available():
    CASES.append(("classify-device-cuda-absent", ["classify", "{dir}/rec.bin", "--classnames", "nmnist",
                                                  "--device", "cuda"], ["cuda", "--device cpu"]))


@pytest.mark.parametrize("arguments, words", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_mistake_is_one_line_and_exit_2(place, capsys, arguments, words):
    before = {path for path in place.rglob("*")}
    code = main([a.replace("{dir}", str(place)) for a in arguments])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("neuroclip: error: "), captured.err
    assert "Traceback" not in captured.err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    created = {path for path in place.rglob("*")} - before
    assert not [path for path in created if path.is_file()], created
