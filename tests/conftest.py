"""Shared references of the tests."""

from __future__ import annotations

import pytest
import torch


def local_mean_f0(net, out, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """f0 (Hz, float64) of each frame's most probable (allowed) bin by ``predict``'s
    readout, recomputed in float64 from the network's output ``out``: the
    probability-weighted mean of the log2 periods (bin edge plus offset) of the allowed
    bins within ``foldpitch.predict.LOCAL_MEAN_BINS`` of it."""
    from foldpitch.predict import LOCAL_MEAN_BINS

    if allowed is None:
        allowed = torch.ones(net.n_period_bins, dtype=torch.bool)
    logits = torch.where(allowed, out.logits.double(), -torch.inf)
    probs = torch.softmax(logits, -1)
    best = logits.argmax(-1)
    edges = net.log2_period_edges.double()[: net.n_period_bins]
    values = edges + out.offsets.double() * net.bin_width
    near = (torch.arange(net.n_period_bins) - best[..., None]).abs() <= LOCAL_MEAN_BINS
    weight = probs * near
    log2_period = (weight * values).sum(-1) / weight.sum(-1)
    return net.sample_rate / 2**log2_period


@pytest.fixture(name="local_mean_f0")
def local_mean_f0_fixture():
    """:func:`local_mean_f0`, for the tests that check ``predict``'s f0 readout."""
    return local_mean_f0
