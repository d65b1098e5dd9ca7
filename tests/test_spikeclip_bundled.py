"""The bundled spiking CLIP ``neuroclip-mini-spiking``: resolved by name in the one loader every command uses, small
enough to ship, packed exactly, and usable on a real recording."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuroclip.errors import ConfigError
from neuroclip.spikeclip import model as spikeclip_model
from neuroclip.spikeclip.model import BUNDLED_SPIKECLIP, load_spikeclip, pack_bundled, read_checkpoint

NAME = "neuroclip-mini-spiking"
BUNDLED = BUNDLED_SPIKECLIP[NAME]
SHARED_NMNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "nmnist"
needs_bundled = pytest.mark.skipif(not BUNDLED.is_file(), reason="the bundled SpikeCLIP file is not built here")


@needs_bundled
def test_bundled_file_is_small_and_loads_by_name():
    assert BUNDLED.stat().st_size <= 15 * 1024 * 1024
    model = load_spikeclip(NAME)
    assert model.config.modality == "events"
    assert model.config.teacher.model == "neuroclip-mini"
    assert model.config.image.activation == "lif" and model.config.text.activation == "lif"
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    from neuroclip.clip import load_backbone
    from neuroclip.spikeclip.model import probability_scale

    # the probabilities classify shows use the teacher's temperature, recorded in the file
    assert probability_scale(model) == pytest.approx(load_backbone("neuroclip-mini", None).logit_scale)


@needs_bundled
def test_packing_round_trip_is_exact_up_to_fp16():
    payload = read_checkpoint(NAME)
    again = read_checkpoint_from(pack_bundled(payload))
    for name, tensor in payload["state_dict"].items():
        assert torch.equal(again["state_dict"][name], tensor), name
    embedding = payload["state_dict"]["text_encoder.token_embedding.weight"]
    assert 0 < int((embedding.abs().sum(1) > 0).sum()) < embedding.shape[0]  # only the teacher's known rows


def read_checkpoint_from(payload, tmp=None):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.pt"
        torch.save(payload, path)
        return read_checkpoint(path)


def test_missing_bundled_file_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setitem(spikeclip_model.BUNDLED_SPIKECLIP, NAME, tmp_path / "absent.pt")
    with pytest.raises(ConfigError) as error:
        load_spikeclip(NAME)
    message = str(error.value)
    assert "\n" not in message and NAME in message and "train_neuroclip_mini_spiking.py" in message


def test_checkpoint_without_teacher_scale_shows_the_released_temperature():
    from types import SimpleNamespace

    from neuroclip.spikeclip.model import probability_scale

    assert probability_scale(SimpleNamespace(checkpoint_info={"stage": "align-image"})) == 1.0
    assert probability_scale(SimpleNamespace(checkpoint_info={"teacher_logit_scale": 100.0})) == 100.0


def test_unknown_path_still_says_it_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_spikeclip(tmp_path / "nothing.pt")


@needs_bundled
@pytest.mark.skipif(not SHARED_NMNIST.is_dir(), reason="../shared/data/nmnist is not here")
def test_classifies_a_real_recording_by_name():
    from neuroclip.recognize import classify_files

    files = sorted(SHARED_NMNIST.rglob("*.bin"))[:2]
    assert files
    predictions = classify_files(files, [str(d) for d in range(10)],
                                 ['A black and white photo of the Arabic numeral number: "{}".'], spikeclip=NAME,
                                 k=3)
    assert len(predictions) == 2
    for prediction in predictions:
        assert len(prediction.classnames) == 3 and set(prediction.classnames) <= {str(d) for d in range(10)}
        assert abs(sum(prediction.probabilities)) <= 1.0 + 1e-6
    # at the teacher's temperature a digit the model ranks first is shown with a clear probability, not ~1/10
    assert max(prediction.probabilities[0] for prediction in predictions) > 0.5


@needs_bundled
def test_cli_energy_and_classify_accept_the_name(tmp_path):
    from typer.testing import CliRunner

    from neuroclip.cli.main import app

    if not SHARED_NMNIST.is_dir():
        pytest.skip("../shared/data/nmnist is not here")
    file = sorted(SHARED_NMNIST.rglob("*.bin"))[0]
    result = CliRunner().invoke(app, ["classify", str(file), "--spikeclip", NAME, "--classnames", "nmnist"])
    assert result.exit_code == 0, result.output
    assert str(file) in result.output
