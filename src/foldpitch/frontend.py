"""Spectrogram features whose frames sit exactly on the envelope's control points.

A network that predicts the period envelope (log2 of the period in samples at control
points, control point ``f`` at sample ``f * hop_length``, see :mod:`foldpitch.envelope`)
reads one feature frame per control point. :func:`log_spectrogram` makes those frames:

* **Alignment.** Frame ``f`` is the STFT of the audio around sample ``f * hop_length``:
  ``torch.stft`` with ``center=True`` and zero (constant) padding of ``n_fft // 2``
  samples on each side, and a Hann window whose peak is at index ``n_fft // 2`` (the
  periodic window for even ``n_fft``, the symmetric one for odd ``n_fft``), so the
  window's peak lands exactly on sample ``f * hop_length``.
* **Frame count.** There is one frame per control point that lies on a sample of the
  signal, ``f * hop_length <= time - 1``::

      n_frames = n_frames_for(time, hop_length) = (time - 1) // hop_length + 1
               = ceil(time / hop_length)

  the count :func:`foldpitch.fit.fit_envelope` also uses. ``torch.stft`` itself returns
  ``time // hop_length + 1`` frames, one more when ``time`` is a multiple of
  ``hop_length``: that extra frame is centred on sample ``time``, one past the end of the
  signal, and is dropped. Use :func:`n_frames_for` wherever an envelope is sized for
  audio so features and envelopes cannot disagree.
* **Any length.** Zero padding (not reflection) means any ``time >= 1`` works, even
  shorter than ``n_fft // 2``.
* **Gain.** ``normalize=True`` makes the features invariant to the audio's gain: the
  magnitudes are divided by their mean over bins and frames (so ``eps`` is relative to
  the example's level), compressed, then standardised to zero mean and unit standard
  deviation over bins and frames, per example.

Everything is differentiable with respect to the audio, follows the audio's dtype and
device, and never modifies its input.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from . import _checks

__all__ = [
    "COMPRESSIONS",
    "Spectrogram",
    "frame_power_db",
    "frequency_offsets",
    "log_spectrogram",
    "n_frames_for",
]

COMPRESSIONS = ("log", "log1p", "none")

# Per-example standard deviations below this are not divided by (silence stays ~0).
_STD_FLOOR = 1e-3


def n_frames_for(n_samples: int, hop_length: int) -> int:
    """Number of frames / envelope control points for a signal of ``n_samples``.

    Control point (and feature frame) ``f`` sits at sample ``f * hop_length``; there is
    one for every such sample inside the signal, ``0 <= f * hop_length <= n_samples - 1``.

    Args:
        n_samples: length of the audio in samples, ``>= 1``.
        hop_length: samples between frames, a positive integer.

    Returns:
        ``(n_samples - 1) // hop_length + 1``, i.e. ``ceil(n_samples / hop_length)``.

    Example:
        >>> n_frames_for(16000, 160), n_frames_for(16001, 160), n_frames_for(100, 160)
        (100, 101, 1)
    """
    _checks.positive_int("n_samples", n_samples, unit="samples")
    _checks.positive_int("hop_length", hop_length, unit="samples")
    return (n_samples - 1) // hop_length + 1


def log_spectrogram(
    audio: Tensor,
    n_fft: int = 1024,
    hop_length: int = 160,
    n_bins: int | None = None,
    compression: str = "log",
    eps: float = 1e-5,
    *,
    normalize: bool = False,
    win_length: int | None = None,
) -> Tensor:
    """Compressed STFT magnitudes, one frame per envelope control point.

    Args:
        audio: waveform ``(..., time)``, floating point, any ``time >= 1``.
        n_fft: FFT and (Hann) window length in samples, ``>= 2``. Bin ``k`` is at
            ``k / n_fft`` cycles per sample (``k * sample_rate / n_fft`` Hz).
        hop_length: samples between frames, a positive integer; frame ``f`` is centred
            on sample ``f * hop_length``.
        n_bins: keep the lowest ``n_bins`` frequency bins (pitch lives in the low bins),
            ``1 <= n_bins <= n_fft // 2 + 1``; ``None`` keeps all ``n_fft // 2 + 1``.
        compression: applied to the magnitude ``m``: ``"log"`` gives ``log(m + eps)``,
            ``"log1p"`` gives ``log1p(m / eps) = log(m + eps) - log(eps)`` (the same curve,
            but 0 for silence and never negative), ``"none"`` gives ``m``.
        eps: positive floor inside the logarithm, in magnitude units (relative to the
            example's mean magnitude when ``normalize=True``).
        normalize: per example, divide the magnitudes by their mean over bins and frames
            before compression and standardise the result (zero mean, unit standard
            deviation over bins and frames). The features are then invariant to the
            audio's gain; silence maps to (nearly) 0.
        win_length: the Hann window's length in samples, ``2 <= win_length <= n_fft``
            with ``n_fft - win_length`` even (``None``: ``n_fft``). A shorter window is
            zero-padded on both sides to ``n_fft``, its peak still at ``n_fft // 2``: the
            same audio, its spectrum sampled ``n_fft / win_length`` times more finely
            (with ``n_fft = 2 * win_length``, the even bins are the unpadded STFT's).

    Returns:
        Features ``(..., n_bins, n_frames)`` with ``n_frames = n_frames_for(time,
        hop_length)``, same dtype and device as ``audio``.

    Shape:
        - audio: ``(..., time)``
        - output: ``(..., n_bins, n_frames)``, ``n_frames = (time - 1) // hop_length + 1``

    Example:
        >>> t = torch.arange(16000.0)
        >>> tone = torch.sin(2 * torch.pi * 32 * t / 1024)  # exactly bin 32 of 1024
        >>> features = log_spectrogram(tone, n_fft=1024, hop_length=160, n_bins=64)
        >>> features.shape
        torch.Size([64, 100])
        >>> int(features[:, 50].argmax())
        32
    """
    n_bins = _check_options(n_fft, hop_length, n_bins, compression, eps, normalize)
    win_length = _check_win_length(win_length, n_fft)
    _check_audio(audio)
    return _log_spectrogram(
        audio, n_fft, hop_length, n_bins, compression, eps, normalize, win_length
    )


def _log_spectrogram(
    audio, n_fft, hop_length, n_bins, compression, eps, normalize, win_length=None
) -> Tensor:
    """:func:`log_spectrogram` of checked arguments (``n_bins`` resolved)."""
    shape, n_samples = audio.shape[:-1], audio.shape[-1]
    n_frames = (n_samples - 1) // hop_length + 1  # n_frames_for
    work_dtype, window = _work_dtype_and_window(audio, n_fft, win_length)
    flat = audio.reshape(-1, n_samples).to(work_dtype)
    magnitude = _stft(flat, n_fft, hop_length, window, n_bins, n_frames).abs()
    if normalize:
        level = magnitude.mean(dim=(-2, -1), keepdim=True)
        magnitude = magnitude / level.clamp_min(torch.finfo(work_dtype).tiny)
    if compression == "log":
        features = torch.log(magnitude + eps)
    elif compression == "log1p":
        features = torch.log1p(magnitude / eps)
    else:
        features = magnitude
    if normalize:
        mean = features.mean(dim=(-2, -1), keepdim=True)
        centred = features - mean
        std = centred.square().mean(dim=(-2, -1), keepdim=True).sqrt()
        features = centred / std.clamp_min(_STD_FLOOR)
    return features.reshape(shape + features.shape[-2:]).to(audio.dtype)


def frequency_offsets(
    audio: Tensor,
    n_fft: int = 1024,
    hop_length: int = 160,
    n_bins: int | None = None,
    *,
    win_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Each STFT bin's reassigned frequency, relative to the bin, and its magnitude.

    A bin dominated by one sinusoid knows that sinusoid's frequency far more finely
    than the bin spacing: ``k - (n_fft / 2 pi) Im(X_dw(k) / X_w(k))`` (in bins, ``X_w``
    the STFT with the Hann window ``w``, ``X_dw`` with its derivative ``dw/dn``; the
    frequency reassignment of Auger and Flandrin, 1995). For a stationary sine it is
    exact up to the other components' leakage: a 60 Hz tone reads within a few cents
    from one 64 ms frame, where the bins are 15.6 Hz apart. Frames, bins and windows
    are those of :func:`log_spectrogram` with the same arguments.

    Args:
        audio: waveform ``(..., time)``, floating point.
        n_fft, hop_length, n_bins, win_length: as in :func:`log_spectrogram`.

    Returns:
        ``(offsets, magnitude)``, each ``(..., n_bins, n_frames)``: the reassigned
        frequency minus the bin's own, in bins (0 where the magnitude is 0), and the
        STFT magnitude (``log_spectrogram(..., compression="none")``).

    Example:
        >>> t = torch.arange(16000.0)
        >>> tone = torch.sin(2 * torch.pi * 100.3 * t / 1024)  # between bins 100 and 101
        >>> offsets, magnitude = frequency_offsets(tone, n_bins=128)
        >>> round(float(offsets[100, 50]), 3), round(float(offsets[101, 50]), 3)
        (0.3, -0.7)
    """
    n_bins = _check_options(n_fft, hop_length, n_bins, "none", 1.0, False)
    win_length = _check_win_length(win_length, n_fft)
    _check_audio(audio)
    return _frequency_offsets(audio, n_fft, hop_length, n_bins, win_length)


def _frequency_offsets(audio, n_fft, hop_length, n_bins, win_length) -> tuple[Tensor, Tensor]:
    """:func:`frequency_offsets` of checked arguments."""
    shape, n_samples = audio.shape[:-1], audio.shape[-1]
    n_frames = (n_samples - 1) // hop_length + 1  # n_frames_for
    work_dtype, window = _work_dtype_and_window(audio, n_fft, win_length)
    derivative = _hann_derivative(win_length, n_fft, work_dtype, audio.device)
    flat = audio.reshape(-1, n_samples).to(work_dtype)
    spectrum = _stft(flat, n_fft, hop_length, window, n_bins, n_frames)
    spectrum_dw = _stft(flat, n_fft, hop_length, derivative, n_bins, n_frames)
    offsets, power = _reassigned_offsets(
        spectrum.real, spectrum.imag, spectrum_dw.real, spectrum_dw.imag, n_fft
    )
    magnitude = power.sqrt()

    def restore(x: Tensor) -> Tensor:
        return x.reshape(shape + x.shape[-2:]).to(audio.dtype)

    return restore(offsets), restore(magnitude)


def _stft(flat: Tensor, n_fft, hop_length, window, n_bins, n_frames) -> Tensor:
    """Complex STFT ``(rows, n_bins, n_frames)`` of ``flat`` ``(rows, time)``, framed as
    :func:`log_spectrogram` frames it, with ``window`` (``n_fft`` long, padded already)."""
    spectrum = torch.stft(
        flat,
        n_fft,
        hop_length=hop_length,
        win_length=n_fft,  # the window, zero-padded to n_fft already
        window=window,
        center=True,
        pad_mode="constant",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return spectrum[:, :n_bins, :n_frames]


def _reassigned_offsets(real, imag, real_dw, imag_dw, n_fft: int) -> tuple[Tensor, Tensor]:
    """``(offsets, power)`` from the real and imaginary parts of the STFT with the window
    (``real``, ``imag``) and with its derivative (``_dw``): the offset in bins,
    ``-(n_fft / 2 pi) Im(X_dw / X_w)``, 0 where the bin is silent, and ``|X_w|^2``. In
    real arithmetic, so that the ONNX export computes it the same way."""
    power = real.square() + imag.square()
    # Im(X_dw / X_w) = Im(X_dw conj(X_w)) / |X_w|^2
    cross = imag_dw * real - real_dw * imag
    tiny = torch.finfo(power.dtype).tiny
    return -cross / power.clamp_min(tiny) * (n_fft / (2 * torch.pi)), power


def frame_power_db(audio: Tensor, n_fft: int = 1024, hop_length: int = 160) -> Tensor:
    """Mean power of each frame in dB (re a full-scale square wave: a full-scale sine is
    -3 dB, digital silence -200 dB), framed as :func:`log_spectrogram` frames it.

    Frame ``f`` is ``10 log10(sum_n w[n] x[f hop - n_fft // 2 + n] ** 2 / sum_n w[n])``
    with the same Hann window ``w`` and zero padding as the spectrogram, so the level
    describes exactly the audio a feature frame sees. Not differentiable by design (a
    level for decisions, not for losses).

    Args:
        audio: float tensor ``(..., time)``.
        n_fft: window length in samples, ``>= 2``.
        hop_length: samples between frames, ``>= 1``.

    Returns:
        ``(..., n_frames)`` in the audio's dtype (float32 for half precision), with
        ``n_frames = n_frames_for(time, hop_length)``; at least -200 dB.

    Example:
        >>> tone = torch.sin(2 * torch.pi * 100 * torch.arange(16000) / 16000)
        >>> round(float(frame_power_db(tone)[50]), 2)
        -3.01
    """
    _check_options(n_fft, hop_length, None, "none", 1.0, False)
    _check_audio(audio)
    return _frame_power_db(audio, n_fft, hop_length)


def _frame_power_db(audio: Tensor, n_fft: int, hop_length: int) -> Tensor:
    """:func:`frame_power_db` of checked arguments (for callers that checked them once,
    such as :mod:`foldpitch.stream` on every push)."""
    shape, n_samples = audio.shape[:-1], audio.shape[-1]
    work_dtype = _work_dtype(audio)
    weights = _window(n_fft, work_dtype, audio.device, normalized=True)
    n_frames = (n_samples - 1) // hop_length + 1  # n_frames_for
    rows = []
    for row in audio.detach().reshape(-1, n_samples):  # one at a time: small temporaries
        squared = torch.nn.functional.pad(row.to(work_dtype).square(), (n_fft // 2, n_fft // 2))
        rows.append(squared.unfold(-1, n_fft, hop_length)[:n_frames] @ weights)
    decibels = 10 * torch.log10(torch.stack(rows).clamp_min(1e-20))
    return decibels.reshape(shape + decibels.shape[-1:])


class Spectrogram(torch.nn.Module):
    """:func:`log_spectrogram` as a module, with its options stored.

    Args:
        n_fft, hop_length, n_bins, compression, eps, normalize, win_length: as in
            :func:`log_spectrogram` (checked here, at construction).

    Shape:
        - input: ``(..., time)``
        - output: ``(..., n_bins, n_frames)``, ``n_frames = n_frames_for(time, hop_length)``

    Example:
        >>> frontend = Spectrogram(n_fft=512, hop_length=128, n_bins=40, normalize=True)
        >>> frontend(torch.randn(2, 1000)).shape
        torch.Size([2, 40, 8])
        >>> frontend.n_frames(1000)
        8
    """

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 160,
        n_bins: int | None = None,
        compression: str = "log",
        eps: float = 1e-5,
        *,
        normalize: bool = False,
        win_length: int | None = None,
    ) -> None:
        super().__init__()
        self.n_bins = _check_options(n_fft, hop_length, n_bins, compression, eps, normalize)
        self.win_length = _check_win_length(win_length, n_fft)  # an int: n_fft if None
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.compression = compression
        self.eps = eps
        self.normalize = normalize

    def forward(self, audio: Tensor) -> Tensor:
        _check_audio(audio)  # the options were checked at construction
        return _log_spectrogram(
            audio,
            self.n_fft,
            self.hop_length,
            self.n_bins,
            self.compression,
            self.eps,
            self.normalize,
            self.win_length,
        )

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` of audio (see :func:`n_frames_for`)."""
        return n_frames_for(n_samples, self.hop_length)

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, n_bins={self.n_bins}, "
            f"compression={self.compression!r}, eps={self.eps}, normalize={self.normalize}"
            + (f", win_length={self.win_length}" if self.win_length != self.n_fft else "")
        )


# --- checks ------------------------------------------------------------------------


def _work_dtype_and_window(
    audio: Tensor, n_fft: int, win_length: int | None = None
) -> tuple[torch.dtype, Tensor]:
    """The dtype frames are computed in (float32 for half precision: torch.stft has no
    half-precision CPU kernel) and the Hann window in it, ``n_fft`` long. The window's
    peak is at index ``n_fft // 2`` (periodic for even length, symmetric for odd), i.e.
    on sample ``f * hop_length`` once ``n_fft // 2`` samples of padding are in front; a
    ``win_length`` window is zero-padded equally on both sides."""
    work_dtype = _work_dtype(audio)
    window = _window(win_length or n_fft, work_dtype, audio.device)
    if win_length is not None and win_length != n_fft:
        side = (n_fft - win_length) // 2
        window = torch.nn.functional.pad(window, (side, side))
    return work_dtype, window


@functools.lru_cache(maxsize=32)
def _hann_derivative(win_length: int, n_fft: int, dtype: torch.dtype, device: torch.device):
    """``dw/dn`` of :func:`_work_dtype_and_window`'s window (per sample), zero-padded
    the same way: ``(pi / L) sin(2 pi n / L)`` for the periodic Hann window of even
    length ``L``, ``(pi / (L - 1)) sin(2 pi n / (L - 1))`` for the symmetric one."""
    with torch.inference_mode(False), torch.no_grad():
        period = win_length if win_length % 2 == 0 else win_length - 1
        n = torch.arange(win_length, dtype=torch.float64, device=device)
        derivative = (torch.pi / period) * torch.sin(2 * torch.pi * n / period)
        side = (n_fft - win_length) // 2
        return torch.nn.functional.pad(derivative, (side, side)).to(dtype)


def _work_dtype(audio: Tensor) -> torch.dtype:
    return torch.float32 if audio.dtype in (torch.float16, torch.bfloat16) else audio.dtype


@functools.lru_cache(maxsize=32)
def _window(n_fft: int, dtype: torch.dtype, device: torch.device, normalized: bool = False):
    """The Hann window of :func:`_work_dtype_and_window` (divided by its sum if
    ``normalized``), made once per length, dtype and device: a stream computes a few
    frames per push, where building the window cost as much as the STFT. A constant:
    made outside inference mode (usable where autograd records) and never modified."""
    with torch.inference_mode(False), torch.no_grad():
        window = torch.hann_window(n_fft, periodic=n_fft % 2 == 0, dtype=dtype, device=device)
        return window / window.sum() if normalized else window


def _check_win_length(win_length, n_fft) -> int:
    """Check ``win_length`` against ``n_fft``; return it resolved (``None`` -> ``n_fft``)."""
    if win_length is None:
        return n_fft
    _checks.positive_int("win_length", win_length, minimum=2, unit="samples")
    if win_length > n_fft or (n_fft - win_length) % 2:
        raise ValueError(
            f"win_length={win_length} must be at most n_fft={n_fft} and differ from it by"
            " an even number of samples (the window is zero-padded equally on both sides)"
        )
    return win_length


def _check_options(n_fft, hop_length, n_bins, compression, eps, normalize) -> int:
    """Check the options; return ``n_bins`` resolved (``None`` -> ``n_fft // 2 + 1``)."""
    _checks.positive_int("n_fft", n_fft, minimum=2, unit="samples")
    _checks.positive_int("hop_length", hop_length, unit="samples")
    n_available = n_fft // 2 + 1
    if n_bins is None:
        n_bins = n_available
    else:
        _checks.positive_int("n_bins", n_bins)
        if n_bins > n_available:
            raise ValueError(
                f"n_bins must be between 1 and n_fft // 2 + 1 = {n_available} "
                f"(n_fft={n_fft}), got {n_bins}"
            )
    _checks.one_of("compression", compression, COMPRESSIONS)
    _checks.positive_real("eps", eps)
    _checks.flag("normalize", normalize)
    return n_bins


def _check_audio(audio) -> None:
    if not isinstance(audio, Tensor) or not audio.is_floating_point():
        raise TypeError(
            "audio must be a floating-point tensor (..., time), got "
            + (
                f"a tensor of dtype {audio.dtype}"
                if isinstance(audio, Tensor)
                else type(audio).__name__
            )
        )
    if audio.ndim == 0 or audio.shape[-1] == 0:
        raise ValueError(
            f"audio must have shape (..., time) with time >= 1, got {tuple(audio.shape)}"
        )
