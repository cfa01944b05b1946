"""Frame-level pitch metrics, in torch, for monitoring training against known f0.

The definitions follow ``mir_eval.melody`` (the accuracy benchmark uses mir_eval itself):

* raw pitch accuracy: among frames voiced in the reference, the share whose estimated
  f0 is within ``tolerance_cents`` of the reference (whatever the estimated voicing);
* gross octave errors: among the same frames, the share off by about an octave or more
  (``|error| > octave_cents - tolerance_cents``);
* voicing recall: voiced frames called voiced; voicing false alarm: unvoiced frames
  called voiced;
* median and mean absolute error in cents over the frames within the tolerance.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pitch_metrics"]


def pitch_metrics(
    f0: Tensor,
    voiced: Tensor,
    true_f0: Tensor,
    true_voiced: Tensor,
    tolerance_cents: float = 50.0,
) -> dict[str, float]:
    """Compare an estimated f0 track with the reference, frame by frame.

    Args:
        f0: estimated f0 in Hz, any shape (every frame gets a pitch, voiced or not).
        voiced: estimated voicing, bool, same shape.
        true_f0: reference f0 in Hz, same shape (values at unvoiced frames ignored).
        true_voiced: reference voicing, bool, same shape.
        tolerance_cents: half-width of a correct pitch.

    Returns:
        ``raw_pitch_accuracy``, ``octave_error_rate``, ``voicing_recall``,
        ``voicing_false_alarm`` (fractions in [0, 1]; NaN when there is nothing to count),
        ``median_cents`` and ``mean_abs_cents`` (over correct frames), ``n_voiced``.

    Example:
        >>> f0 = torch.tensor([100.0, 200.0, 100.0, 100.0])
        >>> m = pitch_metrics(f0, torch.tensor([True, True, True, False]),
        ...                   torch.tensor([100.0, 100.0, 0.0, 0.0]),
        ...                   torch.tensor([True, True, False, False]))
        >>> m["raw_pitch_accuracy"], m["octave_error_rate"], m["voicing_false_alarm"]
        (0.5, 0.5, 0.5)
    """
    shapes = {t.shape for t in (f0, voiced, true_f0, true_voiced)}
    if len(shapes) != 1:
        raise ValueError(f"f0, voiced, true_f0 and true_voiced must share one shape, got {shapes}")
    true_voiced = true_voiced.bool() & (true_f0 > 0)
    voiced = voiced.bool()
    cents = 1200 * torch.log2(f0.double().clamp_min(1e-6) / true_f0.double().clamp_min(1e-6))
    error = cents[true_voiced].abs()
    correct = error <= tolerance_cents

    def share(mask: Tensor) -> float:
        return float(mask.double().mean()) if mask.numel() else float("nan")

    return {
        "raw_pitch_accuracy": share(correct),
        "octave_error_rate": share(error > 1200 - tolerance_cents),
        "voicing_recall": share(voiced[true_voiced]),
        "voicing_false_alarm": share(voiced[~true_voiced]),
        "median_cents": float(error[correct].median()) if correct.any() else float("nan"),
        "mean_abs_cents": float(error[correct].mean()) if correct.any() else float("nan"),
        "n_voiced": int(true_voiced.sum()),
    }
