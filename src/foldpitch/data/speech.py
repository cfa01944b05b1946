"""Speech synthesisers: espeak-ng (a formant synthesiser) and Festival voices built from
recordings of real speakers (unlabelled).

:func:`render_festival` speaks a text with an allow-listed Festival voice
(:data:`FESTIVAL_VOICES`, an allow-list: :func:`check_festival_voice` refuses any other voice)
at a chosen speaking rate and pitch; :class:`FestivalSpeech` draws seeded sentences
(:mod:`foldpitch.data._texts`), rates and pitch settings per item and caches the renders;
:class:`EspeakSpeech` does the same with espeak-ng. Which voices train, and which are kept
for dev and test sets, is :data:`foldpitch.data.splits.SPLITS`.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import _checks
from . import _texts
from ._util import (
    _excerpt,
    _read_excerpt,
    _resample,
    _rng,
    _set_excerpt_args,
    _write_atomic,
)

__all__ = [
    "FESTIVAL_VOICES",
    "EspeakSpeech",
    "FestivalSpeech",
    "FestivalVoice",
    "check_festival_voice",
    "espeak_available",
    "festival_available",
    "render_festival",
]

_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven bright singers hum along "
    "morning rain falls softly on old green hills and rivers carry music to the sea "
    "people often whisper numbers one two three four five six yesterday tomorrow "
    "beautiful orange yellow window garden pitch voice sound listen really hello"
).split()
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
        voices: espeak-ng voice names; default: the languages of the train split
            (:func:`foldpitch.data.splits.espeak_languages`), none of which the accuracy
            benchmark's speech uses.

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
        voices: Sequence[str] | None = None,
    ) -> None:
        if voices is None:
            from .splits import espeak_languages  # splits reads this module's table

            voices = espeak_languages("train")
        if not espeak_available():
            raise RuntimeError(
                "EspeakSpeech needs the espeak-ng program, which was not found on PATH; "
                "install it with `apt-get install espeak-ng` (Debian/Ubuntu), "
                "`brew install espeak-ng` (macOS) or from https://github.com/espeak-ng"
            )
        _set_excerpt_args(self, length, seconds, sample_rate, seed)
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
        index = _checks.index("index", index, self.length)
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


@dataclass(frozen=True)
class FestivalVoice:
    """A Festival voice: its ``language`` (a key of the word lists), the ``encoding`` its
    text front end reads, its waveform ``engine`` (``"diphone"``: the pitch settings move
    the intonation targets; ``"hts"``: the HTS engine generates its own f0 and
    ignores Festival's targets (and its ``-fm`` shift, tried), so only the rate applies;
    ``"clunits"``: unit selection, which plays the recorded pitch: only the rate) and
    the Debian packages that provide it."""

    language: str
    encoding: str
    engine: str
    package: str


FESTIVAL_VOICES: dict[str, FestivalVoice] = {
    "upc_ca_ona_hts": FestivalVoice("catalan", "latin-1", "hts", "festvox-ca-ona-hts"),
    "czech_dita": FestivalVoice("czech", "iso-8859-2", "diphone", "festvox-czech-dita"),
    "czech_krb": FestivalVoice("czech", "iso-8859-2", "diphone", "festvox-czech-krb"),
    "czech_machac": FestivalVoice("czech", "iso-8859-2", "diphone", "festvox-czech-machac"),
    "czech_ph": FestivalVoice("czech", "iso-8859-2", "diphone", "festvox-czech-ph"),
    "hy_fi_mv_diphone": FestivalVoice("finnish", "latin-1", "diphone", "festvox-suopuhe-mv"),
    "suo_fi_lj_diphone": FestivalVoice("finnish", "latin-1", "diphone", "festvox-suopuhe-lj"),
    "hindi_NSK_diphone": FestivalVoice("hindi", "utf-8", "diphone", "festvox-hi-nsk festival-hi"),
    "marathi_NSK_diphone": FestivalVoice(
        "marathi", "utf-8", "diphone", "festvox-mr-nsk festival-mr"
    ),
    "telugu_NSK_diphone": FestivalVoice("telugu", "utf-8", "diphone", "festvox-te-nsk festival-te"),
    "lp_diphone": FestivalVoice("italian", "latin-1", "diphone", "festvox-italp16k"),
    "pc_diphone": FestivalVoice("italian", "latin-1", "diphone", "festvox-itapc16k"),
    "msu_ru_nsh_clunits": FestivalVoice("russian", "utf-8", "clunits", "festvox-ru"),
    "ked_diphone": FestivalVoice("english", "latin-1", "diphone", "festvox-kdlpc16k"),
}
"""The Festival voices this project may use, and the only ones (each built from one real
speaker's recordings; the three NSK voices are one speaker). An allow-list: any other
voice, Festival's default included, is refused (some installed voices are kept for
independent evaluation)."""

_RENDER_VERSION = 2  # part of the cache key: bumped when the Scheme below changes

# Scales the intonation targets of diphone voices around their mean:
# f0' = shift * (mean + range * (f0 - mean)), kept in 40-450 Hz (the diphone voices'
# resynthesis crashed, exit -11, on targets near 600 Hz).
_FESTIVAL_PITCH = """
(set! fp_orig_Int_Targets Int_Targets)
(define (Int_Targets utt)
  (let ((r (fp_orig_Int_Targets utt))
        (targets (utt.relation.items utt 'Target))
        (total 0) (count 0))
    (mapcar (lambda (tg) (set! total (+ total (item.feat tg "f0"))) (set! count (+ count 1)))
            targets)
    (if (> count 0)
        (let ((mean (/ total count)))
          (mapcar
           (lambda (tg)
             (let ((f0 (* fp_f0_shift (+ mean (* fp_f0_range (- (item.feat tg "f0") mean))))))
               (item.set_feat tg "f0" (if (< f0 40) 40 (if (> f0 450) 450 f0)))))
           targets)))
    r))
"""


def festival_available() -> bool:
    """Whether Festival's ``text2wave`` program is on ``PATH``."""
    return shutil.which("text2wave") is not None


def check_festival_voice(voice: str) -> FestivalVoice:
    """The table entry of ``voice`` if it is on the allow-list :data:`FESTIVAL_VOICES`.

    Raises:
        TypeError: ``voice`` is not a string.
        ValueError: ``voice`` is not in :data:`FESTIVAL_VOICES` (exact name).
    """
    if not isinstance(voice, str):
        raise TypeError(f"voice must be a Festival voice name (str), got {voice!r}")
    if voice not in FESTIVAL_VOICES:
        raise ValueError(
            f"voice {voice!r} is not on the allow-list of Festival voices; voice must be "
            f"one of {sorted(FESTIVAL_VOICES)}"
        )
    return FESTIVAL_VOICES[voice]


def render_festival(
    text: str,
    voice: str,
    *,
    sample_rate: int = 16000,
    stretch: float = 1.0,
    f0_shift: float = 1.0,
    f0_range: float = 1.0,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Speak ``text`` with Festival's ``voice`` (``text2wave``), resampled to ``sample_rate``.

    Args:
        text: what to say, in the voice's language (see :data:`FESTIVAL_VOICES`).
        voice: an allowed voice name (:func:`check_festival_voice`).
        sample_rate: output rate in Hz (the voices render at 16-44.1 kHz; soxr resamples).
        stretch: Festival's ``Duration_Stretch`` (> 1: slower speech); the HTS voice
            takes its inverse as the engine's speed.
        f0_shift: factor on the voice's f0 (diphone voices, on their intonation
            targets; the HTS and clunits voices keep their own pitch).
        f0_range: factor on the targets' excursions around their mean (diphone voices
            only). The scaled targets are kept within 40-450 Hz.
        cache_dir: keep the render as ``<cache_dir>/<key>.wav`` (key: a hash of every
            argument) and read it from there next time; ``None``: no cache.

    Returns:
        float32 ``(n_samples,)``, mono, in [-1, 1].

    Raises:
        RuntimeError: ``text2wave`` is missing or fails.
        ValueError: a voice off the allow-list, empty text, bad settings.

    Example:
        >>> audio = render_festival("Dobrý den.", "czech_dita")  # doctest: +SKIP
    """
    entry = check_festival_voice(voice)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    stretch = _checks.positive_real("stretch", stretch)
    f0_shift = _checks.positive_real("f0_shift", f0_shift)
    f0_range = _checks.positive_real("f0_range", f0_range)
    if not festival_available():
        raise RuntimeError(
            "render_festival needs Festival's text2wave program, which was not found on "
            f"PATH; install it with `apt-get install festival {entry.package}`"
        )
    cached = None
    if cache_dir is not None:
        key = repr((_RENDER_VERSION, text, voice, sample_rate, stretch, f0_shift, f0_range))
        cached = Path(cache_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.wav"
        if cached.exists():
            return sf.read(str(cached), dtype="float32")[0]
    if entry.engine == "hts":
        settings = (
            "(set! hts_engine_params (append hts_engine_params (list "
            f'(list "-r" {1 / stretch:.6f}))))'
        )
    else:
        settings = (
            f"(begin (Parameter.set 'Duration_Stretch {stretch:.6f}) "
            f"(set! fp_f0_shift {f0_shift:.6f}) (set! fp_f0_range {f0_range:.6f}))"
        )
    with tempfile.TemporaryDirectory(prefix="foldpitch-festival-") as tmp:
        text_path, wav, pitch = Path(tmp) / "text.txt", Path(tmp) / "out.wav", Path(tmp) / "p.scm"
        text_path.write_bytes(text.encode(entry.encoding, errors="replace"))
        pitch.write_text(_FESTIVAL_PITCH)
        command = ["text2wave", "-eval", f"(voice_{voice})", "-eval", settings]
        if entry.engine != "hts":
            command += ["-eval", str(pitch)]
        result = subprocess.run(
            [*command, str(text_path), "-o", str(wav)],
            capture_output=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            stderr = result.stderr.decode("utf-8", errors="replace").strip()[-500:]
            raise RuntimeError(
                f"text2wave failed (exit {result.returncode}) with voice {voice!r} on "
                f"{text!r}: {stderr}"
            )
        data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = np.clip(_resample(data.mean(axis=1), rate, sample_rate), -1.0, 1.0)
    if cached is not None:
        _write_atomic(cached, audio, sample_rate)
    return audio


class FestivalSpeech(Dataset):
    """Excerpts of Festival voices of real speakers (unlabelled speech).

    A pool of ``n_utterances`` utterances: utterance ``u`` draws a voice from ``voices``,
    a sentence of 3-12 words in its language (:func:`foldpitch.data._texts.sentence`), a
    speaking rate (``Duration_Stretch`` from ``stretch``) and pitch settings (``f0_shift``
    and ``f0_range`` factors, log-uniform in the given ranges) from
    ``numpy.random.default_rng([seed, u, 3])``, and is rendered once with
    :func:`render_festival` into ``cache_dir`` (fill the cache beforehand with
    ``python scripts/prepare_corpus.py``; a missing render is made when first needed).
    Item ``i`` picks an utterance and an excerpt start from
    ``numpy.random.default_rng([seed, i])``; excerpts are zero-padded when the utterance
    is shorter. An utterance that Festival fails to render is skipped with a warning and
    the next one in the pool is used. With ``resample`` other than ``(1, 1)``, item ``i``
    draws a ratio ``r`` (log-uniform, from ``numpy.random.default_rng([seed, i, 4])``)
    and its utterance is played ``r`` times faster before the excerpt is cut: f0 and
    formants both scaled by ``r``, as from a speaker with a shorter (``r > 1``) or longer
    vocal tract, so a few voices stand for many.

    Args:
        length: number of items.
        seconds: excerpt duration in seconds.
        sample_rate: in Hz.
        seed: non-negative int.
        voices: allowed Festival voices; default: the train split's
            (:func:`foldpitch.data.splits.festival_voices`).
        n_utterances: size of the pool.
        stretch, f0_shift, f0_range: ``(low, high)`` ranges of the settings of
            :func:`render_festival`.
        resample: ``(low, high)`` range of the playback-rate ratio of each item (see
            above); ``(1, 1)``, the default, leaves the renders as they are.
        cache_dir: where renders are kept; default ``<tmp>/foldpitch-festival``.

    Items:
        ``{"audio": float32 tensor (n_samples,)}``.

    Raises:
        RuntimeError: Festival is not installed.
        ValueError: a voice off the allow-list.
    """

    def __init__(
        self,
        length: int = 1000,
        seconds: float = 1.0,
        sample_rate: int = 16000,
        seed: int = 0,
        voices: Sequence[str] | None = None,
        n_utterances: int = 1000,
        stretch: Sequence[float] = (0.8, 1.3),
        f0_shift: Sequence[float] = (0.75, 1.35),
        f0_range: Sequence[float] = (0.6, 1.8),
        resample: Sequence[float] = (1.0, 1.0),
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if voices is None:
            from .splits import festival_voices  # splits reads this module's table

            voices = festival_voices("train")
        self.voices = tuple(voices)
        if not self.voices:
            raise ValueError("voices must name at least one Festival voice")
        for voice in self.voices:
            check_festival_voice(voice)
        if not festival_available():
            raise RuntimeError(
                "FestivalSpeech needs Festival's text2wave program, which was not found on "
                "PATH; install it with `apt-get install festival` and the voice packages "
                "of foldpitch.data.speech.FESTIVAL_VOICES"
            )
        _set_excerpt_args(self, length, seconds, sample_rate, seed)
        self.n_utterances = _checks.positive_int("n_utterances", n_utterances)
        self.ranges = {
            name: _checks.real_range(name, value, positive=True)
            for name, value in zip(
                ("stretch", "f0_shift", "f0_range"), (stretch, f0_shift, f0_range), strict=True
            )
        }
        self.resample = _checks.real_range("resample", resample, positive=True)
        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "foldpitch-festival"
        self.cache_dir = Path(cache_dir)

    def __len__(self) -> int:
        return self.length

    def utterance(self, u: int) -> dict:
        """The settings of utterance ``u``: keyword arguments of :func:`render_festival`."""
        rng = np.random.default_rng([self.seed, _checks.index("index", u, self.n_utterances), 3])
        voice = self.voices[rng.integers(len(self.voices))]
        text = _texts.sentence(rng, FESTIVAL_VOICES[voice].language)
        settings = {
            name: float(np.exp(rng.uniform(np.log(low), np.log(high))))
            for name, (low, high) in self.ranges.items()
        }
        return {"text": text, "voice": voice, **settings}

    def render(self, u: int) -> np.ndarray:
        """Utterance ``u``'s audio, float32 at ``sample_rate`` (rendered once, cached)."""
        return render_festival(
            **self.utterance(u), sample_rate=self.sample_rate, cache_dir=self.cache_dir
        )

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, self.length)
        rng = _rng(self.seed, index)
        first = int(rng.integers(self.n_utterances))
        for attempt in range(self.n_utterances):
            u = (first + attempt) % self.n_utterances
            try:
                audio = self.render(u)
            except RuntimeError as error:  # one sentence Festival cannot say: the next one
                warnings.warn(f"FestivalSpeech: skipping utterance {u}: {error}", stacklevel=2)
                continue
            low, high = self.resample
            if (low, high) != (1.0, 1.0):
                ratio = np.exp(
                    np.random.default_rng([self.seed, index, 4]).uniform(np.log(low), np.log(high))
                )
                audio = played_faster(audio, float(ratio), self.sample_rate)
            return {"audio": torch.from_numpy(_excerpt(rng, audio, self.n_samples))}
        raise RuntimeError(f"FestivalSpeech: none of the {self.n_utterances} utterances rendered")


def played_faster(audio: np.ndarray, ratio: float, sample_rate: int) -> np.ndarray:
    """``audio`` (float32 ``(n,)`` at ``sample_rate``) played ``ratio`` times faster,
    at the same rate: about ``n / ratio`` samples, every frequency times ``ratio``."""
    _checks.positive_real("ratio", ratio)
    return _resample(audio, sample_rate * ratio, sample_rate)  # as if sampled ratio x faster
