"""Frame-level f0 metrics against an exact reference, via ``mir_eval.melody``.

The estimate is resampled onto the reference time grid (10 ms in this benchmark) with
``mir_eval.melody.to_cent_voicing``: f0 is interpolated linearly in cents between voiced
frames, voicing is held from the last estimated frame (zero-order), and frames past the
end of the estimate are unvoiced. f0 values <= 0 or NaN mean unvoiced, in the reference
and in the estimate (see :mod:`benchmarks.accuracy.methods` for why a voicing miss is
also a pitch miss here).

Metrics returned by :func:`evaluate` (fractions in [0, 1] unless stated; NaN where the
denominator is empty):

- ``raw_pitch_accuracy``: fraction of voiced reference frames where the estimate is
  voiced and within 50 cents of the reference (mir_eval's RPA, tolerance ``< 50``).
- ``raw_chroma_accuracy``: the same, ignoring octave errors (mir_eval's RCA).
- ``overall_accuracy``: fraction of all frames that are right: unvoiced frames
  estimated unvoiced, plus voiced frames estimated voiced within 50 cents (mir_eval).
- ``voicing_recall``: fraction of voiced reference frames estimated voiced.
- ``voicing_false_alarm``: fraction of unvoiced reference frames estimated voiced.
- ``octave_error``: ``raw_chroma_accuracy - raw_pitch_accuracy``, the fraction of voiced
  reference frames within 50 cents of the reference shifted by a whole number of octaves
  (but not of the reference itself).
- ``gross_pitch_error``: fraction of voiced reference frames where the estimate is
  voiced and off by more than 20 %: ``|f_est / f_ref - 1| > 0.2``. (The denominator is
  all voiced reference frames, so with 100 % voicing recall it equals the classic GPE
  over frames both call voiced.)
- ``fine_pitch_error_cents``: mean absolute error in cents over the frames where both
  are voiced and the estimate is within 50 cents (the frames RPA counts as correct).
- ``rms_cents``: root mean square error in cents over all frames where both are voiced
  (gross errors included, so it is dominated by octave errors when there are any).
- ``n_frames``, ``n_voiced``: number of reference frames, and of voiced ones.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["METRICS", "evaluate"]

# name -> (short column label, description); the order of the results tables
METRICS = {
    "raw_pitch_accuracy": ("RPA", "raw pitch accuracy, 50 cents (voiced and right)"),
    "pitch_accuracy_all": (
        "RPA*",
        "raw pitch accuracy of the pitch guess on every reference-voiced frame, whatever "
        "the voicing decision (mir_eval's usual RPA; – for methods without such a guess)",
    ),
    "raw_chroma_accuracy": ("RCA", "raw chroma accuracy, 50 cents"),
    "overall_accuracy": ("OA", "overall accuracy"),
    "voicing_recall": ("VR", "voicing recall"),
    "voicing_false_alarm": ("VFA", "voicing false alarm"),
    "octave_error": ("Oct", "octave errors (right chroma, wrong octave: RCA - RPA)"),
    "gross_pitch_error": ("GPE", "gross pitch error, > 20 %"),
    "fine_pitch_error_cents": ("FPE¢", "fine pitch error, mean |cents| within 50 cents"),
    "rms_cents": ("RMS¢", "RMS cents over frames both voiced"),
}

CENT_TOLERANCE = 50.0
GROSS_RELATIVE_ERROR = 0.2


def _clean(f0) -> np.ndarray:
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    return np.where(np.isfinite(f0) & (f0 > 0), f0, 0.0)


def evaluate(reference_times, reference_f0, estimated_times, estimated_f0) -> dict[str, float]:
    """All metrics of one estimate against its reference (see the module doc).

    Args:
        reference_times: ``(T,)`` seconds, uniform grid (10 ms here).
        reference_f0: ``(T,)`` Hz, 0 (or NaN) where unvoiced.
        estimated_times: ``(S,)`` seconds, the method's own grid.
        estimated_f0: ``(S,)`` Hz, 0 (or NaN) where unvoiced.
    """
    import mir_eval.melody as melody

    reference_times = np.asarray(reference_times, dtype=np.float64).reshape(-1)
    estimated_times = np.asarray(estimated_times, dtype=np.float64).reshape(-1)
    reference_f0 = _clean(reference_f0)
    estimated_f0 = _clean(estimated_f0)
    if reference_times.shape != reference_f0.shape:
        raise ValueError("reference_times and reference_f0 differ in length")
    if estimated_times.shape != estimated_f0.shape:
        raise ValueError("estimated_times and estimated_f0 differ in length")
    if len(estimated_times) == 0:  # nothing estimated: all unvoiced
        estimated_times, estimated_f0 = reference_times[:1], np.zeros(1)

    with warnings.catch_warnings():
        # mir_eval warns on empty voicing (e.g. a method that says unvoiced throughout)
        warnings.simplefilter("ignore", UserWarning)
        ref_voicing, ref_cent, est_voicing, est_cent = melody.to_cent_voicing(
            reference_times, reference_f0, estimated_times, estimated_f0
        )
        if reference_times[0] > 0:  # to_cent_voicing prepended a frame at t = 0: drop it
            ref_voicing, ref_cent = ref_voicing[1:], ref_cent[1:]
            est_voicing, est_cent = est_voicing[1:], est_cent[1:]
        ref_voiced = ref_voicing > 0
        est_voiced = (est_voicing > 0) & (est_cent > 0)
        est_voicing = est_voiced.astype(np.float64)
        n_voiced = int(ref_voiced.sum())
        n_unvoiced = int((~ref_voiced).sum())
        result = {
            "raw_pitch_accuracy": melody.raw_pitch_accuracy(
                ref_voicing, ref_cent, est_voicing, est_cent, CENT_TOLERANCE
            ),
            "raw_chroma_accuracy": melody.raw_chroma_accuracy(
                ref_voicing, ref_cent, est_voicing, est_cent, CENT_TOLERANCE
            ),
            "overall_accuracy": melody.overall_accuracy(
                ref_voicing, ref_cent, est_voicing, est_cent, CENT_TOLERANCE
            ),
            "voicing_recall": melody.voicing_recall(ref_voicing, est_voicing),
            "voicing_false_alarm": melody.voicing_false_alarm(ref_voicing, est_voicing),
        }

    both = ref_voiced & est_voiced
    error_cents = (est_cent - ref_cent)[both]
    gross = np.abs(2.0 ** (error_cents / 1200) - 1) > GROSS_RELATIVE_ERROR
    fine = np.abs(error_cents)[np.abs(error_cents) < CENT_TOLERANCE]
    nan = math.nan
    result.update(
        {
            "gross_pitch_error": float(gross.sum() / n_voiced) if n_voiced else nan,
            "fine_pitch_error_cents": float(fine.mean()) if fine.size else nan,
            "rms_cents": float(np.sqrt(np.mean(error_cents**2))) if error_cents.size else nan,
        }
    )
    for key in ("raw_pitch_accuracy", "raw_chroma_accuracy", "voicing_recall"):
        result[key] = float(result[key]) if n_voiced else nan
    result["voicing_false_alarm"] = float(result["voicing_false_alarm"]) if n_unvoiced else nan
    result["overall_accuracy"] = float(result["overall_accuracy"])
    result["octave_error"] = result["raw_chroma_accuracy"] - result["raw_pitch_accuracy"]
    result["n_frames"] = len(ref_voiced)
    result["n_voiced"] = n_voiced
    return result
