"""Training data and configuration checks of the bundled small CLIP's training (scripts/neuroclip_mini)."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import pytest
import torch

from neuroclip_mini import data as mini_data
from neuroclip_mini import train as mini_train
from neuroclip_mini.train import MiniTrainConfig, glyph_banks, train_mini_clip

DEJAVU = Path(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")


def test_only_the_basic_latin_files_of_the_handwriting_fonts_are_used(tmp_path):
    # Fontsource names its files NAME-SUBSET-WEIGHT-STYLE.woff; only "latin" holds the digits
    for name in ("caveat-latin-400-normal.woff", "caveat-latin-700-normal.woff", "caveat-latin-ext-400-normal.woff",
                 "caveat-cyrillic-400-normal.woff", "caveat-latin-400-italic.woff", "caveat-latin-400-normal.woff2"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in mini_data.handwriting_font_files(tmp_path)] == [
        "caveat-latin-400-normal.woff", "caveat-latin-700-normal.woff"]


def test_fetching_the_handwriting_fonts_without_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mini_data.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="needs npm"):
        mini_data.fetch_handwriting_fonts(tmp_path)


def test_the_handwriting_bank_holds_every_digit_of_every_font(tmp_path):
    # PIL reads a font by its content; a TrueType file under a Fontsource-style name stands in for one
    shutil.copy(DEJAVU, tmp_path / "stand-in-latin-400-normal.woff")
    banks = glyph_banks(tmp_path)
    glyphs, labels = banks["handwriting_fonts"]
    assert glyphs.shape == (10, 1, 34, 34) and labels.tolist() == list(range(10))
    assert float(glyphs.amax()) == pytest.approx(1.0) and float(glyphs[:, :, 0].amax()) == 0  # ink, empty border


def test_an_empty_handwriting_font_folder_is_refused_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="--fetch-fonts"):
        glyph_banks(tmp_path)


@pytest.mark.parametrize("config, folder, message", [
    (MiniTrainConfig(handwriting_font_fraction=0.5), None, "needs the folder"),
    (MiniTrainConfig(handwritten_fraction=0.6, handwriting_font_fraction=0.5), Path("."), "at most 1"),
])
def test_training_refuses_inconsistent_batch_shares(tmp_path, config, folder, message):
    with pytest.raises(ValueError, match=message):
        train_mini_clip(config, tmp_path, handwriting_fonts=folder)


def test_training_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path, monkeypatch):
    shutil.copy(DEJAVU, tmp_path / "stand-in-latin-400-normal.woff")
    config = MiniTrainConfig(steps=4, batch_size=8, warmup_steps=1, curriculum_steps=2, checkpoint_every=2, threads=1)
    whole = train_mini_clip(config, tmp_path / "whole", log=lambda _: None, handwriting_fonts=tmp_path)
    # an interrupted run: killed right after writing its step-2 checkpoint
    save = mini_train._save_atomic

    def save_then_stop(state, path):
        save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(mini_train, "_save_atomic", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_mini_clip(config, tmp_path / "cut", log=lambda _: None, handwriting_fonts=tmp_path)
    monkeypatch.setattr(mini_train, "_save_atomic", save)
    messages = []
    resumed = train_mini_clip(config, tmp_path / "cut", log=messages.append, handwriting_fonts=tmp_path)
    assert "resumed from step 2" in messages
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
