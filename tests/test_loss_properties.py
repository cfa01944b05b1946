"""Property tests of the fold-alignment loss (hypothesis): invariances that must hold
for any signal, not only the hand-picked ones."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from foldpitch.loss import dense_fold_loss, fold_alignment_loss
from foldpitch.synth import harmonic_tone

F64 = torch.float64
FAST = settings(max_examples=25, deadline=None)


def random_signal(seed, n=1200, batch=()):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*batch, n, generator=generator, dtype=F64)


def random_envelope(seed, n_frames=5, batch=()):
    generator = torch.Generator().manual_seed(seed + 1)
    return math.log2(20.0) + 0.3 * torch.rand(*batch, n_frames, generator=generator, dtype=F64)


@FAST
@given(seed=st.integers(0, 10_000), gain=st.floats(1e-3, 1e3), form=st.sampled_from("cds"))
def test_normalised_loss_is_gain_invariant(seed, gain, form):
    # c: cycle form, d: dense form (both "energy"); s: dense "submultiple".
    loss = fold_alignment_loss if form == "c" else dense_fold_loss
    audio, envelope = random_signal(seed), random_envelope(seed)
    options = dict(normalization="energy", reduction="none")
    if form != "c":
        options["max_period"] = 30
    if form == "s":
        options.update(normalization="submultiple", min_period=6)
    torch.testing.assert_close(
        loss(envelope, gain * audio, 300, **options), loss(envelope, audio, 300, **options)
    )


@FAST
@given(seed=st.integers(0, 10_000), form=st.sampled_from("cd"))
def test_batched_equals_looped(seed, form):
    audio = random_signal(seed, batch=(3,))
    envelope = random_envelope(seed, batch=(3,))
    options = dict(reduction="none", **({"max_period": 30} if form == "d" else {}))
    loss = fold_alignment_loss if form == "c" else dense_fold_loss
    batched = loss(envelope, audio, 300, **options)
    looped = torch.stack([loss(envelope[i], audio[i], 300, **options) for i in range(3)])
    torch.testing.assert_close(batched, looped)


@FAST
@given(f0=st.floats(120.0, 600.0), frames=st.integers(1, 8))
def test_delaying_audio_and_envelope_delays_the_frame_losses(f0, frames):
    # A tone whose period changes at sample 2000, under an envelope with the same change.
    # Delaying audio and envelope by whole frames delays every interior frame's loss of
    # the dense form, which is local. (The cycle form is not: its cycles start at t = 0.)
    sample_rate, hop, n = 16000, 100, 6000
    contour = torch.where(torch.arange(n) < 2000, f0, f0 * 1.25).double()
    audio = harmonic_tone(contour, sample_rate).double() + 0.1 * random_signal(int(f0), n)
    envelope = torch.log2(sample_rate / contour[::hop])
    shift = frames * hop
    delayed_audio = torch.cat([torch.zeros(shift, dtype=F64), audio[:-shift]])
    delayed_envelope = torch.cat([envelope[:1].expand(frames), envelope[:-frames]])
    options = dict(kernel="cubic", reduction="none", max_period=200)
    original = dense_fold_loss(envelope, audio, hop, **options)
    moved = dense_fold_loss(delayed_envelope, delayed_audio, hop, **options)
    torch.testing.assert_close(moved[frames + 5 : -10], original[5 : -10 - frames])


@FAST
@given(
    log2_period=st.floats(math.log2(16000 / 1100), math.log2(16000 / 50)),
    normalization=st.sampled_from(["none", "energy", "submultiple"]),
    silent=st.booleans(),
)
def test_loss_and_gradient_stay_finite_across_the_allowed_range(log2_period, normalization, silent):
    # Periods at the edges of [1/1100 s, 1/50 s], on a tone or on digital silence.
    audio = torch.zeros(4000, dtype=F64) if silent else harmonic_tone(230.0, 16000, 4000).double()
    envelope = torch.full((5,), log2_period, dtype=F64, requires_grad=True)
    loss = dense_fold_loss(
        envelope,
        audio,
        1000,
        kernel="cubic",
        normalization=normalization,
        min_period=16000 / 1100,
        max_period=16000 / 50,
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(envelope.grad).all()


@settings(max_examples=10, deadline=None)
@given(f0=st.floats(150.0, 400.0), frames=st.integers(1, 6))
def test_delaying_the_audio_delays_the_optimum(f0, frames):
    # A tone that jumps up a major third at sample 1500, scored per frame against a grid
    # of constant periods: the best candidate is the true period on each side of the
    # jump, and delaying the audio by whole frames delays the best candidates with it.
    sample_rate, hop, n = 16000, 100, 4000
    contour = torch.where(torch.arange(n) < 1500, f0, f0 * 1.25).double()
    audio = harmonic_tone(contour, sample_rate).double() + 0.05 * random_signal(int(f0), n)
    low, high = math.log2(sample_rate / (f0 * 1.25) / 1.12), math.log2(sample_rate / f0 * 1.12)
    grid = torch.linspace(low, high, 48, dtype=F64)
    n_frames = n // hop
    envelopes = grid[:, None].expand(len(grid), n_frames)
    options = dict(kernel="cubic", reduction="none", max_period=2**high)

    def best(signal):
        return grid[dense_fold_loss(envelopes, signal, hop, **options).argmin(0)]

    original = best(audio)
    # With the noise on 100-sample frames, the best candidate is the grid point nearest
    # the truth or its neighbour (within 1.16 steps over 120 f0s in 150-400 Hz).
    tolerance = 1.5 * float(grid[1] - grid[0])
    before, after = math.log2(sample_rate / f0), math.log2(sample_rate / (f0 * 1.25))
    assert (original[2:11] - before).abs().max() <= tolerance
    assert (original[18:37] - after).abs().max() <= tolerance
    delayed = best(torch.cat([torch.zeros(frames * hop, dtype=F64), audio[: n - frames * hop]]))
    assert torch.equal(delayed[frames + 2 : 37], original[2 : 37 - frames])
