"""The excerpt arguments, per-item random streams and excerpt reading shared by the sources."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import _checks


def _set_excerpt_args(dataset, length, seconds, sample_rate, seed) -> None:
    """Check and store what every excerpt dataset takes: ``length`` items of ``seconds``
    at ``sample_rate`` Hz drawn from ``seed``, and the excerpt's length in samples."""
    dataset.length = _checks.positive_int("length", length)
    dataset.seconds = _checks.positive_real("seconds", seconds)
    dataset.sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    dataset.seed = _checks.non_negative_int("seed", seed)
    dataset.n_samples = max(1, round(dataset.seconds * dataset.sample_rate))


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _read_excerpt(
    path: str, frames: int, source_rate: int, start: int, n_samples: int, sample_rate: int
) -> np.ndarray:
    """Mono float32 ``(n_samples,)`` at ``sample_rate`` from ``start`` (source frames)."""
    need = math.ceil(n_samples * source_rate / sample_rate)
    data, _ = sf.read(
        path, start=start, stop=min(start + need, frames), dtype="float32", always_2d=True
    )
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise ValueError(f"{int((~np.isfinite(mono)).sum())} NaN or infinite samples")
    mono = _resample(mono, source_rate, sample_rate)
    out = np.zeros(n_samples, np.float32)
    out[: min(n_samples, mono.size)] = mono[:n_samples]
    return np.clip(out, -1.0, 1.0)


def _resample(audio: np.ndarray, source_rate: float, sample_rate: int) -> np.ndarray:
    """float32 ``audio`` (1-D) resampled from ``source_rate`` to ``sample_rate`` (soxr)."""
    audio = np.asarray(audio, np.float32)
    if source_rate == sample_rate or not audio.size:
        return audio
    import soxr  # optional dependency, imported where it is needed

    return soxr.resample(audio, source_rate, sample_rate).astype(np.float32)


def _write_atomic(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write a float WAV so that concurrent readers (DataLoader workers) never see half a
    file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.wav")
    sf.write(str(partial), audio, sample_rate, subtype="FLOAT")
    os.replace(partial, path)


def _excerpt(rng: np.random.Generator, audio: np.ndarray, n_samples: int) -> np.ndarray:
    """A random ``n_samples`` excerpt of ``audio`` (start drawn from ``rng``), zero-padded
    when ``audio`` is shorter."""
    start = int(rng.integers(0, max(audio.size - n_samples, 0) + 1))
    out = np.zeros(n_samples, np.float32)
    piece = audio[start : start + n_samples]
    out[: piece.size] = piece
    return out
