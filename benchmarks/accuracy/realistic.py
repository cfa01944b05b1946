"""Labelled sets made from recordings of real voices and instruments, dry and in rooms.

Two sources, each with a dev split (for choosing settings) and a test split (for
reporting), disjoint by voice and by instrument family as the split table
:data:`foldpitch.data.splits.SPLITS` says (which also keeps both apart from training):

- **festival** (``--sets festival-dev``, ``festival-test``): Festival voices built from
  recordings of real speakers (:func:`foldpitch.data.speech.render_festival`; dev: the
  split's ``"dev"`` voices, test: its ``"test"`` voices), two fixed sentences per voice
  in its language (:data:`FESTIVAL_SENTENCES`, not from the training word lists), then
  WORLD analysis and resynthesis exactly as the speech set
  (:func:`benchmarks.accuracy.speech.analyse` and ``resynthesise``): the f0 given to
  WORLD is the label. One clip per sentence, named ``festival-<voice>-<k>``, kind = the
  voice.
- **instruments** (``--sets instruments-dev``, ``instruments-test``): real instrument
  samples from the allowed General MIDI soundfonts
  (:func:`foldpitch.data.soundfont.find_soundfonts`: MuseScore General and TimGM6mb),
  every program of the split's families (:func:`foldpitch.data.splits.programs`) in
  each soundfont: a seeded melody of :data:`NOTES_PER_MELODY` notes within the
  instrument's register and :data:`PITCH_RANGE`, **each note rendered on its own**
  (:func:`foldpitch.data.soundfont.render_soundfont_lines`, no vibrato or bend) and cut
  :data:`RELEASE_KEPT` s after its note-off with a 20 ms fade, the notes then laid end to
  end with 0-150 ms of silence between them, so the set is monophonic however long a
  sample rings. Label: each note's nominal pitch (MIDI, A4 = 440 Hz, equal temperament)
  on the frames where its audio is within :data:`NOTE_LEVEL_DB` of the note's loudest
  20 ms, 0 elsewhere. Kind = the soundfont. The soundfonts' tuning was checked against
  Praat and pyin (:func:`tuning_table`; see ``python -m benchmarks.accuracy.realistic``).

Conditions: clean and white noise at 10 dB (the signal power measured over the labelled
voiced samples, :func:`benchmarks.accuracy.data._with_noise`), and the same in simulated
rooms (``--sets festival-test-rooms``, ``instruments-test-rooms``, and ``-dev-``): the
dry clip convolved with a room impulse response (:func:`room_impulse_response`), the
label unchanged (the dry source's f0; the direct path arrives at time 0, so the label
needs no shift). Noise is added after the room.

Rooms: a documented simple model, not an acoustic simulation, and on purpose not the
training corpus's :class:`foldpitch.data.rooms.Reverb` (pyroomacoustics' image-source
shoeboxes): a network fine-tuned on one simulator's responses would be measured on that
simulator's quirks too (its early-reflection pattern, its decay shape), so the test rooms
come from another model: a direct path (1 at time
0), 3-8 early reflections at 2-30 ms with amplitudes 0.2-0.7 and random signs, and a
diffuse tail of Gaussian noise decaying by 60 dB over the drawn RT60 (uniform 0.3-0.9 s)
from 5 ms on, scaled to a drawn direct-to-reverberant energy ratio (uniform -3 to +6
dB). Every draw comes from ``numpy.random.default_rng([ROOM_SEED_TAG, seed, crc32(clip
name)])``: :data:`ROOM_SEED_TAG` keeps them apart from any other use of the seeds (the
training corpus must not use this tag). The reverberant tail beyond the dry clip's end
is cut (the clips end in silence).

Determinism: Festival, WORLD and fluidsynth are deterministic for a given version, and
all draws are seeded, so the same arguments give the same clips. Nothing is written to
the repository. Where Festival, fluidsynth or an allowed soundfont is missing, the part
is skipped and :func:`missing_parts` says why.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence

import numpy as np

from .data import F0_RANGE, HOP_SECONDS, SAMPLE_RATE, Clip, _with_noise

__all__ = [
    "FESTIVAL_SENTENCES",
    "NOTES_PER_MELODY",
    "PITCH_RANGE",
    "REALISTIC_SETS",
    "ROOM_SEED_TAG",
    "build_festival_clips",
    "build_instrument_clips",
    "build_set",
    "melody",
    "missing_parts",
    "room_impulse_response",
    "tuning_table",
]

REALISTIC_SETS = tuple(
    f"{source}-{split}{room}"
    for source in ("festival", "instruments")
    for split in ("dev", "test")
    for room in ("", "-rooms")
)
SNRS: tuple[float | None, ...] = (None, 10.0)

FESTIVAL_SENTENCES: dict[str, tuple[str, str]] = {
    "czech": (
        "Dobrý den, prosím vás, kudy se dostanu na hlavní nádraží?",
        "Včera večer jsme s přáteli seděli na zahradě a poslouchali déšť.",
    ),
    "italian": (
        "Buongiorno, vorrei un biglietto di andata e ritorno per Firenze.",
        "Ieri sera abbiamo mangiato una pizza buonissima vicino al mare.",
    ),
    "catalan": (
        "Bon dia, em podria dir a quina hora surt el tren cap a Girona?",
        "Aquest estiu anirem a la platja amb tota la família.",
    ),
    "russian": (
        "Добрый вечер, скажите, пожалуйста, как пройти к вокзалу?",
        "Вчера мы долго гуляли по парку и разговаривали о музыке.",
    ),
}
"""Two sentences per language of the dev and test voices (questions and statements)."""

NOTES_PER_MELODY = 8
PITCH_RANGE = (36, 83)  # MIDI: 65.4-987.8 Hz, inside the benchmark's 60-1000 Hz
NOTE_SECONDS = (0.25, 0.6)
GAP_SECONDS = (0.0, 0.05, 0.15)
RELEASE_KEPT = 0.1  # seconds of each note's release kept after its note-off
FADE_SECONDS = 0.02
NOTE_LEVEL_DB = 35.0  # a note's frames within this of its loudest 20 ms are labelled
LEAD_SECONDS = 0.2  # silence before the first note and after the last
ROOM_SEED_TAG = 0x524F4F4D  # "ROOM": the benchmark's room draws
RT60_RANGE = (0.3, 0.9)
DRR_RANGE_DB = (-3.0, 6.0)


def _split_and_room(set_name: str) -> tuple[str, str, bool]:
    if set_name not in REALISTIC_SETS:
        raise ValueError(f"set_name must be one of {REALISTIC_SETS}, got {set_name!r}")
    source, split, *room = set_name.split("-")
    return source, split, bool(room)


def missing_parts() -> dict[str, str]:
    """``{"festival": reason, "instruments": reason}`` for the sources that cannot be built
    here (``{}`` when both can)."""
    from foldpitch.data.soundfont import find_soundfonts, fluidsynth_available
    from foldpitch.data.speech import festival_available

    from .speech import missing_parts as speech_missing

    missing = {}
    world = speech_missing().get("espeak", "")
    world = "; ".join(p for p in world.split("; ") if "espeak" not in p)
    if not festival_available() or world:
        missing["festival"] = world or "Festival's text2wave not found on PATH"
    if not fluidsynth_available():
        missing["instruments"] = "fluidsynth not found on PATH"
    elif not find_soundfonts():
        missing["instruments"] = "no allowed soundfont installed (MuseScore General, TimGM6mb)"
    return missing


# ------------------------------------------------------------------------------ rooms


def room_impulse_response(
    rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, float]:
    """A drawn room impulse response (see the module doc) and its RT60 in seconds.

    Returns:
        ``(rir, rt60)``: float64 ``(n,)`` with ``rir[0] == 1`` (the direct path), ``n``
        covering the tail down to -60 dB.
    """
    rt60 = float(rng.uniform(*RT60_RANGE))
    n = int(math.ceil(rt60 * sample_rate)) + 1
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.907755 * t / rt60)  # 60 dB over rt60
    tail[t < 0.005] = 0.0
    drr_db = float(rng.uniform(*DRR_RANGE_DB))
    tail *= math.sqrt(10 ** (-drr_db / 10) / float(np.sum(tail**2)))
    rir = tail
    rir[0] = 1.0
    for _ in range(int(rng.integers(3, 9))):
        delay = int(round(rng.uniform(0.002, 0.03) * sample_rate))
        rir[delay] += rng.choice((-1.0, 1.0)) * rng.uniform(0.2, 0.7)
    return rir, rt60


def _in_room(audio: np.ndarray, seed: int, name: str, sample_rate: int) -> np.ndarray:
    from scipy.signal import fftconvolve

    rng = np.random.default_rng([ROOM_SEED_TAG, seed, zlib.crc32(name.encode())])
    rir, _ = room_impulse_response(rng, sample_rate)
    wet = fftconvolve(np.asarray(audio, dtype=np.float64), rir)[: len(audio)]
    peak = float(np.abs(wet).max())
    return (wet * (0.5 / peak if peak > 0 else 1.0)).astype(np.float32)


def _conditions(
    audio: np.ndarray,
    voiced_samples: np.ndarray,
    times: np.ndarray,
    truth: np.ndarray,
    *,
    stem: str,
    kind: str,
    variant: str,
    set_name: str,
    snrs: Sequence[float | None],
    seed: int,
    room: bool,
    sample_rate: int,
) -> list[Clip]:
    name = f"{set_name}-{stem}"
    if room:
        audio = _in_room(audio, seed, name, sample_rate)
    clips = []
    for snr in snrs:
        label = "clean" if snr is None else f"{snr:g}dB"
        noisy = audio if snr is None else _with_noise(audio, voiced_samples, snr, seed, name)
        clip = Clip(
            f"{name}-{label}", kind, noisy, sample_rate, times, truth, snr, variant, set_name
        )
        clips.append(clip)
    return clips


# --------------------------------------------------------------------------- festival


def build_festival_clips(
    set_name: str = "festival-test",
    snrs: Iterable[float | None] = SNRS,
    *,
    seed: int = 0,
    voices: Sequence[str] | None = None,
    sentences: int = 2,
    sample_rate: int = SAMPLE_RATE,
) -> list[Clip]:
    """The ``festival-*`` sets (module doc). ``voices`` overrides the split's voices
    (tests); ``sentences``: how many of each language's sentences to speak."""
    from foldpitch.data.speech import FESTIVAL_VOICES, render_festival
    from foldpitch.data.splits import festival_voices

    from . import speech

    source, split, room = _split_and_room(set_name)
    if source != "festival":
        raise ValueError(f"not a festival set: {set_name!r}")
    snrs = tuple(snrs)
    clips = []
    for voice in voices if voices is not None else festival_voices(split):
        language = FESTIVAL_VOICES[voice].language
        for k, text in enumerate(FESTIVAL_SENTENCES[language][:sentences]):
            audio = render_festival(text, voice, sample_rate=sample_rate)
            analysis = speech.analyse(np.asarray(audio, dtype=np.float64), sample_rate)
            dry, times, truth = speech.resynthesise(analysis)
            f0_frames = speech.shifted_f0(analysis, 0.0)
            voiced = speech._voiced_samples(f0_frames, len(dry), sample_rate)
            clips += _conditions(
                dry,
                voiced,
                times,
                truth,
                stem=f"{voice}-{k}",
                kind=voice,
                variant=voice,
                set_name=set_name,
                snrs=snrs,
                seed=seed,
                room=room,
                sample_rate=sample_rate,
            )
    return clips


# ------------------------------------------------------------------------ instruments


def melody(program, rng: np.random.Generator) -> list[tuple[int, float, float, int]]:
    """``(pitch, note seconds, gap seconds after, velocity)`` for one melody of
    ``program`` (a :class:`foldpitch.data.soundfont.Program`): pitches drawn uniformly
    within its register and :data:`PITCH_RANGE`, steps of at most an octave."""
    low, high = max(program.low, PITCH_RANGE[0]), min(program.high, PITCH_RANGE[1])
    if low > high:
        register = f"{program.low}-{program.high}"
        raise ValueError(f"{program.name}: register {register} is outside {PITCH_RANGE}")
    notes, pitch = [], int(rng.integers(low, high + 1))
    for _ in range(NOTES_PER_MELODY):
        duration = float(rng.uniform(*NOTE_SECONDS))
        gap = float(rng.choice(GAP_SECONDS))
        notes.append((pitch, duration, gap, int(rng.integers(60, 111))))
        pitch = int(np.clip(pitch + rng.integers(-12, 13), low, high))
    return notes


def _level_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per sample, the level in dB of the 20 ms around it."""
    width = max(1, int(0.02 * sample_rate))
    power = np.convolve(np.asarray(audio, dtype=np.float64) ** 2, np.ones(width) / width, "same")
    return 10 * np.log10(power + 1e-20)


def _assemble(pieces, notes, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay the note renders end to end: audio ``(N,)`` and the label per sample (Hz)."""
    from foldpitch.data.soundfont import midi_to_hz

    lead = int(LEAD_SECONDS * sample_rate)
    fade = int(FADE_SECONDS * sample_rate)
    audio, label = [np.zeros(lead, np.float32)], [np.zeros(lead)]
    for piece, (pitch, duration, gap, _) in zip(pieces, notes, strict=True):
        keep = min(len(piece), int(round((duration + RELEASE_KEPT) * sample_rate)))
        piece = piece[:keep].astype(np.float32)  # a copy
        piece[-fade:] *= np.cos(np.linspace(0, np.pi / 2, fade)) ** 2
        level = _level_db(piece, sample_rate)
        sounding = (level >= level.max() - NOTE_LEVEL_DB) & (np.abs(piece) > 0)
        audio.append(piece)
        label.append(np.where(sounding, midi_to_hz(pitch), 0.0))
        n_gap = int(round(gap * sample_rate))
        audio.append(np.zeros(n_gap, np.float32))
        label.append(np.zeros(n_gap))
    audio.append(np.zeros(lead, np.float32))
    label.append(np.zeros(lead))
    return np.concatenate(audio), np.concatenate(label)


def build_instrument_clips(
    set_name: str = "instruments-test",
    snrs: Iterable[float | None] = SNRS,
    *,
    seed: int = 0,
    programs: Sequence[int] | None = None,
    soundfonts: Sequence | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> list[Clip]:
    """The ``instruments-*`` sets (module doc). ``programs`` / ``soundfonts`` override
    the split's programs and the installed allowed soundfonts (tests)."""
    from foldpitch.data import soundfont as sf_module
    from foldpitch.data.splits import programs as split_programs

    source, split, room = _split_and_room(set_name)
    if source != "instruments":
        raise ValueError(f"not an instruments set: {set_name!r}")
    snrs = tuple(snrs)
    by_number = {p.number: p for p in sf_module.PROGRAMS}
    chosen = [by_number[n] for n in (programs if programs is not None else split_programs(split))]
    fonts = list(soundfonts) if soundfonts is not None else sf_module.find_soundfonts()
    clips = []
    for font in fonts:
        font = sf_module.check_soundfont(font)
        bank = font.stem
        melodies = {}
        for program in chosen:
            rng = np.random.default_rng([seed, program.number, zlib.crc32(bank.encode())])
            melodies[program.number] = melody(program, rng)
        lines = [
            (number, [sf_module.Note(0.0, duration, pitch, velocity)])
            for number, notes in melodies.items()
            for pitch, duration, _, velocity in notes
        ]
        pieces = iter(sf_module.render_soundfont_lines(lines, font, sample_rate=sample_rate))
        for program in chosen:
            notes = melodies[program.number]
            audio, label = _assemble([next(pieces) for _ in notes], notes, sample_rate)
            hop = int(round(HOP_SECONDS * sample_rate))
            truth = label[::hop].copy()
            times = np.arange(len(truth)) * HOP_SECONDS
            stem = f"{program.name.lower().replace(' ', '_')}-{bank}"
            peak = float(np.abs(audio).max())
            audio = (audio * (0.5 / peak if peak > 0 else 1.0)).astype(np.float32)
            clips += _conditions(
                audio,
                label > 0,
                times,
                truth,
                stem=stem,
                kind=bank,
                variant=program.name,
                set_name=set_name,
                snrs=snrs,
                seed=seed,
                room=room,
                sample_rate=sample_rate,
            )
    return clips


def build_set(
    set_name: str, snrs: Iterable[float | None] = SNRS, seed: int = 0, quick: bool = False
) -> list[Clip]:
    """Any of :data:`REALISTIC_SETS`; ``quick``: a smoke-run subset (the split's first
    voice and sentence, or its first two programs in the first soundfont)."""
    from foldpitch.data.soundfont import find_soundfonts
    from foldpitch.data.splits import festival_voices, programs

    source, split, _ = _split_and_room(set_name)
    if source == "festival":
        voices = festival_voices(split)[:1] if quick else None
        return build_festival_clips(
            set_name, snrs, seed=seed, voices=voices, sentences=1 if quick else 2
        )
    if quick:
        return build_instrument_clips(
            set_name,
            snrs,
            seed=seed,
            programs=programs(split)[:2],
            soundfonts=find_soundfonts()[:1],
        )
    return build_instrument_clips(set_name, snrs, seed=seed)


# ------------------------------------------------------------------------- tuning


def tuning_table(clips: Sequence[Clip]) -> list[dict]:
    """Each clip's notes against two independent trackers, Praat (``To Pitch (ac)``) and
    pyin (:mod:`benchmarks.accuracy.methods`): per clip, the median over its labelled
    frames of each tracker's deviation from the label, in cents, and the share of frames
    where each tracker is within 50 cents. A soundfont sample that is out of tune shows
    as a median far from 0 in both."""
    from .methods import METHODS

    rows = []
    for clip in clips:
        voiced = clip.f0_hz > 0
        row = {"clip": clip.name}
        for name in ("praat", "pyin"):
            track = METHODS[name](clip.audio, clip.sample_rate, F0_RANGE[0] - 10, 1100.0)
            estimate = np.interp(clip.times, track.times, track.f0_hz)
            ok = voiced & (estimate > 0)
            cents = 1200 * np.log2(estimate[ok] / clip.f0_hz[ok])
            row[f"{name}_median_cents"] = float(np.median(cents)) if ok.any() else math.nan
            row[f"{name}_within_50"] = float(np.mean(np.abs(cents) < 50)) if ok.any() else 0.0
        rows.append(row)
    return rows


def main(argv=None) -> int:
    """``python -m benchmarks.accuracy.realistic [set]``: the tuning table of a set's
    clean clips (default ``instruments-test``), as Markdown."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    set_name = args[0] if args else "instruments-test"
    clips = build_set(set_name, (None,))
    print("| clip | Praat median (cents) | Praat within 50 | pyin median | pyin within 50 |")
    print("|---|---|---|---|---|")
    for row in tuning_table(clips):
        print(
            f"| {row['clip']} | {row['praat_median_cents']:+.1f} | {row['praat_within_50']:.3f}"
            f" | {row['pyin_median_cents']:+.1f} | {row['pyin_within_50']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
