"""Soundfont renders: monophonic lines of real instrument samples through ``fluidsynth``.

:func:`render_soundfont` writes a Standard MIDI File (a tiny writer here, no dependency)
for one line of :class:`Note` on one General MIDI program, with vibrato and bends as
pitch-bend events (so the sounding f0 is known exactly from the notes), and renders it
with ``fluidsynth -ni -F out.wav -r <rate> <soundfont> <file.mid>`` (its own reverb and
chorus off: rooms come from :mod:`foldpitch.data.rooms`).

Soundfonts are chosen by an allow-list of file names (:data:`ALLOWED_SOUNDFONTS`), never
by a "default" link: :func:`check_soundfont` resolves symbolic links and refuses any file
whose resolved name is not on the list (some installed soundfonts are kept for
independent evaluation). :data:`PROGRAMS` is the table of GM programs used, with each
instrument's real register; which of them train, and which are kept for the dev and
test sets, is :data:`foldpitch.data.splits.SPLITS`.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import _checks
from ._util import (
    _excerpt,
    _resample,
    _rng,
    _set_excerpt_args,
    _write_atomic,
)

__all__ = [
    "ALLOWED_SOUNDFONTS",
    "PROGRAMS",
    "SoundfontMelodies",
    "SOUNDFONT_DIRS",
    "Note",
    "Program",
    "check_soundfont",
    "find_soundfonts",
    "fluidsynth_available",
    "midi_to_hz",
    "RELEASE",
    "random_melody",
    "render_soundfont",
    "render_soundfont_lines",
    "write_midi",
]

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
"""Where :func:`find_soundfonts` looks (Debian's locations)."""

ALLOWED_SOUNDFONTS = (
    "MuseScore_General_Full.sf2",  # Debian musescore-general-soundfont-lossless
    "MuseScore_General.sf2",
    "MuseScore_General.sf3",  # Debian musescore-general-soundfont (same samples, Ogg)
    "MuseScore_General_Full.sf3",
    "TimGM6mb.sf2",  # Debian timgm6mb-soundfont
)
"""File names of the soundfonts this project may render with, and the only ones: a path is
accepted when the file it resolves to (links followed) has one of these names, so a
``default-GM`` link is accepted only where it points to one of them. In order of
preference: the ``.sf2`` load in about 2 s, the ``.sf3`` (Ogg-compressed samples,
decoded at every start) in about 30 s. (Debian's freepats ships Gravis ``.pat`` patches,
which fluidsynth does not read: none of its files is here.)"""

_BANKS = ("MuseScore_General", "TimGM6mb")  # distinct sample sets among the allowed files


@dataclass(frozen=True)
class Program:
    """One General MIDI program: ``number`` (0-127), ``name``, ``family`` (programs
    that share an instrument's samples share a family; splits are made by family) and the
    instrument's real register ``low``-``high`` (MIDI note numbers)."""

    number: int
    name: str
    family: str
    low: int
    high: int


PROGRAMS: tuple[Program, ...] = tuple(
    Program(*row)
    for row in (
        (0, "Acoustic Grand Piano", "piano", 21, 108),
        (1, "Bright Acoustic Piano", "piano", 21, 108),
        (4, "Electric Piano 1", "electric piano", 28, 103),
        (5, "Electric Piano 2", "electric piano", 28, 103),
        (6, "Harpsichord", "harpsichord", 29, 89),
        (7, "Clavinet", "clavinet", 36, 96),
        (11, "Vibraphone", "vibraphone", 53, 89),
        (12, "Marimba", "marimba", 45, 96),
        (16, "Drawbar Organ", "electric organ", 36, 96),
        (19, "Church Organ", "church organ", 24, 96),
        (21, "Accordion", "accordion", 41, 89),
        (22, "Harmonica", "harmonica", 60, 96),
        (24, "Acoustic Guitar (nylon)", "nylon guitar", 40, 83),
        (25, "Acoustic Guitar (steel)", "steel guitar", 40, 83),
        (26, "Electric Guitar (jazz)", "electric guitar", 40, 86),
        (27, "Electric Guitar (clean)", "electric guitar", 40, 86),
        (32, "Acoustic Bass", "acoustic bass", 28, 55),
        (33, "Electric Bass (finger)", "electric bass", 28, 60),
        (35, "Fretless Bass", "fretless bass", 28, 60),
        (40, "Violin", "violin", 55, 100),
        (41, "Viola", "viola", 48, 88),
        (42, "Cello", "cello", 36, 76),
        (43, "Contrabass", "contrabass", 28, 60),
        (46, "Orchestral Harp", "harp", 24, 103),
        (48, "String Ensemble 1", "string ensemble", 28, 96),
        (52, "Choir Aahs", "choir aahs", 40, 81),
        (53, "Voice Oohs", "voice oohs", 40, 81),
        (54, "Synth Voice", "synth voice", 40, 84),
        (56, "Trumpet", "trumpet", 52, 84),
        (57, "Trombone", "trombone", 40, 72),
        (58, "Tuba", "tuba", 28, 58),
        (60, "French Horn", "french horn", 34, 77),
        (64, "Soprano Sax", "soprano sax", 56, 88),
        (65, "Alto Sax", "alto sax", 49, 81),
        (66, "Tenor Sax", "tenor sax", 44, 76),
        (67, "Baritone Sax", "baritone sax", 36, 69),
        (68, "Oboe", "oboe", 58, 91),
        (69, "English Horn", "english horn", 52, 81),
        (70, "Bassoon", "bassoon", 34, 75),
        (71, "Clarinet", "clarinet", 50, 91),
        (72, "Piccolo", "piccolo", 74, 108),
        (73, "Flute", "flute", 60, 96),
        (74, "Recorder", "recorder", 60, 96),
        (75, "Pan Flute", "pan flute", 60, 96),
        (79, "Ocarina", "ocarina", 60, 84),
    )
)
"""The GM programs (0-based numbers) with pitched, mostly harmonic sounds, including the
choir and voice patches (52-54); percussion and sound effects are left out."""

_PROGRAM_BY_NUMBER = {p.number: p for p in PROGRAMS}

BEND_RANGE = 2  # semitones of a full pitch bend (set with RPN 0 in every file)
_TICKS_PER_QUARTER = 480
_TEMPO = 500_000  # microseconds per quarter note: 960 ticks per second
_TICKS_PER_SECOND = _TICKS_PER_QUARTER * 1_000_000 / _TEMPO
_BEND_STEP = 0.01  # seconds between pitch-bend events of vibrato and bends


def midi_to_hz(pitch: float) -> float:
    """Equal-tempered frequency in Hz of MIDI note ``pitch`` (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


@dataclass(frozen=True)
class Note:
    """One note of a monophonic line.

    Attributes:
        start: onset in seconds.
        duration: seconds from note-on to note-off (the sample's release rings on).
        pitch: MIDI note number (integer, 0-127).
        velocity: MIDI velocity 1-127.
        bend: semitones the pitch glides to, linearly from the onset to the note-off
            (``|bend| <= BEND_RANGE``, less the vibrato depth).
        vibrato_cents: vibrato depth (peak deviation) in cents, as pitch bend.
        vibrato_hz: vibrato rate in Hz.
    """

    start: float
    duration: float
    pitch: int
    velocity: int = 90
    bend: float = 0.0
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5

    def bend_at(self, t: np.ndarray) -> np.ndarray:
        """Pitch offset in semitones at ``t`` seconds after the onset."""
        glide = self.bend * np.clip(t / self.duration, 0.0, 1.0)
        return glide + self.vibrato_cents / 100 * np.sin(2 * np.pi * self.vibrato_hz * t)


def _check_note(note: Note, index: int) -> None:
    if not isinstance(note, Note):
        raise TypeError(f"notes[{index}] must be a foldpitch.data.soundfont.Note, got {note!r}")
    if not (note.start >= 0 and note.duration > 0):
        raise ValueError(f"notes[{index}] needs start >= 0 and duration > 0 s, got {note}")
    if not (isinstance(note.pitch, (int, np.integer)) and 0 <= note.pitch <= 127):
        raise ValueError(f"notes[{index}].pitch must be a MIDI note number 0-127, got {note}")
    if not 1 <= note.velocity <= 127:
        raise ValueError(f"notes[{index}].velocity must be in 1-127, got {note}")
    if abs(note.bend) + note.vibrato_cents / 100 > BEND_RANGE:
        raise ValueError(
            f"notes[{index}]: |bend| + vibrato must stay within the pitch-bend range of "
            f"{BEND_RANGE} semitones, got {note}"
        )


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(notes: Sequence[Note], program: int, path: str | os.PathLike) -> None:
    """Write ``notes`` on channel 0 with GM ``program`` as a format-0 Standard MIDI File.

    The file sets the pitch-bend range to :data:`BEND_RANGE` semitones (RPN 0), full
    channel volume, and writes a pitch-bend event every 10 ms during notes that bend or
    have vibrato (and a reset to centre at each note-on). Overlapping notes are allowed
    (legato); the bend applies to the channel, so a line stays monophonic only if
    notes with bends do not overlap others.
    """
    Path(path).write_bytes(_midi_file([(0.0, program, list(notes))]))


def _midi_file(segments: Sequence[tuple[float, int, Sequence[Note]]]) -> bytes:
    """SMF bytes of lines played one after another: ``(offset s, program, notes)``."""
    events: list[tuple[float, int, bytes]] = []  # (seconds, order, message)
    for offset, program, notes in segments:
        program = _checks.non_negative_int("program", program)
        if program > 127:
            raise ValueError(f"program must be a GM program number 0-127, got {program}")
        events.append((offset, -1, bytes([0xC0, program])))
        for i, note in enumerate(notes):
            _check_note(note, i)
            start, end = offset + note.start, offset + note.start + note.duration
            events.append((start, 1, bytes([0xE0, 0x00, 0x40])))  # bend centre
            if note.bend or note.vibrato_cents:
                for t in np.arange(_BEND_STEP, note.duration + 1e-9, _BEND_STEP):
                    semitones = float(note.bend_at(np.asarray(t)))
                    value = int(np.clip(round(8192 + semitones / BEND_RANGE * 8192), 0, 16383))
                    events.append((start + t, 1, bytes([0xE0, value & 0x7F, value >> 7])))
            events.append((start, 2, bytes([0x90, note.pitch, note.velocity])))
            events.append((end, 0, bytes([0x80, note.pitch, 0])))  # off before a same-time on
    events.sort(key=lambda e: (e[0], e[1]))
    setup = [
        bytes([0xFF, 0x51, 0x03]) + _TEMPO.to_bytes(3, "big"),
        bytes([0xB0, 101, 0]),
        bytes([0xB0, 100, 0]),  # RPN 0: pitch-bend range
        bytes([0xB0, 6, BEND_RANGE]),
        bytes([0xB0, 38, 0]),
        bytes([0xB0, 7, 127]),
        bytes([0xB0, 11, 127]),
    ]
    track = b"".join(b"\x00" + message for message in setup)
    tick = 0
    for seconds, _, message in events:
        at = round(seconds * _TICKS_PER_SECOND)
        track += _varlen(at - tick) + message
        tick = at
    track += _varlen(round(0.5 * _TICKS_PER_SECOND)) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS_PER_QUARTER)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def fluidsynth_available() -> bool:
    """Whether the ``fluidsynth`` program is on ``PATH``."""
    return shutil.which("fluidsynth") is not None


def check_soundfont(path: str | os.PathLike) -> Path:
    """The soundfont at ``path``, links resolved, if the file it resolves to is on the
    allow-list :data:`ALLOWED_SOUNDFONTS` (by exact file name).

    Raises:
        TypeError: ``path`` is not a path.
        ValueError: the resolved file's name is not in :data:`ALLOWED_SOUNDFONTS`.
        FileNotFoundError: the file does not exist.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"soundfont must be a path (str or os.PathLike), got {path!r}")
    resolved = Path(path).resolve()  # a link is judged by the file it points to
    if resolved.name not in ALLOWED_SOUNDFONTS:
        raise ValueError(
            f"soundfont {str(path)!r} (resolves to {str(resolved)!r}) is not on the "
            f"allow-list; soundfont must be a file named one of {list(ALLOWED_SOUNDFONTS)}"
        )
    if not resolved.is_file():
        raise FileNotFoundError(f"soundfont {str(path)!r} does not exist")
    return resolved


def find_soundfonts(dirs: Sequence[str | os.PathLike] = SOUNDFONT_DIRS) -> list[Path]:
    """The allowed soundfonts installed in ``dirs``: the preferred file of each distinct
    sample set (MuseScore General, TimGM6mb), links not followed to pick a file."""
    found = []
    for bank in _BANKS:
        for name in ALLOWED_SOUNDFONTS:
            paths = [Path(d) / name for d in dirs] if name.startswith(bank) else []
            path = next((p for p in paths if p.is_file() and not p.is_symlink()), None)
            if path is not None:
                found.append(check_soundfont(path))
                break
    return found


def render_soundfont(
    notes: Sequence[Note],
    program: int,
    soundfont: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    gain: float = 0.5,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Render a monophonic line with ``fluidsynth`` (reverb and chorus off).

    Args:
        notes: the line (:class:`Note`), times in seconds.
        program: General MIDI program number 0-127 (see :data:`PROGRAMS`).
        soundfont: path of an allowed soundfont (:func:`check_soundfont`).
        sample_rate: output rate in Hz (fluidsynth renders at it directly).
        gain: fluidsynth's master gain.
        cache_dir: keep the render as ``<cache_dir>/<key>.wav`` (key: a hash of every
            argument and the soundfont's name and size) and read it from there next
            time; ``None``: no cache.

    Returns:
        float32 ``(n_samples,)``, mono (channels averaged), from time 0 to the last
        note-off plus :data:`RELEASE` seconds.

    Raises:
        RuntimeError: ``fluidsynth`` is missing or fails.
        ValueError: a soundfont off the allow-list, a bad note or program.

    Example:
        >>> if fluidsynth_available() and find_soundfonts():  # doctest: +SKIP
        ...     audio = render_soundfont([Note(0.0, 0.5, 69)], 73, find_soundfonts()[0])
    """
    return render_soundfont_lines(
        [(program, notes)], soundfont, sample_rate=sample_rate, gain=gain, cache_dir=cache_dir
    )[0]


RELEASE = 0.5
"""Seconds kept after a line's last note-off (the sample's release)."""
_LINE_GAP = 1.5  # seconds of silence between lines rendered in one fluidsynth call


def render_soundfont_lines(
    lines: Sequence[tuple[int, Sequence[Note]]],
    soundfont: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    gain: float = 0.5,
    cache_dir: str | os.PathLike | None = None,
) -> list[np.ndarray]:
    """Render several ``(program, notes)`` lines in one ``fluidsynth`` call (the
    soundfont loads once), played one after another with :data:`RELEASE` +
    1.5 s of silence between them, and cut apart: the same audio as one
    :func:`render_soundfont` call per line, cached per line the same way."""
    path = check_soundfont(soundfont)
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    gain = _checks.positive_real("gain", gain)
    lines = [(program, list(notes)) for program, notes in lines]
    for program, notes in lines:
        if not notes:
            raise ValueError(f"every line needs at least one Note (program {program})")
    cached = [None] * len(lines)
    out: list[np.ndarray | None] = [None] * len(lines)
    if cache_dir is not None:
        for k, (program, notes) in enumerate(lines):
            key = repr((notes, program, path.name, path.stat().st_size, sample_rate, gain))
            cached[k] = Path(cache_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.wav"
            if cached[k].exists():
                out[k] = sf.read(str(cached[k]), dtype="float32")[0]
    todo = [k for k in range(len(lines)) if out[k] is None]
    if not todo:
        return out
    if not fluidsynth_available():
        raise RuntimeError(
            "render_soundfont needs the fluidsynth program, which was not found on PATH; "
            "install it with `apt-get install fluidsynth`"
        )
    segments, spans, offset = [], [], 0.0
    for k in todo:
        program, notes = lines[k]
        end = max(n.start + n.duration for n in notes) + RELEASE
        segments.append((offset, program, notes))
        spans.append((offset, end))
        offset += math.ceil((end + _LINE_GAP) * 10) / 10  # whole tenths: exact sample offsets
    with tempfile.TemporaryDirectory(prefix="foldpitch-fluidsynth-") as tmp:
        midi, wav = Path(tmp) / "lines.mid", Path(tmp) / "lines.wav"
        midi.write_bytes(_midi_file(segments))
        command = [
            "fluidsynth", "-ni", "-q", "-g", f"{gain:g}", "-r", str(sample_rate),
            "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
            "-F", str(wav), str(path), str(midi),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wav.exists():
            raise RuntimeError(
                f"fluidsynth failed (exit {result.returncode}) with {path.name}: "
                f"{result.stderr.strip()[-500:]}"
            )
        data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = _resample(data.mean(axis=1), rate, sample_rate)
    for k, (start, end) in zip(todo, spans, strict=True):
        first = round(start * sample_rate)
        piece = np.zeros(math.ceil(end * sample_rate), np.float32)
        chunk = audio[first : first + piece.size]
        piece[: chunk.size] = chunk
        out[k] = piece
        if cached[k] is not None:
            _write_atomic(cached[k], piece, sample_rate)
    return out


# Families whose notes are struck or plucked: no vibrato, rarely a bend.
_STRUCK = {
    "piano", "electric piano", "harpsichord", "clavinet", "vibraphone", "marimba",
    "nylon guitar", "steel guitar", "acoustic bass", "harp",
}  # fmt: skip


def random_melody(
    rng: np.random.Generator,
    program: int,
    seconds: float,
    fmin: float = 50.0,
    fmax: float = 1100.0,
) -> list[Note]:
    """A monophonic line of about ``seconds`` for GM ``program``, drawn with ``rng``.

    Notes stay in the instrument's register (:data:`PROGRAMS`) within ``[fmin, fmax]``
    Hz, around a centre drawn in it, moving by steps and leaps (up to 7 semitones);
    each note lasts 0.1-0.9 s and is legato (the next starts as it stops) or detached
    (held 40-85 % of its slot), with rests now and then; sustained instruments get
    vibrato (10-60 cents, 4.5-6.5 Hz) on about half their notes and a bend (up to
    +-1.5 semitones) on some; velocities 50-120. No note overlaps another, so the f0 is
    one note's (plus its bend and vibrato) at any time.
    """
    entry = _PROGRAM_BY_NUMBER.get(program)
    if entry is None:
        raise ValueError(f"program must be one of {sorted(_PROGRAM_BY_NUMBER)}, got {program}")
    low = max(entry.low, math.ceil(69 + 12 * math.log2(fmin / 440)))
    high = min(entry.high, math.floor(69 + 12 * math.log2(fmax / 440)))
    if low > high:
        raise ValueError(f"{entry.name}'s register is outside [{fmin}, {fmax}] Hz")
    centre = int(rng.integers(low, high + 1))
    lo, hi = max(low, centre - 12), min(high, centre + 12)
    sustained = entry.family not in _STRUCK
    legato = rng.random() < 0.5  # the line's usual articulation
    notes, t, pitch = [], round(float(rng.uniform(0, 0.2)), 3), centre
    while t < seconds:  # times in whole milliseconds, so notes never overlap by rounding
        slot = round(float(np.exp(rng.uniform(np.log(0.1), np.log(0.9)))), 3)
        step = int(rng.choice([0, 1, 2, 2, 3, 4, 5, 7])) * int(rng.choice([-1, 1]))
        pitch = int(np.clip(pitch + step, lo, hi))
        tied = legato if rng.random() < 0.8 else not legato
        duration = slot if tied else round(slot * float(rng.uniform(0.4, 0.85)), 3)
        vibrato = float(rng.uniform(10, 60)) if sustained and rng.random() < 0.5 else 0.0
        bend = 0.0
        if rng.random() < (0.15 if sustained else 0.03):
            room = min(1.5, BEND_RANGE - vibrato / 100)  # bend + vibrato within the range
            bend = float(rng.uniform(0.3, room)) * float(rng.choice([-1, 1]))
        notes.append(
            Note(
                t,
                duration,
                pitch,
                int(rng.integers(50, 121)),
                bend=bend,
                vibrato_cents=vibrato,
                vibrato_hz=float(rng.uniform(4.5, 6.5)),
            )
        )
        t = round(t + slot + (float(rng.uniform(0.2, 0.6)) if rng.random() < 0.1 else 0.0), 3)
    return notes


class SoundfontMelodies(Dataset):
    """Excerpts of monophonic instrument lines rendered from soundfonts (unlabelled).

    A pool of ``n_lines`` lines: line ``u`` draws a soundfont from ``soundfonts``, a GM
    program from ``programs`` and a :func:`random_melody` of ``line_seconds`` from
    ``numpy.random.default_rng([seed, u, 4])``, and is rendered once into ``cache_dir``
    (fill the cache beforehand with ``python scripts/prepare_corpus.py``, which renders
    many lines per fluidsynth call; a missing line is rendered when first needed). Item
    ``i`` picks a line and an excerpt start from ``numpy.random.default_rng([seed, i])``.

    Args:
        length: number of items.
        seconds: excerpt duration in seconds.
        sample_rate: in Hz.
        seed: non-negative int.
        programs: GM program numbers from :data:`PROGRAMS`; default: the train split's
            (:func:`foldpitch.data.splits.programs`).
        soundfonts: paths of allowed soundfonts; default: :func:`find_soundfonts`.
        n_lines: size of the pool.
        line_seconds: duration of each line's notes.
        fmin, fmax: the lines' f0 range in Hz (each instrument's register within it).
        cache_dir: where renders are kept; default ``<tmp>/foldpitch-soundfont``.

    Items:
        ``{"audio": float32 tensor (n_samples,)}``.

    Raises:
        RuntimeError: fluidsynth or any allowed soundfont is missing.
        ValueError: a soundfont off the allow-list, an unknown program.
    """

    def __init__(
        self,
        length: int = 1000,
        seconds: float = 1.0,
        sample_rate: int = 16000,
        seed: int = 0,
        programs: Sequence[int] | None = None,
        soundfonts: Sequence[str | os.PathLike] | None = None,
        n_lines: int = 500,
        line_seconds: float = 8.0,
        fmin: float = 50.0,
        fmax: float = 1100.0,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if programs is None:
            from .splits import programs as split_programs  # splits reads PROGRAMS

            programs = split_programs("train")
        self.programs = tuple(int(p) for p in programs)
        unknown = set(self.programs) - set(_PROGRAM_BY_NUMBER)
        if not self.programs or unknown:
            raise ValueError(
                f"programs must be GM numbers from foldpitch.data.soundfont.PROGRAMS, got "
                f"{sorted(unknown) or 'none'}"
            )
        if soundfonts is None:
            soundfonts = find_soundfonts()
        self.soundfonts = tuple(check_soundfont(path) for path in soundfonts)
        if not fluidsynth_available() or not self.soundfonts:
            raise RuntimeError(
                "SoundfontMelodies needs the fluidsynth program and an allowed soundfont "
                f"({', '.join(ALLOWED_SOUNDFONTS)}); install them with `apt-get install "
                "fluidsynth timgm6mb-soundfont musescore-general-soundfont-lossless`"
            )
        _set_excerpt_args(self, length, seconds, sample_rate, seed)
        self.n_lines = _checks.positive_int("n_lines", n_lines)
        self.line_seconds = _checks.positive_real("line_seconds", line_seconds)
        self.fmin, self.fmax = (
            _checks.positive_real("fmin", fmin),
            _checks.positive_real("fmax", fmax),
        )
        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "foldpitch-soundfont"
        self.cache_dir = Path(cache_dir)

    def __len__(self) -> int:
        return self.length

    def line(self, u: int) -> tuple[Path, int, list[Note]]:
        """Line ``u``: its soundfont, GM program and notes."""
        rng = np.random.default_rng([self.seed, _checks.index("index", u, self.n_lines), 4])
        soundfont = self.soundfonts[rng.integers(len(self.soundfonts))]
        program = self.programs[rng.integers(len(self.programs))]
        return (
            soundfont,
            program,
            random_melody(rng, program, self.line_seconds, self.fmin, self.fmax),
        )

    def render(self, lines: Sequence[int]) -> list[np.ndarray]:
        """The audio of lines ``lines`` (float32 at ``sample_rate``), one fluidsynth call
        per soundfont for those not cached yet."""
        out: dict[int, np.ndarray] = {}
        by_font: dict[Path, list[tuple[int, int, list[Note]]]] = {}
        for u in lines:
            soundfont, program, notes = self.line(u)
            by_font.setdefault(soundfont, []).append((u, program, notes))
        for soundfont, group in by_font.items():
            audio = render_soundfont_lines(
                [(program, notes) for _, program, notes in group],
                soundfont,
                sample_rate=self.sample_rate,
                cache_dir=self.cache_dir,
            )
            out.update(zip([u for u, _, _ in group], audio, strict=True))
        return [out[u] for u in lines]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, self.length)
        rng = _rng(self.seed, index)
        audio = self.render([int(rng.integers(self.n_lines))])[0]
        return {"audio": torch.from_numpy(_excerpt(rng, audio, self.n_samples))}
