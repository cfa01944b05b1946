"""Speech with an exactly known f0, by WORLD analysis and resynthesis.

The method of MDB-stem-synth (Salamon et al., "An analysis/synthesis framework for
automatic f0 annotation of multitrack datasets", ISMIR 2017): analyse real or
synthetic speech with WORLD (``pyworld``), clean the f0 track, and resynthesise the
speech from that f0 with WORLD's own spectral envelope and aperiodicity. The f0 handed
to the synthesiser **is** the ground truth of the new recording, voicing included.

Sources (all resampled to 16 kHz with soxr before the analysis):

- ``arctic``: the CMU ARCTIC utterance ``arctic_a0007`` that pysptk ships
  (``pysptk.util.example_audio_file()``, a male speaker, 4 s; f0 80-165 Hz after the
  clean-up below), at its own pitch.
- ``arctic-shifted``: the same analysis resynthesised with the f0 multiplied by
  ``2 ** (k / 12)`` for ``k`` in :data:`ARCTIC_SHIFTS` (the spectral envelope, hence the
  formants, unchanged).
- ``espeak``: one sentence per voice of :data:`ESPEAK_VOICES` (English, German, French,
  Spanish; male and female variants) from the ``espeak-ng`` command. Where
  ``espeak-ng`` is not installed this part is skipped and :func:`missing_parts` says so.

Analysis (:func:`analyse`): ``pyworld.harvest`` at a 5 ms frame period searching
50-800 Hz, then the f0 is cleaned on that 5 ms grid:

1. frames more than :data:`SILENCE_DB` below the loudest frame are unvoiced;
2. octave errors are folded back: a frame 1 or 2 octaves (+-3 semitones) away from the
   median of the voiced frames within +-150 ms is moved by that many octaves, and a
   frame still more than half an octave away is unvoiced;
3. unvoiced gaps of up to 10 ms inside voiced speech are filled (log-linear), and voiced
   runs shorter than 30 ms are dropped;

then ``pyworld.cheaptrick`` and ``pyworld.d4c`` run with the cleaned f0. Frames that
D4C declares aperiodic (aperiodicity 1 in every band: WORLD synthesises them as pure
noise) are unvoiced, and step 3's run-length rule is applied again.

Synthesis (:func:`resynthesise`): the f0 times ``2 ** (k / 12)``; frames outside
:data:`~benchmarks.accuracy.data.F0_RANGE` (60-1000 Hz) are unvoiced and short runs
dropped again; ``pyworld.synthesize`` at the same 5 ms frame period; peak normalised
to 0.5.

Ground truth: WORLD reads the f0 at frame ``i`` at time ``i * 5 ms`` exactly (it
interpolates linearly between frames), so the 10 ms grid ``0, 0.01, 0.02, ...`` of the
harness is every other frame, ``f0[::2]``, with 0 where unvoiced. Caveat: next to an
unvoiced frame WORLD interpolates the f0 towards 0 for half a frame (2.5 ms) before it
switches voicing off, so the last (and first) cycle of a voiced stretch is slightly
longer than its label says: this concerns the first and last voiced frame of each
stretch only.

What the labels measure: the excitation (pulse) rate. A tracker measures the period of
the waveform, and WORLD gives every pulse a minimum-phase response from the spectral
envelope of its moment, so a moving envelope moves the waveform's period a little: with
a constant 150 Hz f0 and the ARCTIC envelope, the fine pitch error was 7.5 cents for
Praat, 13 for Harvest and 5 for SWIPE, against 2 cents for Harvest and SWIPE with a
flat envelope (where Harvest followed a 2 octave/s contour to 0.2 cents, median). So on
this set the fine pitch error has a floor of several cents; RPA, voicing and gross
errors are what it measures best.

Noise: white noise at the given SNR over the whole clip, the signal power measured over
the voiced samples (as for the tones, where it is measured over the notes), from
:func:`benchmarks.accuracy.data._with_noise`, seeded by ``(seed, clip name)``.

Determinism: WORLD's analysis and synthesis are deterministic (its noise generator is
reseeded on every synthesis), espeak-ng's output is fixed for a given version, and the
noise is seeded, so the same arguments give bit-identical clips. Nothing is written to
the repository: espeak-ng writes into a temporary directory that is removed at once.
Building the whole set (about 50 s of speech per condition) takes about 10-20 s.
"""

from __future__ import annotations

import importlib.metadata
import math
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .data import F0_RANGE, HOP_SECONDS, SAMPLE_RATE, Clip, _with_noise

__all__ = [
    "ARCTIC_SHIFTS",
    "DEV_VOICES",
    "ESPEAK_VOICES",
    "FRAME_PERIOD_MS",
    "LIVELY_CONTOUR_SCALE",
    "PARTS",
    "SPEECH_KINDS",
    "SPEECH_SNRS",
    "Analysis",
    "analyse",
    "build_speech_clips",
    "data_versions",
    "missing_parts",
    "quick_speech_clips",
    "resynthesise",
    "scaled_contour",
]

SPEECH_SNRS: tuple[float | None, ...] = (None, 10.0)
ARCTIC_SHIFTS = (0, -4, 3, 7, 12)  # semitones; 0 is the recording's own pitch
ESPEAK_VOICES: tuple[tuple[str, str], ...] = (
    ("en-us", "Pitch tracking is easy when the voice is steady and the room is quiet."),
    ("en-us+f3", "Would you like a cup of tea before we walk down to the river?"),
    # espeak-ng ignores a variant after "en-gb": British English is "en" here
    ("en", "The quick brown fox jumps over the lazy dog, doesn't it?"),
    ("en+f4", "She sells sea shells on the sea shore every summer morning."),
    ("de", "Der schnelle braune Fuchs springt über den faulen Hund."),
    ("de+f2", "Können Sie mir bitte sagen, wie spät es jetzt ist?"),
    ("fr", "Le vif renard brun saute par-dessus le chien paresseux."),
    ("fr+f2", "Est-ce que vous avez vu le petit oiseau dans le jardin?"),
    ("es", "El veloz murciélago hindú comía feliz cardillo y kiwi."),
    ("es+f3", "¿Dónde está la estación de tren más cercana, por favor?"),
)
DEV_VOICES: tuple[tuple[str, str], ...] = (
    ("it", "Il treno per Milano parte alle otto e mezza di mattina."),
    ("it+f2", "Mi scusi, sa dirmi dove si trova la biblioteca comunale?"),
    ("pt", "O rato roeu a roupa do rei de Roma ontem à noite."),
    ("pt+f4", "Você gostaria de caminhar até a praia depois do almoço?"),
    ("nl", "De kat zat rustig op de vensterbank naar de regen te kijken."),
    ("nl+m2", "Waarom ben je gisteren niet naar het feest gekomen?"),
    ("pl", "W Szczebrzeszynie chrząszcz brzmi w trzcinie, i z tego słynie."),
    ("sv+f1", "Hur mycket kostar en biljett till Stockholm i morgon?"),
    ("en-us+m3", "Nobody expected the meeting to run so late on a Friday."),
    ("en+f2", "Could you please close the window, it is getting rather cold?"),
)
"""The held-out speech set (``--sets speech-dev``): other voices and sentences than
:data:`ESPEAK_VOICES`, for choosing settings without looking at the benchmark."""
DEV_SEED = 7  # seeds its noise, apart from the benchmark's
LIVELY_CONTOUR_SCALE = 2.0
"""``--sets speech-dev-lively``: the held-out set with each f0 contour's excursions
around its median (in log frequency) doubled before the resynthesis, so its glides are
twice as fast and wide: espeak-ng's intonation is slower than recorded speech's."""
PARTS = ("arctic", "espeak")
SPEECH_KINDS = ("arctic", "arctic-shifted", "espeak")

FRAME_PERIOD_MS = 5.0  # WORLD's frame period, analysis and synthesis
ANALYSIS_F0_RANGE = (50.0, 800.0)  # harvest's search range on the source speech, Hz
SILENCE_DB = 40.0  # frames this far below the loudest frame are unvoiced
LEVEL_WINDOW_SECONDS = 0.02  # window of the frame level
OCTAVE_WINDOW_SECONDS = 0.3  # the median that octave errors are folded towards
MAX_GAP_SECONDS = 0.01  # unvoiced gaps up to this long are filled
MIN_VOICED_SECONDS = 0.03  # voiced runs shorter than this are dropped
PEAK = 0.5  # peak amplitude of the clean resynthesis
ESPEAK = "espeak-ng"


def _frames(seconds: float) -> int:
    return max(1, int(round(seconds * 1000 / FRAME_PERIOD_MS)))


# ------------------------------------------------------------------------ availability


def _import_pyworld():
    from .methods import _guard_pkg_resources

    _guard_pkg_resources()  # pyworld 0.3.5 imports pkg_resources at top level
    import pyworld

    return pyworld


def _import_error(module: str) -> str | None:
    try:
        if module == "pyworld":
            _import_pyworld()
        else:
            from .methods import _guard_pkg_resources

            _guard_pkg_resources()
            __import__(module)
    except Exception as error:  # ImportError, or a broken binary extension
        return f"cannot import {module}: {type(error).__name__}: {error}"
    return None


def missing_parts() -> dict[str, str]:
    """The parts of the set (:data:`PARTS`) that cannot be built here, with the reason.

    ``{}`` when everything is available, e.g. ``{"espeak": "espeak-ng not found on
    PATH"}`` on a machine without espeak-ng.
    """
    missing = {}
    needs = {"arctic": ("pyworld", "soxr", "pysptk"), "espeak": ("pyworld", "soxr")}
    for part, modules in needs.items():
        reasons = [r for r in map(_import_error, modules) if r]
        if part == "espeak" and shutil.which(ESPEAK) is None:
            reasons.append(f"{ESPEAK} not found on PATH")
        if reasons:
            missing[part] = "; ".join(reasons)
    return missing


def data_versions() -> str:
    """``"pyworld 0.3.5, espeak-ng 1.51, ..."``: what the speech set was built with."""
    parts = []
    for dist in ("pyworld", "pysptk", "soxr"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    if shutil.which(ESPEAK):
        try:
            text = subprocess.run(
                [ESPEAK, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            version = text.split("text-to-speech:")[-1].split()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            version = "(version unknown)"
        parts.append(f"{ESPEAK} {version}")
    else:
        parts.append(f"{ESPEAK} (not installed)")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- sources


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    import soxr

    audio = np.asarray(audio, dtype=np.float64)
    return audio if rate == target else soxr.resample(audio, rate, target)


def _read_wav(path, sample_rate: int) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return _resample(audio.mean(axis=1), rate, sample_rate)


def arctic_audio(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The CMU ARCTIC utterance shipped by pysptk, float64 ``(N,)`` at ``sample_rate``."""
    from .methods import _guard_pkg_resources

    _guard_pkg_resources()  # pysptk 1.0.1 finds its example file with pkg_resources
    import pysptk

    return _read_wav(pysptk.util.example_audio_file(), sample_rate)


def espeak_audio(voice: str, text: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng's ``voice``, float64 ``(N,)`` at ``sample_rate``."""
    executable = shutil.which(ESPEAK)
    if executable is None:
        raise RuntimeError(f"{ESPEAK} not found on PATH (needed for voice {voice!r})")
    with tempfile.TemporaryDirectory(prefix="foldpitch-espeak-") as folder:
        path = Path(folder) / "speech.wav"
        result = subprocess.run(
            [executable, "-v", voice, "-w", str(path), text],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0 or not path.is_file():
            raise RuntimeError(
                f"{ESPEAK} -v {voice} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return _read_wav(path, sample_rate)


# ---------------------------------------------------------------------- f0 clean-up


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in a boolean ``(n,)`` array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def drop_short_runs(f0: np.ndarray, min_frames: int) -> np.ndarray:
    """Unvoice (set to 0) every voiced run of fewer than ``min_frames`` frames."""
    f0 = f0.copy()
    for start, stop in _runs(f0 > 0):
        if stop - start < min_frames:
            f0[start:stop] = 0.0
    return f0


def fill_short_gaps(f0: np.ndarray, max_frames: int) -> np.ndarray:
    """Fill unvoiced gaps of at most ``max_frames`` frames between voiced frames,
    linearly in log f0."""
    f0 = f0.copy()
    for start, stop in _runs(f0 <= 0):
        if start > 0 and stop < len(f0) and stop - start <= max_frames:
            left, right = math.log2(f0[start - 1]), math.log2(f0[stop])
            share = np.arange(1, stop - start + 1) / (stop - start + 1)
            f0[start:stop] = 2.0 ** (left + (right - left) * share)
    return f0


def fold_octave_errors(f0: np.ndarray, window_frames: int) -> np.ndarray:
    """Move frames that are 1 or 2 octaves (+-3 semitones) away from the median of the
    voiced frames around them (``window_frames`` wide) by that many octaves; unvoice
    frames that then remain more than half an octave away."""
    voiced = f0 > 0
    if not voiced.any():
        return f0.copy()
    log = np.where(voiced, np.log2(np.where(voiced, f0, 1.0)), np.nan)
    half = window_frames // 2
    padded = np.pad(log, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():  # windows without a voiced frame: NaN, as wanted
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = np.nanmedian(windows, axis=1)
    octaves = np.round(log - reference)
    near_octave = np.abs(log - reference - octaves) < 0.25
    octaves = np.where(voiced & near_octave & (np.abs(octaves) <= 2), octaves, 0.0)
    keep = voiced & (np.abs(log - octaves - reference) <= 0.5)
    return np.where(keep, f0 * 2.0**-octaves, 0.0)


def frame_levels_db(audio: np.ndarray, sample_rate: int, n_frames: int) -> np.ndarray:
    """RMS level in dB over :data:`LEVEL_WINDOW_SECONDS` around each 5 ms frame time."""
    hop = FRAME_PERIOD_MS / 1000 * sample_rate
    half = LEVEL_WINDOW_SECONDS * sample_rate / 2
    power = np.concatenate([[0.0], np.cumsum(np.asarray(audio, dtype=np.float64) ** 2)])
    centre = np.arange(n_frames) * hop
    lower = np.clip(np.round(centre - half).astype(int), 0, len(audio))
    upper = np.clip(np.round(centre + half).astype(int), 0, len(audio))
    mean = (power[upper] - power[lower]) / np.maximum(upper - lower, 1)
    return 10 * np.log10(mean + 1e-20)


def clean_f0(f0: np.ndarray, levels_db: np.ndarray) -> np.ndarray:
    """Steps 1-3 of the module doc on a 5 ms f0 track (Hz, 0 = unvoiced)."""
    f0 = np.where(levels_db >= levels_db.max() - SILENCE_DB, f0, 0.0)
    f0 = fold_octave_errors(f0, _frames(OCTAVE_WINDOW_SECONDS))
    f0 = fill_short_gaps(f0, _frames(MAX_GAP_SECONDS))
    return drop_short_runs(f0, _frames(MIN_VOICED_SECONDS))


# ---------------------------------------------------------------- analysis, synthesis


@dataclass(frozen=True, eq=False)
class Analysis:
    """WORLD parameters of one utterance on the 5 ms frame grid.

    Attributes:
        f0_hz: float64 ``(F,)``, the cleaned f0, 0 where unvoiced.
        spectrogram: float64 ``(F, fft_size // 2 + 1)``, CheapTrick's envelope.
        aperiodicity: float64 ``(F, fft_size // 2 + 1)``, D4C's band aperiodicity.
        sample_rate: Hz.
    """

    f0_hz: np.ndarray
    spectrogram: np.ndarray
    aperiodicity: np.ndarray
    sample_rate: int


def analyse(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Analysis:
    """WORLD analysis with the clean-up of the module doc.

    Args:
        audio: mono ``(N,)`` at ``sample_rate`` (Hz).
    """
    pyworld = _import_pyworld()
    x = np.ascontiguousarray(audio, dtype=np.float64)
    if x.ndim != 1 or len(x) < sample_rate // 10:
        raise ValueError(f"audio must be mono (N,) with N >= 0.1 s, got shape {x.shape}")
    floor, ceiling = ANALYSIS_F0_RANGE
    raw, times = pyworld.harvest(
        x, sample_rate, f0_floor=floor, f0_ceil=ceiling, frame_period=FRAME_PERIOD_MS
    )
    f0 = clean_f0(raw, frame_levels_db(x, sample_rate, len(raw)))
    spectrogram = pyworld.cheaptrick(x, f0, times, sample_rate, f0_floor=floor)
    fft_size = 2 * (spectrogram.shape[1] - 1)
    aperiodicity = pyworld.d4c(x, f0, times, sample_rate, fft_size=fft_size)
    noise_only = aperiodicity.min(axis=1) > 0.999  # D4C's "unvoiced": synthesised as noise
    f0 = drop_short_runs(np.where(noise_only, 0.0, f0), _frames(MIN_VOICED_SECONDS))
    return Analysis(f0, spectrogram, aperiodicity, sample_rate)


def scaled_contour(analysis: Analysis, scale: float) -> Analysis:
    """``analysis`` with its voiced f0 moved ``scale`` times as far from its median, in
    log frequency (``scale=1`` returns it unchanged); the label is the new contour."""
    f0 = analysis.f0_hz.copy()
    voiced = f0 > 0
    if scale != 1 and voiced.any():
        centre = np.median(np.log2(f0[voiced]))
        f0[voiced] = 2.0 ** (centre + scale * (np.log2(f0[voiced]) - centre))
    return replace(analysis, f0_hz=f0)


def shifted_f0(analysis: Analysis, semitones: float) -> np.ndarray:
    """The f0 the synthesiser gets: ``analysis.f0_hz * 2 ** (semitones / 12)``, unvoiced
    outside :data:`~benchmarks.accuracy.data.F0_RANGE`, short runs dropped. 5 ms grid."""
    f0 = analysis.f0_hz * 2.0 ** (semitones / 12)
    low, high = F0_RANGE
    f0 = np.where((f0 >= low) & (f0 <= high), f0, 0.0)
    return drop_short_runs(f0, _frames(MIN_VOICED_SECONDS))


def resynthesise(
    analysis: Analysis, semitones: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resynthesise with the f0 shifted by ``semitones``.

    Returns:
        ``(audio, times, f0_hz)``: float32 ``(N,)`` peak-normalised audio, and its ground
        truth on the 10 ms grid: float64 ``(T,)`` times ``0, 0.01, ...`` and f0 in Hz, 0
        where unvoiced. ``N = 5 ms * F * sample_rate``, ``T = ceil(F / 2)``.
    """
    pyworld = _import_pyworld()
    f0 = shifted_f0(analysis, semitones)
    audio = pyworld.synthesize(
        f0, analysis.spectrogram, analysis.aperiodicity, analysis.sample_rate, FRAME_PERIOD_MS
    )
    peak = float(np.abs(audio).max())
    audio = (audio * (PEAK / peak if peak > 0 else 1.0)).astype(np.float32)
    step = int(round(HOP_SECONDS * 1000 / FRAME_PERIOD_MS))  # 2 frames per 10 ms
    truth = f0[::step].copy()
    times = np.arange(len(truth)) * HOP_SECONDS
    return audio, times, truth


def _voiced_samples(f0_frames: np.ndarray, n_samples: int, sample_rate: int) -> np.ndarray:
    """Boolean ``(n_samples,)``: the sample's nearest 5 ms frame is voiced."""
    hop = FRAME_PERIOD_MS / 1000 * sample_rate
    frame = np.clip(np.round(np.arange(n_samples) / hop).astype(int), 0, len(f0_frames) - 1)
    return f0_frames[frame] > 0


# -------------------------------------------------------------------------------- set


def _noise_label(snr_db: float | None) -> str:
    return "clean" if snr_db is None else f"{snr_db:g}dB"


def _clips_of(
    analysis: Analysis,
    kind: str,
    stem: str,
    variant: str,
    semitones: float,
    snrs: Sequence[float | None],
    seed: int,
    set_name: str,
) -> list[Clip]:
    audio, times, truth = resynthesise(analysis, semitones)
    if not (truth > 0).any():
        raise ValueError(f"{stem}: no voiced frame left after the clean-up")
    voiced = _voiced_samples(shifted_f0(analysis, semitones), len(audio), analysis.sample_rate)
    clips = []
    for snr in snrs:
        name = f"{stem}-{_noise_label(snr)}"
        noisy = audio if snr is None else _with_noise(audio, voiced, snr, seed, name)
        clips.append(
            Clip(name, kind, noisy, analysis.sample_rate, times, truth, snr, variant, set_name)
        )
    return clips


def _crop(audio: np.ndarray, sample_rate: int, max_seconds: float | None) -> np.ndarray:
    if max_seconds is None:
        return audio
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive (seconds) or None, got {max_seconds}")
    return audio[: int(round(max_seconds * sample_rate))]


def build_speech_clips(
    snrs: Iterable[float | None] = SPEECH_SNRS,
    *,
    parts: Iterable[str] = PARTS,
    shifts: Iterable[float] = ARCTIC_SHIFTS,
    voices: Iterable[tuple[str, str]] = ESPEAK_VOICES,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    require: bool = False,
    set_name: str = "speech",
    contour_scale: float = 1.0,
) -> list[Clip]:
    """The speech set: every source variant x SNR (``None`` = clean), see the module doc.

    Args:
        snrs: SNRs in dB of the added white noise, ``None`` for clean.
        parts: which of :data:`PARTS` to build.
        shifts: semitone shifts of the ARCTIC utterance (0: kind ``arctic``, others:
            ``arctic-shifted``).
        voices: ``(espeak-ng voice, text)`` pairs.
        seed: seeds the noise.
        sample_rate: Hz, of the clips and of the analysis.
        max_seconds: crop every source to this many seconds before the analysis (for
            quick tests); ``None`` keeps it whole.
        require: raise ``RuntimeError`` when a requested part cannot be built; by
            default it is skipped, and :func:`missing_parts` gives the reason.
        set_name: the clips' ``set`` (``"speech-dev"`` for the held-out set).
        contour_scale: each analysed f0 contour's excursions around its median are
            multiplied by this (:func:`scaled_contour`) before the resynthesis; 1 keeps
            them as analysed.

    Returns:
        :class:`~benchmarks.accuracy.data.Clip` objects with ``set == set_name``,
        ``kind`` one of :data:`SPEECH_KINDS` and ``spectrum`` the variant (``"+3st"``, or
        the espeak-ng voice); names like ``arctic+3st-10dB``, ``espeak-de+f2-clean``.
    """
    snrs, parts = tuple(snrs), tuple(parts)
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"parts must be among {PARTS}, got {part!r}")
    missing = missing_parts()
    clips: list[Clip] = []
    for part in parts:
        if part in missing:
            if require:
                raise RuntimeError(f"speech set, part {part!r}: {missing[part]}")
            continue
        if part == "arctic":
            audio = _crop(arctic_audio(sample_rate), sample_rate, max_seconds)
            analysis = scaled_contour(analyse(audio, sample_rate), contour_scale)
            for shift in shifts:
                kind = "arctic" if shift == 0 else "arctic-shifted"
                variant = f"{shift:+g}st"
                stem = "arctic" + variant
                clips += _clips_of(analysis, kind, stem, variant, shift, snrs, seed, set_name)
        else:
            for voice, text in voices:
                audio = _crop(espeak_audio(voice, text, sample_rate), sample_rate, max_seconds)
                analysis = scaled_contour(analyse(audio, sample_rate), contour_scale)
                stem = f"espeak-{voice}"
                clips += _clips_of(analysis, "espeak", stem, voice, 0, snrs, seed, set_name)
    return clips


QUICK_SECONDS = 2.0


def quick_speech_clips(seed: int = 0) -> list[Clip]:
    """A small speech set for smoke runs: the first 2 s of the ARCTIC utterance at its own
    pitch and 7 semitones up, and of the ``en-us+f3`` espeak-ng sentence (where espeak-ng
    is installed); clean and 10 dB. At most 6 clips, 12 s of audio, built in ~2 s."""
    voices = tuple(v for v in ESPEAK_VOICES if v[0] == "en-us+f3")
    return build_speech_clips(
        SPEECH_SNRS, shifts=(0, 7), voices=voices, seed=seed, max_seconds=QUICK_SECONDS
    )
