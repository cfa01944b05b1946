"""Tests of foldpitch.model: shapes, bounds, gain invariance, locality, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from foldpitch.frontend import n_frames_for
from foldpitch.model import (
    PitchNet,
    _save_pitchnet,
    add_frequency_offsets,
    add_short_stft,
    load_pitchnet,
    zero_pad_stft,
)
from foldpitch.synth import harmonic_tone

SMALL = dict(n_input_bins=64, channels=16, n_blocks=2, n_period_bins=32)


def test_output_shapes_follow_the_frame_convention():
    torch.manual_seed(0)
    net = PitchNet(**SMALL)
    for n in (1, 159, 160, 161, 4000):
        out = net(torch.randn(3, n))
        frames = n_frames_for(n, 160)
        assert out.logits.shape == out.offsets.shape == (3, frames, 32)
        assert out.periodicity_logits.shape == (3, frames)
    assert net(torch.randn(500)).logits.shape[0] == 1  # 1-D audio is one example


def test_predicted_f0_is_bounded_to_the_range_by_construction():
    torch.manual_seed(0)
    net = PitchNet(fmin=70.0, fmax=900.0, **SMALL)
    with torch.no_grad():  # push every output to its extremes
        net.head.weight.mul_(1000.0)
    out = net(torch.randn(4, 3200))
    f0 = net.frequency(net.log2_period(out))
    assert ((f0 >= 70.0 * (1 - 1e-5)) & (f0 <= 900.0 * (1 + 1e-5))).all()
    for bins in (
        torch.zeros_like(out.logits[..., 0], dtype=torch.long),
        torch.full_like(out.logits[..., 0], 31, dtype=torch.long),
    ):
        f0 = net.frequency(net.log2_period(out, bins))
        assert ((f0 >= 70.0 * (1 - 1e-5)) & (f0 <= 900.0 * (1 + 1e-5))).all()
    # The bin edges span exactly the period range in samples.
    assert math.isclose(2 ** float(net.log2_period_edges[0]), 16000 / 900.0, rel_tol=1e-5)
    assert math.isclose(2 ** float(net.log2_period_edges[-1]), 16000 / 70.0, rel_tol=1e-5)


def test_gradients_match_float64_finite_differences():
    # No custom autograd Function in the network: check its gradient (to every weight
    # and to the audio, through the frontend and the bin offset) against central
    # differences along a random direction, one tensor at a time.
    torch.manual_seed(0)
    net = PitchNet(**SMALL).double()
    audio = torch.randn(2, 1600, dtype=torch.float64, requires_grad=True)

    def loss():
        out = net(audio)
        return net.log2_period(out).square().sum() + out.periodicity_logits.sigmoid().sum()

    tensors = dict(net.named_parameters(), audio=audio)
    grads = dict(zip(tensors, torch.autograd.grad(loss(), list(tensors.values())), strict=True))
    generator = torch.Generator().manual_seed(1)
    step = 1e-6
    for name, tensor in tensors.items():
        direction = torch.randn(tensor.shape, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            tensor.add_(step * direction)
            plus = loss()
            tensor.sub_(2 * step * direction)
            minus = loss()
            tensor.add_(step * direction)
        numeric = float((plus - minus) / (2 * step))
        analytic = float((grads[name] * direction).sum())
        assert abs(analytic) > 1e-6, name  # every tensor reaches the output
        assert math.isclose(analytic, numeric, rel_tol=1e-5, abs_tol=1e-7), (
            name,
            analytic,
            numeric,
        )


def test_log2_period_of_several_bins_per_frame_matches_one_bin_at_a_time():
    torch.manual_seed(0)
    net = PitchNet(**SMALL).eval()
    out = net(torch.randn(2, 1600))
    bins = out.logits.topk(3, -1).indices  # (batch, frames, 3)
    several = net.log2_period(out, bins)
    assert several.shape == bins.shape
    for j in range(3):
        torch.testing.assert_close(several[..., j], net.log2_period(out, bins[..., j]))
    # by hand: the bin's lower edge plus its offset in bin widths
    frame = out.offsets[0, 4, bins[0, 4, 2]]
    expected = net.log2_period_edges[bins[0, 4, 2]] + frame * net.bin_width
    torch.testing.assert_close(several[0, 4, 2], expected)


def test_outputs_are_gain_invariant():
    torch.manual_seed(0)
    net = PitchNet(**SMALL).eval()
    audio = harmonic_tone(220.0, 16000, 4000) + 0.01 * torch.randn(4000)
    a, b = net(audio), net(0.01 * audio)
    torch.testing.assert_close(a.logits, b.logits, atol=2e-3, rtol=1e-3)


def test_a_frame_depends_only_on_audio_near_it():
    # Receptive field: the blocks see 1 + 4 * (1 + 2) = 13 frames; the STFT 512 samples.
    torch.manual_seed(0)
    net = PitchNet(**SMALL).eval()
    audio = torch.randn(1, 16000)
    whole = net(audio).logits
    part = net(audio[:, 4000:12000]).logits  # frames 25 .. 74 of the whole
    torch.testing.assert_close(part[:, 15:35], whole[:, 40:60], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("short", [{}, dict(n_fft_short=256)])
def test_config_rebuilds_the_same_network(short):
    net = PitchNet(fmin=60.0, fmax=1000.0, dropout=0.1, kernel_size=3, **SMALL, **short)
    clone = PitchNet(**net.config())
    clone.load_state_dict(net.state_dict())
    assert clone.config() == net.config()
    net.eval(), clone.eval()
    audio = torch.randn(2, 2000)
    torch.testing.assert_close(net(audio).logits, clone(audio).logits)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(fmin=500.0, fmax=100.0), ValueError, "fmin"),
        (dict(fmax=9000.0), ValueError, "fmax"),
        (dict(sample_rate=16000.5), ValueError, "sample_rate"),
        (dict(channels=0), ValueError, "channels"),
        (dict(n_period_bins=2.5), TypeError, "n_period_bins"),
        (dict(n_fft=512, n_fft_short=1024), ValueError, "n_fft_short"),
        (dict(n_short_bins=64), ValueError, "n_short_bins needs n_fft_short"),
        (dict(n_fft_short=0), ValueError, "n_fft_short"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        PitchNet(**kwargs)


def test_bad_audio_is_refused():
    net = PitchNet(**SMALL)
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.zeros(2, 100, dtype=torch.int16))
    with pytest.raises(ValueError, match="batch, time"):
        net(torch.zeros(2, 2, 100))


def test_load_pitchnet_refuses_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_pitchnet(tmp_path / "missing.ckpt")
    other = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a foldpitch training checkpoint"):
        load_pitchnet(other)


# --- checkpoints that are not foldpitch's (issue 7) ------------------------------------


def _checkpoint(tmp_path, name="net.ckpt", **entry):
    """A checkpoint like scripts/train.py writes (the foldpitch entry, model.* weights)."""
    torch.manual_seed(0)
    net = PitchNet(**SMALL)
    state = {
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "foldpitch": {"model_config": net.config(), "resolved_config": None, **entry},
        "global_step": 7,
    }
    path = tmp_path / name
    torch.save(state, path)
    return path, net, state


def test_a_checkpoint_without_format_version_loads_as_format_1(tmp_path):
    # The shipped checkpoint predates the field: it must keep loading.
    path, net, _ = _checkpoint(tmp_path)
    model, info = load_pitchnet(path)
    assert info["format_version"] == 1 and info["global_step"] == 7
    audio = torch.randn(1, 1600, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(audio).logits, net.eval()(audio).logits)


def test_the_shipped_checkpoint_loads():
    from foldpitch.predict import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    model, info = load_pitchnet(DEFAULT_CHECKPOINT)
    assert info["format_version"] == 1 and model.sample_rate == 16000


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not a checkpoint at all", "torch.load cannot read it safely"),
        (b"", "torch.load cannot read it safely"),
    ],
)
def test_files_that_are_not_torch_files_are_refused(tmp_path, content, match):
    path = tmp_path / "random.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"random.ckpt is not a foldpitch checkpoint: {match}"):
        load_pitchnet(path)


def test_torch_files_that_are_not_foldpitch_checkpoints_are_refused(tmp_path):
    cases = {
        "tensor.pt": torch.zeros(3),
        "weights.pt": PitchNet(**SMALL).state_dict(),  # bare weights, no config
        "lightning.ckpt": {"state_dict": {}, "epoch": 1, "global_step": 5},  # not ours
    }
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(ValueError, match=f"{name} is not a foldpitch training checkpoint"):
            load_pitchnet(tmp_path / name)
    torch.save({"state_dict": {}, "foldpitch": {"commit": None}}, tmp_path / "empty.ckpt")
    with pytest.raises(ValueError, match="the 'foldpitch' entry has no model_config"):
        load_pitchnet(tmp_path / "empty.ckpt")


def test_a_newer_format_is_refused_with_an_upgrade_hint(tmp_path):
    path, _, _ = _checkpoint(tmp_path, format_version=2)
    with pytest.raises(
        ValueError, match=r"checkpoint format 2, newer than .*\(format 1\); upgrade"
    ):
        load_pitchnet(path)
    path, _, _ = _checkpoint(tmp_path, "odd.ckpt", format_version="1")
    with pytest.raises(ValueError, match="unknown checkpoint format_version '1'"):
        load_pitchnet(path)


def test_a_config_or_weights_this_version_cannot_build_are_refused(tmp_path):
    path, net, state = _checkpoint(tmp_path)
    state["foldpitch"]["model_config"]["attention_heads"] = 4  # from a future version
    torch.save(state, path)
    with pytest.raises(ValueError, match="model_config does not build this version's PitchNet"):
        load_pitchnet(path)
    path, net, state = _checkpoint(tmp_path)
    state["foldpitch"]["model_config"]["channels"] = 32  # weights are for 16 channels
    torch.save(state, path)
    with pytest.raises(ValueError, match="weights do not fit the network"):
        load_pitchnet(path)


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    path = tmp_path / "pickle.ckpt"
    torch.save({"foldpitch": {}, "state_dict": {}, "payload": _Unsafe()}, path)
    with pytest.raises(ValueError, match="torch.load cannot read it safely"):
        load_pitchnet(path)


class _Unsafe:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def test_a_stored_voicing_threshold_is_loaded_and_a_bad_one_refused(tmp_path):
    path, _, _ = _checkpoint(tmp_path, voicing_threshold=0.65)
    assert load_pitchnet(path)[0].voicing_threshold == 0.65
    assert load_pitchnet(_checkpoint(tmp_path, "plain.ckpt")[0])[0].voicing_threshold == 0.5
    for value in (1.5, 0.0, "0.5", True):
        path, _, _ = _checkpoint(tmp_path, "bad.ckpt", voicing_threshold=value)
        with pytest.raises(ValueError, match="voicing_threshold must be a float in"):
            load_pitchnet(path)


def _relative_log_reference(audio, n_fft, n_bins):
    """float64 numpy: Hann-windowed frames centred on multiples of 160 samples (zero
    padded), each frame's lowest ``n_bins`` magnitudes over its largest, compressed."""
    x = np.pad(audio.astype(np.float64), n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    n_frames = (len(audio) - 1) // 160 + 1
    frames = np.stack([x[f * 160 : f * 160 + n_fft] * window for f in range(n_frames)])
    magnitude = np.abs(np.fft.rfft(frames, axis=1))[:, :n_bins].T
    relative = magnitude / magnitude.max(axis=0, keepdims=True)
    return (np.log(relative + 1e-3) + 3.5) / 2.0


def test_a_short_stft_adds_its_bins_below_the_long_ones():
    net = PitchNet(
        n_fft=1024, n_input_bins=64, n_fft_short=256, channels=8, n_blocks=1, n_period_bins=16
    )
    assert net.config()["n_short_bins"] == 16  # the long STFT's 0-1000 Hz by default
    audio = harmonic_tone(180.0, 16000, 3000).numpy() + 0.01 * np.random.default_rng(
        0
    ).standard_normal(3000)
    features = net.features(torch.from_numpy(audio.astype(np.float32))[None])[0].double()
    assert features.shape == (64 + 16, n_frames_for(3000, 160))
    np.testing.assert_allclose(features[:64], _relative_log_reference(audio, 1024, 64), atol=2e-4)
    np.testing.assert_allclose(features[64:], _relative_log_reference(audio, 256, 16), atol=2e-4)


def test_a_network_with_a_short_stft_stays_local_and_gain_invariant():
    torch.manual_seed(0)
    net = PitchNet(**SMALL, n_fft_short=256).eval()
    audio = harmonic_tone(220.0, 16000, 16000) + 0.01 * torch.randn(16000)
    whole = net(audio[None]).logits
    part = net(audio[None, 4000:12000]).logits
    torch.testing.assert_close(part[:, 15:35], whole[:, 40:60], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net(0.01 * audio).logits, net(audio).logits, atol=2e-3, rtol=1e-3)


def saved_random_net(path, **config) -> PitchNet:
    """A small network with random weights (seed 0), saved as an exported checkpoint with
    voicing threshold 0.6, and loaded back from it."""
    torch.manual_seed(0)
    net = PitchNet(channels=16, n_blocks=1, n_period_bins=64, **config).eval()
    info = {"model_config": net.config(), "voicing_threshold": 0.6, "global_step": 0}
    _save_pitchnet(net, info, path)
    return load_pitchnet(path)[0]


def test_add_short_stft_keeps_the_outputs_until_training_moves_them(tmp_path):
    # A network that reads the 64 ms STFT only (the shipped one already reads both),
    # with random weights: the widening must keep whatever the weights compute.
    long_only = tmp_path / "long_only.ckpt"
    source = saved_random_net(long_only)
    widened = add_short_stft(long_only, tmp_path / "wide.ckpt", n_fft_short=512)
    loaded, info = load_pitchnet(tmp_path / "wide.ckpt")
    assert (
        info["model_config"]["n_fft_short"] == 512
        and loaded.voicing_threshold == source.voicing_threshold
    )
    audio = harmonic_tone(210.0, 16000, 8000) + 0.05 * torch.randn(8000)
    with torch.no_grad():
        expected = source(audio)
        for net in (widened, loaded):
            for name in ("logits", "offsets", "periodicity_logits"):
                torch.testing.assert_close(getattr(net(audio), name), getattr(expected, name))
        loaded.stem[0].weight[:, 256:] += 0.1  # the new inputs do reach the output
        assert not torch.allclose(loaded(audio).logits, expected.logits)
    with pytest.raises(ValueError, match="already reads a short STFT"):
        add_short_stft(tmp_path / "wide.ckpt", tmp_path / "again.ckpt", n_fft_short=256)


def test_zero_pad_stft_keeps_the_outputs_on_the_coarse_grid_until_training_moves_them(tmp_path):
    # Random weights, a short STFT beside the main one (as the shipped network). A tone
    # whose every harmonic is on a bin of the 64 ms STFT (15.625 Hz apart) has each
    # frame's largest magnitude on the coarse grid, so the padded copy computes exactly
    # what the source does; between bins it is only close.
    path = tmp_path / "source.ckpt"
    source = saved_random_net(path, n_fft_short=512)
    padded = zero_pad_stft(path, tmp_path / "padded.ckpt")
    loaded, info = load_pitchnet(tmp_path / "padded.ckpt")
    config = info["model_config"]
    assert (config["n_fft"], config["win_length"], config["n_input_bins"]) == (2048, 1024, 512)
    assert config["n_short_bins"] == source.frontend_short.n_bins
    assert loaded.voicing_threshold == source.voicing_threshold
    on_grid = harmonic_tone(15.625 * 14, 16000, 8000)  # 218.75 Hz
    between = harmonic_tone(15.625 * 14.5, 16000, 8000)
    with torch.no_grad():
        for net in (padded, loaded):
            for name in ("logits", "offsets", "periodicity_logits"):
                torch.testing.assert_close(
                    getattr(net(on_grid), name), getattr(source(on_grid), name)
                )
        assert not torch.allclose(loaded(between).logits, source(between).logits)
        torch.testing.assert_close(loaded(between).logits, source(between).logits, atol=0.5, rtol=0)
        loaded.stem[0].weight[:, 1:512:2] += 0.1  # the new bins do reach the output
        assert not torch.allclose(loaded(on_grid).logits, source(on_grid).logits)
    with pytest.raises(ValueError, match="already has a zero-padded STFT"):
        zero_pad_stft(tmp_path / "padded.ckpt", tmp_path / "again.ckpt")
    with pytest.raises(ValueError, match="factor must be"):
        zero_pad_stft(path, tmp_path / "bad.ckpt", factor=1)


def test_add_frequency_offsets_keeps_the_outputs_until_training_moves_them(tmp_path):
    path = tmp_path / "source.ckpt"
    source = saved_random_net(path, n_fft_short=512)
    extended = add_frequency_offsets(path, tmp_path / "offsets.ckpt")
    loaded, info = load_pitchnet(tmp_path / "offsets.ckpt")
    assert info["model_config"] == dict(source.config(), frequency_offsets=True)
    assert loaded.voicing_threshold == 0.6
    tone = harmonic_tone(15.625 * 14.3, 16000, 8000)  # partials between the bins
    with torch.no_grad():
        expected = source(tone)
        for net in (extended, loaded):
            assert net.features(tone).shape[-2] == 256 + 128 + 256  # long, short, offsets
            for name in ("logits", "offsets", "periodicity_logits"):
                torch.testing.assert_close(getattr(net(tone), name), getattr(expected, name))
        loaded.stem[0].weight[:, 384:] += 0.1  # the offsets do reach the output
        assert not torch.allclose(loaded(tone).logits, expected.logits)
    with pytest.raises(ValueError, match="already reads frequency offsets"):
        add_frequency_offsets(tmp_path / "offsets.ckpt", tmp_path / "again.ckpt")


def test_offset_features_weigh_each_bins_offset_by_its_level():
    # A tone between bins 14 and 15 of the 64 ms STFT (14.3 bins): the peak bin's
    # feature is its offset (+0.3 bins) over 2 at full weight; bins 60 dB or more below
    # the peak weigh at most 0.1 (their offsets are noise).
    net = PitchNet(channels=8, n_blocks=1, n_period_bins=16, frequency_offsets=True)
    t = torch.arange(16000.0) / 16000
    tone = torch.sin(2 * math.pi * 15.625 * 14.3 * t)
    features = net.features(tone[None])[0, 256:, 50]
    assert features[14] == pytest.approx(0.15, abs=1e-3)
    level = net.frontend(tone[None])[0, :, 50]
    quiet = level < level.max() * 1e-3
    assert quiet.sum() > 100 and features[quiet].abs().max() <= 0.1004
    assert features.abs().max() <= 1
    with pytest.raises(TypeError, match="frequency_offsets must be True or False"):
        PitchNet(frequency_offsets=1)
    assert "frequency_offsets" not in PitchNet(channels=8, n_blocks=1).config()


def test_win_length_is_in_the_config_only_when_it_differs_from_n_fft():
    plain = PitchNet(channels=8, n_blocks=1, n_period_bins=16)
    assert "win_length" not in plain.config()  # configs written before it stay the same
    padded = PitchNet(
        channels=8, n_blocks=1, n_period_bins=16, n_fft=2048, win_length=1024, n_input_bins=512
    )
    assert padded.config()["win_length"] == 1024
    assert PitchNet(**padded.config()).config() == padded.config()
    with pytest.raises(ValueError, match="n_fft_short=2048 must not exceed the main window"):
        PitchNet(n_fft=2048, win_length=1024, n_fft_short=2048)
