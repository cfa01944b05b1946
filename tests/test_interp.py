"""foldpitch.interp: reading signals at fractional positions."""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from foldpitch.interp import KERNELS, sample, sample_windows

SMOOTH_KERNELS = ("cubic", "sinc")


def random_case(seed, n=24, m=12, batch=(2,), dtype=torch.float64, spread=4.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, n, generator=g, dtype=dtype)
    t = torch.rand(*batch, m, generator=g, dtype=torch.float64) * (n - 1 + 2 * spread) - spread
    return x, t


# --- values ---------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
def test_integer_positions_return_the_samples(kernel):
    x, _ = random_case(0)
    t = torch.arange(24, dtype=torch.float64).expand(2, 24)
    torch.testing.assert_close(sample(x, t, kernel, half_width=4), x, rtol=0, atol=1e-12)


def test_linear_matches_numpy_interp():
    x, t = random_case(1, batch=(), spread=0.0)
    expected = np.interp(t.numpy(), np.arange(24), x.numpy())
    np.testing.assert_allclose(sample(x, t).numpy(), expected, rtol=0, atol=1e-12)


def test_cubic_is_exact_for_quadratics_inside():
    n = torch.arange(20, dtype=torch.float64)
    x = 0.5 * n**2 - 3 * n + 1
    t = torch.linspace(2, 16, 57, dtype=torch.float64)
    torch.testing.assert_close(sample(x, t, "cubic"), 0.5 * t**2 - 3 * t + 1)


# Bounds measured on this sinusoid (max error: linear 0.0122, cubic 5.1e-4, sinc
# half-width 8: 3.4e-4, half-width 16: 1.7e-5) with about 2x margin.
@pytest.mark.parametrize(
    "kernel, half_width, bound",
    [("linear", 8, 0.025), ("cubic", 8, 1e-3), ("sinc", 8, 7e-4), ("sinc", 16, 3.5e-5)],
)
def test_band_limited_sinusoid_reconstruction(kernel, half_width, bound):
    frequency = 0.05  # cycles per sample, a tenth of Nyquist
    n = torch.arange(2000, dtype=torch.float64)
    x = torch.sin(2 * math.pi * frequency * n + 0.3)
    g = torch.Generator().manual_seed(2)
    t = 100 + torch.rand(3000, generator=g, dtype=torch.float64) * 1800
    error = sample(x, t, kernel, half_width=half_width) - torch.sin(
        2 * math.pi * frequency * t + 0.3
    )
    assert error.abs().max() < bound, float(error.abs().max())
    assert error.abs().max() > bound / 10  # the bound is a measurement, not a blanket


@pytest.mark.parametrize("kernel", KERNELS)
def test_padding_modes(kernel):
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    far = torch.tensor([-30.0, 40.0], dtype=torch.float64)
    assert torch.equal(sample(x, far, kernel, half_width=4), torch.zeros(2, dtype=torch.float64))
    clamped = sample(x, far, kernel, half_width=4, padding="clamp")
    torch.testing.assert_close(clamped, torch.tensor([1.0, 4.0], dtype=torch.float64))
    inside = torch.tensor([0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(sample(x, inside, kernel, padding="clamp"), x[[0, 3]])


@pytest.mark.parametrize("kernel", KERNELS)
def test_shapes_broadcast_and_agree(kernel):
    x, t = random_case(3, batch=())
    one = sample(x, t, kernel)
    assert one.shape == (12,)
    torch.testing.assert_close(sample(x[None], t[None], kernel), one[None])
    xs = x.expand(2, 3, 24)
    torch.testing.assert_close(sample(xs, t.expand(2, 3, 12), kernel), one.expand(2, 3, 12))
    # x shared across a batch of positions, and positions shared across a batch of x
    assert sample(x, t.expand(5, 12), kernel).shape == (5, 12)
    assert sample(x.expand(4, 24), t, kernel).shape == (4, 12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_agrees_with_float64(kernel):
    x, t = random_case(4)
    expected = sample(x, t, kernel)
    got = sample(x.float(), t.float(), kernel)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


def test_float64_positions_keep_precision_far_into_a_float32_signal():
    n = 200_000
    x = torch.sin(2 * math.pi * 0.01 * torch.arange(n, dtype=torch.float64))
    t = torch.tensor([160_000 + 1 / 128], dtype=torch.float64)
    got = sample(x.float(), t, "sinc")
    assert abs(float(got) - math.sin(2 * math.pi * 0.01 * float(t))) < 1e-4


def test_inputs_are_not_modified():
    x, t = random_case(5)
    x0, t0 = x.clone(), t.clone()
    sample(x, t, "sinc")
    assert torch.equal(x, x0) and torch.equal(t, t0)


# --- gradients ------------------------------------------------------------------------


def grad_inputs(seed, which, integer_positions=False):
    x, t = random_case(seed, n=16, m=10)
    if integer_positions:  # exactly on samples, at both ends, and just outside
        t = torch.tensor(
            [0.0, 1.0, 7.0, 15.0, -1.0, 16.0, 3.0, 9.0, 12.0, 2.0], dtype=torch.float64
        )
        t = t.expand(2, 10).clone()
    return x.requires_grad_("x" in which), t.requires_grad_("t" in which)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("which", ["x", "t", "xt"])
def test_gradcheck(kernel, which):
    x, t = grad_inputs(6, which)
    f = lambda x, t: sample(x, t, kernel, half_width=3)  # noqa: E731
    assert gradcheck(f, (x, t), check_forward_ad=True)
    assert gradgradcheck(f, (x, t))


@pytest.mark.parametrize("kernel", KERNELS)
def test_gradcheck_clamp_padding(kernel):
    x, t = grad_inputs(7, "xt")
    f = lambda x, t: sample(x, t, kernel, half_width=3, padding="clamp")  # noqa: E731
    assert gradcheck(f, (x, t), check_forward_ad=True)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("padding", ["zeros", "clamp"])
def test_positions_shared_across_rows(kernel, padding):
    # One position vector for every row of x takes a path of its own: same values and
    # gradients as the same positions given per row.
    x, t = grad_inputs(13, "xt")
    shared = t[0].detach().requires_grad_()
    options = dict(half_width=3, padding=padding)
    per_row = sample(x, shared.expand(2, -1), kernel, **options)
    torch.testing.assert_close(sample(x, shared, kernel, **options), per_row)
    f = lambda x, t: sample(x, t, kernel, **options)  # noqa: E731
    assert gradcheck(f, (x, shared))
    assert gradgradcheck(f, (x, shared))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("padding", ["zeros", "clamp"])
def test_origin_plus_offset_equals_the_summed_positions(kernel, padding):
    x, t = grad_inputs(14, "xt")
    origin = torch.tensor([0, 3, -2, 15, 7, 1, 20, -9, 4, 12])
    offset = (t - 6).detach().requires_grad_()  # offsets of either sign, reads in and out
    options = dict(half_width=3, padding=padding)
    expected = sample(x, origin + offset, kernel, **options)
    torch.testing.assert_close(sample(x, offset, kernel, origin=origin, **options), expected)
    f = lambda x, t: sample(x, t, kernel, origin=origin, **options)  # noqa: E731
    assert gradcheck(f, (x, offset), check_forward_ad=True)


def test_origin_keeps_float32_offsets_precise_far_into_the_signal():
    n = 400_000
    x = torch.sin(2 * math.pi * 0.01 * torch.arange(n, dtype=torch.float64)).float()
    origin = torch.tensor([350_000])
    got = sample(x, torch.tensor([1 / 128]), "sinc", origin=origin)
    assert abs(float(got) - math.sin(2 * math.pi * 0.01 * (350_000 + 1 / 128))) < 1e-4


@pytest.mark.parametrize("kernel", SMOOTH_KERNELS)
def test_gradcheck_on_integer_positions(kernel):
    # Cubic and sinc have a continuous slope, so positions exactly on samples are fine.
    x, t = grad_inputs(8, "xt", integer_positions=True)
    f = lambda x, t: sample(x, t, kernel, half_width=3)  # noqa: E731
    assert gradcheck(f, (x, t), check_forward_ad=True)
    if kernel == "sinc":  # C2: second derivatives exist on samples too
        assert gradgradcheck(f, (x, t))


def test_linear_position_gradient_on_a_sample_is_the_right_hand_slope():
    x = torch.tensor([0.0, 1.0, 3.0, 6.0], dtype=torch.float64)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(sample(x, t).sum(), t)
    torch.testing.assert_close(grad, torch.tensor([2.0, 3.0], dtype=torch.float64))
    x = x.requires_grad_()  # values are still differentiable there
    assert gradcheck(lambda x: sample(x, t.detach()), (x,))


@pytest.mark.parametrize("kernel", KERNELS)
def test_position_gradient_is_the_slope_of_a_smooth_signal(kernel):
    n = torch.arange(400, dtype=torch.float64)
    x = torch.sin(2 * math.pi * 0.02 * n)
    t = torch.linspace(50, 350, 101, dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(sample(x, t, kernel).sum(), t)
    slope = 2 * math.pi * 0.02 * torch.cos(2 * math.pi * 0.02 * t.detach())
    tolerance = {"linear": 0.01, "cubic": 2e-3, "sinc": 2e-3}[kernel]
    assert (grad - slope).abs().max() < tolerance


# --- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
def test_sample_windows_equals_sample(kernel):
    x, _ = random_case(9, n=30)
    start = torch.tensor([[-6.5, 0.25, 3.0, 28.7], [10.1, 29.0, -20.0, 5.5]], dtype=torch.float64)
    windows = sample_windows(x, start, 5, kernel, half_width=3)
    positions = (start[..., None] + torch.arange(5)).flatten(-2)
    expected = sample(x, positions, kernel, half_width=3).reshape(2, 4, 5)
    torch.testing.assert_close(windows, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_sample_windows_gradcheck(kernel):
    x, _ = random_case(10, n=20)
    start = torch.tensor([[-2.3, 4.6, 11.2]], dtype=torch.float64).expand(2, 3).clone()
    f = lambda x, s: sample_windows(x, s, 4, kernel, half_width=3)  # noqa: E731
    assert gradcheck(f, (x.requires_grad_(), start.requires_grad_()))


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(kernel="nearest"), ValueError, "kernel must be one of"),
        (dict(padding="reflect"), ValueError, "padding must be one of"),
        (dict(half_width=0), ValueError, "half_width must be a positive integer"),
    ],
)
def test_bad_options(kwargs, error, message):
    x, t = random_case(11)
    with pytest.raises(error, match=message):
        sample(x, t, **kwargs)


def test_bad_inputs():
    x, t = random_case(12)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        sample(torch.arange(5), t)
    with pytest.raises(TypeError, match="t must be a floating-point"):
        sample(x, torch.arange(3))
    with pytest.raises(ValueError, match="N >= 1"):
        sample(torch.zeros(2, 0), t)
    with pytest.raises(ValueError, match="do not broadcast"):
        sample(torch.zeros(3, 10), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="length must be a positive integer"):
        sample_windows(x, t, 0)
    with pytest.raises(TypeError, match="origin must be an integer tensor"):
        sample(x, t, origin=torch.zeros(12))
    with pytest.raises(ValueError, match="origin .* must broadcast to the shape of t"):
        sample(x, t, origin=torch.zeros(3, 2, 12, dtype=torch.long))


# --- non-finite values and dtypes (issue 7) ---------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_nan_sample_spreads_only_to_the_reads_that_touch_it(kernel):
    x = torch.randn(40, dtype=torch.float64, generator=torch.Generator().manual_seed(30))
    x[20] = math.nan
    t = torch.arange(0.0, 39.0, 0.25, dtype=torch.float64)
    out = sample(x, t, kernel, half_width=3)
    radius = {"linear": 1, "cubic": 2, "sinc": 3}[kernel]
    # Taps of a read at t are floor(t) + 1 - radius ... floor(t) + radius.
    first_tap = t.floor() + 1 - radius
    touches = (first_tap <= 20) & (20 <= first_tap + 2 * radius - 1)
    assert torch.equal(torch.isnan(out), touches)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("padding", ["zeros", "clamp"])
def test_non_finite_positions_read_nan(kernel, padding):
    x = torch.arange(10.0, dtype=torch.float64)
    t = torch.tensor([math.inf, 3.0, math.nan, -math.inf, 30.0, -7.5], dtype=torch.float64)
    out = sample(x, t, kernel, half_width=3, padding=padding)
    assert torch.isnan(out[[0, 2, 3]]).all()
    edge = (9.0, 0.0) if padding == "clamp" else (0.0, 0.0)  # finite, far outside
    assert out[1] == 3.0 and (out[4], out[5]) == edge
    windows = sample_windows(x, t[[0, 1, 2, 3]], 2, kernel, half_width=3)
    assert torch.isnan(windows[[0, 2, 3]]).all() and windows[1].tolist() == [3.0, 4.0]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_reads_in_their_own_dtype(dtype):
    x, t = random_case(31)
    out = sample(x.to(dtype), t, "cubic")
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), sample(x, t, "cubic"), rtol=0, atol=0.05)
