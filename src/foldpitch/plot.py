"""Figures (matplotlib is imported only when a figure is asked for)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._optional import require


def plot_track(path, audio: Tensor, sample_rate: int, track, title: str = "") -> None:
    """Spectrogram with the f0 track over it (voiced frames), and the fit's loss curve."""
    plt = _pyplot()

    panels = 2 if track.loss_history else 1
    figure, axes = plt.subplots(
        1,
        panels,
        figsize=(11 if panels == 2 else 8, 4),
        gridspec_kw={"width_ratios": [3, 1][:panels]},
        squeeze=False,
    )
    axis = axes[0, 0]
    top = min(
        sample_rate / 2, 4 * float(track.f0[track.voiced].max()) if track.voiced.any() else 2000
    )
    draw_spectrogram(axis, audio, sample_rate)
    f0 = torch.where(track.voiced, track.f0, torch.full_like(track.f0, float("nan")))
    axis.plot(track.times.numpy(), f0.numpy(), color="cyan", linewidth=1.5, label="f0")
    axis.set(ylim=(0, top), xlabel="time (s)", ylabel="frequency (Hz)", title=title or "f0")
    axis.legend(loc="upper right")
    if panels == 2:
        axes[0, 1].semilogy(track.loss_history)
        axes[0, 1].set(xlabel="Adam step", ylabel="objective", title="refinement")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_spectrogram(axis, audio: Tensor, sample_rate: int) -> None:
    """Level in dB (80 dB range) of ``audio (time,)`` on ``axis``: seconds by Hz."""
    n_fft = 2048 if sample_rate > 24000 else 1024
    # At most about 4000 columns, whatever the duration.
    hop = max(n_fft // 8, math.ceil(audio.shape[-1] / 4000))
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(
        audio, n_fft, hop_length=hop, window=window, pad_mode="constant", return_complex=True
    )
    level = 20 * torch.log10(spectrum.abs() + 1e-6)
    axis.imshow(
        level.numpy(),
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, audio.shape[-1] / sample_rate, 0, sample_rate / 2),
        vmin=float(level.max()) - 80,
    )


def plot_prediction(path, audio: Tensor, sample_rate: int, result, title: str) -> None:
    """Spectrogram with the f0 of the voiced frames over it, periodicity below
    (``result``: a :class:`foldpitch.predict.PitchResult` of mono audio)."""
    plt = _pyplot()

    voiced = result.voiced
    top = min(sample_rate / 2, 4 * float(result.f0[voiced].max()) if voiced.any() else 2000)
    figure, (upper, lower) = plt.subplots(
        2, 1, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    draw_spectrogram(upper, audio, sample_rate)
    f0 = torch.where(voiced, result.f0, torch.full_like(result.f0, float("nan")))
    upper.plot(result.times.numpy(), f0.numpy(), color="cyan", linewidth=1.5, label="f0 (voiced)")
    upper.set(ylim=(0, top), ylabel="frequency (Hz)", title=title)
    upper.legend(loc="upper right")
    lower.plot(result.times.numpy(), result.periodicity.numpy(), color="black", linewidth=1)
    lower.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    duration = audio.shape[-1] / sample_rate
    lower.set(xlim=(0, duration), ylim=(0, 1), xlabel="time (s)", ylabel="periodicity")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no window)."""
    matplotlib = require("matplotlib", "plot", "foldpitch's figures")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "plot", "foldpitch's figures")
