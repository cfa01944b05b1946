"""Audio in, pitch tracks out."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "atomic_output",
    "npy_paths",
    "read_audio",
    "write_track_csv",
    "write_track_json",
    "write_track_npy",
]


def read_audio(path: str | Path) -> tuple[Tensor, int]:
    """Read an audio file as a mono float32 tensor ``(time,)`` and its sample rate.

    Any format libsndfile reads (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1, ...).
    Multi-channel audio is downmixed by averaging the channels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported format or a corrupt file, or a file without samples
            (the message names the file).
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for unreadable input
        raise ValueError(
            f"cannot read {path} as audio (unsupported format or corrupt file): {error}"
        ) from error
    if data.shape[0] == 0:
        raise ValueError(f"{path} contains no samples")
    return torch.from_numpy(np.ascontiguousarray(data.mean(axis=1))), int(sample_rate)


def write_track_csv(path: str | Path, times, f0, periodicity, voiced) -> None:
    """Write ``time,frequency,periodicity,voiced`` rows (seconds, Hz, [0, 1], 0/1).

    Written through :func:`atomic_output`, so a crash never leaves a half-written CSV
    behind.
    """
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["time", "frequency", "periodicity", "voiced"])
        columns = (times.tolist(), f0.tolist(), periodicity.tolist(), voiced.tolist())
        for time, frequency, periodic, voice in zip(*columns, strict=True):
            writer.writerow([f"{time:.4f}", f"{frequency:.4f}", f"{periodic:.4f}", int(voice)])


def write_track_json(path: str | Path, times, f0, periodicity, voiced) -> None:
    """Write ``{"time": [...], "frequency": [...], "periodicity": [...], "voiced": [...]}``
    (seconds, Hz, [0, 1], booleans) through :func:`atomic_output`."""
    import json

    data = {
        "time": [round(value, 6) for value in times.tolist()],
        "frequency": [round(value, 4) for value in f0.tolist()],
        "periodicity": [round(value, 4) for value in periodicity.tolist()],
        "voiced": [bool(value) for value in voiced.tolist()],
    }
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        json.dump(data, stream)


def npy_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """The three files :func:`write_track_npy` writes for ``path`` (``NAME.f0.npy``):
    ``NAME.f0.npy``, ``NAME.periodicity.npy``, ``NAME.voiced.npy``."""
    path = Path(path)
    stem = path.name.removesuffix(".npy").removesuffix(".f0")
    return path, path.with_name(f"{stem}.periodicity.npy"), path.with_name(f"{stem}.voiced.npy")


def write_track_npy(path: str | Path, f0, periodicity, voiced) -> None:
    """Write a track as numpy arrays ``(n_frames,)``, as training pipelines read them:
    ``NAME.f0.npy`` (f0 in Hz, float32, **NaN in unvoiced frames**),
    ``NAME.periodicity.npy`` (float32 in ``[0, 1]``) and ``NAME.voiced.npy`` (bool); see
    :func:`npy_paths`. Frame ``k`` is at ``k * hop`` seconds. Each file goes through
    :func:`atomic_output`, the f0 last, so an f0 file means the other two are there."""
    f0_path, periodicity_path, voiced_path = npy_paths(path)
    voiced = np.asarray(voiced, dtype=bool)
    f0 = np.where(voiced, np.asarray(f0, dtype=np.float32), np.float32(np.nan))
    arrays = (
        (periodicity_path, np.asarray(periodicity, dtype=np.float32)),
        (voiced_path, voiced),
        (f0_path, f0.astype(np.float32)),
    )
    for target, array in arrays:
        with atomic_output(target) as temporary:
            np.save(temporary, array, allow_pickle=False)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers that go by the suffix
    pick the right format); when the block ends without an error it replaces ``path``,
    otherwise it is removed. A crash never leaves a half-written ``path`` behind.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_output(target) as temporary:
        ...     _ = temporary.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}"
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
