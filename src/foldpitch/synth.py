"""Test signals with an exactly known fundamental frequency.

Harmonic tones are synthesised by phase accumulation, so the instantaneous f0 at every
sample is known by construction: these are the ground truth for tests, demos and the
built-in examples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import _checks

__all__ = ["SPECTRA", "add_noise", "harmonic_tone", "vibrato_f0", "glide_f0"]

SPECTRA = ("1/h", "odd", "weak_fundamental", "missing_fundamental", "sine")


def harmonic_amplitudes(spectrum: str, n_harmonics: int) -> Tensor:
    """Amplitude of harmonics 1..n_harmonics for a named spectrum (float64).

    ``"1/h"``: ``1/h``; ``"odd"``: ``1/h`` on odd harmonics only (a square-like wave);
    ``"weak_fundamental"``: ``1/h`` with the fundamental at 0.1; ``"missing_fundamental"``:
    ``1/h`` with no fundamental at all; ``"sine"``: the fundamental alone (a pure tone,
    whose fold loss has the broadest dip of all: a tuner's test signal, a flute, a
    whistle).
    """
    _checks.one_of("spectrum", spectrum, SPECTRA)
    h = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    amplitude = 1 / h
    if spectrum == "odd":
        amplitude = amplitude * (h % 2 == 1)
    elif spectrum == "weak_fundamental":
        amplitude[0] = 0.1
    elif spectrum == "missing_fundamental":
        amplitude[0] = 0.0
    elif spectrum == "sine":
        amplitude = (h == 1).to(torch.float64)
    return amplitude


def harmonic_tone(
    f0_hz: Tensor | float,
    sample_rate: int,
    n_samples: int | None = None,
    *,
    spectrum: str = "1/h",
    n_harmonics: int | None = None,
    phase: float = 0.0,
) -> Tensor:
    """A harmonic tone whose instantaneous f0 is ``f0_hz`` at every sample.

    Args:
        f0_hz: the fundamental in Hz: a number (steady tone, then ``n_samples`` is
            required) or a tensor ``(N,)`` with the f0 at every sample.
        sample_rate: in Hz.
        n_samples: length when ``f0_hz`` is a number.
        spectrum: see :func:`harmonic_amplitudes`.
        n_harmonics: number of harmonics; default: all below Nyquist at the highest f0.
        phase: starting phase of the fundamental in cycles.

    Returns:
        float32 tensor ``(N,)`` normalised to a peak of 0.5.

    Example:
        >>> harmonic_tone(100.0, 8000, 4).shape
        torch.Size([4])
    """
    if not torch.is_tensor(f0_hz):
        if n_samples is None:
            raise ValueError("n_samples is required when f0_hz is a number")
        f0_hz = torch.full((n_samples,), float(f0_hz), dtype=torch.float64)
    f0_hz = f0_hz.to(torch.float64)
    if n_harmonics is None:
        n_harmonics = max(1, int(sample_rate / 2 / float(f0_hz.max())))
    # Phase in cycles: f0 integrated with the trapezoidal rule, exact for linear f0.
    step = 0.5 * (f0_hz[1:] + f0_hz[:-1]) / sample_rate
    cycles = phase + torch.nn.functional.pad(torch.cumsum(step, 0), (1, 0))
    harmonics = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    amplitude = harmonic_amplitudes(spectrum, n_harmonics)
    # A harmonic is silenced wherever it would alias (above Nyquist).
    audible = (harmonics[:, None] * f0_hz[None, :]) < sample_rate / 2
    tone = (
        amplitude[:, None] * audible * torch.sin(2 * math.pi * harmonics[:, None] * cycles)
    ).sum(0)
    return (0.5 * tone / tone.abs().max().clamp_min(1e-12)).to(torch.float32)


def add_noise(audio: Tensor, snr_db: float, generator: torch.Generator | None = None) -> Tensor:
    """``audio`` plus white Gaussian noise at the given signal-to-noise ratio (dB)."""
    noise = torch.randn(audio.shape, generator=generator, dtype=torch.float64)
    signal_power = audio.to(torch.float64).square().mean()
    noise = noise * torch.sqrt(signal_power / 10 ** (snr_db / 10) / noise.square().mean())
    return (audio + noise).to(audio.dtype)


def vibrato_f0(
    center_hz: float, rate_hz: float, depth_cents: float, sample_rate: int, n_samples: int
) -> Tensor:
    """f0 (Hz) at every sample of a sinusoidal vibrato: ``center * 2**(depth/1200 sin)``."""
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    return center_hz * torch.exp2(depth_cents / 1200 * torch.sin(2 * math.pi * rate_hz * t))


def glide_f0(
    start_hz: float, octaves_per_second: float, sample_rate: int, n_samples: int
) -> Tensor:
    """f0 (Hz) at every sample of an exponential glide."""
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    return start_hz * torch.exp2(octaves_per_second * t)
