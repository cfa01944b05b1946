"""Reading a signal at continuous (fractional) positions, with gradients.

``sample(x, t)`` evaluates the continuous signal defined by the samples ``x`` and an
interpolation kernel at arbitrary real positions ``t`` (in samples). The result is
differentiable with respect to both the values ``x`` and the positions ``t``, which is
what lets a loss move a period envelope: the position gradient is the slope of the
interpolated signal.

Kernels (``z`` is the distance in samples between the read position and a tap):

* ``"linear"``: ``1 - |z|`` on ``|z| < 1``. Continuous values, piecewise-constant
  position gradient (it jumps at every integer position; on an integer the
  right-hand slope is returned).
* ``"cubic"``: Keys (1981) cubic convolution with ``a = -0.5``, support ``|z| < 2``.
  Continuous first derivative; exact for quadratics.
* ``"sinc"``: ``sinc(z)`` times a Hann window of half-width ``half_width``, support
  ``|z| < half_width``. Twice continuously differentiable; the right kernel for
  band-limited audio and for noisy signals (linear and cubic reads lower the variance
  of noise by an amount that depends on the fractional position).

Memory: a read touches ``2 * half_width`` taps per position, but the custom
autograd Functions below never store a ``positions x taps`` tensor: they loop over the
taps (a handful of Python iterations, never over time) and recompute the weights in the
backward pass. Their backward passes are built from each other, so double backward
(``gradgradcheck``) works.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from . import _checks

__all__ = ["KERNELS", "Kernel", "sample", "sample_windows"]

KERNELS = ("linear", "cubic", "sinc")
PADDINGS = ("zeros", "clamp")

# Below this distance from a tap, sinc and its derivatives use their Taylor series:
# the closed forms divide by z and lose all precision in float32 close to 0.
_SINC_TAYLOR_BELOW = 0.05


@dataclass(frozen=True)
class Kernel:
    """An interpolation kernel: which taps a read touches and their weights.

    A read at position ``t`` uses the samples ``floor(t) + k`` for ``k`` in
    ``taps``; ``weight(u, k, order)`` is the ``order``-th derivative of the kernel at
    distance ``u - k``, where ``u = t - floor(t)`` is in ``[0, 1)``.
    """

    name: str
    half_width: int = 8

    @property
    def radius(self) -> int:
        """Largest distance (samples) at which the kernel is non-zero."""
        return {"linear": 1, "cubic": 2}.get(self.name, self.half_width)

    @property
    def taps(self) -> range:
        return range(1 - self.radius, self.radius + 1)

    @property
    def max_order(self) -> int:
        """Highest derivative order with a (piecewise) closed form here."""
        return {"linear": 1, "cubic": 3, "sinc": 2}[self.name]

    def weights(self, u: Tensor, order: int = 0) -> Iterator[tuple[int, Tensor]]:
        """Yield ``(k, w)`` for every tap: the ``order``-th derivative of the kernel at
        distance ``u - k``, with ``u = t - floor(t)`` in ``[0, 1)``. One tap at a time,
        so only one weight tensor is alive at once."""
        if order > self.max_order:
            if self.name == "sinc":
                raise RuntimeError(
                    f"the sinc kernel has derivatives up to order 2 here, "
                    f"asked for order {order} (third derivative of a read)"
                )
            for k in self.taps:
                yield k, torch.zeros_like(u)
        elif self.name == "linear":
            for k in self.taps:
                yield k, _linear_weight(u, k, order)
        elif self.name == "cubic":
            for k in self.taps:
                yield k, _cubic_weight(u, k, order)
        else:
            yield from _hann_sinc_weights(u, order, self.half_width)

    def read_windows(self, windows: Tensor, frac: Tensor, length: int) -> Tensor:
        """``length`` consecutive reads sharing one fraction: ``windows (..., length +
        len(taps) - 1)`` start at the first tap of read 0, ``frac (..., 1)``; returns
        ``(..., length)``. The weights are computed once per window, not per read."""
        if self.name == "linear":
            return torch.lerp(windows[..., :-1], windows[..., 1:], frac)
        out = None
        for i, (_, weight) in enumerate(self.weights(frac)):
            tap = windows[..., i : i + length]
            out = tap * weight if out is None else out.addcmul_(tap, weight)
        return out


def _linear_weight(u: Tensor, k: int, order: int) -> Tensor:
    # Tap k=0 sits at distance u in [0, 1), tap k=1 at u - 1 in [-1, 0).
    if order == 0:
        return 1 - u if k == 0 else u.clone()
    return torch.full_like(u, -1.0 if k == 0 else 1.0)


# Keys cubic (a = -0.5) as polynomials in r = |z|: inner piece for r < 1, outer for
# 1 <= r < 2, coefficients from the highest power down. Each tap always falls on the
# same piece (taps -1 and 2 outer, 0 and 1 inner), so no branch is needed per element.
_KEYS_INNER = (1.5, -2.5, 0.0, 1.0)
_KEYS_OUTER = (-0.5, 2.5, -4.0, 2.0)


def _polyval_derivative(coefficients: tuple[float, ...], r: Tensor, order: int) -> Tensor:
    """The ``order``-th derivative of the polynomial with these coefficients, at r."""
    degree = len(coefficients) - 1
    result = torch.zeros_like(r)
    for i, c in enumerate(coefficients):
        power = degree - i
        if power >= order and c != 0.0:
            result = result + math.perm(power, order) * c * r ** (power - order)
    return result


def _cubic_weight(u: Tensor, k: int, order: int) -> Tensor:
    # Distance z = u - k; r = |z| and sign(z) fixed per tap (right-hand limits at 0).
    r, sign = {-1: (u + 1, 1.0), 0: (u, 1.0), 1: (1 - u, -1.0), 2: (2 - u, -1.0)}[k]
    piece = _KEYS_INNER if k in (0, 1) else _KEYS_OUTER
    return _polyval_derivative(piece, r, order) * sign**order


def _hann_sinc_weights(u: Tensor, order: int, half_width: int) -> Iterator[tuple[int, Tensor]]:
    """Hann-windowed sinc (or its 1st/2nd derivative) at distances ``z = u - k``.

    ``w = sinc * hann`` with ``hann(z) = (1 + cos(pi z / H)) / 2``; both vanish with
    their first derivative at ``|z| = H``, so ``w`` is C2 across the edge of its
    support. The sines and cosines are computed once per read and shifted to each tap
    with the angle-addition formulas. Near ``z = 0`` (taps 0 and 1 only) the closed
    forms divide by ``z`` and lose precision, so Taylor series take over there.
    """
    pi, a = math.pi, math.pi / half_width
    sin_pu, cos_pu = torch.sin(pi * u), torch.cos(pi * u)
    sin_au, cos_au = torch.sin(a * u), torch.cos(a * u)
    for k in range(1 - half_width, half_width + 1):
        z = u - k
        parity = -1.0 if k % 2 else 1.0
        cos_az = cos_au * math.cos(a * k) + sin_au * math.sin(a * k)
        hann = [0.5 + 0.5 * cos_az]
        if order >= 1:
            hann.append(-0.5 * a * (sin_au * math.cos(a * k) - cos_au * math.sin(a * k)))
        if order >= 2:
            hann.append(-0.5 * a * a * cos_az)
        near_zero = k in (0, 1)
        if near_zero:
            small = z.abs() < _SINC_TAYLOR_BELOW
            z = torch.where(small, torch.ones_like(z), z)
        sinc = [parity * sin_pu / (pi * z)]
        if order >= 1:
            sinc.append((parity * cos_pu - sinc[0]) / z)
        if order >= 2:
            sinc.append(-(pi**2) * sinc[0] - 2 * sinc[1] / z)
        if near_zero:
            z0 = u - k
            z2 = z0 * z0
            series = (
                1 - pi**2 * z2 / 6 + pi**4 * z2 * z2 / 120 - pi**6 * z2**3 / 5040,
                z0 * (-(pi**2) / 3 + pi**4 * z2 / 30 - pi**6 * z2 * z2 / 840),
                -(pi**2) / 3 + pi**4 * z2 / 10 - pi**6 * z2 * z2 / 168,
            )
            sinc = [torch.where(small, series[n], value) for n, value in enumerate(sinc)]
        binomial = ((1,), (1, 1), (1, 2, 1))[order]  # Leibniz rule for (sinc * hann)^(order)
        weight = sum(c * sinc[n] * hann[order - n] for n, c in enumerate(binomial))
        del z, cos_az, hann, sinc  # free this tap's temporaries before the caller runs
        yield k, weight


class _KernelRead(torch.autograd.Function):
    """y[i] = sum_k signal[index[i] + k] * w^(order)(frac[i] - k).

    ``signal`` is flat (already padded so every tap is in range), ``index`` holds the
    flat index of ``floor(t)``. Differentiable in ``signal`` and ``frac``.
    """

    @staticmethod
    def forward(signal, frac, index, kernel, order):
        out = torch.zeros_like(frac)
        tap_index = index + kernel.taps[0]  # one index tensor, shifted in place per tap
        for _, weight in kernel.weights(frac, order):
            out.addcmul_(signal.take(tap_index), weight)
            tap_index += 1
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        signal, frac, index, kernel, order = inputs
        ctx.save_for_backward(signal, frac, index)
        ctx.save_for_forward(signal, frac, index)
        ctx.kernel, ctx.order = kernel, order

    @staticmethod
    def backward(ctx, grad):
        signal, frac, index = ctx.saved_tensors
        grad_signal = grad_frac = None
        if ctx.needs_input_grad[0]:
            grad_signal = _KernelScatter.apply(
                grad, frac, index, signal.numel(), ctx.kernel, ctx.order
            )
        if ctx.needs_input_grad[1]:
            grad_frac = grad * _KernelRead.apply(signal, frac, index, ctx.kernel, ctx.order + 1)
        return grad_signal, grad_frac, None, None, None

    @staticmethod
    def jvp(ctx, signal_tangent, frac_tangent, *_):
        signal, frac, index = ctx.saved_tensors
        out = torch.zeros_like(frac)
        if signal_tangent is not None:
            out = out + _KernelRead.apply(signal_tangent, frac, index, ctx.kernel, ctx.order)
        if frac_tangent is not None:
            slope = _KernelRead.apply(signal, frac, index, ctx.kernel, ctx.order + 1)
            out = out + frac_tangent * slope
        return out


class _KernelScatter(torch.autograd.Function):
    """The adjoint of ``_KernelRead``: spreads ``values`` onto a flat signal."""

    @staticmethod
    def forward(values, frac, index, size, kernel, order):
        out = values.new_zeros(size)
        tap_index = index.reshape(-1) + kernel.taps[0]
        for _, weight in kernel.weights(frac, order):
            out.index_add_(0, tap_index, weight.mul_(values).reshape(-1))
            tap_index += 1
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        values, frac, index, size, kernel, order = inputs
        ctx.save_for_backward(values, frac, index)
        ctx.save_for_forward(values, frac, index)
        ctx.kernel, ctx.order, ctx.size = kernel, order, size

    @staticmethod
    def backward(ctx, grad):
        values, frac, index = ctx.saved_tensors
        grad_values = grad_frac = None
        if ctx.needs_input_grad[0]:
            grad_values = _KernelRead.apply(grad, frac, index, ctx.kernel, ctx.order)
        if ctx.needs_input_grad[1]:
            grad_frac = values * _KernelRead.apply(grad, frac, index, ctx.kernel, ctx.order + 1)
        return grad_values, grad_frac, None, None, None, None

    @staticmethod
    def jvp(ctx, values_tangent, frac_tangent, *_):
        values, frac, index = ctx.saved_tensors
        out = values.new_zeros(ctx.size)
        if values_tangent is not None:
            out = out + _KernelScatter.apply(
                values_tangent, frac, index, ctx.size, ctx.kernel, ctx.order
            )
        if frac_tangent is not None:
            out = out + _KernelScatter.apply(
                values * frac_tangent, frac, index, ctx.size, ctx.kernel, ctx.order + 1
            )
        return out


def sample(
    x: Tensor,
    t: Tensor,
    kernel: str = "linear",
    *,
    half_width: int = 8,
    padding: str = "zeros",
    origin: Tensor | None = None,
) -> Tensor:
    """Read the signal ``x`` at fractional positions ``t`` (in samples).

    Args:
        x: signal values, floating point, shape ``(..., N)``; sample ``n`` sits at
            position ``n``.
        t: read positions in samples, floating point, shape ``(..., M)``. Any real
            values; use float64 positions for long signals (float32 resolves only
            1/64 sample at t = 160 000) -- the result still has ``x``'s dtype. With
            ``origin``, ``t`` is an offset from it.
        kernel: ``"linear"``, ``"cubic"`` (Keys, a = -0.5) or ``"sinc"`` (Hann-windowed).
        half_width: half-width of the sinc kernel in samples (``2 * half_width`` taps).
        padding: what lies outside ``[0, N - 1]``: ``"zeros"`` (the signal is zero
            there, so reads fade out within the kernel radius of the ends) or
            ``"clamp"`` (positions are clamped to ``[0, N - 1]`` and the edge samples
            repeat, so reads outside return the edge value with zero position
            gradient).
        origin: optional integer positions (any integer dtype, broadcastable with
            ``t``); the reads are then at ``origin + t``. Keeping the integer part
            apart keeps sub-sample precision far into long signals without float64
            offsets (and is cheaper).

    Returns:
        The interpolated values, shape ``broadcast(x.shape[:-1], t.shape[:-1]) + (M,)``,
        dtype of ``x``. Differentiable with respect to ``x`` and ``t``.

    Non-finite input is not checked here (this is the inner loop of the losses, which
    check their own inputs) but behaves predictably: a NaN or infinite sample spreads
    only to the reads whose taps touch it, and a NaN or infinite position reads NaN
    with either padding. Every floating dtype works in its own precision (float16 and
    bfloat16 too; the losses compute those in float32).

    Shape:
        ``x``: ``(..., N)``, ``t``: ``(..., M)`` with broadcastable leading dimensions.

    Example:
        >>> x = torch.tensor([0.0, 1.0, 4.0, 9.0])
        >>> sample(x, torch.tensor([1.5, 2.25]))
        tensor([2.5000, 5.2500])
        >>> sample(x, torch.tensor([0.5, 0.25]), origin=torch.tensor([1, 2]))
        tensor([2.5000, 5.2500])
    """
    _check_sample_args(x, t, kernel, half_width, padding)
    if origin is not None:
        if not isinstance(origin, Tensor) or origin.is_floating_point() or origin.is_complex():
            raise TypeError(
                f"origin must be an integer tensor of positions, got {_describe(origin)}"
            )
        if torch.broadcast_shapes(origin.shape, t.shape) != t.shape:
            raise ValueError(
                f"origin {tuple(origin.shape)} must broadcast to the shape of t {tuple(t.shape)}"
            )
    spec = Kernel(kernel, half_width)
    n, radius = x.shape[-1], spec.radius
    batch_shape = torch.broadcast_shapes(x.shape[:-1], t.shape[:-1])

    # Split every position into an integer index and a fraction in [0, 1); the gradient
    # reaches t through the fraction.
    floor = t.detach().floor()
    frac = (t - floor).to(x.dtype)
    index = floor.long() if origin is None else floor.long() + origin
    if padding == "clamp":
        # Positions outside [0, N - 1] read the edge sample, with zero position gradient
        # (frac * 0 rather than 0, so that a NaN position still reads NaN).
        outside = (index < 0) | (index >= n - 1)
        outside &= ~((index == n - 1) & (frac == 0))
        frac = torch.where(outside, frac * 0, frac)
        index = index.clamp(0, n - 1)
        width = radius
        padded = torch.cat(
            [x[..., :1].expand(*x.shape[:-1], width), x, x[..., -1:].expand(*x.shape[:-1], width)],
            dim=-1,
        )
    else:
        # Beyond `radius` outside the signal every tap reads a zero (value and slope):
        # clamping the index there changes nothing but keeps the taps in the padding.
        index = index.clamp(-radius - 1, n - 1 + radius)
        width = 2 * radius
        padded = torch.nn.functional.pad(x, (width, width))

    shape = batch_shape + index.shape[-1:]
    if index.ndim == 1 and x.ndim > 1:
        # Positions shared by every row (an envelope read at each sample, say): gather
        # columns with one index per position instead of a rows x positions index.
        out = 0
        for k, weight in spec.weights(frac):
            out = out + padded.index_select(-1, index + (width + k)) * weight
        return out
    rows = padded.reshape(-1, padded.shape[-1])
    row_start = torch.arange(rows.shape[0], device=x.device) * padded.shape[-1]
    row_start = row_start.reshape(x.shape[:-1] + (1,))
    index = (index + width + row_start).expand(shape)
    return _KernelRead.apply(rows.reshape(-1), frac.expand(shape), index, spec, 0)


def sample_windows(
    x: Tensor, start: Tensor, length: int, kernel: str = "linear", *, half_width: int = 8
) -> Tensor:
    """Read ``length`` consecutive samples from each fractional start position.

    Equivalent to ``sample(x, start[..., None] + arange(length))`` with zero padding, but
    all reads of a window share one fractional offset, so the kernel weights are
    computed once per window instead of once per read: the fast path of the
    cycle-boundary loss, which compares whole cycles. Plain autograd ops; what autograd
    keeps is the gathered windows (about one copy of the samples read).

    Args:
        x: signal ``(..., N)``; zero outside ``[0, N - 1]``.
        start: window start positions in samples ``(..., J)`` (float64 recommended).
        length: number of reads per window.
        kernel, half_width: as in :func:`sample`.

    Returns:
        ``(..., J, length)`` with ``out[..., j, s] = x(start[..., j] + s)``; a NaN or
        infinite start reads NaN, as in :func:`sample`.

    Example:
        >>> sample_windows(torch.arange(6.0), torch.tensor([0.5, 2.0]), 3)
        tensor([[0.5000, 1.5000, 2.5000],
                [2.0000, 3.0000, 4.0000]])
    """
    _check_sample_args(x, start, kernel, half_width, "zeros")
    _checks.positive_int("length", length)
    spec = Kernel(kernel, half_width)
    radius, n = spec.radius, x.shape[-1]
    batch_shape = torch.broadcast_shapes(x.shape[:-1], start.shape[:-1])
    # Windows entirely outside the signal read zeros: clamp their starts into the padding
    # (the fraction is the start's own, so a NaN or infinite start reads NaN).
    floor = start.detach().floor()
    frac = (start - floor).to(x.dtype)
    floor = floor.clamp(-radius - length, n - 1 + radius).nan_to_num(0.0)
    width = 2 * radius + length
    padded = torch.nn.functional.pad(x, (width, width))
    rows = padded.reshape(-1, padded.shape[-1])
    row_start = torch.arange(rows.shape[0], device=x.device) * padded.shape[-1]
    row_start = row_start.reshape(x.shape[:-1] + (1,))
    first_tap = floor.long() + (row_start + width + spec.taps[0])
    span = length + len(spec.taps) - 1
    first_tap = first_tap.expand(batch_shape + start.shape[-1:])
    if x.requires_grad:
        index = first_tap[..., None] + torch.arange(span, device=x.device)
        windows = rows.reshape(-1).take(index)
    else:
        # Copy whole rows of a strided view of all windows: no per-read index tensor.
        all_windows = rows.reshape(-1).unfold(0, span, 1)
        windows = all_windows.index_select(0, first_tap.reshape(-1))
        windows = windows.reshape(first_tap.shape + (span,))
    frac = frac.expand(batch_shape + start.shape[-1:])[..., None]
    return spec.read_windows(windows, frac, length)


def _check_sample_args(x, t, kernel, half_width, padding) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {_describe(x)}")
    if not isinstance(t, Tensor) or not t.is_floating_point():
        raise TypeError(f"t must be a floating-point torch.Tensor of positions, got {_describe(t)}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have shape (..., N) with N >= 1, got {tuple(x.shape)}")
    if t.ndim == 0:
        raise ValueError("t must have shape (..., M), got a 0-d tensor")
    _checks.one_of("kernel", kernel, KERNELS)
    _checks.positive_int("half_width", half_width)
    _checks.one_of("padding", padding, PADDINGS)
    if x.device != t.device:
        raise ValueError(f"x and t must be on the same device, got {x.device} and {t.device}")
    try:
        torch.broadcast_shapes(x.shape[:-1], t.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"leading dimensions of x {tuple(x.shape)} and t {tuple(t.shape)} do not broadcast"
        ) from None


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of dtype {value.dtype}"
    return type(value).__name__
