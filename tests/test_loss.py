"""foldpitch.loss: the fold-alignment loss in its cycle and dense forms."""

import functools
import math

import pytest
import torch
from torch.autograd import gradcheck

from foldpitch.envelope import period_curve
from foldpitch.interp import KERNELS
from foldpitch.loss import (
    DenseFoldLoss,
    FoldAlignmentLoss,
    dense_fold_loss,
    fold_alignment_loss,
    reference_fold_loss,
)
from foldpitch.synth import SPECTRA, add_noise, harmonic_tone, vibrato_f0

F64 = torch.float64
SR = 16000


def noise(n, seed=0, batch=()):
    return torch.randn(*batch, n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def constant_envelope(period, n_frames=11, dtype=F64):
    return torch.full((n_frames,), math.log2(period), dtype=dtype)


# --- (a) the cycle form is the original loop, vectorised -----------------------------


@pytest.mark.parametrize("period", [16, 37, 80, 123])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("backend", ["auto", "torch"])  # auto: the fused kernel on CPU
def test_cycle_form_equals_the_reference_loop_on_integer_periods(period, seed, backend):
    audio = noise(8000, seed)
    envelope = constant_envelope(period)
    expected = reference_fold_loss(envelope, audio, hop_length=800)
    got = fold_alignment_loss(
        envelope, audio, 800, kernel="linear", reduction="sum", backend=backend
    )
    assert float(expected) > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)
    # M reads per cycle, with M = the period, read the same samples
    spread = fold_alignment_loss(envelope, audio, 800, reduction="sum", reads_per_cycle=period)
    torch.testing.assert_close(spread, expected, rtol=1e-5, atol=0)


def test_reference_loop_has_its_bugs_fixed():
    # The original compared audio[pos - m:pos] with the single sample audio[pos + m]:
    # a periodic signal then left a large loss. The fixed loop gives zero.
    period = 25
    audio = harmonic_tone(SR / period, SR, 2000).double()
    assert float(reference_fold_loss(constant_envelope(period), audio, 200)) < 1e-9
    # It read period_envelope[idx + 1] past the end when the last control point lies
    # before the end of the audio: now the last value is held.
    short_envelope = constant_envelope(period, n_frames=2)
    assert float(reference_fold_loss(short_envelope, audio, 100)) < 1e-9


def test_cycle_form_zero_on_a_periodic_signal_and_positive_off_period():
    audio = harmonic_tone(SR / 40.0, SR, 4000).double()
    on = fold_alignment_loss(constant_envelope(40.0), audio, normalization="energy")
    off = fold_alignment_loss(constant_envelope(43.0), audio, normalization="energy")
    assert float(on) < 1e-10 < 1e-2 < float(off)


# --- (b) the trainable normalisation has its global minimum at the true period --------

# 12 f0s from 60 to 1000 Hz x 4 spectra x (clean, 10 dB SNR) = 96 tones, 0.1 s each.
# Not the pure tone ("sine"): the difference of a sine at a lag P / k is small when k is
# large (1 - cos(2 pi / k)), so the sub-multiple penalty finds the fractions of its true
# period nearly as cheap and lifts it above the shortest periods (measured: the global
# minimum elsewhere for most of these f0s from 60 to 460 Hz). The network's training
# table reads YIN's cumulative-mean normalised difference instead and holds the period
# of a sine (test_candidate_costs.py); refine=True starts at the network's value.
HARMONIC_SPECTRA = [spectrum for spectrum in SPECTRA if spectrum != "sine"]
F0S = [float(f) for f in torch.exp(torch.linspace(math.log(60), math.log(1000), 12))]


@pytest.mark.slow
@pytest.mark.parametrize("f0", F0S)
def test_submultiple_normalisation_global_minimum_is_the_true_period(f0):
    min_period, max_period = SR / 1100, SR / 50
    # 400 log-spaced periods: a step of 0.78 %, finer than the 1 % asked for.
    grid = torch.exp(torch.linspace(math.log(min_period), math.log(max_period), 400))
    generator = torch.Generator().manual_seed(int(f0))
    true_period = SR / f0
    for spectrum in HARMONIC_SPECTRA:
        clean = harmonic_tone(f0, SR, 1600, spectrum=spectrum)
        for snr in (None, 10):
            audio = clean if snr is None else add_noise(clean, snr, generator)
            losses = torch.cat(
                [
                    dense_fold_loss(
                        torch.log2(chunk)[:, None],
                        audio,
                        kernel="sinc",
                        half_width=4,
                        normalization="submultiple",
                        min_period=min_period,
                        max_period=max_period,
                        reduction="none",
                    )[:, 0]
                    for chunk in grid.split(50)
                ]
            )
            best = float(grid[losses.argmin()])
            assert abs(best / true_period - 1) < 0.01, (f0, spectrum, snr, best, true_period)


def test_energy_normalisation_alone_ties_at_multiples():
    # The degenerate minima the sub-multiple penalty removes: with energy
    # normalisation, twice the period cancels as well as the period.
    audio = harmonic_tone(200.0, SR, 3200).double()
    args = dict(kernel="cubic", max_period=200)

    def loss(period, **extra):
        return float(dense_fold_loss(constant_envelope(period), audio, **args, **extra))

    assert loss(80.0) < 1e-6 and loss(160.0) < 1e-6
    penalised = dict(normalization="submultiple", min_period=SR / 1100)
    assert loss(160.0, **penalised) > loss(80.0, **penalised) + 0.2


# --- (c) Adam recovers a vibrato ---------------------------------------------------------


def test_adam_recovers_a_vibrato_period_curve():
    n, hop = SR, 160  # 1 s, 100 control points
    f0 = vibrato_f0(220.0, 6.0, 100.0, SR, n)
    audio = harmonic_tone(f0, SR, spectrum="1/h")
    envelope = torch.full((100,), math.log2(1.1 * SR / 220), requires_grad=True)  # 10 % off
    optimiser = torch.optim.Adam([envelope], lr=0.01)
    max_period = SR / 150
    for _ in range(150):
        optimiser.zero_grad()
        dense_fold_loss(envelope, audio, hop, kernel="cubic", max_period=max_period).backward()
        optimiser.step()
    margin = math.ceil(max_period / 2) + 2  # the loss sees nothing in the margins
    fitted = period_curve(envelope.detach(), n, hop)[margin:-margin]
    cents = 1200 * torch.log2(fitted / (SR / f0[margin:-margin]))
    assert float(cents.square().mean().sqrt()) < 5.0


# --- gradients --------------------------------------------------------------------------


def wobbly_envelope(n_frames=6, base=23.0):
    frames = torch.arange(n_frames, dtype=F64)
    return (math.log2(base) + 0.08 * torch.sin(frames)).requires_grad_()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("normalization", ["none", "energy"])
@pytest.mark.parametrize("audio_needs_grad", [True, False])
def test_cycle_form_gradcheck(kernel, normalization, audio_needs_grad):
    # Audio without grad takes the window-sums Function with its own backward; audio
    # with grad, autograd through the reads.
    audio = noise(400, 3 if audio_needs_grad else 5).requires_grad_(audio_needs_grad)

    def loss(envelope, audio):
        return fold_alignment_loss(
            envelope,
            audio,
            80,
            kernel=kernel,
            half_width=3,
            normalization=normalization,
            reduction="none",
        )

    assert gradcheck(loss, (wobbly_envelope(), audio))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("normalization", ["none", "energy"])
def test_window_sums_function_matches_autograd_through_the_reads(kernel, normalization):
    # Two implementations of the same loss: autograd through sample_windows (taken when
    # the audio needs a gradient) and the Function used otherwise. A vibrato envelope
    # mixes cycle lengths across a factor of 2 (several length groups, masked tails).
    audio = noise(3000, 6)
    frames = torch.arange(30, dtype=F64)
    envelope = (math.log2(30.0) + 0.6 * torch.sin(frames / 3)).requires_grad_()
    options = dict(kernel=kernel, half_width=4, normalization=normalization, reduction="sum")
    fast = fold_alignment_loss(envelope, audio, 100, **options)
    (fast_grad,) = torch.autograd.grad(fast, envelope)
    slow = fold_alignment_loss(envelope, audio.clone().requires_grad_(), 100, **options)
    (slow_grad,) = torch.autograd.grad(slow, envelope)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=0)
    torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-8, atol=1e-10)
    assert fast_grad.abs().max() > 0


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("align", ["centered", "forward", "backward"])
def test_dense_form_gradcheck(kernel, align):
    audio = noise(300, 4).requires_grad_()

    def loss(envelope, audio):
        return dense_fold_loss(
            envelope,
            audio,
            60,
            kernel=kernel,
            half_width=3,
            align=align,
            max_period=30,
            reduction="none",
        )

    assert gradcheck(loss, (wobbly_envelope(), audio))


def test_submultiple_gradcheck():
    audio = noise(300, 5)

    def loss(envelope):
        return dense_fold_loss(
            envelope,
            audio,
            60,
            kernel="cubic",
            normalization="submultiple",
            min_period=8,
            max_period=30,
            reduction="none",
        )

    assert gradcheck(loss, (wobbly_envelope(),))


def test_float32_agrees_with_float64():
    audio = noise(2000, 6)
    envelope = wobbly_envelope().detach()
    for form in (fold_alignment_loss, dense_fold_loss):
        expected = form(envelope, audio, 400, kernel="cubic")
        got = form(envelope.float(), audio.float(), 400, kernel="cubic")
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-6)


# --- reductions, batching, weights -------------------------------------------------------


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_batched_equals_looped(form):
    audio = noise(1500, 7, batch=(3,))
    envelopes = torch.stack([wobbly_envelope(base=b).detach() for b in (18.0, 23.0, 31.0)])
    # The dense form's valid region depends on max_period: fix it, as training does.
    options = dict(reduction="none", **({"max_period": 40} if form is dense_fold_loss else {}))
    batched = form(envelopes, audio, 300, **options)
    assert batched.shape == (3, 6)
    for i in range(3):
        torch.testing.assert_close(batched[i], form(envelopes[i], audio[i], 300, **options))
    # one audio against many envelopes broadcasts
    torch.testing.assert_close(
        form(envelopes, audio[0], 300, **options)[2], form(envelopes[2], audio[0], 300, **options)
    )


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("period", [37, 80])
def test_cycle_form_sum_is_the_mean_times_the_number_of_cycles(period, backend):
    # On an integer period every cycle is whole: the cycles are those of the original
    # loop, counted here by stepping through the signal.
    audio = noise(8000, 3, batch=(2,))
    envelope = constant_envelope(period)
    cycles, position = 0, period
    while position + period <= audio.shape[-1] - 1:
        cycles, position = cycles + 1, position + period
    options = dict(kernel="linear", backend=backend)
    mean = fold_alignment_loss(envelope, audio, 800, reduction="mean", **options)
    total = fold_alignment_loss(envelope, audio, 800, reduction="sum", **options)
    torch.testing.assert_close(total, mean * 2 * cycles)  # two examples
    expected = sum(reference_fold_loss(envelope, row, 800) for row in audio)
    torch.testing.assert_close(total, expected)


def test_dense_form_sum_is_the_mean_times_the_number_of_frames():
    audio = noise(1500, 8, batch=(2,))
    envelope = wobbly_envelope().detach()
    mean = dense_fold_loss(envelope, audio, 300, reduction="mean")
    total = dense_fold_loss(envelope, audio, 300, reduction="sum")
    per_frame = dense_fold_loss(envelope, audio, 300, reduction="none")
    assert mean.ndim == 0 and total.ndim == 0 and per_frame.shape == (2, 6)
    # Frames are the units; frames whose neighbourhood the valid region misses are 0.
    counted = int((per_frame > 0).sum())
    assert counted >= 6
    torch.testing.assert_close(per_frame.sum(), total)
    torch.testing.assert_close(mean * counted, total)


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_unknown_reduction_is_refused(form):
    audio = noise(1500, 8, batch=(2,))
    with pytest.raises(ValueError, match="reduction must be one of"):
        form(wobbly_envelope().detach(), audio, 300, reduction="average")


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_zero_weights_remove_frames(form):
    # Period 40 is right in the first half of the audio, wrong in the second half.
    first = harmonic_tone(400.0, SR, 2000)
    second = harmonic_tone(290.0, SR, 2000)
    audio = torch.cat([first, second]).double()
    envelope = constant_envelope(40.0, n_frames=9)
    weights = (torch.arange(9) < 4).to(F64)
    unweighted = float(form(envelope, audio, 500, normalization="energy"))
    weighted = float(form(envelope, audio, 500, normalization="energy", weights=weights))
    assert weighted < 0.05 * unweighted


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_energy_normalisation_is_gain_invariant_and_bounded(form):
    audio = noise(2000, 9)
    envelope = wobbly_envelope().detach()
    loss = form(envelope, audio, 400, normalization="energy", reduction="none")
    scaled = form(envelope, 1000 * audio, 400, normalization="energy", reduction="none")
    torch.testing.assert_close(scaled, loss)
    assert 0 <= float(loss.min()) and float(loss.max()) <= 2


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
@pytest.mark.parametrize("normalization", ["none", "energy"])
def test_silence_gives_a_finite_loss_and_zero_gradient(form, normalization):
    envelope = wobbly_envelope()
    loss = form(envelope, torch.zeros(1000, dtype=F64), 200, normalization=normalization)
    loss.backward()
    assert float(loss.detach()) == 0 and torch.equal(envelope.grad, torch.zeros_like(envelope))


def test_modules_match_functions():
    audio = noise(1500, 10)
    envelope = wobbly_envelope().detach()
    assert torch.equal(
        FoldAlignmentLoss(300, kernel="cubic")(envelope, audio),
        fold_alignment_loss(envelope, audio, 300, kernel="cubic"),
    )
    assert torch.equal(
        DenseFoldLoss(300, max_period=40)(envelope, audio),
        dense_fold_loss(envelope, audio, 300, max_period=40),
    )


# --- errors --------------------------------------------------------------------------------


def test_bad_arguments():
    audio, envelope = noise(1000, 11), wobbly_envelope().detach()
    with pytest.raises(ValueError, match="normalization must be one of"):
        fold_alignment_loss(envelope, audio, normalization="submultiple")
    with pytest.raises(ValueError, match="needs min_period"):
        dense_fold_loss(envelope, audio, normalization="submultiple", max_period=40)
    with pytest.raises(ValueError, match="min_period must be in"):
        dense_fold_loss(envelope, audio, normalization="submultiple", min_period=50, max_period=40)
    with pytest.raises(ValueError, match="align must be one of"):
        dense_fold_loss(envelope, audio, align="left")
    with pytest.raises(ValueError, match="audio is too short"):
        dense_fold_loss(envelope, audio[:50], max_period=40)
    with pytest.raises(ValueError, match="do not broadcast"):
        fold_alignment_loss(envelope.expand(3, 6), audio.expand(2, 1000))
    with pytest.raises(ValueError, match="weights must be a tensor of shape"):
        dense_fold_loss(envelope, audio, weights=torch.ones(5))
    with pytest.raises(TypeError, match="audio must be a floating-point"):
        fold_alignment_loss(envelope, torch.zeros(100, dtype=torch.int16))
    with pytest.raises(ValueError, match="reads_per_cycle must be None or a positive integer"):
        fold_alignment_loss(envelope, audio, reads_per_cycle=0)
    torch_cycle_form = functools.partial(fold_alignment_loss, backend="torch")
    for form in (fold_alignment_loss, torch_cycle_form, dense_fold_loss):
        with pytest.raises(ValueError, match="half_width must be a positive integer"):
            form(envelope, audio, kernel="sinc", half_width=0)


# --- robustness (issue 7): bad input is refused by name, edge cases stay finite -----------


def _nan_at(values, *positions, value=float("nan")):
    values = values.clone()
    values[..., list(positions)] = value
    return values


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_non_finite_audio_envelope_or_weights_are_refused(form):
    audio, envelope = noise(1500, 20), wobbly_envelope().detach()
    options = {"max_period": 40} if form is dense_fold_loss else {}
    # A NaN anywhere would spread through the normalisation into the whole loss.
    with pytest.raises(ValueError, match=r"audio must be finite .* 2 NaN and 0 infinite"):
        form(envelope, _nan_at(audio, 700, 701), 300, **options)
    with pytest.raises(ValueError, match=r"audio must be finite .* 0 NaN and 1 infinite"):
        form(envelope, _nan_at(audio, 3, value=-math.inf), 300, **options)
    with pytest.raises(ValueError, match=r"period_envelope must be finite .* 1 NaN"):
        form(_nan_at(envelope, 2), audio, 300, **options)
    with pytest.raises(ValueError, match=r"period_envelope must be finite .* 1 infinite"):
        form(_nan_at(envelope, 0, value=math.inf), audio, 300, **options)
    with pytest.raises(ValueError, match=r"weights must be finite .* 1 NaN"):
        form(envelope, audio, 300, weights=_nan_at(torch.ones(6, dtype=F64), 1), **options)


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_empty_or_one_sample_audio_is_refused(form):
    envelope = wobbly_envelope().detach()
    for audio in (torch.zeros(0, dtype=F64), torch.zeros(1, dtype=F64), torch.zeros(3, 0)):
        with pytest.raises(
            ValueError, match=r"audio must have shape \(\.\.\., time\) with time >= 2"
        ):
            form(envelope, audio)


def test_cycle_form_refuses_audio_without_two_whole_cycles():
    # 30 samples hold one cycle of period 20: nothing to compare. A loss of 0 here (the
    # old answer) would reward any period longer than half the audio.
    envelope = constant_envelope(20.0, n_frames=3)
    with pytest.raises(ValueError, match="audio is too short for the envelope: 30 samples"):
        fold_alignment_loss(envelope, noise(30, 21))
    # 45 samples hold two whole cycles: a loss, positive on noise.
    assert float(fold_alignment_loss(envelope, noise(45, 21))) > 0
    # In a batch, an item without cycles weighs nothing; the others are scored.
    batch = torch.stack([constant_envelope(20.0, 3), constant_envelope(30.0, 3)])
    per_frame = fold_alignment_loss(batch, noise(50, 22), reduction="none")
    assert per_frame[0].abs().sum() > 0 and per_frame[1].abs().sum() == 0


def test_cycle_form_refuses_periods_under_a_quarter_sample():
    # log2 period -3 is an eighth of a sample: 8 cycles per sample to compare.
    with pytest.raises(ValueError, match=r"period_envelope must be >= -2.* minimum of -3"):
        fold_alignment_loss(torch.tensor([2.0, -3.0], dtype=F64), noise(400, 23))
    # A quarter sample is the shortest taken (the landscape study's period -> 0 collapse).
    assert torch.isfinite(fold_alignment_loss(torch.full((2,), -2.0, dtype=F64), noise(400, 23)))


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_channels_last_audio_is_refused_with_a_hint(form):
    # soundfile returns (time, channels): time must be the last axis.
    stereo = noise(1200, 24, batch=(2,)).T
    with pytest.raises(ValueError, match=r"looks like \(time, channels\).*audio.mean\(-1\)"):
        form(constant_envelope(20.0, 5), stereo)
    # (channels, time) is a batch: each channel against the broadcast envelope.
    per_channel = form(constant_envelope(20.0, 5), stereo.T, reduction="none")
    torch.testing.assert_close(
        per_channel[1], form(constant_envelope(20.0, 5), stereo.T[1], reduction="none")
    )


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
def test_an_envelope_longer_than_the_audio_is_refused(form):
    audio = noise(1200, 25)
    options = {"max_period": 40} if form is dense_fold_loss else {}
    # 100 frames at hop 160 reach sample 15 840: not this audio's envelope (or a hop in
    # the wrong unit). The frame convention's ceil(1200 / 160) = 8 frames, and one
    # more, are fine.
    with pytest.raises(ValueError, match=r"100 frames, but audio of 1200 samples holds at most 9"):
        form(constant_envelope(20.0, 100), audio, 160, **options)
    for n_frames in (8, 9):
        assert torch.isfinite(form(constant_envelope(20.0, n_frames), audio, 160, **options))


@pytest.mark.parametrize("form", [fold_alignment_loss, dense_fold_loss])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(form, dtype):
    audio = harmonic_tone(SR / 23.0, SR, 1500).to(dtype)
    envelope = wobbly_envelope().detach().to(dtype).requires_grad_()
    options = dict(kernel="cubic", **({"max_period": 40} if form is dense_fold_loss else {}))
    loss = form(envelope, audio, 300, **options)
    assert loss.dtype == torch.float32
    # Exactly the float32 computation on the same (rounded) values ...
    expected = form(envelope.detach().float(), audio.float(), 300, **options)
    assert torch.equal(loss.detach(), expected)
    # ... not the half-precision one, which loses whole percents in its sums.
    loss.backward()
    assert envelope.grad.dtype == dtype and torch.isfinite(envelope.grad.float()).all()


@pytest.mark.parametrize(
    "log2_period", [math.log2(SR / 1100), math.log2(SR / 50)], ids=["fmax", "fmin"]
)
@pytest.mark.parametrize("normalization", ["none", "energy"])
@pytest.mark.parametrize("silent", [False, True], ids=["tone", "silence"])
def test_cycle_form_stays_finite_at_the_edges_of_the_range(log2_period, normalization, silent):
    audio = torch.zeros(4000, dtype=F64) if silent else harmonic_tone(230.0, SR, 4000).double()
    envelope = torch.full((5,), log2_period, dtype=F64, requires_grad=True)
    loss = fold_alignment_loss(envelope, audio, 1000, kernel="cubic", normalization=normalization)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(envelope.grad).all()
    if silent:  # silence: a perfect match (0 / 0 counts as 0) with no gradient
        assert float(loss.detach()) == 0 and not envelope.grad.any()
