"""Direct optimisation of a period envelope for one recording.

:func:`fit_envelope` answers the original question -- "fit the envelope to my recording
by gradient descent" -- with the recipe the loss landscape calls for (see
``docs/landscape.md``): a local gradient only sees the nearest basin, so

1. **global search**: a YIN-style cumulative-mean-normalised difference function on an
   integer lag grid, a few candidate dips per frame (each penalised when a fraction of
   it also dips, the rule behind the ``"submultiple"`` loss), and a Viterbi path across
   frames that makes octave jumps expensive;
2. **refinement**: Adam on the continuous envelope with the dense fold-alignment loss,
   coarse to fine (low-passed audio first, then the full band with a sinc kernel),
   weighted by periodicity, with a smoothness prior that is also weighted by
   periodicity so unvoiced stretches cannot drag voiced frames;
3. **voicing** from the loss itself: periodicity = 1 - the energy-normalised fold loss
   of each frame.

Periods are in samples inside; the public edges are in seconds and Hz.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import _checks
from .audio import as_float_tensor, check_hop
from .decode import viterbi
from .envelope import envelope_cycle_boundaries
from .loss import dense_fold_loss, framed_difference

__all__ = ["PitchTrack", "fit_envelope", "instantaneous_f0", "lowpass", "yin_candidates"]


@dataclass
class PitchTrack:
    """A pitch track on a regular frame grid.

    Attributes:
        times: frame times in seconds ``(n_frames,)``; frame ``f`` is at ``f * hop``.
        f0: fundamental frequency in Hz ``(n_frames,)``. Always an estimate, also in
            unvoiced frames: mask it with ``voiced``.
        periodicity: in [0, 1], 1 - the energy-normalised fold loss of the frame (0 in
            silent frames). White noise at 0 dB SNR gives about 0.6, pure noise 0.
        voiced: bool ``(n_frames,)``, ``periodicity >= voicing_threshold``.
        log2_period: the fitted envelope (log2 of the period in samples).
        pitch_marks: cycle boundaries of the fitted envelope in voiced frames, seconds.
        loss_history: the refinement objective after each Adam step.
    """

    times: Tensor
    f0: Tensor
    periodicity: Tensor
    voiced: Tensor
    log2_period: Tensor
    pitch_marks: Tensor
    loss_history: list[float] = field(default_factory=list)


def fit_envelope(
    audio,
    sample_rate: int,
    fmin: float = 50.0,
    fmax: float = 1100.0,
    hop: float = 0.01,
    *,
    init_f0: Tensor | None = None,
    coarse_steps: int = 60,
    fine_steps: int = 100,
    learning_rate: float = 0.003,
    smoothness: float = 1000.0,
    voicing_threshold: float = 0.5,
    kernel: str = "sinc",
    half_width: int = 4,
    fine_cutoff: float = 0.35,
    prior_breaks: Tensor | None = None,
) -> PitchTrack:
    """Fit the period envelope of one recording by search, then gradient descent.

    Args:
        audio: mono signal ``(time,)``, a numpy array or torch tensor, finite, at least
            four periods at ``fmin`` long. float32; float16, bfloat16 and float64 are
            computed in float32; int16 and int32 PCM are scaled to ``[-1, 1)``, as in
            :func:`foldpitch.predict` (:func:`foldpitch.audio.as_float_tensor`). Its mean
            (a DC offset) is removed first: the energy normalisation would count a DC
            offset as periodic energy. Clipped audio needs no special care (clipping
            keeps the period).
        sample_rate: in Hz, a positive integer (a whole float such as ``16000.0`` is
            accepted).
        fmin, fmax: allowed f0 range in Hz, ``0 < fmin < fmax <= sample_rate / 2``.
        hop: seconds between frames (the envelope has one control point per frame);
            frame ``k`` is at ``k * hop``.
        init_f0: optional starting f0 in Hz per frame ``(n_frames,)``, e.g. a network's
            prediction; replaces the global search. Must be finite and positive; values
            outside ``[fmin, fmax]`` are clamped to it.
        coarse_steps: Adam steps on the low-passed audio (0 to skip).
        fine_steps: Adam steps on the full-band audio.
        learning_rate: Adam step size, in octaves.
        smoothness: weight of the second-difference prior on the log2 period; each
            frame's share grows with its residual (noisier frames lean more on their
            neighbours).
        voicing_threshold: periodicity above which a frame is voiced.
        kernel, half_width: how the audio is read in the final stage (``"sinc"`` is
            unbiased on noisy audio).
        fine_cutoff: low-pass applied before the final stage, in cycles per sample
            (0.35 keeps 5.6 kHz at 16 kHz): the band where a half-width-4 sinc reads
            accurately.
        prior_breaks: optional bool ``(n_frames,)``; True at frame ``f`` lets the
            envelope jump between frames ``f - 1`` and ``f``: the smoothness prior does
            not couple frames across it (a note change, a voicing edge). ``None``: no
            breaks.

    Returns:
        A :class:`PitchTrack` with ``n_frames = floor((time - 1) / hop_samples) + 1``,
        float32 whatever the input's dtype. Digital silence gives unvoiced frames
        (periodicity 0) with finite values.

    Raises:
        TypeError: audio not a numpy array or tensor of a supported dtype;
            ``sample_rate``, ``fmin``, ``fmax`` or ``hop`` not a number.
        ValueError: audio not mono ``(time,)`` (multi-channel audio must be downmixed
            first), too short, or not finite; ``sample_rate`` not a positive whole
            number; ``fmin``/``fmax`` out of order or above Nyquist; ``hop`` under one
            sample; ``init_f0`` of the wrong shape, not finite or not positive;
            ``prior_breaks`` not a bool tensor of shape ``(n_frames,)``.

    Example:
        >>> from foldpitch.synth import harmonic_tone
        >>> track = fit_envelope(harmonic_tone(220.0, 16000, 8000), 16000, fine_steps=20)
        >>> abs(float(track.f0[track.voiced].median()) - 220.0) < 0.5
        True
    """
    audio = as_float_tensor(audio)
    sample_rate = _check_fit_args(audio, sample_rate, fmin, fmax, hop)
    hop_samples = hop * sample_rate
    n_frames = int((audio.shape[-1] - 1) // hop_samples) + 1
    if init_f0 is not None:
        _check_init_f0(init_f0, n_frames)
    prior_breaks = _check_prior_breaks(prior_breaks, n_frames)
    min_period, max_period = sample_rate / fmax, sample_rate / fmin
    # float32 whatever came in, without its mean: a DC offset would count as periodic
    # energy in the normalisation (noise plus an offset would be called voiced).
    work = audio.detach().to(torch.float64)
    work = (work - work.mean()).to(torch.float32)

    if init_f0 is None:
        log2_period = _global_search(work, hop_samples, n_frames, min_period, max_period)
    else:
        log2_period = torch.log2(sample_rate / init_f0.detach().to(torch.float32).clamp(fmin, fmax))
    envelope, band_limited, history = _descend(
        log2_period,
        work,
        sample_rate,
        hop_samples,
        (min_period, max_period),
        prior_breaks,
        coarse_steps=coarse_steps,
        fine_steps=fine_steps,
        learning_rate=learning_rate,
        smoothness=smoothness,
        kernel=kernel,
        half_width=half_width,
        fine_cutoff=fine_cutoff,
    )
    periodicity, voiced, pitch_marks = _measure(
        envelope.detach(),
        band_limited,
        work,
        sample_rate,
        hop_samples,
        max_period,
        kernel=kernel,
        half_width=half_width,
        voicing_threshold=voicing_threshold,
    )
    fitted = envelope.detach()
    return PitchTrack(
        times=torch.arange(n_frames, dtype=torch.float32) * hop,
        f0=instantaneous_f0(sample_rate / torch.exp2(fitted), hop),
        periodicity=periodicity,
        voiced=voiced,
        log2_period=fitted,
        pitch_marks=pitch_marks,
        loss_history=history,
    )


def _check_init_f0(init_f0, n_frames: int) -> None:
    if not isinstance(init_f0, Tensor) or init_f0.shape != (n_frames,):
        got = tuple(init_f0.shape) if isinstance(init_f0, Tensor) else type(init_f0).__name__
        raise ValueError(
            f"init_f0 must have shape ({n_frames},) (a tensor, one f0 in Hz per frame), got {got}"
        )
    if not bool((torch.isfinite(init_f0) & (init_f0 > 0)).all()):
        raise ValueError(
            "init_f0 must hold finite, positive frequencies in Hz; got "
            f"{int((~torch.isfinite(init_f0)).sum())} non-finite and "
            f"{int((init_f0 <= 0).sum())} non-positive value(s)"
        )


def _check_prior_breaks(prior_breaks, n_frames: int) -> Tensor:
    """``prior_breaks`` checked, ``None`` as no breaks: bool ``(n_frames,)``."""
    if prior_breaks is None:
        return torch.zeros(n_frames, dtype=torch.bool)
    if not (
        isinstance(prior_breaks, Tensor)
        and prior_breaks.dtype == torch.bool
        and prior_breaks.shape == (n_frames,)
    ):
        got = (
            f"{prior_breaks.dtype} {tuple(prior_breaks.shape)}"
            if isinstance(prior_breaks, Tensor)
            else type(prior_breaks).__name__
        )
        raise ValueError(
            f"prior_breaks must be a bool tensor of shape ({n_frames},) (True where the "
            f"envelope may jump from the previous frame), got {got}"
        )
    return prior_breaks


def _global_search(work, hop_samples, n_frames, min_period, max_period) -> Tensor:
    """The starting log2 period per frame ``(n_frames,)``: YIN candidates decoded by
    Viterbi, twice (the second time with each frame's window centred for the period the
    first pass found)."""
    search = (work, hop_samples, n_frames, min_period, max_period)
    first_pass = viterbi_path(*yin_candidates(*search))
    return viterbi_path(*yin_candidates(*search, expected_period=torch.exp2(first_pass)))


def _descend(
    log2_period,
    work,
    sample_rate,
    hop_samples,
    period_range,
    prior_breaks,
    *,
    coarse_steps,
    fine_steps,
    learning_rate,
    smoothness,
    kernel,
    half_width,
    fine_cutoff,
) -> tuple[Tensor, Tensor, list[float]]:
    """Gradient descent from ``log2_period``: on the low-passed audio (a wide basin),
    then on the band-limited audio. Returns the envelope (requires grad), the
    band-limited audio the last stage saw, and the loss of every step."""
    min_period, max_period = period_range
    envelope = log2_period.clone().requires_grad_()
    history: list[float] = []
    common = dict(
        hop_samples=hop_samples,
        max_period=max_period,
        bounds=(math.log2(min_period), math.log2(max_period)),
        learning_rate=learning_rate,
        smoothness=smoothness,
        history=history,
        # the prior's frame triples (f - 1, f, f + 1) that contain no break
        unbroken=~(prior_breaks[1:-1] | prior_breaks[2:]).to(log2_period.device),
    )
    if coarse_steps > 0:
        # Keep about three harmonics of the typical f0: a wide basin to start in.
        cutoff = min(
            3.0 * float(sample_rate / torch.exp2(log2_period).median()), 0.45 * sample_rate
        )
        _refine(
            envelope,
            lowpass(work, cutoff / sample_rate),
            coarse_steps,
            kernel="cubic",
            half_width=half_width,
            **common,
        )
    # A short sinc reads content near Nyquist with a position-dependent error that biases
    # the period (about 2 cents at 440 Hz with 1/h harmonics up to 8 kHz): the final
    # stage sees the audio band-limited to where the kernel is accurate.
    band_limited = lowpass(work, fine_cutoff)
    _refine(envelope, band_limited, fine_steps, kernel=kernel, half_width=half_width, **common)
    return envelope, band_limited, history


@torch.no_grad()
def _measure(
    envelope,
    band_limited,
    work,
    sample_rate,
    hop_samples,
    max_period,
    *,
    kernel,
    half_width,
    voicing_threshold,
) -> tuple[Tensor, Tensor, Tensor]:
    """Periodicity and voicing per frame of the fitted ``envelope``, and the pitch
    marks (cycle boundaries in voiced frames, in seconds)."""
    n_frames = envelope.shape[-1]
    frame_loss = dense_fold_loss(
        envelope,
        band_limited,
        hop_samples,
        kernel=kernel,
        half_width=half_width,
        max_period=max_period,
        envelope_interp="cubic",
        reduction="none",
    )
    periodicity = _extend_edges(
        (1 - frame_loss).clamp(0, 1),
        hop_samples,
        work.shape[-1],
        math.ceil(max_period / 2) + half_width,
    )
    # Digital silence cancels perfectly (0 / 0 counts as 0 loss) but has no pitch.
    periodicity = periodicity * ~_silent_frames(work, hop_samples, n_frames, max_period)
    voiced = periodicity >= voicing_threshold
    marks, valid = envelope_cycle_boundaries(envelope, work.shape[-1], hop_samples, interp="cubic")
    marks = marks[valid]
    mark_frames = torch.round(marks / hop_samples).long().clamp(0, n_frames - 1)
    pitch_marks = (marks[voiced[mark_frames]] / sample_rate).to(torch.float32)
    return periodicity, voiced, pitch_marks


def _refine(
    envelope,
    audio,
    steps,
    *,
    hop_samples,
    max_period,
    bounds,
    learning_rate,
    smoothness,
    history,
    kernel,
    half_width,
    unbroken,
):
    """Adam on the periodicity-weighted dense loss plus a weighted smoothness prior
    (on the frame triples where ``unbroken``, bool ``(n_frames - 2,)``)."""
    optimiser = torch.optim.Adam([envelope], lr=learning_rate)
    # Adam's steps stay near the learning rate whatever the gradient: decay it (cosine,
    # down to 1 %) so the envelope settles instead of jittering by +-lr octaves.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
    )
    options = dict(
        kernel=kernel,
        half_width=half_width,
        max_period=max_period,
        envelope_interp="cubic",
        reduction="none",
    )
    for step in range(steps):
        frame_loss = dense_fold_loss(envelope, audio, hop_samples, **options)
        if step % 10 == 0:  # weights refreshed as the envelope improves
            residual = frame_loss.detach().clamp(0, 1)
            weight = (1 - residual) ** 2  # periodicity
            # The prior grows with the residual (the noise share of the frame): a noisy
            # frame's estimate scatters unless its neighbours hold it. The floor keeps
            # it when periods are longer than the hop and frames share their samples.
            local = residual.unfold(0, 3, 1).amax(-1) if residual.numel() >= 3 else residual
            voiced_triple = weight[2:] * weight[1:-1] * weight[:-2]
            prior_weight = voiced_triple * (0.003 + local[: voiced_triple.numel()])
            prior_weight = prior_weight * unbroken[: prior_weight.numel()]
        objective = (weight * frame_loss).sum() / weight.sum().clamp_min(1e-6)
        curvature = envelope[2:] - 2 * envelope[1:-1] + envelope[:-2]
        objective = objective + smoothness * (prior_weight * curvature.square()).mean()
        optimiser.zero_grad()
        objective.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            envelope.clamp_(*bounds)
        history.append(float(objective.detach()))


def instantaneous_f0(fold_f0: Tensor, hop: float) -> Tensor:
    """Instantaneous f0 from the fold's f0, both in Hz per frame (``hop`` in seconds).

    A centred fold matches ``x(t - P/2)`` with ``x(t + P/2)``, so ``1/P`` is the mean
    frequency over one period around ``t``: ``1/P = f + f'' P^2 / 24 + O(P^4)``. On a
    60 Hz tone with a 6 Hz, +-100 cent vibrato that term is about 1.6 cents; subtracting
    it (``f''`` from second differences across frames) leaves the instantaneous f0.
    """
    if fold_f0.shape[-1] < 3:
        return fold_f0
    curvature = torch.zeros_like(fold_f0)
    curvature[1:-1] = (fold_f0[2:] - 2 * fold_f0[1:-1] + fold_f0[:-2]) / hop**2
    curvature[0], curvature[-1] = curvature[1], curvature[-2]
    return fold_f0 - curvature / (24 * fold_f0.square())


def _silent_frames(audio: Tensor, hop_samples: float, n_frames: int, window: float) -> Tensor:
    """Frames whose RMS over ``window`` samples is 60 dB below the loudest frame's."""
    power = torch.nn.functional.pad(audio.square().cumsum(-1), (1, 0))
    centre = torch.arange(n_frames) * hop_samples
    half = max(1.0, window / 2)
    lower = (centre - half).round().long().clamp(0, audio.shape[-1])
    upper = (centre + half).round().long().clamp(0, audio.shape[-1])
    frame_power = (power[upper] - power[lower]) / (upper - lower).clamp_min(1)
    return frame_power <= 1e-6 * frame_power.max() + torch.finfo(audio.dtype).tiny


def _extend_edges(values: Tensor, hop_samples: float, n_samples: int, margin: int) -> Tensor:
    """Frames the dense loss cannot see (within ``margin`` of the ends) copy the nearest
    frame it can see, instead of reporting the 0 of an empty frame."""
    frame_position = torch.arange(values.shape[-1]) * hop_samples
    seen = (frame_position >= margin) & (frame_position <= n_samples - 1 - margin)
    if not seen.any():
        return values
    index = torch.arange(values.shape[-1])
    first, last = int(index[seen][0]), int(index[seen][-1])
    return values[index.clamp(first, last)]


def lowpass(audio: Tensor, cutoff: float) -> Tensor:
    """Zero-phase low-pass by FFT with a raised-cosine transition.

    Args:
        audio: ``(..., time)``.
        cutoff: in cycles per sample (0 to 0.5); the transition spans ``[0.8, 1.2] *
            cutoff``.
    """
    n = audio.shape[-1]
    spectrum = torch.fft.rfft(audio, n=2 * n)  # zero-padded: no wrap-around
    frequency = torch.fft.rfftfreq(2 * n, device=audio.device)
    ramp = ((frequency / cutoff - 0.8) / 0.4).clamp(0, 1)
    gain = 0.5 * (1 + torch.cos(math.pi * ramp))
    return torch.fft.irfft(spectrum * gain, n=2 * n)[..., :n].to(audio.dtype)


def yin_candidates(
    audio: Tensor,
    hop_samples: float,
    n_frames: int,
    min_period: float,
    max_period: float,
    n_candidates: int = 5,
    submultiple_margin: float = 0.3,
    expected_period: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Candidate periods per frame from YIN's cumulative-mean-normalised difference.

    Each frame compares a window of ``ceil(max_period)`` samples with the same window
    ``tau`` samples later; the pair is centred on the frame for ``tau`` equal to
    ``expected_period`` (samples per frame; default: the geometric mean of the range),
    so on a changing pitch a second pass with the first pass's periods removes the
    time offset of the estimate. The
    dips (local minima) of the normalised difference ``d'(tau)`` within
    ``[min_period, max_period]`` are refined by parabolic interpolation; each dip's cost
    is ``d'(tau)`` plus a penalty when a fraction ``tau / k`` is not clearly worse
    (as in the ``"submultiple"`` loss), which makes multiples of the period lose to it.

    Returns:
        ``(log2_periods, costs)``, each ``(n_frames, n_candidates)``; missing candidates
        have an infinite cost.
    """
    if expected_period is None:
        expected_period = torch.full((n_frames,), math.sqrt(min_period * max_period))
    # d(tau) of a window of ceil(max_period) samples, lags 0 .. ceil(max_period); frames
    # near the ends use the nearest full window rather than one half zeros.
    difference, _ = framed_difference(
        audio.to(torch.float64),
        hop_samples,
        n_frames,
        math.ceil(max_period),
        window=math.ceil(max_period),
        centre_lag=expected_period.to(torch.float64),
    )
    max_lag = difference.shape[-1]  # number of lags
    cumulative = difference[:, 1:].cumsum(-1) / torch.arange(1, max_lag)
    normalised = torch.ones_like(difference)
    normalised[:, 1:] = difference[:, 1:] / cumulative.clamp_min(1e-12)

    low = max(2, math.floor(min_period))
    inner = normalised[:, low - 1 : max_lag]  # lags low-1 .. max_lag-1
    centre = inner[:, 1:-1]
    is_dip = (centre < inner[:, :-2]) & (centre <= inner[:, 2:])
    # Parabolic interpolation of each dip.
    left, right = inner[:, :-2], inner[:, 2:]
    curvature = (left - 2 * centre + right).clamp_min(1e-12)
    offset = (0.5 * (left - right) / curvature).clamp(-0.5, 0.5)
    dip_lag = torch.arange(low, max_lag - 1, dtype=torch.float64) + offset
    dip_value = (centre - 0.25 * (left - right) * offset).clamp_min(0)
    in_range = (dip_lag >= min_period) & (dip_lag <= max_period)
    cost = torch.where(is_dip & in_range, dip_value, torch.full_like(dip_value, math.inf))

    # Sub-multiple penalty, read from the normalised difference at tau / k.
    penalty = torch.zeros_like(cost)
    for k in range(2, int(max_period / min_period) + 1):
        fraction = dip_lag / k
        lower = fraction.floor().long().clamp(1, max_lag - 2)
        share = (fraction - lower).clamp(0, 1)
        at_fraction = (
            normalised.gather(1, lower) * (1 - share) + normalised.gather(1, lower + 1) * share
        )
        usable = fraction >= min_period
        shortfall = (submultiple_margin - (at_fraction - dip_value)).clamp_min(0)
        penalty = torch.maximum(penalty, shortfall * usable)
    cost = cost + penalty

    n_candidates = min(n_candidates, cost.shape[1])
    best_cost, best = cost.topk(n_candidates, dim=1, largest=False)
    return torch.log2(dip_lag.gather(1, best)).to(torch.float32), best_cost


def viterbi_path(log2_periods: Tensor, costs: Tensor, octave_cost: float = 1.0) -> Tensor:
    """Cheapest path through per-frame candidates; a jump of one octave costs ``octave_cost``
    (:func:`foldpitch.decode.viterbi`, with the costs as negative scores).

    Frames without any finite candidate are left out of the path (their neighbours join
    across them) and take the previous frame's period (the next one's at the start).
    Returns the chosen log2 period per frame ``(n_frames,)``.
    """
    empty = torch.isinf(costs).all(dim=1)
    if bool(empty.all()):
        return torch.full(
            costs.shape[:1], float(log2_periods[torch.isfinite(log2_periods)].median())
        )
    kept = (~empty).nonzero()[:, 0]
    positions = log2_periods[kept].double().numpy()[None]
    choice = viterbi(-costs[kept].double().numpy()[None], octave_cost, positions)[0]
    path = torch.empty(costs.shape[0], dtype=log2_periods.dtype)
    path[kept] = log2_periods[kept].gather(1, torch.from_numpy(choice)[:, None]).squeeze(1)
    # A frame without candidates inherits its neighbour's period.
    index = torch.arange(costs.shape[0])
    nearest = torch.where(~empty, index, torch.full_like(index, -1)).cummax(0).values
    nearest = torch.where(nearest < 0, kept[0], nearest)
    return path[nearest]


def _check_fit_args(audio, sample_rate, fmin, fmax, hop) -> int:
    """Checks the arguments of :func:`fit_envelope` (``audio`` a floating-point tensor);
    returns the sample rate as an int."""
    if audio.ndim != 1:
        raise ValueError(
            f"audio must be mono with shape (time,), got {tuple(audio.shape)}; downmix "
            "several channels first (e.g. audio.mean(dim=0) for (channels, time))"
        )
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    for name, value in (("fmin", fmin), ("fmax", fmax)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number of Hz, got {value!r}")
    check_hop(hop, sample_rate)
    if not (0 < fmin < fmax <= sample_rate / 2):
        raise ValueError(
            f"need 0 < fmin < fmax <= sample_rate / 2 = {sample_rate / 2:g} Hz, "
            f"got fmin={fmin}, fmax={fmax}"
        )
    if audio.shape[0] < 4 * sample_rate / fmin:
        raise ValueError(
            f"audio is too short: {audio.shape[0]} samples, need at least "
            f"{math.ceil(4 * sample_rate / fmin)} (four periods at fmin={fmin} Hz)"
        )
    if not bool(torch.isfinite(audio).all()):
        raise ValueError(
            f"audio must be finite; got {int(torch.isnan(audio).sum())} NaN and "
            f"{int(torch.isinf(audio).sum())} infinite samples (NaN or Inf)"
        )
    return sample_rate
