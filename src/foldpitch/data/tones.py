"""Generated tones: the built-in unlabelled corpus and the labelled monitoring set.

:func:`synthesize_excerpt` is the one generator of both :class:`SyntheticCorpus` (no
label) and :class:`LabelledSyntheticSet` (the exact synthesis f0 on a frame grid, for
*monitoring* training only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import _checks
from ..frontend import n_frames_for
from ..synth import SPECTRA, harmonic_amplitudes
from ._util import (
    _rng,
    _set_excerpt_args,
)
from .rooms import _coloured_noise

CONTOURS = ("steady", "vibrato", "glide", "jump")
"""f0 contour kinds of :func:`synthesize_excerpt`."""

_CONTROL_HOP = 64  # samples between control points of the harmonic amplitudes
VOICING_THRESHOLD = 0.1
"""A sample is voiced where its note's amplitude envelope is at least this (-20 dB)."""


def _note_contour(
    rng: np.random.Generator,
    t: np.ndarray,
    duration: float,
    contours: Sequence[str],
    lo: float,
    hi: float,
    first: bool,
    last: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """log2 f0 and amplitude envelope of one note at local times ``t`` (seconds)."""
    kind = contours[rng.integers(len(contours))]
    span = hi - lo
    vibrato = kind == "vibrato" or (kind in ("glide", "jump") and rng.random() < 0.3)
    depth = rng.uniform(20, 150) / 1200 if vibrato else 0.0  # octaves
    depth = min(depth, 0.25 * span)
    rate = rng.uniform(4, 8)
    if kind == "glide":
        speed = rng.uniform(-2, 2)  # octaves per second
        # Keep the whole glide (plus vibrato) inside [lo, hi]: shrink it if needed.
        room = max(span - 2 * depth - 1e-6, 0.0)
        speed = float(np.clip(speed, -room / duration, room / duration))
        travel = speed * duration
        start = rng.uniform(lo + depth + max(0.0, -travel), hi - depth - max(0.0, travel))
        log2_f0 = start + speed * t
    elif kind == "jump":
        n_steps = int(rng.integers(2, 5))
        times = np.sort(rng.uniform(0.1, 0.9, n_steps - 1)) * duration
        pitch = rng.uniform(lo + depth, hi - depth)
        pitches = [pitch]
        for _ in range(n_steps - 1):
            interval = rng.choice([-1, 1]) * rng.integers(1, 13) / 12  # 1 to 12 semitones
            pitch = pitch + interval
            if not lo + depth <= pitch <= hi - depth:
                pitch = pitch - 2 * interval
            pitches.append(float(np.clip(pitch, lo + depth, hi - depth)))
        log2_f0 = np.asarray(pitches)[np.searchsorted(times, t, side="right")]
    elif kind in ("steady", "vibrato"):
        log2_f0 = np.full_like(t, rng.uniform(lo + depth, hi - depth))
    else:  # pragma: no cover - contours are validated by the caller
        raise ValueError(f"unknown contour {kind!r}")
    if depth > 0:
        log2_f0 = log2_f0 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    log2_f0 = np.clip(log2_f0, lo, hi)

    # Envelope: attack, release, optional exponential decay; an excerpt's first and last
    # notes may be cut (no attack / no release) as if the excerpt started mid-note.
    attack = min(rng.uniform(0.002, 0.08), duration / 3)
    release = min(rng.uniform(0.005, 0.15), duration / 3)
    envelope = np.ones_like(t)
    if not (first and rng.random() < 0.3):
        envelope *= np.clip(t / attack, 0, 1)
    if not (last and rng.random() < 0.4):
        envelope *= np.clip((duration - t) / release, 0, 1)
    else:
        envelope *= t < duration + 0.5  # a cut note just goes on
    if rng.random() < 0.4:
        decay_db_per_s = rng.uniform(0, 20)
        envelope *= 10 ** (-decay_db_per_s * np.clip(t, 0, None) / 20)
    envelope *= (t >= 0) & (t <= duration + 0.5)
    return log2_f0, envelope


def _harmonic_gains(
    rng: np.random.Generator, spectra: Sequence[str], max_harmonics: int, formants: bool
) -> tuple[np.ndarray, callable]:
    """Per-item harmonic shape: base amplitudes ``(H,)`` and a gain(frequency Hz) in dB
    (flat without ``formants``)."""
    spectrum = spectra[rng.integers(len(spectra))]
    if spectrum == "random":
        base = np.exp(rng.normal(0, 0.7, max_harmonics)) / np.arange(1, max_harmonics + 1)
    else:
        base = harmonic_amplitudes(spectrum, max_harmonics).numpy()
    tilt = rng.uniform(-9, 3)  # dB per octave above 500 Hz, on top of the base spectrum
    n_formants = int(rng.integers(0, 5))
    centres = np.exp(rng.uniform(np.log(250), np.log(5000), n_formants))
    widths = centres * rng.uniform(0.08, 0.4, n_formants)
    heights = rng.uniform(6, 30, n_formants)
    if not formants:  # the draws above keep the random stream aligned
        tilt, heights = 0.0, np.zeros(n_formants)

    def gain_db(frequency: np.ndarray) -> np.ndarray:
        out = tilt * np.log2(np.maximum(frequency, 1.0) / 500)
        for c, w, h in zip(centres, widths, heights, strict=True):
            out = out + h * np.exp(-0.5 * ((frequency - c) / w) ** 2)
        return out

    return base, gain_db


def _notes_contour(
    rng: np.random.Generator,
    n_samples: int,
    n_contour: int,
    sample_rate: int,
    contours: Sequence[str],
    lo: float,
    hi: float,
) -> tuple[np.ndarray, np.ndarray]:
    """log2 f0 and amplitude envelope of 1 to 4 segments, each a rest or a note."""
    n_segments = int(rng.integers(1, 5))
    fractions = rng.dirichlet(np.full(n_segments, 2.0))
    bounds = np.concatenate([[0], np.round(np.cumsum(fractions) * n_samples)]).astype(int)
    bounds[-1] = n_contour  # the last segment runs to the end of the contour
    sample = np.arange(n_contour)
    log2_f0 = np.full(n_contour, np.nan)
    envelope = np.zeros(n_contour)
    rests = rng.random(n_segments) < 0.2
    if rests.all():
        rests[rng.integers(n_segments)] = False
    for k in range(n_segments):
        start, stop = bounds[k], bounds[k + 1]
        if rests[k] or stop <= start:
            continue
        end = min(stop, n_samples) if k == n_segments - 1 else stop
        t = (sample[start:stop] - start) / sample_rate
        log2_f0[start:stop], envelope[start:stop] = _note_contour(
            rng,
            t,
            max(end - start, 1) / sample_rate,
            contours,
            lo,
            hi,
            first=k == 0,
            last=k == n_segments - 1,
        )
    # Rests keep the pitch of a neighbouring note (it is silent there anyway).
    known = ~np.isnan(log2_f0)
    log2_f0 = np.interp(sample, sample[known], log2_f0[known])
    return log2_f0, envelope


# F1-F3 of ten vowels (Hz, adult male averages); items scale them by a vocal-tract
# factor and move between them, as speech moves between vowels.
_VOWEL_FORMANTS = np.array(
    [
        [730, 1090, 2440],
        [270, 2290, 3010],
        [300, 870, 2240],
        [530, 1840, 2480],
        [660, 1720, 2410],
        [570, 840, 2410],
        [440, 1020, 2240],
        [490, 1350, 1690],
        [390, 1990, 2550],
        [640, 1190, 2390],
    ],
    dtype=float,
)


def _raised_cosine_ramps(t: np.ndarray, start: float, stop: float, ramp: float) -> np.ndarray:
    """1 inside ``[start, stop]`` (seconds) with raised-cosine ramps of ``ramp`` s."""
    ramp = max(min(ramp, (stop - start) / 2), 1e-4)
    rise = np.clip((t - start) / ramp, 0, 1)
    fall = np.clip((stop - t) / ramp, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))


def _speech_contour(
    rng: np.random.Generator, t: np.ndarray, seconds: float, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """log2 f0 and amplitude envelope of a speech-like excerpt at times ``t`` (s), and its
    unvoiced gaps ``[(start, stop), ...]``.

    Voiced stretches of 80-350 ms alternate with gaps of 30-150 ms. The f0 follows a
    speaker's base pitch, a declination, 1-4 accents of up to 6 semitones and a
    jitter of 0.2-1.5 % redrawn every 2 ms, inside ``[lo, hi]`` (log2 Hz).
    """
    speaker_lo, speaker_hi = max(lo, math.log2(65.0)), min(hi, math.log2(500.0))
    if speaker_lo >= speaker_hi:  # an f0 range outside the speech range: use it whole
        speaker_lo, speaker_hi = lo, hi
    log2_f0 = rng.uniform(speaker_lo, speaker_hi) - rng.uniform(0, 4) / 12 * t
    for _ in range(int(rng.integers(1, 5))):
        centre, width = rng.uniform(0, seconds), rng.uniform(0.05, 0.2)
        log2_f0 += rng.uniform(-6, 6) / 12 * np.exp(-0.5 * ((t - centre) / width) ** 2)
    knots = np.arange(0, t[-1] + 0.004, 0.002)
    jitter = rng.standard_normal(knots.size) * rng.uniform(0.002, 0.015) / math.log(2)
    log2_f0 = np.clip(log2_f0 + np.interp(t, knots, jitter), lo, hi)

    envelope = np.zeros_like(t)
    gaps = []
    position = -rng.uniform(0, 0.3)  # the excerpt may start inside a voiced stretch
    while position < t[-1]:
        stop = position + rng.uniform(0.08, 0.35)
        level = 10 ** (rng.uniform(-12, 0) / 20)
        envelope += level * _raised_cosine_ramps(t, position, stop, rng.uniform(0.01, 0.04))
        gap = rng.uniform(0.03, 0.15)
        gaps.append((stop, stop + gap))
        position = stop + gap
    shimmer = np.interp(t, knots, rng.standard_normal(knots.size) * rng.uniform(0.01, 0.1))
    return log2_f0, envelope * np.exp(shimmer), gaps


def _speech_gains(
    rng: np.random.Generator, control_seconds: np.ndarray, max_harmonics: int
) -> tuple[np.ndarray, callable]:
    """Glottal-source harmonic amplitudes ``(H,)`` and a gain(frequency Hz ``(H, C)``) in
    dB from four formants that move between vowels at the control times ``(C,)``."""
    base = 1.0 / np.arange(1, max_harmonics + 1) ** rng.uniform(0.8, 1.6)
    tract = rng.uniform(0.85, 1.25)  # vocal-tract scaling: longer (lower) to shorter
    changes = np.cumsum(rng.uniform(0.08, 0.25, int(control_seconds[-1] / 0.08) + 3))
    vowels = _VOWEL_FORMANTS[rng.integers(len(_VOWEL_FORMANTS), size=changes.size)] * tract
    vowels = np.concatenate([vowels, np.full((changes.size, 1), 3500.0 * tract)], axis=1)
    tracks = np.stack([np.interp(control_seconds, changes - changes[0], f) for f in vowels.T])
    bandwidths = np.array([60.0, 90.0, 130.0, 200.0]) * rng.uniform(0.7, 2.0)

    def gain_db(frequency: np.ndarray) -> np.ndarray:
        # Cascade of two-pole resonators, |H(f)| = F^2 / |F^2 - f^2 + i f B| (1 at f = 0).
        centre, width = tracks[:, None, :], bandwidths[:, None, None]
        power = ((centre**2 - frequency**2) ** 2 + (frequency * width) ** 2) / centre**4
        return -10 * np.log10(power).sum(axis=0)

    return base, gain_db


def _speech_noise(
    rng: np.random.Generator, t: np.ndarray, envelope: np.ndarray, gaps, sample_rate: int
) -> np.ndarray:
    """Aperiodic parts of a speech-like excerpt, relative to a unit-power voiced part:
    aspiration (white noise under the voiced envelope, -30 to -10 dB) and fricatives in
    half of the gaps (noise above 1.5-5 kHz, -25 to -5 dB)."""
    n = t.size
    noise = rng.standard_normal(n) * envelope * 10 ** (rng.uniform(-30, -10) / 20)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    cutoff = rng.uniform(1500, min(5000, 0.4 * sample_rate))
    hiss = np.fft.irfft(spectrum * (np.fft.rfftfreq(n, 1 / sample_rate) > cutoff), n=n)
    hiss /= max(np.sqrt(np.mean(hiss**2)), 1e-12)
    for start, stop in gaps:
        if rng.random() < 0.5:
            shape = _raised_cosine_ramps(t, start - 0.01, stop + 0.01, 0.02)
            noise += hiss * shape * 10 ** (rng.uniform(-25, -5) / 20)
    return noise


def synthesize_excerpt(
    seed: int,
    index: int,
    *,
    n_samples: int,
    sample_rate: int,
    fmin: float = 50.0,
    fmax: float = 1100.0,
    contours: Sequence[str] = CONTOURS,
    spectra: Sequence[str] = (*SPECTRA, "random"),
    max_harmonics: int = 80,
    snr_db: float | tuple[float, float] | None = (0.0, 40.0),
    p_clean: float = 0.2,
    p_noise_only: float = 0.05,
    p_silent: float = 0.03,
    formants: bool = True,
    white_noise: bool = False,
    p_speech: float = 0.0,
    n_contour: int | None = None,
) -> dict[str, np.ndarray]:
    """One generated excerpt and its exact f0 contour (the generator of both datasets).

    The excerpt holds 1 to 4 segments; each is a rest (silence) or a note of one
    harmonic source whose f0 contour is ``steady``, ``vibrato`` (4-8 Hz, 20-150 cents),
    ``glide`` (up to +-2 octaves/s, optionally with vibrato) or ``jump`` (2-4 pitches,
    steps of 1-12 semitones), always inside ``[fmin, fmax]``. The harmonic amplitudes
    follow a base spectrum from ``spectra``, a random tilt and 0-4 formant-like
    resonances applied as a smooth gain over harmonic frequency; harmonics above
    0.45 ``sample_rate`` are removed. Notes have attacks, releases and sometimes a
    decay. Noise (white to brown) is added at an SNR measured over voiced samples.
    With probability ``p_noise_only`` the excerpt is noise only, with ``p_silent`` it is
    digital silence. The mixture is scaled to a random peak between -30 and -1 dBFS.

    Args:
        seed, index: the item's random stream is ``numpy.random.default_rng([seed,
            index])``.
        n_samples: excerpt length in samples.
        sample_rate: in Hz.
        fmin, fmax: f0 range in Hz (``0 < fmin < fmax < sample_rate / 2``).
        contours: subset of :data:`CONTOURS` to draw from.
        spectra: names from :data:`foldpitch.synth.SPECTRA` or ``"random"``.
        max_harmonics: at most this many harmonics (``1`` gives pure tones).
        snr_db: ``(low, high)``: uniform SNR in dB; a number: that SNR; ``None``:
            always clean.
        p_clean: probability of no noise at all (only when ``snr_db`` is a range).
        p_noise_only, p_silent: probabilities of a noise-only / silent excerpt.
        formants: apply the random spectral tilt and formant-like resonances; without
            them the harmonics keep the base spectrum (the benchmark's plain tones).
        white_noise: added noise is always white (default: white to brown).
        p_speech: probability of a speech-like excerpt instead of notes: voiced
            stretches of 80-350 ms with a prosodic f0 (base pitch in 65-500 Hz,
            declination, accents, 0.2-1.5 % jitter), a glottal-like source through four
            formants that move between vowels, aspiration noise, and gaps of 30-150 ms
            that are silent or hold a fricative (high-passed noise).
        n_contour: length of the returned contours in samples (default
            ``n_samples``); longer contours continue the last segment, so labels can
            be read at frames past the last sample. The audio does not depend on it.

    Returns:
        dict with ``"audio"``: float32 ``(n_samples,)`` in [-1, 1]; ``"f0"``: float64
        ``(n_contour,)``, instantaneous f0 in Hz (0 where unvoiced); ``"voiced"``: bool
        ``(n_contour,)``, where the note envelope is at least
        :data:`VOICING_THRESHOLD`.

    Example:
        >>> out = synthesize_excerpt(0, 3, n_samples=1600, sample_rate=16000)
        >>> out["audio"].shape, out["audio"].dtype, out["f0"].shape
        ((1600,), dtype('float32'), (1600,))
    """
    n_contour = n_samples if n_contour is None else max(n_contour, n_samples)
    rng = _rng(seed, index)
    lo, hi = math.log2(fmin), math.log2(fmax)

    f0 = np.zeros(n_contour)
    voiced = np.zeros(n_contour, dtype=bool)
    kind = rng.random()
    if kind < p_silent:
        return {"audio": np.zeros(n_samples, np.float32), "f0": f0, "voiced": voiced}
    level = 10 ** (rng.uniform(-30, -1) / 20)
    if kind < p_silent + p_noise_only:
        audio = _noise_only(rng, n_samples, sample_rate, lo, hi)
        return {"audio": _to_peak(audio, level), "f0": f0, "voiced": voiced}

    seconds = np.arange(n_contour) / sample_rate
    # Drawn only when enabled, so that tone-only sets keep their random streams.
    speech = p_speech > 0 and rng.random() < p_speech
    if speech:
        log2_f0, envelope, gaps = _speech_contour(rng, seconds, n_samples / sample_rate, lo, hi)
    else:
        log2_f0, envelope = _notes_contour(rng, n_samples, n_contour, sample_rate, contours, lo, hi)
    f0_all = np.exp2(log2_f0)
    voiced = envelope >= VOICING_THRESHOLD
    f0 = np.where(voiced, f0_all, 0.0)

    tone = _harmonic_source(
        rng,
        f0_all[:n_samples],
        envelope[:n_samples],
        voiced[:n_samples],
        sample_rate,
        speech=speech,
        spectra=spectra,
        max_harmonics=max_harmonics,
        formants=formants,
        fmax=fmax,
    )
    if speech:
        tone += _speech_noise(rng, seconds[:n_samples], envelope[:n_samples], gaps, sample_rate)
    audio = _add_noise(rng, tone, snr_db, p_clean, white_noise)
    return {"audio": _to_peak(audio, level), "f0": f0, "voiced": voiced}


def _noise_only(rng, n_samples: int, sample_rate: int, lo: float, hi: float) -> np.ndarray:
    """Coloured noise under a steady note's envelope (attack, release), float64."""
    noise = _coloured_noise(rng, n_samples)
    t = np.arange(n_samples) / sample_rate
    _, envelope = _note_contour(rng, t, n_samples / sample_rate, ("steady",), lo, hi, True, True)
    return noise * np.maximum(envelope, 0.05)


def _harmonic_source(
    rng,
    f0: np.ndarray,
    envelope: np.ndarray,
    voiced: np.ndarray,
    sample_rate: int,
    *,
    speech: bool,
    spectra: Sequence[str],
    max_harmonics: int,
    formants: bool,
    fmax: float,
) -> np.ndarray:
    """The harmonic sound of an f0 contour and note envelope, each ``(n_samples,)``,
    float64 at unit power over the ``voiced`` samples (over all if none is voiced)."""
    n_samples = f0.shape[0]
    # Harmonic synthesis by phase accumulation (as synth.harmonic_tone): phase in cycles,
    # trapezoidal integration of f0, fractional part taken in float64.
    audible = envelope > 0
    lowest = f0[audible].min() if audible.any() else fmax
    n_harmonics = int(max(1, min(max_harmonics, sample_rate / 2 * 0.9 // lowest)))
    # Harmonic amplitudes at control points, linearly interpolated to every sample.
    n_control = n_samples // _CONTROL_HOP + 2
    control = np.minimum(np.arange(n_control) * _CONTROL_HOP, n_samples - 1)  # samples
    if speech:
        base, gain_db = _speech_gains(rng, control / sample_rate, max_harmonics)
    else:
        base, gain_db = _harmonic_gains(rng, spectra, max_harmonics, formants)
    base = base[:n_harmonics]
    harmonics = np.arange(1, n_harmonics + 1)
    step = 0.5 * (f0[1:] + f0[:-1]) / sample_rate
    cycles = rng.uniform() + np.concatenate([[0.0], np.cumsum(step)])
    control_f0 = f0[control]
    frequency = harmonics[:, None] * control_f0[None, :]
    amplitude = base[:, None] * 10 ** (gain_db(frequency) / 20) * (frequency < 0.45 * sample_rate)
    position = np.arange(n_samples) / _CONTROL_HOP
    left = position.astype(int)
    weight = (position - left).astype(np.float32)
    amplitude = amplitude.astype(np.float32)
    amplitude = amplitude[:, left] * (1 - weight) + amplitude[:, left + 1] * weight
    angle = np.outer(harmonics, cycles)
    angle -= np.floor(angle)
    tone = np.einsum(
        "ht,ht->t", amplitude, np.sin((2 * np.pi) * angle.astype(np.float32)), optimize=False
    ).astype(np.float64)
    tone *= envelope
    power = np.mean(tone[voiced] ** 2) if voiced.any() else np.mean(tone**2)
    tone /= max(np.sqrt(power), 1e-12)
    return tone


def _add_noise(rng, tone: np.ndarray, snr_db, p_clean: float, white_noise: bool) -> np.ndarray:
    """``tone`` plus coloured (or white) noise at an SNR drawn from ``snr_db`` (see
    :func:`synthesize_excerpt`); ``tone`` itself when clean."""
    if snr_db is None:
        snr = None
    elif isinstance(snr_db, (int, float)):
        snr = float(snr_db)
    else:
        snr = rng.uniform(*snr_db)
        if rng.random() < p_clean:
            snr = None
    if snr is None:
        return tone
    return tone + _coloured_noise(rng, tone.shape[0], white_noise) * 10 ** (-snr / 20)


def _to_peak(audio: np.ndarray, level: float) -> np.ndarray:
    """``audio`` scaled to a peak of ``level``, as float32."""
    audio *= level / max(np.abs(audio).max(), 1e-12)
    return audio.astype(np.float32)


class SyntheticCorpus(Dataset):
    """Built-in generated corpus of *unlabelled* training excerpts.

    See :func:`synthesize_excerpt` for what an excerpt holds. Item ``i`` depends only on
    ``(seed, i)`` and the options.

    Args:
        length: number of items.
        seconds: excerpt duration in seconds.
        sample_rate: in Hz.
        seed: non-negative int.
        fmin, fmax: f0 range in Hz.
        **options: passed on to :func:`synthesize_excerpt` (``contours``, ``spectra``,
            ``max_harmonics``, ``snr_db``, ``p_clean``, ``p_noise_only``, ``p_silent``,
            ``formants``, ``white_noise``, ``p_speech``).

    Items:
        ``{"audio": float32 tensor (n_samples,)}`` with ``n_samples = round(seconds *
        sample_rate)``, values in [-1, 1]; no label of any kind.

    Example:
        >>> corpus = SyntheticCorpus(length=4, seconds=0.1)
        >>> item = corpus[0]
        >>> sorted(item), item["audio"].shape
        (['audio'], torch.Size([1600]))
    """

    def __init__(
        self,
        length: int = 10000,
        seconds: float = 1.0,
        sample_rate: int = 16000,
        seed: int = 0,
        fmin: float = 50.0,
        fmax: float = 1100.0,
        **options,
    ) -> None:
        _set_excerpt_args(self, length, seconds, sample_rate, seed)
        fmin, fmax = _checks.positive_real("fmin", fmin), _checks.positive_real("fmax", fmax)
        if not fmin < fmax < 0.45 * self.sample_rate:
            raise ValueError(
                f"fmin and fmax must satisfy 0 < fmin < fmax < 0.45 * sample_rate "
                f"({0.45 * self.sample_rate:g} Hz), got fmin={fmin}, fmax={fmax}"
            )
        self.fmin, self.fmax = fmin, fmax
        allowed = {
            "contours",
            "spectra",
            "max_harmonics",
            "snr_db",
            "p_clean",
            "p_noise_only",
            "p_silent",
            "formants",
            "white_noise",
            "p_speech",
        }
        unknown = set(options) - allowed
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        contours = tuple(options.get("contours", CONTOURS))
        if not contours or set(contours) - set(CONTOURS):
            raise ValueError(f"contours must be a non-empty subset of {CONTOURS}, got {contours}")
        spectra = tuple(options.get("spectra", (*SPECTRA, "random")))
        if not spectra or set(spectra) - {*SPECTRA, "random"}:
            raise ValueError(
                f"spectra must be a non-empty subset of {(*SPECTRA, 'random')}, got {spectra}"
            )
        snr_db = options.get("snr_db", (0.0, 40.0))
        if snr_db is not None and not isinstance(snr_db, (int, float)):
            snr_db = _checks.real_range("snr_db", snr_db, unit="dB")
        self.options = {
            "contours": contours,
            "spectra": spectra,
            "max_harmonics": _checks.positive_int(
                "max_harmonics", options.get("max_harmonics", 80)
            ),
            "snr_db": snr_db,
            "p_clean": _checks.probability("p_clean", options.get("p_clean", 0.2)),
            "p_noise_only": _checks.probability("p_noise_only", options.get("p_noise_only", 0.05)),
            "p_silent": _checks.probability("p_silent", options.get("p_silent", 0.03)),
            "formants": bool(options.get("formants", True)),
            "white_noise": bool(options.get("white_noise", False)),
            "p_speech": _checks.probability("p_speech", options.get("p_speech", 0.0)),
        }
        if self.options["p_noise_only"] + self.options["p_silent"] > 1:
            raise ValueError("p_noise_only + p_silent must be at most 1")

    def __len__(self) -> int:
        return self.length

    def _generate(self, index, n_contour: int | None = None) -> dict[str, np.ndarray]:
        index = _checks.index("index", index, self.length)
        return synthesize_excerpt(
            self.seed,
            index,
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            fmin=self.fmin,
            fmax=self.fmax,
            n_contour=n_contour,
            **self.options,
        )

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"audio": torch.from_numpy(self._generate(index)["audio"])}


class LabelledSyntheticSet(SyntheticCorpus):
    """The generated corpus with its exact f0: a validation set to *monitor* training.

    Same generator and options as :class:`SyntheticCorpus` (with the same ``seed`` and
    options, item ``i`` has the same audio); it only keeps the contour. Default
    ``seed=1`` so that it differs from the training corpus.

    Args:
        hop_length: frame hop in samples; frame ``f`` is centred on sample
            ``f * hop_length`` and ``n_frames = frontend.n_frames_for(n_samples, hop_length)``.
        snr_db: ``None`` (clean), a number (fixed SNR in dB) or ``(low, high)``.
        others: as :class:`SyntheticCorpus`.

    Items:
        ``"audio"``: float32 ``(n_samples,)``; ``"f0"``: float32 ``(n_frames,)``, the
        synthesis f0 in Hz at each frame centre, 0 where unvoiced; ``"voiced"``: bool
        ``(n_frames,)``.

    Example:
        >>> item = LabelledSyntheticSet(length=2, seconds=0.1)[0]
        >>> item["f0"].shape, item["voiced"].dtype
        (torch.Size([10]), torch.bool)
    """

    def __init__(
        self,
        length: int = 256,
        seconds: float = 1.0,
        sample_rate: int = 16000,
        seed: int = 1,
        fmin: float = 50.0,
        fmax: float = 1100.0,
        hop_length: int = 160,
        snr_db: float | tuple[float, float] | None = (0.0, 40.0),
        **options,
    ) -> None:
        super().__init__(length, seconds, sample_rate, seed, fmin, fmax, snr_db=snr_db, **options)
        self.hop_length = _checks.positive_int("hop_length", hop_length)
        self.n_frames = n_frames_for(self.n_samples, self.hop_length)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        frames = np.arange(self.n_frames) * self.hop_length
        out = self._generate(index, n_contour=int(frames[-1]) + 1)
        return {
            "audio": torch.from_numpy(out["audio"]),
            "f0": torch.from_numpy(out["f0"][frames].astype(np.float32)),
            "voiced": torch.from_numpy(out["voiced"][frames]),
        }
