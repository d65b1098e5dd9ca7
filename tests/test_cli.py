import json
import subprocess
import sys

import pytest

from neuroclip.cli import main
from neuroclip.frames.names import ENCODINGS

from conftest import real_file


def test_info_prints_a_table(capsys):
    path = real_file("nmnist/Train/0/00002.bin")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["file", "format", "sensor", "events", "duration_ms", "rate_ev_per_s", "on_fraction"]
    assert "34x34" in out[1] and "atis_bin" in out[1]


def test_info_json_is_machine_readable(capsys):
    paths = [real_file("nmnist/Train/0/00002.bin"), real_file("formats/ncars/obj_004397_td.dat")]
    assert main(["info", "--json", *map(str, paths)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["events"] for row in rows][1] == 4407
    assert rows[0]["width"] == 34 and 0 < rows[0]["on_fraction"] < 1
    assert rows[1]["duration_us"] == 99_937


def test_user_mistake_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"\x00" * 7)
    result = subprocess.run([sys.executable, "-m", "neuroclip.cli", "info", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "broken.bin" in result.stderr and "multiple of 5" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_file_and_bad_option_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.raw")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["info", "--no-such-option", "x"]) == 2


def test_formats_lists_every_reader(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    for name in ("atis_bin", "aedat2", "aedat3", "aedat4", "prophesee_raw", "prophesee_dat", "npz", "hdf5"):
        assert name in out


def test_classify_prints_top_k_per_file(capsys):
    files = [real_file("nmnist/Train/3/00011.bin"), real_file("nmnist/Train/7/00016.bin")]
    code = main(["classify", *map(str, files), "--classes", "nmnist", "--model", "neuroclip-tiny-vit",
                 "--pretrained", "none", "--top-k", "2", "--device", "cpu"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(files[0]))
    ranked = lines[1].split(": ", 1)[1].split(", ")
    assert len(ranked) == 2 and all(entry.split()[0] in [str(d) for d in range(10)] for entry in ranked)
    probabilities = [float(entry.split()[1]) for entry in ranked]
    assert probabilities[0] >= probabilities[1] > 0


def test_classify_says_when_top_k_is_more_than_the_classes(capsys):
    """--top-k above the number of classes shows every class and says so; the default of 3 says nothing."""
    path = str(real_file("nmnist/Train/3/00011.bin"))
    common = ["classify", path, "--classes", "zero,one", "--model", "neuroclip-tiny-vit", "--pretrained", "none",
              "--device", "cpu"]
    assert main([*common, "--top-k", "5"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().split(": ", 1)[1].split(", ")) == 2
    assert captured.err.strip() == "note: --top-k 5 is more than the 2 classes; all 2 are shown"
    assert main(common) == 0
    assert capsys.readouterr().err == ""


def test_simulate_writes_readable_recordings(tmp_path, capsys):
    from PIL import Image

    from neuroclip.demo import render_digit
    from neuroclip.events import read_events

    picture = tmp_path / "seven.png"
    Image.fromarray((render_digit(7) * 255).astype("uint8")).save(picture)
    assert main(["simulate", str(picture), "--out", str(tmp_path / "out")]) == 0
    stream = read_events(tmp_path / "out" / "seven.bin")
    assert stream.sensor_size == (34, 34) and 2_000 < len(stream) < 8_000
    # ES-ImageNet's motion moves a 224x224 picture by a pixel or two: a 28x28 one gives no event, which is refused
    assert main(["simulate", str(picture), "--out", str(tmp_path / "out"), "--motion", "esimagenet"]) == 2
    assert "gave no events" in capsys.readouterr().err
    large = tmp_path / "large.png"
    Image.fromarray((render_digit(7, size=224) * 255).astype("uint8")).save(large)
    assert main(["simulate", str(large), "--out", str(tmp_path / "out"), "--motion", "esimagenet"]) == 0
    assert read_events(tmp_path / "out" / "large.npz").sensor_size == (224, 224)
    assert main(["simulate", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2


def nmnist_layout(tmp_path, per_digit=3, train_per_digit=0):
    """An N-MNIST-layout folder linking real recordings: Test gets the first ``per_digit`` of each digit, Train the
    next ``train_per_digit``."""
    from conftest import nmnist_files

    files = nmnist_files()
    for digit in range(10):
        mine = [f for f in files if f.parent.name == str(digit)]
        for split, chosen in (("Test", mine[:per_digit]), ("Train", mine[per_digit:per_digit + train_per_digit])):
            folder = tmp_path / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for path in chosen:
                (folder / path.name).symlink_to(path)
    return tmp_path


def test_zeroshot_command_writes_json_and_csv(tmp_path, capsys):
    root = nmnist_layout(tmp_path / "nmnist")
    out, table = tmp_path / "z.json", tmp_path / "z.csv"
    code = main(["zeroshot", "--dataset", "nmnist", "--root", str(root), "--split", "test", "--model",
                 "neuroclip-tiny-vit", "--pretrained", "none", "--out", str(out), "--csv", str(table),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_samples"] == 30 and 0.0 <= result["top1"] <= 1.0
    assert result["config"]["split"] == "test" and result["config"]["frames"]["n_frames"] == 10
    assert result["config"]["templates"] == ['A black and white photo of the Arabic numeral number: "{}".']
    rows = table.read_text().splitlines()
    assert len(rows) == 31 and rows[0].startswith("index,path,label")
    correct = sum(int(r.rsplit(",", 1)[1]) for r in rows[1:])
    assert abs(correct / 30 - result["top1"]) < 1e-9
    assert "top-1" in capsys.readouterr().out


def test_zeroshot_command_centred_on_another_split(tmp_path, capsys):
    """--center-on train: the train split's mean frame feature is subtracted before scoring (recorded in the JSON);
    the logits equal fuse_logits with feature_center of the train split's features."""
    import torch

    from neuroclip.cache import FeatureCache
    from neuroclip.clip import feature_center, fuse_logits, load_backbone, text_classifier
    from neuroclip.clip.extract import extract_features
    from neuroclip.clip.features import FrameConfig
    from neuroclip.datasets import get_dataset

    root = nmnist_layout(tmp_path / "nmnist", train_per_digit=3)
    out, table = tmp_path / "z.json", tmp_path / "z.csv"
    cache = tmp_path / "cache"
    code = main(["zeroshot", "--dataset", "nmnist", "--root", str(root), "--split", "test", "--model",
                 "neuroclip-mini", "--center-on", "train", "--out", str(out), "--csv", str(table),
                 "--cache-dir", str(cache), "--device", "cpu"])
    assert code == 0 and "centred on train" in capsys.readouterr().out
    result = json.loads(out.read_text())
    train = get_dataset("nmnist", root, "train")
    assert result["config"]["center_on"] == {"dataset": "nmnist", "root": str(root), "split": "train",
                                             "n_recordings": len(train), "n_split": len(train), "labels_used": False}
    backbone = load_backbone("neuroclip-mini", None, device="cpu")
    config = FrameConfig(threshold=result["config"]["frames"]["threshold"])
    center = feature_center(torch.from_numpy(extract_features(train, backbone, config, FeatureCache(cache),
                                                              progress=False).features))
    test = extract_features(get_dataset("nmnist", root, "test"), backbone, config, FeatureCache(cache),
                            progress=False)
    weights = text_classifier(backbone, result["config"]["classnames"], result["config"]["templates"])
    expected = fuse_logits(torch.from_numpy(test.features), weights, "mean_cosine", backbone.logit_scale,
                           center=center).argmax(1).numpy()
    predicted = [int(row.split(",")[4]) for row in table.read_text().splitlines()[1:]]
    assert predicted == expected.tolist()
    plain = fuse_logits(torch.from_numpy(test.features), weights, "mean_cosine", backbone.logit_scale).argmax(1)
    assert not torch.equal(plain, torch.from_numpy(expected))  # the centring changed some prediction


def test_zeroshot_command_missing_split_is_exit_2(tmp_path, capsys):
    code = main(["zeroshot", "--dataset", "nmnist", "--root", str(tmp_path), "--model", "neuroclip-tiny-vit",
                 "--pretrained", "none", "--out", str(tmp_path / "z.json")])
    assert code == 2 and "Test" in capsys.readouterr().err


def test_fewshot_command_and_classify_with_the_saved_adapter(tmp_path, capsys):
    root = nmnist_layout(tmp_path / "nmnist", per_digit=2, train_per_digit=6)
    out = tmp_path / "f.json"
    code = main(["fewshot", "--dataset", "nmnist", "--root", str(root), "--shots", "1", "--shots", "2", "--seeds",
                 "1", "--method", "neuroclip", "--method", "tip", "--model", "neuroclip-tiny-vit", "--pretrained",
                 "none", "--epochs", "3", "--out", str(out), "--save-adapter", str(tmp_path / "adapter"),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"])
    assert code == 0
    record = json.loads(out.read_text())
    rows = {(r["method"], r["shots"], r["seed"]) for r in record["results"]}
    assert rows == {("neuroclip", 1, 1), ("neuroclip", 2, 1), ("tip", 1, 1), ("tip", 2, 1)}
    assert all(0.0 <= r["top1"] <= 1.0 for r in record["results"])
    assert out.with_suffix(".png").stat().st_size > 1000
    capsys.readouterr()
    test_file = next((root / "Test" / "4").iterdir())
    assert main(["classify", str(test_file), "--adapter", str(tmp_path / "adapter"), "--top-k", "2",
                 "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(test_file)) and len(line.split(": ", 1)[1].split(", ")) == 2


@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
def test_a_neuroclip_plus_head_of_every_encoding_classifies_with_its_own_frames(encoding, tmp_path, capsys):
    """fewshot --method neuroclip-plus --save-adapter, then classify --adapter: the head keeps its encoding and its
    number of images per recording (T per part of the encoding), and classify frames the file that way."""
    from neuroclip.fewshot import load_adapter

    root = nmnist_layout(tmp_path / "nmnist", per_digit=1, train_per_digit=1)
    assert main(["fewshot", "--dataset", "nmnist", "--root", str(root), "--shots", "1", "--seeds", "1", "--method",
                 "neuroclip-plus", "--model", "neuroclip-tiny-vit", "--pretrained", "none", "--encoding", encoding,
                 "--frames", "3", "--out", str(tmp_path / "f.json"), "--save-adapter", str(tmp_path / "head"),
                 "--device", "cpu"]) == 0
    info = load_adapter(tmp_path / "head")[1]
    assert info["n_frames"] == 3 * len(encoding.split("+"))
    assert json.loads((tmp_path / "f.json").read_text())["config"]["frames"]["encoding"] == encoding
    capsys.readouterr()
    test_file = next((root / "Test" / "4").iterdir())
    assert main(["classify", str(test_file), "--adapter", str(tmp_path / "head"), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(str(test_file))


def test_fewshot_within_one_folder_of_class_folders(tmp_path, capsys):
    """fewshot --dataset folder --within all: per seed, half of each class is scored and the shots come from the
    other half; every method of a seed is scored on the same recordings, zero-shot included. --save-adapter keeps
    the first seed's NeuroCLIP+ head at the largest shots, and classify --adapter reads it."""
    from neuroclip.fewshot import load_adapter

    from conftest import nmnist_files

    root = tmp_path / "mine"
    for digit in (3, 7):
        folder = root / f"digit{digit}"
        folder.mkdir(parents=True)
        for path in [f for f in nmnist_files() if f.parent.name == str(digit)][:6]:
            (folder / path.name).symlink_to(path)
    out = tmp_path / "w.json"
    code = main(["fewshot", "--dataset", "folder", "--root", str(root), "--within", "all", "--test-fraction", "0.5",
                 "--shots", "1", "2", "--seeds", "1", "2", "--method", "zeroshot", "--method", "neuroclip-plus",
                 "--method", "tip", "--classnames", "three,seven", "--model", "neuroclip-tiny-vit", "--pretrained",
                 "none", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
                 "--save-adapter", str(tmp_path / "head")])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    rows = {(r["method"], r["shots"], r["seed"]) for r in record["results"]}
    assert rows == {("zeroshot", 0, 1), ("zeroshot", 0, 2)} | {
        (m, k, s) for m in ("neuroclip-plus", "tip") for k in (1, 2) for s in (1, 2)}
    assert {r["n_test"] for r in record["results"]} == {6}  # 3 of each class's 6
    within = record["config"]["within"]
    assert within["test_fraction"] == 0.5 and within["n_scored_per_seed"] == 6 and within["n_pool_per_seed"] == 6
    assert record["config"]["datasets"]["train"]["n_with_features"] == 12  # the split encoded once
    metadata = load_adapter(tmp_path / "head")[1]["metadata"]
    assert (metadata["method"], metadata["shots"], metadata["seed"]) == ("neuroclip-plus", 2, 1)
    assert metadata["within"]["test_part"] == 1 and len(metadata["training_recordings"]) == 4
    assert record["config"]["saved_method"] == "neuroclip-plus"
    capsys.readouterr()
    recording = next((root / "digit7").iterdir())
    assert main(["classify", str(recording), "--adapter", str(tmp_path / "head"), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(str(recording))


def test_fewshot_command_with_augmented_views(tmp_path):
    root = nmnist_layout(tmp_path / "nmnist", per_digit=1, train_per_digit=2)
    out = tmp_path / "f.json"
    code = main(["fewshot", "--dataset", "nmnist", "--root", str(root), "--shots", "1", "--seeds", "1", "--method",
                 "neuroclip-plus", "--method", "tip", "--model", "neuroclip-tiny-vit", "--pretrained", "none",
                 "--augment-views", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--device",
                 "cpu"])
    assert code == 0
    record = json.loads(out.read_text())
    assert record["config"]["augment"]["level"] == "events" and record["config"]["augment"]["n_views"] == 2
    assert record["config"]["plan"]["augment"]["n_views"] == 2
    assert {r["method"] for r in record["results"]} == {"neuroclip-plus", "tip"}


def test_classify_with_a_spikeclip_checkpoint(tmp_path, capsys):
    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip import build_spikeclip, model_config, save_spikeclip

    teacher = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    checkpoint = save_spikeclip(build_spikeclip(model_config("tiny-events"), teacher), tmp_path / "spike.pt")
    files = [real_file("nmnist/Train/3/00011.bin"), real_file("nmnist/Train/7/00016.bin")]
    assert main(["classify", *map(str, files), "--spikeclip", str(checkpoint), "--classes", "nmnist",
                 "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(f) for f in files]
    assert all(len(line.split(": ", 1)[1].split(", ")) == 3 for line in lines)


def test_info_and_formats_never_import_torch():
    # reading and describing a file needs numpy only: torch's import alone takes seconds
    path = real_file("nmnist/Train/0/00002.bin")
    code = ("import sys; from neuroclip.cli import main; code = main(['info', sys.argv[1]]) + main(['formats']); "
            "sys.exit(code or ('torch' in sys.modules and 3))")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "34x34" in result.stdout


@pytest.mark.parametrize("encoding", [name for name in ENCODINGS if name != "counts"])
def test_frames_never_imports_torch(tmp_path, encoding):
    """Framing and drawing a recording, whole or from a file piece by piece, needs numpy only: torch's import alone
    took 2 s and 600 MB of the command's 3.2 s and 800 MB."""
    path = real_file("nmnist/Train/0/00002.bin")
    code = ("import sys; from neuroclip.cli import main; from neuroclip.frames.streamed import encode_file; "
            "frames = encode_file(sys.argv[1], sys.argv[3], 4); "
            "code = main(['frames', sys.argv[1], '--encoding', sys.argv[3], '--out', sys.argv[2]]); "
            "sys.exit(code or ('torch' in sys.modules and 3))")
    result = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "f.png"), encoding],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "f.png").stat().st_size > 0


def test_info_reports_the_good_files_then_the_bad_one(tmp_path, capsys):
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"\x00" * 7)
    good = real_file("nmnist/Train/0/00002.bin")
    assert main(["info", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "34x34" in captured.out and "broken.bin" not in captured.out
    assert captured.err.count("\n") == 1 and "broken.bin" in captured.err


def test_option_help_lists_every_registered_choice():
    from neuroclip.cli.options import CLASSNAMES_HELP, ENCODING_HELP, FUSION_HELP
    from neuroclip.clip.zeroshot import FUSIONS
    from neuroclip.datasets import CLASSNAME_SETS
    from neuroclip.frames.names import ENCODINGS

    assert all(name in FUSION_HELP for name in FUSIONS)
    assert all(name in ENCODING_HELP for name in ENCODINGS if name != "counts")
    assert all(name in CLASSNAMES_HELP for name in CLASSNAME_SETS if name != "imagenet")


def test_classify_pictures_with_an_image_spikeclip(tmp_path, capsys):
    # the head is chosen before anything is read: an image checkpoint takes picture files, never read as recordings
    from PIL import Image

    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip import build_spikeclip, model_config, save_spikeclip

    teacher = load_backbone("neuroclip-tiny-vit", None, device="cpu")
    checkpoint = save_spikeclip(build_spikeclip(model_config("tiny"), teacher), tmp_path / "image.pt")
    pictures = []
    for digit in (1, 7):
        picture = tmp_path / f"digit{digit}.png"
        Image.new("RGB", (32, 32), (digit * 30, 0, 0)).save(picture)
        pictures.append(picture)
    assert main(["classify", *map(str, pictures), "--spikeclip", str(checkpoint), "--classnames", "nmnist",
                 "--top-k", "2", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in pictures]


def test_a_datasets_settings_apply_by_default_and_an_option_overrides_them(tmp_path, capsys):
    from test_cli_mistakes import small_nmnist

    root = small_nmnist(tmp_path / "nm")
    base = ["zeroshot", "--dataset", "nmnist", "--root", str(root), "--model", "neuroclip-mini", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--out", str(tmp_path / "default.json")]) == 0
    assert main([*base, "--threshold", "2", "--classnames", "nmnist-words", "--out", str(tmp_path / "set.json")]) == 0
    default = json.loads((tmp_path / "default.json").read_text())["config"]
    chosen = json.loads((tmp_path / "set.json").read_text())["config"]
    assert default["settings"]["sources"] == {"threshold": "dataset nmnist", "classnames": "dataset nmnist",
                                              "template": "dataset nmnist"}
    assert default["frames"]["threshold"] == 0 and default["classnames"] == [str(d) for d in range(10)]
    assert chosen["frames"]["threshold"] == 2 and chosen["classnames"][0] == "zero"
    assert chosen["settings"]["sources"]["threshold"] == "--threshold"
    capsys.readouterr()


def test_the_shipped_spikeclip_configs_run_every_stage_offline(tmp_path, monkeypatch, capsys):
    # the README's SpikeCLIP commands, as written, on configs/ (shortened: one epoch, a few steps per stage)
    import shutil

    from conftest import REPO_ROOT

    pytest.importorskip("sklearn")
    shutil.copytree(REPO_ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    short = ["--set", "optim.epochs=1", "--set", "data.per_class=12", "--max-steps", "3"]
    for stage, config in (("align-text", "a"), ("align-image", "b"), ("finetune-teacher", "c"), ("finetune", "d")):
        assert main(["spikeclip", stage, f"configs/{config}.yaml", *short, "--device", "cpu"]) == 0, stage
    assert (tmp_path / "runs" / "c" / "teacher.pt").is_file() and (tmp_path / "runs" / "d" / "best.pt").is_file()
    assert main(["spikeclip", "eval", "runs/d/best.pt", "--data", "digits", "--per-class", "3", "--els", "10",
                 "--uls", "--uls-names", "zero=nought,one=single,two=pair,three=triple,four=quad,five=pentad,"
                 "six=sextet,seven=heptad,eight=octet,nine=nonet", "--json"]) == 0
    capsys.readouterr()


def test_classify_writes_json_and_csv(tmp_path, capsys):
    files = [real_file("nmnist/Train/3/00011.bin"), real_file("nmnist/Train/7/00016.bin")]
    csv_path = tmp_path / "predictions.csv"
    assert main(["classify", *map(str, files), "--classnames", "nmnist", "--model", "neuroclip-mini", "--device",
                 "cpu", "--top-k", "2", "--json", "--csv", str(csv_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["file"] for row in rows] == [str(f) for f in files] and all(len(row["top"]) == 2 for row in rows)
    assert rows[0]["top"][0]["probability"] >= rows[0]["top"][1]["probability"]
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "file,rank,label,class,probability" and len(lines) == 5


def test_sensor_size_for_a_file_that_does_not_say_it(tmp_path, capsys):
    import numpy as np

    empty = {name: np.array([], dtype) for name, dtype in (("t", np.int64), ("x", np.uint16), ("y", np.uint16),
                                                           ("p", np.uint8))}
    np.savez(tmp_path / "empty.npz", **empty)
    assert main(["info", "--json", "--sensor-size", "64x48", str(tmp_path / "empty.npz")]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["width"], row["height"], row["events"]) == (64, 48, 0)


def test_classify_centred_on_a_folder_of_unlabelled_recordings(tmp_path, capsys):
    from conftest import nmnist_files

    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    files = nmnist_files()
    for path in files[:3]:
        (unlabelled / path.name).symlink_to(path)
    base = ["classify", str(files[-1]), "--classnames", "nmnist", "--model", "neuroclip-mini", "--device", "cpu",
            "--encoding", "eventbind", "--json"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*base, "--center-on", str(unlabelled)]) == 0
    captured = capsys.readouterr()
    centred = json.loads(captured.out)  # the note goes to stderr: the JSON stays whole
    assert f"centred on 3 of the 3 recordings under {unlabelled}" in captured.err
    assert centred[0]["file"] == plain[0]["file"] and centred[0]["top"] != plain[0]["top"]
