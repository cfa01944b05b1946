"""Tests of foldpitch.data: generated corpus, labelled set, audio folders, espeak-ng."""

from __future__ import annotations

import math
import os
import stat
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from foldpitch.data import (
    AddNoise,
    AudioFolder,
    EspeakSpeech,
    LabelledSyntheticSet,
    SyntheticCorpus,
    espeak_available,
)
from foldpitch.frontend import n_frames_for

SR = 16000


# --------------------------------------------------------------------------- synthetic


def test_corpus_is_deterministic_per_index():
    a = SyntheticCorpus(length=6, seconds=0.25, seed=3)
    b = SyntheticCorpus(length=6, seconds=0.25, seed=3)
    for i in range(6):
        assert torch.equal(a[i]["audio"], b[i]["audio"]), f"index {i}"
    # Reading in another order (as another worker would) gives the same items.
    assert torch.equal(a[4]["audio"], b[4]["audio"])
    assert torch.equal(a[-1]["audio"], a[5]["audio"])
    assert not torch.equal(a[0]["audio"], a[1]["audio"])
    other_seed = SyntheticCorpus(length=6, seconds=0.25, seed=4)
    assert not torch.equal(a[0]["audio"], other_seed[0]["audio"])


def test_corpus_items_are_unlabelled_finite_and_bounded():
    corpus = SyntheticCorpus(length=40, seconds=0.25, seed=0)
    assert len(corpus) == 40
    n = round(0.25 * SR)
    peaks = []
    for i in range(len(corpus)):
        item = corpus[i]
        assert set(item) == {"audio"}, f"index {i}: training items must hold no label"
        audio = item["audio"]
        assert audio.dtype == torch.float32 and audio.shape == (n,), f"index {i}"
        assert torch.isfinite(audio).all(), f"index {i}"
        assert audio.abs().max() <= 1.0, f"index {i}"
        peaks.append(float(audio.abs().max()))
    # Random levels between -30 and -1 dBFS (digital silence allowed): not all alike.
    assert max(peaks) <= 10 ** (-1 / 20) + 1e-6
    assert np.ptp(peaks) > 0.1
    with pytest.raises(IndexError, match="index"):
        corpus[40]


def test_corpus_covers_silence_noise_and_tones():
    corpus = LabelledSyntheticSet(length=200, seconds=0.1, seed=0, p_silent=0.1, p_noise_only=0.1)
    silent = noise_only = voiced = 0
    for i in range(len(corpus)):
        item = corpus[i]
        if item["audio"].abs().max() == 0:
            silent += 1
        elif not item["voiced"].any():
            noise_only += 1
        else:
            voiced += 1
    assert silent >= 5 and noise_only >= 5 and voiced >= 100, (silent, noise_only, voiced)


def test_an_item_costs_a_bounded_amount_of_work():
    # Work, not wall-clock time: the CPU time of this process on one thread (other
    # processes on a loaded machine do not count), against the CPU time of a reference
    # workload on the same machine, 40 harmonics of 1 s summed with numpy. Measured
    # about 2 references per item; the bound catches a change of complexity.
    import time

    def cpu_seconds(work, repeats):
        best = float("inf")
        for _ in range(repeats):
            began = time.process_time()
            work()
            best = min(best, time.process_time() - began)
        return best

    phases = np.random.default_rng(0).random((40, SR))
    corpus = SyntheticCorpus(length=20, seconds=1.0, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = cpu_seconds(lambda: np.sin(phases).sum(0), 5)
        per_item = cpu_seconds(lambda: [corpus[i] for i in range(20)], 2) / 20
    finally:
        torch.set_num_threads(threads)
    assert per_item < 10 * reference, f"{per_item / reference:.1f} references per 1 s item"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"length": 0}, "length"),
        ({"seconds": -1.0}, "seconds"),
        ({"fmax": 8000.0}, "fmax"),
        ({"fmin": 500.0, "fmax": 400.0}, "fmin"),
        ({"contours": ("wobble",)}, "contours"),
        ({"spectra": ("pink",)}, "spectra"),
        ({"snr_db": (30.0, 10.0)}, "snr_db"),
        ({"p_clean": 2.0}, "p_clean"),
        ({"p_speech": -0.1}, "p_speech"),
    ],
)
def test_corpus_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticCorpus(**kwargs)


def test_corpus_rejects_unknown_option():
    with pytest.raises(TypeError, match="unknown option"):
        SyntheticCorpus(colour="red")


# --------------------------------------------------------------------------- labelled


def test_labelled_shapes_range_and_same_audio_as_training():
    kwargs = {"length": 12, "seconds": 0.5, "seed": 5, "snr_db": 20.0}
    labelled = LabelledSyntheticSet(hop_length=160, **kwargs)
    training = SyntheticCorpus(**kwargs)
    n_frames = n_frames_for(8000, 160)
    assert n_frames == 50  # control points 0, 160, ..., 7840 lie inside the 8000 samples
    for i in range(len(labelled)):
        item = labelled[i]
        assert set(item) == {"audio", "f0", "voiced"}
        assert item["f0"].shape == (n_frames,) and item["f0"].dtype == torch.float32
        assert item["voiced"].shape == (n_frames,) and item["voiced"].dtype == torch.bool
        f0, voiced = item["f0"], item["voiced"]
        assert torch.equal(voiced, f0 > 0), f"index {i}: unvoiced frames must have f0 == 0"
        assert ((f0[voiced] >= 50 - 1e-3) & (f0[voiced] <= 1100 + 1e-3)).all(), f"index {i}"
        # One code path: the training set is the labelled set without its labels.
        assert torch.equal(item["audio"], training[i]["audio"]), f"index {i}"


def _upward_crossings(x: np.ndarray) -> np.ndarray:
    """Fractional sample positions of upward zero crossings (linear interpolation)."""
    i = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
    return i + x[i] / (x[i] - x[i + 1])


@pytest.mark.parametrize("contour", ["steady", "vibrato", "glide", "jump"])
def test_labelled_f0_matches_pure_tone_periods(contour):
    """On clean pure tones, 1 / (distance between zero crossings) is the labelled f0."""
    hop = 160
    labelled = LabelledSyntheticSet(
        length=6,
        seconds=0.5,
        seed=11,
        contours=(contour,),
        max_harmonics=1,
        snr_db=None,
        p_silent=0.0,
        p_noise_only=0.0,
        hop_length=hop,
    )
    errors = []
    for i in range(len(labelled)):
        item = labelled[i]
        audio, f0 = item["audio"].double().numpy(), item["f0"].numpy()
        crossings = _upward_crossings(audio)
        for frame in np.nonzero(item["voiced"].numpy())[0]:
            centre = frame * hop
            # Skip note edges and pitch jumps: a period there straddles two f0s.
            neighbours = f0[max(frame - 2, 0) : frame + 3]
            if (neighbours == 0).any() or np.ptp(np.log2(neighbours)) > 0.1:
                continue
            k = np.searchsorted(crossings, centre)
            if k == 0 or k >= len(crossings):
                continue
            period = crossings[k] - crossings[k - 1]
            errors.append(abs(math.log2(SR / period / f0[frame])) * 1200)  # cents
    errors = np.asarray(errors)
    assert errors.size > 50, f"only {errors.size} frames checked"
    assert np.median(errors) < 5, f"{contour}: median error {np.median(errors):.1f} cents"
    assert np.quantile(errors, 0.95) < 20, f"{contour}: 95th pct {np.quantile(errors, 0.95):.1f}"


def test_labelled_unvoiced_frames_are_quiet_when_clean():
    hop = 160
    labelled = LabelledSyntheticSet(
        length=20,
        seconds=0.5,
        seed=2,
        max_harmonics=1,
        snr_db=None,
        p_silent=0.0,
        p_noise_only=0.0,
        hop_length=hop,
    )
    n_unvoiced = 0
    for i in range(len(labelled)):
        item = labelled[i]
        audio = item["audio"].abs()
        frames = torch.nonzero(~item["voiced"]).flatten()
        frames = frames[frames * hop < audio.numel()]
        n_unvoiced += frames.numel()
        if frames.numel():
            assert audio[frames * hop].max() <= 0.15 * audio.max(), f"index {i}"
    assert n_unvoiced > 20  # rests and releases do occur


def speech_like_set(**options):
    return LabelledSyntheticSet(
        length=8, seconds=1.0, seed=21, p_speech=1.0, p_silent=0.0, p_noise_only=0.0, **options
    )


def test_speech_like_labels_agree_with_pyin():
    # An independent tracker on clean speech-like excerpts (with their aspiration noise
    # and fricatives): where both call a frame voiced, away from voicing edges, pyin
    # finds the labelled f0.
    librosa = pytest.importorskip("librosa")
    hop = 160
    labelled = speech_like_set(snr_db=None, hop_length=hop)
    errors = []
    for i in range(len(labelled)):
        item = labelled[i]
        f0 = item["f0"].numpy().astype(float)
        estimate, voiced, _ = librosa.pyin(
            item["audio"].numpy(), sr=SR, fmin=50, fmax=1100, frame_length=2048, hop_length=hop
        )
        n = min(len(f0), len(estimate))
        steady = np.convolve(f0[:n] > 0, np.ones(5), mode="same") == 5  # 2 frames from edges
        both = steady & voiced[:n]
        errors.append(np.abs(1200 * np.log2(estimate[:n][both] / f0[:n][both])))
    errors = np.concatenate(errors)
    assert errors.size > 200, f"only {errors.size} frames compared"
    # pyin reports a 10-cent grid over a 128 ms window; the labels follow the jitter
    # (up to 1.5 %, 26 cents) sample by sample: about 11 cents median here.
    assert np.median(errors) < 20, f"median {np.median(errors):.1f} cents"
    assert np.mean(errors < 50) > 0.95, f"{np.mean(errors < 50):.3f} within 50 cents"


def test_speech_like_excerpts_alternate_voicing_and_hold_fricatives():
    labelled = speech_like_set(snr_db=None)
    voiced_share, runs, hiss = [], [], []
    for i in range(len(labelled)):
        item = labelled[i]
        voiced = item["voiced"].numpy()
        voiced_share.append(voiced.mean())
        runs.append(np.count_nonzero(np.diff(voiced.astype(int)) == 1) + voiced[0])
        # Above 4 kHz in unvoiced frames: fricatives (no harmonic reaches there loudly).
        audio = item["audio"].numpy()
        frames = np.flatnonzero(~voiced) * 160
        frames = frames[frames + 512 <= audio.size]
        if frames.size:
            spectra = np.abs(np.fft.rfft(np.stack([audio[f : f + 512] for f in frames]), axis=-1))
            high = (spectra[:, 128:] ** 2).sum(-1) / np.maximum((spectra**2).sum(-1), 1e-20)
            hiss.append(high.max())
    assert 0.4 < np.mean(voiced_share) < 0.95
    assert np.mean(runs) >= 2  # several voiced stretches per second, as in speech
    assert max(hiss) > 0.5  # some gap holds a fricative


# --------------------------------------------------------------------------- folders


def _sine(freq, seconds, rate, amplitude=0.8):
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[np.argmax(spectrum)])


@pytest.fixture
def audio_dir(tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "low.wav", _sine(440, 0.5, 8000), 8000)  # shorter than 1 s
    left = _sine(1000, 2.0, 44100)
    sf.write(folder / "sub" / "stereo.wav", np.stack([left, np.zeros_like(left)], 1), 44100)
    (folder / "sub" / "broken.wav").write_bytes(b"RIFF\x00\x01garbage, not audio" * 10)
    (folder / "notes.txt").write_text("not audio, ignored by extension")
    return folder


def test_audio_folder_skips_corrupt_file_and_resamples(audio_dir):
    with pytest.warns(UserWarning, match="broken.wav"):
        data = AudioFolder(audio_dir, seconds=1.0, sample_rate=SR, seed=0)
    assert data.skipped == 1
    assert sorted(os.path.basename(p) for p, _, _ in data.files) == ["low.wav", "stereo.wav"]
    assert len(data) == math.ceil(2.5 / 1.0)
    for i in range(len(data)):
        item = data[i]
        assert set(item) == {"audio"}
        assert item["audio"].dtype == torch.float32 and item["audio"].shape == (SR,)
        assert torch.isfinite(item["audio"]).all() and item["audio"].abs().max() <= 1
        assert torch.equal(item["audio"], data[i]["audio"])  # deterministic


def test_audio_folder_list_file_content(audio_dir, tmp_path):
    # A list file with a relative path, a comment and a blank line; one file per set.
    (audio_dir / "low.txt").write_text("# low file\n\nlow.wav\n")
    (tmp_path / "stereo.txt").write_text(f"{audio_dir / 'sub' / 'stereo.wav'}\n")

    low = AudioFolder(audio_dir / "low.txt", seconds=1.0, sample_rate=SR, length=3)
    audio = low[0]["audio"].numpy()
    assert audio.shape == (SR,)
    assert abs(_dominant_hz(audio[: SR // 2 - 200], SR) - 440) < 5
    assert np.abs(audio[SR // 2 + 200 :]).max() == 0  # 0.5 s file zero-padded to 1 s

    stereo = AudioFolder(tmp_path / "stereo.txt", seconds=0.5, sample_rate=SR, length=4)
    assert len(stereo) == 4
    items = [stereo[i]["audio"].numpy() for i in range(4)]
    for audio in items:
        assert audio.shape == (SR // 2,)
        assert abs(_dominant_hz(audio, SR) - 1000) < 5
        assert abs(np.abs(audio[100:-100]).max() - 0.4) < 0.02  # channels averaged
    assert not np.array_equal(items[0], items[1])  # random excerpt starts


def test_audio_folder_sequence_of_paths(audio_dir):
    data = AudioFolder([audio_dir / "low.wav"], seconds=0.25, sample_rate=8000)
    assert len(data) == 2 and data[1]["audio"].shape == (2000,)


def test_audio_folder_empty_or_missing_raises(tmp_path):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty_dir"):
        AudioFolder(empty)
    with pytest.raises(ValueError, match="does_not_exist"):
        AudioFolder(tmp_path / "does_not_exist")
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "x.flac").write_bytes(b"nope")
    with pytest.warns(UserWarning, match="x.flac"), pytest.raises(ValueError, match="only_bad"):
        AudioFolder(only_bad)


def test_audio_folder_skips_files_whose_samples_do_not_read(audio_dir, monkeypatch):
    # A header that reads but samples that do not: NaN samples, or a decoding error
    # (simulated). One warning per file, counted; the item comes from another file.
    sf.write(audio_dir / "nan.wav", np.full(8000, np.nan, np.float32), 8000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="broken.wav"):
        data = AudioFolder(audio_dir, seconds=0.25, sample_rate=SR, seed=0, length=40)
    assert data.skipped == 1 and len(data.files) == 3  # nan.wav passes the scan
    real_read = sf.read

    def failing_read(path, *args, **kwargs):
        if str(path).endswith("stereo.wav"):
            raise RuntimeError("Error : unexpected end of stream (simulated)")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(sf, "read", failing_read)
    with pytest.warns(UserWarning) as caught:
        items = [data[i]["audio"] for i in range(len(data))]
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2, messages  # once per file, not once per item
    assert "nan.wav" in messages[0] and "NaN or infinite samples" in messages[0]
    assert "stereo.wav" in messages[1] and "unexpected end of stream" in messages[1]
    assert data.skipped == 3
    for item in items:  # every item from the one readable file: a 440 Hz tone
        assert torch.isfinite(item).all() and item.shape == (SR // 4,)
    # Deterministic: the same items again (known-bad files are skipped without warning).
    for i, item in enumerate(items):
        assert torch.equal(data[i]["audio"], item)
    monkeypatch.setattr(sf, "read", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    data._unreadable.zero_()  # forget what was found unreadable
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="none of the 3 audio"):
        data[0]


def test_audio_folder_skips_found_in_dataloader_workers_are_counted(audio_dir):
    """A worker process that finds a file unreadable marks it where the main process
    (and the training summary, through wrappers) sees it."""
    from torch.utils.data import DataLoader

    from foldpitch.system import skipped_files

    sf.write(audio_dir / "nan.wav", np.full(8000, np.nan, np.float32), 8000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="broken.wav"):
        data = AudioFolder(audio_dir, seconds=0.25, sample_rate=SR, seed=0, length=40)
    assert data.skipped == 1  # the scan's
    loader = DataLoader(AddNoise(data, 10.0, p_clean=0.0), batch_size=8, num_workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the worker warns about nan.wav in its own process
        batches = list(loader)
    assert sum(len(batch["audio"]) for batch in batches) == 40
    assert data.skipped == 2
    assert skipped_files(AddNoise(data)) == 2


@pytest.mark.parametrize("error", [TypeError("a bug"), MemoryError()])
def test_audio_folder_lets_errors_other_than_reading_through(audio_dir, monkeypatch, error):
    with pytest.warns(UserWarning, match="broken.wav"):
        data = AudioFolder(audio_dir, seconds=0.25, sample_rate=SR, seed=0, length=4)

    def broken_read(*args, **kwargs):
        raise error

    monkeypatch.setattr(sf, "read", broken_read)
    with pytest.raises(type(error)):
        data[0]
    assert data.skipped == 1


# --------------------------------------------------------------------------- espeak-ng


def test_espeak_missing_raises_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not espeak_available()
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        EspeakSpeech()


FAKE_ESPEAK = """#!{python}
import sys, numpy as np, soundfile as sf
args = sys.argv[1:]
out = args[args.index("-w") + 1]
pitch = int(args[args.index("-p") + 1])
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
t = np.arange(int(22050 * 0.2 * len(args[-1].split()))) / 22050
sf.write(out, 0.5 * np.sin(2 * np.pi * (100 + pitch) * t), 22050)
"""


def test_espeak_speech_with_stand_in_program(monkeypatch, tmp_path):
    """The subprocess, cache and loading path, with a stand-in espeak-ng script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    script = bin_dir / "espeak-ng"
    script.write_text(FAKE_ESPEAK.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert espeak_available()
    data = EspeakSpeech(length=3, seconds=0.5, sample_rate=SR, cache_dir=tmp_path / "cache")
    first = [data[i]["audio"] for i in range(3)]
    again = [data[i]["audio"] for i in range(3)]
    assert len(log.read_text().splitlines()) == 3  # second pass read the cache
    assert len(list((tmp_path / "cache").glob("*.wav"))) == 3
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
        assert a.shape == (SR // 2,) and a.dtype == torch.float32
        assert a.abs().max() > 0.3
    assert not torch.equal(first[0], first[1])


def _praat_median_f0(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Median f0 (Hz) of the voiced frames and the voiced fraction, by Praat."""
    parselmouth = pytest.importorskip("parselmouth")
    sound = parselmouth.Sound(audio.astype(np.float64), sample_rate)
    f0 = sound.to_pitch(time_step=0.01, pitch_floor=50, pitch_ceiling=600)
    f0 = f0.selected_array["frequency"]
    return float(np.median(f0[f0 > 0])), float((f0 > 0).mean())


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_espeak_speech_real(tmp_path):
    data = EspeakSpeech(length=2, seconds=0.5, sample_rate=SR, cache_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        item = data[0]
    assert set(item) == {"audio"}
    assert item["audio"].shape == (SR // 2,) and torch.isfinite(item["audio"]).all()
    assert item["audio"].abs().max() > 0.01
    assert torch.equal(item["audio"], data[0]["audio"])


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_espeak_speech_has_the_pitch_of_the_voice_it_synthesised(tmp_path):
    # Excerpts longer than any utterance hold all of it: Praat's median f0 of each item
    # (resampled to 16 kHz) must be that of espeak-ng's own WAV at its own rate, and a
    # speaking voice's (espeak's pitch 0-99 and its variants span about 60-300 Hz).
    data = EspeakSpeech(length=3, seconds=6.0, sample_rate=SR, cache_dir=tmp_path)
    items = [_praat_median_f0(data[i]["audio"].numpy(), SR) for i in range(3)]
    wavs = []
    for path in sorted(tmp_path.glob("*.wav")):
        audio, rate = sf.read(path)
        wavs.append(_praat_median_f0(audio if audio.ndim == 1 else audio.mean(1), rate))
    assert len(wavs) == 3
    for (item_f0, voiced), (wav_f0, _) in zip(sorted(items), sorted(wavs), strict=True):
        assert 50 < item_f0 < 400 and voiced > 0.05, items
        assert abs(math.log2(item_f0 / wav_f0)) < 0.05, (items, wavs)  # 60 cents


# --------------------------------------------------------------------------- AddNoise


class _Tensors(torch.utils.data.Dataset):
    def __init__(self, *signals):
        self.signals = [torch.as_tensor(s, dtype=torch.float32) for s in signals]

    def __len__(self):
        return len(self.signals)

    def __getitem__(self, index):
        return {"audio": self.signals[index]}


def test_add_noise_keeps_the_item_as_clean_and_adds_noise_at_the_snr():
    t = np.arange(SR) / SR
    burst = np.where(t < 0.5, np.sin(2 * np.pi * 220 * t), 0.0)  # half of it a pause
    tone = 0.3 * np.sin(2 * np.pi * 150 * t)
    noisy = AddNoise(_Tensors(burst, tone), snr_db=(5.0, 15.0), p_clean=0.0, seed=2)
    snrs = []
    for i, signal in enumerate((burst, tone)):
        item = noisy[i]
        assert sorted(item) == ["audio", "clean"] and item["audio"].dtype == torch.float32
        assert torch.equal(item["clean"], torch.as_tensor(signal, dtype=torch.float32))
        noise = item["audio"].double().numpy() - item["clean"].double().numpy()
        # the power of the sounding part (the pause does not count), float64 reference
        power = np.mean(signal[np.abs(signal) > 0] ** 2) if i == 0 else np.mean(signal**2)
        snrs.append(10 * np.log10(power / np.mean(noise**2)))
    assert all(5.0 - 0.05 <= snr <= 15.0 + 0.05 for snr in snrs), snrs
    assert abs(snrs[0] - snrs[1]) > 0.1  # drawn per item
    # one number is that SNR
    item = AddNoise(_Tensors(tone), snr_db=10.0, p_clean=0.0)[0]
    noise = (item["audio"] - item["clean"]).double().numpy()
    assert 10 * np.log10(np.mean(tone**2) / np.mean(noise**2)) == pytest.approx(10.0, abs=0.01)


def test_add_noise_is_deterministic_clean_with_p_clean_and_leaves_silence_silent():
    corpus = SyntheticCorpus(length=6, seconds=0.25, snr_db=None, seed=1)
    a, b = AddNoise(corpus, seed=5), AddNoise(corpus, seed=5)
    for i in range(6):
        assert torch.equal(a[i]["audio"], b[i]["audio"])
        assert torch.equal(a[i]["clean"], corpus[i]["audio"])
    assert not torch.equal(a[0]["audio"], AddNoise(corpus, seed=6)[0]["audio"])
    never = AddNoise(corpus, p_clean=1.0)
    assert all(torch.equal(never[i]["audio"], never[i]["clean"]) for i in range(6))
    silent = AddNoise(_Tensors(np.zeros(SR)), p_clean=0.0)[0]
    assert not silent["audio"].any()
    assert len(a) == 6 and torch.equal(a[-1]["audio"], a[5]["audio"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"snr_db": (20.0, 10.0)}, "snr_db must be"),
        ({"snr_db": (0.0, math.inf)}, "snr_db must be"),
        ({"p_clean": 1.5}, "p_clean must be a probability"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_add_noise_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AddNoise(_Tensors(np.zeros(10)), **kwargs)


def test_add_noise_names_what_it_needs_from_the_wrapped_items():
    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return {"waveform": torch.zeros(10)}

    with pytest.raises(TypeError, match="'audio' tensor, got dict with keys \\['waveform'\\]"):
        AddNoise(Pairs())[0]
