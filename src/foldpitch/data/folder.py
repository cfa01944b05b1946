"""The user's own audio: random excerpts of the files of a folder or a list."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import _checks
from ._util import _read_excerpt, _rng

# What reading, decoding and resampling a file can raise: soundfile's LibsndfileError (a
# RuntimeError), OSError for the file system, ValueError for NaN samples, empty files or
# soxr's rate checks, EOFError for truncated streams. Anything else (TypeError,
# MemoryError...) is a bug or a real failure and propagates.
_READ_ERRORS = (sf.LibsndfileError, RuntimeError, OSError, ValueError, EOFError)


class AudioFolder(Dataset):
    """Random excerpts of the user's own audio (unlabelled).

    Files are scanned once at construction with ``soundfile.info``; each file that
    cannot be read (or is empty) is skipped with one ``warnings.warn`` naming it and
    counted in :attr:`skipped`. Item ``i`` picks a file (with probability proportional
    to its duration) and an excerpt start from ``numpy.random.default_rng([seed, i])``,
    reads it, averages the channels, resamples to ``sample_rate`` with ``soxr`` and
    zero-pads files shorter than ``seconds``. A file whose header reads but whose
    samples do not (a decoding error, NaN or infinite samples) is skipped the same way
    when an item first reads it -- one warning, counted in :attr:`skipped` (shared by the
    DataLoader workers and the main process) -- and the item comes from the
    next file in the list instead; which file replaces it depends only on ``(seed, i)``
    and which files are unreadable.

    Args:
        source: a folder (searched recursively for files whose extension soundfile
            knows, or those in ``extensions``), a text file listing one audio path per
            line (blank lines and ``#`` comments ignored; relative paths are relative to
            the list file), or a sequence of paths.
        seconds: excerpt duration in seconds.
        sample_rate: target rate in Hz.
        length: number of items; default: total duration / ``seconds``, rounded up.
        seed: non-negative int.
        extensions: file extensions (without dot, case-insensitive) to look for in a
            folder; default: all formats of ``soundfile.available_formats()``.
        part: ``(start, end)`` fractions of each file's duration, ``0 <= start < end <=
            1``: excerpts are drawn only from that stretch of every file (zero-padded
            where it is shorter than ``seconds``). Two folders with ``(0, 0.8)`` and
            ``(0.8, 1)`` never share a sample: a held-back part of the same recordings.

    Items:
        ``{"audio": float32 tensor (n_samples,)}``, ``n_samples = round(seconds *
        sample_rate)``.

    Raises:
        ValueError: ``source`` does not exist, or holds no readable audio (the message
            names the path).
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        seconds: float = 1.0,
        sample_rate: int = 16000,
        length: int | None = None,
        seed: int = 0,
        extensions: Sequence[str] | None = None,
        part: Sequence[float] = (0.0, 1.0),
    ) -> None:
        self.part = _check_part(part)
        self.seconds = _checks.positive_real("seconds", seconds)
        self.sample_rate = _checks.sample_rate("sample_rate", sample_rate)
        self.seed = _checks.non_negative_int("seed", seed)
        self.n_samples = max(1, round(self.seconds * self.sample_rate))
        if extensions is None:
            extensions = [*sf.available_formats(), "aif", "aiff", "oga", "opus"]
        extensions = {e.lower().lstrip(".") for e in extensions}

        if isinstance(source, (str, os.PathLike)):
            self.source = str(source)
            root = Path(source)
            if root.is_dir():
                candidates = sorted(
                    p
                    for p in root.rglob("*")
                    if p.is_file() and p.suffix.lower().lstrip(".") in extensions
                )
            elif root.is_file():
                lines = root.read_text().splitlines()
                candidates = []
                for line in lines:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        path = Path(line).expanduser()
                        candidates.append(path if path.is_absolute() else root.parent / path)
            else:
                raise ValueError(
                    f"source must be an existing folder or list file, got {self.source!r}"
                )
        else:
            candidates = [Path(p) for p in source]
            self.source = f"<list of {len(candidates)} paths>"

        self._scan_skipped = 0
        self.files: list[tuple[str, int, int]] = []  # (path, frames, sample rate)
        for path in candidates:
            try:
                info = sf.info(str(path))
                if info.frames <= 0:
                    raise ValueError("no audio frames")
            except _READ_ERRORS as error:
                warnings.warn(
                    f"skipping unreadable audio file {str(path)!r}: {error}", stacklevel=2
                )
                self._scan_skipped += 1
                continue
            self.files.append((str(path), int(info.frames), int(info.samplerate)))
        if not self.files:
            raise ValueError(
                f"no readable audio found in {self.source!r} ({len(candidates)} candidate "
                f"file(s), {self._scan_skipped} unreadable)"
            )
        # Files whose samples failed to read, in shared memory: DataLoader workers mark
        # them too, so every process skips them and :attr:`skipped` counts them all.
        self._unreadable = torch.zeros(len(self.files), dtype=torch.bool).share_memory_()
        durations = np.array([frames / rate for _, frames, rate in self.files])
        self.total_seconds = float(durations.sum())
        self._weights = durations / durations.sum()
        if length is None:
            length = max(1, math.ceil(self.total_seconds / self.seconds))
        self.length = _checks.positive_int("length", length)

    @property
    def skipped(self) -> int:
        """Unreadable files found so far: by the scan, and by any process reading items
        (DataLoader workers included)."""
        return self._scan_skipped + int(self._unreadable.sum())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, self.length)
        rng = _rng(self.seed, index)
        first = int(rng.choice(len(self.files), p=self._weights))
        for attempt in range(len(self.files)):
            position = (first + attempt) % len(self.files)
            path, frames, rate = self.files[position]
            excerpt = math.ceil(self.seconds * rate)
            low = math.floor(self.part[0] * frames)
            frames = max(low + 1, math.floor(self.part[1] * frames))  # never read past the part
            # Drawn even for a file known to be unreadable: the draws, hence the item,
            # do not depend on when that was found out.
            start = low + int(rng.integers(0, max(frames - low - excerpt, 0) + 1))
            if self._unreadable[position]:
                continue
            try:
                audio = _read_excerpt(path, frames, rate, start, self.n_samples, self.sample_rate)
            except _READ_ERRORS as error:
                self._unreadable[position] = True
                warnings.warn(f"skipping unreadable audio file {path!r}: {error}", stacklevel=2)
                continue
            return {"audio": torch.from_numpy(audio)}
        raise RuntimeError(
            f"none of the {len(self.files)} audio files of {self.source!r} could be read"
        )


def _check_part(part) -> tuple[float, float]:
    """``part`` as ``(start, end)`` floats with ``0 <= start < end <= 1``."""
    try:
        start, end = (float(value) for value in part)
    except (TypeError, ValueError):
        raise TypeError(f"part must be two fractions (start, end), got {part!r}") from None
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(f"part must satisfy 0 <= start < end <= 1, got {part!r}")
    return start, end
