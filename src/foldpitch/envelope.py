"""The period envelope as a function of time.

An envelope is a tensor of control values ``(..., n_frames)``: the log2 of the period
in samples at equally spaced control points, control point ``f`` sitting at sample
``f * hop_length`` (the original parameterisation). This module turns it into

* other units (Hz, MIDI, cents), given the sample rate (a positive whole number of Hz,
  the one rule of every ``sample_rate`` in foldpitch);
* a per-sample period curve (linear or cubic interpolation, in the log or the linear
  domain; the curve holds the end values instead of reading past the last control point);
* the phase in cycles, by integrating ``1 / period`` (in float64);
* cycle boundaries (where the phase crosses an integer) and, for any time, the time one
  cycle later.

All of it is differentiable with respect to the control values. Phase crossings are
solved exactly on the piecewise-linear phase (trapezoidal integration between samples):
``b = n + (k - phi[n]) / (phi[n + 1] - phi[n])``, whose derivative is the implicit
function theorem's ``db/dtheta = -(dphi(b)/dtheta) / phi'(b)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import _checks
from .interp import sample

__all__ = [
    "ENVELOPE_INTERPOLATIONS",
    "cents_between",
    "cycle_boundaries",
    "envelope_cycle_boundaries",
    "hz_to_log2_period",
    "hz_to_midi",
    "log2_period_to_hz",
    "log2_period_to_midi",
    "midi_to_hz",
    "one_cycle_later",
    "period_curve",
    "phase",
    "phase_at",
    "phase_crossings",
]

ENVELOPE_INTERPOLATIONS = ("linear", "cubic")
DOMAINS = ("log", "linear")


# --- units -------------------------------------------------------------------------


def log2_period_to_hz(log2_period: Tensor, sample_rate: int) -> Tensor:
    """Frequency in Hz of a period given as log2(samples): ``sample_rate / 2**l``."""
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    return sample_rate * torch.exp2(-log2_period)


def hz_to_log2_period(f0_hz: Tensor, sample_rate: int) -> Tensor:
    """log2 of the period in samples of a frequency in Hz (inverse of the above).

    Example:
        >>> hz_to_log2_period(torch.tensor([100.0]), 16000)
        tensor([7.3219])
    """
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    return math.log2(sample_rate) - torch.log2(f0_hz)


def hz_to_midi(f0_hz: Tensor) -> Tensor:
    """MIDI note number (A4 = 440 Hz = 69; 1 semitone = 1 unit = 100 cents)."""
    return 69 + 12 * torch.log2(f0_hz / 440)


def midi_to_hz(midi: Tensor) -> Tensor:
    """Frequency in Hz of a (fractional) MIDI note number."""
    return 440 * torch.exp2((midi - 69) / 12)


def log2_period_to_midi(log2_period: Tensor, sample_rate: int) -> Tensor:
    """MIDI note number of a period given as log2(samples)."""
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    return 69 + 12 * (math.log2(sample_rate / 440) - log2_period)


def cents_between(log2_period: Tensor, reference_log2_period: Tensor) -> Tensor:
    """Pitch of ``log2_period`` minus pitch of the reference, in cents.

    A shorter period is a higher pitch, hence ``1200 * (reference - estimate)``.
    """
    return 1200 * (reference_log2_period - log2_period)


# --- envelope -> per-sample period -------------------------------------------------


def period_curve(
    log2_period: Tensor,
    n_samples: int,
    hop_length: float | None = None,
    *,
    interp: str = "linear",
    domain: str = "log",
) -> Tensor:
    """The period in samples at every sample, from the envelope's control values.

    Args:
        log2_period: control values, log2 of the period in samples, ``(..., n_frames)``.
        n_samples: length of the curve (the audio), in samples.
        hop_length: samples between control points (control point ``f`` at sample
            ``f * hop_length``). ``None`` spreads the control points from the first to
            the last sample.
        interp: ``"linear"`` or ``"cubic"`` (Keys) between control points.
        domain: interpolate the log2 period (``"log"``, linear in cents) or the period
            itself (``"linear"``).

    Returns:
        Period in samples, ``(..., n_samples)``, dtype of ``log2_period``. Before the
        first and after the last control point the end values are held.

    Example:
        >>> period_curve(torch.tensor([3.0, 4.0]), 5, hop_length=4)
        tensor([ 8.0000,  9.5137, 11.3137, 13.4543, 16.0000])
    """
    _check_envelope(log2_period)
    _checks.one_of("interp", interp, ENVELOPE_INTERPOLATIONS)
    _checks.one_of("domain", domain, DOMAINS)
    _checks.positive_int("n_samples", n_samples)
    hop = resolve_hop_length(hop_length, log2_period.shape[-1], n_samples)
    # Control-point coordinates of each sample, in float64 so long signals keep
    # sub-sample precision.
    positions = torch.arange(n_samples, dtype=torch.float64, device=log2_period.device) / hop
    values = log2_period if domain == "log" else torch.exp2(log2_period)
    curve = sample(values, positions, interp, padding="clamp")
    return torch.exp2(curve) if domain == "log" else curve


def resolve_hop_length(hop_length: float | None, n_frames: int, n_samples: int) -> float:
    """The hop in samples: the one given (checked), or the spread-over-the-signal default."""
    if hop_length is None:
        return (n_samples - 1) / (n_frames - 1) if n_frames > 1 and n_samples > 1 else 1.0
    return _checks.positive_real("hop_length", hop_length, unit="samples")


def _check_envelope(log2_period) -> None:
    if not isinstance(log2_period, Tensor) or not log2_period.is_floating_point():
        raise TypeError(
            "period_envelope must be a floating-point tensor of log2 periods in samples, "
            f"got {type(log2_period).__name__}"
            + (f" of dtype {log2_period.dtype}" if isinstance(log2_period, Tensor) else "")
        )
    if log2_period.ndim == 0 or log2_period.shape[-1] == 0:
        raise ValueError(
            "period_envelope must have shape (..., n_frames) with n_frames >= 1, "
            f"got {tuple(log2_period.shape)}"
        )


def _check_finite(name: str, values: Tensor, meaning: str) -> None:
    """Where a count of cycles sets a shape, NaN or infinity must be an error, not a
    ``cannot convert float NaN to integer`` from deep inside."""
    values = values.detach()
    # One reduction instead of an elementwise isfinite (a NaN or infinity makes the sum
    # non-finite); only then count, which also clears a sum that merely overflowed.
    if math.isfinite(float(values.sum(dtype=torch.float64))):
        return
    n_nan, n_inf = int(torch.isnan(values).sum()), int(torch.isinf(values).sum())
    if n_nan or n_inf:
        raise ValueError(
            f"{name} must be finite ({meaning}); got {n_nan} NaN and {n_inf} infinite "
            f"value(s) in a tensor of shape {tuple(values.shape)}"
        )


# --- phase and its crossings -------------------------------------------------------


def phase(period: Tensor) -> Tensor:
    """Phase in cycles at every sample: the trapezoidal integral of ``1 / period``.

    Args:
        period: period in samples at every sample, ``(..., N)``, all positive.

    Returns:
        float64 phase ``(..., N)`` with ``phase[..., 0] == 0``. Between samples the
        phase is taken to be linear (this is what :func:`phase_crossings` inverts).

    Example:
        >>> phase(torch.full((5,), 2.0))
        tensor([0.0000, 0.5000, 1.0000, 1.5000, 2.0000], dtype=torch.float64)
    """
    frequency = 1 / period.to(torch.float64)  # cycles per sample
    steps = 0.5 * (frequency[..., 1:] + frequency[..., :-1])
    return torch.nn.functional.pad(torch.cumsum(steps, dim=-1), (1, 0))


def phase_at(phase_curve: Tensor, t: Tensor) -> Tensor:
    """The (piecewise-linear) phase at fractional times ``t`` (samples), float64."""
    return sample(phase_curve, t.to(torch.float64), "linear", padding="clamp")


def phase_crossings(phase_curve: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Times where a non-decreasing phase reaches the target values.

    A vectorised search (``searchsorted``) finds the sample interval of each target and
    the crossing inside it is solved exactly on the piecewise-linear phase.

    Args:
        phase_curve: phase in cycles at every sample, non-decreasing, ``(..., N)``.
        targets: phase values to reach, ``(..., K)`` (leading dims broadcast).

    Returns:
        ``(times, valid)``: float64 times in samples ``(..., K)``, and a bool mask that is
        False where the target lies outside the phase's range (those times are clamped
        to the ends and carry no meaning).
    """
    phase_curve = phase_curve.to(torch.float64)
    targets = targets.to(torch.float64)
    batch = torch.broadcast_shapes(phase_curve.shape[:-1], targets.shape[:-1])
    phase_curve = phase_curve.expand(batch + phase_curve.shape[-1:])
    targets = targets.expand(batch + targets.shape[-1:])
    n = phase_curve.shape[-1]
    if n < 2:
        raise ValueError(f"phase_curve needs at least 2 samples, got {n}")
    upper = torch.searchsorted(phase_curve.detach().contiguous(), targets.detach().contiguous())
    lower = (upper - 1).clamp(0, n - 2)
    phase_lower = phase_curve.gather(-1, lower)
    phase_step = phase_curve.gather(-1, lower + 1) - phase_lower
    # A flat phase (infinite period) has no crossing inside; avoid 0/0 there.
    safe_step = torch.where(phase_step > 0, phase_step, torch.ones_like(phase_step))
    fraction = ((targets - phase_lower) / safe_step).clamp(0, 1)
    valid = (targets >= phase_curve[..., :1]) & (targets <= phase_curve[..., -1:])
    return lower + fraction, valid


def cycle_boundaries(phase_curve: Tensor) -> tuple[Tensor, Tensor]:
    """Times where the phase crosses 1, 2, 3, ... (cycle boundaries, pitch marks).

    Args:
        phase_curve: phase in cycles, ``(..., N)``, starting at 0 (see :func:`phase`).

    Returns:
        ``(times, valid)`` of shape ``(..., K)`` where ``K`` is the largest number of
        whole cycles in any batch item; ``valid`` marks the boundaries that exist
        (items with fewer cycles are padded with invalid entries).

    Example:
        >>> times, valid = cycle_boundaries(phase(torch.full((10,), 3.0)))
        >>> times, valid
        (tensor([3.0000, 6.0000, 9.0000], dtype=torch.float64), tensor([True, True, True]))
    """
    _check_finite("phase_curve", phase_curve, "cycles; a NaN or zero period makes it infinite")
    n_cycles = int(phase_curve.detach()[..., -1].max().floor())  # sets a shape: host value
    targets = torch.arange(1, n_cycles + 1, dtype=torch.float64, device=phase_curve.device).expand(
        phase_curve.shape[:-1] + (n_cycles,)
    )
    return phase_crossings(phase_curve, targets)


def one_cycle_later(phase_curve: Tensor, t: Tensor, cycles: float = 1.0) -> tuple[Tensor, Tensor]:
    """For times ``t`` (samples), the time at which the phase has advanced by ``cycles``.

    Returns ``(times, valid)`` like :func:`phase_crossings`; ``valid`` is False where
    that time would fall after the end of the signal.
    """
    return phase_crossings(phase_curve, phase_at(phase_curve, t) + cycles)


def envelope_cycle_boundaries(
    log2_period: Tensor,
    n_samples: int,
    hop_length: float | None = None,
    *,
    interp: str = "linear",
    domain: str = "log",
) -> tuple[Tensor, Tensor]:
    """Cycle boundaries straight from the envelope, without a per-sample phase.

    For the default envelope (linear interpolation of the log2 period) the phase has a
    closed form on each segment between control points, ``l(s) = l_f + g s``:
    ``phi(s) = 2**-l_f * s * expm1(-g s ln2) / (-g s ln2)``, and the crossing of a
    target phase is ``s = c * log1p(-z) / -z`` with ``c = (target - phi_f) * 2**l_f``
    and ``z = c g ln2``. Exact in continuous time, it costs ``O(n_frames + n_cycles)``
    instead of ``O(n_samples)``. Other interpolations fall back to
    ``cycle_boundaries(phase(period_curve(...)))``.

    Args:
        log2_period: control values ``(..., n_frames)``, log2 period in samples.
        n_samples: length of the signal in samples; boundaries after ``n_samples - 1``
            are marked invalid.
        hop_length, interp, domain: as in :func:`period_curve`.

    Returns:
        ``(times, valid)``, float64 times in samples ``(..., K)`` and a bool mask.

    Raises:
        ValueError: a NaN or infinite control value (the number of cycles, which sets
            the shape of the result, would be undefined).

    Example:
        >>> times, valid = envelope_cycle_boundaries(torch.tensor([2.0, 2.0]), 13)
        >>> times[valid]
        tensor([ 4.,  8., 12.], dtype=torch.float64)
    """
    _check_envelope(log2_period)
    _check_finite("period_envelope", log2_period, "log2 periods in samples")
    if interp != "linear" or domain != "log":
        period = period_curve(log2_period, n_samples, hop_length, interp=interp, domain=domain)
        return cycle_boundaries(phase(period))
    _checks.positive_int("n_samples", n_samples, minimum=2)
    hop = resolve_hop_length(hop_length, log2_period.shape[-1], n_samples)
    level = log2_period.to(torch.float64)
    rows = level.reshape(-1, level.shape[-1])
    times, valid = _LogLinearBoundaries.apply(rows, n_samples, hop)
    return times.reshape(level.shape[:-1] + (-1,)), valid.reshape(level.shape[:-1] + (-1,))


class _LogLinearBoundaries(torch.autograd.Function):
    """Cycle boundaries of a log-linear envelope ``(rows, n_frames)`` -> ``(rows, K)``.

    The gradient is the implicit function theorem's, in closed form: with
    ``phi(t) = integral_0^t 2**-l(s) ds`` and ``l(s) = sum_m l_m h_m(s)`` (hat functions
    ``h_m``), the boundary ``phi(t_k) = k`` moves by
    ``dt_k/dl_m = ln2 * 2**l(t_k) * integral_0^t_k 2**-l(s) h_m(s) ds``. The integrals
    over whole segments are shared by all later boundaries (a reverse cumulative sum);
    only the segment holding ``t_k`` needs a partial one. One function with a short
    backward instead of autograd through the forward's operations: it runs in every
    evaluation of the cycle-form loss, where small operations dominate the time.
    """

    @staticmethod
    def forward(ctx, level, n_samples, hop):
        n_frames = level.shape[-1]
        # Segments: one per pair of control points, then the last value held to the end.
        duration = torch.full((n_frames,), hop, dtype=level.dtype, device=level.device)
        duration[-1] = max(n_samples - 1 - (n_frames - 1) * hop, 0.0)
        # On segment f, 2**-l(f hop + u) = inverse_f exp(-rate_f u).
        rate = torch.nn.functional.pad(level.diff(dim=-1) * (math.log(2) / hop), (0, 1))
        inverse = torch.exp2(-level)
        increment = inverse * duration * _expm1_ratio(-rate * duration)
        phase_start = torch.nn.functional.pad(torch.cumsum(increment, -1), (1, 0))

        n_cycles = int(phase_start[:, -1].max())  # sets a shape: host value
        targets = torch.arange(1, n_cycles + 1, dtype=level.dtype, device=level.device)
        targets = targets.expand(level.shape[0], n_cycles).contiguous()
        # phase_start[:, 0] = 0 < 1 <= target, so every segment index is >= 0.
        segment = torch.searchsorted(phase_start[:, :-1].contiguous(), targets, right=True) - 1
        # The crossing inside the segment: inverse (1 - exp(-rate u)) / rate = phase_into.
        phase_into = targets - phase_start.gather(-1, segment)
        time_at_start_rate = phase_into / inverse.gather(-1, segment)
        offset = time_at_start_rate * _log1p_ratio(-time_at_start_rate * rate.gather(-1, segment))
        times = segment.to(level.dtype) * hop + offset
        valid = (targets <= phase_start[:, -1:]) & (times <= n_samples - 1)
        ctx.save_for_backward(
            inverse, rate, duration, increment, segment, offset, phase_into, valid
        )
        ctx.hop = hop
        ctx.mark_non_differentiable(valid)
        return times, valid

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_times, _):
        inverse, rate, duration, increment, segment, offset, phase_into, valid = ctx.saved_tensors
        rows, n_frames = inverse.shape
        inverse_k, rate_k = inverse.gather(-1, segment), rate.gather(-1, segment)
        # grad * ln2 * 2**l(t_k); boundaries past the end (never used) carry no gradient.
        grad = grad_times.masked_fill(~valid, 0) * torch.exp(rate_k * offset) / inverse_k
        grad *= math.log(2)
        # Integrals of 2**-l weighted by the hats: the zeroth moment is the phase
        # (increment, phase_into); the first moment, over u / hop, goes to point f + 1.
        u = torch.cat([duration.expand(rows, n_frames), offset], -1)
        to_next = (
            torch.cat([inverse, inverse_k], -1)
            * u
            * (u / ctx.hop)
            * _first_moment_ratio(-torch.cat([rate, rate_k], -1) * u)
        )
        to_next[:, n_frames - 1] = 0  # the last, held segment weighs only its own point
        to_next[:, n_frames:].masked_fill_(segment == n_frames - 1, 0)
        whole_next, part_next = to_next[:, :n_frames], to_next[:, n_frames:]
        per_segment = inverse.new_zeros((3, rows, n_frames))
        for i, values in enumerate((grad, grad * (phase_into - part_next), grad * part_next)):
            per_segment[i].scatter_add_(-1, segment, values)
        here, partial_own, partial_next = per_segment
        later = here.sum(-1, keepdim=True) - here.cumsum(-1)  # boundaries past segment f
        own = (increment - whole_next) * later + partial_own
        following = whole_next * later + partial_next
        return own + torch.nn.functional.pad(following[:, :-1], (1, 0)), None, None


def _expm1_ratio(z: Tensor) -> Tensor:
    """``expm1(z) / z``, 1 at z = 0 (accurate for tiny z: expm1 is)."""
    return torch.where(z == 0, 1.0, torch.expm1(z) / z)


def _first_moment_ratio(z: Tensor) -> Tensor:
    """``integral_0^1 w exp(z w) dw = (exp(z) (z - 1) + 1) / z**2``, 1/2 at z = 0.

    The closed form cancels for small z (relative error ~1e-16 / z**2): a series there.
    """
    small = z.abs() < 1e-2
    series = 1 / 2 + z * (1 / 3 + z * (1 / 8 + z * (1 / 30 + z / 144)))
    return torch.where(small, series, (torch.exp(z) * (z - 1) + 1) / (z * z))


def _log1p_ratio(z: Tensor) -> Tensor:
    """``log1p(z) / z``, 1 at z = 0 (accurate for tiny z: log1p is)."""
    return torch.where(z == 0, 1.0, torch.log1p(z) / z)
