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

__all__ = ["atomic_output", "read_audio", "write_track_csv"]


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
