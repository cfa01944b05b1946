"""What the forms of the fold loss share: argument checks, dtype handling, reductions."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks
from ..envelope import _check_envelope, _check_finite
from ..interp import KERNELS

REDUCTIONS = ("mean", "sum", "none")


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    # Silence gives 0 / 0: call it a perfect match (0) with a zero gradient.
    return numerator / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)


def _reduce(values: Tensor, weight: Tensor, reduction: str) -> Tensor:
    weight = weight.expand_as(values)
    total = (values * weight).sum()
    if reduction == "sum":
        return total
    return total / weight.sum().clamp_min(torch.finfo(values.dtype).tiny)


_HALF_DTYPES = (torch.float16, torch.bfloat16)


def _upcast(tensor: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 (autograd casts the gradient back); others unchanged."""
    return tensor.float() if tensor.dtype in _HALF_DTYPES else tensor


def _channels_last_hint(shape) -> str:
    if len(shape) >= 2 and shape[-1] <= 8 < shape[-2]:
        return (
            f"; audio of shape {tuple(shape)} looks like (time, channels): time must be "
            "the last axis, so downmix it (audio.mean(-1)) or transpose it (one loss per "
            "channel)"
        )
    return ""


def _check_audio(audio, name: str = "audio") -> Tensor:
    """Audio ``(..., time)``: floating point and finite; float16/bfloat16 as float32.
    ``name`` is the argument's name in the errors."""
    if not isinstance(audio, Tensor) or not audio.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point torch.Tensor of shape (..., time), got "
            + (f"dtype {audio.dtype}" if isinstance(audio, Tensor) else type(audio).__name__)
            + " (scale integer PCM to [-1, 1] first)"
        )
    if audio.ndim == 0 or audio.shape[-1] < 2:
        raise ValueError(
            f"{name} must have shape (..., time) with time >= 2, got {tuple(audio.shape)}"
            + _channels_last_hint(audio.shape)
        )
    _check_finite(name, audio, "samples")
    return _upcast(audio)


def _check_frames_fit(n_frames: int, hop: float, audio_shape) -> None:
    """Control point ``f`` sits at sample ``f * hop``: at most one may lie past the end."""
    n_samples = audio_shape[-1]
    if n_frames >= 2 and (n_frames - 2) * hop > n_samples - 1:
        most = math.floor((n_samples - 1) / hop) + 2
        raise ValueError(
            f"period_envelope has {n_frames} frames, but audio of {n_samples} samples holds "
            f"at most {most} control points at hop_length={hop:g} samples (frame f sits at "
            f"sample f * hop_length; expected about ceil(time / hop_length) = "
            f"{math.ceil(n_samples / hop)}): is hop_length in samples, and is the envelope "
            "the audio's?" + _channels_last_hint(audio_shape)
        )


def _check_loss_args(period_envelope, audio, kernel, half_width, reduction, weights):
    """Checked ``(period_envelope, audio, weights)``, float16/bfloat16 ones as float32."""
    _check_envelope(period_envelope)
    audio = _check_audio(audio)
    _check_finite("period_envelope", period_envelope, "log2 periods in samples")
    period_envelope = _upcast(period_envelope)
    _checks.one_of("kernel", kernel, KERNELS)
    _checks.positive_int("half_width", half_width)
    _checks.one_of("reduction", reduction, REDUCTIONS)
    try:
        torch.broadcast_shapes(period_envelope.shape[:-1], audio.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"leading dimensions of period_envelope {tuple(period_envelope.shape)} and "
            f"audio {tuple(audio.shape)} do not broadcast"
        ) from None
    if weights is not None:
        if not isinstance(weights, Tensor) or weights.shape[-1:] != period_envelope.shape[-1:]:
            got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
            raise ValueError(
                f"weights must be a tensor of shape (..., n_frames={period_envelope.shape[-1]}), "
                f"got {got}"
            )
        if not weights.is_floating_point():
            weights = weights.to(audio.dtype)
        _check_finite("weights", weights, "per-frame weights")
        weights = _upcast(weights)
    return period_envelope, audio, weights
