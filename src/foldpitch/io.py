"""Audio in, pitch tracks out."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["read_audio", "write_track_csv"]


def read_audio(path: str | Path) -> tuple[Tensor, int]:
    """Read an audio file as a mono float32 tensor ``(time,)`` and its sample rate.

    Any format libsndfile reads (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1, ...).
    Multi-channel audio is downmixed by averaging the channels.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for unreadable input
        raise ValueError(f"cannot read {path} as audio: {error}") from error
    if data.shape[0] == 0:
        raise ValueError(f"{path} contains no samples")
    return torch.from_numpy(np.ascontiguousarray(data.mean(axis=1))), int(sample_rate)


def write_track_csv(path: str | Path, times, f0, periodicity, voiced) -> None:
    """Write ``time,frequency,periodicity,voiced`` rows (seconds, Hz, [0, 1], 0/1).

    Written to a temporary file in the same folder and renamed, so a crash never
    leaves a half-written CSV behind.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["time", "frequency", "periodicity", "voiced"])
            columns = (times.tolist(), f0.tolist(), periodicity.tolist(), voiced.tolist())
            for time, frequency, periodic, voice in zip(*columns, strict=True):
                writer.writerow([f"{time:.4f}", f"{frequency:.4f}", f"{periodic:.4f}", int(voice)])
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
