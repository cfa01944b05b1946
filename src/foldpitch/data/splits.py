"""Which voices and instruments train, and which are kept for the dev and test sets.

One table, :data:`SPLITS`, assigns every Festival voice, espeak-ng language and
soundfont program family to ``"train"``, ``"dev"`` or ``"test"``. The training corpus
(:mod:`foldpitch.data.corpus`) reads only the train rows; the labelled benchmark sets
(``benchmarks/accuracy``) read the dev rows to choose settings and the test rows to
report. So dev and test never share a speaker or an instrument with training, nor with
each other:

- Festival: the three NSK voices (Hindi, Marathi, Telugu) are one speaker and sit in one
  split; the dev and test speakers are two Czech, two Italian, the Catalan and the
  Russian speaker.
- espeak-ng: the benchmark's speech set (``benchmarks/accuracy/speech.py``) uses
  English, German, French and Spanish (test) and Italian, Portuguese, Dutch, Polish,
  Swedish (its held-out set, dev; it also holds two English variants); training uses
  other languages (those of ``configs/data/synthetic_espeak.yaml``).
- Soundfonts: by instrument family (:data:`foldpitch.data.soundfont.PROGRAMS`), whatever
  the soundfont; the choir patches "Choir Aahs" and "Synth Voice" train, "Voice Oohs"
  is kept for test.

Only allow-listed sources are in a split: the Festival voices of
:data:`foldpitch.data.speech.FESTIVAL_VOICES`, the soundfont programs of
:data:`foldpitch.data.soundfont.PROGRAMS` (rendered only with
:data:`foldpitch.data.soundfont.ALLOWED_SOUNDFONTS`) and the espeak-ng languages below.
Anything else is in no split (:func:`split_of` refuses it).
"""

from __future__ import annotations

from .soundfont import PROGRAMS
from .speech import FESTIVAL_VOICES

__all__ = [
    "SPLITS",
    "SPLIT_NAMES",
    "espeak_languages",
    "festival_voices",
    "programs",
    "split_of",
]

SPLIT_NAMES = ("train", "dev", "test")

SPLITS: dict[str, dict[str, str]] = {
    "festival": {
        "czech_dita": "train",
        "czech_krb": "train",
        "suo_fi_lj_diphone": "train",
        "hy_fi_mv_diphone": "train",
        "hindi_NSK_diphone": "train",
        "marathi_NSK_diphone": "train",
        "telugu_NSK_diphone": "train",
        "ked_diphone": "train",
        "czech_ph": "dev",
        "lp_diphone": "dev",
        "czech_machac": "test",
        "pc_diphone": "test",
        "upc_ca_ona_hts": "test",
        "msu_ru_nsh_clunits": "test",
    },
    "espeak": {
        **dict.fromkeys("af cs da fi hu ro ru tr id sk hr el eo ca cy et lv sl".split(), "train"),
        **dict.fromkeys("it pt nl pl sv".split(), "dev"),
        **dict.fromkeys("en en-us de fr es".split(), "test"),
    },
    "soundfont": {
        **dict.fromkeys(
            [
                "piano",
                "harpsichord",
                "vibraphone",
                "electric organ",
                "accordion",
                "steel guitar",
                "electric guitar",
                "acoustic bass",
                "fretless bass",
                "violin",
                "contrabass",
                "harp",
                "string ensemble",
                "choir aahs",
                "synth voice",
                "trumpet",
                "tuba",
                "alto sax",
                "baritone sax",
                "english horn",
                "bassoon",
                "piccolo",
                "recorder",
                "pan flute",
            ],
            "train",
        ),  # fmt: skip
        **dict.fromkeys(
            [
                "clavinet",
                "church organ",
                "nylon guitar",
                "viola",
                "trombone",
                "soprano sax",
                "clarinet",
                "ocarina",
            ],
            "dev",
        ),  # fmt: skip
        **dict.fromkeys(
            [
                "electric piano",
                "marimba",
                "harmonica",
                "electric bass",
                "cello",
                "voice oohs",
                "french horn",
                "tenor sax",
                "oboe",
                "flute",
            ],
            "test",
        ),  # fmt: skip
    },
}
"""``SPLITS[kind][name]``: the split of a Festival voice, an espeak-ng language (the part
before any ``+variant``) or a soundfont program family."""


def _check_split(split: str) -> str:
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
    return split


def split_of(kind: str, name: str) -> str:
    """The split of ``name`` among ``kind`` (``"festival"``, ``"espeak"``, ``"soundfont"``).

    An espeak-ng voice may carry a variant (``"de+f2"`` is German); a soundfont program
    may be given by its GM number (an ``int``) or its family.

    Raises:
        ValueError: unknown ``kind``, or ``name`` in no split (not allow-listed).
    """
    if kind not in SPLITS:
        raise ValueError(f"kind must be one of {sorted(SPLITS)}, got {kind!r}")
    if kind == "espeak" and isinstance(name, str):
        name = name.split("+")[0]
    if kind == "soundfont" and not isinstance(name, str):
        family = {p.number: p.family for p in PROGRAMS}.get(name)
        if family is None:
            raise ValueError(f"GM program {name!r} is not in foldpitch.data.soundfont.PROGRAMS")
        name = family
    if name not in SPLITS[kind]:
        raise ValueError(f"{kind} source {name!r} is in no split (not allow-listed)")
    return SPLITS[kind][name]


def festival_voices(split: str) -> tuple[str, ...]:
    """The Festival voices of ``split``, in :data:`FESTIVAL_VOICES` order."""
    _check_split(split)
    return tuple(v for v in FESTIVAL_VOICES if SPLITS["festival"].get(v) == split)


def espeak_languages(split: str) -> tuple[str, ...]:
    """The espeak-ng languages of ``split``."""
    _check_split(split)
    return tuple(name for name, s in SPLITS["espeak"].items() if s == split)


def programs(split: str) -> tuple[int, ...]:
    """The GM program numbers of ``split`` (from :data:`foldpitch.data.soundfont.PROGRAMS`)."""
    _check_split(split)
    return tuple(p.number for p in PROGRAMS if SPLITS["soundfont"].get(p.family) == split)
