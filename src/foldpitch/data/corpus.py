"""The realistic training corpus: every source mixed, in rooms and noise (unlabelled).

:func:`realistic_corpus` builds the training set of ``configs/data/realistic.yaml``:
generated tones, espeak-ng speech, Festival voices of real speakers and soundfont
instrument lines (train split of :mod:`foldpitch.data.splits` only), in simulated rooms
(:class:`~foldpitch.data.rooms.Reverb`) and under coloured noise, babble made from the
speech corpus itself and background music from the instrument renders
(:class:`~foldpitch.data.rooms.AddNoise` with backgrounds). The fold loss reads the dry,
noiseless excerpt (``"clean"``); the network hears the degraded one.

A source whose program is missing (Festival, fluidsynth and its soundfonts, espeak-ng,
pyroomacoustics) is skipped with a warning that names it and how to install it; its
share goes to the others, so training still runs. :func:`prepare_corpus` (``python
scripts/prepare_corpus.py``) renders the pools of utterances, lines and rooms into the
cache beforehand, with a progress bar; what is not prepared is rendered when first
needed (slowly, in the DataLoader workers).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset

from .. import _checks
from .rooms import AddNoise, Babble, Reverb
from .soundfont import SoundfontMelodies
from .speech import EspeakSpeech, FestivalSpeech
from .splits import espeak_languages, festival_voices, programs
from .tones import SyntheticCorpus

__all__ = ["DEFAULT_SHARES", "default_cache_dir", "prepare_corpus", "realistic_corpus"]

DEFAULT_SHARES = {"tones": 0.3, "espeak": 0.15, "festival": 0.3, "soundfont": 0.25}
"""Fractions of the items from each source (renormalised over the available ones)."""

_BACKGROUND_SEED = 1_000_003  # added to the seed of the babble and music pools


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/foldpitch/corpus`` (``~/.cache/foldpitch/corpus``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "foldpitch" / "corpus"


def _sources(
    length: int,
    seconds: float,
    sample_rate: int,
    seed: int,
    fmin: float,
    fmax: float,
    cache_dir: Path,
    shares: Mapping[str, float],
    n_utterances: int,
    n_lines: int,
    backgrounds: bool,
    festival_resample: Sequence[float] = (1.0, 1.0),
) -> tuple[dict[str, Dataset], list[Dataset]]:
    """The available sources with their item counts, and the background datasets; one
    warning per missing source."""
    shares = {name: float(share) for name, share in shares.items()}
    unknown = set(shares) - set(DEFAULT_SHARES)
    if unknown or any(share < 0 for share in shares.values()) or not sum(shares.values()) > 0:
        raise ValueError(
            f"shares must map some of {sorted(DEFAULT_SHARES)} to non-negative fractions "
            f"with a positive sum, got {dict(shares)}"
        )
    common = {"seconds": seconds, "sample_rate": sample_rate}
    builders = {
        "tones": lambda n, s, pool=None: SyntheticCorpus(
            n, seed=s, fmin=fmin, fmax=fmax, p_speech=0.3, snr_db=None, **common
        ),
        "espeak": lambda n, s, pool=None: EspeakSpeech(
            n,
            seed=s,
            voices=espeak_languages("train"),
            cache_dir=cache_dir / "espeak",
            **common,
        ),
        "festival": lambda n, s, pool=n_utterances: FestivalSpeech(
            n,
            seed=s,
            voices=festival_voices("train"),
            n_utterances=pool,
            resample=festival_resample,
            cache_dir=cache_dir / "festival",
            **common,
        ),
        "soundfont": lambda n, s, pool=n_lines: SoundfontMelodies(
            n,
            seed=s,
            programs=programs("train"),
            n_lines=pool,
            fmin=fmin,
            fmax=fmax,
            cache_dir=cache_dir / "soundfont",
            **common,
        ),
    }
    available: dict[str, Dataset] = {}
    for name, share in shares.items():
        if share <= 0:
            continue
        try:
            available[name] = builders[name](1, seed)
        except RuntimeError as error:  # a missing program: the others still train
            warnings.warn(f"realistic corpus: skipping the {name} source: {error}", stacklevel=3)
    if not available:
        raise RuntimeError("realistic corpus: none of the sources is available")
    total = sum(shares[name] for name in available)
    sources = {
        name: builders[name](max(1, round(length * shares[name] / total)), seed)
        for name in available
    }
    extra = []
    if backgrounds:
        speech = next((n for n in ("festival", "espeak") if n in available), None)
        if speech is not None:  # babble from other utterances of the same voices
            pool = builders[speech](
                max(1, length // 10), seed + _BACKGROUND_SEED, max(1, n_utterances // 4)
            )
            extra.append(Babble(pool, seed=seed))
        if "soundfont" in available:
            extra.append(
                builders["soundfont"](
                    max(1, length // 10), seed + _BACKGROUND_SEED, max(1, n_lines // 4)
                )
            )
    return sources, extra


def realistic_corpus(
    length: int = 200_000,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    seed: int = 0,
    fmin: float = 50.0,
    fmax: float = 1100.0,
    cache_dir: str | os.PathLike | None = None,
    shares: Mapping[str, float] = DEFAULT_SHARES,
    n_utterances: int = 1000,
    n_lines: int = 600,
    n_rooms: int = 64,
    p_reverb: float = 0.4,
    rt60: Sequence[float] = (0.2, 1.0),
    snr_db: float | Sequence[float] = (0.0, 40.0),
    p_clean: float = 0.2,
    p_background: float = 0.5,
    festival_resample: Sequence[float] = (1.0, 1.0),
) -> Dataset:
    """The realistic unlabelled training set (see the module docstring).

    Args:
        length: number of items, split among the sources by ``shares``.
        seconds, sample_rate: excerpt duration (s) and rate (Hz).
        seed: non-negative int; every source, room and noise draw derives from it.
        fmin, fmax: f0 range in Hz of the tones and instrument lines.
        cache_dir: renders and rooms; default :func:`default_cache_dir`.
        shares: fraction of items per source (``tones``, ``espeak``, ``festival``,
            ``soundfont``); missing sources' shares go to the others.
        n_utterances: Festival utterances in the pool.
        n_lines: soundfont lines (8 s each) in the pool.
        n_rooms, p_reverb, rt60: :class:`~foldpitch.data.rooms.Reverb`'s pool of rooms,
            probability of a room and RT60 range (s); without pyroomacoustics, no rooms.
        snr_db, p_clean, p_background: :class:`~foldpitch.data.rooms.AddNoise`'s SNR
            range (dB), probability of no noise, and probability that the noise is
            babble or music rather than coloured noise.
        festival_resample: ``(low, high)`` playback-rate ratios of the Festival excerpts
            (:class:`~foldpitch.data.speech.FestivalSpeech`'s ``resample``: more voices
            from the few installed); ``(1, 1)`` leaves them as rendered.

    Returns:
        A dataset of ``{"audio", "clean"}`` float32 ``(n_samples,)`` items.
    """
    length = _checks.positive_int("length", length)
    seed = _checks.non_negative_int("seed", seed)
    _checks.positive_real("seconds", seconds)
    _checks.sample_rate("sample_rate", sample_rate)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    sources, backgrounds = _sources(
        length,
        seconds,
        sample_rate,
        seed,
        fmin,
        fmax,
        cache_dir,
        shares,
        n_utterances,
        n_lines,
        backgrounds=p_background > 0,
        festival_resample=festival_resample,
    )
    mixture: Dataset = ConcatDataset(list(sources.values()))
    if p_reverb > 0:
        try:
            mixture = Reverb(
                mixture,
                p_reverb=p_reverb,
                rt60=rt60,
                n_rooms=n_rooms,
                seed=seed,
                sample_rate=sample_rate,
                cache_dir=cache_dir / "rooms",
            )
        except RuntimeError as error:
            warnings.warn(f"realistic corpus: no rooms: {error}", stacklevel=2)
    if isinstance(snr_db, (int, float)):
        snr_db = (float(snr_db), float(snr_db))
    return AddNoise(
        mixture,
        snr_db=tuple(snr_db),
        p_clean=p_clean,
        seed=seed,
        backgrounds=backgrounds,
        p_background=p_background,
    )


def prepare_corpus(progress: bool = True, workers: int = 1, **options) -> dict[str, int]:
    """Render the pools of :func:`realistic_corpus` (same ``options``) into its cache:
    every Festival utterance (training and babble pools, the latter a quarter the
    size), every soundfont line (32 per fluidsynth call) and every room. Cached renders
    are read, not redone; a missing source program is skipped with a warning.

    Args:
        progress: show a tqdm progress bar (stderr).
        workers: renders run at once (threads driving the text2wave / fluidsynth
            processes; rooms are computed in Python).
        options: keyword arguments of :func:`realistic_corpus`.

    Returns:
        How many pool members of each kind there are, ``{"festival": ..., "soundfont":
        ..., "rooms": ..., "failed": ...}``: ``failed`` counts the renders that raised
        (each warned about; the datasets skip those utterances or re-raise for a line).
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm  # optional dependency (bench extra), imported where it is needed

    workers = _checks.positive_int("workers", workers)
    corpus = realistic_corpus(**options)
    tasks: list[tuple[object, object]] = []  # (render function, its argument)
    counts: dict[str, int] = {}

    def walk(dataset: Dataset) -> None:
        if isinstance(dataset, FestivalSpeech):
            counts["festival"] = counts.get("festival", 0) + dataset.n_utterances
            tasks.extend((dataset.render, u) for u in range(dataset.n_utterances))
        elif isinstance(dataset, SoundfontMelodies):
            counts["soundfont"] = counts.get("soundfont", 0) + dataset.n_lines
            for start in range(0, dataset.n_lines, 32):
                chunk = list(range(start, min(start + 32, dataset.n_lines)))
                tasks.append((dataset.render, chunk))
        elif isinstance(dataset, Reverb):
            counts["rooms"] = dataset.n_rooms
            tasks.extend((dataset.impulse_response, r) for r in range(dataset.n_rooms))
            walk(dataset.dataset)
        elif isinstance(dataset, AddNoise):
            walk(dataset.dataset)
            for background in dataset.backgrounds:
                walk(background)
        elif isinstance(dataset, ConcatDataset):
            for inner in dataset.datasets:
                walk(inner)
        elif isinstance(dataset, Babble):
            walk(dataset.dataset)

    walk(corpus)

    def run(task) -> str | None:
        render, argument = task
        try:
            render(argument)
        except RuntimeError as error:  # one failed render: the rest is still prepared
            return f"{getattr(render, '__qualname__', render)}({argument}): {error}"
        return None

    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(run, tasks)
        failures = [
            f
            for f in tqdm(done, total=len(tasks), desc="preparing corpus", disable=not progress)
            if f is not None
        ]
    for failure in failures:
        warnings.warn(f"prepare_corpus: failed: {failure}", stacklevel=2)
    counts["failed"] = len(failures)
    return counts
