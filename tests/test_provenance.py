"""The shared result helpers: versions recorded in every result, one top-k accuracy, CLIP's constants."""

import numpy as np
import pytest
import torch

import neuroclip
from neuroclip.frames.names import CLIP_MEAN, CLIP_STD
from neuroclip.provenance import accuracy, versions


def test_accuracy_is_an_exact_ratio_of_hits_for_every_k():
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.35, 0.25, 0.4], [0.9, 0.05, 0.05],
                           [0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.1, 0.8], [0.45, 0.35, 0.2], [0.3, 0.2, 0.5]])
    labels = [1, 0, 2, 0, 0, 1, 2, 2, 1, 2]
    # by hand: top-1 hits rows 0, 1, 2, 4, 5, 7, 9 -> 7/10; top-2 also rows 3, 6 and 8 -> 10/10
    assert accuracy(logits, labels) == 0.7
    assert accuracy(logits, np.array(labels), k=2) == 1.0
    assert accuracy(logits, torch.tensor(labels), k=5) == 1.0  # k capped at the 3 classes
    assert np.isnan(accuracy(logits[:0], []))


def test_versions_name_the_package_torch_and_python():
    record = versions()
    assert record["neuroclip_version"] == neuroclip.__version__
    assert record["torch_version"] == torch.__version__
    assert record["python"].count(".") == 2


def test_clip_constants_are_open_clips():
    constants = pytest.importorskip("open_clip.constants")
    assert CLIP_MEAN == tuple(constants.OPENAI_DATASET_MEAN)
    assert CLIP_STD == tuple(constants.OPENAI_DATASET_STD)
