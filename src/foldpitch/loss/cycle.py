"""The cycle-boundary form of the fold loss (the original loop's semantics, vectorised and
exact) and the glue to its fused C kernel (:mod:`foldpitch._native`)."""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from .. import _checks, _native
from ..envelope import envelope_cycle_boundaries, resolve_hop_length
from ..interp import Kernel, sample, sample_windows
from ._common import (
    _channels_last_hint,
    _check_frames_fit,
    _check_loss_args,
    _reduce,
    _safe_ratio,
)

CYCLE_NORMALIZATIONS = ("none", "energy")
MIN_CYCLE_LOG2_PERIOD = -2.0  # a quarter sample: the shortest period the cycle form takes
BACKENDS = ("auto", "native", "torch")


def fold_alignment_loss(
    period_envelope: Tensor,
    audio: Tensor,
    hop_length: float | None = None,
    *,
    kernel: str = "linear",
    half_width: int = 8,
    normalization: str = "none",
    reduction: str = "mean",
    weights: Tensor | None = None,
    envelope_interp: str = "linear",
    reads_per_cycle: int | None = None,
    backend: str = "auto",
) -> Tensor:
    """Cycle-boundary fold-alignment loss (the original loop, vectorised and exact).

    The phase ``phi(t) = integral of 1 / period`` crosses an integer at each cycle
    boundary ``b_k``. For every cycle ``k`` with a successor, the stretch
    ``x(b_{k-1} + s)`` is compared with ``x(b_k + s)`` for ``0 <= s < L_k``, where
    ``L_k`` is the shorter of the two cycle lengths: per sample offset ``s = 0, 1, ...``
    by default (the last one weighted by its fractional coverage, so the loss is
    continuous in the boundaries), or at ``reads_per_cycle`` evenly spaced points
    scaled to the same units.

    Args:
        period_envelope: log2 of the period in samples at the control points,
            ``(..., n_frames)``.
        audio: signal, ``(..., N)``; leading dimensions broadcast with the envelope's.
        hop_length: samples between control points (``None``: spread over the audio).
        kernel: how the audio is read between samples: ``"linear"``, ``"cubic"``,
            ``"sinc"`` (see :func:`foldpitch.interp.sample`).
        half_width: sinc half-width in samples.
        normalization: ``"none"`` (norm of the difference per cycle, the original) or
            ``"energy"`` (``|a - b|^2 / (|a|^2 + |b|^2)`` per cycle, in [0, 2]).
        reduction: ``"sum"`` (the original's accumulated total, summed over the batch),
            ``"mean"`` (weighted mean over all cycles) or ``"none"`` (per frame: the
            weighted mean of the cycles whose boundary is near each control point, 0
            where there is none), ``(..., n_frames)``.
        weights: optional per-frame weights ``(..., n_frames)`` (for example voicing);
            each cycle is weighted by their linear interpolation at its boundary.
        envelope_interp: ``"linear"`` or ``"cubic"`` interpolation of the envelope.
        reads_per_cycle: ``None`` for one read per sample offset; an integer ``M`` to
            read ``M`` evenly spaced points per cycle (cheaper for long periods).
        backend: ``"torch"`` (PyTorch operations: any device, every option, gradients
            to the audio too), ``"native"`` (a fused C kernel, see
            :mod:`foldpitch._native`: CPU tensors, ``envelope_interp="linear"``,
            ``reads_per_cycle=None``, no ``weights``, ``reduction`` ``"mean"`` or
            ``"sum"``, audio without gradient; several times faster on small inputs)
            or ``"auto"`` (native where it applies and a C compiler is found, else
            torch). Both compute the same loss and gradient. Under ``torch.func``
            transforms (``vmap``, ``grad``) and ``torch.compile``, pass ``"torch"``.

    Returns:
        The loss, a scalar for ``"mean"``/``"sum"``.

    Raises:
        ValueError: non-finite audio or envelope; periods under a quarter sample
            (``period_envelope < -2``); audio without two whole cycles of the envelope
            (nothing to compare: an error rather than a loss of 0, which would reward
            long periods); more control points than the audio holds at ``hop_length``.
        TypeError: audio or envelope not floating point.
        RuntimeError: ``backend="native"`` where the fused kernel cannot be built.

    Example:
        >>> audio = torch.sin(2 * math.pi * torch.arange(400) / 20)
        >>> loss = fold_alignment_loss(torch.tensor([math.log2(20.0)]), audio)
        >>> bool(loss < 1e-4)
        True
    """
    period_envelope, audio, weights, hop, shortest = _check_cycle_args(
        period_envelope,
        audio,
        hop_length,
        kernel,
        half_width,
        normalization,
        reduction,
        weights,
        reads_per_cycle,
        backend,
    )
    kernel_spec = Kernel(kernel, half_width)
    if backend != "torch":
        unsupported = _native_unsupported(
            period_envelope,
            audio,
            kernel,
            half_width,
            weights,
            reduction,
            envelope_interp,
            reads_per_cycle,
        )
        if backend == "native" and unsupported:
            raise ValueError(f"backend='native' does not support {unsupported}; use 'auto'")
        if not unsupported and (backend == "native" or _native.available()):
            return _native_cycle_loss(
                period_envelope, audio, hop, kernel_spec, normalization, reduction, shortest
            )
    return _torch_cycle_loss(
        period_envelope,
        audio,
        hop,
        kernel_spec,
        normalization,
        reduction,
        weights,
        envelope_interp,
        reads_per_cycle,
        shortest,
    )


def _check_cycle_args(
    period_envelope,
    audio,
    hop_length,
    kernel,
    half_width,
    normalization,
    reduction,
    weights,
    reads_per_cycle,
    backend,
):
    """Checks the arguments of :func:`fold_alignment_loss`; returns ``(period_envelope,
    audio, weights)`` as computed (float16/bfloat16 as float32), the hop in samples and
    the shortest log2 period."""
    period_envelope, audio, weights = _check_loss_args(
        period_envelope, audio, kernel, half_width, reduction, weights
    )
    _checks.one_of("normalization", normalization, CYCLE_NORMALIZATIONS)
    shortest = float(period_envelope.detach().min())
    if shortest < MIN_CYCLE_LOG2_PERIOD:
        # Periods under a sample are allowed so that the period -> 0 collapse of the raw
        # loss can be studied (benchmarks/loss_landscape.py); below a quarter sample the
        # number of cycles to compare explodes.
        raise ValueError(
            f"period_envelope must be >= {MIN_CYCLE_LOG2_PERIOD} in the cycle form (periods "
            "of at least a quarter sample; shorter ones multiply the cycles to compare), "
            f"got a minimum of {shortest:g} (a period of {2**shortest:.3g} samples)"
        )
    if reads_per_cycle is not None and (
        isinstance(reads_per_cycle, bool)
        or not isinstance(reads_per_cycle, int)
        or reads_per_cycle < 1
    ):
        raise ValueError(
            f"reads_per_cycle must be None or a positive integer, got {reads_per_cycle!r}"
        )
    _checks.one_of("backend", backend, BACKENDS)
    n_samples, n_frames = audio.shape[-1], period_envelope.shape[-1]
    hop = resolve_hop_length(hop_length, n_frames, n_samples)
    _check_frames_fit(n_frames, hop, audio.shape)
    return period_envelope, audio, weights, hop, shortest


def _torch_cycle_loss(
    period_envelope,
    audio,
    hop,
    kernel_spec,
    normalization,
    reduction,
    weights,
    envelope_interp,
    reads_per_cycle,
    shortest,
) -> Tensor:
    """The cycle form in PyTorch operations (arguments checked)."""
    n_samples, n_frames = audio.shape[-1], period_envelope.shape[-1]
    boundaries, exists = envelope_cycle_boundaries(
        period_envelope, n_samples, hop, interp=envelope_interp
    )
    batch = torch.broadcast_shapes(period_envelope.shape[:-1], audio.shape[:-1])
    boundaries = boundaries.expand(batch + boundaries.shape[-1:])
    exists = exists.expand(batch + exists.shape[-1:])
    # b_0 = 0 starts the first cycle; cycle k runs from b_{k-1} to b_k.
    starts = torch.nn.functional.pad(boundaries, (1, 0))
    before = starts[..., 1:-1] - starts[..., :-2]  # length of cycle k
    after = starts[..., 2:] - starts[..., 1:-1]  # length of cycle k + 1
    valid = exists[..., 1:]  # cycle k + 1 must end inside the signal
    if not bool(valid.any()):
        raise _too_short(audio.shape, shortest)
    length = torch.minimum(before, after)
    difference, energy = _cycle_sums(
        audio,
        starts[..., :-2],
        starts[..., 1:-1],
        length,
        valid,
        kernel_spec,
        reads_per_cycle,
        with_energy=normalization == "energy",
    )
    if normalization == "none":
        per_cycle = _safe_sqrt(difference)
    else:
        per_cycle = _safe_ratio(difference, energy)

    cycle_weight = valid.to(per_cycle.dtype)
    boundary_frame = starts[..., 1:-1] / hop
    if weights is not None:
        cycle_weight = cycle_weight * sample(weights, boundary_frame, "linear", padding="clamp")
    if reduction == "none":
        return _pool_to_frames(per_cycle, cycle_weight, boundary_frame, n_frames)
    return _reduce(per_cycle, cycle_weight, reduction)


def _too_short(audio_shape, shortest_log2_period: float) -> ValueError:
    return ValueError(
        f"audio is too short for the envelope: {audio_shape[-1]} samples hold fewer than two "
        f"whole cycles (shortest period {2**shortest_log2_period:.4g} samples), so no cycle "
        "has a successor to compare with" + _channels_last_hint(audio_shape)
    )


def _native_unsupported(
    period_envelope,
    audio,
    kernel,
    half_width,
    weights,
    reduction,
    envelope_interp,
    reads_per_cycle,
) -> str:
    """Why the fused kernel cannot compute this call ("" when it can)."""
    for condition, reason in (
        (audio.device.type != "cpu" or period_envelope.device.type != "cpu", "non-CPU tensors"),
        (kernel == "sinc" and half_width > _native.MAX_HALF_WIDTH, f"half_width={half_width}"),
        (audio.requires_grad, "gradients with respect to the audio"),
        (weights is not None, "weights"),
        (reduction == "none", "reduction='none'"),
        (envelope_interp != "linear", f"envelope_interp={envelope_interp!r}"),
        (reads_per_cycle is not None, "reads_per_cycle"),
    ):
        if condition:
            return reason
    return ""


def _row_index(tensor: Tensor, batch: torch.Size) -> Tensor | None:
    """For each row of ``batch``, the row of ``tensor (..., n)`` it reads, int64 and
    contiguous for the kernel; ``None`` when the shapes match (row r reads row r)."""
    if tensor.shape[:-1] == batch:
        return None
    rows = torch.arange(math.prod(tensor.shape[:-1])).reshape(tensor.shape[:-1])
    return rows.expand(batch).contiguous()  # not flatten(): it keeps an expand's 0 strides


def _native_cycle_loss(
    period_envelope, audio, hop, kernel, normalization, reduction, shortest_log2_period
):
    """The cycle-form loss by the fused C kernel (the arguments checked by the caller).

    One C call (``csrc/fold_cycles.c``) computes the loss (boundaries, reads,
    normalisation, reduction) and, when a gradient is wanted, its gradient with respect to
    the envelope (the reads and their slopes in the same pass over the audio), which
    :class:`_PrecomputedGradient` hands to autograd.
    """
    batch = torch.broadcast_shapes(period_envelope.shape[:-1], audio.shape[:-1])
    # The rows of the envelope and of the audio, float32 or float64, and which of them
    # each batch row reads: broadcasting copies neither.
    level = period_envelope.detach().reshape(-1, period_envelope.shape[-1]).contiguous()
    samples = audio.detach().reshape(-1, audio.shape[-1]).contiguous()
    level_row, audio_row = _row_index(period_envelope, batch), _row_index(audio, batch)
    with_grad = torch.is_grad_enabled() and period_envelope.requires_grad
    loss = samples.new_empty(())
    grad = torch.empty_like(level) if with_grad else None
    n_cycles = ctypes.c_double()
    status = _native.library().fold_cycles(
        math.prod(batch),
        level.shape[1],
        samples.shape[1],
        float(hop),
        level.data_ptr(),
        level.dtype == torch.float32,
        None if level_row is None else level_row.data_ptr(),
        level.shape[0],
        samples.data_ptr(),
        samples.dtype == torch.float32,
        None if audio_row is None else audio_row.data_ptr(),
        _native.KERNEL_CODES[kernel.name],
        kernel.half_width,
        _native.NORMALIZATION_CODES[normalization],
        reduction == "mean",
        loss.data_ptr(),
        ctypes.byref(n_cycles),
        None if grad is None else grad.data_ptr(),
    )
    _native.check_status(status)
    if n_cycles.value == 0:
        raise _too_short(audio.shape, shortest_log2_period)
    if grad is None:
        return loss
    return _PrecomputedGradient.apply(period_envelope, loss, grad.reshape(period_envelope.shape))


class _PrecomputedGradient(torch.autograd.Function):
    """``value`` as a function of ``inputs`` whose gradient ``grad`` (the shape of
    ``inputs``) was computed with it: the backward pass scales it by the incoming one."""

    @staticmethod
    def forward(ctx, inputs, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_value):
        (grad,) = ctx.saved_tensors
        return grad_value * grad, None, None


def _cycle_sums(
    audio, first_start, second_start, length, valid, kernel, reads_per_cycle, *, with_energy
):
    """Per cycle: covered sums of ``(a - b)^2`` and of ``a^2 + b^2`` (0 for invalid cycles).

    ``a`` is read from ``first_start`` and ``b`` from ``second_start`` over ``length``
    samples. Valid cycles of the whole batch are read as one flat list (so a batch mixing
    high and low voices pads nothing across items), grouped by length within a factor
    of 2 so that each group pads its reads to its own longest cycle.
    """
    n = audio.shape[-1]
    # Lay the audio rows end to end with `radius` zeros between them: a flat position
    # `row * stride + t` then reads exactly like position t of that row.
    stride = n + kernel.radius
    flat_audio = torch.nn.functional.pad(audio.reshape(-1, n), (0, kernel.radius)).reshape(-1)
    audio_row = torch.arange(flat_audio.numel() // stride, device=audio.device)
    audio_row = audio_row.reshape(audio.shape[:-1] + (1,)).expand(length.shape)
    cycle = valid.reshape(-1).nonzero().squeeze(-1)  # host sync: sets the shapes below
    offset = audio_row.reshape(-1)[cycle] * stride
    first = first_start.reshape(-1)[cycle] + offset
    second = second_start.reshape(-1)[cycle] + offset
    cycle_length = length.reshape(-1)[cycle]

    group = torch.log2(cycle_length.detach().clamp_min(1)).floor()
    shortest, longest = (int(value) for value in torch.aminmax(group))
    if reads_per_cycle is not None or shortest == longest:
        # A fixed number of reads, or lengths within a factor of 2: one group.
        difference, energy = _covered_sums(
            flat_audio, first, second, cycle_length, kernel, reads_per_cycle, with_energy
        )
    else:
        difference = audio.new_zeros(cycle.shape)
        energy = audio.new_zeros(cycle.shape) if with_energy else None
        for value in group.unique().tolist():
            members = (group == value).nonzero().squeeze(-1)
            sums = _covered_sums(
                flat_audio,
                first[members],
                second[members],
                cycle_length[members],
                kernel,
                reads_per_cycle,
                with_energy,
            )
            difference = difference.index_put((members,), sums[0])
            if with_energy:
                energy = energy.index_put((members,), sums[1])

    def unflatten(values):
        if values is None:
            return None
        return audio.new_zeros(length.numel()).index_put((cycle,), values).reshape(length.shape)

    return unflatten(difference), unflatten(energy)


def _covered_sums(flat_audio, first, second, length, kernel, reads_per_cycle, with_energy):
    read = dict(kernel=kernel.name, half_width=kernel.half_width)
    if reads_per_cycle is None:
        # One read per sample offset. All reads of a cycle share the fractional part of
        # its start, so whole cycles are read as windows (the fast path). Reads
        # s < floor(L) count fully, the read at floor(L) by the fraction of L.
        n_reads = math.ceil(float(length.detach().max()))
        if not flat_audio.requires_grad:
            return _WindowSums.apply(
                flat_audio, first, second, length, kernel, n_reads, with_energy
            )
        a = sample_windows(flat_audio, first, n_reads, **read)
        b = sample_windows(flat_audio, second, n_reads, **read)
        whole = length.detach().floor()
        coverage = (torch.arange(n_reads, device=a.device) < whole[:, None]).to(a.dtype)
        last = whole.long().clamp(max=n_reads - 1)[:, None]
        partial = (length - whole).to(a.dtype)

        def covered_sum(values):
            full = torch.linalg.vecdot(values, coverage)
            return full + partial * values.gather(-1, last).squeeze(-1)
    else:
        step = length / reads_per_cycle
        offsets = torch.arange(reads_per_cycle, device=flat_audio.device) * step[:, None]
        a = sample(flat_audio, first[:, None] + offsets, **read)
        b = sample(flat_audio, second[:, None] + offsets, **read)

        def covered_sum(values):  # each read stands for L / M samples
            return values.sum(-1) * step.to(values.dtype)

    difference = covered_sum((a - b).square())
    energy = covered_sum(a.square() + b.square()) if with_energy else None
    return difference, energy


class _WindowSums(torch.autograd.Function):
    """Covered sums of ``(a - b)^2`` (and ``a^2 + b^2``) per cycle, for audio without grad.

    ``a(s) = x(first + s)``, ``b(s) = x(second + s)``; reads ``s < floor(L)`` count fully,
    the read at ``floor(L)`` by ``L - floor(L)``. The same sums as the autograd path of
    :func:`_covered_sums`, but the backward needs no copy of the reads: the derivative
    of a read with respect to its start is the kernel's derivative applied to the same
    window, so each gradient is a few dot products of the saved values with the saved
    windows. Gradients flow to ``first``, ``second`` and ``length``.

    Shapes: ``flat_audio (S,)`` (zero outside the signals), the rest ``(K,)``; returns
    ``(K,)`` sums (and ``None`` for the energy without ``with_energy``).
    """

    @staticmethod
    def forward(ctx, flat_audio, first, second, length, kernel, n_reads, with_energy):
        # Zeros in front of the first tap of a read at 0 and behind the last window.
        front, span = kernel.radius, n_reads + len(kernel.taps) - 1
        padded = torch.nn.functional.pad(flat_audio, (front, span))
        all_windows = padded.unfold(0, span, 1)  # a view: copies only the rows selected
        dtype = flat_audio.dtype
        whole = length.floor()
        # Reads before the shortest floor(L) count in every cycle: only the columns
        # after it need a mask (for a steady pitch, one or two of them).
        n_whole = int(whole.min())
        tail_coverage = torch.arange(n_whole, n_reads, device=length.device) < whole[:, None]
        last = whole.long().clamp(max=n_reads - 1)[:, None]
        partial = (length - whole).to(dtype)

        def read(start):
            floor = start.floor()
            frac = (start - floor).to(dtype)[:, None]
            windows = all_windows.index_select(0, floor.long() + (front + kernel.taps[0]))
            return windows, frac, kernel.read_windows(windows, frac, n_reads)

        def covered(values):
            """``(values, masked tail, value at floor(L))`` and the covered sum of squares."""
            head, tail = values[:, :n_whole], values[:, n_whole:] * tail_coverage
            at_last = values.gather(-1, last).squeeze(-1)
            total = torch.linalg.vecdot(head, head) + torch.linalg.vecdot(tail, tail)
            return (values, tail, at_last), total + partial * at_last.square()

        windows_a, frac_a, a = read(first)
        windows_b, frac_b, b = read(second)
        saved, difference = covered(a - b)
        sums = [difference]
        if with_energy:
            (saved_a, energy_a), (saved_b, energy_b) = covered(a), covered(b)
            sums.append(energy_a + energy_b)
            saved += saved_a + saved_b
        ctx.save_for_backward(windows_a, frac_a, windows_b, frac_b, partial, last, *saved)
        ctx.kernel, ctx.n_whole, ctx.n_reads = kernel, n_whole, n_reads
        ctx.with_energy = with_energy
        return tuple(sums) if with_energy else (difference, None)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_difference, grad_energy):
        windows_a, frac_a, windows_b, frac_b, partial, last, *saved = ctx.saved_tensors
        kernel, n_whole, n_reads = ctx.kernel, ctx.n_whole, ctx.n_reads

        def slope_sum(values, tail, at_last, windows, frac):
            """Covered sum of ``values_s * x'(start + s)``: the kernel's derivative
            weights on the same windows."""
            total = 0
            for i, (_, slope) in enumerate(kernel.weights(frac, order=1)):
                tap = torch.linalg.vecdot(values[:, :n_whole], windows[:, i : i + n_whole])
                tap += torch.linalg.vecdot(tail, windows[:, i + n_whole : i + n_reads])
                tap += partial * at_last * windows.gather(-1, last + i).squeeze(-1)
                total = total + slope.squeeze(-1) * tap
            return total

        difference = saved[:3]
        grad_first = 2 * grad_difference * slope_sum(*difference, windows_a, frac_a)
        grad_second = -2 * grad_difference * slope_sum(*difference, windows_b, frac_b)
        grad_length = grad_difference * difference[2].square()
        if ctx.with_energy and grad_energy is not None:
            a, b = saved[3:6], saved[6:]
            grad_first = grad_first + 2 * grad_energy * slope_sum(*a, windows_a, frac_a)
            grad_second = grad_second + 2 * grad_energy * slope_sum(*b, windows_b, frac_b)
            grad_length = grad_length + grad_energy * (a[2].square() + b[2].square())
        return None, grad_first, grad_second, grad_length, None, None, None


def _safe_sqrt(x: Tensor) -> Tensor:
    # sqrt has an infinite slope at 0; a perfect match then has gradient 0, not NaN.
    return x.clamp_min(torch.finfo(x.dtype).tiny).sqrt() * (x > 0)


def _pool_to_frames(values, weight, frame_position, n_frames):
    """Weighted mean of per-cycle values at each control point (triangular weights)."""
    position = frame_position.clamp(0, n_frames - 1)
    lower = position.detach().floor().long()
    upper_share = (position - lower).to(values.dtype)
    numerator = values.new_zeros(values.shape[:-1] + (n_frames + 1,))
    denominator = torch.zeros_like(numerator)
    for index, share in ((lower, 1 - upper_share), (lower + 1, upper_share)):
        numerator = numerator.scatter_add(-1, index, values * weight * share)
        denominator = denominator.scatter_add(-1, index, weight.expand_as(values) * share)
    return _safe_ratio(numerator, denominator)[..., :n_frames]


class FoldAlignmentLoss(torch.nn.Module):
    """Module form of :func:`fold_alignment_loss` (same arguments, stored)."""

    def __init__(self, hop_length: float | None = None, **options):
        super().__init__()
        self.hop_length, self.options = hop_length, options

    def forward(self, period_envelope: Tensor, audio: Tensor, weights: Tensor | None = None):
        return fold_alignment_loss(
            period_envelope, audio, self.hop_length, weights=weights, **self.options
        )
