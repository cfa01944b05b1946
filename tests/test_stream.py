"""foldpitch.stream: audio pushed chunk by chunk gives predict's result (with the whole
receptive field and an unbounded lag), whatever the chunking; frames are final no later
than the stated latency; the running silence gate."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from foldpitch.model import PitchNet
from foldpitch.predict import CHUNK_TOLERANCE, load, predict
from foldpitch.stream import PitchStream, _NetworkCache, stream
from foldpitch.synth import harmonic_tone

RATE = 16000


def glide(seconds: float = 0.8, rate: int = RATE) -> np.ndarray:
    """A harmonic tone gliding 150 -> 300 Hz with a level change, zero mean (predict
    removes the mean, a stream cannot)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = torch.from_numpy(150 * 2 ** (t / seconds))
    audio = harmonic_tone(f0, rate).numpy() * np.where(t < seconds / 2, 1.0, 0.3)
    return (audio - audio.mean()).astype(np.float32)


def chunked(live: PitchStream, audio, sizes) -> dict[str, torch.Tensor]:
    """Push ``audio`` in chunks of ``sizes`` (cycled), flush, join the results."""
    results, start, index = [], 0, 0
    while start < len(audio):
        size = sizes[index % len(sizes)]
        results.append(live.push(audio[start : start + size]))
        start, index = start + size, index + 1
    results.append(live.flush())
    return {
        name: torch.cat([getattr(result, name) for result in results])
        for name in ("times", "f0", "periodicity", "voiced")
    }


def random_sizes(seed: int, ones: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [1] * ones + rng.integers(1, 2500, 200).tolist()


def assert_like_offline(streamed, offline, threshold):
    np.testing.assert_array_equal(streamed["times"].numpy(), offline.times.numpy())
    torch.testing.assert_close(
        streamed["f0"], offline.f0, rtol=CHUNK_TOLERANCE["f0_rtol"], atol=0.0
    )
    torch.testing.assert_close(
        streamed["periodicity"],
        offline.periodicity,
        rtol=0.0,
        atol=CHUNK_TOLERANCE["periodicity_atol"],
    )
    # Voicing agrees wherever the periodicity is not within rounding of the threshold.
    clear = (offline.periodicity - threshold).abs() > CHUNK_TOLERANCE["periodicity_atol"]
    assert torch.equal(streamed["voiced"][clear], offline.voiced[clear])


@pytest.mark.parametrize(
    ("seed", "lag_ms", "decoder"),
    [(0, None, "viterbi"), (1, 0, "argmax"), (2, None, "viterbi")],
)
def test_stream_equals_predict_whatever_the_chunking(seed, lag_ms, decoder):
    # One-sample chunks (the first 0.1 s of seed 0), then random sizes up to 2500.
    audio = glide()
    offline = predict(audio, RATE, device="cpu", decoder=decoder, top_db=None)
    live = stream(sample_rate=RATE, lag_ms=lag_ms, lookahead_ms=None, top_db=None)  # see gate
    streamed = chunked(live, audio, random_sizes(seed, ones=1600 if seed == 0 else 0))
    assert_like_offline(streamed, offline, live._threshold)
    assert (streamed["voiced"].float().mean()) > 0.8, "the case needs voiced frames"


@pytest.mark.parametrize(
    "frontend",
    [
        dict(n_fft_short=512),
        dict(n_fft=2048, win_length=1024, n_input_bins=512),
        dict(n_fft_short=512, frequency_offsets=True),
    ],
    ids=["short-stft", "zero-padded", "frequency-offsets"],
)
def test_a_network_with_another_frontend_streams_as_predict(frontend):
    # A short STFT beside the long one reads less audio around a frame; a window
    # zero-padded to twice its length reads less than n_fft: the stream's feature
    # windows, sized by n_fft, cover both. Random weights far from the initialisation's.
    torch.manual_seed(0)
    net = PitchNet(channels=16, n_blocks=3, n_period_bins=32, **frontend).eval()
    for parameter in net.parameters():
        parameter.data.normal_(0, 0.2)
    audio = glide()
    for lag_ms, decoder in ((None, "viterbi"), (0, "argmax")):  # 0: frames out early
        offline = predict(audio, RATE, net, device="cpu", decoder=decoder, top_db=None)
        live = stream(net, sample_rate=RATE, lag_ms=lag_ms, lookahead_ms=None, top_db=None)
        streamed = chunked(live, audio, random_sizes(3, ones=300))
        assert_like_offline(streamed, offline, live._threshold)


def test_stream_resamples_and_reads_other_hops_as_predict_does():
    # 48 kHz in (soxr's stream resampler gives what its one-shot resampler gives), a
    # 5 ms hop (frames between the network's, interpolated) and torch int16 chunks.
    rate = 48000
    audio = glide(0.6, rate)
    pcm = torch.from_numpy(np.round(audio * 20000).astype(np.int16))
    offline = predict(pcm, rate, device="cpu", hop=0.005, top_db=None)
    live = stream(sample_rate=rate, lag_ms=None, lookahead_ms=None, hop=0.005, top_db=None)
    assert_like_offline(chunked(live, pcm, random_sizes(3)), offline, live._threshold)


@pytest.mark.parametrize(("lookahead_ms", "lag_ms"), [(0, 0), (50, 30)])
def test_frames_are_final_within_the_latency_and_never_depend_on_chunks(lookahead_ms, lag_ms):
    audio = glide(0.5)
    live = stream(sample_rate=RATE, lag_ms=lag_ms, lookahead_ms=lookahead_ms)
    assert live.latency == pytest.approx((512 + (lookahead_ms + lag_ms) * 16) / RATE)
    final_at = []  # samples received when each frame came out
    for start in range(0, len(audio), 40):
        result = live.push(audio[start : start + 40])
        final_at += [start + 40] * len(result.f0)
    centres = np.arange(len(final_at)) * 160
    # Each frame is out within one 40-sample chunk of its centre plus the latency, and
    # not before: the latency is tight.
    delay = np.array(final_at) - centres
    assert delay.max() < live.latency * RATE + 40
    assert delay.min() >= live.latency * RATE
    # The same frames whatever the chunking (each frame has its own window).
    chunks = chunked(
        stream(sample_rate=RATE, lag_ms=lag_ms, lookahead_ms=lookahead_ms), audio, [40]
    )
    whole = stream(sample_rate=RATE, lag_ms=lag_ms, lookahead_ms=lookahead_ms)
    whole = chunked(whole, audio, [len(audio)])
    assert torch.equal(chunks["voiced"], whole["voiced"])
    torch.testing.assert_close(chunks["f0"], whole["f0"], rtol=1e-5, atol=0.0)
    torch.testing.assert_close(chunks["periodicity"], whole["periodicity"], rtol=0.0, atol=1e-5)


@pytest.mark.parametrize(
    ("kernel_size", "n_blocks", "ahead"),
    [(5, 3, 0), (5, 3, 4), (5, 3, 14), (5, 3, 40), (4, 3, 3), (3, 2, 1), (1, 2, 2)],
)
def test_network_cache_equals_each_frames_own_window(kernel_size, n_blocks, ahead):
    # The cache (settled frames kept, tails per frame, batched per push) against the
    # definition: frame t is net.from_features on STFT frames [0, min(t + ahead + 1,
    # frames in)), one window per frame; in float64 so only rounding differs. Kernel 5,
    # 3 blocks: a 14-frame field (ahead 0, inside it, at its edge, past it); kernel 4:
    # "same" padding reads one frame more after than before; kernel 1: no context.
    torch.manual_seed(kernel_size * 100 + n_blocks * 10 + ahead)
    net = PitchNet(channels=8, n_blocks=n_blocks, kernel_size=kernel_size, n_period_bins=16)
    net = net.double().eval()
    for parameter in net.parameters():  # weights far from the initialisation's
        parameter.data.normal_(0, 0.5)
    features = torch.randn(net.frontend.n_bins, 90, dtype=torch.float64)
    cache = _NetworkCache(net, ahead)
    rng = np.random.default_rng(ahead)
    outputs, added, done, largest = [], 0, 0, 0
    while added < features.shape[-1]:  # chunks of 1 to 12 STFT frames, as a stream adds
        size = int(rng.integers(1, 13))
        cache.extend(features[:, added : added + size])
        added = min(added + size, features.shape[-1])
        ready = max(0, added - ahead) if added < features.shape[-1] else added  # then: end
        if ready > done:
            outputs.append(cache.outputs(done, ready))
            done = ready
        largest = max(largest, sum(len(layer) for layer in cache._layers))
    with torch.inference_mode():
        for name in ("logits", "offsets", "periodicity_logits"):
            streamed = torch.cat([getattr(out, name)[0] for out in outputs])
            assert streamed.shape[0] == features.shape[-1]
            for t in range(features.shape[-1]):
                window = features[None, :, : min(t + ahead + 1, features.shape[-1])]
                expected = getattr(net.from_features(window), name)[0, t]
                torch.testing.assert_close(streamed[t], expected, rtol=1e-10, atol=1e-10)
    # Memory stays bounded: about the receptive field per layer, not the 90 frames.
    field = (kernel_size - 1) * (2**n_blocks - 1)
    assert largest <= (n_blocks + 1) * (field + 12 + 2)


def test_stream_frames_equal_their_own_window_of_the_whole_signals_features(local_mean_f0):
    # With the default 50 ms look-ahead, frame t is the shipped network's output on the
    # whole signal's STFT frames up to t + 5 (zeros after), whatever the chunking.
    audio = glide(0.5)
    net = load(None, "cpu")
    live = stream(sample_rate=RATE, lag_ms=0, top_db=None)
    streamed = chunked(live, audio, random_sizes(4, ones=200))
    with torch.inference_mode():
        features = net.features(torch.from_numpy(audio)[None])
        n = features.shape[-1]
        f0, periodicity = [], []
        for t in range(n):
            out = net.from_features(features[..., : min(n, t + 6)])
            f0.append(local_mean_f0(net, out)[0, t].float())
            periodicity.append(torch.sigmoid(out.periodicity_logits[0, t]))
    torch.testing.assert_close(
        streamed["f0"], torch.stack(f0), rtol=CHUNK_TOLERANCE["f0_rtol"], atol=0.0
    )
    atol = CHUNK_TOLERANCE["periodicity_atol"]
    torch.testing.assert_close(
        streamed["periodicity"], torch.stack(periodicity), rtol=0.0, atol=atol
    )


def test_running_gate_gates_a_quiet_passage_after_a_loud_one_not_before():
    # Quiet (-50 dB), loud, quiet: offline both quiet passages are gated (42 dB below
    # the loudest frame of the file); a stream deciding 100 ms after a frame has not
    # heard the loud part during most of the first, so only the last is gated. With an
    # unbounded lag the stream's reference is the whole signal's, as offline.
    tone = glide(0.9)
    level = np.repeat([0.003, 1.0, 0.003], len(tone) // 3).astype(np.float32)
    audio = tone / np.abs(tone).max() * 0.5 * level
    audio -= audio.mean()
    offline = predict(audio, RATE, device="cpu")
    options = {"sample_rate": RATE, "lag_ms": 50, "lookahead_ms": 50}
    gated = chunked(stream(**options), audio, [320])
    ungated = chunked(stream(**options, top_db=None), audio, [320])
    times = offline.times
    first = times < 0.3 - 0.1 - 0.04  # the latency, and the STFT window's half
    last = times > 0.63
    assert ungated["voiced"][first].float().mean() > 0.8, "the case needs periodic frames"
    assert ungated["voiced"][last].float().mean() > 0.8, "the case needs periodic frames"
    assert not offline.voiced[first].any() and not offline.voiced[last].any()
    assert torch.equal(gated["voiced"][first], ungated["voiced"][first])
    assert not gated["voiced"][last].any()
    whole = chunked(stream(sample_rate=RATE, lag_ms=None, lookahead_ms=None), audio, [320])
    assert_like_offline(whole, offline, 0.7)


def test_bad_input_is_named():
    live = stream(sample_rate=RATE, lag_ms=0, lookahead_ms=0)
    with pytest.raises(ValueError, match="mono"):
        live.push(np.zeros((100, 2), np.float32))
    with pytest.raises(TypeError, match="chunk"):
        live.push([0.0, 1.0])
    with pytest.raises(TypeError, match="dtype"):
        live.push(np.zeros(0, np.uint8))
    assert len(live.push(np.zeros(0, np.float32)).f0) == 0
    live.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        live.push(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="lag_ms"):
        stream(sample_rate=RATE, lag_ms=-1)
    with pytest.raises(TypeError, match="lookahead_ms"):
        stream(sample_rate=RATE, lookahead_ms="50")
    with pytest.raises(ValueError, match="hop"):
        stream(sample_rate=RATE, hop=0)
    with pytest.raises(ValueError, match="sample_rate"):
        stream(sample_rate=16000.5)


def run_cli(arguments: list[str], stdin: bytes) -> str:
    """``foldpitch stream ARGUMENTS`` in a subprocess, ``stdin`` piped in."""
    import subprocess
    import sys
    from pathlib import Path

    import foldpitch

    env = {**os.environ, "PYTHONPATH": str(Path(foldpitch.__file__).parents[1])}
    command = [sys.executable, "-c", "import sys; from foldpitch.cli import main; sys.exit(main())"]
    done = subprocess.run(
        command + ["stream", *arguments], input=stdin, capture_output=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_cli_pipes_pcm_to_one_line_per_frame_like_predict():
    audio = glide(0.6)
    pcm = np.round(audio * 20000).astype("<i2")
    offline = predict(pcm, RATE, device="cpu")
    text = run_cli(["--lag-ms", "end", "--lookahead-ms", "full"], pcm.tobytes())
    lines = text.splitlines()
    assert lines[0] == "time,frequency,periodicity,voiced"
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    np.testing.assert_allclose(table[:, 0], offline.times.numpy(), atol=5e-4)
    np.testing.assert_allclose(table[:, 1], offline.f0.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(table[:, 2], offline.periodicity.numpy(), atol=1e-4)
    clear = (offline.periodicity - load().voicing_threshold).abs() > 1e-3
    np.testing.assert_array_equal(table[clear, 3] == 1, offline.voiced[clear].numpy())


def test_cli_averages_float_channels_and_writes_json_lines():
    # Two channels, one silent: the mean is the tone at half level (the gain does not
    # matter to the network), float32 in, the default lag and look-ahead.
    audio = glide(0.5)
    stereo = np.stack([audio, np.zeros_like(audio)], -1).astype("<f4")
    half = chunked(stream(sample_rate=RATE), audio / 2, [len(audio)])
    text = run_cli(["--dtype", "f32", "--channels", "2", "--format", "json"], stereo.tobytes())
    rows = [json.loads(line) for line in text.splitlines()]
    assert [row["time"] for row in rows] == pytest.approx(half["times"].tolist())
    np.testing.assert_allclose([r["frequency"] for r in rows], half["f0"].numpy(), rtol=1e-4)
    assert [row["voiced"] for row in rows] == half["voiced"].tolist()
