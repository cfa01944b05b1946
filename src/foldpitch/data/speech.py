"""Speech synthesisers: espeak-ng utterances (unlabelled)."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ._util import _check_index, _check_int, _check_positive, _read_excerpt, _rng

_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven bright singers hum along "
    "morning rain falls softly on old green hills and rivers carry music to the sea "
    "people often whisper numbers one two three four five six yesterday tomorrow "
    "beautiful orange yellow window garden pitch voice sound listen really hello"
).split()
_VOICES = ("en", "en-us", "de", "fr", "es", "it", "pt", "nl", "pl", "sv")
_VARIANTS = ("", "+m1", "+m3", "+f1", "+f2", "+f4", "+croak", "+klatt")


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on ``PATH``."""
    return shutil.which("espeak-ng") is not None


class EspeakSpeech(Dataset):
    """Short synthetic utterances from ``espeak-ng`` (unlabelled speech).

    Item ``i`` draws 2-8 words from a built-in list, a voice from ``voices`` (with a
    random variant), a speaking rate (120-220 words/min) and a pitch (0-99) from
    ``numpy.random.default_rng([seed, i])``, synthesises it once to a WAV in
    ``cache_dir`` (``espeak-ng -w``), then loads, averages channels, resamples to
    ``sample_rate`` and takes a random excerpt of ``seconds`` (zero-padded if shorter).

    Args:
        length: number of items.
        seconds: excerpt duration in seconds.
        sample_rate: in Hz.
        seed: non-negative int.
        cache_dir: where WAVs are kept; default ``<tmp>/foldpitch-espeak``.
        voices: espeak-ng voice names.

    Items:
        ``{"audio": float32 tensor (n_samples,)}``.

    Raises:
        RuntimeError: ``espeak-ng`` is not installed (install it with
            ``apt-get install espeak-ng``).
    """

    def __init__(
        self,
        length: int = 1000,
        seconds: float = 1.0,
        sample_rate: int = 16000,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        voices: Sequence[str] = _VOICES,
    ) -> None:
        if not espeak_available():
            raise RuntimeError(
                "EspeakSpeech needs the espeak-ng program, which was not found on PATH; "
                "install it with `apt-get install espeak-ng` (Debian/Ubuntu), "
                "`brew install espeak-ng` (macOS) or from https://github.com/espeak-ng"
            )
        self.length = _check_int("length", length, 1)
        self.seconds = _check_positive("seconds", seconds)
        self.sample_rate = _check_int("sample_rate", sample_rate, 1)
        self.seed = _check_int("seed", seed, 0)
        self.n_samples = max(1, round(self.seconds * self.sample_rate))
        self.voices = tuple(voices)
        if not self.voices:
            raise ValueError("voices must name at least one espeak-ng voice")
        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "foldpitch-espeak"
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return self.length

    def _utterance(self, rng: np.random.Generator) -> tuple[str, list[str]]:
        words = rng.choice(_WORDS, size=int(rng.integers(2, 9)))
        text = " ".join(words)
        voice = self.voices[rng.integers(len(self.voices))]
        voice += _VARIANTS[rng.integers(len(_VARIANTS))]
        args = [
            "-v",
            voice,
            "-s",
            str(int(rng.integers(120, 221))),
            "-p",
            str(int(rng.integers(0, 100))),
        ]
        return text, args

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _check_index(index, self.length)
        rng = _rng(self.seed, index)
        text, args = self._utterance(rng)
        key = hashlib.sha1(" ".join([*args, text]).encode()).hexdigest()[:16]
        path = self.cache_dir / f"{key}.wav"
        if not path.exists():
            partial = self.cache_dir / f"{key}.{os.getpid()}.tmp.wav"
            result = subprocess.run(
                ["espeak-ng", *args, "-w", str(partial), text],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not partial.exists():
                raise RuntimeError(
                    f"espeak-ng failed (exit {result.returncode}) for {args} {text!r}: "
                    f"{result.stderr.strip()}"
                )
            os.replace(partial, path)  # atomic: concurrent workers never see half a file
        info = sf.info(str(path))
        excerpt = math.ceil(self.seconds * info.samplerate)
        start = int(rng.integers(0, max(info.frames - excerpt, 0) + 1))
        audio = _read_excerpt(
            str(path), info.frames, info.samplerate, start, self.n_samples, self.sample_rate
        )
        return {"audio": torch.from_numpy(audio)}
