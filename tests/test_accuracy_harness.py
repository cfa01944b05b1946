"""Tests of the accuracy benchmark harness (benchmarks/accuracy).

The metric and method tests need mir_eval / librosa / parselmouth (the ``bench`` extra)
and are skipped where those are not installed; wrappers of the other trackers
(torchcrepe, PESTO, pysptk, pyworld) are skipped where their package is missing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import data, methods  # noqa: E402

SR = 16000
HOP = 0.01


def _grid(seconds: float = 1.0) -> np.ndarray:
    return np.arange(int(round(seconds / HOP))) * HOP


# ------------------------------------------------------------------------------ metrics


@pytest.fixture
def evaluate():
    pytest.importorskip("mir_eval")
    from benchmarks.accuracy.metrics import evaluate

    return evaluate


def test_metrics_octave_errors_on_half_the_frames(evaluate):
    times = _grid()
    reference = np.full(len(times), 100.0)
    estimate = np.where(np.arange(len(times)) < len(times) // 2, 100.0, 200.0)
    result = evaluate(times, reference, times, estimate)
    assert result["raw_pitch_accuracy"] == pytest.approx(0.5)
    assert result["raw_chroma_accuracy"] == pytest.approx(1.0)
    assert result["octave_error"] == pytest.approx(0.5)
    assert result["overall_accuracy"] == pytest.approx(0.5)
    assert result["voicing_recall"] == pytest.approx(1.0)
    assert math.isnan(result["voicing_false_alarm"])  # no unvoiced reference frame
    assert result["gross_pitch_error"] == pytest.approx(0.5)
    assert result["fine_pitch_error_cents"] == pytest.approx(0.0, abs=1e-9)
    assert result["rms_cents"] == pytest.approx(math.sqrt(0.5) * 1200)
    assert (result["n_frames"], result["n_voiced"]) == (100, 100)


def test_metrics_ten_cent_offset(evaluate):
    times = _grid()
    reference = np.full(len(times), 100.0)
    result = evaluate(times, reference, times, reference * 2 ** (10 / 1200))
    assert result["raw_pitch_accuracy"] == pytest.approx(1.0)
    assert result["octave_error"] == pytest.approx(0.0)
    assert result["gross_pitch_error"] == pytest.approx(0.0)
    assert result["fine_pitch_error_cents"] == pytest.approx(10.0)
    assert result["rms_cents"] == pytest.approx(10.0)


def test_metrics_voicing(evaluate):
    times = _grid()
    voiced = np.arange(len(times)) < 60
    reference = np.where(voiced, 200.0, 0.0)
    # voiced everywhere, right on the first 30 voiced frames, 25 % sharp on the next 30,
    # and a NaN (unvoiced) frame among them
    estimate = np.where(np.arange(len(times)) < 30, 200.0, 250.0)
    estimate[45] = np.nan
    result = evaluate(times, reference, times, estimate)
    assert result["voicing_recall"] == pytest.approx(59 / 60)
    assert result["voicing_false_alarm"] == pytest.approx(1.0)
    assert result["raw_pitch_accuracy"] == pytest.approx(30 / 60)
    assert result["overall_accuracy"] == pytest.approx(30 / 100)
    assert result["gross_pitch_error"] == pytest.approx(29 / 60)
    # all unvoiced estimate: nothing voiced, pitch metrics over both-voiced frames undefined
    silent = evaluate(times, reference, times, np.zeros(len(times)))
    assert silent["raw_pitch_accuracy"] == 0.0
    assert silent["voicing_recall"] == 0.0
    assert silent["overall_accuracy"] == pytest.approx(0.4)
    assert math.isnan(silent["fine_pitch_error_cents"]) and math.isnan(silent["rms_cents"])


def test_metrics_resample_the_estimate_to_the_reference_grid(evaluate):
    times = _grid()
    reference = np.where((times >= 0.2) & (times < 0.8), 300.0 * 2**times, 0.0)
    fine_times = np.arange(0.0025, 1.0, 0.005)  # 5 ms grid, offset from the reference
    estimate = np.where((fine_times >= 0.2) & (fine_times < 0.8), 300.0 * 2**fine_times, 0.0)
    result = evaluate(times, reference, fine_times, estimate)
    assert result["raw_pitch_accuracy"] > 0.95
    assert result["fine_pitch_error_cents"] < 5
    assert result["voicing_false_alarm"] < 0.05


# --------------------------------------------------------------------------------- data


def test_data_is_deterministic():
    kwargs = dict(kinds=("vibrato", "jumps"), snrs=(None, 10.0), spectra=("odd",), n_f0=2)
    first = data.build_clips(**kwargs, seed=3)
    second = data.build_clips(**kwargs, seed=3)
    other = data.build_clips(**kwargs, seed=4)
    assert [c.name for c in first] == [c.name for c in second]
    for a, b in zip(first, second, strict=True):
        assert a.audio.dtype == np.float32 and a.sample_rate == SR
        np.testing.assert_array_equal(a.audio, b.audio)
        np.testing.assert_array_equal(a.f0_hz, b.f0_hz)
    assert not np.array_equal(first[0].audio, other[0].audio)
    # a clip does not depend on the rest of the set
    alone = data.make_clip("jumps", 1, 2, "odd", 10.0, seed=3)
    match = next(c for c in first if c.name == alone.name)
    np.testing.assert_array_equal(alone.audio, match.audio)


def test_data_set_layout():
    clips = data.build_clips(n_f0=2, snrs=(None, 0.0))
    assert len(clips) == len(data.KINDS) * 2 * len(data.SPECTRA) * 2
    assert len({c.name for c in clips}) == len(clips)
    low, high = data.F0_RANGE
    for clip in clips:
        assert np.allclose(np.diff(clip.times), HOP) and clip.times[0] == 0
        assert len(clip.audio) == int(round(data.CLIP_SECONDS * SR))
        voiced = clip.f0_hz[clip.voiced]
        assert 0.4 < clip.voiced.mean() < 0.9  # silences and notes
        assert voiced.min() >= low - 1e-6 and voiced.max() <= high + 1e-6
        assert not clip.voiced[0] and not clip.voiced[-1]
        if clip.snr_db is None:  # clean: silent exactly where unvoiced
            samples = np.round(clip.times * SR).astype(int)
            assert np.all(clip.audio[samples[~clip.voiced]] == 0)
    for snr in (0.0, 10.0):  # the SNR is measured over the voiced part
        clean = data.make_clip("steady", spectrum="odd")
        noisy = data.make_clip("steady", spectrum="odd", snr_db=snr)
        active = clean.audio != 0
        noise = (noisy.audio - clean.audio).astype(np.float64)
        measured = 10 * np.log10(np.mean(clean.audio[active] ** 2.0) / np.mean(noise**2))
        assert measured == pytest.approx(snr, abs=0.05)


@pytest.mark.parametrize("kind", data.KINDS)
def test_ground_truth_matches_zero_crossings_of_a_pure_tone(kind):
    """The f0 between consecutive upward zero crossings of a pure tone is the truth."""
    clip = data.make_clip(kind, 0, 1, n_harmonics=1)
    x = clip.audio.astype(np.float64)
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    crossings = (up + x[up] / (x[up] - x[up + 1])) / SR  # linear interpolation, seconds
    period = np.diff(crossings)
    middle = 0.5 * (crossings[1:] + crossings[:-1])
    frame = np.round(middle / HOP).astype(int)
    inside = (frame >= 1) & (frame < len(clip.times) - 1)
    frame, period, middle = frame[inside], period[inside], middle[inside]
    neighbours = clip.f0_hz[np.stack([frame - 1, frame, frame + 1])]
    # frames well inside a note: all three neighbours voiced, no jump among them
    steady = (neighbours.min(0) > 0) & (neighbours.max(0) < 1.05 * neighbours.min(0))
    truth = np.interp(middle, clip.times, clip.f0_hz)[steady]
    measured = 1 / period[steady]
    assert steady.sum() > 0.8 * clip.duration * 0.5 * truth.min()  # most periods checked
    np.testing.assert_allclose(measured, truth, rtol=2e-3)


# ------------------------------------------------------------------------------ methods


def _pure_tone(f0: float = 220.0, seconds: float = 1.0):
    """A sine with silence before and after, and its 10 ms ground truth."""
    t = np.arange(int(seconds * SR)) / SR
    on = (t >= 0.2) & (t < 0.8)
    audio = (0.5 * np.sin(2 * np.pi * f0 * t) * on).astype(np.float32)
    times = _grid(seconds)
    reference = np.where((times >= 0.2) & (times < 0.8), f0, 0.0)
    return audio, times, reference


def _harmonic_tone(f0: float = 220.0, seconds: float = 1.0):
    audio, times, reference = _pure_tone(f0, seconds)
    t = np.arange(len(audio)) / SR
    tone = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, int(SR / 2 / f0) + 1))
    audio = (0.3 * tone * (audio != 0)).astype(np.float32)
    return audio, times, reference


@pytest.mark.parametrize(("name", "module"), [("pyin", "librosa"), ("praat", "parselmouth")])
def test_core_wrappers_on_a_pure_tone(evaluate, name, module):
    pytest.importorskip(module)
    audio, times, reference = _pure_tone()
    track = methods.METHODS[name](audio, SR, 50.0, 1100.0)
    assert isinstance(track, methods.Track)
    assert np.all(track.f0_hz[~track.voiced] == 0) and np.all(track.f0_hz[track.voiced] > 0)
    result = evaluate(times, reference, track.times, track.f0_hz)
    assert result["raw_pitch_accuracy"] > 0.95
    assert result["fine_pitch_error_cents"] < 10


@pytest.mark.parametrize("name", sorted(set(methods.METHODS) - {"pyin", "praat"}))
def test_optional_wrappers_on_a_harmonic_tone(evaluate, name):
    """Every other registered method, where its package is installed.

    A harmonic (1/h) tone rather than a sine: Harvest does not track pure sines.
    """
    audio, times, reference = _harmonic_tone()
    try:
        track = methods.METHODS[name](audio, SR, 50.0, 1100.0)
    except methods.MethodUnavailable as error:
        pytest.skip(str(error))
    result = evaluate(times, reference, track.times, track.f0_hz)
    assert result["raw_pitch_accuracy"] > 0.9


def test_foldpitch_fit_recovers_a_pure_tone(evaluate):
    audio, times, reference = _pure_tone(f0=311.0)
    track = methods.METHODS["foldpitch-fit"](audio, SR, 50.0, 1100.0)
    np.testing.assert_allclose(track.times, times)
    inside = (times >= 0.25) & (times < 0.75)  # away from the switching on and off
    assert track.voiced[inside].all() and not track.voiced[times < 0.15].any()
    np.testing.assert_allclose(track.f0_hz[inside], 311.0, rtol=2 ** (1 / 1200) - 1)
    result = evaluate(times, reference, track.times, track.f0_hz)
    assert result["raw_pitch_accuracy"] > 0.95 and result["voicing_false_alarm"] < 0.05
    assert track.guess_hz is not None and np.all(track.guess_hz > 0)


def _tone_with_a_jump(seconds: float = 1.5, jump: float = 0.75):
    """A 1/h harmonic tone, silent before 0.25 s, 220 Hz then 330 Hz from ``jump`` s on
    (continuous phase); returns audio and the exact f0 (0 in the silence) per sample."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = np.where(t < jump, 220.0, 330.0) * (t >= 0.25)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(h * phase) / h for h in range(1, 20))
    return (0.3 * tone).astype(np.float32), f0


@pytest.mark.parametrize("name", ["swift-f0", "fcpe"])
def test_strong_trackers_follow_a_tone_with_a_jump(name):
    """SwiftF0 and FCPE: within 20 cents of the exact f0 on frames 50 ms or more away from
    the onset and the jump, unvoiced in the silence, a guess on every frame; their time
    grids are right to a frame (a grid off by more puts the jump in the wrong place)."""
    audio, f0 = _tone_with_a_jump()
    try:
        track = methods.METHODS[name](audio, SR, 50.0, 1100.0)
    except methods.MethodUnavailable as error:
        pytest.skip(str(error))
    truth = np.interp(track.times, np.arange(len(f0)) / SR, f0)
    steady = ((track.times > 0.3) & (track.times < 0.7)) | (track.times > 0.8)
    steady &= track.times < 1.45
    cents = 1200 * np.abs(np.log2(track.f0_hz[steady] / truth[steady]))
    assert track.voiced[steady].all() and cents.max() < 20, (track.times[steady], cents)
    assert not track.voiced[track.times < 0.2].any()
    assert track.guess_hz is not None and np.all(track.guess_hz > 0)
    # the first frame centred after the jump is the first one near 330 Hz (+-1 frame for
    # the analysis window straddling it)
    first_high = track.times[np.argmax(track.f0_hz > 275)]
    hop = np.diff(track.times).mean()
    assert 0.75 - hop <= first_high <= 0.75 + hop, first_high


def test_fcpe_wrapper_decodes_like_its_infer_call():
    """The wrapper's one-pass decoding equals torchfcpe's own ``.infer`` with the README's
    decoder and threshold, frame for frame (voicing and f0)."""
    audio, _ = _tone_with_a_jump()
    audio[int(0.5 * SR) : int(0.6 * SR)] = 0.0  # a rest inside: frames go unvoiced there
    try:
        track = methods.METHODS["fcpe"](audio, SR, 50.0, 1100.0)
    except methods.MethodUnavailable as error:
        pytest.skip(str(error))
    import torch

    model = methods._FCPE_MODELS[0]
    wav = torch.from_numpy(audio)[None, :, None]
    expected = model.infer(wav, sr=SR, decoder_mode="local_argmax", threshold=0.006)
    expected = expected.reshape(-1).double().numpy()
    assert len(expected) == len(track.f0_hz)
    assert (expected == 0).any() and (expected > 0).any()
    np.testing.assert_allclose(track.f0_hz, expected, rtol=1e-6)


def test_make_track_convention():
    track = methods.make_track([0.0, 0.01, 0.02, 0.03], [100.0, np.nan, -5.0, 120.0], None)
    np.testing.assert_array_equal(track.f0_hz, [100.0, 0.0, 0.0, 120.0])
    np.testing.assert_array_equal(track.voiced, [True, False, False, True])
    masked = methods.make_track([0.0, 0.01], [100.0, 120.0], [True, False])
    np.testing.assert_array_equal(masked.f0_hz, [100.0, 0.0])


def test_missing_package_is_reported():
    with pytest.raises(methods.MethodUnavailable, match="no_such_module"):
        methods._import("fake", "no_such_module")


# ---------------------------------------------------------------------------------- run


def test_run_reports_results_and_unavailable_methods(monkeypatch, tmp_path, capsys):
    pytest.importorskip("mir_eval")
    from benchmarks.accuracy import run

    def perfect(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        # reads the ground truth of the clip with the same audio length: test double
        clip = clips_by_length[len(audio)]
        return methods.make_track(clip.times, clip.f0_hz)

    def missing(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        raise methods.MethodUnavailable("missing", "not installed (test)")

    clip = data.make_clip("jumps")
    clips_by_length = {len(clip.audio): clip}
    monkeypatch.setattr(data, "build_clips", lambda **kwargs: [clip])
    monkeypatch.setitem(methods.METHODS, "perfect", perfect)
    monkeypatch.setitem(methods.METHODS, "missing", missing)
    out = tmp_path / "results.md"
    assert run.main(["--methods", "perfect,missing", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    assert "**unavailable**: not installed (test)" in text
    row = next(line for line in text.splitlines() if line.startswith("| perfect | 1.000"))
    assert "| 1.000 | – | 1.000 | 1.000 | 1.000 | 0.000 | 0.000 | 0.000 | 0.0 | 0.0 |" in row
    assert "## tones, clean" in text and "### jumps" in text and "### spectrum 1/h" in text


def test_pitch_guess_on_unvoiced_frames_is_scored_separately(evaluate):
    from benchmarks.accuracy.data import quick_clips
    from benchmarks.accuracy.methods import make_track
    from benchmarks.accuracy.run import run_method

    clip = quick_clips()[0]

    def right_pitch_half_voiced(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        voiced = np.arange(len(clip.times)) % 2 == 0
        return make_track(clip.times, clip.f0_hz, voiced, guess_hz=clip.f0_hz)

    def no_guess(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        return make_track(clip.times, clip.f0_hz)

    scores = run_method("half", right_pitch_half_voiced, [clip], 50.0, 1100.0, 0.01).rows[0][1]
    assert scores["raw_pitch_accuracy"] == pytest.approx(0.5, abs=0.02)  # voicing counts
    assert scores["pitch_accuracy_all"] == pytest.approx(1.0)  # the guess is right throughout
    scores = run_method("plain", no_guess, [clip], 50.0, 1100.0, 0.01).rows[0][1]
    assert math.isnan(scores["pitch_accuracy_all"])


def test_results_file_has_the_headline_table_and_the_figure(monkeypatch, tmp_path):
    """A tiny run writes results.md (header, headline over tones and speech, clean and
    10 dB, per set x condition x type tables) and results.png beside it."""
    pytest.importorskip("mir_eval")
    pytest.importorskip("matplotlib")
    from dataclasses import replace

    from benchmarks.accuracy import run, speech

    tones = [data.make_clip("steady", snr_db=snr) for snr in (None, 10.0)]
    # stand-in speech clips (no pyworld needed): tones relabelled
    fake_speech = [replace(c, name="speech-" + c.name, set="speech", kind="espeak") for c in tones]
    truth = tones[0]  # all four clips share one contour

    def perfect(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        return methods.make_track(truth.times, truth.f0_hz)

    def octave_low(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        return methods.make_track(truth.times, truth.f0_hz / 2)

    monkeypatch.setattr(data, "quick_clips", lambda seed=0: tones)
    monkeypatch.setattr(speech, "quick_speech_clips", lambda seed=0: fake_speech)
    monkeypatch.setattr(speech, "missing_parts", lambda: {})
    monkeypatch.setitem(methods.METHODS, "perfect", perfect)
    monkeypatch.setitem(methods.METHODS, "octave", octave_low)
    out = tmp_path / "results.md"
    argv = ["--quick", "--sets", "tones,speech", "--methods", "octave,perfect", "--out", str(out)]
    assert run.main([*argv, "--no-progress"]) == 0
    text = out.read_text()
    assert text.startswith("# Pitch tracker accuracy: tones and speech")
    assert "![RPA per set and condition, and real-time factor](results.png)" in text
    headline = text.split("## Headline")[1].split("\n## ")[0].strip().splitlines()
    assert headline[0].startswith("| Set | Condition | Method | RPA | RCA | OA | VR | VFA | GPE |")
    rows = [line.split(" | ")[:4] for line in headline[2:]]
    conditions = [("| tones", "clean"), ("| tones", "10 dB"), ("| speech", "clean")]
    conditions.append(("| speech", "10 dB"))
    expected = [
        [*c, m, rpa] for c in conditions for m, rpa in (("perfect", "1.000"), ("octave", "0.000"))
    ]
    assert rows == expected  # sorted by RPA within each condition
    assert "| tones | clean | octave | 0.000 | 1.000 |" in text  # right chroma
    for section in ("## tones, clean", "## tones, 10 dB", "## speech, clean", "## speech, 10 dB"):
        assert section in text
    assert "### all types" in text and "### espeak" in text and "### steady" in text
    gate = text.split("## The same silence gate on every method")[1].split("\n## ")[0]
    assert "| speech | clean | perfect | 1.000 | 1.000 | 0.000 | 1.000 | 1.000 | 0.000 |" in gate
    assert "| tones |" not in gate  # speech only
    png = (tmp_path / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_the_silence_gate_applied_to_every_method(evaluate):
    """A tone, then the same tone 60 dB (or 30 dB) quieter, all labelled unvoiced after
    the first half: the gate unvoices the 60 dB half only, as foldpitch's predict does."""
    from types import SimpleNamespace

    from benchmarks.accuracy.run import run_method, silence_gated

    n = SR
    loud = np.sin(2 * np.pi * 220 * np.arange(n) / SR)
    times = _grid(2.0)
    truth = np.where(times < 1.0, 220.0, 0.0)

    def always_voiced(audio, sample_rate, fmin, fmax, hop_seconds=0.01):
        return methods.make_track(times, np.full_like(times, 220.0))

    for faint_db, gated_frames in ((-60.0, times >= 1.04), (-30.0, np.zeros_like(times, bool))):
        audio = np.concatenate([loud, loud * 10 ** (faint_db / 20)])
        clip = SimpleNamespace(audio=audio, sample_rate=SR, times=times, f0_hz=truth, name="x")
        f0 = silence_gated(clip, times, np.full_like(times, 220.0))
        inside = (times < 0.96) | (times >= 1.04)  # windows wholly on one side of the join
        assert np.array_equal((f0 == 0)[inside], gated_frames[inside])
        scores = run_method("voiced", always_voiced, [clip], 50.0, 1100.0, 0.01).rows[0][1]
        assert scores["voicing_false_alarm"] == pytest.approx(1.0)
        expected = 1.0 - gated_frames[times >= 1.0].mean()
        assert scores["voicing_false_alarm_gated"] == pytest.approx(expected, abs=0.05)


def test_clips_cache_is_used_only_for_the_same_data_arguments(monkeypatch, tmp_path):
    from benchmarks.accuracy import run

    built = []

    def build_data(args):
        built.append(args.n_f0)
        return run.DataSet([f"clip-{args.n_f0}"])

    monkeypatch.setattr(run, "build_data", build_data)
    cache = str(tmp_path / "clips.pkl")
    first = run.cached_data(run.parse_args(["--n-f0", "2", "--clips-cache", cache]))
    again = run.cached_data(run.parse_args(["--n-f0", "2", "--clips-cache", cache]))
    other = run.cached_data(run.parse_args(["--n-f0", "3", "--clips-cache", cache]))
    assert built == [2, 3]  # the second call read the pickle; other arguments rebuild
    assert first.clips == again.clips == ["clip-2"] and other.clips == ["clip-3"]
    # tones of other spectra (the benchmark's generator changed): rebuilt too
    monkeypatch.setattr(data, "SPECTRA", data.SPECTRA[:-1])
    run.cached_data(run.parse_args(["--n-f0", "3", "--clips-cache", cache]))
    assert built == [2, 3, 3]


def test_dev_choice_rule_averages_rpa_and_the_best_thresholds_oa():
    from benchmarks import choose_checkpoint

    summary = {
        ("speech-dev", None): {"rpa_all": 0.8, "oa": {0.5: 0.7, 0.7: 0.9}, "vfa": {}},
        ("tones-dev", 10.0): {"rpa_all": 1.0, "oa": {0.5: 0.9, 0.7: 0.8}, "vfa": {}},
    }
    score, threshold, rpa, oa = choose_checkpoint.choose(summary, (0.5, 0.7))
    # mean OA is 0.8 at 0.5 and 0.85 at 0.7; mean RPA* 0.9
    assert threshold == 0.7
    assert (rpa, oa) == pytest.approx((0.9, 0.85))
    assert score == pytest.approx((0.9 + 0.85) / 2)


def test_dev_cache_with_other_tone_spectra_is_refused(tmp_path):
    import dataclasses
    import pickle

    from benchmarks import choose_checkpoint

    tones = [
        dataclasses.replace(data.make_clip("steady", spectrum=spectrum), set="tones-dev")
        for spectrum in data.SPECTRA
    ]
    cache = tmp_path / "dev.pkl"
    cache.write_bytes(pickle.dumps(tones))
    assert [c.name for c in choose_checkpoint.dev_clips(cache=cache)] == [c.name for c in tones]
    cache.write_bytes(pickle.dumps(tones[:-1]))  # as written before the last spectrum came
    with pytest.raises(ValueError, match="delete it to rebuild"):
        choose_checkpoint.dev_clips(cache=cache)


def test_dev_scores_match_the_metric_on_a_known_tone(evaluate, tmp_path):
    from benchmarks import choose_checkpoint
    from foldpitch.predict import DEFAULT_CHECKPOINT

    clip = data.make_clip("steady")
    summary = choose_checkpoint.score_checkpoint(DEFAULT_CHECKPOINT, [clip], (0.5,))
    (key,) = summary
    assert key == (clip.set, clip.snr_db)
    # a clean steady tone: the network's guess is right on (nearly) every voiced frame
    assert summary[key]["rpa_all"] > 0.95
    assert summary[key]["oa"][0.5] > 0.9 and summary[key]["vfa"][0.5] < 0.2


def test_speech_misses_on_a_tone_and_on_a_wrong_label(evaluate):
    """The speech-miss analysis on a vibrato of known f0: the network, the training
    target's cheapest bin (plain and chirped) and the fit started at the label are all
    right. With the label moved 200 cents sharp, all of them miss, and the fold loss
    prefers the true pitch (the network's value) to the label on almost every missed
    frame."""
    import dataclasses

    import foldpitch
    from benchmarks import speech_misses

    net = foldpitch.load()
    clip = data.make_clip("vibrato")
    right = speech_misses.analyse(clip, net, None)
    assert min(right["network"], right["target"], right["chirped"], right["optimum"]) > 0.95, right
    assert right["missed"] <= 0.05 * right["voiced"]
    buckets = range(len(speech_misses.SPEEDS) + 1)
    assert sum(right[("frames", k)] for k in buckets) == right["voiced"]
    assert sum(right[("network_missed", k)] for k in buckets) == right["missed"]

    sharp = dataclasses.replace(clip, f0_hz=clip.f0_hz * 2 ** (200 / 1200))
    wrong = speech_misses.analyse(sharp, net, None)
    assert max(wrong["network"], wrong["target"], wrong["chirped"]) < 0.05, wrong
    assert wrong["missed"] >= 0.95 * wrong["voiced"]
    assert wrong["label_preferred"] <= 0.05 * wrong["missed"], wrong
    assert min(right["warped_fit"], right["warped_label"]) > 0.95, right
    with pytest.raises(ValueError, match="expected 16000 Hz"):
        speech_misses.analyse(dataclasses.replace(clip, sample_rate=8000), net, None)


def test_warped_target_with_a_steady_curve_is_the_plain_table():
    """With a constant f0 curve the warp is the identity: every frame away from the ends
    reads the same samples as the training table of the whole clip, so the warped
    target equals its cheapest bin there."""
    import foldpitch
    from benchmarks import speech_misses

    net = foldpitch.load()
    clip = data.make_clip("vibrato")
    n = len(clip.times)
    warped = speech_misses.warped_target(clip.audio, np.full(n, 123.0), net)
    plain = speech_misses.table_target(clip.audio, net, net.hop_length, n)
    inner = slice(
        speech_misses.WARP_HALF // net.hop_length + 1,
        -speech_misses.WARP_HALF // net.hop_length - 1,
    )
    np.testing.assert_allclose(warped[inner], plain[inner])


def test_top_k_oracle_bounds_the_path_and_grows_with_k():
    # benchmarks/decoder_settings.py: on tones with an exact f0, the best of more bins is
    # never worse, the path is right on nearly every voiced frame, and the oracle's best
    # of 5 is at least the most probable bin alone (k = 1).
    from benchmarks.decoder_settings import top_k_oracle
    from foldpitch.predict import load

    clips = data.build_clips(kinds=("steady", "glide"), snrs=[None], spectra=("1/h",), n_f0=2)
    shares = top_k_oracle(load(None, "cpu"), clips, ks=(1, 3, 5))
    ((path, top1, top3, top5),) = shares.values()
    assert top1 <= top3 <= top5 <= 1.0
    assert path > 0.95 and top5 > 0.95
