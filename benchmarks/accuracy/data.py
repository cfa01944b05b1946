"""Synthetic test clips with an exactly known f0, for the accuracy benchmark.

Every clip is a harmonic tone from :func:`foldpitch.synth.harmonic_tone` (phase
accumulation, so the instantaneous f0 at every sample is exact), shaped by note
envelopes (raised-cosine attacks and releases) with silences around and between the
notes, optionally plus white noise.

Kinds (each clip is 1.5 s at 16 kHz by default):

- ``steady``: one note of constant f0, 1 s long.
- ``vibrato``: one 1 s note with sinusoidal vibrato, 5-7 Hz, +-50-150 cents.
- ``glide``: one 1 s note gliding exponentially up or down at 2, 1 or 0.5 octaves/s
  (cycled over the f0 index, so every set with at least one glide has a 2 octave/s one).
- ``jumps``: four 0.3 s notes; the 1st->2nd and 3rd->4th changes are instant jumps
  (continuous phase), the 2nd and 3rd notes are separated by an 80 ms silence; the
  intervals are 3, 5, 7, 12 or 19 semitones up or down.

f0 stays within :data:`F0_RANGE` (60-1000 Hz) throughout, vibrato and glides included.
The nominal f0 of clip ``i`` of ``n_f0`` is spread geometrically over the part of that
range the kind allows (``i / (n_f0 - 1)`` of the way, the middle when ``n_f0 == 1``).
Spectra are those of :data:`foldpitch.synth.SPECTRA`: ``1/h``, ``odd`` (odd harmonics
only), ``weak_fundamental``, ``missing_fundamental`` and ``sine`` (the fundamental
alone); every harmonic of the spectrum below Nyquist is present.

Ground truth is on a 10 ms grid starting at 0: the f0 at the sample nearest each frame
time, and 0 (unvoiced) wherever the note envelope is exactly 0 there (silences, and the
first and last sample of each note). Attacks and releases count as voiced while the
amplitude is above 0.

Noise: white Gaussian noise over the whole clip (silences included) at the given SNR,
where the signal power is the mean power over the samples where the envelope is above 0
(so the SNR does not depend on how much silence the clip has).

Determinism: all random choices (onset times, attack and release lengths, vibrato
rate/depth/phase, glide direction, jump intervals, starting phase) come from a
generator seeded by ``(seed, kind, n_f0, f0 index)``; the noise from one seeded by
``(seed, clip name)``. So the same arguments give bit-identical clips, a clip does not
change when other kinds, spectra or SNRs are added to or removed from the set, and the
spectra of one contour share the same contour and envelope.

Speech with a known f0 (WORLD analysis/resynthesis) is the other set of the benchmark:
:mod:`benchmarks.accuracy.speech`. Both give :class:`Clip` objects; ``Clip.set`` tells
them apart.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from foldpitch import synth

__all__ = [
    "Clip",
    "F0_RANGE",
    "HOP_SECONDS",
    "KINDS",
    "SAMPLE_RATE",
    "SNRS",
    "SPECTRA",
    "build_clips",
    "make_clip",
    "quick_clips",
]

SAMPLE_RATE = 16000
HOP_SECONDS = 0.01
F0_RANGE = (60.0, 1000.0)
KINDS = ("steady", "vibrato", "glide", "jumps")
SNRS: tuple[float | None, ...] = (None, 20.0, 10.0, 0.0)
SPECTRA = synth.SPECTRA

CLIP_SECONDS = 1.5
NOTE_SECONDS = 1.0  # steady, vibrato and glide
GLIDE_RATES = (2.0, 1.0, 0.5)  # octaves per second, cycled over the f0 index
JUMP_NOTE_SECONDS = 0.3
JUMP_GAP_SECONDS = 0.08
JUMP_INTERVALS = (3, 5, 7, 12, 19)  # semitones, up or down


@dataclass(frozen=True, eq=False)
class Clip:
    """One test clip and its ground truth.

    Attributes:
        name: unique, e.g. ``"vibrato-245Hz-1/h-10dB"``: kind, nominal f0 (the steady
            f0, the vibrato centre, the geometric centre of a glide, the first note of
            jumps), spectrum, SNR.
        kind: the clip type within its set: one of :data:`KINDS` for tones, of
            :data:`benchmarks.accuracy.speech.SPEECH_KINDS` for speech.
        audio: float32 ``(N,)``.
        sample_rate: Hz.
        times: float64 ``(T,)``, frame times in seconds, ``0, 0.01, 0.02, ...``.
        f0_hz: float64 ``(T,)``, the exact f0 at each frame time, 0 where unvoiced.
        snr_db: the SNR of the added white noise, ``None`` for a clean clip.
        spectrum: tones: one of :data:`SPECTRA`; speech: the source's variant (the
            semitone shift of the ARCTIC utterance, e.g. ``"+3st"``, or the espeak-ng
            voice).
        set: ``"tones"`` (this module) or ``"speech"``.
    """

    name: str
    kind: str
    audio: np.ndarray
    sample_rate: int
    times: np.ndarray
    f0_hz: np.ndarray
    snr_db: float | None
    spectrum: str
    set: str = "tones"

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / self.sample_rate

    @property
    def voiced(self) -> np.ndarray:
        """Boolean ``(T,)``: ground-truth voicing."""
        return self.f0_hz > 0


def _stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (unlike ``hash`` of a string)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def _geometric(low: float, high: float, u: float) -> float:
    return low * (high / low) ** u


def _position(index: int, n_f0: int) -> float:
    if not 0 <= index < n_f0:
        raise ValueError(f"f0 index {index} out of range for n_f0={n_f0}")
    return 0.5 if n_f0 == 1 else index / (n_f0 - 1)


def _add_note(envelope: np.ndarray, start: int, stop: int, attack: int, release: int) -> None:
    """Raised-cosine note envelope on samples ``start..stop-1``: 0 at both ends, 1 between.

    The first and last sample are exactly 0 (so unvoiced in the ground truth).
    """
    attack = max(2, min(attack, (stop - start) // 2))
    release = max(2, min(release, (stop - start) // 2))
    note = np.ones(stop - start)
    note[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    note[-release:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
    envelope[start:stop] = note


def _contour(
    kind: str, index: int, n_f0: int, rng: np.random.Generator, sample_rate: int, n: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """f0 per sample (float64, held through silences), envelope per sample, nominal f0."""
    low, high = F0_RANGE
    position = _position(index, n_f0)
    f0 = np.empty(n)
    envelope = np.zeros(n)

    def seconds(x: float) -> int:
        return int(round(x * sample_rate))

    def attack_release() -> tuple[int, int]:
        return seconds(rng.uniform(0.005, 0.05)), seconds(rng.uniform(0.02, 0.1))

    if kind in ("steady", "vibrato", "glide"):
        start = seconds(rng.uniform(0.15, 0.25))
        stop = start + seconds(NOTE_SECONDS)
        _add_note(envelope, start, stop, *attack_release())
        m = stop - start
        if kind == "steady":
            nominal = _geometric(low, high, position)
            note = np.full(m, nominal)
        elif kind == "vibrato":
            rate = rng.uniform(5.0, 7.0)
            depth = rng.uniform(50.0, 150.0)
            margin = 2 ** (depth / 1200)
            nominal = _geometric(low * margin, high / margin, position)
            offset = int(rng.integers(sample_rate))  # random vibrato phase
            note = synth.vibrato_f0(nominal, rate, depth, sample_rate, offset + m)
            note = note.numpy()[offset:]
        else:
            rate = GLIDE_RATES[index % len(GLIDE_RATES)] * (1 if rng.random() < 0.5 else -1)
            span = abs(rate) * (m - 1) / sample_rate  # octaves covered by the note
            nominal = _geometric(low * 2 ** (span / 2), high / 2 ** (span / 2), position)
            start_hz = nominal * 2 ** (-rate * (m - 1) / sample_rate / 2)
            note = synth.glide_f0(start_hz, rate, sample_rate, m).numpy()
        f0[:start] = note[0]
        f0[start:stop] = note
        f0[stop:] = note[-1]
        return f0, envelope, nominal

    if kind == "jumps":
        nominal = _geometric(low, high, position)
        pitches = [nominal]
        for _ in range(3):
            candidates = [
                pitches[-1] * 2 ** (sign * step / 12)
                for step in JUMP_INTERVALS
                for sign in (-1, 1)
                if low <= pitches[-1] * 2 ** (sign * step / 12) <= high
            ]
            pitches.append(candidates[int(rng.integers(len(candidates)))])
        note_len = seconds(JUMP_NOTE_SECONDS)
        gap = seconds(JUMP_GAP_SECONDS)
        start = seconds(rng.uniform(0.1, 0.15))
        # notes 1-2 legato, silence, notes 3-4 legato
        bounds = [
            (start, start + 2 * note_len),
            (start + 2 * note_len + gap, start + 4 * note_len + gap),
        ]
        for a, b in bounds:
            _add_note(envelope, a, b, *attack_release())
        edges = [
            0,
            start + note_len,
            start + 2 * note_len + gap // 2,
            start + 3 * note_len + gap,
            n,
        ]
        for pitch, a, b in zip(pitches, edges[:-1], edges[1:], strict=True):
            f0[a:b] = pitch
        return f0, envelope, nominal

    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _render_clean(
    kind: str,
    f0_index: int,
    n_f0: int,
    spectrum: str,
    seed: int,
    sample_rate: int,
    n_harmonics: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Clean audio, frame times, frame f0 ground truth, envelope, nominal f0."""
    rng = np.random.default_rng(_stable_seed(seed, kind, n_f0, f0_index))
    n = int(round(CLIP_SECONDS * sample_rate))
    f0, envelope, nominal = _contour(kind, f0_index, n_f0, rng, sample_rate, n)
    if n_harmonics is None:  # every harmonic that is below Nyquist anywhere in the clip
        n_harmonics = max(1, int(sample_rate / 2 / f0.min()))
    tone = synth.harmonic_tone(
        torch.from_numpy(f0),
        sample_rate,
        spectrum=spectrum,
        n_harmonics=n_harmonics,
        phase=float(rng.random()),
    ).numpy()
    audio = (tone * envelope).astype(np.float32)
    hop = int(round(HOP_SECONDS * sample_rate))
    frames = np.arange(0, n, hop)
    times = frames / sample_rate
    truth = np.where(envelope[frames] > 0, f0[frames], 0.0)
    return audio, times, truth, envelope, nominal


def _clip_name(kind: str, nominal: float, spectrum: str, snr_db: float | None) -> str:
    noise = "clean" if snr_db is None else f"{snr_db:g}dB"
    return f"{kind}-{nominal:.0f}Hz-{spectrum}-{noise}"


def _with_noise(
    audio: np.ndarray, envelope: np.ndarray, snr_db: float, seed: int, name: str
) -> np.ndarray:
    active = envelope > 0
    whole_power = float(np.mean(audio.astype(np.float64) ** 2))
    active_power = float(np.mean(audio[active].astype(np.float64) ** 2))
    # synth.add_noise measures the signal power over the whole clip: correct for silences
    effective_snr = snr_db + 10 * math.log10(whole_power / active_power)
    generator = torch.Generator().manual_seed(_stable_seed(seed, name))
    noisy = synth.add_noise(torch.from_numpy(audio), effective_snr, generator=generator)
    return noisy.numpy()


def make_clip(
    kind: str,
    f0_index: int = 0,
    n_f0: int = 1,
    spectrum: str = "1/h",
    snr_db: float | None = None,
    *,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    n_harmonics: int | None = None,
) -> Clip:
    """One clip: ``f0_index`` of ``n_f0`` nominal f0s of ``kind`` (see the module doc).

    ``n_harmonics=1`` gives a pure tone (the spectrum's fundamental must then be
    present), used to check the ground truth.
    """
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum must be one of {SPECTRA}, got {spectrum!r}")
    audio, times, truth, envelope, nominal = _render_clean(
        kind, f0_index, n_f0, spectrum, seed, sample_rate, n_harmonics
    )
    name = _clip_name(kind, nominal, spectrum, snr_db)
    if snr_db is not None:
        audio = _with_noise(audio, envelope, snr_db, seed, name)
    return Clip(name, kind, audio, sample_rate, times, truth, snr_db, spectrum)


def build_clips(
    kinds: Iterable[str] = KINDS,
    snrs: Iterable[float | None] = SNRS,
    spectra: Iterable[str] = SPECTRA,
    n_f0: int = 4,
    *,
    f0_indices: Iterable[int] | None = None,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> list[Clip]:
    """The synthetic set: every kind x nominal f0 x spectrum x SNR (``None`` = clean).

    ``f0_indices`` picks a subset of the ``n_f0`` nominal f0s (default: all); the clips
    are the same as in the full set. The default (4 kinds, 4 f0s, 5 spectra, 4 SNRs) is
    320 clips, 480 s of audio, built in a few seconds.
    """
    kinds, snrs, spectra = tuple(kinds), tuple(snrs), tuple(spectra)
    indices = tuple(range(n_f0)) if f0_indices is None else tuple(f0_indices)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    clips = []
    for kind in kinds:
        for index in indices:
            for spectrum in spectra:
                audio, times, truth, envelope, nominal = _render_clean(
                    kind, index, n_f0, spectrum, seed, sample_rate, None
                )
                for snr in snrs:
                    name = _clip_name(kind, nominal, spectrum, snr)
                    noisy = audio if snr is None else _with_noise(audio, envelope, snr, seed, name)
                    clips.append(Clip(name, kind, noisy, sample_rate, times, truth, snr, spectrum))
    return clips


QUICK_SNRS: Sequence[float | None] = (None, 10.0)


def quick_clips(seed: int = 0) -> list[Clip]:
    """A small set for smoke runs: a subset of the default set.

    Every kind, the two middle of the 4 nominal f0s (e.g. 153 and 391 Hz for the steady
    notes), ``1/h`` spectrum, clean and 10 dB: 16 clips, 24 s of audio.
    """
    return build_clips(KINDS, QUICK_SNRS, ("1/h",), n_f0=4, f0_indices=(1, 2), seed=seed)
