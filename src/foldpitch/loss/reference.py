"""The original per-cycle loop, corrected: for tests and benchmarks only."""

from __future__ import annotations

import torch
from torch import Tensor


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
