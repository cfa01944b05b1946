"""Tests of the recorded-voice and instrument sets of the accuracy benchmark
(benchmarks/accuracy/realistic.py).

They render audio with Festival and fluidsynth and are skipped where those (or pyworld,
or the allowed soundfonts) are missing. Each labelled set is checked against an
independent tracker (Praat, and pyin for the soundfont tuning).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import realistic  # noqa: E402


def _require(source: str) -> None:
    missing = realistic.missing_parts()
    if source in missing:
        pytest.skip(f"{source}: {missing[source]}")


def _praat_cents(clip) -> np.ndarray:
    """Praat's f0 against the label, in cents, on the labelled voiced frames where Praat
    is voiced."""
    pytest.importorskip("parselmouth")
    from benchmarks.accuracy.methods import METHODS

    track = METHODS["praat"](clip.audio, clip.sample_rate, 50.0, 1100.0)
    estimate = np.interp(clip.times, track.times, track.f0_hz)
    # frames whose both neighbours on Praat's grid are voiced (no blend with a 0)
    voiced = np.interp(clip.times, track.times, track.voiced.astype(float)) == 1
    both = (clip.f0_hz > 0) & voiced
    return 1200 * np.log2(estimate[both] / clip.f0_hz[both])


@pytest.fixture(scope="module")
def instrument_clips():
    _require("instruments")
    # two test programs (clarinet-like reeds and a plucked string differ in attack)
    return realistic.build_set("instruments-test", (None, 10.0), quick=True)


def test_instrument_set_builds_deterministically_and_is_monophonic(instrument_clips):
    clips = instrument_clips
    assert len(clips) == 4 and {c.snr_db for c in clips} == {None, 10.0}
    again = realistic.build_set("instruments-test", (None,), quick=True)
    np.testing.assert_array_equal(again[0].audio, clips[0].audio)
    for clip in clips:
        voiced = clip.f0_hz[clip.f0_hz > 0]
        # every label is an equal-tempered pitch of the nominal range
        midi = 69 + 12 * np.log2(voiced / 440.0)
        np.testing.assert_allclose(midi, np.round(midi), atol=1e-9)
        assert midi.min() >= realistic.PITCH_RANGE[0] and midi.max() <= realistic.PITCH_RANGE[1]
        # silence before the first note and after the last
        assert clip.f0_hz[0] == 0 and clip.f0_hz[-1] == 0
        assert len(clip.times) == math.ceil(len(clip.audio) / 160)


def test_instrument_labels_match_two_independent_trackers(instrument_clips):
    """The soundfont's tuning, checked: on the clean clips Praat and pyin agree with the
    nominal pitch (median within 15 cents, 85 % of the frames within 50 cents)."""
    pytest.importorskip("parselmouth")
    pytest.importorskip("librosa")
    clean = [c for c in instrument_clips if c.snr_db is None]
    for row in realistic.tuning_table(clean):
        for tracker in ("praat", "pyin"):
            assert abs(row[f"{tracker}_median_cents"]) < 15, row
            assert row[f"{tracker}_within_50"] > 0.85, row


@pytest.fixture(scope="module")
def festival_clips():
    _require("festival")
    return realistic.build_set("festival-test-rooms", (None,), quick=True)


def test_festival_labels_match_praat_and_rooms_keep_the_dry_label(festival_clips):
    """WORLD resynthesis of a Festival voice: Praat within 50 cents of the label on 80 % of
    the frames both call voiced, its median deviation under 5 cents. In the room the label
    is the dry one, and the dry clip (rebuilt) differs from the reverberant audio."""
    (room,) = festival_clips
    dry = realistic.build_festival_clips("festival-test", (None,), voices=[room.kind], sentences=1)[
        0
    ]
    np.testing.assert_array_equal(room.f0_hz, dry.f0_hz)
    assert (dry.f0_hz > 0).mean() > 0.3
    cents = _praat_cents(dry)
    # Praat is no perfect reference on fast-moving speech (85 % within 50 cents on the
    # Catalan HTS voice); a label shifted in time or pitch would move the median
    summary = np.percentile(cents, [5, 50, 95])
    assert len(cents) > 50 and np.mean(np.abs(cents) < 50) > 0.8, summary
    assert abs(np.median(cents)) < 5, summary
    assert not np.allclose(room.audio, dry.audio, atol=1e-3)


def test_room_impulse_response_has_the_drawn_rt60():
    """The decay of the tail (Schroeder backward integration, the -5 to -25 dB fit, T20)
    matches the drawn RT60, and the direct-to-reverberant ratio is in the drawn range."""
    for seed in range(4):
        rir, rt60 = realistic.room_impulse_response(np.random.default_rng(seed), 16000)
        assert realistic.RT60_RANGE[0] <= rt60 <= realistic.RT60_RANGE[1]
        assert rir[0] == 1.0
        tail = rir.copy()
        tail[: int(0.031 * 16000)] = 0  # leave out the direct path and the early reflections
        energy = np.cumsum(tail[::-1] ** 2)[::-1]
        decay = 10 * np.log10(energy / energy[0] + 1e-30)
        t = np.arange(len(rir)) / 16000
        fit = (decay <= -5) & (decay >= -25)
        slope = np.polyfit(t[fit], decay[fit], 1)[0]  # dB per second
        assert -60 / slope == pytest.approx(rt60, rel=0.15)
        reverberant = float(np.sum(rir[1:] ** 2))
        drr = 10 * math.log10(1 / reverberant)
        assert realistic.DRR_RANGE_DB[0] - 4 < drr < realistic.DRR_RANGE_DB[1] + 1


def test_only_allow_listed_sources_and_dev_test_disjoint(tmp_path):
    """The sets read the split table: only allow-listed voices and soundfonts, and dev and
    test share no voice and no instrument family (nor with training)."""
    from foldpitch.data import soundfont, splits
    from foldpitch.data.speech import FESTIVAL_VOICES

    for split in ("dev", "test"):
        for voice in splits.festival_voices(split):
            assert FESTIVAL_VOICES[voice].language in realistic.FESTIVAL_SENTENCES
        for number in splits.programs(split):
            program = next(p for p in soundfont.PROGRAMS if p.number == number)
            realistic.melody(program, np.random.default_rng(0))  # a register inside the range
    assert not set(splits.festival_voices("dev")) & set(splits.festival_voices("test"))
    families = {
        split: {p.family for p in soundfont.PROGRAMS if p.number in splits.programs(split)}
        for split in ("train", "dev", "test")
    }
    assert not families["dev"] & families["test"]
    assert not (families["dev"] | families["test"]) & families["train"]
    for font in soundfont.find_soundfonts():
        assert Path(font).resolve().name in soundfont.ALLOWED_SOUNDFONTS, font
    other = tmp_path / "Other_GM.sf2"
    other.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="allow-list"):
        realistic.build_instrument_clips("instruments-dev", soundfonts=[other])


def test_the_run_knows_the_sets():
    from benchmarks.accuracy import run

    args = run.parse_args(["--sets", "festival-dev,instruments-test-rooms"])
    assert args.set_names == ["festival-dev", "instruments-test-rooms"]
    full = run.parse_args(["--full"])
    assert set(realistic.REALISTIC_SETS) & set(full.set_names) == {
        "festival-test",
        "festival-test-rooms",
        "instruments-test",
        "instruments-test-rooms",
    }


def test_the_decoder_settings_dev_set_speaks_only_new_sentences_with_the_dev_voices():
    # benchmarks/decoder_settings.py chooses settings on festival-dev-more: the split's
    # dev voices (never a test voice) and sentences the test sets do not speak.
    from benchmarks.decoder_settings import MORE_SENTENCES
    from foldpitch.data.splits import festival_voices

    assert set(MORE_SENTENCES) == set(festival_voices("dev"))
    assert not set(MORE_SENTENCES) & set(festival_voices("test"))
    test_sentences = {text for texts in realistic.FESTIVAL_SENTENCES.values() for text in texts}
    more = [text for texts in MORE_SENTENCES.values() for text in texts]
    assert len(set(more)) == len(more) and not set(more) & test_sentences
