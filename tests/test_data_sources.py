"""Tests of the realistic sources: Festival voices, soundfont renders, the split table and
the refusal of anything off the allow-lists. Renders skip (with the reason) where the programs are
missing; each f0 check uses an independent tracker (Praat through parselmouth, or pyin)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foldpitch.data import soundfont, speech, splits
from foldpitch.data._texts import WORDS, sentence
from foldpitch.data.soundfont import (
    PROGRAMS,
    Note,
    check_soundfont,
    find_soundfonts,
    fluidsynth_available,
    midi_to_hz,
    render_soundfont,
)
from foldpitch.data.speech import (
    FESTIVAL_VOICES,
    check_festival_voice,
    festival_available,
    render_festival,
)

SR = 16000
needs_festival = pytest.mark.skipif(
    not festival_available(), reason="Festival (text2wave) not installed: apt-get install festival"
)
needs_fluidsynth = pytest.mark.skipif(
    not (fluidsynth_available() and find_soundfonts()),
    reason="fluidsynth or an allowed soundfont missing: apt-get install fluidsynth "
    "timgm6mb-soundfont musescore-general-soundfont-lossless",
)


def praat_f0(audio: np.ndarray, floor: float = 50.0, ceiling: float = 1100.0) -> np.ndarray:
    """Voiced-frame f0 in Hz from Praat's autocorrelation tracker (independent of foldpitch)."""
    parselmouth = pytest.importorskip("parselmouth")
    pitch = parselmouth.Sound(audio.astype(np.float64), SR).to_pitch(
        pitch_floor=floor, pitch_ceiling=ceiling
    )
    f0 = pitch.selected_array["frequency"]
    return f0[f0 > 0]


# ------------------------------------------------------------------ allow-lists


@pytest.mark.parametrize(
    "voice",
    ["made_up_diphone", "czech_dita_x", "CZECH_DITA", "czech_dita ", "", "voice_czech_dita"],
)
def test_festival_voices_off_the_allow_list_are_refused(voice):
    # made-up names, and near misses of an allowed one: only exact table names pass
    assert voice not in FESTIVAL_VOICES
    with pytest.raises(ValueError, match="allow-list"):
        check_festival_voice(voice)
    with pytest.raises(ValueError, match="allow-list"):
        render_festival("hello", voice)


def test_every_allow_listed_festival_voice_is_accepted():
    for voice, entry in FESTIVAL_VOICES.items():
        assert check_festival_voice(voice) is entry
    with pytest.raises(TypeError, match="voice"):
        check_festival_voice(None)


@pytest.mark.parametrize(
    "name", ["Other.sf2", "made_up_GM.sf3", "timgm6mb.sf2", "TimGM6mb.sf2.bak"]
)
def test_soundfonts_off_the_allow_list_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="allow-list"):
        check_soundfont(path)
    with pytest.raises(ValueError, match="allow-list"):
        render_soundfont([Note(0.0, 0.1, 60)], 0, path)


def test_a_link_is_judged_by_the_file_it_resolves_to(tmp_path):
    other = tmp_path / "Other.sf2"
    other.write_bytes(b"RIFF")
    allowed = tmp_path / "TimGM6mb.sf2"
    allowed.write_bytes(b"RIFF")
    # an allowed name (or a "default" link) pointing to a file off the list is refused ...
    for name in ("MuseScore_General.sf3", "default-GM.sf2"):
        (tmp_path / name).symlink_to(other)
        with pytest.raises(ValueError, match="allow-list"):
            check_soundfont(tmp_path / name)
    # ... and any link name pointing to an allowed file resolves to that file
    (tmp_path / "default-GM.sf3").symlink_to(allowed)
    assert check_soundfont(tmp_path / "default-GM.sf3") == allowed.resolve()


def test_find_soundfonts_returns_only_allow_listed_unlinked_files(tmp_path):
    (tmp_path / "Other.sf2").write_bytes(b"RIFF")
    (tmp_path / "TimGM6mb.sf2").write_bytes(b"RIFF")
    (tmp_path / "default-GM.sf2").symlink_to(tmp_path / "TimGM6mb.sf2")
    (tmp_path / "MuseScore_General.sf2").symlink_to(tmp_path / "Other.sf2")
    assert find_soundfonts([tmp_path]) == [(tmp_path / "TimGM6mb.sf2").resolve()]
    assert all(p.name in soundfont.ALLOWED_SOUNDFONTS for p in find_soundfonts())


# ------------------------------------------------------------------------ splits


def test_every_source_is_in_exactly_one_split_and_others_in_none():
    assert set(splits.SPLITS["festival"]) == set(FESTIVAL_VOICES)
    assert set(splits.SPLITS["soundfont"]) == {p.family for p in PROGRAMS}
    for table in splits.SPLITS.values():
        assert set(table.values()) == set(splits.SPLIT_NAMES)
    with pytest.raises(ValueError, match="no split"):
        splits.split_of("festival", "made_up_diphone")


def test_dev_and_test_are_disjoint_from_train_and_from_each_other():
    names = {
        s: (
            set(splits.festival_voices(s)),
            set(splits.espeak_languages(s)),
            {p.family for p in PROGRAMS if p.number in splits.programs(s)},
        )
        for s in splits.SPLIT_NAMES
    }
    for a, b in [("train", "dev"), ("train", "test"), ("dev", "test")]:
        for kind in range(3):
            assert not names[a][kind] & names[b][kind], (a, b, kind)
    # One speaker, one split: the three NSK voices are the same man.
    nsk = {splits.split_of("festival", v) for v in FESTIVAL_VOICES if "NSK" in v}
    assert len(nsk) == 1
    # The espeak-ng languages that training reads are those of the train split.
    assert splits.split_of("espeak", "de+f2") == "test"
    assert splits.split_of("soundfont", 53) == "test"  # Voice Oohs
    assert splits.split_of("soundfont", 52) == "train"  # Choir Aahs


def test_the_benchmark_speech_voices_are_not_train():
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    accuracy_speech = pytest.importorskip("benchmarks.accuracy.speech")
    for voice, _ in accuracy_speech.ESPEAK_VOICES + accuracy_speech.DEV_VOICES:
        assert splits.split_of("espeak", voice) != "train", voice


# --------------------------------------------------------------------- texts, MIDI


def test_sentences_are_seeded_and_in_the_language():
    for language, words in WORDS.items():
        a = sentence(np.random.default_rng([3, 1]), language)
        assert a == sentence(np.random.default_rng([3, 1]), language)
        assert a != sentence(np.random.default_rng([3, 2]), language)
        tokens = [t.strip(",.?!").lower() for t in a.split()]
        assert all(t in {w.lower() for w in words} for t in tokens), (language, a)


def test_midi_file_bytes_follow_the_standard(tmp_path):
    """Header, track length and the note events decoded by hand (the SMF layout)."""
    notes = [Note(0.0, 0.5, 60, 100), Note(0.5, 0.25, 67, 80)]
    soundfont.write_midi(notes, 73, tmp_path / "a.mid")
    data = (tmp_path / "a.mid").read_bytes()
    assert data[:4] == b"MThd" and int.from_bytes(data[8:10], "big") == 0
    division = int.from_bytes(data[12:14], "big")
    assert data[14:18] == b"MTrk"
    assert int.from_bytes(data[18:22], "big") == len(data) - 22
    # Walk the events: delta times, running status not used.
    track, i, tick, ons, offs = data[22:], 0, 0, [], []
    while i < len(track):
        delta = 0
        while True:
            byte = track[i]
            i += 1
            delta = (delta << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        tick += delta
        status = track[i]
        if status == 0xFF:
            length = track[i + 2]
            i += 3 + length
            continue
        size = 2 if status >> 4 in (0xC, 0xD) else 3
        if status >> 4 == 0x9:
            ons.append((tick, track[i + 1], track[i + 2]))
        if status >> 4 == 0x8:
            offs.append((tick, track[i + 1]))
        if status >> 4 == 0xC:
            assert track[i + 1] == 73
        i += size
    seconds = 2 * division  # 120 bpm: two quarter notes per second
    assert ons == [(0, 60, 100), (seconds // 2, 67, 80)]
    assert offs == [(seconds // 2, 60), (3 * seconds // 4, 67)]


def test_bad_notes_are_refused():
    with pytest.raises(ValueError, match="pitch"):
        soundfont.write_midi([Note(0.0, 0.1, 200)], 0, "/nonexistent/x.mid")
    with pytest.raises(ValueError, match="bend"):
        soundfont.write_midi([Note(0.0, 0.1, 60, bend=3.0)], 0, "/nonexistent/x.mid")
    with pytest.raises(TypeError, match="Note"):
        soundfont.write_midi([(0.0, 0.1, 60)], 0, "/nonexistent/x.mid")


# ------------------------------------------------------------------------- renders


@needs_fluidsynth
@pytest.mark.parametrize("program, pitch", [(73, 69), (42, 45), (52, 60), (56, 70)])
def test_a_rendered_note_sounds_at_its_midi_pitch(program, pitch):
    for path in find_soundfonts():
        audio = render_soundfont([Note(0.0, 0.8, pitch)], program, path)
        f0 = praat_f0(audio[int(0.1 * SR) : int(0.7 * SR)])
        assert f0.size > 20, (path.name, program)
        cents = 1200 * np.log2(np.median(f0) / midi_to_hz(pitch))
        assert abs(cents) < 25, (path.name, program, pitch, cents)


@needs_fluidsynth
def test_a_bend_and_vibrato_move_the_rendered_pitch_as_written():
    path = find_soundfonts()[-1]
    plain = render_soundfont([Note(0.0, 1.0, 69)], 73, path)
    bent = render_soundfont([Note(0.0, 1.0, 69, bend=2.0)], 73, path)
    # The last 200 ms of the bent note are within 0.4 semitones of +2.
    late = praat_f0(bent[int(0.8 * SR) : int(1.0 * SR)])
    assert abs(12 * np.log2(np.median(late) / 440) - 1.9) < 0.3
    assert abs(12 * np.log2(np.median(praat_f0(plain[int(0.8 * SR) : SR])) / 440)) < 0.2
    wobble = render_soundfont([Note(0.0, 1.0, 69, vibrato_cents=80, vibrato_hz=5)], 73, path)
    f0 = praat_f0(wobble[int(0.2 * SR) : SR])
    spread = 1200 * np.log2(np.percentile(f0, 95) / np.percentile(f0, 5))
    assert 100 < spread < 200  # peak to peak 160 cents


@needs_fluidsynth
def test_soundfont_render_is_deterministic_and_cached(tmp_path):
    path = find_soundfonts()[-1]
    notes = [Note(0.0, 0.3, 60), Note(0.3, 0.3, 64, vibrato_cents=30)]
    a = render_soundfont(notes, 40, path)
    b = render_soundfont(notes, 40, path, cache_dir=tmp_path)
    assert np.array_equal(a, b)
    assert len(list(tmp_path.glob("*.wav"))) == 1
    c = render_soundfont(notes, 40, path, cache_dir=tmp_path)
    assert np.array_equal(a, c)
    assert a.dtype == np.float32 and a.ndim == 1 and len(a) == int(np.ceil(1.1 * SR))


@needs_festival
@pytest.mark.parametrize("voice", ["czech_dita", "ked_diphone", "upc_ca_ona_hts"])
def test_festival_speech_has_a_speech_like_median_f0(voice):
    text = sentence(np.random.default_rng(0), FESTIVAL_VOICES[voice].language)
    audio = render_festival(text, voice)
    assert audio.dtype == np.float32 and 1.0 < len(audio) / SR < 15
    f0 = praat_f0(audio, 50, 600)
    assert f0.size > 50
    assert 70 < np.median(f0) < 350, (voice, np.median(f0))


@needs_festival
def test_festival_rate_and_pitch_settings_act(tmp_path):
    text = "Dobrý den, dnes je krásný den."
    plain = render_festival(text, "czech_ph")
    slow_high = render_festival(text, "czech_ph", stretch=1.5, f0_shift=1.5, cache_dir=tmp_path)
    assert len(slow_high) / len(plain) == pytest.approx(1.5, rel=0.15)
    ratio = np.median(praat_f0(slow_high, 50, 600)) / np.median(praat_f0(plain, 50, 600))
    assert ratio == pytest.approx(1.5, rel=0.1)
    again = render_festival(text, "czech_ph", stretch=1.5, f0_shift=1.5, cache_dir=tmp_path)
    assert np.array_equal(again, slow_high) and len(list(tmp_path.glob("*.wav"))) == 1
    assert np.array_equal(plain, render_festival(text, "czech_ph"))  # deterministic


# ---------------------------------------------------------------- melodies, datasets


def test_random_melodies_stay_in_register_and_monophonic():
    gaps, vibrato = [], []
    for program, seed in [(p, s) for p in PROGRAMS for s in range(25)]:
        rng = np.random.default_rng([seed, program.number])
        notes = soundfont.random_melody(rng, program.number, 8.0, fmin=60.0, fmax=1000.0)
        assert notes and notes[-1].start < 8.0
        pitches = np.array([n.pitch for n in notes])
        assert pitches.min() >= max(program.low, 35) and pitches.max() <= min(program.high, 83)
        for a, b in zip(notes, notes[1:], strict=False):  # no overlap: one f0 at a time
            assert a.start + a.duration <= b.start + 1e-9
        gaps += [b.start - (a.start + a.duration) for a, b in zip(notes, notes[1:], strict=False)]
        for i, note in enumerate(notes):  # every note is writable (bend within range...)
            soundfont._check_note(note, i)
        vibrato += [n.vibrato_cents > 0 for n in notes]
        highest = max(midi_to_hz(n.pitch + abs(n.bend) + n.vibrato_cents / 100) for n in notes)
        assert highest < 1000.0 * 2 ** (2 / 12)
    gaps = np.array(gaps)
    assert 0.2 < np.mean(gaps < 1e-6) < 0.8  # legato and detached notes
    assert 0.1 < np.mean(vibrato) < 0.6


@needs_fluidsynth
def test_lines_rendered_together_equal_lines_rendered_alone():
    path = find_soundfonts()[-1]
    lines = [
        (40, [Note(0.0, 0.4, 64, vibrato_cents=30), Note(0.4, 0.3, 67)]),
        (73, [Note(0.1, 0.5, 72, bend=-1.0)]),
    ]
    together = soundfont.render_soundfont_lines(lines, path)
    for (program, notes), audio in zip(lines, together, strict=True):
        alone = render_soundfont(notes, program, path)
        assert audio.shape == alone.shape
        # the same to 1 % of the peak (one sample of misalignment would be 40 %)
        assert np.abs(audio - alone).max() < 1e-2 * np.abs(alone).max()


@needs_fluidsynth
def test_soundfont_melodies_are_deterministic_and_use_the_train_split(tmp_path):
    a = soundfont.SoundfontMelodies(length=6, n_lines=3, cache_dir=tmp_path / "a", seed=2)
    b = soundfont.SoundfontMelodies(length=6, n_lines=3, cache_dir=tmp_path / "b", seed=2)
    for i in range(6):
        assert torch.equal(a[i]["audio"], b[i]["audio"]), i
    assert set(a.programs) == set(splits.programs("train"))
    assert all(p.name in soundfont.ALLOWED_SOUNDFONTS for p in a.soundfonts)
    assert a[0]["audio"].shape == (SR,) and a[0]["audio"].abs().max() > 0.01
    with pytest.raises(ValueError, match="allow-list"):
        soundfont.SoundfontMelodies(soundfonts=[tmp_path / "a" / "Other.sf2"])


@needs_festival
def test_festival_speech_is_deterministic_and_uses_the_train_split(tmp_path):
    a = speech.FestivalSpeech(length=4, n_utterances=2, cache_dir=tmp_path / "a", seed=4)
    b = speech.FestivalSpeech(length=4, n_utterances=2, cache_dir=tmp_path / "b", seed=4)
    for i in range(4):
        assert torch.equal(a[i]["audio"], b[i]["audio"]), i
    assert set(a.voices) == set(splits.festival_voices("train"))
    assert a.utterance(0) != a.utterance(1)
    with pytest.raises(ValueError, match="allow-list"):
        speech.FestivalSpeech(voices=["made_up_diphone"])


def test_played_faster_scales_every_frequency_and_shortens():
    # a 200 Hz sine played 1.25 times faster is a 250 Hz sine 1/1.25 as long
    t = np.arange(SR) / SR
    out = speech.played_faster(np.sin(2 * np.pi * 200.0 * t).astype(np.float32), 1.25, SR)
    assert abs(out.size - SR / 1.25) <= 1
    spectrum = np.abs(np.fft.rfft(out[1000:-1000] * np.hanning(out.size - 2000)))
    peak_hz = np.argmax(spectrum) * SR / (out.size - 2000)
    assert abs(peak_hz - 250.0) < 2.0, peak_hz
    with pytest.raises(ValueError, match="ratio"):
        speech.played_faster(out, 0.0, SR)


@needs_festival
def test_festival_speech_resample_cuts_excerpts_of_the_utterance_played_faster(tmp_path):
    plain = speech.FestivalSpeech(length=3, n_utterances=2, cache_dir=tmp_path, seed=2)
    same = speech.FestivalSpeech(
        length=3, n_utterances=2, cache_dir=tmp_path, seed=2, resample=(1.0, 1.0)
    )
    fast = speech.FestivalSpeech(
        length=3, n_utterances=2, cache_dir=tmp_path, seed=2, resample=(1.5, 1.5)
    )
    faster = [speech.played_faster(plain.render(u), 1.5, SR) for u in range(2)]

    def is_excerpt(item, audio):  # item == audio[start:start + n], zero-padded past its end
        for start in np.flatnonzero(audio == item[0]):
            piece = audio[start : start + item.size]
            if np.array_equal(item[: piece.size], piece) and not item[piece.size :].any():
                return True
        return False

    for i in range(3):
        assert torch.equal(plain[i]["audio"], same[i]["audio"])  # off: the items as before
        item = fast[i]["audio"].numpy()
        assert any(is_excerpt(item, audio) for audio in faster), i
    with pytest.raises(ValueError, match="resample"):
        speech.FestivalSpeech(resample=(0.0, 1.0))


# ------------------------------------------------------------------ rooms and noise


class _Tones(torch.utils.data.Dataset):
    """Known signals: item i is a 200 Hz + i*10 Hz sine, 1 s, unit amplitude."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        t = np.arange(SR) / SR
        tone = np.sin(2 * np.pi * (200 + 10 * i) * t)
        return {"audio": torch.from_numpy(tone.astype(np.float32))}


def test_reverb_rooms_have_their_rt60_and_keep_the_dry_audio_aligned(tmp_path):
    pra = pytest.importorskip("pyroomacoustics")
    from foldpitch.data.rooms import Reverb

    rooms = Reverb(_Tones(), p_reverb=1.0, rt60=(0.3, 0.9), n_rooms=3, seed=1, cache_dir=tmp_path)
    for r in range(3):
        response = rooms.impulse_response(r)
        measured = pra.experimental.measure_rt60(response, fs=SR)
        assert measured / rooms.room(r)["rt60"] == pytest.approx(1, abs=0.15), (r, measured)
        assert np.argmax(np.abs(response)) == Reverb._LEAD  # direct sound first
    for i in range(4):
        item = rooms[i]
        dry = _Tones()[i]["audio"]
        assert torch.equal(item["clean"], dry)
        wet = item["audio"].numpy()
        assert not np.allclose(wet, dry.numpy(), atol=1e-2)
        # Scaled to the dry power; the direct sound is 8 samples late at most.
        assert np.mean(wet**2) == pytest.approx(np.mean(dry.numpy() ** 2), rel=1e-4)
    # Alignment, on white noise (a sine would correlate at every period).
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    wet = Reverb([{"audio": torch.from_numpy(noise)}], 1.0, n_rooms=1, cache_dir=tmp_path)[0]
    lags = np.arange(-40, 41)
    xcorr = [np.dot(np.roll(wet["audio"].numpy(), -lag), noise) for lag in lags]
    assert 0 <= lags[int(np.argmax(xcorr))] <= Reverb._LEAD
    again = Reverb(_Tones(), p_reverb=1.0, rt60=(0.3, 0.9), n_rooms=3, seed=1, cache_dir=tmp_path)
    assert torch.equal(again[2]["audio"], rooms[2]["audio"])  # deterministic (and cached)


def test_babble_sums_unit_power_talkers():
    from foldpitch.data.rooms import Babble

    babble = Babble(_Tones(), talkers=(3, 3), seed=0)
    audio = babble[0]["audio"].numpy().astype(np.float64)
    assert np.mean(audio**2) == pytest.approx(1.0, rel=1e-5)
    spectrum = np.abs(np.fft.rfft(audio))
    assert 1 <= int(np.sum(spectrum > 0.2 * spectrum.max())) <= 3  # up to three sines
    assert torch.equal(babble[0]["audio"], Babble(_Tones(), talkers=(3, 3), seed=0)[0]["audio"])


def test_background_noise_is_added_at_the_drawn_snr():
    from foldpitch.data.rooms import AddNoise

    music = _Tones()
    noisy = AddNoise(_Tones(), snr_db=10.0, p_clean=0.0, backgrounds=[music], p_background=1.0)
    for i in range(4):
        item = noisy[i]
        noise = (item["audio"] - item["clean"]).numpy().astype(np.float64)
        signal = item["clean"].numpy().astype(np.float64)
        assert 10 * np.log10(np.mean(signal**2) / np.mean(noise**2)) == pytest.approx(10, abs=0.01)
        # The noise is one of the background's sines, not coloured noise.
        assert any(
            abs(np.corrcoef(noise, music[j]["audio"].numpy())[0, 1]) > 0.999 for j in range(8)
        )
    # A wrapped "clean" (the dry audio under a room) is passed on to the loss.
    inner = [{"audio": torch.ones(SR), "clean": torch.zeros(SR)}]
    assert torch.equal(AddNoise(inner, 10.0, p_clean=0.0)[0]["clean"], torch.zeros(SR))


# ------------------------------------------------------------------------- corpus


def _small_corpus(tmp_path, **options):
    from foldpitch.data.corpus import realistic_corpus

    defaults = dict(length=40, cache_dir=tmp_path, n_utterances=2, n_lines=2, n_rooms=2)
    return realistic_corpus(**{**defaults, **options})


def _leaves(dataset):
    stack, out = [dataset], []
    while stack:
        node = stack.pop()
        children = list(getattr(node, "datasets", []) or []) + list(
            getattr(node, "backgrounds", []) or []
        )
        if getattr(node, "dataset", None) is not None:
            children.append(node.dataset)
        out += [node] if not children else []
        stack += children
    return out


@needs_festival
@needs_fluidsynth
def test_realistic_corpus_builds_deterministically_from_train_sources_only(tmp_path):
    pytest.importorskip("pyroomacoustics")
    a = _small_corpus(tmp_path / "a", seed=3)
    b = _small_corpus(tmp_path / "b", seed=3)
    assert len(a) == 40
    for i in (0, 13, 22, 39):  # tones, espeak, festival, soundfont items
        x, y = a[i], b[i]
        assert sorted(x) == ["audio", "clean"] and x["audio"].shape == (SR,)
        assert torch.equal(x["audio"], y["audio"]) and torch.equal(x["clean"], y["clean"])
    kinds = {type(leaf).__name__ for leaf in _leaves(a)}
    assert {"SyntheticCorpus", "EspeakSpeech", "FestivalSpeech", "SoundfontMelodies"} <= kinds
    for leaf in _leaves(a):  # no dev, test or unlisted source reaches training
        if isinstance(leaf, speech.FestivalSpeech):
            assert {splits.split_of("festival", v) for v in leaf.voices} == {"train"}
        if isinstance(leaf, speech.EspeakSpeech):
            assert {splits.split_of("espeak", v) for v in leaf.voices} == {"train"}
        if isinstance(leaf, soundfont.SoundfontMelodies):
            assert {splits.split_of("soundfont", p) for p in leaf.programs} == {"train"}
            assert all(check_soundfont(p) == p for p in leaf.soundfonts)


def test_realistic_corpus_skips_a_missing_program_and_still_builds(tmp_path, monkeypatch):
    monkeypatch.setattr(speech, "festival_available", lambda: False)
    monkeypatch.setattr(soundfont, "fluidsynth_available", lambda: False)
    with pytest.warns(UserWarning) as caught:
        corpus = _small_corpus(tmp_path, p_reverb=0.0)
    messages = " ".join(str(w.message) for w in caught)
    assert "skipping the festival source" in messages and "text2wave" in messages
    assert "skipping the soundfont source" in messages and "fluidsynth" in messages
    kinds = [type(leaf).__name__ for leaf in _leaves(corpus)]
    assert "FestivalSpeech" not in kinds and "SoundfontMelodies" not in kinds
    assert len(corpus) == 40 and corpus[5]["audio"].shape == (SR,)


@needs_festival
@needs_fluidsynth
def test_prepare_corpus_fills_the_cache_the_corpus_reads(tmp_path):
    pytest.importorskip("pyroomacoustics")
    from foldpitch.data.corpus import prepare_corpus

    options = dict(length=40, cache_dir=tmp_path, n_utterances=2, n_lines=2, n_rooms=2)
    counts = prepare_corpus(progress=False, **options)
    # + the background pools; nothing failed
    assert counts == {"rooms": 2, "festival": 2 + 1, "soundfont": 2 + 1, "failed": 0}
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert len([p for p in files if p.suffix == ".npy"]) == 2
    corpus = _small_corpus(tmp_path)
    for i in range(len(corpus)):
        corpus[i]
    # Reading every item rendered nothing new for the pools (espeak renders per item).
    new = {p for p in tmp_path.rglob("*") if p.is_file()} - set(files)
    assert all(p.parent.name == "espeak" for p in new), sorted(map(str, new))


def test_the_realistic_config_builds_the_corpus(tmp_path, monkeypatch):
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from foldpitch.data.rooms import AddNoise

    monkeypatch.setattr(speech, "festival_available", lambda: False)  # fast: no renders
    root = Path(__file__).resolve().parents[1]
    with initialize_config_dir(config_dir=str(root / "configs"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "data=realistic",
                f"data.train.cache_dir={tmp_path}",
                "data.train.length=20",
                "data.train.p_reverb=0",
            ],
        )
    with pytest.warns(UserWarning, match="festival"):
        datamodule = instantiate(cfg.data)
    train = datamodule.train_set
    assert isinstance(train, AddNoise) and len(train) == 20
    assert sorted(train[0]) == ["audio", "clean"]


def test_espeak_speech_defaults_to_the_train_languages(monkeypatch, tmp_path):
    monkeypatch.setattr(speech, "espeak_available", lambda: True)
    voices = speech.EspeakSpeech(cache_dir=tmp_path).voices
    assert voices and {splits.split_of("espeak", v) for v in voices} == {"train"}


def test_festival_speech_skips_an_utterance_festival_cannot_render(monkeypatch, tmp_path):
    monkeypatch.setattr(speech, "festival_available", lambda: True)
    data = speech.FestivalSpeech(length=4, n_utterances=3, cache_dir=tmp_path, seed=1)
    texts = [data.utterance(u)["text"] for u in range(3)]
    first = int(np.random.default_rng([1, 0]).integers(3))  # item 0's utterance

    def fake_render(text, voice, **settings):
        if text == texts[first]:
            raise RuntimeError("text2wave failed (simulated)")
        return np.full(2 * SR, texts.index(text) + 1, np.float32)

    monkeypatch.setattr(speech, "render_festival", fake_render)
    with pytest.warns(UserWarning, match=f"skipping utterance {first}"):
        item = data[0]["audio"]
    assert torch.all(item == (first + 1) % 3 + 1)  # the next utterance of the pool


@needs_festival
def test_festival_renders_the_child_voice_at_its_highest_pitch_settings():
    """Targets near 600 Hz crashed the diphone resynthesis (exit -11): they are capped."""
    text = "Dobrý zítra dnes zítra, protože večer velký!"
    audio = render_festival(text, "czech_krb", stretch=0.86, f0_shift=1.34, f0_range=1.76)
    f0 = praat_f0(audio, 50, 800)
    assert np.median(f0) < 470 and np.percentile(f0, 95) < 520
