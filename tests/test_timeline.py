"""Long recordings window by window: the windows hold exactly the events of their time span, each window is
recognised as a single recording of those events would be, and the command writes the CSV and the plot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.seeded_clip import seeded_tiny_clip
from neuroclip.cli import main
from neuroclip.clip import ZeroShotClassifier, resolve_templates
from neuroclip.clip.features import FrameConfig, frame_features
from neuroclip.errors import ConfigError
from neuroclip.events import EventStream, make_events, read_events, write_events
from neuroclip.timeline import classify_timeline, parse_duration_us, sliding_windows, write_timeline

from conftest import SAMPLE_DATA

EVT2_HEAD = SAMPLE_DATA / "formats/prophesee/sparklers_evt2_head.raw"


@pytest.mark.parametrize("text, expected", [("50ms", 50_000), ("2.5 s", 2_500_000), ("800us", 800), ("125", 125),
                                            ("0.25ms", 250)])
def test_durations(text, expected):
    assert parse_duration_us(text) == expected


@pytest.mark.parametrize("text", ["fast", "0.1us", "-5ms", "5 min"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ConfigError, match="--window"):
        parse_duration_us(text, "--window")


@pytest.mark.parametrize("window, stride", [(300, 100), (250, 100), (100, 100), (1000, 7)])
def test_each_window_holds_exactly_the_events_of_its_span(tmp_path, window, stride):
    rng = np.random.default_rng(3)
    t = np.sort(np.concatenate([rng.integers(0, 700, 300), rng.integers(1500, 2100, 200)]))  # with a gap
    stream = EventStream(make_events(t, rng.integers(0, 16, t.size), rng.integers(0, 16, t.size),
                                     rng.integers(0, 2, t.size)), (16, 16))
    path = write_events(tmp_path / "gap.npz", stream)
    windows = list(sliding_windows(path, window, stride))
    t0 = int(t[0])
    assert [w[0] for w in windows] == list(range(t0, int(t[-1]) + 1, stride))
    for start, stop, events in windows:
        assert stop == start + window
        expected = stream.events[(stream.events["t"] >= start) & (stream.events["t"] < stop)]
        np.testing.assert_array_equal(events.events, expected)


def test_a_window_is_recognised_as_the_recording_of_its_events_would_be():
    backbone = seeded_tiny_clip(0)
    names = [str(d) for d in range(10)]
    templates = resolve_templates(None, "nmnist")
    config = FrameConfig(n_frames=4)
    result = classify_timeline(EVT2_HEAD, backbone, names, templates, window_us=400, stride_us=200,
                               frame_config=config, batch_size=3)
    rows = result["rows"]
    assert len(rows) == len(list(sliding_windows(EVT2_HEAD, 400, 200))) >= 6
    assert result["realtime_factor"] > 0 and result["config"]["window_us"] == 400
    start, stop, events = next(sliding_windows(EVT2_HEAD, 400, 200))
    classifier = ZeroShotClassifier(backbone, names, templates)
    direct = classifier.logits(frame_features([events], backbone, config)).softmax(dim=-1)[0]
    assert rows[0]["events"] == len(events) and rows[0]["start_us"] == start
    assert torch.allclose(torch.tensor(rows[0]["probabilities"]), direct, atol=2e-6)
    assert all(abs(sum(row["probabilities"]) - 1) < 1e-4 for row in rows)


def test_sparse_windows_get_no_prediction_and_the_csv_says_so(tmp_path):
    events = make_events([0, 1, 2, 900_000, 900_001], [1, 2, 3, 4, 5], [1] * 5, [1, 0, 1, 0, 1])
    path = write_events(tmp_path / "sparse.npz", EventStream(events, (8, 8)))
    result = classify_timeline(path, seeded_tiny_clip(0), ["a", "b"], ["{}"], window_us=300_000,
                               stride_us=300_000, frame_config=FrameConfig(n_frames=3))
    assert [row["events"] for row in result["rows"]] == [3, 0, 0, 2]
    assert [row["probabilities"] is None for row in result["rows"]] == [False, True, True, True]
    csv_path, png_path = write_timeline(result, tmp_path / "t.csv", tmp_path / "t.png")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("# config: ") and lines[1].startswith("start_us,stop_us,events,top_class")
    assert lines[3] == "300000,600000,0,\"\",,"
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_writes_the_timeline(tmp_path, capsys):
    out = tmp_path / "timeline.csv"
    code = main(["classify", str(EVT2_HEAD), "--classnames", "nmnist", "--model", "neuroclip-mini", "--device",
                 "cpu", "--frames", "4", "--window", "0.5ms", "--stride", "0.25ms", "--csv", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "real-time factor" in printed and out.is_file() and out.with_suffix(".png").is_file()
    rows = out.read_text().splitlines()[2:]
    assert len(rows) == len(list(sliding_windows(EVT2_HEAD, 500, 250)))
    assert read_events(EVT2_HEAD).sensor_size == (640, 480)
