"""The fold loss at many candidate periods (loss.framed_difference, candidate_fold_costs)
and the network's objective (loss.SelfSupervisedFoldLoss)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from foldpitch.loss import (
    SelfSupervisedFoldLoss,
    candidate_fold_costs,
    chirped_windows,
    framed_difference,
)
from foldpitch.synth import SPECTRA, add_noise, harmonic_tone

SR = 16000
EDGES = torch.linspace(math.log2(SR / 1100), math.log2(SR / 50), 257)  # the model's bins


def _direct_difference(x, start, window, lags):
    """float64 loop: sum (x[s+i] - x[s+i+lag])^2 over the window."""
    return torch.stack(
        [
            ((x[start : start + window] - x[start + lag : start + lag + window]) ** 2).sum()
            for lag in lags
        ]
    )


def test_framed_difference_matches_a_direct_loop_at_integer_lags():
    x = torch.randn(3000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hop, window, max_lag, centre = 160, 40, 50, 20.0
    difference, energy = framed_difference(x, hop, 19, max_lag, window=window, centre_lag=centre)
    assert difference.shape == energy.shape == (19, max_lag + 1)
    for frame in (0, 3, 18):  # frame 0 and 18 are clamped into the signal
        start = round(frame * hop - (window + centre) / 2)
        start = min(max(start, 0), 3000 - (window + max_lag + 1))
        expected = _direct_difference(x, start, window, range(max_lag + 1))
        torch.testing.assert_close(difference[frame], expected, rtol=1e-10, atol=1e-9)
        seg = x[start:]
        e = torch.stack(
            [
                (seg[:window] ** 2).sum() + (seg[lag : lag + window] ** 2).sum()
                for lag in range(max_lag + 1)
            ]
        )
        torch.testing.assert_close(energy[frame], e, rtol=1e-10, atol=1e-9)


def test_framed_difference_reads_fractional_lags_of_a_band_limited_signal():
    def signal(t):
        return torch.sin(2 * math.pi * 0.031 * t) + 0.5 * torch.sin(2 * math.pi * 0.093 * t + 1)

    t = torch.arange(4000, dtype=torch.float64)
    difference, _ = framed_difference(
        signal(t), 160, 10, 50, window=40, centre_lag=20.0, upsample=4
    )
    start = round(3 * 160 - 30)
    lags = torch.arange(201, dtype=torch.float64) / 4
    i = torch.arange(40, dtype=torch.float64) + start
    expected = torch.stack([((signal(i) - signal(i + lag)) ** 2).sum() for lag in lags])
    # Measured 8e-4 of the largest value (the window's ends are not band-limited).
    assert (difference[3] - expected).abs().max() < 2e-3 * expected.max()


@pytest.mark.parametrize("spectrum", SPECTRA)
@pytest.mark.parametrize("snr", [None, 10.0])
def test_cheapest_bin_holds_the_true_period(spectrum, snr):
    centres = (EDGES[:-1] + EDGES[1:]) / 2
    for f0 in (55.0, 98.0, 220.0, 523.0, 1046.0):
        audio = harmonic_tone(f0, SR, 8000, spectrum=spectrum)
        if snr is not None:
            audio = add_noise(audio, snr, torch.Generator().manual_seed(int(f0)))
        costs = candidate_fold_costs(audio, EDGES, 160, 50)
        cents = 1200 * (centres[costs.argmin(-1)] - math.log2(SR / f0))
        # All frames within one bin (18 cents) plus half a bin of the true period. A pure
        # tone's dip is the broadest (1 - cos), so noise moves its cheapest bin by up to
        # one bin more (measured: 37 cents at 10 dB).
        limit = 45 if spectrum == "sine" and snr is not None else 30
        share = ((cents.abs() < limit).float().mean()).item()
        assert share >= 0.96, f"{spectrum}, {f0} Hz, snr {snr}: {share:.2f} of frames"


def test_multiples_and_fractions_cost_more_than_the_period():
    period = SR / 200.0  # 80 samples
    audio = harmonic_tone(200.0, SR, 8000)
    costs = candidate_fold_costs(audio, EDGES, 160, 50, submultiple_margin=0.2)[25]

    def bin_of(p):
        return int((math.log2(p) - EDGES[0]) / (EDGES[1] - EDGES[0]))

    true_cost = costs[bin_of(period)]
    assert true_cost < 0.05
    for multiple in (2, 3):  # ties in the raw loss, lose by the margin here
        assert costs[bin_of(multiple * period)] > true_cost + 0.15
    assert costs[bin_of(period / 2)] > 0.5


def test_silence_costs_one_everywhere_and_noise_is_not_periodic():
    silence = torch.zeros(8000)
    assert torch.equal(candidate_fold_costs(silence, EDGES, 160, 50), torch.ones(50, 256))
    noise = torch.randn(8000, generator=torch.Generator().manual_seed(1))
    assert candidate_fold_costs(noise, EDGES, 160, 50).min() > 0.5


def test_costs_batch_like_looped_and_are_gain_invariant():
    a = harmonic_tone(300.0, SR, 4000)
    b = add_noise(
        harmonic_tone(90.0, SR, 4000, spectrum="odd"), 5.0, torch.Generator().manual_seed(0)
    )
    batched = candidate_fold_costs(torch.stack([a, b]), EDGES, 160, 25)
    torch.testing.assert_close(batched[1], candidate_fold_costs(b, EDGES, 160, 25))
    torch.testing.assert_close(
        candidate_fold_costs(7.5 * a, EDGES, 160, 25), batched[0], atol=1e-4, rtol=1e-4
    )


def test_costs_of_the_reversed_signal_are_the_costs_reversed():
    # 49 hops plus one sample: frame k of the reversed signal is frame 49 - k.
    n = 49 * 160 + 1
    glide = 150.0 * 2 ** torch.linspace(0, 1, n)  # one octave up: no symmetry of its own
    audio = add_noise(harmonic_tone(glide, SR), 10.0, torch.Generator().manual_seed(4))
    audio[:2000] *= torch.linspace(0, 1, 2000)
    forward = candidate_fold_costs(audio, EDGES, 160, 50)
    backward = candidate_fold_costs(audio.flip(-1), EDGES, 160, 50)
    torch.testing.assert_close(backward, forward.flip(0), rtol=1e-5, atol=1e-5)
    one_sided = candidate_fold_costs(audio, EDGES, 160, 50, time_symmetric=False)
    assert (one_sided - forward).abs().max() > 0.05  # the test can tell the two apart
    # Asking for fewer frames gives the first ones, the reversed pass included.
    torch.testing.assert_close(candidate_fold_costs(audio, EDGES, 160, 30), forward[:30])


@pytest.mark.parametrize("f0", [120.0, 220.0])
def test_a_tone_burst_costs_the_same_at_its_onset_and_its_offset(f0):
    # The burst starts 2.5 ms after frame 30 and stops 2.5 ms before frame 70, so frame
    # 30 + k and frame 70 - k lie as far outside (k <= 0) or inside (k >= 1) it.
    audio = torch.zeros(SR)
    onset, offset = 30 * 160 + 40, 70 * 160 - 40
    audio[onset:offset] = harmonic_tone(f0, SR, offset - onset)
    true_bin = int((math.log2(SR / f0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    gaps = {}
    for symmetric in (True, False):
        costs = candidate_fold_costs(audio, EDGES, 160, 101, time_symmetric=symmetric)
        at_onset = costs[30:33, true_bin]
        at_offset = costs[68:71, true_bin].flip(0)
        gaps[symmetric] = float((at_onset - at_offset).abs().max())
    assert gaps[True] < 0.1  # measured 0.07 and 0.03
    assert gaps[False] > 2 * gaps[True]  # the one-sided window is late by a few ms


def test_costs_reject_bad_edges():
    with pytest.raises(ValueError, match="log2_period_edges"):
        candidate_fold_costs(torch.zeros(1000), torch.tensor([5.0, 4.0]), 160, 5)
    with pytest.raises(ValueError, match="at least 1 sample"):
        candidate_fold_costs(torch.zeros(1000), torch.tensor([-1.0, 4.0]), 160, 5)
    with pytest.raises(ValueError, match="max_lag"):
        framed_difference(torch.zeros(1000), 160, 5, 0)


# --- chirped readings ----------------------------------------------------------------


def _exponential_glide_period(n, start_period, cents_per_frame):
    """Period in samples ``(n,)`` that grows by ``cents_per_frame`` every 160 samples."""
    t = torch.arange(n, dtype=torch.float64)
    return start_period * 2 ** (cents_per_frame * t / (1200 * 160))


def test_chirped_windows_turn_an_exponential_glide_into_a_steady_sinusoid():
    # A sinusoid whose period is P(t) = P0 exp(r t) has phase 2 pi (1 - exp(-r t)) / (r P0);
    # read at t_f - log(1 - r u) / r its phase is phi(t_f) + 2 pi u / P(t_f): a steady
    # sinusoid of the frame's own period, exactly.
    cents, p0, n = 40.0, 80.0, 8000
    r = cents / 1200 * math.log(2) / 160
    t = torch.arange(n, dtype=torch.float64)
    phase = 2 * math.pi * (1 - torch.exp(-r * t)) / (r * p0)
    audio = torch.sin(phase)
    windows, inside = chirped_windows(audio, 160, 50, cents, 404)
    frames = torch.arange(50)
    u = torch.arange(-404, 405, dtype=torch.float64)
    period = p0 * torch.exp(r * frames * 160.0)
    expected = torch.sin(phase[frames * 160, None] + 2 * math.pi * u / period[:, None])
    assert inside[:3].logical_not().all() and inside[3:47].all()  # 404 samples each side
    # linear interpolation of a period >= 80 samples: at most (2 pi / 80)^2 / 8 = 8e-4
    assert (windows[inside] - expected[inside]).abs().max() < 2e-3
    plain, _ = chirped_windows(audio, 160, 50, 1e-9, 404)  # no warp: the glide shows
    assert (plain[inside] - expected[inside]).abs().max() > 0.5


def test_chirps_deepen_the_dip_of_a_gliding_tone_and_never_raise_a_cost():
    period = _exponential_glide_period(8000, 50.0, 40.0)  # 320 Hz falling 0.4 octave/10 frames
    audio = harmonic_tone((SR / period).float(), SR)
    true_bin = (torch.log2(period[torch.arange(50) * 160]) - EDGES[0]) / (EDGES[1] - EDGES[0])
    true_bin = true_bin.long()[5:45, None]
    plain = candidate_fold_costs(audio, EDGES, 160, 50)
    chirped = candidate_fold_costs(audio, EDGES, 160, 50, chirps=(20.0, 40.0))
    assert (chirped <= plain).all()
    # measured: 0.049 plain (one period over 20 ms misses the glide), 0.001 chirped
    assert plain[5:45].gather(-1, true_bin).mean() > 0.02
    assert chirped[5:45].gather(-1, true_bin).mean() < 0.005
    # a steady tone keeps its cheapest bin and that bin's (already ~0) cost
    steady = harmonic_tone(200.0, SR, 8000)
    plain = candidate_fold_costs(steady, EDGES, 160, 50)
    chirped = candidate_fold_costs(steady, EDGES, 160, 50, chirps=(20.0,))
    assert torch.equal(chirped.argmin(-1), plain.argmin(-1))
    torch.testing.assert_close(chirped.amin(-1), plain.amin(-1), atol=0.005, rtol=0)


def test_chirps_are_checked():
    with pytest.raises(ValueError, match="chirps"):
        candidate_fold_costs(torch.zeros(4000), EDGES, 160, 5, chirps=(-20.0,))
    with pytest.raises(ValueError, match="cents_per_frame"):
        chirped_windows(torch.zeros(4000), 160, 5, 5000.0, 404)


# --- the objective -------------------------------------------------------------------


def _objective_inputs(audio, logits_fill=0.0, n_frames=50):
    k = len(EDGES) - 1
    logits = torch.full((1, n_frames, k), logits_fill, requires_grad=True)
    offsets = torch.full((1, n_frames, k), 0.5, requires_grad=True)
    periodicity = torch.zeros(1, n_frames, requires_grad=True)
    return audio[None], logits, offsets, periodicity


def test_objective_reads_the_chirped_table_when_given_chirps():
    period = _exponential_glide_period(8000, 50.0, 40.0)
    audio, logits, offsets, periodicity = _objective_inputs(
        harmonic_tone((SR / period).float(), SR)
    )
    with torch.no_grad():
        logits.normal_(generator=torch.Generator().manual_seed(3))
    soft_argmin = {}
    for chirps in ((), (20.0, 40.0)):
        objective = SelfSupervisedFoldLoss(refine_weight=0.0, chirps=chirps)
        terms = objective(audio, logits, offsets, periodicity, EDGES)
        costs = candidate_fold_costs(
            audio, EDGES, 160, 50, submultiple_margin=objective.submultiple_margin, chirps=chirps
        )
        target = torch.softmax(-costs / objective.temperature, -1)
        expected = -(target * torch.log_softmax(logits, -1)).sum(-1).mean()
        torch.testing.assert_close(terms["soft_argmin"], expected)
        soft_argmin[chirps] = float(terms["soft_argmin"].detach())
    assert abs(soft_argmin[()] - soft_argmin[(20.0, 40.0)]) > 1e-3  # the tables differ


def _target_span_cents(target: torch.Tensor, f0: float) -> tuple[float, float]:
    """The cents (sharp positive) from ``f0`` of the bins where a frame's target is above
    half its peak: lowest and highest."""
    centres = (EDGES[:-1] + EDGES[1:]) / 2
    cents = -1200 * (centres - math.log2(SR / f0))
    above = cents[target > target.max() / 2]
    return float(above.min()), float(above.max())


@pytest.mark.parametrize("f0", [60.0, 100.0, 220.0, 440.0, 880.0])
def test_min_dip_rise_sharpens_a_pure_tones_target_and_leaves_a_rich_tones(f0):
    plain = SelfSupervisedFoldLoss(refine_weight=0.0, periodicity_threshold=0.8)
    sharp = SelfSupervisedFoldLoss(refine_weight=0.0, periodicity_threshold=0.8, min_dip_rise=0.05)
    sine = candidate_fold_costs(harmonic_tone(f0, SR, 8000, spectrum="sine"), EDGES, 160, 50)
    rich = candidate_fold_costs(harmonic_tone(f0, SR, 8000), EDGES, 160, 50)
    noise = candidate_fold_costs(
        torch.randn(8000, generator=torch.Generator().manual_seed(0)), EDGES, 160, 50
    )
    frame = 25
    # A sine's dip is broad: the plain target spreads far beyond 50 cents of its f0...
    low, high = _target_span_cents(plain.soft_argmin_target(sine)[frame], f0)
    assert high - low > 100
    # ...the sharpened one lies within 35 cents of it, as a harmonic-rich tone's does.
    low, high = _target_span_cents(sharp.soft_argmin_target(sine)[frame], f0)
    assert -35 < low <= high < 35
    # Noise is not periodic: the plain target. A rich tone's dip rises fast: the plain
    # target below 300 Hz (measured rise 0.04 at 440-880 Hz, where fewer harmonics fit
    # below Nyquist: slightly sharpened there), and within 35 cents of its f0 throughout.
    torch.testing.assert_close(sharp.soft_argmin_target(noise), plain.soft_argmin_target(noise))
    if f0 < 300:
        torch.testing.assert_close(sharp.soft_argmin_target(rich), plain.soft_argmin_target(rich))
    low, high = _target_span_cents(sharp.soft_argmin_target(rich)[frame], f0)
    assert -35 < low <= high < 35


def test_objective_uses_the_sharpened_target():
    audio, logits, offsets, periodicity = _objective_inputs(
        harmonic_tone(150.0, SR, 8000, spectrum="sine")
    )
    objective = SelfSupervisedFoldLoss(refine_weight=0.0, min_dip_rise=0.05)
    terms = objective(audio, logits, offsets, periodicity, EDGES)
    costs = candidate_fold_costs(audio, EDGES, 160, 50, submultiple_margin=0.3)
    target = objective.soft_argmin_target(costs)
    expected = -(target * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(terms["soft_argmin"], expected)
    with pytest.raises(ValueError, match="min_dip_rise"):
        SelfSupervisedFoldLoss(min_dip_rise=0.0)


def test_objective_is_lowest_when_the_network_predicts_the_true_period():
    objective = SelfSupervisedFoldLoss(refine_weight=0.0)
    audio = harmonic_tone(200.0, SR, 8000)
    true_bin = int((math.log2(SR / 200.0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    totals = {}
    for name, b in {
        "true": true_bin,
        "octave": true_bin + round(1 / float(EDGES[1] - EDGES[0])),
        "far": 10,
    }.items():
        _, logits, offsets, periodicity = _objective_inputs(audio)
        with torch.no_grad():
            logits[..., b] = 20.0
        terms = objective(audio[None], logits, offsets, periodicity, EDGES)
        totals[name] = float(terms["loss"].detach())
    assert totals["true"] < totals["octave"] and totals["true"] < totals["far"]


def test_periodicity_is_pushed_up_on_a_tone_and_down_on_noise():
    objective = SelfSupervisedFoldLoss(refine_weight=0.0)
    tone = harmonic_tone(150.0, SR, 8000)
    true_bin = int((math.log2(SR / 150.0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    noise = torch.randn(8000, generator=torch.Generator().manual_seed(2)) * 0.3
    for audio, sign in ((tone, -1), (noise, +1)):
        audio, logits, offsets, periodicity = _objective_inputs(audio)
        with torch.no_grad():
            logits[..., true_bin] = 20.0
        objective(audio, logits, offsets, periodicity, EDGES)["loss"].backward()
        assert (torch.sign(periodicity.grad[0, 5:-5]) == sign).all()


def test_periodicity_follows_the_predicted_bin_not_the_spread_of_the_distribution():
    # A clean 1000 Hz tone of odd harmonics cancels at its period only (a dip narrower
    # than one bin). A distribution that peaks there but spreads over its neighbours has
    # a high expected fold loss; the frame is still periodic and must be called so.
    objective = SelfSupervisedFoldLoss(refine_weight=0.0, periodicity_threshold=0.4)
    f0 = 1000.0
    tone = harmonic_tone(f0, SR, 8000, spectrum="odd")
    true_bin = int((math.log2(SR / f0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    audio, logits, offsets, periodicity = _objective_inputs(tone)
    with torch.no_grad():
        logits[..., true_bin - 8 : true_bin + 9] = 3.0  # spread over about 3 semitones
        logits[..., true_bin] = 4.0
    terms = objective(audio, logits, offsets, periodicity, EDGES)
    assert float(terms["expected"]) > objective.periodicity_threshold  # the spread costs
    terms["loss"].backward()
    assert (periodicity.grad[0, 5:-5] < 0).all()  # gradient descent raises periodicity


def _graded_setup(audio, bin_index, periodicity_logit):
    audio, logits, offsets, periodicity = _objective_inputs(audio)
    with torch.no_grad():
        logits[..., bin_index] = 20.0
        periodicity.fill_(periodicity_logit)
    return audio, logits, offsets, periodicity


def _loop_bin_costs(x, edges, hop, n_frames, margin):
    """float64 loop over frames, lags and bins: :func:`candidate_fold_costs` with
    ``upsample=1`` and ``time_symmetric=False``, written from its docstring."""
    x = x.double().numpy()
    periods = 2.0 ** edges.double().numpy()
    max_lag = math.ceil(periods[-1]) + 1
    window = max_lag - 1
    span = window + max_lag + 1
    n_bins = len(periods) - 1
    costs = np.empty((n_frames, n_bins))
    for f in range(n_frames):
        start = round(f * hop - (window + max_lag / 2) / 2)
        start = min(max(start, 0), len(x) - span)
        head = x[start : start + window]
        d = np.array(
            [((head - x[start + t : start + t + window]) ** 2).sum() for t in range(span - window)]
        )
        normalised = np.ones_like(d)  # d(P) over its mean on (0, P] (YIN)
        for t in range(1, len(d)):
            normalised[t] = d[t] / d[1 : t + 1].mean()

        lag = np.arange(len(d))
        for b in range(n_bins):
            # the integer lags t with P_b <= t < P_b+1, and both edges read linearly
            inside = normalised[math.ceil(periods[b]) : math.ceil(periods[b + 1])]
            at_edges = np.interp(periods[b : b + 2], lag, normalised)
            costs[f, b] = min(inside.min(initial=np.inf), at_edges.min())
    # Sub-multiple penalty: how nearly the bins holding P / k cost as little as P's bin.
    log_edges = edges.double().numpy()
    penalty = np.zeros_like(costs)
    for b in range(n_bins):
        for k in range(2, int(periods[-1] / periods[0]) + 1):
            low, high = log_edges[b] - math.log2(k), log_edges[b + 1] - math.log2(k)
            if high <= log_edges[0]:
                break
            touched = [j for j in range(n_bins) if log_edges[j] < high and log_edges[j + 1] > low]
            fraction = costs[:, touched or [0]].min(-1)
            shortfall = np.maximum(margin - (fraction - costs[:, b]), 0)
            penalty[:, b] = np.maximum(penalty[:, b], shortfall)
    return torch.from_numpy(costs + penalty)


def test_graded_periodicity_term_is_the_cross_entropy_against_the_sigmoid_of_the_fold_loss():
    threshold, width, margin = 0.6, 0.1, 0.3
    objective = SelfSupervisedFoldLoss(
        refine_weight=0.0,
        periodicity_threshold=threshold,
        periodicity_temperature=width,
        submultiple_margin=margin,
        upsample=1,
        time_symmetric=False,
    )
    # A tone at 0 dB SNR: fold losses spread around the threshold, so the target is graded.
    tone = add_noise(harmonic_tone(150.0, SR, 8000), 0.0, torch.Generator().manual_seed(3))
    true_bin = int((math.log2(SR / 150.0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    audio, logits, offsets, periodicity = _graded_setup(tone, true_bin, 0.7)
    terms = objective(audio, logits, offsets, periodicity, EDGES)
    # float64 reference: the predicted bin's fold loss from a direct loop, and the
    # binary cross-entropy written out.
    cost = _loop_bin_costs(audio[0], EDGES, 160, 50, margin)[:, true_bin]
    target = 1 / (1 + torch.exp(-(threshold - cost) / width))
    v = 1 / (1 + math.exp(-0.7))
    expected = -(target * math.log(v) + (1 - target) * math.log(1 - v)).mean()
    torch.testing.assert_close(terms["periodicity"].double(), expected, rtol=1e-4, atol=1e-5)
    assert ((target > 0.05) & (target < 0.95)).any()  # the test reaches the graded part


@pytest.mark.parametrize("width", [0.05, 0.2])
def test_graded_periodicity_has_its_minimum_at_the_target_and_is_not_binary(width):
    objective = SelfSupervisedFoldLoss(
        refine_weight=0.0, periodicity_threshold=0.5, periodicity_temperature=width
    )
    tone = harmonic_tone(200.0, SR, 8000)
    true_bin = int((math.log2(SR / 200.0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    # On the tone's period bin the fold loss is about 0; a bin one semitone-and-a-half
    # off has a loss near the threshold, so the optimum periodicity is in between.
    off_bin = true_bin + 6
    cost = float(candidate_fold_costs(tone, EDGES, 160, 50)[10:40, off_bin].mean())
    optimum = 1 / (1 + math.exp(-(0.5 - cost) / width))
    logit = math.log(optimum / (1 - optimum))
    grads = {}
    for name, value in (("below", logit - 1.0), ("at", logit), ("above", logit + 1.0)):
        audio, logits, offsets, periodicity = _graded_setup(tone, off_bin, value)
        objective(audio, logits, offsets, periodicity, EDGES)["loss"].backward()
        grads[name] = float(periodicity.grad[0, 10:40].mean())
    assert grads["below"] < 0 < grads["above"]  # descent moves towards the optimum
    assert abs(grads["at"]) < 0.1 * min(-grads["below"], grads["above"])


def test_graded_periodicity_still_moves_a_saturated_output():
    # A network trained with the threshold term has saturated periodicity logits; the
    # threshold term's gradient there is sigmoid'(12) (c* - threshold), about 2e-6 on
    # noise, the cross-entropy's is the distance to the target, about 1.
    noise = torch.randn(8000, generator=torch.Generator().manual_seed(2)) * 0.3
    for temperature, bound in ((None, 1e-4), (0.1, 0.5)):
        objective = SelfSupervisedFoldLoss(refine_weight=0.0, periodicity_temperature=temperature)
        audio, logits, offsets, periodicity = _graded_setup(noise, 100, 12.0)
        objective(audio, logits, offsets, periodicity, EDGES)["loss"].backward()
        gradient = float(periodicity.grad[0, 5:-5].mean()) * periodicity.shape[1]
        assert gradient > 0
        assert (gradient > bound) == (temperature is not None)


def test_refinement_term_moves_the_offset_towards_the_true_period():
    objective = SelfSupervisedFoldLoss(refine_weight=1.0)
    f0 = 200.0
    audio = harmonic_tone(f0, SR, 8000)
    position = (math.log2(SR / f0) - EDGES[0]) / (EDGES[1] - EDGES[0])
    true_bin, within = int(position), position % 1
    audio_b, logits, offsets, periodicity = _objective_inputs(audio)
    with torch.no_grad():
        logits[..., true_bin] = 20.0
        periodicity.fill_(5.0)
        offsets.fill_(0.05 if within > 0.5 else 0.95)  # start at the wrong end of the bin
    objective(audio_b, logits, offsets, periodicity, EDGES)["loss"].backward()
    grad = offsets.grad[0, 10:-10, true_bin]
    expected_sign = -1.0 if within > 0.5 else 1.0  # gradient descent moves towards `within`
    assert (torch.sign(grad) == expected_sign).float().mean() > 0.9


def test_objective_rejects_bad_options():
    with pytest.raises(ValueError, match="temperature"):
        SelfSupervisedFoldLoss(temperature=0.0)
    with pytest.raises(ValueError, match="periodicity_threshold"):
        SelfSupervisedFoldLoss(periodicity_threshold=-1.0)
    with pytest.raises(ValueError, match="kernel"):
        SelfSupervisedFoldLoss(kernel="nearest")
    with pytest.raises(ValueError, match="periodicity_temperature"):
        SelfSupervisedFoldLoss(periodicity_temperature=0.0)


# --- robustness (issue 7) ------------------------------------------------------------------


def test_objective_on_silence_is_finite_with_finite_gradients():
    # Silent frames cost 1 in every bin (no 0 / 0): the soft-argmin target is uniform,
    # the refinement term 0, and every gradient finite.
    objective = SelfSupervisedFoldLoss(upsample=2)
    audio, logits, offsets, periodicity = _objective_inputs(torch.zeros(8000))
    terms = objective(audio, logits, offsets, periodicity, EDGES)
    terms["loss"].backward()
    assert all(torch.isfinite(value) for value in terms.values())
    assert abs(float(terms["expected"]) - 1.0) < 1e-6 and float(terms["refine"].detach()) == 0
    for tensor in (logits, offsets, periodicity):
        assert torch.isfinite(tensor.grad).all()
    # Periodicity is pushed down: a silent frame is not periodic.
    assert (periodicity.grad > 0).all()


@pytest.mark.parametrize("edge", [0, -1], ids=["fmax", "fmin"])
def test_objective_is_finite_with_the_prediction_at_the_edges_of_the_range(edge):
    objective = SelfSupervisedFoldLoss(upsample=2)
    audio, logits, offsets, periodicity = _objective_inputs(harmonic_tone(230.0, SR, 8000))
    with torch.no_grad():
        logits[..., edge] = 20.0
        offsets.fill_(0.0 if edge == 0 else 1.0)  # the very ends of [fmin, fmax]
    terms = objective(audio, logits, offsets, periodicity, EDGES)
    terms["loss"].backward()
    assert all(torch.isfinite(value) for value in terms.values())
    assert torch.isfinite(offsets.grad).all() and torch.isfinite(logits.grad).all()


def test_objective_refuses_non_finite_audio_by_name():
    audio, logits, offsets, periodicity = _objective_inputs(torch.zeros(8000))
    audio = audio.clone()
    audio[0, 5] = math.nan
    with pytest.raises(ValueError, match=r"audio must be finite .* 1 NaN and 0 infinite"):
        SelfSupervisedFoldLoss()(audio, logits, offsets, periodicity, EDGES)
    with pytest.raises(ValueError, match="audio must be finite"):
        candidate_fold_costs(audio, EDGES, 160, 50)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_audio_is_read_in_float32(dtype):
    # Half-precision FFTs do not run on CPU; the costs and the objective read float32.
    tone = harmonic_tone(200.0, SR, 8000).to(dtype)
    costs = candidate_fold_costs(tone, EDGES, 160, 50)
    assert costs.dtype == torch.float32
    assert torch.equal(costs, candidate_fold_costs(tone.float(), EDGES, 160, 50))
    audio, logits, offsets, periodicity = _objective_inputs(tone)
    terms = SelfSupervisedFoldLoss(upsample=2)(audio, logits, offsets, periodicity, EDGES)
    expected = SelfSupervisedFoldLoss(upsample=2)(
        audio.float(), logits, offsets, periodicity, EDGES
    )
    assert torch.equal(terms["loss"], expected["loss"])


def test_periodicity_weight_scales_the_periodicity_term_and_its_gradient():
    # The total is soft-argmin + weight * periodicity (+ refinement): compared with the
    # terms of the unweighted objective, and the voicing logits get no gradient at 0.
    tone = add_noise(harmonic_tone(150.0, SR, 8000), 10.0, torch.Generator().manual_seed(4))
    true_bin = int((math.log2(SR / 150.0) - EDGES[0]) / (EDGES[1] - EDGES[0]))
    audio, logits, offsets, periodicity = _graded_setup(tone, true_bin, 0.7)
    common = dict(refine_weight=0.5, periodicity_temperature=0.1, upsample=1)
    reference = SelfSupervisedFoldLoss(**common)(audio, logits, offsets, periodicity, EDGES)
    for weight in (0.0, 0.25):
        voicing = periodicity.detach().clone().requires_grad_(True)
        objective = SelfSupervisedFoldLoss(periodicity_weight=weight, **common)
        terms = objective(audio, logits, offsets, voicing, EDGES)
        expected = (
            reference["soft_argmin"] + weight * reference["periodicity"] + 0.5 * reference["refine"]
        )
        torch.testing.assert_close(terms["loss"], expected)
        (grad,) = torch.autograd.grad(terms["loss"], voicing)
        assert bool((grad == 0).all()) == (weight == 0.0)
    with pytest.raises(ValueError, match="periodicity_weight"):
        SelfSupervisedFoldLoss(periodicity_weight=-1.0)
