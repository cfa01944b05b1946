"""The fused C kernel of the cycle-form loss (foldpitch._native, backend="native").

The PyTorch path (backend="torch") is the reference: the kernel must give the same
loss and gradient, in float64 to rounding, for every kernel, normalisation, reduction
and broadcast it accepts.
"""

import math
import warnings

import pytest
import torch
from torch.autograd import gradcheck

from foldpitch import _native
from foldpitch.interp import KERNELS
from foldpitch.loss import fold_alignment_loss
from foldpitch.synth import harmonic_tone

F64 = torch.float64
SR = 16000
HOP = 160


def _has_c_compiler() -> bool:
    try:
        _native._compiler()
    except _native.NativeUnavailable:
        return False
    return True


# Skipped only where there is no compiler at all: a kernel that fails to compile fails.
requires_c_compiler = pytest.mark.skipif(not _has_c_compiler(), reason="no C compiler")


@pytest.fixture
def fresh_loader():
    """Forget the loaded kernel before and after (the loader caches it per process and
    setting of the environment)."""
    _native._load_with.cache_clear()
    yield
    _native._load_with.cache_clear()


def tones(f0s, n=4000, noise=0.05, seed=0):
    generator = torch.Generator().manual_seed(seed)
    audio = torch.stack([harmonic_tone(f0, SR, n).double() for f0 in f0s])
    return audio + noise * torch.randn(audio.shape, generator=generator, dtype=F64)


def wandering_envelope(f0s, n_frames, spread=0.1, seed=1):
    """log2 periods near each f0, moving from frame to frame (every segment's rate differs)."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.log2(SR / torch.tensor(f0s, dtype=F64))[:, None]
    return base + spread * torch.randn(len(f0s), n_frames, generator=generator, dtype=F64)


def assert_same_gradient(got, expected):
    """Equal to rounding: relative to the largest component (sums of many terms)."""
    assert expected.abs().max() > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10 * float(expected.abs().max()))


def loss_and_grad(envelope, audio, **options):
    envelope = envelope.detach().clone().requires_grad_()
    loss = fold_alignment_loss(envelope, audio, HOP, **options)
    loss.backward()
    return loss.detach(), envelope.grad


@requires_c_compiler
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("normalization", ["none", "energy"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_native_equals_the_torch_path(kernel, normalization, reduction):
    f0s = [150.0, 233.0, 310.0]
    audio = tones(f0s)
    envelope = wandering_envelope(f0s, audio.shape[-1] // HOP + 1)
    options = dict(kernel=kernel, half_width=8, normalization=normalization, reduction=reduction)
    native = loss_and_grad(envelope, audio, backend="native", **options)
    reference = loss_and_grad(envelope, audio, backend="torch", **options)
    torch.testing.assert_close(native[0], reference[0], rtol=1e-12, atol=0)
    assert_same_gradient(native[1], reference[1])


@requires_c_compiler
@pytest.mark.parametrize(
    ("envelope_batch", "audio_batch"),
    [((), ()), ((2,), ()), ((), (2,)), ((3,), (3,)), ((2, 1), (1, 3))],
)
def test_native_broadcasts_like_the_torch_path(envelope_batch, audio_batch):
    n, n_frames = 3000, 3000 // HOP + 1
    audio = tones([180.0, 260.0, 410.0])[:, :n]
    audio = audio[: math.prod(audio_batch)].reshape(audio_batch + (n,))
    envelope = wandering_envelope([200.0] * 6, n_frames, spread=0.05)
    envelope = envelope[: math.prod(envelope_batch)].reshape(envelope_batch + (n_frames,))
    native = loss_and_grad(envelope, audio, backend="native", reduction="sum")
    reference = loss_and_grad(envelope, audio, backend="torch", reduction="sum")
    torch.testing.assert_close(native[0], reference[0], rtol=1e-12, atol=0)
    assert_same_gradient(native[1], reference[1])
    assert native[1].shape == envelope.shape


@requires_c_compiler
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("normalization", ["none", "energy"])
def test_native_gradcheck(kernel, normalization):
    audio = tones([190.0, 330.0], n=900)
    envelope = wandering_envelope([190.0, 330.0], 900 // 80 + 1, spread=0.08).requires_grad_()

    def loss(envelope):
        return fold_alignment_loss(
            envelope,
            audio,
            80,
            kernel=kernel,
            half_width=3,
            normalization=normalization,
            reduction="sum",
            backend="native",
        )

    assert gradcheck(loss, (envelope,))


@requires_c_compiler
def test_native_float32_agrees_with_float64():
    # The kernel computes in float64 whatever the inputs: float32 ones only round the
    # result (compared at the same, float32-rounded, inputs).
    audio = tones([220.0, 140.0]).float()
    envelope = wandering_envelope([220.0, 140.0], audio.shape[-1] // HOP + 1).float()
    single = loss_and_grad(envelope, audio, backend="native")
    exact = loss_and_grad(envelope.double(), audio.double(), backend="native")
    assert single[0].dtype == torch.float32 and single[1].dtype == torch.float32
    torch.testing.assert_close(single[0].double(), exact[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(single[1].double(), exact[1], rtol=1e-6, atol=1e-9)
    # the PyTorch path sums in float32
    torch_single = loss_and_grad(envelope, audio, backend="torch")
    torch.testing.assert_close(single[0], torch_single[0], rtol=1e-5, atol=0)


@requires_c_compiler
def test_native_without_grad_gives_the_same_loss():
    audio = tones([260.0])
    envelope = wandering_envelope([260.0], audio.shape[-1] // HOP + 1).requires_grad_()
    with_grad = fold_alignment_loss(envelope, audio, HOP, backend="native")
    with torch.no_grad():
        without = fold_alignment_loss(envelope, audio, HOP, backend="native")
    assert float(with_grad.detach()) == float(without)


def test_native_refuses_what_it_cannot_compute():
    audio = tones([200.0])[0]
    envelope = torch.full((audio.shape[-1] // HOP + 1,), math.log2(80.0), dtype=F64)
    cases = {
        "weights": dict(weights=torch.ones_like(envelope)),
        "reduction='none'": dict(reduction="none"),
        "envelope_interp='cubic'": dict(envelope_interp="cubic"),
        "reads_per_cycle": dict(reads_per_cycle=8),
        "half_width=300": dict(kernel="sinc", half_width=300),
    }
    for reason, options in cases.items():
        with pytest.raises(ValueError, match=f"backend='native' does not support {reason}"):
            fold_alignment_loss(envelope, audio, HOP, backend="native", **options)
        # "auto" takes the PyTorch path for them instead
        auto = fold_alignment_loss(envelope, audio, HOP, backend="auto", **options)
        assert torch.equal(
            auto, fold_alignment_loss(envelope, audio, HOP, backend="torch", **options)
        )
    with pytest.raises(ValueError, match="gradients with respect to the audio"):
        fold_alignment_loss(envelope, audio.clone().requires_grad_(), HOP, backend="native")
    with pytest.raises(ValueError, match="backend must be one of"):
        fold_alignment_loss(envelope, audio, HOP, backend="c")


@requires_c_compiler
def test_native_refuses_audio_without_two_cycles_like_the_torch_path():
    audio = tones([100.0], n=300)[0]  # period 160 samples: one cycle and a bit
    envelope = torch.full((3,), math.log2(160.0), dtype=F64)
    for backend in ("native", "torch"):
        with pytest.raises(ValueError, match="fewer than two whole cycles"):
            fold_alignment_loss(envelope, audio, HOP, backend=backend)


def test_without_a_compiler_auto_warns_once_and_uses_torch(fresh_loader, monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("FOLDPITCH_CACHE", str(tmp_path / "cache"))
    audio = tones([200.0])[0]
    envelope = torch.full((audio.shape[-1] // HOP + 1,), math.log2(80.0), dtype=F64)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        first = fold_alignment_loss(envelope, audio, HOP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process, not per call
        second = fold_alignment_loss(envelope, audio, HOP)
    assert torch.equal(first, second)
    assert torch.equal(first, fold_alignment_loss(envelope, audio, HOP, backend="torch"))
    with pytest.raises(RuntimeError, match="no C compiler"):
        fold_alignment_loss(envelope, audio, HOP, backend="native")


def test_foldpitch_native_0_disables_the_kernel_silently(fresh_loader, monkeypatch):
    monkeypatch.setenv("FOLDPITCH_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not _native.available()
    with pytest.raises(RuntimeError, match="FOLDPITCH_NATIVE=0"):
        _native.library()


@requires_c_compiler
def test_the_environment_switch_takes_effect_in_either_order(monkeypatch, tmp_path):
    """No cache_clear: whichever setting was loaded first, a change of FOLDPITCH_NATIVE
    applies at the next call, and the kernel's loss equals the torch path's."""
    monkeypatch.setenv("FOLDPITCH_CACHE", str(tmp_path))
    audio = tones([200.0])[0]
    envelope = torch.full((audio.shape[-1] // HOP + 1,), math.log2(80.0), dtype=F64)
    reference = fold_alignment_loss(envelope, audio, HOP, backend="torch")
    for setting in ("1", "0", "1", "0"):
        monkeypatch.setenv("FOLDPITCH_NATIVE", setting)
        assert _native.available() == (setting == "1")
        if setting == "0":
            with pytest.raises(RuntimeError, match="FOLDPITCH_NATIVE=0"):
                fold_alignment_loss(envelope, audio, HOP, backend="native")
        loss = fold_alignment_loss(envelope, audio, HOP)
        torch.testing.assert_close(loss, reference, rtol=1e-12, atol=0)


@requires_c_compiler
def test_the_kernel_is_built_once_per_source(fresh_loader, monkeypatch, tmp_path):
    monkeypatch.setenv("FOLDPITCH_CACHE", str(tmp_path))
    assert _native.available()
    (built,) = tmp_path.glob("foldpitch-*.so")
    stamp = built.stat().st_mtime_ns
    _native._load_with.cache_clear()
    assert _native.available()
    assert list(tmp_path.glob("foldpitch-*.so")) == [built]
    assert built.stat().st_mtime_ns == stamp
