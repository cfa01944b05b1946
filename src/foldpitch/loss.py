"""The fold-alignment loss: a periodic signal cancels against itself one period later.

Two forms, both differentiable with respect to the period envelope (log2 of the period
in samples at control points, see :mod:`foldpitch.envelope`) and the audio:

* :func:`fold_alignment_loss`, the **cycle-boundary form**, with the original
  semantics: walk the signal cycle by cycle (boundaries where the phase crosses an
  integer), compare the cycle before each boundary with the cycle after it over the
  shorter of the two lengths, and accumulate the norm of the difference. Vectorised
  over cycles and batch; sub-sample boundaries; the original's bugs (comparing with a
  single sample, reading past the end of the envelope) fixed. On CPU its common case
  runs in a fused C kernel (``backend=``, :mod:`foldpitch._native`), the same loss and
  gradient without the fixed cost of a few hundred small tensor operations.
* :func:`dense_fold_loss`, the **dense form**: compare ``x(t - P/2)`` with
  ``x(t + P/2)`` (or ``x(t)`` with ``x(t + P)``) at every sample ``t`` of a fixed valid
  region, pooled per envelope frame. This is the form to train with.

Normalisations (``normalization=``):

* ``"none"``: the raw squared difference (dense: mean per sample) or, in the cycle
  form, the original's norm of the difference per cycle. Not scale invariant; its
  minima include period -> 0 and every multiple of the period.
* ``"energy"``: ``sum (a - b)^2 / sum (a^2 + b^2)`` per cycle or frame: scale invariant,
  in ``[0, 2]`` (1 for uncorrelated stretches). Still ties at every multiple of the
  period.
* ``"submultiple"`` (dense form): the energy-normalised loss plus a penalty when a
  fraction ``P / k`` (``k = 2, 3, ...`` while ``P / k >= min_period``) cancels nearly as
  well as ``P`` itself -- a differentiable form of YIN's "first dip" rule. On a periodic
  signal its global minimum over ``[min_period, max_period]`` is the true period, not a
  multiple of it; with bounded periods it cannot collapse to 0. This is the loss a
  network can be trained with.

:func:`reference_fold_loss` is the original Python loop with its bugs fixed, kept for
tests and benchmarks only (it rounds periods to integers: no gradient).

Inputs (both forms and :func:`candidate_fold_costs`):

* ``audio`` and ``period_envelope`` must be finite: NaN or infinite values are refused
  with a ``ValueError`` that counts them (a NaN would otherwise spread through the
  normalisation into the whole loss).
* float32 and float64 are computed in their own dtype; float16 and bfloat16 inputs are
  computed in float32 and the loss is float32 (as under ``torch.autocast``), gradients
  flowing back in the inputs' dtypes. Integer audio is refused (scale PCM first).
* Time is the last axis. ``(channels, time)`` audio is a batch: every channel is
  compared with itself under the (broadcast) envelope; ``(time, channels)`` audio is
  refused with a hint to downmix or transpose.
* Digital silence gives a loss of 0 with a zero gradient (0 / 0 counts as a perfect
  match), never NaN.
"""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from . import _native
from .envelope import (
    _check_envelope,
    _check_finite,
    envelope_cycle_boundaries,
    period_curve,
    resolve_hop_length,
)
from .interp import KERNELS, Kernel, sample, sample_windows

__all__ = [
    "SelfSupervisedFoldLoss",
    "candidate_fold_costs",
    "framed_difference",
    "FoldAlignmentLoss",
    "DenseFoldLoss",
    "dense_fold_loss",
    "fold_alignment_loss",
    "reference_fold_loss",
]

REDUCTIONS = ("mean", "sum", "none")
CYCLE_NORMALIZATIONS = ("none", "energy")
MIN_CYCLE_LOG2_PERIOD = -2.0  # a quarter sample: the shortest period the cycle form takes
DENSE_NORMALIZATIONS = ("none", "energy", "submultiple")
ALIGNMENTS = ("centered", "forward", "backward")
BACKENDS = ("auto", "native", "torch")


# --- the cycle-boundary form -------------------------------------------------------


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
    period_envelope, audio, weights = _check_loss_args(
        period_envelope, audio, kernel, half_width, reduction, weights
    )
    _check_choice("normalization", normalization, CYCLE_NORMALIZATIONS)
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
    _check_choice("backend", backend, BACKENDS)
    n_samples, n_frames = audio.shape[-1], period_envelope.shape[-1]
    hop = resolve_hop_length(hop_length, n_frames, n_samples)
    _check_frames_fit(n_frames, hop, audio.shape)
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


# --- the dense form ----------------------------------------------------------------


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
    _check_choice("normalization", normalization, DENSE_NORMALIZATIONS)
    _check_choice("align", align, ALIGNMENTS)
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


# --- the fold loss at many candidate periods ------------------------------------------


def framed_difference(
    audio: Tensor,
    hop_length: int,
    n_frames: int,
    max_lag: int,
    *,
    window: int | None = None,
    centre_lag: float | Tensor | None = None,
    upsample: int = 1,
) -> tuple[Tensor, Tensor]:
    """Per frame, a window of audio against the same window ``lag`` samples later.

    For every frame ``f`` and every lag on the grid ``0, 1/upsample, ..., max_lag``::

        difference[f, j] = sum_{i < window} (x[s_f + i] - x[s_f + i + lag_j]) ** 2
        energy[f, j]     = sum_{i < window} x[s_f + i] ** 2 + x[s_f + i + lag_j] ** 2

    computed with the FFT, in O(window log window) per frame whatever the number of lags.
    Fractional lags read the correlation by band-limited (trigonometric) interpolation
    and the energies linearly. The window starts at ``s_f = round(f * hop_length -
    (window + centre_lag) / 2)``, so the pair is centred on the frame for ``lag ==
    centre_lag``; frames near the ends use the nearest window that fits the audio.

    Args:
        audio: ``(..., n_samples)``.
        hop_length: samples between frames (frame ``f`` at sample ``f * hop_length``).
        n_frames: number of frames.
        max_lag: largest lag in samples (an integer).
        window: window length in samples (default ``max_lag``).
        centre_lag: lag (samples) whose pair is centred on the frame, a number or
            ``(n_frames,)``; default ``max_lag / 2``.
        upsample: lag grid points per sample.

    Returns:
        ``(difference, energy)``, each ``(..., n_frames, max_lag * upsample + 1)``.
    """
    window = max_lag if window is None else window
    for name, value in (("max_lag", max_lag), ("window", window), ("upsample", upsample)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    span = window + max_lag + 1
    if centre_lag is None:
        centre_lag = max_lag / 2
    centres = torch.arange(n_frames, dtype=torch.float64, device=audio.device) * hop_length
    centre_lag = torch.as_tensor(centre_lag, dtype=torch.float64, device=audio.device)
    starts = (centres - (window + centre_lag) / 2).round().long()
    starts = starts.clamp(0, max(audio.shape[-1] - span, 0))
    padded = torch.nn.functional.pad(audio, (0, span))  # only for audio shorter than span
    segments = padded[..., starts[:, None] + torch.arange(span, device=audio.device)]

    size = 2 * span  # no wrap-around
    head = torch.fft.rfft(segments[..., :window], n=size)
    whole = torch.fft.rfft(segments, n=size)
    n_lags = max_lag * upsample + 1
    correlation = torch.fft.irfft(whole * head.conj(), n=size * upsample)[..., :n_lags]
    correlation = correlation * upsample

    cumulative = torch.nn.functional.pad(segments.square().cumsum(-1), (1, 0))
    shifted = cumulative[..., window:] - cumulative[..., : span + 1 - window]  # integer lags
    lag = torch.arange(n_lags, device=audio.device, dtype=audio.dtype) / upsample
    lower = lag.floor().long().clamp_max(max_lag - 1)
    share = lag - lower
    shifted = shifted[..., lower] * (1 - share) + shifted[..., lower + 1] * share
    energy = shifted[..., :1] + shifted
    difference = (energy - 2 * correlation).clamp_min(0)
    return difference, energy


def candidate_fold_costs(
    audio: Tensor,
    log2_period_edges: Tensor,
    hop_length: int,
    n_frames: int,
    *,
    submultiple_margin: float = 0.3,
    upsample: int = 4,
    silence_db: float = -60.0,
    time_symmetric: bool = True,
) -> Tensor:
    """The ``"submultiple"`` fold loss of every frame for each bin of candidate periods.

    The loss of period ``P`` at frame ``f`` is the energy-normalised difference of a
    window against itself ``P`` later (see :func:`framed_difference`; window
    ``ceil(max_period)`` samples, lags on a grid of ``1 / upsample`` sample) plus the
    sub-multiple penalty of :func:`dense_fold_loss`, ``max_k relu(submultiple_margin -
    (c(P / k) - c(P)))`` over the fractions ``P / k`` that are still allowed periods. A
    bin costs the loss of its best period: the dip of a signal with high harmonics is
    much narrower than a bin at long periods, so reading the bin's centre alone would
    miss it. On a periodic frame the cheapest bin holds the period itself, not a
    multiple or a fraction of it. Frames ``silence_db`` below the loudest frame of their
    example cost 1 (the value of uncorrelated noise) in every bin.

    This is the table a network's distribution over period bins is scored against (an
    expected loss, so every candidate gets a gradient); it is computed without gradient.

    Args:
        audio: ``(..., n_samples)``.
        log2_period_edges: increasing bin edges, log2 of the period in samples,
            ``(K + 1,)``; the allowed range is ``[edges[0], edges[-1]]``.
        hop_length: samples between frames; frame ``f`` at sample ``f * hop_length``.
        n_frames: number of frames.
        submultiple_margin: as in :func:`dense_fold_loss`.
        upsample: lag grid points per sample.
        silence_db: frames this far below their example's loudest frame are silent.
        time_symmetric: average the loss with that of the time-reversed signal, so that
            a frame's cost is centred on it (``False``: the window and the window ``P``
            later, which reaches further after the frame and calls onsets periodic a
            few ms late and offsets a few ms long).

    Returns:
        costs ``(..., n_frames, K)``: about 0 for a perfect period, 1 for no correlation.

    Example:
        >>> t = torch.arange(8000.0)
        >>> tone = torch.sin(2 * math.pi * t / 100) + 0.5 * torch.sin(2 * math.pi * t / 50)
        >>> edges = torch.linspace(math.log2(20), math.log2(300), 41)
        >>> costs = candidate_fold_costs(tone, edges, 160, 50)
        >>> best = costs.argmin(-1)[25]
        >>> bool(edges[best] <= math.log2(100) <= edges[best + 1])
        True
    """
    audio = _check_audio(audio)
    edges = log2_period_edges.detach().to("cpu", torch.float64)
    if edges.ndim != 1 or edges.numel() < 2 or not bool((edges.diff() > 0).all()):
        raise ValueError("log2_period_edges must be a 1-D increasing tensor of >= 2 edges")
    min_period, max_period = 2 ** float(edges[0]), 2 ** float(edges[-1])
    if min_period < 1:
        raise ValueError(f"the shortest period must be at least 1 sample, got {min_period:g}")
    with torch.no_grad():
        max_lag = math.ceil(max_period) + 1
        normalised, frame_energy = _normalised_difference(
            audio, hop_length, n_frames, max_lag, upsample
        )
        if time_symmetric:
            # A window compared with the window P later reaches further after the frame
            # than before it, so onsets look late and offsets long. The same measure on
            # the reversed signal has the opposite bias; their mean, weighted by the
            # energy each one saw (one that saw almost silence says little), is centred.
            last_frame = max(n_frames - 1, -(-(audio.shape[-1] - 1) // hop_length))
            padding = last_frame * hop_length + 1 - audio.shape[-1]
            reversed_audio = torch.nn.functional.pad(audio, (0, padding)).flip(-1)
            backward, backward_energy = _normalised_difference(
                reversed_audio, hop_length, last_frame + 1, max_lag, upsample
            )
            backward = backward.flip(-2)[..., :n_frames, :]
            backward_energy = backward_energy.flip(-1)[..., :n_frames]
            total_energy = frame_energy + backward_energy
            normalised = _safe_ratio(
                normalised * frame_energy[..., None] + backward * backward_energy[..., None],
                total_energy[..., None],
            )
            frame_energy = total_energy
        loudest = frame_energy.amax(-1, keepdim=True)
        silent = frame_energy <= loudest * 10 ** (silence_db / 10)

        # A bin costs its cheapest lag: the grid points inside it and both edges (read
        # linearly), so that a dip much narrower than the bin is not missed.
        grid_edges = torch.exp2(edges) * upsample  # bin edges in grid steps
        grid = torch.arange(math.ceil(grid_edges[0]), math.floor(grid_edges[-1]) + 1)
        grid_bin = (torch.searchsorted(grid_edges, grid.double(), right=True) - 1).clamp(
            0, len(edges) - 2
        )
        inside = normalised[..., grid.to(audio.device)]
        cost = inside.new_full(inside.shape[:-1] + (len(edges) - 1,), math.inf)
        cost = cost.scatter_reduce(-1, grid_bin.to(audio.device).expand_as(inside), inside, "amin")
        lower = grid_edges.floor().long().clamp(0, normalised.shape[-1] - 2)
        share = (grid_edges - lower).to(audio.device, normalised.dtype)
        lower = lower.to(audio.device)
        at_edges = normalised[..., lower] * (1 - share) + normalised[..., lower + 1] * share
        cost = torch.minimum(cost, torch.minimum(at_edges[..., :-1], at_edges[..., 1:]))

        # Sub-multiple penalty: the bins holding P / k (k = 2, 3, ...) for P in this bin.
        penalty = torch.zeros_like(cost)
        for k in range(2, int(max_period / min_period) + 1):
            low_edge, high_edge = edges[:-1] - math.log2(k), edges[1:] - math.log2(k)
            usable = (high_edge > edges[0]).to(audio.device)
            if not usable.any():
                break
            at_low = torch.searchsorted(edges, low_edge, right=True) - 1
            at_high = torch.searchsorted(edges, high_edge, right=False) - 1
            at_low = at_low.clamp(0, len(edges) - 2).to(audio.device)
            at_high = at_high.clamp(0, len(edges) - 2).to(audio.device)
            fraction = torch.minimum(cost[..., at_low], cost[..., at_high])
            shortfall = (submultiple_margin - (fraction - cost)).clamp_min(0)
            penalty = torch.maximum(penalty, shortfall * usable)
        cost = cost + penalty
        return torch.where(silent[..., None], torch.ones_like(cost), cost)


def _normalised_difference(audio, hop_length, n_frames, max_lag, upsample):
    """YIN's cumulative-mean normalised difference of every frame, and the frame energy."""
    difference, energy = framed_difference(
        audio, hop_length, n_frames, max_lag, window=max_lag - 1, upsample=upsample
    )
    # d(P) over its mean on (0, P]. Unlike d / energy it does not favour short lags on
    # bass-heavy sounds.
    running = difference[..., 1:].cumsum(-1) / torch.arange(
        1, difference.shape[-1], device=audio.device, dtype=difference.dtype
    )
    normalised = torch.ones_like(difference)
    normalised[..., 1:] = difference[..., 1:] / running.clamp_min(
        torch.finfo(difference.dtype).tiny
    )
    return normalised, energy[..., 0]


class SelfSupervisedFoldLoss(torch.nn.Module):
    """The objective that trains :class:`foldpitch.model.PitchNet`: fold loss, no labels.

    Per frame, with ``p`` the softmax of the bin logits, ``c`` the
    :func:`candidate_fold_costs` of the frame's bins (the fold loss at every candidate
    period, built so that its minimum is the true period) and ``v`` the periodicity:

    * **soft-argmin** ``-sum_k q_k log p_k`` with ``q = softmax(-c / temperature)``: the
      predicted distribution is pulled towards the periods with the lowest fold loss.
      Every bin gets a gradient, so the network moves to the global minimum instead of
      the basin nearest its guess. (Minimising the expected loss ``sum_k p_k c_k``
      alone has the same minimum but learns far more slowly: its gradient
      ``p_k (c_k - E)`` vanishes wherever ``p`` is small.)
    * **periodicity** ``v c* + (1 - v) periodicity_threshold`` with ``c*`` the fold loss
      of the predicted (most probable) bin, held constant: a frame called periodic pays
      its fold loss, one called aperiodic pays the threshold. The minimum is ``v = 1``
      where the fold loss is below the threshold and ``v = 0`` above it, so the voicing
      output is trained by the fold loss alone and cannot call everything unvoiced for
      free. (The expected loss ``E = sum_k p_k c_k`` in place of ``c*`` called clean
      high tones aperiodic: their dip is narrower than the predicted distribution, so
      ``E`` was 0.5 where ``c*`` was 0.) Its minimum is a hard 0 or 1, so the trained
      periodicity is nearly binary. With ``periodicity_temperature`` set, the term is
      instead the binary cross-entropy against the graded target
      ``sigmoid((periodicity_threshold - c*) / periodicity_temperature)``: the
      periodicity then falls gradually as the fold loss nears and passes the
      threshold, and a decision threshold other than 0.5 can trade voicing recall for
      false alarms.
    * **refinement** ``refine_weight * dense_fold_loss`` of the predicted envelope (most
      probable bin plus its offset; ``"energy"`` normalisation, centred, weighted by the
      periodicity): the continuous fold loss that places the period within its bin.

    Args:
        hop_length: samples between frames.
        temperature: of the soft-argmin target, in fold-loss units.
        periodicity_threshold: fold loss (cumulative-mean normalised, about 0 periodic,
            1 noise) above which a frame should be called aperiodic.
        periodicity_temperature: ``None`` (default) for the threshold term above, or a
            positive width in fold-loss units of the graded periodicity target.
        refine_weight: weight of the dense refinement term (0 switches it off).
        kernel: interpolation kernel of the refinement term.
        submultiple_margin, upsample, time_symmetric: see :func:`candidate_fold_costs`.

    Returns (``forward``):
        A dict of scalars: ``"loss"`` (the total), ``"soft_argmin"``, ``"periodicity"``,
        ``"expected"`` (``E`` averaged over frames), ``"refine"`` and
        ``"voiced_fraction"`` (for logging).
    """

    def __init__(
        self,
        hop_length: int = 160,
        temperature: float = 0.05,
        periodicity_threshold: float = 0.7,
        periodicity_temperature: float | None = None,
        refine_weight: float = 1.0,
        kernel: str = "cubic",
        submultiple_margin: float = 0.3,
        upsample: int = 4,
        time_symmetric: bool = True,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not periodicity_threshold > 0:
            raise ValueError(f"periodicity_threshold must be > 0, got {periodicity_threshold}")
        if periodicity_temperature is not None and not periodicity_temperature > 0:
            raise ValueError(
                f"periodicity_temperature must be None or > 0, got {periodicity_temperature}"
            )
        _check_choice("kernel", kernel, KERNELS)
        self.hop_length = hop_length
        self.temperature = temperature
        self.periodicity_threshold = periodicity_threshold
        self.periodicity_temperature = periodicity_temperature
        self.refine_weight = refine_weight
        self.kernel = kernel
        self.submultiple_margin = submultiple_margin
        self.upsample = upsample
        self.time_symmetric = time_symmetric

    def forward(
        self,
        audio: Tensor,
        logits: Tensor,
        offsets: Tensor,
        periodicity_logits: Tensor,
        log2_period_edges: Tensor,
    ) -> dict[str, Tensor]:
        """Args: ``audio (batch, time)``; ``logits`` and ``offsets`` ``(batch, n_frames,
        K)``; ``periodicity_logits (batch, n_frames)``; bin edges ``(K + 1,)``, log2 of
        the period in samples. Audio must be finite (``ValueError`` otherwise); float16
        and bfloat16 audio is read in float32."""
        audio = _check_audio(audio)
        costs = candidate_fold_costs(
            audio,
            log2_period_edges,
            self.hop_length,
            logits.shape[-2],
            submultiple_margin=self.submultiple_margin,
            upsample=self.upsample,
            time_symmetric=self.time_symmetric,
        ).to(logits.dtype)
        log_p = torch.log_softmax(logits, -1)
        target = torch.softmax(-costs / self.temperature, -1)
        expected = (log_p.exp() * costs).sum(-1)  # (batch, n_frames)
        best = logits.argmax(-1, keepdim=True)
        predicted_cost = costs.gather(-1, best)[..., 0].detach()
        periodicity = torch.sigmoid(periodicity_logits)
        terms = {
            "soft_argmin": -(target * log_p).sum(-1).mean(),
            "periodicity": self._periodicity_term(periodicity_logits, periodicity, predicted_cost),
            "expected": expected.detach().mean(),
        }
        total = terms["soft_argmin"] + terms["periodicity"]
        if self.refine_weight > 0:
            width = log2_period_edges[1] - log2_period_edges[0]
            envelope = log2_period_edges[best[..., 0]] + offsets.gather(-1, best)[..., 0] * width
            terms["refine"] = dense_fold_loss(
                envelope,
                audio,
                self.hop_length,
                kernel=self.kernel,
                normalization="energy",
                weights=periodicity.detach(),
                max_period=float(torch.exp2(log2_period_edges[-1])),
            )
            total = total + self.refine_weight * terms["refine"]
        terms["voiced_fraction"] = (periodicity.detach() > 0.5).float().mean()
        terms["loss"] = total
        return terms

    def _periodicity_term(
        self, periodicity_logits: Tensor, periodicity: Tensor, predicted_cost: Tensor
    ) -> Tensor:
        if self.periodicity_temperature is None:
            threshold = self.periodicity_threshold
            return (periodicity * predicted_cost + (1 - periodicity) * threshold).mean()
        graded_target = torch.sigmoid(
            (self.periodicity_threshold - predicted_cost) / self.periodicity_temperature
        )
        # The cross-entropy's gradient, sigmoid(logit) - target, does not vanish on a
        # saturated logit, so a network trained with the hard term can be fine-tuned.
        return torch.nn.functional.binary_cross_entropy_with_logits(
            periodicity_logits, graded_target
        )


# --- shared helpers ----------------------------------------------------------------


def _safe_sqrt(x: Tensor) -> Tensor:
    # sqrt has an infinite slope at 0; a perfect match then has gradient 0, not NaN.
    return x.clamp_min(torch.finfo(x.dtype).tiny).sqrt() * (x > 0)


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    # Silence gives 0 / 0: call it a perfect match (0) with a zero gradient.
    return numerator / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)


def _reduce(values: Tensor, weight: Tensor, reduction: str) -> Tensor:
    weight = weight.expand_as(values)
    total = (values * weight).sum()
    if reduction == "sum":
        return total
    return total / weight.sum().clamp_min(torch.finfo(values.dtype).tiny)


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


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


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
    _check_choice("kernel", kernel, KERNELS)
    if isinstance(half_width, bool) or not isinstance(half_width, int) or half_width < 1:
        raise ValueError(f"half_width must be a positive integer, got {half_width!r}")
    _check_choice("reduction", reduction, REDUCTIONS)
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


# --- torch.nn wrappers ---------------------------------------------------------------


class FoldAlignmentLoss(torch.nn.Module):
    """Module form of :func:`fold_alignment_loss` (same arguments, stored)."""

    def __init__(self, hop_length: float | None = None, **options):
        super().__init__()
        self.hop_length, self.options = hop_length, options

    def forward(self, period_envelope: Tensor, audio: Tensor, weights: Tensor | None = None):
        return fold_alignment_loss(
            period_envelope, audio, self.hop_length, weights=weights, **self.options
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


# --- the original loop, corrected (tests and benchmarks only) ----------------------


def reference_fold_loss(period_envelope: Tensor, audio: Tensor, hop_length: float) -> Tensor:
    """The original per-cycle Python loop with its two bugs fixed. Not differentiable.

    Starting one period into the signal, at each boundary ``pos`` read the period
    ``m = round(2 ** envelope(pos / hop_length))`` (linear interpolation of the control
    values, **holding the last one** instead of reading past the end), add
    ``|audio[pos - m:pos] - audio[pos:pos + m]|`` (the original compared with the
    single sample ``audio[pos + m]``), and advance by ``m`` while ``pos + m`` is
    inside the signal. Shapes: ``period_envelope (n_frames,)``, ``audio (N,)``; returns
    the accumulated sum (a 0-d tensor).
    """
    if period_envelope.ndim != 1 or audio.ndim != 1:
        raise ValueError("reference_fold_loss takes a 1-d envelope and 1-d audio")
    last = period_envelope.shape[0] - 1

    def period_at(pos: int) -> int:
        index = pos / hop_length
        lower = min(int(index), last)
        upper = min(lower + 1, last)  # the original read period_envelope[lower + 1] here
        frac = index - lower if lower < last else 0.0
        log2_period = period_envelope[lower] * (1 - frac) + period_envelope[upper] * frac
        return int(round(2 ** float(log2_period)))

    total = audio.new_zeros(())
    pos = period_at(0)
    while True:
        m = period_at(pos)
        if m < 1 or pos + m > audio.shape[0] - 1:
            break
        total = total + torch.linalg.vector_norm(audio[pos - m : pos] - audio[pos : pos + m])
        pos += m
    return total
