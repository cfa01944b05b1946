"""The inference entry point: :func:`foldpitch.predict.predict`, ``pyin_like`` and
``foldpitch predict``.

A network this small cannot be asserted to be accurate, so these test the plumbing
against independent references: the unchunked result, the network's own frames read
with ``np.interp``, the input converted by hand, a loop over the batch.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from foldpitch.cli import main
from foldpitch.frontend import n_frames_for
from foldpitch.model import PitchNet, PitchNetOutput
from foldpitch.predict import LOCAL_MEAN_BINS, PitchResult, predict, pyin_like
from foldpitch.synth import harmonic_tone

# The module (foldpitch.predict, the attribute, is the function).
predict_module = importlib.import_module("foldpitch.predict")

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def random_net(seed: int = 0, **config) -> PitchNet:
    """A small untrained network; 4 blocks give the shipped model's receptive field."""
    torch.manual_seed(seed)
    options = {"channels": 16, "n_blocks": 4, "n_period_bins": 32, **config}
    return PitchNet(**options).eval()


@pytest.fixture(scope="module")
def net() -> PitchNet:
    return random_net()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint written by ``scripts/train.py experiment=fast`` (a few seconds)."""
    pytest.importorskip("lightning")
    pytest.importorskip("hydra")
    run_dir = tmp_path_factory.mktemp("fast") / "run"
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "experiment=fast",
        "logger=none",
        f"hydra.run.dir={run_dir}",
    ]
    result = subprocess.run(
        command, cwd=run_dir.parent, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = run_dir / "checkpoints" / "last.ckpt"
    assert path.is_file()
    return path


def tone(seconds: float, sample_rate: int = RATE, f0: float = 220.0) -> torch.Tensor:
    """A harmonic tone with a rising glide, then noise: voiced and unvoiced frames."""
    n = round(seconds * sample_rate)
    glide = torch.linspace(f0, 1.5 * f0, n, dtype=torch.float64)
    audio = harmonic_tone(glide, sample_rate)
    generator = torch.Generator().manual_seed(1)
    noise = 0.1 * torch.randn(n, generator=generator)
    return torch.where(torch.arange(n) < n // 2, audio, noise)


def assert_same(
    a: PitchResult,
    b: PitchResult,
    rtol: float = predict_module.CHUNK_TOLERANCE["f0_rtol"],
    atol: float = predict_module.CHUNK_TOLERANCE["periodicity_atol"],
) -> None:
    """Same frames; f0 within ``rtol`` (relative), periodicity within ``atol``. The
    defaults are the tolerance predict's docstring states for chunked results."""
    assert a.f0.shape == b.f0.shape and a.times.shape == b.times.shape
    torch.testing.assert_close(a.times, b.times, rtol=0, atol=1e-12)
    torch.testing.assert_close(a.f0, b.f0, rtol=rtol, atol=0)
    torch.testing.assert_close(a.periodicity, b.periodicity, rtol=0, atol=atol)


# --- frames, shapes, dtypes ---------------------------------------------------------


@pytest.mark.parametrize("n_samples", [RATE + 37, RATE, 1, 100])
def test_frames_follow_the_frame_convention(net, n_samples):
    audio = harmonic_tone(220.0, RATE, n_samples)
    result = predict(audio, RATE, net, device="cpu")
    n_frames = math.ceil(n_samples / 160)
    assert result.times.shape == (n_frames,) and result.times.dtype == torch.float64
    np.testing.assert_allclose(result.times.numpy(), np.arange(n_frames) * 0.01, atol=1e-12)
    assert result.f0.shape == result.periodicity.shape == result.voiced.shape == (n_frames,)
    assert result.f0.dtype == result.periodicity.dtype == torch.float32
    assert result.voiced.dtype == torch.bool
    assert bool(((result.f0 >= net.fmin) & (result.f0 <= net.fmax)).all())
    assert bool(((result.periodicity >= 0) & (result.periodicity <= 1)).all())
    assert torch.equal(result.voiced, result.periodicity > 0.5)


def test_trained_checkpoint_by_path(checkpoint):
    audio = tone(1.3)
    result = predict(audio, RATE, checkpoint, device="cpu")
    assert result.f0.shape == (n_frames_for(len(audio), 160),)
    assert bool(torch.isfinite(result.f0).all())
    # The same network passed as a path or loaded: the same answer.
    loaded = predict_module.load(Path(checkpoint), "cpu")
    assert_same(result, predict(audio, RATE, loaded, device="cpu"), rtol=0)


def test_shipped_checkpoint_by_path_follows_a_known_glide():
    # tone(): a glide from 220 Hz to 1.5 x 220 Hz over the whole clip, voiced in the
    # first half and noise in the second. The shipped network, passed by path.
    n = round(1.3 * RATE)
    result = predict(tone(1.3), RATE, predict_module.DEFAULT_CHECKPOINT, device="cpu")
    truth = 220.0 * (1 + 0.5 * result.times.double() * RATE / (n - 1))
    cents = 1200 * torch.log2(result.f0.double() / truth)
    glide = result.times < 0.6  # the switch to noise is at 0.65 s
    noise = result.times > 0.7
    assert float((cents[glide].abs() < 50).double().mean()) > 0.95
    assert float(result.voiced[glide].double().mean()) > 0.95
    assert float(result.voiced[noise].double().mean()) < 0.1


# The shipped network misses pure tones near 100 Hz (measured: 118 cents flat there, and
# 40-45 cents sharp at 150-180 Hz, just inside 50): a sine's fold loss has the broadest
# dip of any spectrum, so the objective's plain soft-argmin target spreads over -60 to
# +85 cents and the network's peak wanders inside it (docs/training.md, min_dip_rise).
# Strict: a network that reads them makes these tests pass, and the marks must go.
PURE_TONE_MISSES = {100.0}


@pytest.mark.parametrize(
    "f0",
    [
        pytest.param(
            f0,
            marks=pytest.mark.xfail(f0 in PURE_TONE_MISSES, strict=True, reason="see above"),
        )
        for f0 in (60.0, 100.0, 150.0, 220.0, 330.0, 440.0, 660.0, 1000.0)
    ],
)
def test_shipped_network_reads_a_pure_tone(f0):
    # The fundamental alone: a tuner's test signal, a flute, a whistle. The reference is
    # the tone's own f0; every frame within 50 cents (the benchmark's pitch criterion).
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    audio = (0.5 * torch.sin(2 * math.pi * f0 * t)).float()
    result = predict(audio, RATE, device="cpu")
    inner = (result.times > 0.1) & (result.times < 0.9)  # away from the clip's edges
    cents = 1200 * torch.log2(result.f0[inner].double() / f0)
    assert bool(result.voiced[inner].all())
    assert float(cents.abs().max()) < 50, cents


def test_result_can_be_modified_and_input_is_not(net):
    audio = tone(0.5)
    before = audio.clone()
    result = predict(audio, RATE, net, device="cpu")
    result.f0[0] = 0.0  # inference tensors would refuse this
    result.voiced[:] = False
    assert torch.equal(audio, before)


# --- chunking ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3])
def test_chunked_equals_unchunked(net, batch_size):
    audio = torch.stack([tone(5.0), tone(5.0, f0=150.0)])
    audio = torch.cat([audio, audio[:, :123]], dim=1)  # not a whole number of hops
    whole = predict(audio, RATE, net, device="cpu", chunk_seconds=60.0)
    chunked = predict(audio, RATE, net, device="cpu", chunk_seconds=1.0, batch_size=batch_size)
    assert_same(whole, chunked)
    tiny = predict(audio, RATE, net, device="cpu", chunk_seconds=0.07)
    assert_same(whole, tiny)


def test_the_network_sees_bounded_chunks_of_long_audio(monkeypatch):
    # Ten minutes in chunks of 30 s, two per call: the network never sees more than two
    # chunks plus their context, however long the audio (the 1-hour peak memory is
    # measured by benchmarks/predict_speed.py). A stand-in forward keeps this fast.
    stub = random_net()
    seen = []

    def recording_forward(audio):
        seen.append(tuple(audio.shape))
        zeros = torch.zeros(audio.shape[0], n_frames_for(audio.shape[-1], 160), 32)
        return PitchNetOutput(zeros, zeros + 0.5, zeros[..., 0] + 3.0)

    monkeypatch.setattr(stub, "forward", recording_forward)
    minutes = 10
    result = predict(
        np.zeros(minutes * 60 * RATE, np.float32),
        RATE,
        stub,
        device="cpu",
        chunk_seconds=30.0,
        batch_size=2,
    )
    assert result.f0.shape == (minutes * 60 * 100,) and bool(result.voiced.all())
    context = predict_module._context_frames(stub) * 160
    assert max(length for _, length in seen) <= 30 * RATE + 2 * context
    assert max(rows for rows, _ in seen) <= 2
    assert sum(rows for rows, _ in seen) == minutes * 2  # every chunk exactly once


def test_chunk_context_grows_with_the_receptive_field():
    # 5 blocks: 125 frames of receptive field, +-0.62 s, wider than the 0.5 s default.
    wide = random_net(seed=3, n_blocks=5)
    audio = tone(4.0)
    assert predict_module._context_frames(wide) * 160 / RATE > 0.62
    whole = predict(audio, RATE, wide, device="cpu")
    assert_same(whole, predict(audio, RATE, wide, device="cpu", chunk_seconds=0.8))


def test_chunked_equals_unchunked_with_the_trained_checkpoint(checkpoint):
    audio = tone(5.0)
    whole = predict(audio, RATE, checkpoint, device="cpu")
    assert_same(whole, predict(audio, RATE, checkpoint, device="cpu", chunk_seconds=1.0))


# --- sample rates and hops -----------------------------------------------------------


def test_resampled_input_gives_times_on_the_requested_grid(net):
    soxr = pytest.importorskip("soxr")
    rate = 44100
    audio = tone(2.5, rate).numpy()
    native_audio = soxr.resample(audio, rate, RATE, quality="HQ")
    native = predict(native_audio, RATE, net, device="cpu")
    # Default: the network's own frames, every 10 ms.
    default = predict(audio, rate, net, device="cpu")
    assert_same(default, native, rtol=0)
    # 441 samples at 44.1 kHz is exactly the network's 160 at 16 kHz.
    same_grid = predict(audio, rate, net, device="cpu", hop=0.01)
    n_frames = math.ceil(len(audio) / 441)
    assert same_grid.times.shape == (n_frames,)
    np.testing.assert_array_equal(same_grid.times.numpy(), np.arange(n_frames) * 441 / rate)
    common = min(n_frames, len(native.times))
    torch.testing.assert_close(same_grid.f0[:common], native.f0[:common], rtol=1e-6, atol=0)
    # Any other hop: the network's frames read by linear interpolation (np.interp).
    odd = predict(audio, rate, net, device="cpu", hop=512 / rate)
    n_frames = math.ceil(len(audio) / 512)
    np.testing.assert_array_equal(odd.times.numpy(), np.arange(n_frames) * 512 / rate)
    native_times = native.times.numpy()
    log2_period = np.interp(odd.times.numpy(), native_times, np.log2(RATE / native.f0.numpy()))
    np.testing.assert_allclose(odd.f0.numpy(), RATE / 2**log2_period, rtol=1e-5)
    periodicity = np.interp(odd.times.numpy(), native_times, native.periodicity.numpy())
    np.testing.assert_allclose(odd.periodicity.numpy(), periodicity, atol=1e-6)
    assert torch.equal(odd.voiced, odd.periodicity > 0.5)


def test_hop_at_the_native_hop_equals_the_native_result(net):
    audio = tone(1.5)
    native = predict(audio, RATE, net, device="cpu")
    assert_same(predict(audio, RATE, net, device="cpu", hop=0.01), native, rtol=0)
    half = predict(audio, RATE, net, device="cpu", hop=0.005)
    assert half.f0.shape == (math.ceil(len(audio) / 80),)
    torch.testing.assert_close(half.f0[::2], native.f0, rtol=0, atol=0)
    # Halfway between frames: the mean log2 period, i.e. the geometric mean f0.
    middle = (native.f0[:-1].double() * native.f0[1:].double()).sqrt().float()
    torch.testing.assert_close(half.f0[1:-1:2], middle, rtol=1e-5, atol=0)
    mean = (native.periodicity[:-1] + native.periodicity[1:]) / 2
    torch.testing.assert_close(half.periodicity[1:-1:2], mean, rtol=0, atol=1e-6)


# --- input types and batches ---------------------------------------------------------


def test_numpy_torch_and_pcm_inputs_agree(net):
    pcm = np.round(tone(1.2).numpy() * 20000).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    reference = predict(as_float, RATE, net, device="cpu")
    same = [
        pcm,
        torch.from_numpy(pcm),
        pcm.astype(np.int32) * 65536,
        torch.from_numpy(pcm.astype(np.int32) * 65536),
        torch.from_numpy(as_float),
        as_float.astype(np.float64),
        torch.from_numpy(as_float).double(),
    ]
    for audio in same:
        assert_same(predict(audio, RATE, net, device="cpu"), reference, rtol=0)
    half = torch.from_numpy(as_float).half()
    assert_same(
        predict(half, RATE, net, device="cpu"),
        predict(half.float(), RATE, net, device="cpu"),
        rtol=0,
    )
    brain = torch.from_numpy(as_float).bfloat16()
    assert_same(
        predict(brain, RATE, net, device="cpu"),
        predict(brain.float(), RATE, net, device="cpu"),
        rtol=0,
    )


def test_a_dc_offset_is_removed(net):
    # Samples on a 2 ** -15 grid: adding 0.5 is exact in float32, so removing each
    # row's mean gives the very same network input. Without it, a strong offset fills
    # the lowest spectrum bins and every other bin falls relative to it.
    audio = (np.round(tone(1.2).numpy() * 20000) / 32768).astype(np.float32)
    reference = predict(audio, RATE, net, device="cpu")
    assert_same(predict(audio + np.float32(0.5), RATE, net, device="cpu"), reference, 0, 0)
    batch = np.stack([audio - np.float32(0.25), audio + np.float32(2.0)])
    both = predict(batch, RATE, net, device="cpu")  # each row its own mean
    for row in range(2):
        row_result = PitchResult(both.times, both.f0[row], both.periodicity[row], None)
        assert_same(row_result, reference)


def test_audio_shorter_than_one_frame_gives_one_frame(net):
    # One sample at 44.1 kHz resamples to none at 16 kHz: still one frame, finite.
    for audio, rate in ((np.zeros(1), 44100), (np.full(3, 0.1), 22050), (np.ones(1), RATE)):
        result = predict(audio, rate, net, device="cpu")
        assert result.f0.shape == result.times.shape == (1,)
        assert bool(torch.isfinite(result.f0).all() & torch.isfinite(result.periodicity).all())


def test_silence_and_clipping_with_the_shipped_model():
    if not predict_module.DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    silence = predict(np.zeros(RATE, np.float32), RATE, device="cpu")
    assert not silence.voiced.any() and bool(torch.isfinite(silence.f0).all())
    # Clipping keeps the period: a tone driven 10x into the rails keeps its f0.
    clipped = (10 * 0.3 * harmonic_tone(220.0, RATE, RATE)).clamp(-1, 1)
    result = predict(clipped, RATE, device="cpu")
    assert bool(result.voiced[10:-10].all())
    assert abs(float(result.f0[10:-10].median()) - 220.0) < 2.0


def test_batch_equals_looped(net):
    audio = torch.stack([tone(1.0, f0=f0) for f0 in (110.0, 220.0, 440.0)])
    batch = predict(audio, RATE, net, device="cpu", batch_size=2)
    assert batch.f0.shape == (3, 100) and batch.times.shape == (100,)
    for row in range(3):
        single = predict(audio[row], RATE, net, device="cpu")
        assert_same(PitchResult(batch.times, batch.f0[row], batch.periodicity[row], None), single)
        assert torch.equal(batch.voiced[row], single.voiced)
    one = predict(audio[:1], RATE, net, device="cpu")
    assert one.f0.shape == (1, 100)


# --- fmin / fmax ----------------------------------------------------------------------


def test_fmin_fmax_restriction(net, local_mean_f0):
    # Per-frame decoding, so that every frame can be checked on its own; the Viterbi
    # decoder's respect of the allowed bins is tested in test_viterbi_*.
    audio = torch.stack(
        [tone(2.0), 0.3 * torch.randn(32000, generator=torch.Generator().manual_seed(2))]
    )
    free = predict(audio, RATE, net, device="cpu", decoder="argmax")
    fmin, fmax = 100.0, 400.0
    restricted = predict(audio, RATE, net, device="cpu", fmin=fmin, fmax=fmax, decoder="argmax")
    assert bool(((restricted.f0 >= fmin) & (restricted.f0 <= fmax)).all())
    assert torch.equal(restricted.periodicity, free.periodicity)
    with torch.no_grad():  # predict removes each row's mean (DC) first
        out = net((audio.double() - audio.double().mean(-1, keepdim=True)).float())
    edges = net.log2_period_edges.double()
    bin_low_hz, bin_high_hz = RATE / 2 ** edges[1:], RATE / 2 ** edges[:-1]
    allowed = (bin_high_hz > fmin) & (bin_low_hz < fmax)
    torch.testing.assert_close(free.f0.double(), local_mean_f0(net, out), rtol=1e-5, atol=0)
    # The best bin whose frequencies overlap [fmin, fmax], not a clamped guess.
    expected = local_mean_f0(net, out, allowed).clamp(fmin, fmax)
    torch.testing.assert_close(restricted.f0.double(), expected, rtol=1e-5, atol=0)
    # A frame whose best bin, and every bin near it, is allowed keeps its answer (up to
    # the float32 rounding of probabilities normalised over fewer bins).
    best = out.logits.argmax(-1)
    window = best[..., None] + torch.arange(-LOCAL_MEAN_BINS, LOCAL_MEAN_BINS + 1)
    kept = allowed[window.clamp(0, net.n_period_bins - 1)].all(-1)
    kept &= (window >= 0).all(-1) & (window < net.n_period_bins).all(-1)
    assert kept.any() and (~kept).any(), "the case needs frames on both sides"
    torch.testing.assert_close(restricted.f0[kept], free.f0[kept], rtol=1e-5, atol=0)
    assert ((restricted.f0 > fmin) & (restricted.f0 < fmax))[~kept].any()
    # The defaults are the model's range.
    default_range = predict(
        audio, RATE, net, fmin=net.fmin, fmax=net.fmax, device="cpu", decoder="argmax"
    )
    assert_same(default_range, free, 0)


# --- decoding -------------------------------------------------------------------------


def full_log_probs(bins, log_probs, allowed) -> np.ndarray:
    """The whole ``(rows, n_frames, n_bins)`` table that ``viterbi_bins`` decodes: the
    candidates' values, the rest of each frame's probability shared equally by its other
    allowed bins, ``-inf`` for bins not allowed."""
    rows, frames, k = bins.shape
    others = allowed.sum() - k
    share = (1 - np.exp(log_probs).sum(-1)) / others if others else np.zeros((rows, frames))
    with np.errstate(divide="ignore"):
        table = np.where(allowed, np.log(share)[..., None], -np.inf)
    for r in range(rows):
        for f in range(frames):
            table[r, f, bins[r, f]] = log_probs[r, f]
    return table


def random_candidates(rows, frames, n_bins, k, allowed, seed):
    rng = np.random.default_rng(seed)
    logits = np.where(allowed, 3 * rng.standard_normal((rows, frames, n_bins)), -np.inf)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    bins = np.argsort(-log_probs, axis=-1)[..., :k]
    return bins, np.take_along_axis(log_probs, bins, -1)


@pytest.mark.parametrize("free_bins", [0, 1])
@pytest.mark.parametrize("k", [6, 3])  # every allowed bin a candidate; only some
@pytest.mark.parametrize("jump_cost", [0.0, 0.4, 3.0])
def test_viterbi_finds_the_best_path_of_all(k, jump_cost, free_bins):
    # Exhaustive search over all 7 ** 5 paths of each row is the reference.
    n_bins, frames = 7, 5
    allowed = np.array([True] * 6 + [False])
    bins, log_probs = random_candidates(2, frames, n_bins, k, allowed, seed=k)
    table = full_log_probs(bins, log_probs, allowed)
    path = predict_module.viterbi_bins(bins, log_probs, allowed, jump_cost, free_bins=free_bins)
    every = np.stack(np.meshgrid(*[np.arange(n_bins)] * frames, indexing="ij"), -1)
    every = every.reshape(-1, frames)

    def moved(paths):  # bins moved beyond the free ones, summed over the frames
        return np.maximum(np.abs(np.diff(paths, axis=-1)) - free_bins, 0).sum(-1)

    for row in range(2):
        scores = table[row, np.arange(frames), every].sum(-1) - jump_cost * moved(every)
        chosen = table[row, np.arange(frames), path[row]].sum() - jump_cost * moved(path[row])
        assert chosen == pytest.approx(scores.max(), abs=1e-12)
        assert allowed[path[row]].all()
    if jump_cost == 0:  # nothing links the frames: each frame's most probable bin
        np.testing.assert_array_equal(path, table.argmax(-1))


def test_viterbi_bridges_a_flat_frame_but_follows_a_real_jump():
    n_bins, frames = 40, 12
    allowed = np.ones(n_bins, dtype=bool)
    table = np.full((1, frames, n_bins), -12.0)
    table[0, :6, 10] = table[0, 6:, 30] = -0.01  # a jump of 20 bins at frame 6
    table[0, 3] = -np.log(n_bins) + 0.01 * np.eye(n_bins)[35]  # flat; bin 35 barely first
    bins = np.argsort(-table, axis=-1)
    log_probs = np.take_along_axis(table, bins, -1)
    path = predict_module.viterbi_bins(bins, log_probs, allowed, jump_cost=0.2)[0]
    assert path.tolist() == [10] * 6 + [30] * 6
    assert predict_module.viterbi_bins(bins, log_probs, allowed, jump_cost=0.0)[0, 3] == 35


def test_viterbi_keeps_the_pitch_through_a_noise_burst():
    # The shipped model on a 220 Hz tone with 100 ms of loud noise in the middle: frame by
    # frame, the noise gets stray periods (octaves away); the decoded path has no gross
    # error (> 20 %, 316 cents) anywhere and is on the tone outside the burst. (Inside
    # it, where the network calls the frames unvoiced, the network shipped in session 12
    # drifts about 200 cents; the previous one stayed within 50.)
    f0 = torch.full((RATE,), 220.0, dtype=torch.float64)
    audio = harmonic_tone(f0, RATE).float()
    generator = torch.Generator().manual_seed(0)
    audio[7200:8800] = 0.5 * torch.randn(1600, generator=generator)
    cents = {}
    for decoder in predict_module.DECODERS:
        result = predict(audio, RATE, decoder=decoder, device="cpu")
        cents[decoder] = 1200 * torch.log2(result.f0.double() / 220.0).abs()
    assert (cents["argmax"][45:55] > 1200).any(), "the case needs stray frames"
    assert (cents["viterbi"] < 316).all()
    burst = (result.times > 0.43) & (result.times < 0.57)
    assert (cents["viterbi"][~burst] < 50).all()


def test_viterbi_follows_a_note_change():
    # 220 Hz, then 330 Hz: the path jumps with the tone, within a frame of the change.
    f0 = torch.cat([torch.full((8000,), 220.0), torch.full((8000,), 330.0)]).double()
    result = predict(harmonic_tone(f0, RATE).float(), RATE, device="cpu")
    truth = torch.where(result.times < 0.5, 220.0, 330.0).double()
    cents = 1200 * torch.log2(result.f0.double() / truth).abs()
    near_change = (result.times - 0.5).abs() < 0.015
    assert (cents[~near_change] < 50).all()


# --- pyin_like ------------------------------------------------------------------------


def test_pyin_like_matches_librosa_conventions(net):
    audio = tone(2.0).numpy()
    f0, voiced_flag, voiced_prob = pyin_like(audio, RATE, net, device="cpu", hop=0.01)
    result = predict(audio, RATE, net, device="cpu")
    assert f0.shape == voiced_flag.shape == voiced_prob.shape == (200,)
    assert f0.dtype == np.float64 and voiced_prob.dtype == np.float64
    assert voiced_flag.dtype == np.bool_
    assert voiced_flag.any() and (~voiced_flag).any(), "the case needs both kinds of frame"
    np.testing.assert_array_equal(np.isnan(f0), ~voiced_flag)
    np.testing.assert_array_equal(voiced_flag, result.voiced.numpy())
    np.testing.assert_array_equal(f0[voiced_flag], result.f0.numpy()[voiced_flag])
    np.testing.assert_array_equal(voiced_prob, result.periodicity.numpy())


def test_pyin_like_returns_what_librosa_pyin_returns():
    librosa = pytest.importorskip("librosa")
    # A length that is not a multiple of the hop: then librosa has as many frames.
    n = RATE + 37
    glide = torch.linspace(220.0, 330.0, n, dtype=torch.float64)
    noise = 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    audio = torch.where(torch.arange(n) < n // 2, harmonic_tone(glide, RATE), noise).numpy()
    theirs = librosa.pyin(audio, fmin=100.0, fmax=800.0, sr=RATE, hop_length=160)
    ours = pyin_like(audio, RATE, device="cpu", hop=0.01)  # the shipped network
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == reference.shape and mine.dtype == reference.dtype
    f0, voiced_flag, voiced_prob = ours
    times = librosa.times_like(theirs[0], sr=RATE, hop_length=160)
    np.testing.assert_allclose(predict(audio, RATE, device="cpu").times.numpy(), times)
    # NaN where unvoiced in both; the decisions and the f0 agree on a clear case.
    np.testing.assert_array_equal(np.isnan(f0), ~voiced_flag)
    np.testing.assert_array_equal(np.isnan(theirs[0]), ~theirs[1])
    assert (voiced_flag == theirs[1]).mean() > 0.9
    both = voiced_flag & theirs[1]
    assert both.sum() > 30
    assert np.abs(1200 * np.log2(f0[both] / theirs[0][both])).max() < 50
    assert ((voiced_prob >= 0) & (voiced_prob <= 1)).all()


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "sample_rate", "options", "error", "match"),
    [
        (np.array([0.0, np.nan, 0.0]), RATE, {}, ValueError, "NaN or infinite"),
        (np.array([0.0, np.inf]), RATE, {}, ValueError, "NaN or infinite"),
        (np.array([np.nan, 0.0, np.nan, -np.inf]), RATE, {}, ValueError, r"2 NaN, 1 infinite"),
        (np.zeros((16000, 2)), RATE, {}, ValueError, r"\(16000, 2\) looks like \(time, channels\)"),
        (torch.zeros(4000, 6), RATE, {}, ValueError, r"downmix it \(audio.mean\(axis=1\)\)"),
        (np.zeros(0), RATE, {}, ValueError, "empty"),
        (np.zeros((0, 100)), RATE, {}, ValueError, "empty"),
        (np.zeros((2, 2, 100)), RATE, {}, ValueError, r"mono \(time,\) or a batch"),
        (np.array(0.0), RATE, {}, ValueError, r"mono \(time,\)"),
        ([0.0, 0.1], RATE, {}, TypeError, "numpy array or a torch tensor"),
        (np.zeros(100, dtype=np.int64), RATE, {}, TypeError, "int16/int32 PCM"),
        (torch.zeros(100, dtype=torch.int64), RATE, {}, TypeError, "int16/int32 PCM"),
        (np.zeros(100), 0, {}, ValueError, "sample_rate must be a positive integer"),
        (np.zeros(100), -16000, {}, ValueError, "sample_rate must be a positive integer"),
        (np.zeros(100), 16000.5, {}, ValueError, "sample_rate must be a positive integer"),
        (np.zeros(100), "16000", {}, TypeError, "sample_rate must be a positive integer"),
        (np.zeros(100), True, {}, TypeError, "sample_rate must be a positive integer"),
        (np.zeros(100), RATE, {"hop": 0}, ValueError, "hop must be at least one sample"),
        (np.zeros(100), RATE, {"hop": 0.5 / RATE}, ValueError, "hop must be at least one sample"),
        (np.zeros(100), RATE, {"hop": float("nan")}, ValueError, "hop must be at least one"),
        (np.zeros(100), RATE, {"hop": "0.01"}, TypeError, "hop must be a number of seconds"),
        (np.zeros(100), RATE, {"batch_size": 0}, ValueError, "batch_size must be a positive"),
        (np.zeros(100), RATE, {"decoder": "beam"}, ValueError, "decoder must be one of"),
        (np.zeros(100), RATE, {"chunk_seconds": 0}, ValueError, "chunk_seconds must be"),
        (np.zeros(100), RATE, {"fmin": 20.0}, ValueError, r"fmin=20 Hz is outside .*\[50, 1100\]"),
        (np.zeros(100), RATE, {"fmax": 2000.0}, ValueError, "fmax=2000 Hz is outside"),
        (np.zeros(100), RATE, {"fmin": 300.0, "fmax": 200.0}, ValueError, "fmin must be below"),
        (np.zeros(100), RATE, {"fmin": 300.0, "fmax": 300.0}, ValueError, "fmin must be below"),
        (np.zeros(100), RATE, {"fmin": "low"}, TypeError, "fmin must be a number"),
        (np.zeros(100), RATE, {"device": "tpu"}, ValueError, "device must be"),
        (np.zeros(100), RATE, {"device": 3}, TypeError, "device must be"),
        (np.zeros(100), RATE, {"voicing_threshold": 1.0}, ValueError, "voicing_threshold must"),
        (np.zeros(100), RATE, {"voicing_threshold": 0}, ValueError, "voicing_threshold must"),
        (np.zeros(100), RATE, {"voicing_threshold": "0.5"}, TypeError, "voicing_threshold"),
        (np.zeros(100), RATE, {"threads": 0}, ValueError, "threads must be a positive integer"),
        (np.zeros(100), RATE, {"threads": 1.5}, TypeError, "threads must be a positive integer"),
    ],
)
def test_errors_name_the_argument(net, audio, sample_rate, options, error, match):
    with pytest.raises(error, match=match):
        predict(audio, sample_rate, net, **{"device": "cpu", **options})


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_an_error(net):
    with pytest.raises(ValueError, match="CUDA is not available"):
        predict(np.zeros(100), RATE, net, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu(net):
    audio = tone(3.0)
    cpu = predict(audio, RATE, net, device="cpu")
    cuda = predict(audio, RATE, net, device="cuda", chunk_seconds=1.0)
    assert cuda.f0.device.type == "cpu"
    torch.testing.assert_close(cuda.periodicity, cpu.periodicity, rtol=0, atol=1e-3)
    assert (cuda.f0 - cpu.f0).abs().div(cpu.f0).le(1e-3).float().mean() > 0.95


def test_missing_checkpoints(monkeypatch, tmp_path):
    monkeypatch.setattr(predict_module, "DEFAULT_CHECKPOINT", tmp_path / "absent.ckpt")
    with pytest.raises(FileNotFoundError, match="default checkpoint .*absent.ckpt"):
        predict(np.zeros(100), RATE)
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*other.ckpt"):
        predict(np.zeros(100), RATE, tmp_path / "other.ckpt")
    with pytest.raises(TypeError, match="checkpoint must be a path, a PitchNet or None"):
        predict(np.zeros(100), RATE, 3)


def test_checkpoints_are_loaded_once_per_path(checkpoint, monkeypatch):
    calls = []
    real = predict_module.load_pitchnet

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(predict_module, "load_pitchnet", counting)
    monkeypatch.setattr(predict_module, "_CACHE", OrderedDict())
    first = predict(np.zeros(1600), RATE, checkpoint, device="cpu")
    second = predict(np.zeros(1600), RATE, str(checkpoint), device="cpu")
    assert len(calls) == 1
    assert_same(first, second, rtol=0)


def test_a_network_passed_in_is_left_as_it_was():
    net = random_net(seed=5, dropout=0.5).train()
    audio = tone(1.0)
    result = predict(audio, RATE, net, device="cpu")
    assert net.training  # not switched to eval behind the caller's back
    assert_same(result, predict(audio, RATE, random_net(seed=5, dropout=0.5), device="cpu"), 0)


def test_threads_are_set_for_the_call_and_restored(monkeypatch):
    net = random_net()
    seen = []  # torch's thread count each time the network runs
    net.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    short, long = tone(1.0), tone(12.0)  # either side of SHORT_SECONDS (10 s)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        for threads, audio, cores, expected in [
            (1, long, 8, 1),
            (3, short, 8, 3),
            (None, short, 16, 1),  # short audio: one thread
            (None, long, 6, 3),  # long audio: half the cores ...
            (None, long, 16, 4),  # ... at most torch's own setting
        ]:
            monkeypatch.setattr(
                predict_module.os, "sched_getaffinity", lambda _, cores=cores: range(cores)
            )
            seen.clear()
            predict(audio, RATE, net, device="cpu", threads=threads)
            assert seen and set(seen) == {expected}, (threads, cores, seen)
            assert torch.get_num_threads() == 4  # restored
        # restored after an error inside the call too
        net.register_forward_pre_hook(lambda module, args: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            predict(long, RATE, net, device="cpu", threads=2)
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(
    "parallel backend: OpenMP" not in torch.__config__.parallel_info(),
    reason="torch's thread count is per Python thread only with its OpenMP backend",
)
def test_calls_from_several_python_threads_each_restore_their_own_count(net):
    import threading

    audio = tone(2.0)
    before = torch.get_num_threads()
    barrier = threading.Barrier(4)
    seen, errors = {}, []

    def worker(index):
        try:
            torch.get_num_threads()  # a thread takes torch's last global count at first use
            torch.set_num_threads(3 + index)  # ... and keeps its own from then on
            barrier.wait()
            for _ in range(3):  # overlapping calls, asking for 1 or 2 threads
                predict(audio, RATE, net, device="cpu", threads=1 + index % 2)
            seen[index] = torch.get_num_threads()
        except Exception as error:  # a thread's exception is otherwise lost
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors, errors
    assert seen == {index: 3 + index for index in range(4)}
    assert torch.get_num_threads() == before


def test_the_result_does_not_depend_on_threads(net):
    audio = tone(12.0)
    one = predict(audio, RATE, net, device="cpu", threads=1)
    assert_same(one, predict(audio, RATE, net, device="cpu", threads=2))
    assert_same(one, predict(audio, RATE, net, device="cpu"))


def test_the_onnx_backend_runs_on_the_threads_asked_for():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from foldpitch import export

    net = random_net(seed=7)  # a network of its own: no session cached yet
    for threads in (2, 1):
        predict(tone(1.0), RATE, net, device="cpu", backend="onnx", threads=threads)
    # onnxruntime sessions by intra-op thread count, one made for each call
    assert sorted(export._SESSIONS[net][1]) == [1, 2]
    for threads, session in export._SESSIONS[net][1].items():
        assert session.get_session_options().intra_op_num_threads == threads


# --- the command line ----------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    rows = np.array([[float(value) for value in line.split(",")] for line in lines[1:]])
    return lines[0].split(","), rows


@pytest.fixture
def audio_folder(tmp_path) -> Path:
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "one.wav", tone(1.0).numpy(), RATE)
    stereo = np.stack([tone(0.8, 22050).numpy(), tone(0.8, 22050, f0=330.0).numpy()], axis=1)
    sf.write(folder / "sub" / "two.wav", stereo, 22050)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    (folder / "notes.md").write_text("not audio, not picked up")
    return folder


def test_cli_folder_writes_csvs_and_reports_the_bad_file(checkpoint, audio_folder, capsys):
    code = main(["predict", str(audio_folder), "--checkpoint", str(checkpoint), "--device", "cpu"])
    error = capsys.readouterr().err
    assert code == 1
    assert "broken.wav" in error and "1 of 3 inputs failed" in error
    outputs = sorted(audio_folder.rglob("*.f0.csv"))
    assert [path.name for path in outputs] == ["one.f0.csv", "two.f0.csv"]
    assert not (audio_folder / "broken.f0.csv").exists()
    for path, name, rate in [
        (audio_folder / "one.f0.csv", "one.wav", RATE),
        (audio_folder / "sub" / "two.f0.csv", "sub/two.wav", 22050),
    ]:
        header, rows = read_csv(path)
        assert header == ["time", "frequency", "periodicity", "voiced"]
        data, file_rate = sf.read(audio_folder / name, dtype="float32", always_2d=True)
        assert file_rate == rate
        expected = predict(data.mean(axis=1), rate, checkpoint, device="cpu")  # downmixed
        assert rows.shape == (len(expected.times), 4)
        np.testing.assert_allclose(rows[:, 0], expected.times.numpy(), atol=5.1e-5)
        np.testing.assert_allclose(rows[:, 1], expected.f0.numpy(), atol=5.1e-5)
        np.testing.assert_allclose(rows[:, 2], expected.periodicity.numpy(), atol=5.1e-5)
        np.testing.assert_array_equal(rows[:, 3], expected.voiced.numpy())


def test_cli_json_list_out_dir_and_hop(checkpoint, audio_folder, tmp_path, capsys):
    listing = tmp_path / "inputs.txt"
    listing.write_text("# two files\naudio/one.wav\n\naudio/sub/two.wav\n")
    out_dir = tmp_path / "out"
    arguments = ["predict", str(listing), "--checkpoint", str(checkpoint), "--format", "json"]
    options = ["--hop", "0.005", "--fmax", "500", "--decoder", "argmax"]
    code = main([*arguments, "--out-dir", str(out_dir), *options])
    assert code == 0, capsys.readouterr().err
    assert sorted(path.name for path in out_dir.iterdir()) == ["one.f0.json", "two.f0.json"]
    data = json.loads((out_dir / "two.f0.json").read_text())
    assert sorted(data) == ["frequency", "periodicity", "time", "voiced"]
    # 5 ms is 110.25 samples at 22.05 kHz: frames k with k * 110.25 <= time - 1.
    n_frames = math.floor((round(0.8 * 22050) - 1) / 110.25) + 1
    assert all(len(values) == n_frames for values in data.values())
    np.testing.assert_allclose(data["time"], np.arange(n_frames) * 0.005, atol=1e-6)
    assert max(data["frequency"]) <= 500
    stereo, rate = sf.read(audio_folder / "sub" / "two.wav", dtype="float32")
    options = dict(hop=0.005, fmax=500.0, decoder="argmax", device="cpu")
    expected = predict(stereo.mean(axis=1), rate, checkpoint, **options)
    np.testing.assert_allclose(data["frequency"], expected.f0.numpy(), rtol=1e-6)
    assert all(isinstance(value, bool) for value in data["voiced"])
    assert not list(audio_folder.rglob("*.json"))  # nothing written beside the inputs


def test_cli_plot_writes_a_png(checkpoint, audio_folder, tmp_path):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "figures"
    arguments = [str(audio_folder / "one.wav"), "--checkpoint", str(checkpoint), "--plot"]
    assert main(["predict", *arguments, "--out-dir", str(out_dir)]) == 0
    assert (out_dir / "one.f0.csv").is_file()
    assert (out_dir / "one.f0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors(checkpoint, audio_folder, tmp_path, capsys, monkeypatch):
    missing = tmp_path / "nowhere.wav"
    code = main(
        ["predict", str(missing), str(audio_folder / "one.wav"), "--checkpoint", str(checkpoint)]
    )
    assert code == 1 and "nowhere.wav: no such file" in capsys.readouterr().err
    assert (audio_folder / "one.f0.csv").is_file()
    monkeypatch.setattr(predict_module, "DEFAULT_CHECKPOINT", tmp_path / "absent.ckpt")
    assert main(["predict", str(audio_folder)]) == 2
    assert "default checkpoint" in capsys.readouterr().err
    code = main(["predict", str(audio_folder), "--checkpoint", str(checkpoint), "--fmin", "10"])
    assert code == 2 and "fmin=10 Hz is outside" in capsys.readouterr().err


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """An untrained network saved in the checkpoint format (no training run needed)."""
    net = random_net(seed=7)
    path = tmp_path / "tiny.ckpt"
    state = {
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "foldpitch": {"format_version": 1, "model_config": net.config()},
        "global_step": 0,
    }
    torch.save(state, path)
    return path


def test_cli_skips_existing_outputs_unless_overwrite(tiny_checkpoint, audio_folder, capsys):
    arguments = ["predict", str(audio_folder / "one.wav"), "--checkpoint", str(tiny_checkpoint)]
    assert main(arguments) == 0
    output = audio_folder / "one.f0.csv"
    first = output.read_text()
    output.write_text(first + "# marker\n")
    capsys.readouterr()
    assert main(arguments) == 0  # skipped: not an error
    error = capsys.readouterr().err
    assert "skipped" in error and "1 of 1 inputs skipped" in error and "--overwrite" in error
    assert output.read_text().endswith("# marker\n")  # untouched
    assert main([*arguments, "--overwrite"]) == 0
    assert output.read_text() == first


def test_cli_folder_without_audio_is_reported_and_others_still_run(
    tiny_checkpoint, audio_folder, tmp_path, capsys
):
    empty = tmp_path / "no_audio"
    empty.mkdir()
    (empty / "readme.md").write_text("no audio here")
    code = main(
        ["predict", str(empty), str(audio_folder / "one.wav"), "--checkpoint", str(tiny_checkpoint)]
    )
    error = capsys.readouterr().err
    assert code == 1
    assert "no_audio: no audio files in this folder" in error and "1 of 2 inputs failed" in error
    assert (audio_folder / "one.f0.csv").is_file()


def test_cli_unsupported_format_is_reported_and_others_still_run(
    tiny_checkpoint, audio_folder, tmp_path, capsys
):
    odd = tmp_path / "clip.xyz"
    odd.write_bytes(b"\x00\x01 not a format anyone reads" * 20)
    code = main(
        ["predict", str(odd), str(audio_folder / "one.wav"), "--checkpoint", str(tiny_checkpoint)]
    )
    error = capsys.readouterr().err
    assert code == 1 and "clip.xyz" in error and "unsupported format or corrupt file" in error
    assert (audio_folder / "one.f0.csv").is_file() and not (tmp_path / "clip.f0.csv").exists()


def test_cli_unwritable_outputs(tiny_checkpoint, audio_folder, tmp_path, capsys):
    # An --out-dir that cannot be created is a usage error (exit 2) before any work.
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    common = ["--checkpoint", str(tiny_checkpoint)]
    code = main(["predict", str(audio_folder), *common, "--out-dir", str(blocker / "out")])
    assert code == 2 and "cannot create --out-dir" in capsys.readouterr().err
    # One output that cannot be written (a folder in its place): that input fails with
    # the output's name, the others are written.
    (audio_folder / "one.f0.csv").mkdir()
    code = main(["predict", str(audio_folder), *common, "--overwrite"])
    error = capsys.readouterr().err
    assert code == 1 and "cannot write" in error and "one.f0.csv" in error
    assert (audio_folder / "sub" / "two.f0.csv").is_file()
    assert not list(audio_folder.rglob(".*.tmp*"))  # no temporary file left behind


def test_outputs_are_written_atomically(tmp_path):
    from foldpitch.io import atomic_output, write_track_csv

    target = tmp_path / "clip.f0.csv"
    times, f0 = torch.arange(5) * 0.01, torch.full((5,), 220.0)
    # A crash half-way (here: a column too short, after the header and four rows) ...
    with pytest.raises(ValueError):
        write_track_csv(target, times, f0, torch.ones(5), torch.ones(4, dtype=torch.bool))
    # ... leaves neither a truncated CSV that looks complete nor a temporary file.
    assert list(tmp_path.iterdir()) == []
    write_track_csv(target, times, f0, torch.ones(5), torch.ones(5, dtype=torch.bool))
    assert len(target.read_text().splitlines()) == 6
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("partial")
        raise RuntimeError("crash while writing")
    assert len(target.read_text().splitlines()) == 6  # the old file is still whole
    assert [path.name for path in tmp_path.iterdir()] == ["clip.f0.csv"]


def test_fit_cli_skips_existing_outputs_and_reports_an_unwritable_out_dir(tmp_path, capsys):
    audio = tmp_path / "tone.wav"
    sf.write(audio, harmonic_tone(200.0, RATE, 8000).numpy(), RATE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "tone.f0.csv").write_text("time,frequency,periodicity,voiced\n")
    assert main(["fit", str(audio), "--out-dir", str(out)]) == 0
    assert "skipped" in capsys.readouterr().err
    assert (out / "tone.f0.csv").read_text() == "time,frequency,periodicity,voiced\n"
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["fit", str(audio), "--out-dir", str(blocker / "out")]) == 2
    assert "cannot create --out-dir" in capsys.readouterr().err


def test_script_wraps_the_cli():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "predict.py"), "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--format" in result.stdout and "--checkpoint" in result.stdout


# --- foldpitch demo -------------------------------------------------------------------


def test_demo_example_has_the_f0_it_claims():
    from foldpitch.cli import demo_example

    audio, true_f0 = demo_example(RATE)
    assert audio.shape == true_f0.shape == (3 * RATE,)
    assert (true_f0[RATE : RATE + RATE // 4] == 0).all()  # the rest
    # The glide's period, read from zero crossings of its fundamental, matches the label.
    glide = audio[RATE + RATE // 4 + 2000 : RATE + RATE // 4 + 2400]
    spectrum = torch.fft.rfft(glide * torch.hann_window(400), n=16000).abs()
    peak = float(spectrum[100:].argmax() + 100)  # Hz at 1 Hz per bin
    expected = float(true_f0[RATE + RATE // 4 + 2200])
    assert abs(peak - expected) < 0.05 * expected


def test_network_demo_prints_a_table_and_writes_a_figure(checkpoint, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "demo.png"
    assert main(["demo", "--checkpoint", str(checkpoint), "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "| time (s) | true f0 (Hz) | predicted f0 (Hz)" in out
    assert "frames within 50 cents" in out
    assert figure.stat().st_size > 10_000


def demo_truth(seconds: np.ndarray) -> np.ndarray:
    """The network demo's f0 (Hz, 0 where unvoiced), from the description of its parts."""
    vibrato = 220.0 * 2 ** (100 / 1200 * np.sin(2 * np.pi * 6.0 * seconds))
    glide = 150.0 * 2 ** (seconds - 1.25)
    return np.select(
        [seconds < 1.0, seconds < 1.25, seconds < 2.25], [vibrato, 0.0, glide], default=82.0
    )


def table_rows(printed: str) -> np.ndarray:
    """The numbers of a printed Markdown table's rows (unvoiced: NaN; errors dropped)."""
    rows = []
    for line in printed.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0][:1].isdigit():
            rows.append([np.nan if c == "unvoiced" else float(c) for c in cells[:3]])
    return np.array(rows)


def test_shipped_network_demo_is_accurate_against_its_known_f0(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from foldpitch.cli import demo_example

    assert main(["demo", "--plot", str(tmp_path / "demo.png")]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    truth = demo_truth(rows[:, 0])
    voiced = truth > 0
    np.testing.assert_allclose(np.nan_to_num(rows[:, 1]), truth, atol=0.06)  # printed .1f
    cents = 1200 * np.log2(rows[voiced, 2] / truth[voiced])
    assert (np.abs(cents) < 50).mean() > 0.9, out
    # The whole clip, frame by frame, as the demo runs it.
    audio, _ = demo_example(RATE)
    result = predict(audio, RATE, device="cpu")
    truth = demo_truth(result.times.numpy())
    cents = 1200 * np.log2(result.f0.numpy() / np.maximum(truth, 1e-6))
    correct = (np.abs(cents) < 50) & (truth > 0) & result.voiced.numpy()
    accuracy = correct.sum() / (truth > 0).sum()
    assert accuracy > 0.95
    assert f"frames within 50 cents (and called voiced): {accuracy:.1%}" in out


def test_demo_without_a_checkpoint_says_so(tmp_path, capsys):
    assert main(["demo", "--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt" in capsys.readouterr().err


def test_fit_demo_approaches_its_known_f0(capsys):
    # 40 Adam steps from 10 % flat (181 cents RMS) reach about 10 cents.
    assert main(["demo", "--fit", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    truth = 220.0 * 2 ** (100 / 1200 * np.sin(2 * np.pi * 6.0 * rows[:, 0]))
    np.testing.assert_allclose(rows[:, 1], truth, atol=0.006)  # printed .2f
    cents = 1200 * np.log2(rows[:, 2] / truth)
    assert len(rows) >= 8 and np.abs(cents).max() < 25, out
    assert "RMS error" in out


# --- refinement -------------------------------------------------------------------------


def test_refine_moves_a_rough_start_onto_the_true_f0(net):
    # The random network's f0 is arbitrary; a start 10 cents off shows the fit (the
    # refinement moves no frame further than the smallest bound of REFINE_BOUNDS, 12).
    assert min(cents for _, cents in predict_module.REFINE_BOUNDS) >= 11.0
    audio = harmonic_tone(220.0, RATE, RATE)
    rough = torch.full((1, 100), math.log2(RATE / (220.0 * 2 ** (10 / 1200))), dtype=torch.float64)
    refined = predict_module._refine(net, audio[None], rough, 50.0, 1100.0, 40)
    cents = 1200 * (math.log2(RATE / 220.0) - refined[0, 20:-20])
    assert cents.abs().max() < 2.0, cents.abs().max()


def test_refine_moves_no_frame_further_than_its_bound(net):
    # A start 80 cents above a steady 220 Hz tone: the fold loss pulls every frame
    # towards the tone (the fit alone ends within 6 cents of it), and the bound stops
    # each at the cents REFINE_BOUNDS pairs with the highest floor its fitted
    # periodicity reaches (a clean tone: the highest).
    audio = harmonic_tone(220.0, RATE, RATE)
    start = torch.full((1, 100), math.log2(RATE / (220.0 * 2 ** (80 / 1200))), dtype=torch.float64)
    proposals = predict_module._refinement_proposals(net, audio[None], start, 50.0, 1100.0, 40)
    periodicity = proposals[0].periodicity[20:-20]
    bound = torch.zeros_like(periodicity)
    for floor, cents in predict_module.REFINE_BOUNDS:
        bound[periodicity >= floor] = cents  # floors rise: the highest reached wins
    top_floor, top_cents = max(predict_module.REFINE_BOUNDS)
    assert top_cents < 70 and (periodicity >= top_floor).all(), periodicity.min()
    refined = predict_module._refine(net, audio[None], start, 50.0, 1100.0, 40)
    moved = 1200 * (refined[0, 20:-20] - start[0, 20:-20])  # log2 period up: f0 down
    torch.testing.assert_close(moved, bound, atol=1e-6, rtol=0)


@pytest.mark.parametrize("f0", [150.0, 180.0, 330.0, 1000.0])
def test_refine_reads_a_clean_pure_tone_within_a_few_cents(f0):
    # The shipped network reads a pure tone up to 45 cents off (150-180 Hz), where the
    # fold loss of the fitted envelope is periodic to 0.999: the top tier of
    # REFINE_BOUNDS lets the fit through. The reference is the tone's own f0.
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    audio = (0.5 * torch.sin(2 * math.pi * f0 * t)).float()
    result = predict(audio, RATE, device="cpu", refine=True)
    inner = (result.times > 0.1) & (result.times < 0.9)
    cents = (1200 * torch.log2(result.f0[inner].double() / f0)).abs()
    assert float(cents.median()) < 3 and float(cents.max()) < 15, cents


def test_refine_option_lowers_the_error_and_keeps_the_network_voicing():
    # The shipped network on a vibrato: about 6 cents RMS; 10 steps of refinement: 2.
    from foldpitch.synth import vibrato_f0

    f0 = vibrato_f0(220.0, 6.0, 100.0, RATE, RATE)
    audio = harmonic_tone(f0, RATE).float()
    plain = predict(audio, RATE, device="cpu")
    refined = predict(audio, RATE, device="cpu", refine=True, refine_steps=10)
    assert torch.equal(plain.voiced, refined.voiced) and plain.voiced[10:-10].all()
    truth = f0[(plain.times * RATE).round().long()]

    def rms_cents(result):
        cents = 1200 * torch.log2(result.f0.double() / truth)[10:-10]
        return float(cents.square().mean().sqrt())

    assert rms_cents(refined) < 0.5 * rms_cents(plain), (rms_cents(plain), rms_cents(refined))


def test_accept_refinement_keeps_the_network_value_unless_allowed_and_clearly_periodic():
    # A per-frame reference of the acceptance rule on random proposals, with two tiers:
    # moves up to 12 cents from periodicity 0.6, up to 25 from 0.8.
    generator = torch.Generator().manual_seed(0)
    n = 400
    start = 7 + torch.rand(n, generator=generator, dtype=torch.float64)
    fitted = start + (torch.rand(n, generator=generator, dtype=torch.float64) - 0.5) / 20
    allowed = torch.rand(n, generator=generator) > 0.3
    periodicity = torch.rand(n, generator=generator, dtype=torch.float64)
    proposal = predict_module._RefinementProposal(start, fitted, allowed, periodicity)
    bounds = ((0.8, 25.0), (0.6, 12.0))  # any order
    refined = predict_module._accept_refinement([proposal, proposal], bounds)
    expected = []
    for t in range(n):
        value = float(start[t])
        if bool(allowed[t]) and float(periodicity[t]) >= 0.6:
            limit = (25 if float(periodicity[t]) >= 0.8 else 12) / 1200
            value += max(-limit, min(limit, float(fitted[t] - start[t])))
        expected.append(value)
    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(refined, torch.stack([expected, expected]), rtol=0, atol=1e-12)
    # every case occurs: kept (not allowed, not periodic), moved whole, moved to each bound
    moved = (refined[0] - start).abs()
    at_12 = (moved - 12 / 1200).abs() < 1e-12
    at_25 = (moved - 25 / 1200).abs() < 1e-12
    assert (moved == 0).sum() > 100 and at_12.sum() > 10 and at_25.sum() > 10
    assert ((moved > 0) & ~at_12 & ~at_25).sum() > 20


def test_refine_keeps_the_network_value_where_the_fold_loss_is_not_clearly_periodic(net):
    """A tone clean for 0.5 s, then under white noise at 0 dB: there the fitted envelope's
    periodicity is far below REFINE_BOUNDS' lowest floor and every frame keeps the start (10
    cents off); in the clean half the frames move onto the tone."""
    audio = harmonic_tone(220.0, RATE, RATE)
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(RATE // 2, generator=generator, dtype=audio.dtype)
    tail = audio[RATE // 2 :]
    audio[RATE // 2 :] = tail + noise * tail.pow(2).mean().sqrt()  # 0 dB
    start = torch.full((1, 100), math.log2(RATE / (220.0 * 2 ** (10 / 1200))), dtype=torch.float64)
    proposals = predict_module._refinement_proposals(net, audio[None], start, 50.0, 1100.0, 30)
    noisy = slice(60, 95)
    assert (proposals[0].periodicity[noisy] < min(predict_module.REFINE_BOUNDS)[0]).all()
    refined = predict_module._refine(net, audio[None], start, 50.0, 1100.0, 30)
    torch.testing.assert_close(refined[0, noisy], start[0, noisy], rtol=0, atol=0)
    cents = 1200 * (math.log2(RATE / 220.0) - refined[0, 5:40])
    assert cents.abs().max() < 2.0, cents.abs().max()


def _notes_with_jumps_and_rests():
    """1.6 s at RATE: silence, a 110 Hz note, an instant jump (continuous phase) to 165
    Hz, a 100 ms rest, 494 Hz, an instant jump down to 185 Hz, silence; 5 ms linear
    onsets and offsets. Returns the audio and the exact f0 on the 10 ms frame grid (0
    where the amplitude is 0 at the frame time)."""
    t = torch.arange(int(1.6 * RATE), dtype=torch.float64) / RATE
    changes = [(0.10, 110.0), (0.40, 165.0), (0.80, 494.0), (1.10, 185.0)]  # (time, Hz)
    f0 = torch.full_like(t, 110.0)
    for start, hz in changes:
        f0[t >= start] = hz
    ramp = 0.005 * RATE
    amplitude = torch.zeros_like(t)
    for start, stop in ((0.10, 0.70), (0.80, 1.45)):
        inside = (t >= start) & (t < stop)
        rise = (t - start) * RATE / ramp
        fall = (stop - t) * RATE / ramp
        amplitude[inside] = torch.minimum(rise, fall).clamp(0, 1)[inside]
    audio = (harmonic_tone(f0, RATE) * amplitude).float()
    frames = torch.arange(160) * 160
    truth = torch.where(amplitude[frames] > 0, f0[frames], torch.zeros(()))
    return audio, truth


def test_refine_never_turns_a_right_frame_wrong_at_jumps_onsets_and_rests(net):
    """A start as a good network gives it (each voiced frame within 20 cents of the exact
    f0, the errors alternating in sign; rests at an arbitrary 300 Hz) on notes with
    instant jumps, onsets and rests: after the refinement every voiced frame is still
    within 50 cents, and away from the note changes each frame moves towards the exact
    f0 at least as far as the smallest bound of REFINE_BOUNDS lets it. Before the
    prior was cut at note changes and the move bounded, frames beside the jumps left by
    50-200 cents (the smoothness prior pulled them across the jump)."""
    audio, truth = _notes_with_jumps_and_rests()
    voiced = truth > 0
    errors = torch.where(torch.arange(len(truth)) % 2 == 0, 20.0, -15.0).double()
    start_f0 = torch.where(voiced, truth * 2 ** (errors / 1200), torch.full_like(truth, 300.0))
    start = torch.log2(RATE / start_f0)[None]
    refined = predict_module._refine(net, audio[None], start, 50.0, 1100.0, 30, voiced[None])
    cents = 1200 * (torch.log2(RATE / truth[voiced]) - refined[0, voiced]).abs()
    assert cents.max() < 50, (torch.nonzero(voiced).flatten()[cents >= 50], cents[cents >= 50])
    # away from the note changes and edges (2 frames), the fit gets finer
    changes = torch.zeros_like(voiced)
    changes[1:] = (truth[1:] != truth[:-1]) | (voiced[1:] != voiced[:-1])
    near = torch.nn.functional.max_pool1d(changes[None].float(), 5, 1, 2)[0] > 0
    steady = voiced & ~near
    fine = 1200 * (torch.log2(RATE / truth[steady]) - refined[0, steady]).abs()
    # from 15-20 cents to at least as close as the smallest bound lets a frame come
    smallest = min(cents for _, cents in predict_module.REFINE_BOUNDS)
    floor = (errors[steady].abs() - smallest).clamp_min(0)
    assert (fine <= floor + 2.0).float().mean() > 0.9, (fine, floor)
    # unvoiced frames keep the start
    torch.testing.assert_close(refined[0, ~voiced], start[0, ~voiced])


@pytest.mark.parametrize("frames", [0, 1, 3])
def test_near_marks_the_frames_on_each_side_of_every_break(frames):
    breaks = torch.zeros(20, dtype=torch.bool)
    breaks[[0, 5, 6, 19]] = True  # between frames t - 1 and t
    near = predict_module._near(breaks, frames)
    # reference: frame i lies within `frames` frames of the boundary before frame t
    # when t - frames <= i < t + frames
    expected = [
        any(t - frames <= i < t + frames for t in torch.nonzero(breaks).flatten().tolist())
        for i in range(20)
    ]
    assert near.tolist() == expected


def test_refine_keeps_the_network_value_beside_note_changes_and_voicing_edges(net):
    """Beside a note change or a voicing edge, where a rendered note's pitch settles and a
    frame's window holds two notes or silence, the fold loss may prefer a value that is
    no note's (the benchmark's instruments lost frames there): the refinement keeps the
    network's value within REFINE_EDGE_FRAMES of every break, and refines the rest."""
    audio, truth = _notes_with_jumps_and_rests()
    voiced = truth > 0
    start = torch.log2(RATE / torch.where(voiced, truth * 2 ** (18 / 1200), 300.0))[None]
    refined = predict_module._refine(net, audio[None], start, 50.0, 1100.0, 30, voiced[None])
    breaks = torch.zeros_like(voiced)
    breaks[1:] = ((start[0, 1:] - start[0, :-1]).abs() > 100 / 1200) | (voiced[1:] != voiced[:-1])
    near = predict_module._near(breaks, predict_module.REFINE_EDGE_FRAMES)
    assert near.sum() >= 4 * 2 * predict_module.REFINE_EDGE_FRAMES  # the rule applies
    torch.testing.assert_close(refined[0, near], start[0, near], rtol=0, atol=0)
    moved = 1200 * (refined[0] - start[0]).abs()
    assert (moved[voiced & ~near] > 5).float().mean() > 0.9  # the rest is refined


def test_refine_with_the_shipped_model_keeps_every_right_frame():
    """``predict(refine=True)`` with the shipped network on notes with jumps, onsets and
    rests: every frame within 50 cents of the exact f0 without the refinement is still
    within 50 cents with it (the old refinement lost frames beside the jumps)."""
    if not predict_module.DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    audio, truth = _notes_with_jumps_and_rests()
    plain = predict(audio, RATE, device="cpu")
    refined = predict(audio, RATE, device="cpu", refine=True)
    voiced = truth > 0

    def cents(result):
        return 1200 * torch.log2(result.f0.double()[voiced] / truth[voiced]).abs()

    right = cents(plain) < 50
    assert right.float().mean() > 0.9  # the network gets this tone right
    lost = torch.nonzero(voiced).flatten()[right & (cents(refined) >= 50)]
    assert len(lost) == 0, (lost, cents(plain)[right & (cents(refined) >= 50)])
    assert cents(refined)[right].median() <= cents(plain)[right].median()
    assert torch.equal(plain.voiced, refined.voiced)
    with pytest.raises(ValueError, match="refine_steps"):
        predict(audio, RATE, device="cpu", refine=True, refine_steps=0)


# --- the voicing threshold -----------------------------------------------------------


def test_the_voicing_threshold_comes_from_the_exported_checkpoint(tiny_checkpoint, tmp_path):
    from foldpitch.model import export_pitchnet, load_pitchnet

    audio = tone(2.0) + 0.3 * torch.randn(2 * RATE, generator=torch.Generator().manual_seed(5))
    plain = predict(audio, RATE, tiny_checkpoint, device="cpu")
    assert load_pitchnet(tiny_checkpoint)[0].voicing_threshold == 0.5  # none stored
    np.testing.assert_array_equal(plain.voiced, plain.periodicity > 0.5)
    # An untrained network's periodicity hovers around 0.5: the threshold decides.
    threshold = float(np.quantile(plain.periodicity.numpy(), 0.3))
    exported = tmp_path / "exported.ckpt"
    export_pitchnet(tiny_checkpoint, exported, voicing_threshold=threshold)
    assert load_pitchnet(exported)[0].voicing_threshold == pytest.approx(threshold)
    result = predict(audio, RATE, exported, device="cpu")
    torch.testing.assert_close(result.periodicity, plain.periodicity)
    np.testing.assert_array_equal(result.voiced, plain.periodicity > threshold)
    assert 0.6 < float(result.voiced.float().mean()) < 0.8
    explicit = predict(audio, RATE, exported, device="cpu", voicing_threshold=0.5)
    np.testing.assert_array_equal(explicit.voiced, plain.voiced)
    flag = pyin_like(audio.numpy(), RATE, exported, device="cpu", voicing_threshold=0.99)[1]
    assert not flag.any() and plain.voiced.any()
    with pytest.raises(ValueError, match="voicing_threshold must be in"):
        export_pitchnet(tiny_checkpoint, tmp_path / "bad.ckpt", voicing_threshold=1.5)


def test_cli_voicing_threshold(tiny_checkpoint, audio_folder, capsys):
    one = str(audio_folder / "one.wav")
    arguments = ["predict", one, "--checkpoint", str(tiny_checkpoint), "--overwrite"]
    assert main([*arguments, "--voicing-threshold", "0.999"]) == 0
    header, rows = read_csv(audio_folder / "one.f0.csv")
    assert rows[:, header.index("voiced")].sum() == 0
    assert main([*arguments, "--voicing-threshold", "0.001"]) == 0
    header, rows = read_csv(audio_folder / "one.f0.csv")
    assert rows[:, header.index("voiced")].all()
    assert main([*arguments, "--voicing-threshold", "2"]) == 2
    assert "--voicing-threshold must be in (0, 1)" in capsys.readouterr().err


# --- silence gate --------------------------------------------------------------------


def loud_then_faint(seconds: float = 1.0, faint_db: float = -60.0) -> torch.Tensor:
    """A tone, then the same tone ``faint_db`` quieter: periodic all through."""
    loud = harmonic_tone(220.0, RATE, round(seconds * RATE)).float()
    return torch.cat([loud, loud * 10 ** (faint_db / 20)])


def test_the_silence_gate_unvoices_frames_far_below_the_loudest(net):
    audio = loud_then_faint()
    everywhere = {"device": "cpu", "voicing_threshold": 1e-6}  # every frame periodic enough
    ungated = predict(audio, RATE, net, top_db=None, **everywhere)
    assert bool(ungated.voiced.all())
    gated = predict(audio, RATE, net, **everywhere)  # default: SILENCE_TOP_DB = 42
    torch.testing.assert_close(gated.periodicity, ungated.periodicity, rtol=0, atol=0)
    torch.testing.assert_close(gated.f0, ungated.f0, rtol=0, atol=0)
    # Frames whose window lies in the loud part stay voiced, those in the faint one not;
    # the window (n_fft = 1024 samples) reaches 3 frames either side of the join.
    join = RATE // 160
    assert bool(gated.voiced[: join - 3].all()) and not gated.voiced[join + 4 :].any()
    assert bool(predict(audio, RATE, net, top_db=70.0, **everywhere).voiced.all())


def test_the_silence_gate_is_per_row_over_the_whole_signal(net):
    audio = loud_then_faint(1.5)
    faint_only = audio.clone()
    faint_only[: audio.shape[-1] // 2] *= 10 ** (-60 / 20)  # faint all through
    batch = torch.stack([audio, faint_only])
    options = {"device": "cpu", "voicing_threshold": 1e-6}
    whole = predict(batch, RATE, net, **options)
    assert bool(whole.voiced[1].all())  # its own loudest frame is faint too
    assert not whole.voiced[0, -50:].any()
    # Chunks of 0.5 s: the loudest frame of the first row is in another chunk than its
    # faint frames, and the gate still measures from it.
    chunked = predict(batch, RATE, net, chunk_seconds=0.5, **options)
    assert torch.equal(chunked.voiced, whole.voiced)
    # At another rate and hop the gate reads the power at the requested times.
    resampled = torch.from_numpy(predict_module._resample(audio[None], RATE, 44100)[0].numpy())
    other = predict(resampled, 44100, net, hop=0.01, **options)
    assert bool(other.voiced[:140].all()) and not other.voiced[160:].any()


@pytest.mark.parametrize(
    "top_db, error",
    [(0.0, ValueError), (-10.0, ValueError), (math.inf, ValueError), ("42", TypeError)],
)
def test_top_db_must_be_a_positive_number(net, top_db, error):
    with pytest.raises(error, match="top_db must be a positive"):
        predict(np.zeros(100), RATE, net, device="cpu", top_db=top_db)


def test_cli_top_db(tiny_checkpoint, tmp_path, capsys):
    path = tmp_path / "faint.wav"
    sf.write(path, loud_then_faint().numpy(), RATE)
    arguments = ["predict", str(path), "--checkpoint", str(tiny_checkpoint), "--overwrite"]
    arguments += ["--voicing-threshold", "0.000001"]
    output = tmp_path / "faint.f0.csv"
    assert main([*arguments, "--top-db", "off"]) == 0
    header, rows = read_csv(output)
    assert rows[:, header.index("voiced")].all()
    assert main(arguments) == 0  # the default gate
    header, rows = read_csv(output)
    voiced = rows[:, header.index("voiced")]
    assert voiced[:90].all() and not voiced[110:].any()
    with pytest.raises(SystemExit):
        main([*arguments, "--top-db", "-3"])
    assert "--top-db: expected a positive number of dB or 'off'" in capsys.readouterr().err
