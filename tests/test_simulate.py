import numpy as np
import pytest

from neuroclip import ConfigError
from neuroclip.demo import render_digit
from neuroclip.events import read_events
from neuroclip.events.io._common import decoders
from neuroclip.events.simulate import (
    MOTIONS,
    PixelModel,
    cifar10dvs_recording,
    es_imagenet_recording,
    nmnist_recording,
    shift_image,
    shift_images,
    simulate_events,
)

from conftest import nmnist_files

QUIET = dict(threshold_mismatch=0.0, shot_noise_hz=0.0, leak_noise_hz=0.0, refractory_us=0)


def burst_profile(stream):
    """Event share per 10 ms bin from the first event."""
    t = (stream.events["t"] - stream.events["t"][0]) / 1000
    counts, _ = np.histogram(t, bins=np.arange(0, 320, 10))
    return counts / counts.sum()


def nmnist_statistics(streams):
    profiles = np.mean([burst_profile(s) for s in streams], axis=0)
    return {
        "events": np.mean([len(s) for s in streams]),
        "duration_ms": np.mean([s.duration for s in streams]) / 1000,
        "on_fraction": np.mean([s.on_fraction for s in streams]),
        # the pauses between saccades (around 100 and 205 ms) against the busiest bins
        "pause_to_peak": max(profiles[9:11].mean(), profiles[20:22].mean()) / np.sort(profiles)[-6:].mean(),
    }


def test_simulated_nmnist_matches_real_nmnist_statistics():
    real = nmnist_statistics([read_events(p) for p in nmnist_files()[::10]])
    simulated = nmnist_statistics([nmnist_recording(render_digit(d % 10), seed=d) for d in range(30)])
    # the real recordings themselves: ~4.1k events, ~306 ms, balanced, three bursts with pauses between
    assert 3_800 < real["events"] < 4_400 and 300 < real["duration_ms"] < 312
    assert abs(real["on_fraction"] - 0.5) < 0.05 and real["pause_to_peak"] < 0.35
    assert abs(simulated["events"] - real["events"]) < 0.25 * real["events"]
    assert abs(simulated["duration_ms"] - real["duration_ms"]) < 10
    assert abs(simulated["on_fraction"] - real["on_fraction"]) < 0.06
    assert simulated["pause_to_peak"] < 0.35


def test_one_pixel_step_gives_one_event_per_threshold_crossed():
    frames = np.array([[[0.1]], [[0.9]], [[0.1]]])
    model = PixelModel(threshold=0.5, **QUIET)
    events = simulate_events(frames, np.array([0, 1000, 2000]), model)
    crossings = int(np.floor((np.log(0.9 + 0.02) - np.log(0.1 + 0.02)) / 0.5))
    assert crossings == 4
    assert events["p"].tolist() == [1] * 4 + [0] * 4
    assert np.all(events["t"][:4] <= 1000) and np.all(events["t"][4:] > 1000)
    # log-linear interpolation: the first crossing comes a quarter of the way in log intensity, not at the end
    assert events["t"][0] < 300


def test_refractory_period_and_noise():
    frames = np.array([[[0.1]], [[0.9]]])
    busy = simulate_events(frames, np.array([0, 1000]), PixelModel(threshold=0.5, **QUIET))
    quiet = simulate_events(frames, np.array([0, 1000]), PixelModel(threshold=0.5, **QUIET | {"refractory_us": 600}))
    assert len(busy) == 4 and len(quiet) == 2
    still = np.full((2, 20, 20), 0.5)
    noise = simulate_events(still, np.array([0, 1_000_000]), PixelModel(shot_noise_hz=2.0, leak_noise_hz=1.0))
    assert 900 < len(noise) < 1500  # Poisson: 400 pixels x 3 Hz x 1 s
    assert noise["p"].mean() > 0.55  # leak noise is ON only


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="threshold"):
        PixelModel(threshold=float("nan"))
    with pytest.raises(ConfigError, match=">= 0"):
        PixelModel(refractory_us=-1)
    with pytest.raises(ConfigError, match="increase"):
        simulate_events(np.zeros((2, 3, 3)), np.array([5, 5]))


def test_cifar10dvs_and_es_imagenet_motions():
    rng = np.random.default_rng(0)
    cifar = cifar10dvs_recording(rng.random((32, 32, 3)))
    assert cifar.sensor_size == (128, 128) and 1_150_000 < cifar.duration <= 1_200_000 and len(cifar) > 10_000
    image = np.zeros((64, 64, 3))
    image[16:48, 16:48] = 1.0  # a white square: its edges change V by 1 when shifted
    es = es_imagenet_recording(image)
    assert es.sensor_size == (224, 224) and set(np.unique(es.events["t"])) <= set(range(8))
    assert len(es) > 0 and 0.3 < es.on_fraction < 0.7
    faint = es_imagenet_recording(image * 0.1)  # a V step of 0.1 stays under the 0.18 threshold
    assert len(faint) == 0


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_numba_and_numpy_simulators_give_identical_events(motion):
    """The numba passes (shifted frames, pixel model) repeat the numpy code's arithmetic operation for operation, so
    a recording is the same with or without numba, bit for bit: the bundled spiking model's simulated training data
    does not depend on which one ran."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(7)
    image = rng.random((20, 16, 3)) * (rng.random((20, 16, 1)) > 0.4)  # sharp edges and flat black areas
    model = PixelModel(threshold=0.3, refractory_us=500)
    kwargs = {} if motion == "esimagenet" else {"model": model, "seed": 3}
    recordings = {}
    for backend in ("numpy", "numba"):
        with decoders(backend):
            recordings[backend] = MOTIONS[motion](image, **kwargs)
    assert len(recordings["numpy"]) > 100
    assert recordings["numpy"].events.tobytes() == recordings["numba"].events.tobytes()


def test_numba_and_numpy_shifts_are_identical_at_the_borders():
    pytest.importorskip("numba")
    image = np.random.default_rng(1).random((9, 11))
    shifts = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0], [10.9, -8.7], [-12.0, 0.3], [1e-17, -1e-17],
                       [11.0, 9.0], [-11.5, -9.5]])
    with decoders("numpy"):
        reference = shift_images(image, shifts)
        single = np.stack([shift_image(image, dx, dy) for dx, dy in shifts])
    with decoders("numba"):
        fast = shift_images(image, shifts)
    assert reference.tobytes() == single.tobytes() == fast.tobytes()
    assert np.array_equal(reference[0], image) and not reference[4].any()  # no shift; shifted out of the frame
