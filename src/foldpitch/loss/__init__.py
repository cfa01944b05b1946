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

Layout, one module per concept: :mod:`.cycle` (the cycle form and the glue to its fused
kernel), :mod:`.dense` (the dense form), :mod:`.candidates` (the fold loss at every
candidate period, by FFT, optionally along gliding periods), :mod:`.objective` (the
self-supervised objective that trains the network), :mod:`.reference` (the original
loop, corrected) and :mod:`._common` (the argument checks and reductions they share).
"""

from .candidates import candidate_fold_costs, chirped_windows, framed_difference
from .cycle import FoldAlignmentLoss, fold_alignment_loss
from .dense import DenseFoldLoss, dense_fold_loss
from .objective import SelfSupervisedFoldLoss
from .reference import reference_fold_loss

__all__ = [
    "SelfSupervisedFoldLoss",
    "candidate_fold_costs",
    "chirped_windows",
    "framed_difference",
    "FoldAlignmentLoss",
    "DenseFoldLoss",
    "dense_fold_loss",
    "fold_alignment_loss",
    "reference_fold_loss",
]
