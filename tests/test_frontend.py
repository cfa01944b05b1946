"""foldpitch.frontend: spectrogram frames aligned with the envelope's control points."""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from foldpitch.frontend import (
    Spectrogram,
    frame_power_db,
    frequency_offsets,
    log_spectrogram,
    n_frames_for,
)

F64 = torch.float64


def _noise(*shape, seed=0, dtype=F64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype)


# --- frame count and alignment -------------------------------------------------------


@pytest.mark.parametrize("hop", [1, 7, 160])
@pytest.mark.parametrize("n_samples", [1, 2, 100, 159, 160, 161, 320, 1000, 1601])
def test_n_frames_is_one_per_control_point_inside_the_signal(n_samples, hop):
    # Control point f at sample f * hop, for every such sample in [0, n_samples - 1].
    expected = len(range(0, n_samples, hop))
    assert n_frames_for(n_samples, hop) == expected == math.ceil(n_samples / hop)


@pytest.mark.parametrize("n_samples", [1, 100, 511, 512, 513, 1024, 1500])
def test_frame_count_matches_n_frames_for(n_samples):
    features = log_spectrogram(torch.ones(n_samples), n_fft=256, hop_length=128)
    assert features.shape == (129, n_frames_for(n_samples, 128)), n_samples


@pytest.mark.parametrize("n_fft", [256, 255])
@pytest.mark.parametrize("frame", [0, 1, 3, 7, 12])
def test_impulse_at_control_point_is_strongest_in_its_frame(frame, n_fft):
    hop, n_samples = 160, 2080  # 2080 = 13 * 160: the last control point is frame 12
    audio = torch.zeros(n_samples, dtype=F64)
    audio[frame * hop] = 1.0
    magnitude = log_spectrogram(audio, n_fft=n_fft, hop_length=hop, compression="none")
    assert magnitude.shape[-1] == 13
    energy = magnitude.square().sum(dim=0)
    assert int(energy.argmax()) == frame, energy
    # The window's peak is on the impulse: every bin has magnitude 1.
    torch.testing.assert_close(magnitude[:, frame], torch.ones(n_fft // 2 + 1, dtype=F64))


def test_impulse_between_control_points_splits_between_neighbours():
    hop = 100
    audio = torch.zeros(1000, dtype=F64)
    audio[3 * hop + hop // 2] = 1.0
    energy = log_spectrogram(audio, 256, hop, compression="none").square().sum(dim=0)
    torch.testing.assert_close(energy[3], energy[4])
    assert set(energy.topk(2).indices.tolist()) == {3, 4}


@pytest.mark.parametrize("k", [1, 5, 32, 100])
def test_sinusoid_at_bin_centre_peaks_in_that_bin(k):
    n_fft, hop = 512, 128
    t = torch.arange(4096, dtype=F64)
    tone = torch.cos(2 * math.pi * k * t / n_fft + 0.3)
    features = log_spectrogram(tone, n_fft, hop)
    interior = features[:, 4:-4]  # frames whose window lies entirely inside the tone
    assert (interior.argmax(dim=0) == k).all(), interior.argmax(dim=0)


def test_matches_independent_zero_padded_hann_dft():
    # numpy reference: pad n_fft // 2 zeros each side, frame f starts at f * hop.
    n_fft, hop, n_samples = 64, 24, 200
    audio = _noise(n_samples, seed=1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(audio.numpy(), n_fft // 2)
    frames = [padded[f * hop : f * hop + n_fft] * window for f in range(n_frames_for(200, hop))]
    expected = np.abs(np.fft.rfft(np.stack(frames, axis=-1), axis=0))
    features = log_spectrogram(audio, n_fft, hop, compression="none")
    np.testing.assert_allclose(features.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("n_fft, win_length", [(64, 32), (128, 32), (63, 31)])
def test_win_length_matches_an_independent_dft_of_the_shorter_window(n_fft, win_length):
    # numpy reference: the win_length Hann window centred on the frame's control point
    # (its peak on sample f * hop), the frame's DFT taken at n_fft points.
    hop, n_samples = 24, 200
    audio = _noise(n_samples, seed=2)
    n = np.arange(win_length)
    periodic = win_length % 2 == 0
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (win_length if periodic else win_length - 1))
    padded = np.pad(audio.numpy(), win_length // 2)
    frames = [
        padded[f * hop : f * hop + win_length] * window for f in range(n_frames_for(200, hop))
    ]
    expected = np.abs(np.fft.rfft(np.stack(frames, axis=-1), n=n_fft, axis=0))
    features = log_spectrogram(audio, n_fft, hop, compression="none", win_length=win_length)
    np.testing.assert_allclose(features.numpy(), expected, atol=1e-12)


def test_zero_padding_twice_keeps_the_unpadded_bins_and_finds_a_peak_between_them():
    # A pure tone between two bins of the 1024-point STFT: the even bins of the
    # zero-padded one are the unpadded bins, and the odd bin between holds the peak.
    t = torch.arange(8000, dtype=F64)
    tone = torch.sin(2 * math.pi * 6.5 * t / 1024)  # 101.6 Hz at 16 kHz: bins 6 and 7
    plain = log_spectrogram(tone, 1024, 160, compression="none")
    padded = log_spectrogram(tone, 2048, 160, compression="none", win_length=1024)
    torch.testing.assert_close(padded[::2], plain, atol=1e-9, rtol=1e-9)
    interior = padded[:, 10:-10]
    assert (interior.argmax(dim=0) == 13).all(), interior.argmax(dim=0)


@pytest.mark.parametrize("n_fft, win_length", [(1024, None), (2048, 1024), (1023, None)])
@pytest.mark.parametrize("f0", [55.0, 101.3, 440.7])
def test_frequency_offsets_read_a_pure_tone_between_bins(f0, n_fft, win_length):
    # Analytic: a stationary sine at f0 puts k + offset = f0 * n_fft / rate (in bins) in
    # the bins its main lobe covers, far finer than the bins; the magnitude is the STFT's.
    rate = 16000
    t = torch.arange(rate, dtype=F64) / rate
    tone = torch.sin(2 * math.pi * f0 * t + 0.4)
    offsets, magnitude = frequency_offsets(tone, n_fft, 160, 200, win_length=win_length)
    expected = log_spectrogram(tone, n_fft, 160, 200, "none", win_length=win_length)
    torch.testing.assert_close(magnitude, expected)
    peak = int(magnitude[:, 50].argmax())
    # The only error is leakage from the tone's negative-frequency image, which matters
    # only for low tones (55 Hz: 3.5 bins from 0 Hz) and away from the peak bin.
    for k, bound in ((peak, 4), (peak - 1, 12), (peak + 1, 12)):
        reassigned = (k + offsets[k, 20:-20]) * rate / n_fft  # frames inside the tone
        cents = 1200 * torch.log2(reassigned / f0)
        assert cents.abs().max() < (bound if f0 < 400 else 0.1), (k, cents.abs().max())


@pytest.mark.parametrize("n_fft, win_length", [(64, None), (128, 64), (63, None)])
def test_frequency_offsets_are_the_time_derivative_of_the_stft_phase(n_fft, win_length):
    # Independent float64 reference on noise: slide a continuous Hann window by +-h
    # samples and difference the unwrapped phase of each bin (no derivative window):
    # n_fft / (2 pi) d(phase)/d(shift) - k is the offset.
    hop, n_samples, h = 24, 300, 1e-5
    audio = _noise(n_samples, seed=5).numpy()
    length = win_length or n_fft
    period = length if length % 2 == 0 else length - 1
    k = np.arange(n_fft // 2 + 1)[:, None]

    def spectrum(frame, shift):
        # Window origin at the frame's first sample plus shift; phase relative to it.
        start = frame * hop - length // 2 + shift
        n = np.arange(int(np.floor(start)), int(np.ceil(start + length)) + 1)
        u = n - start
        w = np.where((u >= 0) & (u <= period), 0.5 - 0.5 * np.cos(2 * np.pi * u / period), 0)
        x = np.where((n >= 0) & (n < n_samples), audio[np.clip(n, 0, n_samples - 1)], 0)
        offset = (n_fft - length) // 2  # the zero-padded window's first sample
        return (x * w * np.exp(-2j * np.pi * k * (u + offset) / n_fft)).sum(-1)

    offsets, _ = frequency_offsets(torch.from_numpy(audio), n_fft, hop, win_length=win_length)
    for frame in range(1, n_frames_for(n_samples, hop) - 1):
        later, earlier = spectrum(frame, h), spectrum(frame, -h)
        derivative = np.angle(later * np.conj(earlier)) / (2 * h)
        expected = derivative * n_fft / (2 * np.pi) - k[:, 0]
        np.testing.assert_allclose(offsets[:, frame].numpy(), expected, atol=2e-4)


def test_frequency_offsets_check_their_arguments():
    with pytest.raises(ValueError, match="win_length=33"):
        frequency_offsets(torch.zeros(100), 64, 16, win_length=33)
    with pytest.raises(TypeError, match="audio must be a floating-point tensor"):
        frequency_offsets(torch.zeros(100, dtype=torch.int16), 64, 16)
    offsets, magnitude = frequency_offsets(torch.zeros(2, 3, 100), 64, 16, 10)
    assert offsets.shape == magnitude.shape == (2, 3, 10, 7)
    assert (offsets == 0).all()  # silence: no frequency to read, and no NaN


def test_short_audio_uses_zero_padding():
    audio = _noise(100, seed=2)
    features = log_spectrogram(audio, n_fft=1024, hop_length=160, compression="none")
    assert features.shape == (513, 1)
    # Frame 0 sees the 100 samples under the right half of the window, zeros elsewhere.
    window = torch.hann_window(1024, dtype=F64)[512 : 512 + 100]
    expected = torch.fft.rfft(audio * window, n=1024).abs()  # same up to a phase ramp
    torch.testing.assert_close(features[:, 0], expected)


# --- shapes, dtypes, options ---------------------------------------------------------


def test_leading_shapes_agree():
    audio = _noise(2, 3, 1000, seed=3)
    batched = log_spectrogram(audio, 256, 100, normalize=True)
    assert batched.shape == (2, 3, 129, 10)
    for i in range(2):
        for j in range(3):
            single = log_spectrogram(audio[i, j], 256, 100, normalize=True)
            assert single.shape == (129, 10)
            torch.testing.assert_close(batched[i, j], single)
            torch.testing.assert_close(
                log_spectrogram(audio[i, j][None], 256, 100, normalize=True), single[None]
            )


@pytest.mark.parametrize("dtype", [torch.float32, F64, torch.bfloat16])
def test_output_dtype_follows_input(dtype):
    features = log_spectrogram(_noise(500, dtype=dtype), 64, 32)
    assert features.dtype == dtype


def test_float32_agrees_with_float64():
    audio = _noise(2, 800, seed=4)
    for normalize in (False, True):
        single = log_spectrogram(audio.float(), 256, 80, normalize=normalize)
        double = log_spectrogram(audio, 256, 80, normalize=normalize)
        torch.testing.assert_close(single.double(), double, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("n_bins", [1, 10, 129])
def test_n_bins_keeps_the_lowest_bins(n_bins):
    audio = _noise(700, seed=5)
    full = log_spectrogram(audio, 256, 64)
    truncated = log_spectrogram(audio, 256, 64, n_bins=n_bins)
    assert truncated.shape == (n_bins, full.shape[-1])
    torch.testing.assert_close(truncated, full[:n_bins])


def test_compressions():
    audio = _noise(600, seed=6)
    magnitude = log_spectrogram(audio, 128, 50, compression="none")
    eps = 1e-3
    torch.testing.assert_close(
        log_spectrogram(audio, 128, 50, compression="log", eps=eps), torch.log(magnitude + eps)
    )
    log1p = log_spectrogram(audio, 128, 50, compression="log1p", eps=eps)
    torch.testing.assert_close(log1p, torch.log(magnitude + eps) - math.log(eps))
    assert (log_spectrogram(torch.zeros(600), 128, 50, compression="log1p") == 0).all()


@pytest.mark.parametrize("compression", ["log", "log1p", "none"])
def test_normalize_is_gain_invariant_and_standardised(compression):
    audio = _noise(2, 1500, seed=7)
    features = log_spectrogram(audio, 256, 100, compression=compression, normalize=True)
    for gain in (10.0, 1e-3):
        louder = log_spectrogram(gain * audio, 256, 100, compression=compression, normalize=True)
        torch.testing.assert_close(louder, features, atol=1e-5, rtol=0)
    torch.testing.assert_close(features.mean(dim=(-2, -1)), torch.zeros(2, dtype=F64))
    torch.testing.assert_close(features.std(dim=(-2, -1), correction=0), torch.ones(2, dtype=F64))
    # Without normalisation the gain shows (the test above can fail).
    raw = log_spectrogram(audio, 256, 100, compression=compression)
    assert not torch.allclose(log_spectrogram(10 * audio, 256, 100, compression=compression), raw)


def test_normalize_silence_is_finite_and_near_zero():
    for dtype in (torch.float32, F64):
        features = log_spectrogram(torch.zeros(2, 500, dtype=dtype), 64, 32, normalize=True)
        assert torch.isfinite(features).all()
        assert features.abs().max() < 1e-3


def test_input_not_modified():
    audio = _noise(2, 500, seed=8)
    copy = audio.clone()
    log_spectrogram(audio, 64, 32, normalize=True)
    assert torch.equal(audio, copy)


# --- module ----------------------------------------------------------------------------


def test_module_equals_function():
    options = dict(n_fft=128, hop_length=40, n_bins=30, compression="log1p", eps=1e-4)
    audio = _noise(3, 900, seed=9)
    for normalize in (False, True):
        module = Spectrogram(**options, normalize=normalize)
        torch.testing.assert_close(
            module(audio), log_spectrogram(audio, **options, normalize=normalize), rtol=0, atol=0
        )
    assert module.n_frames(900) == module(audio).shape[-1] == n_frames_for(900, 40)
    assert "n_bins=30" in repr(module) and "compression='log1p'" in repr(module)
    assert Spectrogram(n_fft=64).n_bins == 33


def test_module_rejects_bad_options_at_construction():
    with pytest.raises(ValueError, match="compression must be one of"):
        Spectrogram(compression="db")


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_fft=1), ValueError, r"n_fft must be an integer .*>= 2, got 1"),
        (dict(n_fft=0), ValueError, r"n_fft must be .*got 0"),
        (dict(n_fft=64.0), TypeError, r"n_fft must be an integer.*got 64\.0"),
        (dict(hop_length=0), ValueError, r"hop_length must be a positive integer.*got 0"),
        (dict(hop_length=-3), ValueError, r"hop_length must be .*got -3"),
        (dict(hop_length=2.5), TypeError, r"hop_length must be .*got 2\.5"),
        (dict(n_fft=64, n_bins=34), ValueError, r"n_bins must be between 1 and .* = 33.*got 34"),
        (dict(n_bins=0), ValueError, r"n_bins must be .*got 0"),
        (dict(compression="db"), ValueError, r"compression must be one of .*'log'.*got 'db'"),
        (dict(eps=0.0), ValueError, r"eps must be a positive finite number, got 0.0"),
        (dict(eps=float("nan")), ValueError, r"eps must be a positive finite number"),
        (dict(normalize=1), TypeError, r"normalize must be True or False"),
        (dict(n_fft=64, win_length=128), ValueError, r"win_length=128 must be at most n_fft=64"),
        (dict(n_fft=64, win_length=33), ValueError, r"win_length=33 .* an even number"),
        (dict(n_fft=64, win_length=1), ValueError, r"win_length must be .*>= 2.*got 1"),
    ],
)
def test_bad_options_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        log_spectrogram(torch.zeros(500), **kwargs)


@pytest.mark.parametrize(
    "audio, error, match",
    [
        (torch.zeros(500, dtype=torch.int16), TypeError, r"audio must be a floating-point.*int16"),
        (torch.zeros(500, dtype=torch.complex64), TypeError, r"audio must be a floating-point"),
        (np.zeros(500), TypeError, r"audio must be a floating-point tensor.*ndarray"),
        (torch.zeros(2, 0), ValueError, r"time >= 1, got \(2, 0\)"),
        (torch.tensor(1.0), ValueError, r"time >= 1, got \(\)"),
    ],
)
def test_bad_audio_raises(audio, error, match):
    with pytest.raises(error, match=match):
        log_spectrogram(audio, n_fft=64, hop_length=16)


def test_n_frames_for_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_samples must be a positive integer.*got 0"):
        n_frames_for(0, 160)
    with pytest.raises(ValueError, match="hop_length must be a positive integer.*got 0"):
        n_frames_for(100, 0)


# --- gradients -------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("compression", ["log", "none"])
def test_gradcheck(compression, normalize):
    audio = _noise(2, 40, seed=10).requires_grad_()

    def frontend(x):
        return log_spectrogram(
            x, n_fft=16, hop_length=6, n_bins=5, compression=compression, normalize=normalize
        )

    assert gradcheck(frontend, (audio,), check_forward_ad=True)
    assert gradgradcheck(frontend, (audio,))


def test_gradient_reaches_every_sample():
    audio = _noise(300, seed=11).float().requires_grad_()
    log_spectrogram(audio, 64, 16, normalize=True).square().sum().backward()
    assert torch.isfinite(audio.grad).all() and (audio.grad != 0).all()


# --- frame power ---------------------------------------------------------------------


def _reference_power_db(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Hann-weighted mean square around each control point, written out in float64."""
    n = np.arange(n_fft)
    denominator = n_fft if n_fft % 2 == 0 else n_fft - 1  # periodic / symmetric Hann
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / denominator)
    powers = []
    for f in range(n_frames_for(len(audio), hop)):
        positions = f * hop - n_fft // 2 + n
        inside = (positions >= 0) & (positions < len(audio))
        samples = np.where(inside, audio[np.clip(positions, 0, len(audio) - 1)], 0.0)
        powers.append((window * samples**2).sum() / window.sum())
    return 10 * np.log10(np.maximum(powers, 1e-20))


@pytest.mark.parametrize("n_fft", [64, 65])
@pytest.mark.parametrize("n_samples", [1, 40, 160, 1000, 1601])
def test_frame_power_matches_a_float64_loop(n_fft, n_samples):
    audio = _noise(n_samples, seed=n_samples) * torch.linspace(0.01, 1, n_samples, dtype=F64)
    got = frame_power_db(audio, n_fft=n_fft, hop_length=16)
    expected = _reference_power_db(audio.numpy(), n_fft, 16)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


def test_frame_power_of_a_sine_gain_and_silence():
    t = torch.arange(16000, dtype=F64) / 16000
    sine = torch.sin(2 * torch.pi * 250 * t)  # 250 Hz: whole periods in every window
    power = frame_power_db(sine, n_fft=1024, hop_length=160)
    inside = power[4:-4]  # frames whose window lies inside the signal
    np.testing.assert_allclose(inside.numpy(), 10 * math.log10(0.5), atol=1e-6)
    quieter = frame_power_db(0.01 * sine, n_fft=1024, hop_length=160)
    torch.testing.assert_close(quieter, power - 40.0, rtol=0, atol=1e-6)
    assert bool((frame_power_db(torch.zeros(500)) == -200.0).all())


def test_frame_power_shapes_and_dtypes():
    audio = _noise(2, 3, 999, dtype=torch.float32)
    power = frame_power_db(audio, n_fft=128, hop_length=32)
    assert power.shape == (2, 3, n_frames_for(999, 32)) and power.dtype == torch.float32
    torch.testing.assert_close(power[1, 2], frame_power_db(audio[1, 2], n_fft=128, hop_length=32))
    half = frame_power_db(audio.half(), n_fft=128, hop_length=32)
    assert half.dtype == torch.float32
    assert float((half - power).abs().max()) < 0.05  # half precision input, float32 maths


def test_frame_power_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"n_fft must be .*got 1"):
        frame_power_db(torch.zeros(100), n_fft=1)
    with pytest.raises(ValueError, match=r"hop_length must be a positive integer.*got 0"):
        frame_power_db(torch.zeros(100), hop_length=0)
    with pytest.raises(TypeError, match="audio must be a floating-point"):
        frame_power_db(torch.zeros(100, dtype=torch.int16))
