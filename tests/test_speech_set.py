"""Tests of the speech set of the accuracy benchmark (benchmarks/accuracy/speech.py).

The WORLD tests need pyworld, pysptk and soxr (installed by hand, not in the ``bench``
extra) and are skipped without them; the espeak-ng test is skipped where espeak-ng is
not installed. The clean-up helpers and the "espeak-ng missing" report need neither.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import speech  # noqa: E402

SR = 16000


@pytest.fixture
def world():
    """pyworld (through the harness's pkg_resources guard), or skip."""
    for module in ("pyworld", "pysptk", "soxr"):
        reason = speech._import_error(module)
        if reason:
            pytest.skip(reason)
    return speech._import_pyworld()


def _cents(estimate, reference):
    return 1200 * np.log2(estimate / reference)


# ------------------------------------------------------------------- clean-up helpers


def test_short_runs_are_dropped_and_short_gaps_filled():
    f0 = np.array([0, 100, 0, 0, 100, 100, 100, 0, 200, 0, 400, 0], dtype=float)
    np.testing.assert_array_equal(
        speech.drop_short_runs(f0, 2), [0, 0, 0, 0, 100, 100, 100, 0, 0, 0, 0, 0]
    )
    filled = speech.fill_short_gaps(f0, 1)
    np.testing.assert_allclose(filled[7:11], [np.sqrt(100 * 200), 200, np.sqrt(200 * 400), 400])
    np.testing.assert_array_equal(filled[[0, 2, 3, 11]], 0)  # edges and a 2-frame gap stay


def test_octave_errors_fold_back_and_outliers_go():
    f0 = np.full(40, 200.0)
    f0[10:13] = 100.0  # an octave low
    f0[20] = 820.0  # two octaves high (+4 cents)
    f0[30] = 300.0  # a fifth up: not an octave error, too far from its neighbours
    f0[35:] = 0.0
    fixed = speech.fold_octave_errors(f0, 11)
    np.testing.assert_allclose(fixed[10:13], 200.0)
    assert fixed[20] == pytest.approx(205.0)
    assert fixed[30] == 0.0 and np.all(fixed[35:] == 0)
    np.testing.assert_array_equal(fixed[:10], 200.0)


# ------------------------------------------------------------------------- resynthesis


def _flat_analysis(f0):
    """WORLD parameters with a flat envelope and no aperiodicity, around ``f0``."""
    bins = 513  # fft_size 1024 at 16 kHz
    spectrogram = np.full((len(f0), bins), 1e-4)
    aperiodicity = np.full((len(f0), bins), 1e-6)
    return speech.Analysis(np.asarray(f0, dtype=float), spectrogram, aperiodicity, SR)


def test_labels_are_aligned_with_the_synthesised_pitch(world):
    """A 2 octave/s triangle contour: a label half a WORLD frame (2.5 ms) off would be
    ~6 cents off; Harvest on the resynthesis agrees with the labels to < 1.5 cents."""
    frames = np.arange(400)  # 2 s of 5 ms frames
    f0 = 100 * 2 ** (4 * np.abs(frames * 0.005 / 2 - 0.5))  # 400 -> 100 -> 400 Hz
    f0[:20] = f0[-20:] = 0
    audio, times, truth = speech.resynthesise(_flat_analysis(f0))
    assert audio.dtype == np.float32 and len(audio) == 400 * 80
    np.testing.assert_allclose(times, np.arange(200) * 0.01)
    np.testing.assert_array_equal(truth, f0[::2])
    measured, measured_times = world.harvest(
        audio.astype(np.float64), SR, f0_floor=50.0, f0_ceil=800.0, frame_period=10.0
    )
    measured = measured[: len(times)]  # harvest has one more frame, at the very end
    np.testing.assert_allclose(measured_times[: len(times)], times)
    both = (truth > 0) & (measured > 0)
    assert both.sum() > 150
    error = np.abs(_cents(measured[both], truth[both]))
    assert np.median(error) < 1.5
    late = np.interp(times + 0.0025, times, truth)[both]  # the same labels 2.5 ms late
    assert np.median(np.abs(_cents(measured[both], late))) > 4


@pytest.fixture(scope="module")
def arctic_excerpt():
    for module in ("pyworld", "pysptk", "soxr"):
        reason = speech._import_error(module)
        if reason:
            pytest.skip(reason)
    return speech.build_speech_clips(
        (None, 10.0), parts=("arctic",), shifts=(0, 3), max_seconds=1.5
    )


def test_arctic_excerpt_layout_and_labels(arctic_excerpt, world):
    names = [clip.name for clip in arctic_excerpt]
    assert names == ["arctic+0st-clean", "arctic+0st-10dB", "arctic+3st-clean", "arctic+3st-10dB"]
    for clip in arctic_excerpt:
        assert clip.set == "speech" and clip.sample_rate == SR
        assert clip.kind == ("arctic" if clip.spectrum == "+0st" else "arctic-shifted")
        assert clip.audio.dtype == np.float32 and clip.times[0] == 0
        np.testing.assert_allclose(np.diff(clip.times), 0.01)
        assert clip.times[-1] < clip.duration
        voiced = clip.f0_hz[clip.voiced]
        assert 0.3 < clip.voiced.mean() < 0.9 and 60 <= voiced.min() and voiced.max() <= 1000
    # Harvest on the clean resynthesis agrees with the labels on most voiced frames (the
    # same labels one semitone off do not)
    clip = arctic_excerpt[0]
    measured, _ = world.harvest(clip.audio.astype(np.float64), SR, 50.0, 800.0, 10.0)
    n = min(len(measured), len(clip.f0_hz))
    truth, measured = clip.f0_hz[:n], measured[:n]
    both = (truth > 0) & (measured > 0)
    assert both.sum() > 0.8 * (truth > 0).sum()
    assert np.mean(np.abs(_cents(measured[both], truth[both])) < 50) > 0.8
    assert np.mean(np.abs(_cents(measured[both], truth[both] * 2 ** (1 / 12))) < 50) < 0.3


def test_snr_is_measured_over_the_voiced_samples(arctic_excerpt):
    clean, noisy = arctic_excerpt[0], arctic_excerpt[1]
    np.testing.assert_array_equal(clean.f0_hz, noisy.f0_hz)
    frame = np.clip(np.round(np.arange(len(clean.audio)) / 80).astype(int), 0, None)
    analysis_f0 = np.repeat(clean.f0_hz, 2)  # the 5 ms voicing, to within a frame
    voiced = analysis_f0[np.minimum(frame, len(analysis_f0) - 1)] > 0
    noise = (noisy.audio - clean.audio).astype(np.float64)
    signal = np.mean(clean.audio[voiced].astype(np.float64) ** 2)
    assert 10 * np.log10(signal / np.mean(noise**2)) == pytest.approx(10.0, abs=0.3)


def test_shift_multiplies_the_labels(arctic_excerpt):
    own, shifted = arctic_excerpt[0], arctic_excerpt[2]
    np.testing.assert_array_equal(own.voiced, shifted.voiced)  # all within 60-1000 Hz
    np.testing.assert_allclose(shifted.f0_hz, own.f0_hz * 2 ** (3 / 12), rtol=1e-12)
    assert not np.allclose(shifted.audio[: len(own.audio)], own.audio[: len(shifted.audio)])


def test_build_is_deterministic(arctic_excerpt):
    again = speech.build_speech_clips(
        (None, 10.0), parts=("arctic",), shifts=(0, 3), max_seconds=1.5
    )
    for a, b in zip(arctic_excerpt, again, strict=True):
        assert a.name == b.name
        np.testing.assert_array_equal(a.audio, b.audio)
        np.testing.assert_array_equal(a.f0_hz, b.f0_hz)
    other_seed = speech.build_speech_clips(
        (10.0,), parts=("arctic",), shifts=(0,), max_seconds=1.5, seed=1
    )
    np.testing.assert_array_equal(other_seed[0].f0_hz, arctic_excerpt[1].f0_hz)
    assert not np.array_equal(other_seed[0].audio, arctic_excerpt[1].audio)


# ----------------------------------------------------------------------------- espeak


def test_espeak_voice(world):
    if speech.shutil.which(speech.ESPEAK) is None:
        pytest.skip("espeak-ng is not installed")
    voice = ("en-us+f3", "Hello there.")
    clips = speech.build_speech_clips((None,), parts=("espeak",), voices=(voice,))
    assert [(c.name, c.kind, c.spectrum) for c in clips] == [
        ("espeak-en-us+f3-clean", "espeak", "en-us+f3")
    ]
    voiced = clips[0].f0_hz[clips[0].voiced]
    assert 0.2 < clips[0].voiced.mean() < 0.95
    assert 140 < np.median(voiced) < 300  # the female variant


def test_held_out_set_shares_no_voice_or_sentence_with_the_benchmark():
    bench_voices, bench_texts = zip(*speech.ESPEAK_VOICES, strict=True)
    dev_voices, dev_texts = zip(*speech.DEV_VOICES, strict=True)
    assert not set(dev_voices) & set(bench_voices)
    assert not set(dev_texts) & set(bench_texts)
    assert speech.DEV_SEED != 0  # the benchmark's noise seed


def test_held_out_set_is_labelled_as_such(world):
    if speech.shutil.which(speech.ESPEAK) is None:
        pytest.skip("espeak-ng is not installed")
    clips = speech.build_speech_clips(
        (None,), parts=("espeak",), voices=speech.DEV_VOICES[:1], set_name="speech-dev"
    )
    assert [(c.name, c.set) for c in clips] == [("espeak-it-clean", "speech-dev")]


def test_missing_espeak_is_skipped_and_reported(monkeypatch, tmp_path):
    pytest.importorskip("mir_eval")
    from benchmarks.accuracy import data, methods, run

    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    missing = speech.missing_parts()
    assert "espeak-ng not found on PATH" in missing["espeak"]
    assert speech.build_speech_clips(parts=("espeak",)) == []
    with pytest.raises(RuntimeError, match="espeak-ng not found on PATH"):
        speech.build_speech_clips(parts=("espeak",), require=True)
    with pytest.raises(ValueError, match="parts must be among"):
        speech.build_speech_clips(parts=("opera",))

    # the run says so in its results, and runs on what it has
    tone = data.make_clip("steady")
    monkeypatch.setattr(speech, "quick_speech_clips", lambda seed=0: [])

    def perfect(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        return methods.make_track(tone.times, tone.f0_hz)

    monkeypatch.setitem(methods.METHODS, "perfect", perfect)
    monkeypatch.setattr(data, "quick_clips", lambda seed=0: [tone])
    out = tmp_path / "results.md"
    argv = ["--quick", "--sets", "tones,speech", "--methods", "perfect", "--out", str(out)]
    assert run.main([*argv, "--no-progress"]) == 0
    text = out.read_text()
    assert "**Skipped: speech set, espeak part** (" in text
    assert "espeak-ng not found on PATH" in text
    assert "| tones | clean | perfect | 1.000 |" in text


def test_scaled_contour_doubles_the_excursions_around_the_median():
    f0 = np.array([0.0, 100.0, 200.0, 400.0, 0.0, 200.0])
    envelope = np.ones((6, 3))
    analysis = speech.Analysis(f0, envelope, envelope, 16000)
    scaled = speech.scaled_contour(analysis, 2.0)
    # The median of the voiced log2 f0 is log2(200): 100 Hz (one octave below) moves two
    # octaves below, 400 Hz two above; unvoiced frames stay unvoiced.
    np.testing.assert_allclose(scaled.f0_hz, [0.0, 50.0, 200.0, 800.0, 0.0, 200.0])
    np.testing.assert_array_equal(analysis.f0_hz, f0)  # not modified
    assert speech.scaled_contour(analysis, 1.0).f0_hz.tolist() == f0.tolist()


def test_lively_held_out_set_is_built_with_doubled_contours(monkeypatch):
    from benchmarks.accuracy import run

    calls = []

    def record(snrs, **options):
        calls.append(options)
        return []

    monkeypatch.setattr(speech, "build_speech_clips", record)
    args = run.parse_args(["--sets", "speech-dev,speech-dev-lively"])
    run.build_data(args)
    assert [(c["set_name"], c["contour_scale"]) for c in calls] == [
        ("speech-dev", 1.0),
        ("speech-dev-lively", speech.LIVELY_CONTOUR_SCALE),
    ]
    assert all(c["voices"] == speech.DEV_VOICES and c["seed"] == speech.DEV_SEED for c in calls)
