"""foldpitch._checks: one rule per concept, one message form, used by every entry point."""

import math
import re

import numpy as np
import pytest
import torch

import foldpitch
from foldpitch import _checks
from foldpitch.data import (
    AudioFolder,
    LabelledSyntheticSet,
    Reverb,
    SyntheticCorpus,
    soundfont,
    speech,
)
from foldpitch.data.corpus import realistic_corpus
from foldpitch.envelope import hz_to_log2_period, log2_period_to_hz, log2_period_to_midi
from foldpitch.model import PitchNet

# --- each check against valid and invalid values ---------------------------------------


def _raises(error, message, check, *args, **kwargs):
    """``check(*args)`` raises ``error`` with exactly ``message`` (the whole text)."""
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        check(*args, **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(16000, 16000), (44100.0, 44100), (np.int64(8000), 8000), (np.float32(22050), 22050), (1, 1)],
)
def test_sample_rate_accepts_positive_whole_numbers_and_returns_an_int(value, expected):
    result = _checks.sample_rate("sample_rate", value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (16000.5, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-16000.0, ValueError),
        (True, TypeError),
        (False, TypeError),
        ("16k", TypeError),
        (None, TypeError),
        (torch.tensor(16000), TypeError),
    ],
)
def test_sample_rate_refuses_with_one_message(value, error):
    message = f"rate must be a positive integer number of Hz, got {value!r}"
    _raises(error, message, _checks.sample_rate, "rate", value)


def test_positive_int():
    assert _checks.positive_int("n", 3) == 3 and type(_checks.positive_int("n", np.int32(3))) is int
    assert _checks.positive_int("n_fft", 2, minimum=2) == 2
    _raises(ValueError, "n must be a positive integer, got 0", _checks.positive_int, "n", 0)
    _raises(TypeError, "n must be a positive integer, got 2.0", _checks.positive_int, "n", 2.0)
    _raises(TypeError, "n must be a positive integer, got True", _checks.positive_int, "n", True)
    _raises(TypeError, "n must be a positive integer, got '3'", _checks.positive_int, "n", "3")
    _raises(
        ValueError,
        "n_fft must be an integer number of samples >= 2, got 1",
        _checks.positive_int,
        "n_fft",
        1,
        minimum=2,
        unit="samples",
    )


def test_non_negative_int():
    assert _checks.non_negative_int("seed", 0) == 0
    assert _checks.non_negative_int("seed", np.uint8(7)) == 7
    _raises(
        ValueError,
        "seed must be a non-negative integer, got -1",
        _checks.non_negative_int,
        "seed",
        -1,
    )
    _raises(
        ValueError,
        "workers must be a non-negative integer number of processes, got -2",
        _checks.non_negative_int,
        "workers",
        -2,
        unit="processes",
    )
    _raises(
        TypeError,
        "seed must be a non-negative integer, got 0.0",
        _checks.non_negative_int,
        "seed",
        0.0,
    )


def test_positive_real():
    assert _checks.positive_real("s", 2) == 2.0 and type(_checks.positive_real("s", 2)) is float
    assert _checks.positive_real("s", np.float32(0.5)) == 0.5
    assert _checks.positive_real("s", 5e-324) == 5e-324  # the smallest positive float
    for bad in (0, -0.0, -1e-9, math.nan, math.inf):
        message = f"s must be a positive finite number of seconds, got {bad!r}"
        _raises(ValueError, message, _checks.positive_real, "s", bad, unit="seconds")
    for bad in (True, "1", None, [1.0]):
        message = f"s must be a positive finite number, got {bad!r}"
        _raises(TypeError, message, _checks.positive_real, "s", bad)


def test_non_negative_real():
    assert _checks.non_negative_real("cost", 0) == 0.0
    assert _checks.non_negative_real("cost", 1.5) == 1.5
    for bad in (-1e-12, math.nan, math.inf):
        message = f"cost must be a non-negative finite number, got {bad!r}"
        _raises(ValueError, message, _checks.non_negative_real, "cost", bad)


def test_probability():
    assert [_checks.probability("p", v) for v in (0, 0.25, 1)] == [0.0, 0.25, 1.0]
    for bad in (-0.01, 1.01, math.nan, math.inf):
        message = f"p must be a probability in [0, 1], got {bad!r}"
        _raises(ValueError, message, _checks.probability, "p", bad)
    _raises(
        TypeError, "p must be a probability in [0, 1], got '0.5'", _checks.probability, "p", "0.5"
    )
    _raises(
        TypeError, "p must be a probability in [0, 1], got True", _checks.probability, "p", True
    )


def test_real_range():
    assert _checks.real_range("snr_db", (-5, 40)) == (-5.0, 40.0)
    assert _checks.real_range("snr_db", [3.0, 3.0]) == (3.0, 3.0)
    assert _checks.real_range("rt60", np.array([0.2, 1.0]), positive=True) == (0.2, 1.0)
    what = "a (low, high) pair of finite numbers in dB with low <= high"
    for bad in ((40.0, 0.0), (0.0, math.inf), (math.nan, 1.0)):
        _raises(
            ValueError,
            f"snr_db must be {what}, got {bad!r}",
            _checks.real_range,
            "snr_db",
            bad,
            unit="dB",
        )
    for bad in ((1.0,), (1.0, 2.0, 3.0), ("a", "b"), 5.0, None):
        _raises(
            TypeError,
            f"snr_db must be {what}, got {bad!r}",
            _checks.real_range,
            "snr_db",
            bad,
            unit="dB",
        )
    positive = "a (low, high) pair of finite numbers with 0 < low <= high"
    _raises(
        ValueError,
        f"r must be {positive}, got (0.0, 1.0)",
        _checks.real_range,
        "r",
        (0.0, 1.0),
        positive=True,
    )


def test_one_of():
    assert _checks.one_of("mode", "a", ("a", "b")) == "a"
    _raises(
        ValueError,
        "mode must be one of ('a', 'b'), got 'c'",
        _checks.one_of,
        "mode",
        "c",
        ("a", "b"),
    )
    # An unhashable value against a set of choices is refused, not a crash.
    with pytest.raises(ValueError, match=r"^mode must be one of .*, got \['a'\]$"):
        _checks.one_of("mode", ["a"], frozenset({"a"}))


def test_flag():
    assert _checks.flag("f", True) is True and _checks.flag("f", False) is False
    for bad in (1, 0, "yes", None):
        _raises(TypeError, f"f must be True or False, got {bad!r}", _checks.flag, "f", bad)


def test_index():
    assert [_checks.index("index", i, 4) for i in (0, 3, -1, -4, np.int64(2))] == [0, 3, 3, 0, 2]
    for bad in (4, -5):
        _raises(
            IndexError,
            f"index must be an integer in [-4, 4), got {bad}",
            _checks.index,
            "index",
            bad,
            4,
        )
    _raises(
        TypeError, "index must be an integer in [-4, 4), got 1.0", _checks.index, "index", 1.0, 4
    )


def test_the_checks_module_imports_only_the_standard_library():
    # Every module imports it, so it must cost nothing and sit below every layer.
    source = open(_checks.__file__).read()
    imports = re.findall(r"^(?:from|import) (\S+)", source, flags=re.MULTILINE)
    assert set(imports) == {"__future__", "math", "numbers"}, imports


# --- every public entry point that takes a sample rate uses the one rule ----------------


def _needs(available: bool, what: str):
    return pytest.mark.skipif(not available, reason=f"needs {what}")


def _has_pyroomacoustics() -> bool:
    try:
        import pyroomacoustics  # noqa: F401
    except ImportError:
        return False
    return True


TONE = torch.sin(2 * math.pi * 200 * torch.arange(4000) / 8000)
FESTIVAL_VOICE = next(iter(speech.FESTIVAL_VOICES))  # never a reserved one
ENTRY_POINTS = {
    "predict": lambda rate: foldpitch.predict(np.zeros(100), rate),
    "pyin_like": lambda rate: foldpitch.pyin_like(np.zeros(100), rate),
    "fit": lambda rate: foldpitch.fit(TONE, rate),
    "stream": lambda rate: foldpitch.stream(sample_rate=rate),
    "PitchNet": lambda rate: PitchNet(sample_rate=rate),
    "log2_period_to_hz": lambda rate: log2_period_to_hz(TONE, rate),
    "hz_to_log2_period": lambda rate: hz_to_log2_period(TONE, rate),
    "log2_period_to_midi": lambda rate: log2_period_to_midi(TONE, rate),
    "SyntheticCorpus": lambda rate: SyntheticCorpus(sample_rate=rate),
    "LabelledSyntheticSet": lambda rate: LabelledSyntheticSet(sample_rate=rate),
    "AudioFolder": lambda rate: AudioFolder("never-read", sample_rate=rate),
    "realistic_corpus": lambda rate: realistic_corpus(sample_rate=rate),
    "Reverb": lambda rate: Reverb(SyntheticCorpus(length=1), sample_rate=rate),
    "EspeakSpeech": lambda rate: speech.EspeakSpeech(sample_rate=rate),
    "FestivalSpeech": lambda rate: speech.FestivalSpeech(sample_rate=rate),
    "render_festival": lambda rate: speech.render_festival("a", FESTIVAL_VOICE, sample_rate=rate),
    "SoundfontMelodies": lambda rate: soundfont.SoundfontMelodies(sample_rate=rate),
}
NEEDS = {
    "Reverb": _needs(_has_pyroomacoustics(), "pyroomacoustics"),
    "EspeakSpeech": _needs(speech.espeak_available(), "espeak-ng"),
    "FestivalSpeech": _needs(speech.festival_available(), "Festival"),
    "SoundfontMelodies": _needs(
        soundfont.fluidsynth_available() and bool(soundfont.find_soundfonts()),
        "fluidsynth and an allowed soundfont",
    ),
}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=NEEDS.get(name, ())) for name in ENTRY_POINTS]
)
@pytest.mark.parametrize(
    ("rate", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (16000.5, ValueError),
        (True, TypeError),
        ("16k", TypeError),
    ],
)
def test_every_entry_point_refuses_a_bad_sample_rate_the_same_way(name, rate, error):
    # The whole message, so a module that keeps a rule (or a wording) of its own fails.
    message = f"sample_rate must be a positive integer number of Hz, got {rate!r}"
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        ENTRY_POINTS[name](rate)
