"""The dense form of the fold loss: every sample against the sample one period away."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks
from ..envelope import period_curve, resolve_hop_length
from ..interp import Kernel, sample
from ._common import (
    _channels_last_hint,
    _check_frames_fit,
    _check_loss_args,
    _reduce,
    _safe_ratio,
)

DENSE_NORMALIZATIONS = ("none", "energy", "submultiple")
ALIGNMENTS = ("centered", "forward", "backward")


def dense_fold_loss(
    period_envelope: Tensor,
    audio: Tensor,
    hop_length: float | None = None,
    *,
    kernel: str = "sinc",
    half_width: int = 8,
    normalization: str = "energy",
    align: str = "centered",
    reduction: str = "mean",
    weights: Tensor | None = None,
    envelope_interp: str = "linear",
    min_period: float | None = None,
    max_period: float | None = None,
    submultiple_margin: float = 0.3,
    max_submultiple: int | None = None,
) -> Tensor:
    """Dense fold-alignment loss: every sample against the sample one period away.

    With ``P(t)`` the period curve, each sample ``t`` of the valid region compares
    ``a = x(t - P/2)`` with ``b = x(t + P/2)`` (``align="centered"``, unbiased on
    glides), ``x(t)`` with ``x(t + P)`` (``"forward"``) or ``x(t - P)`` with ``x(t)``
    (``"backward"``). Squared differences and energies are pooled per control point
    with triangular weights (each sample shares itself between its two nearest control
    points), then normalised per frame.

    The valid region is fixed: ``margin = ceil(max shift) + kernel radius`` samples are
    left out at each end, where the largest shift comes from ``max_period``. Pass
    ``max_period`` whenever the envelope is being optimised: without it the margin
    follows the envelope's current maximum and may jump.

    Args:
        period_envelope: log2 of the period in samples at the control points,
            ``(..., n_frames)``.
        audio: signal ``(..., N)``; leading dimensions broadcast with the envelope's.
        hop_length: samples between control points (``None``: spread over the audio).
        kernel: ``"linear"``, ``"cubic"`` or ``"sinc"`` (default; unbiased on noise).
        half_width: sinc half-width in samples.
        normalization: ``"none"`` (mean squared difference per sample), ``"energy"``
            (``sum (a-b)^2 / sum (a^2 + b^2)`` per frame, in [0, 2]) or
            ``"submultiple"`` (energy plus the sub-multiple penalty, see the module
            docstring; needs ``min_period`` and ``max_period``).
        align: ``"centered"``, ``"forward"`` or ``"backward"``.
        reduction: ``"mean"`` (weighted mean over frames), ``"sum"`` or ``"none"``
            (per frame, ``(..., n_frames)``; frames with no valid sample are 0).
        weights: per-frame weights ``(..., n_frames)``, e.g. voicing.
        envelope_interp: ``"linear"`` or ``"cubic"`` interpolation of the envelope.
        min_period: shortest allowed period in samples (the sub-multiple penalty only
            considers fractions ``P / k`` down to it).
        max_period: longest allowed period in samples (sets the fixed margin).
        submultiple_margin: how much worse (in energy-normalised units) every fraction
            ``P / k`` must be than ``P`` to escape the penalty.
        max_submultiple: largest ``k`` considered (default: ``max_period // min_period``).

    Returns:
        The loss: a scalar for ``"mean"``/``"sum"``, ``(..., n_frames)`` for ``"none"``.

    Raises:
        ValueError: non-finite audio or envelope; audio too short to leave a valid
            region after the margins; more control points than the audio holds at
            ``hop_length``; bad ``min_period``/``max_period``.
        TypeError: audio or envelope not floating point.

    Periods above ``max_period`` are not refused (an optimiser may overshoot for a
    step), but their reads near the ends fall into the zero padding: clamp the envelope
    to the allowed range, as :func:`foldpitch.fit.fit_envelope` does.

    Example:
        >>> t = torch.arange(4000)
        >>> audio = torch.sin(2 * math.pi * t / 40) + 0.5 * torch.sin(2 * math.pi * t / 20)
        >>> losses = [dense_fold_loss(torch.tensor([math.log2(p)]), audio, max_period=100)
        ...           for p in (30.0, 40.0)]
        >>> bool(losses[1] < 1e-4 < losses[0])
        True
    """
    period_envelope, audio, weights = _check_loss_args(
        period_envelope, audio, kernel, half_width, reduction, weights
    )
    _checks.one_of("normalization", normalization, DENSE_NORMALIZATIONS)
    _checks.one_of("align", align, ALIGNMENTS)
    n_samples, n_frames = audio.shape[-1], period_envelope.shape[-1]
    hop = resolve_hop_length(hop_length, n_frames, n_samples)
    _check_frames_fit(n_frames, hop, audio.shape)
    period = period_curve(period_envelope, n_samples, hop, interp=envelope_interp)
    if max_period is None:
        max_period = float(period.detach().max())  # not fixed: see the docstring
    _check_period_bounds(min_period, max_period, normalization)

    radius = Kernel(kernel, half_width).radius
    largest_shift = max_period / 2 if align == "centered" else max_period
    margin = math.ceil(largest_shift) + radius
    if n_samples - 2 * margin < 1:
        raise ValueError(
            f"audio is too short: {n_samples} samples leave no valid region after a margin "
            f"of {margin} samples at each end (max_period={max_period:g}, kernel radius "
            f"{radius}); need more than {2 * margin} samples" + _channels_last_hint(audio.shape)
        )
    region = torch.arange(margin, n_samples - margin, device=audio.device)
    period = period[..., margin : n_samples - margin]
    pooling = _FramePooling(region, hop, n_frames)
    read = dict(kernel=kernel, half_width=half_width, align=align)

    difference, energy = _dense_terms(audio, region, period, **read)
    counts = pooling.counts.to(audio.dtype)
    has_samples = counts > 0
    if normalization == "none":
        per_frame = pooling(difference) / counts.clamp_min(1)
    else:
        per_frame = _safe_ratio(pooling(difference), pooling(energy))
    if normalization == "submultiple":
        frame_period = torch.exp2(period_envelope)
        # Fractions below 0.95 min_period carry no penalty: do not compute them.
        largest_k = int(float(frame_period.detach().max()) / (0.95 * min_period))
        if max_submultiple is not None:
            largest_k = min(largest_k, max_submultiple)
        penalty = torch.zeros_like(per_frame)
        for k in range(2, largest_k + 1):
            difference_k, energy_k = _dense_terms(audio, region, period / k, **read)
            per_frame_k = _safe_ratio(pooling(difference_k), pooling(energy_k))
            # Fractions shorter than min_period are out of range: fade their penalty
            # out over the last 5 % so the loss does not jump when P / k crosses it.
            in_range = ((frame_period / k / min_period - 0.95) / 0.05).clamp(0, 1)
            shortfall = (submultiple_margin - (per_frame_k - per_frame)).clamp_min(0)
            penalty = torch.maximum(penalty, in_range * shortfall)
        per_frame = per_frame + penalty

    frame_weight = has_samples.to(per_frame.dtype).expand_as(per_frame)
    if weights is not None:
        frame_weight = frame_weight * weights
    if reduction == "none":
        return per_frame * has_samples
    return _reduce(per_frame, frame_weight, reduction)


def _dense_terms(audio, region, period, *, kernel, half_width, align):
    """Per-sample squared difference and energy of the two reads one period apart."""
    # Integer sample positions as the origin, the (short) shifts as offsets: exact far
    # into long signals without float64 positions.
    read = dict(kernel=kernel, half_width=half_width, origin=region)
    if align == "centered":
        a = sample(audio, -period / 2, **read)
        b = sample(audio, period / 2, **read)
    elif align == "forward":
        a = audio[..., region]
        b = sample(audio, period, **read)
    else:
        a = sample(audio, -period, **read)
        b = audio[..., region]
    return (a - b).square(), a.square() + b.square()


class _FramePooling:
    """Sums per-sample values onto control points with triangular (linear) weights."""

    def __init__(self, region: Tensor, hop: float, n_frames: int):
        frame = (region.to(torch.float64) / hop).clamp(0, n_frames - 1)
        self.lower = frame.floor().long()
        upper_share = frame - self.lower
        self.n_frames = n_frames
        self.shares = (1 - upper_share, upper_share)
        self.counts = self(torch.ones_like(frame))

    def __call__(self, values: Tensor) -> Tensor:
        out = values.new_zeros(values.shape[:-1] + (self.n_frames + 1,))
        low_share, high_share = (s.to(values.dtype) for s in self.shares)
        out = out.index_add(-1, self.lower, values * low_share)
        out = out.index_add(-1, self.lower + 1, values * high_share)
        return out[..., : self.n_frames]


def _check_period_bounds(min_period, max_period, normalization) -> None:
    if normalization == "submultiple" and min_period is None:
        raise ValueError(
            "normalization='submultiple' needs min_period (the shortest allowed period in "
            "samples, e.g. sample_rate / fmax)"
        )
    if not (max_period > 0 and math.isfinite(max_period)):
        raise ValueError(f"max_period must be a positive number of samples, got {max_period}")
    if min_period is not None and not (0 < min_period < max_period):
        raise ValueError(
            f"min_period must be in (0, max_period={max_period:g}) samples, got {min_period}"
        )


class DenseFoldLoss(torch.nn.Module):
    """Module form of :func:`dense_fold_loss` (same arguments, stored)."""

    def __init__(self, hop_length: float | None = None, **options):
        super().__init__()
        self.hop_length, self.options = hop_length, options

    def forward(self, period_envelope: Tensor, audio: Tensor, weights: Tensor | None = None):
        return dense_fold_loss(
            period_envelope, audio, self.hop_length, weights=weights, **self.options
        )
