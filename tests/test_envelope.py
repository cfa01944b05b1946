"""foldpitch.envelope: units, period curves, phase and cycle boundaries."""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

from foldpitch.envelope import (
    cents_between,
    cycle_boundaries,
    envelope_cycle_boundaries,
    hz_to_log2_period,
    hz_to_midi,
    log2_period_to_hz,
    log2_period_to_midi,
    midi_to_hz,
    one_cycle_later,
    period_curve,
    phase,
)

F64 = torch.float64


# --- units ------------------------------------------------------------------------------


def test_unit_conversions():
    f0 = torch.tensor([50.0, 100.0, 440.0, 1000.0], dtype=F64)
    log2_period = hz_to_log2_period(f0, 16000)
    torch.testing.assert_close(log2_period, torch.log2(16000 / f0))
    torch.testing.assert_close(log2_period_to_hz(log2_period, 16000), f0)
    torch.testing.assert_close(hz_to_midi(f0), 69 + 12 * torch.log2(f0 / 440))
    torch.testing.assert_close(midi_to_hz(hz_to_midi(f0)), f0)
    torch.testing.assert_close(log2_period_to_midi(log2_period, 16000), hz_to_midi(f0))
    assert float(log2_period_to_midi(hz_to_log2_period(torch.tensor(440.0), 48000), 48000)) == 69
    # one octave up halves the period: +1200 cents
    assert float(cents_between(torch.tensor(6.0), torch.tensor(7.0))) == 1200


@pytest.mark.parametrize("sample_rate", [0, -16000, float("nan")])
def test_bad_sample_rate(sample_rate):
    with pytest.raises(ValueError, match="sample_rate must be a positive integer number of Hz"):
        hz_to_log2_period(torch.tensor([100.0]), sample_rate)


# --- period curve -----------------------------------------------------------------------


def test_period_curve_interpolates_in_the_chosen_domain_and_holds_the_ends():
    envelope = torch.tensor([3.0, 5.0], dtype=F64)  # periods 8 and 32 samples
    log_curve = period_curve(envelope, 8, hop_length=4)
    linear_curve = period_curve(envelope, 8, hop_length=4, domain="linear")
    assert float(log_curve[2]) == pytest.approx(16.0)  # geometric mean halfway
    assert float(linear_curve[2]) == pytest.approx(20.0)  # arithmetic mean halfway
    # after the last control point (sample 4) the last value is held
    torch.testing.assert_close(log_curve[4:], torch.full((4,), 32.0, dtype=F64))


@pytest.mark.parametrize("interp", ["linear", "cubic"])
def test_period_curve_passes_through_the_control_points(interp):
    envelope = torch.tensor([6.0, 6.5, 6.2, 7.0, 6.8], dtype=F64)
    curve = period_curve(envelope, 41, hop_length=10, interp=interp)
    torch.testing.assert_close(curve[::10], torch.exp2(envelope))


def test_default_hop_spreads_control_points_over_the_signal():
    envelope = torch.tensor([4.0, 5.0, 6.0], dtype=F64)
    curve = period_curve(envelope, 101)
    torch.testing.assert_close(curve[[0, 50, 100]], torch.exp2(envelope))


def test_period_curve_errors():
    with pytest.raises(ValueError, match="interp must be one of"):
        period_curve(torch.zeros(3), 10, interp="quadratic")
    with pytest.raises(ValueError, match="domain must be one of"):
        period_curve(torch.zeros(3), 10, domain="mel")
    with pytest.raises(ValueError, match="hop_length must be a positive finite number"):
        period_curve(torch.zeros(3), 10, hop_length=0)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        period_curve(torch.zeros(3), 0)
    with pytest.raises(TypeError, match="period_envelope must be a floating-point tensor"):
        period_curve(torch.zeros(3, dtype=torch.int64), 10)


# --- phase and boundaries ----------------------------------------------------------------


@pytest.mark.parametrize("period", [7.0, 20.0, 36.75])
def test_constant_period_boundaries_are_its_multiples(period):
    n = 400
    expected = period * torch.arange(1, int((n - 1) / period) + 1, dtype=F64)
    times, valid = cycle_boundaries(phase(torch.full((n,), period, dtype=F64)))
    torch.testing.assert_close(times[valid], expected)
    envelope = torch.full((5,), math.log2(period), dtype=F64)
    times, valid = envelope_cycle_boundaries(envelope, n, 100)
    torch.testing.assert_close(times[valid], expected)


def test_linear_chirp_phase_is_the_closed_form():
    # Period linear in time, P(t) = p0 + c t: phase(t) = ln(1 + c t / p0) / c.
    n, p0, p1 = 2001, 20.0, 60.0
    envelope = torch.log2(torch.tensor([p0, p1], dtype=F64))
    curve = period_curve(envelope, n, hop_length=n - 1, domain="linear")
    t = torch.arange(n, dtype=F64)
    c = (p1 - p0) / (n - 1)
    expected = torch.log1p(c * t / p0) / c
    # trapezoidal integration: error below 1e-4 cycles over ~60 cycles
    assert (phase(curve) - expected).abs().max() < 1e-4


def test_exponential_glide_boundaries_are_exact():
    # log2 period linear in time, P(t) = p0 2**(g t): phase(t) = (1 - 2**(-g t)) / (g ln2 p0),
    # so the k-th boundary is t_k = -log2(1 - k g ln2 p0) / g.
    n, p0, octaves = 3001, 12.0, 1.5
    g = octaves / (n - 1)
    envelope = torch.tensor([math.log2(p0), math.log2(p0) + octaves], dtype=F64)
    times, valid = envelope_cycle_boundaries(envelope, n, n - 1)
    k = torch.arange(1, int(valid.sum()) + 1, dtype=F64)
    expected = -torch.log2(1 - k * g * math.log(2) * p0) / g
    torch.testing.assert_close(times[valid], expected, rtol=0, atol=1e-9)
    assert expected[-1] < n - 1 and -math.log2(1 - (k[-1] + 1) * g * math.log(2) * p0) / g > n - 1


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_and_sampled_phase_agree(seed):
    g = torch.Generator().manual_seed(seed)
    envelope = 5 + torch.rand(2, 12, generator=g, dtype=F64) * 2
    exact, exact_valid = envelope_cycle_boundaries(envelope, 1200, 100)
    sampled, sampled_valid = cycle_boundaries(phase(period_curve(envelope, 1200, 100)))
    assert torch.equal(exact_valid, sampled_valid[..., : exact.shape[-1]])
    # The sampled phase integrates with the trapezoidal rule; on these steep random
    # envelopes (up to 2 octaves per 100 samples) that drifts by up to ~5e-3 samples.
    assert (exact - sampled[..., : exact.shape[-1]])[exact_valid].abs().max() < 1e-2


def test_batch_items_with_different_cycle_counts_are_padded_invalid():
    envelope = torch.log2(torch.tensor([[10.0], [25.0]], dtype=F64))
    times, valid = envelope_cycle_boundaries(envelope, 101)
    assert valid.sum(-1).tolist() == [10, 4]
    assert times.shape == (2, 10)


def test_one_cycle_later():
    curve = torch.full((300,), 12.5, dtype=F64)
    t = torch.tensor([0.0, 10.3, 200.0], dtype=F64)
    later, valid = one_cycle_later(phase(curve), t)
    torch.testing.assert_close(later, t + 12.5)
    assert valid.all()
    _, valid = one_cycle_later(phase(curve), torch.tensor([295.0], dtype=F64))
    assert not valid.any()


def smooth_envelope():
    return torch.log2(torch.tensor([20.0, 23.0, 21.0, 25.0, 24.0], dtype=F64)).requires_grad_()


@pytest.mark.parametrize("interp", ["linear", "cubic"])
def test_boundaries_gradcheck(interp):
    def boundaries(envelope):
        times, valid = envelope_cycle_boundaries(envelope, 300, 60, interp=interp)
        return times[valid]

    assert gradcheck(boundaries, (smooth_envelope(),))


def test_sampled_boundaries_and_one_cycle_later_gradcheck():
    def boundaries(envelope):
        times, valid = cycle_boundaries(phase(period_curve(envelope, 300, 60, domain="linear")))
        return times[valid]

    def later(envelope):
        t = torch.tensor([10.3, 50.7, 120.2], dtype=F64)
        return one_cycle_later(phase(period_curve(envelope, 300, 60)), t)[0]

    assert gradcheck(boundaries, (smooth_envelope(),))
    assert gradcheck(later, (smooth_envelope(),))


def test_boundaries_gradcheck_on_a_batch_with_steep_and_flat_segments():
    # Rows with different cycle counts (padded, invalid boundaries carry no gradient);
    # flat, nearly flat (the series branch of the closed-form backward) and steep segments.
    envelope = torch.tensor(
        [[4.0, 4.0, 4.0 + 1e-4, 5.5, 3.2, 3.2], [5.0, 6.5, 6.5 - 3e-5, 4.0, 4.5, 6.0]], dtype=F64
    ).requires_grad_()

    def boundaries(envelope):
        times, valid = envelope_cycle_boundaries(envelope, 260, 50)
        return torch.where(valid, times, 0.0)

    assert envelope_cycle_boundaries(envelope, 260, 50)[1].sum(-1).tolist() != [0, 0]
    assert gradcheck(boundaries, (envelope,))


@pytest.mark.parametrize(
    "z", [-30.0, -3.0, -0.2, -0.011, -0.009, -1e-7, 0.0, 1e-7, 0.009, 0.011, 0.5, 4.0]
)
def test_first_moment_ratio_is_the_integral(z):
    from foldpitch.envelope import _first_moment_ratio

    w = torch.linspace(0, 1, 200001, dtype=F64)
    expected = torch.trapezoid(w * torch.exp(z * w), w)
    got = _first_moment_ratio(torch.tensor(z, dtype=F64))
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=0)  # trapezoid error < 2e-9


def test_boundary_gradient_matches_the_implicit_function_theorem():
    # Constant period P: b_k = k P, so db_k/dlog2P = k P ln 2 (sum over all control points).
    envelope = torch.full((4,), math.log2(17.0), dtype=F64, requires_grad=True)
    times, valid = envelope_cycle_boundaries(envelope, 200, 60)
    (grad,) = torch.autograd.grad(times[valid][4], envelope)
    assert float(grad.sum()) == pytest.approx(5 * 17.0 * math.log(2))


# --- robustness (issue 7) ------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [True, "16000", None])
def test_sample_rate_that_is_not_a_number_is_a_type_error(sample_rate):
    with pytest.raises(TypeError, match="sample_rate must be a positive integer number of Hz"):
        log2_period_to_hz(torch.tensor([7.0]), sample_rate)


@pytest.mark.parametrize("sample_rate", [float("inf"), -0.5])
def test_sample_rate_must_be_positive_and_finite(sample_rate):
    with pytest.raises(ValueError, match="sample_rate must be a positive integer number of Hz"):
        log2_period_to_midi(torch.tensor([7.0]), sample_rate)


def test_unit_conversions_take_the_one_sample_rate_rule():
    # A whole float or numpy integer is a rate; a fractional one is refused as everywhere
    # else in foldpitch (foldpitch._checks.sample_rate).
    for rate in (44100.0, np.int64(44100)):
        assert float(log2_period_to_hz(torch.tensor(0.0, dtype=F64), rate)) == 44100
    with pytest.raises(ValueError, match="sample_rate must be a positive integer number of Hz"):
        log2_period_to_hz(torch.tensor(0.0, dtype=F64), 44099.5)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_envelopes_are_refused_where_they_would_set_a_shape(bad):
    # The number of cycles sets the shape of the result: NaN or an infinite period (or a
    # period of 0, log2 = -inf) must be a clear error, not "cannot convert float NaN".
    envelope = torch.tensor([3.0, bad, 3.0], dtype=F64)
    with pytest.raises(ValueError, match="period_envelope must be finite"):
        envelope_cycle_boundaries(envelope, 100)
    with pytest.raises(ValueError, match="period_envelope must be finite"):
        envelope_cycle_boundaries(envelope, 100, interp="cubic")  # the sampled path
    with pytest.raises(ValueError, match="phase_curve must be finite"):
        cycle_boundaries(phase(torch.exp2(period_curve(envelope, 100))))
