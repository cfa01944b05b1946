"""The fold loss of every frame at every candidate period, by FFT."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _checks
from ._common import _check_audio, _safe_ratio


def framed_difference(
    audio: Tensor,
    hop_length: int,
    n_frames: int,
    max_lag: int,
    *,
    window: int | None = None,
    centre_lag: float | Tensor | None = None,
    upsample: int = 1,
    first_sample: int = 0,
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
        hop_length: samples between frames (frame ``f`` at sample ``first_sample + f *
            hop_length``).
        n_frames: number of frames.
        max_lag: largest lag in samples (an integer).
        window: window length in samples (default ``max_lag``).
        centre_lag: lag (samples) whose pair is centred on the frame, a number or
            ``(n_frames,)``; default ``max_lag / 2``.
        upsample: lag grid points per sample.
        first_sample: the sample of frame 0.

    Returns:
        ``(difference, energy)``, each ``(..., n_frames, max_lag * upsample + 1)``.
    """
    window = max_lag if window is None else window
    for name, value in (("max_lag", max_lag), ("window", window), ("upsample", upsample)):
        _checks.positive_int(name, value)
    span = window + max_lag + 1
    if centre_lag is None:
        centre_lag = max_lag / 2
    frames = torch.arange(n_frames, dtype=torch.float64, device=audio.device)
    centres = first_sample + frames * hop_length
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
    chirps: Sequence[float] = (),
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

    The window assumes one period throughout, so a period that moves fast (speech)
    leaves a shallow dip. With ``chirps``, each frame is also read on its audio
    time-warped so that a period changing by ``±c`` cents per frame becomes constant,
    keeping its value at the frame (:func:`chirped_windows`), and each bin costs its
    cheapest reading: the table then follows gliding pitch without labels. Frames whose
    warped window would leave the audio keep the plain reading.

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
    min_period = 2 ** float(edges[0])
    if min_period < 1:
        raise ValueError(f"the shortest period must be at least 1 sample, got {min_period:g}")
    for chirp in chirps:
        if not (math.isfinite(chirp) and chirp > 0):
            raise ValueError(f"chirps must be positive cents per frame, got {list(chirps)}")
    settings = (edges, submultiple_margin, upsample, time_symmetric)
    with torch.no_grad():
        cost, energy = _bin_costs(audio, hop_length, n_frames, *settings)
        if chirps:
            # the warped window must hold the centred pair of windows (framed_difference)
            half_width = math.ceil(1.25 * _max_lag(edges)) + 1
            for cents in [sign * chirp for chirp in chirps for sign in (1, -1)]:
                windows, within = chirped_windows(audio, hop_length, n_frames, cents, half_width)
                # one frame per window, at its centre
                warped, _ = _bin_costs(windows, 1, 1, *settings, first_sample=half_width)
                warped = warped[..., 0, :]
                cost = torch.where(within[..., None], torch.minimum(cost, warped), cost)
        loudest = energy.amax(-1, keepdim=True)
        silent = energy <= loudest * 10 ** (silence_db / 10)
        return torch.where(silent[..., None], torch.ones_like(cost), cost)


def chirped_windows(
    audio: Tensor, hop_length: int, n_frames: int, cents_per_frame: float, half_width: int
) -> tuple[Tensor, Tensor]:
    """Per frame, the audio around it time-warped so that a period changing steadily by
    ``cents_per_frame`` each frame becomes constant, its value at the frame kept.

    Time runs at ``P(t) / P(t_f) = exp(r (t - t_f))`` with ``r`` the slope of the log
    period per sample, so warped sample ``u`` lies at ``t_f - log(1 - r u) / r``; the
    audio is read there by linear interpolation.

    Args:
        audio: ``(..., n_samples)``.
        hop_length: samples between frames (frame ``f`` at sample ``f * hop_length``).
        n_frames: number of frames.
        cents_per_frame: the period's slope (positive: the period grows, the pitch falls).
        half_width: warped samples each side of the frame.

    Returns:
        ``(windows, inside)``: ``(..., n_frames, 2 * half_width + 1)``, centred on each
        frame, and ``(n_frames,)`` whether the frame's window lies within the audio
        (outside it the window reads 0).
    """
    rate = cents_per_frame / 1200 * math.log(2) / hop_length
    if abs(rate) * half_width >= 0.5:
        raise ValueError(
            f"cents_per_frame={cents_per_frame} is too steep for windows of "
            f"{half_width} samples each side at hop_length={hop_length}"
        )
    warped = torch.arange(-half_width, half_width + 1, dtype=torch.float64)
    offsets = -torch.log1p(-rate * warped) / rate if rate else warped
    frames = torch.arange(n_frames, dtype=torch.float64)
    positions = (frames[:, None] * hop_length + offsets).to(audio.device)
    last = audio.shape[-1] - 1
    inside = (positions[:, 0] >= 0) & (positions[:, -1] <= last)
    lower = positions.floor().clamp(0, max(last - 1, 0)).long()
    share = (positions - lower).clamp(0, 1).to(audio.dtype)
    padded = torch.nn.functional.pad(audio, (0, 1))  # one-sample audio has no right neighbour
    windows = padded[..., lower] * (1 - share) + padded[..., lower + 1] * share
    outside = (positions < 0) | (positions > last)
    return windows.masked_fill(outside, 0.0), inside


def _max_lag(edges: Tensor) -> int:
    """The longest lag, in samples, the table of bins ``edges`` compares."""
    return math.ceil(2 ** float(edges[-1])) + 1


def _bin_costs(
    audio,
    hop_length,
    n_frames,
    edges,
    submultiple_margin,
    upsample,
    time_symmetric,
    first_sample=0,
):
    """The table of :func:`candidate_fold_costs` before the silence gate, and each
    frame's energy ``(..., n_frames)``; frame ``f`` at sample ``first_sample + f *
    hop_length``."""
    max_lag = _max_lag(edges)
    min_period, max_period = 2 ** float(edges[0]), 2 ** float(edges[-1])
    normalised, frame_energy = _normalised_difference(
        audio, hop_length, n_frames, max_lag, upsample, first_sample
    )
    if time_symmetric:
        # A window compared with the window P later reaches further after the frame
        # than before it, so onsets look late and offsets long. The same measure on
        # the reversed signal has the opposite bias; their mean, weighted by the
        # energy each one saw (one that saw almost silence says little), is centred.
        # padded so that the reversed frames fall on the same grid, in reverse order
        span = audio.shape[-1] - 1 - 2 * first_sample
        last_frame = max(n_frames - 1, -(-span // hop_length))
        padding = 2 * first_sample + last_frame * hop_length + 1 - audio.shape[-1]
        reversed_audio = torch.nn.functional.pad(audio, (0, padding)).flip(-1)
        backward, backward_energy = _normalised_difference(
            reversed_audio, hop_length, last_frame + 1, max_lag, upsample, first_sample
        )
        backward = backward.flip(-2)[..., :n_frames, :]
        backward_energy = backward_energy.flip(-1)[..., :n_frames]
        total_energy = frame_energy + backward_energy
        normalised = _safe_ratio(
            normalised * frame_energy[..., None] + backward * backward_energy[..., None],
            total_energy[..., None],
        )
        frame_energy = total_energy
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
    return cost, frame_energy


def _normalised_difference(audio, hop_length, n_frames, max_lag, upsample, first_sample=0):
    """YIN's cumulative-mean normalised difference of every frame, and the frame energy."""
    difference, energy = framed_difference(
        audio,
        hop_length,
        n_frames,
        max_lag,
        window=max_lag - 1,
        upsample=upsample,
        first_sample=first_sample,
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
