"""The top-level API (``import foldpitch``), the conventions at the public edges (audio
types, ``hop`` in seconds), the model cache behind ``foldpitch.load`` and the messages of
missing optional dependencies."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import foldpitch
from foldpitch.audio import as_float_tensor
from foldpitch.synth import harmonic_tone

predict_module = importlib.import_module("foldpitch.predict")
fit_module = importlib.import_module("foldpitch.fit")
SRC = Path(foldpitch.__file__).resolve().parents[1]
RATE = 16000
QUICK_FIT = dict(coarse_steps=0, fine_steps=5)


def run_python(code: str) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter importing this checkout's foldpitch."""
    environment = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )


def cents(f0, reference: float):
    return 1200 * np.log2(np.asarray(f0, dtype=np.float64) / reference)


# --- the names people type -------------------------------------------------------------


def test_top_level_names_are_the_functions():
    assert foldpitch.predict is predict_module.predict
    assert foldpitch.pyin_like is predict_module.pyin_like
    assert foldpitch.load is predict_module.load
    assert foldpitch.fit is fit_module.fit_envelope
    assert foldpitch.stream is importlib.import_module("foldpitch.stream").stream
    from foldpitch.loss import SelfSupervisedFoldLoss, dense_fold_loss, fold_alignment_loss

    assert foldpitch.dense_fold_loss is dense_fold_loss
    assert foldpitch.fold_alignment_loss is fold_alignment_loss
    assert foldpitch.SelfSupervisedFoldLoss is SelfSupervisedFoldLoss
    assert isinstance(foldpitch.__version__, str) and foldpitch.__version__.count(".") == 2
    assert set(foldpitch.__all__) <= set(dir(foldpitch))


@pytest.mark.parametrize(
    "first",
    [
        "import foldpitch",
        "import foldpitch.predict, foldpitch.fit",
        "from foldpitch.predict import predict",
        "from foldpitch.fit import fit_envelope",
    ],
)
def test_both_spellings_whatever_is_imported_first(first):
    """``foldpitch.predict(...)`` is the function and ``from foldpitch.predict import
    predict`` keeps working, in either order of import (a fresh interpreter each)."""
    code = f"""{first}
import importlib, types
import foldpitch
import foldpitch.predict
import foldpitch.fit
from foldpitch.predict import DEFAULT_CHECKPOINT, PitchResult, predict
from foldpitch.fit import fit_envelope
module = importlib.import_module("foldpitch.predict")
assert isinstance(module, types.ModuleType) and module.predict is predict
assert foldpitch.predict is predict, foldpitch.predict
assert foldpitch.fit is fit_envelope, foldpitch.fit
import foldpitch.stream
assert callable(foldpitch.stream) and not isinstance(foldpitch.stream, types.ModuleType)
assert foldpitch.pyin_like is module.pyin_like
print("ok")
"""
    result = run_python(code)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_import_foldpitch_stays_cheap():
    code = """import sys
import foldpitch
heavy = ("lightning", "hydra", "omegaconf", "matplotlib", "wandb", "librosa", "soxr")
print(sorted(name for name in heavy if name in sys.modules))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_predict_at_the_top_with_the_shipped_weights():
    """The shipped network is package data: ``foldpitch.predict`` finds it with no
    checkpoint argument, and tracks a tone of known f0."""
    assert predict_module.DEFAULT_CHECKPOINT.is_file()
    assert predict_module.DEFAULT_CHECKPOINT.parent == Path(foldpitch.__file__).parent / "weights"
    result = foldpitch.predict(harmonic_tone(220.0, RATE, RATE), RATE, device="cpu")
    voiced = result.voiced[10:-10]
    assert bool(voiced.all())
    assert np.abs(cents(result.f0[10:-10], 220.0)).max() < 20


# --- one convention at the public edges ------------------------------------------------


def pcm_versions(signal: np.ndarray) -> tuple[np.ndarray, dict[str, object]]:
    """``signal`` quantised to int16, as float32 (the reference, scaled by hand) and in
    every type the edges take."""
    pcm = np.round(signal * 20000).astype(np.int16)
    reference = pcm.astype(np.float32) / np.float32(32768)
    versions = {
        "numpy int16": pcm,
        "torch int16": torch.from_numpy(pcm.copy()),
        "numpy int32": pcm.astype(np.int32) * 65536,
        "numpy float32": reference.copy(),
        "numpy float64": reference.astype(np.float64),
        "torch float32": torch.from_numpy(reference.copy()),
        "torch float64": torch.from_numpy(reference.astype(np.float64)),
        "numpy reversed twice": reference[::-1].copy()[::-1],
    }
    return reference, versions


def test_predict_and_fit_take_audio_the_same_way():
    """numpy or torch, float or int16/int32 PCM: every version of one signal gives what
    its float32 tensor gives, in predict and in fit alike."""
    signal = harmonic_tone(180.0, RATE, RATE // 2).numpy()
    reference, versions = pcm_versions(signal)
    expected_predict = foldpitch.predict(torch.from_numpy(reference), RATE, device="cpu")
    expected_fit = foldpitch.fit(torch.from_numpy(reference), RATE, **QUICK_FIT)
    assert np.abs(cents(expected_fit.f0[10:-10], 180.0)).max() < 20  # a real fit
    for name, audio in versions.items():
        got = foldpitch.predict(audio, RATE, device="cpu")
        torch.testing.assert_close(got.f0, expected_predict.f0, rtol=0, atol=0, msg=name)
        assert torch.equal(got.voiced, expected_predict.voiced), name
        track = foldpitch.fit(audio, RATE, **QUICK_FIT)
        torch.testing.assert_close(track.f0, expected_fit.f0, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(4000, dtype=np.int64),
        np.zeros(4000, dtype=np.uint8),
        torch.zeros(4000, dtype=torch.int8),
        np.zeros(4000, dtype=np.complex64),
        [0.0] * 4000,
    ],
    ids=["int64", "uint8", "torch int8", "complex", "list"],
)
def test_predict_and_fit_refuse_the_same_audio_with_the_same_message(audio):
    net = predict_module.load(device="cpu")
    errors = []
    for call in (
        lambda: foldpitch.predict(audio, RATE, net, device="cpu"),
        lambda: foldpitch.fit(audio, RATE),
    ):
        with pytest.raises(TypeError, match="^audio must be") as error:
            call()
        errors.append(str(error.value))
    assert errors[0] == errors[1]


def test_as_float_tensor_scales_pcm_and_keeps_floats():
    pcm16 = np.array([-32768, -1, 0, 16384, 32767], dtype=np.int16)
    np.testing.assert_array_equal(as_float_tensor(pcm16).numpy(), pcm16 / 32768.0)
    pcm32 = np.array([-(2**31), 0, 2**30], dtype=np.int32)
    np.testing.assert_array_equal(as_float_tensor(pcm32).numpy(), [-1.0, 0.0, 0.5])
    assert as_float_tensor(torch.tensor(pcm16)).dtype == torch.float32
    for dtype, expected in ((np.float16, torch.float16), (np.float64, torch.float64)):
        assert as_float_tensor(np.zeros(3, dtype)).dtype == expected
    big_endian = np.arange(4, dtype=">f4")
    frozen = np.arange(4, dtype=np.float32)
    frozen.flags.writeable = False
    for array in (big_endian, frozen, np.arange(4, dtype=np.float32)[::-1]):
        np.testing.assert_array_equal(as_float_tensor(array).numpy(), array)
    with pytest.raises(TypeError, match="signal must be floating point"):
        as_float_tensor(np.zeros(3, bool), name="signal")


def test_hop_is_in_seconds_at_every_edge(tmp_path):
    """``hop`` in seconds: frame k at k * hop in predict, pyin_like, fit and the CLI."""
    from foldpitch.cli import main

    rate, hop = 22050, 0.005  # 110.25 samples: not a whole number
    audio = harmonic_tone(200.0, rate, rate // 2)
    n_frames = math.floor((len(audio) - 1) / (hop * rate)) + 1
    expected_times = np.arange(n_frames) * hop
    result = foldpitch.predict(audio, rate, hop=hop, device="cpu")
    np.testing.assert_allclose(result.times.numpy(), expected_times, rtol=1e-12)
    f0, _, _ = foldpitch.pyin_like(audio, rate, hop=hop, device="cpu")
    assert f0.shape == (n_frames,)
    track = foldpitch.fit(audio, rate, hop=hop, **QUICK_FIT)
    np.testing.assert_allclose(track.times.numpy(), expected_times, rtol=1e-6)
    import soundfile

    path = tmp_path / "tone.wav"
    soundfile.write(path, audio.numpy(), rate)
    assert main(["predict", str(path), "--hop", str(hop)]) == 0
    rows = np.loadtxt(tmp_path / "tone.f0.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(rows[:, 0], expected_times, atol=1e-6)
    np.testing.assert_allclose(rows[:, 1], result.f0.numpy(), rtol=1e-5)


# --- the model cache ------------------------------------------------------------------------


def test_load_caches_and_can_be_cleared_or_bypassed():
    predict_module.clear_cache()
    first = foldpitch.load(device="cpu")
    assert foldpitch.load(device="cpu") is first
    assert foldpitch.load(predict_module.DEFAULT_CHECKPOINT, device="cpu") is first
    private = foldpitch.load(device="cpu", cache=False)
    assert private is not first
    for (name, a), (_, b) in zip(
        first.state_dict().items(), private.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    predict_module.clear_cache()
    assert foldpitch.load(device="cpu") is not first
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        foldpitch.load("no-such.ckpt")


def test_concurrent_loads_load_once(monkeypatch):
    """Threads that ask for the same checkpoint at once load it once and share it."""
    calls = []
    original = predict_module.load_pitchnet
    barrier = threading.Barrier(6)

    def slow_load(path):
        calls.append(path)
        threading.Event().wait(0.2)  # widen the window in which a second load could start
        return original(path)

    monkeypatch.setattr(predict_module, "load_pitchnet", slow_load)
    predict_module.clear_cache()
    results = [None] * 6

    def worker(index):
        barrier.wait()
        results[index] = foldpitch.load(device="cpu")

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    predict_module.clear_cache()
    assert len(calls) == 1
    assert all(result is results[0] for result in results)


def test_predict_from_threads_equals_one_thread():
    """Several threads running predict on the shared, cached network get what one
    thread gets for each of their inputs."""
    clips = [harmonic_tone(f0, RATE, RATE // 2) for f0 in (110.0, 180.0, 260.0, 400.0)]
    predict_module.clear_cache()
    reference = [foldpitch.predict(clip, RATE, device="cpu") for clip in clips]
    predict_module.clear_cache()  # the threads also race to load it
    results = [None] * len(clips)
    errors = []
    barrier = threading.Barrier(len(clips))

    def worker(index):
        try:
            barrier.wait()
            results[index] = foldpitch.predict(clips[index], RATE, device="cpu")
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(clips))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for got, expected in zip(results, reference, strict=True):
        torch.testing.assert_close(got.f0, expected.f0, rtol=0, atol=0)
        torch.testing.assert_close(got.periodicity, expected.periodicity, rtol=0, atol=0)


# --- optional dependencies ------------------------------------------------------------------


def test_missing_matplotlib_names_the_plot_extra(monkeypatch, tmp_path):
    from foldpitch.plot import plot_prediction

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = foldpitch.predict(harmonic_tone(200.0, RATE, RATE // 4), RATE, device="cpu")
    with pytest.raises(ImportError, match=r"pip install 'foldpitch\[plot\]'"):
        plot_prediction(tmp_path / "f.png", torch.zeros(RATE // 4), RATE, result, "")


def test_missing_lightning_names_the_train_extra():
    code = """import sys
sys.modules["lightning"] = None
try:
    import foldpitch.system
except ImportError as error:
    print(error)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'foldpitch[train]'" in result.stdout
