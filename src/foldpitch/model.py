"""The network: spectrogram frames -> a distribution over log-period bins and periodicity.

:class:`PitchNet` reads one STFT frame per envelope control point (frame ``f`` at sample
``f * hop_length``, see :mod:`foldpitch.frontend`) and outputs, per frame:

* ``logits`` over ``n_period_bins`` bins that split ``[log2(sample_rate / fmax),
  log2(sample_rate / fmin)]`` (log2 of the period in samples) into equal parts;
* ``offsets`` in ``(0, 1)``: where in each bin the period lies;
* ``periodicity_logits``: the voicing output (``sigmoid`` gives the periodicity).

The period of a frame is ``edges[k] + offset[k] * bin_width`` for its most probable bin
``k``: bounded to ``[fmin, fmax]`` by construction. A distribution over bins lets the
training loss score every candidate period (see
:class:`foldpitch.loss.SelfSupervisedFoldLoss`), so training is not trapped in the basin
nearest to its current guess; the offset gives the continuous period within the bin.

The features are gain invariant frame by frame (each frame's magnitudes are divided by
its largest), so a frame's output depends only on the audio around it: long audio can be
processed in overlapping chunks.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import _checks
from .frontend import Spectrogram, _frequency_offsets

__all__ = [
    "CHECKPOINT_FORMAT",
    "PitchNet",
    "PitchNetOutput",
    "add_frequency_offsets",
    "add_short_stft",
    "export_pitchnet",
    "load_pitchnet",
    "zero_pad_stft",
]

DEFAULT_VOICING_THRESHOLD = 0.5
"""The voicing threshold of a network whose checkpoint names none."""


def check_voicing_threshold(value) -> float:
    """``value`` as a float in ``(0, 1)``: ``TypeError`` or ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"voicing_threshold must be a number in (0, 1), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"voicing_threshold must be in (0, 1), got {value}")
    return float(value)


CHECKPOINT_FORMAT = 1
"""Version of the ``"foldpitch"`` entry of checkpoints written by this code.

1: ``model_config``, ``resolved_config``, ``commit``, ``samples_seen``, optionally
``voicing_threshold`` (and the network's weights under ``state_dict["model.*"]``).
Checkpoints written before the field existed have no ``format_version`` and are read as
format 1.
:func:`load_pitchnet` refuses a format newer than this one."""


@dataclass
class PitchNetOutput:
    """What :class:`PitchNet` returns; every tensor is ``(batch, n_frames[, n_bins])``."""

    logits: Tensor
    """Scores of the period bins ``(batch, n_frames, n_bins)``."""
    offsets: Tensor
    """Position of the period within each bin, in ``(0, 1)``, ``(batch, n_frames, n_bins)``."""
    periodicity_logits: Tensor
    """Voicing scores ``(batch, n_frames)``; ``sigmoid`` gives the periodicity."""


def _offset_features(offsets: Tensor, magnitude: Tensor) -> Tensor:
    """Each bin's frequency offset (:func:`foldpitch.frontend.frequency_offsets`, in
    bins, clipped to the Hann main lobe, +-2) over 2, weighted by its level: 1 at the
    frame's largest magnitude, 0.1 at 60 dB below it, towards 0 below that, where
    offsets are noise. ``(..., n_bins, n_frames)``, within +-1."""
    peak = magnitude.amax(dim=-2, keepdim=True)
    relative = magnitude / peak.clamp_min(torch.finfo(magnitude.dtype).tiny)
    weight = torch.log1p(relative * 1e3) / math.log1p(1e3)
    return offsets.clamp(-2.0, 2.0) * (weight / 2)


def _relative_log(magnitude: Tensor) -> Tensor:
    """Each frame's magnitudes over its largest, compressed: ``(batch, bins, frames)``."""
    peak = magnitude.amax(dim=-2, keepdim=True)
    relative = magnitude / peak.clamp_min(torch.finfo(magnitude.dtype).tiny)
    return (torch.log(relative + 1e-3) + 3.5) / 2.0  # about zero mean, unit spread


class _FrameNorm(nn.LayerNorm):
    """LayerNorm over the channels of each frame: statistics never mix frames, so a
    frame's output depends only on the audio around it (chunking stays exact)."""

    def forward(self, x: Tensor) -> Tensor:  # (batch, channels, frames)
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, channels, kernel_size, padding="same", dilation=dilation),
            _FrameNorm(channels),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        # Zeros past each row's last frame: the convolution pads as it would without them.
        return x + self.body(x if mask is None else x * mask)

    @property
    def context(self) -> tuple[int, int]:
        """Frames ``(before, after)`` a frame that its output reads (the convolution's
        "same" padding: the odd frame of an even span goes after)."""
        conv = self.body[0]
        span = conv.dilation[0] * (conv.kernel_size[0] - 1)
        return span // 2, span - span // 2

    @property
    def taps(self) -> list[int]:
        """Where the convolution reads, in frames from the frame it outputs."""
        conv = self.body[0]
        dilation, before = conv.dilation[0], self.context[0]
        return [dilation * i - before for i in range(conv.kernel_size[0])]

    def at_taps(self, taps: Tensor, x: Tensor) -> Tensor:
        """The block's output at any frames, channels last, from its input at each frame's
        :attr:`taps` ``(..., channels, kernel_size)`` and at the frame itself ``x`` ``(...,
        channels)``: ``(..., channels)``, :meth:`forward`'s value up to float rounding.
        The convolution is one matrix product: fast on a few frames (for
        :mod:`foldpitch.stream`)."""
        conv, norm, activation, dropout, mix = self.body
        hidden = nn.functional.linear(taps.flatten(-2), conv.weight.flatten(1), conv.bias)
        hidden = nn.functional.layer_norm(
            hidden, norm.normalized_shape, norm.weight, norm.bias, norm.eps
        )
        hidden = activation(hidden)
        if self.training:  # (dropout is the identity in eval mode: one call less)
            hidden = dropout(hidden)
        hidden = nn.functional.linear(hidden, mix.weight.flatten(1), mix.bias)
        return hidden.add_(x)

    def unpadded(self, x: Tensor) -> Tensor:
        """The block on frames ``x`` ``(batch, n, channels)`` (channels last) without zero
        padding: ``(batch, n - before - after, channels)``, the frames ``before .. n -
        after - 1`` (:attr:`context`), as :meth:`at_taps`."""
        before, after = self.context
        dilation = self.body[0].dilation[0]
        taps = x.unfold(1, before + after + 1, 1)[..., ::dilation]  # (batch, n, c, kernel)
        return self.at_taps(taps, x[:, before : x.shape[1] - after])


class PitchNet(nn.Module):
    """Convolutional pitch network over STFT frames.

    Args:
        sample_rate: the audio's sample rate in Hz (periods are in its samples).
        hop_length: samples between frames (10 ms at 16 kHz by default).
        fmin, fmax: the f0 range in Hz; every output lies inside it.
        n_fft: STFT size (Hann window of the same length unless ``win_length``).
        n_input_bins: lowest STFT bins fed to the network.
        win_length: the main STFT's window, zero-padded to ``n_fft`` (``None``:
            ``n_fft``): with ``n_fft = 2 * win_length`` the network sees the same audio
            as with ``n_fft = win_length``, its spectrum sampled twice as finely, so a
            lone spectral peak (a pure tone) spans twice the bins (double
            ``n_input_bins`` to keep the frequency range).
        channels: width of the convolutional stack.
        n_blocks: residual blocks; block ``i`` has dilation ``2 ** i`` (time context
            grows to ``1 + (kernel_size - 1) * (2 ** n_blocks - 1)`` frames).
        kernel_size: temporal kernel size of the blocks.
        n_period_bins: bins of the period distribution.
        dropout: dropout inside the blocks.
        n_fft_short: a second, shorter STFT read beside the first (``None``: none), whose
            finer time resolution follows fast pitch movement; must not exceed ``n_fft``.
        n_short_bins: lowest bins of the short STFT fed to the network (default: the
            same frequency range as ``n_input_bins``).
        frequency_offsets: also feed each main-STFT bin's reassigned frequency
            (:func:`foldpitch.frontend.frequency_offsets`): where a bin holds one
            partial, where that partial lies between the bins (a pure tone's f0 to a few
            cents, where the magnitudes alone leave it to a fraction of a 15.6 Hz bin).

    Attributes:
        voicing_threshold: the periodicity above which :func:`foldpitch.predict.predict`
            calls a frame voiced by default: 0.5, or the value stored in the checkpoint
            by :func:`export_pitchnet` (0.7 for the shipped network).

    Shape:
        - input: audio ``(batch, time)`` or ``(time,)``
        - output: :class:`PitchNetOutput` with ``n_frames = n_frames_for(time, hop_length)``

    Example:
        >>> net = PitchNet(channels=16, n_blocks=1, n_period_bins=32)
        >>> out = net(torch.randn(2, 1600))
        >>> out.logits.shape, out.periodicity_logits.shape
        (torch.Size([2, 10, 32]), torch.Size([2, 10]))
        >>> f0 = net.frequency(net.log2_period(out))
        >>> bool(((f0 >= 50) & (f0 <= 1100)).all())
        True
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        hop_length: int = 160,
        fmin: float = 50.0,
        fmax: float = 1100.0,
        n_fft: int = 1024,
        n_input_bins: int = 256,
        channels: int = 128,
        n_blocks: int = 4,
        kernel_size: int = 5,
        n_period_bins: int = 256,
        dropout: float = 0.0,
        n_fft_short: int | None = None,
        n_short_bins: int | None = None,
        win_length: int | None = None,
        frequency_offsets: bool = False,
    ) -> None:
        super().__init__()
        sample_rate = _checks.sample_rate("sample_rate", sample_rate)
        self.frequency_offsets = _checks.flag("frequency_offsets", frequency_offsets)
        if not 0 < fmin < fmax < sample_rate / 2:
            raise ValueError(
                f"need 0 < fmin < fmax < sample_rate / 2 = {sample_rate / 2:g} Hz, "
                f"got fmin={fmin}, fmax={fmax}"
            )
        if sample_rate / fmax < 2:
            raise ValueError(f"fmax={fmax} Hz gives periods under 2 samples at {sample_rate} Hz")
        for name, value in (
            ("channels", channels),
            ("n_blocks", n_blocks),
            ("kernel_size", kernel_size),
            ("n_period_bins", n_period_bins),
        ):
            _checks.positive_int(name, value)
        self.sample_rate, self.hop_length = sample_rate, hop_length
        self.fmin, self.fmax = float(fmin), float(fmax)
        self.frontend = Spectrogram(
            n_fft, hop_length, n_input_bins, compression="none", win_length=win_length
        )
        self.frontend_short = None
        if n_fft_short is not None:
            _checks.positive_int("n_fft_short", n_fft_short, unit="samples")
            if n_fft_short > self.frontend.win_length:
                raise ValueError(
                    f"n_fft_short={n_fft_short} must not exceed the main window"
                    f" ({self.frontend.win_length} samples)"
                )
            if n_short_bins is None:
                n_short_bins = max(1, n_input_bins * n_fft_short // n_fft)
            self.frontend_short = Spectrogram(
                n_fft_short, hop_length, n_short_bins, compression="none"
            )
        elif n_short_bins is not None:
            raise ValueError("n_short_bins needs n_fft_short")
        n_features = self.frontend.n_bins * (2 if frequency_offsets else 1) + (
            self.frontend_short.n_bins if self.frontend_short is not None else 0
        )
        self.register_buffer(
            "log2_period_edges",
            torch.linspace(
                math.log2(sample_rate / fmax), math.log2(sample_rate / fmin), n_period_bins + 1
            ),
            persistent=False,
        )
        self.stem = nn.Sequential(nn.Conv1d(n_features, channels, 1), nn.GELU())
        self.blocks = nn.Sequential(
            *(_ResidualBlock(channels, kernel_size, 2**i, dropout) for i in range(n_blocks))
        )
        self.head = nn.Conv1d(channels, 2 * n_period_bins + 1, 1)
        self.n_period_bins = n_period_bins
        # The periodicity above which a frame is voiced. Not a training argument: it is
        # chosen for a trained network and kept in its exported checkpoint.
        self.voicing_threshold = DEFAULT_VOICING_THRESHOLD

    @property
    def bin_width(self) -> float:
        """Width of a period bin in octaves."""
        return float(self.log2_period_edges[1] - self.log2_period_edges[0])

    def features(self, audio: Tensor) -> Tensor:
        """Per-frame gain-invariant log magnitudes ``(batch, n_input_bins [+
        n_short_bins] [+ n_input_bins], n_frames)``: the short STFT's below the long
        one's, then the long one's frequency offsets (``frequency_offsets=True``)."""
        frontend = self.frontend
        if self.frequency_offsets:
            offsets, magnitude = _frequency_offsets(
                audio, frontend.n_fft, frontend.hop_length, frontend.n_bins, frontend.win_length
            )
        else:
            magnitude = frontend(audio)
        features = [_relative_log(magnitude)]
        if self.frontend_short is not None:
            features.append(_relative_log(self.frontend_short(audio)))
        if self.frequency_offsets:
            features.append(_offset_features(offsets, magnitude))
        return features[0] if len(features) == 1 else torch.cat(features, dim=-2)

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> PitchNetOutput:
        """Run the network on ``audio`` ``(batch, time)`` (or ``(time,)``).

        ``lengths`` (int ``(batch,)``, optional) are the samples of each row that are
        audio; the rest of the row must be zeros (padding, so that rows of different
        lengths share one call). Each row's first ``n_frames_for(length, hop_length)``
        frames then equal those of the row cut to its length, up to float rounding: the
        STFT pads with zeros anyway, and every convolution over time is fed zeros past
        the row's last frame, as its own padding would. Later frames are meaningless.
        """
        if not isinstance(audio, Tensor) or not audio.is_floating_point():
            raise TypeError("audio must be a floating-point tensor (batch, time)")
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2:
            raise ValueError(f"audio must be (batch, time) or (time,), got {tuple(audio.shape)}")
        features = self.features(audio)
        mask = None
        if lengths is not None:
            if lengths.shape != audio.shape[:1]:
                raise ValueError(
                    f"lengths must be (batch,) = {tuple(audio.shape[:1])}, got "
                    f"{tuple(lengths.shape)}"
                )
            frames = torch.div(lengths.to(audio.device) - 1, self.hop_length, rounding_mode="floor")
            index = torch.arange(features.shape[-1], device=audio.device)
            mask = (index <= frames[:, None]).to(features.dtype)[:, None]  # (batch, 1, frames)
        return self.from_features(features, mask)

    def from_features(self, features: Tensor, mask: Tensor | None = None) -> PitchNetOutput:
        """The network after :meth:`features` ``(batch, n_input_bins, n_frames)``. Frames
        past either end of ``features`` count as zeros at every layer (the convolutions'
        padding), as at the ends of a signal; ``mask`` ``(batch, 1, n_frames)`` (1 for
        frames, 0 for padding) zeroes more, as :meth:`forward` does past ``lengths``."""
        hidden = self.stem(features)
        for block in self.blocks:
            hidden = block(hidden, mask)
        return self.head_output(hidden)

    def head_output(self, hidden: Tensor) -> PitchNetOutput:
        """The output of the last block's frames ``hidden`` ``(batch, channels,
        n_frames)`` (the head is frame by frame)."""
        out = self.head(hidden).transpose(1, 2)  # (batch, n_frames, 2 K + 1)
        k = self.n_period_bins
        return PitchNetOutput(
            logits=out[..., :k],
            offsets=torch.sigmoid(out[..., k : 2 * k]),
            periodicity_logits=out[..., 2 * k],
        )

    def log2_period(self, output: PitchNetOutput, bins: Tensor | None = None) -> Tensor:
        """log2 period in samples of bin ``bins`` plus its offset, per frame: ``bins``
        ``(batch, n_frames)`` (default: the most probable bin) gives ``(batch,
        n_frames)``, and ``(batch, n_frames, k)`` (several bins per frame) gives ``(batch,
        n_frames, k)``. Differentiable with respect to the offsets."""
        if bins is None:
            bins = output.logits.argmax(-1)
        # gather wants the bins as (batch, n_frames, k); one bin per frame is k = 1.
        index = bins.reshape(*output.offsets.shape[:-1], -1)
        offset = output.offsets.gather(-1, index).reshape(bins.shape)
        return self.log2_period_edges[bins] + offset * self.bin_width

    def frequency(self, log2_period: Tensor) -> Tensor:
        """f0 in Hz from log2 period in samples."""
        return self.sample_rate / torch.exp2(log2_period)

    def config(self) -> dict:
        """The constructor arguments: ``PitchNet(**net.config())`` rebuilds the network."""
        block = self.blocks[0].body
        short = self.frontend_short
        extra = {} if short is None else {"n_fft_short": short.n_fft, "n_short_bins": short.n_bins}
        if self.frontend.win_length != self.frontend.n_fft:  # old configs stay as they were
            extra["win_length"] = self.frontend.win_length
        if self.frequency_offsets:
            extra["frequency_offsets"] = True
        return {
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "n_fft": self.frontend.n_fft,
            "n_input_bins": self.frontend.n_bins,
            "channels": self.stem[0].out_channels,
            "n_blocks": len(self.blocks),
            "kernel_size": block[0].kernel_size[0],
            "n_period_bins": self.n_period_bins,
            "dropout": block[3].p,
        } | extra


def load_pitchnet(
    checkpoint: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[PitchNet, dict]:
    """Rebuild a trained :class:`PitchNet` from a training checkpoint alone.

    Reads a ``.ckpt`` written by ``scripts/train.py`` (Lightning is not needed): the
    network's constructor arguments and weights, and the resolved training config.
    Loaded with ``torch.load(weights_only=True)``: no code from the file is run.

    Returns:
        ``(model, info)``: the network in eval mode, and a dict with ``"model_config"``,
        ``"resolved_config"`` (the training run's Hydra config, or ``None``),
        ``"format_version"`` and ``"global_step"``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a foldpitch checkpoint (not a torch file, a file torch cannot
            load safely, or a checkpoint without the ``"foldpitch"`` entry), a format
            newer than :data:`CHECKPOINT_FORMAT`, or a config and weights that do not
            build this version's network. The message names the file and the reason.
    """
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    expected = "expected a .ckpt written by scripts/train.py (or export_pitchnet)"
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # unpickling raises many types on foreign files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"{path} is not a foldpitch checkpoint: torch.load cannot read it safely "
            f"({type(error).__name__}: {reason[:200]}); {expected}"
        ) from error
    if not isinstance(state, dict) or "foldpitch" not in state or "state_dict" not in state:
        raise ValueError(
            f"{path} is not a foldpitch training checkpoint (no 'foldpitch' entry); {expected}"
        )
    info = state["foldpitch"]
    if not isinstance(info, dict) or not isinstance(info.get("model_config"), dict):
        raise ValueError(f"{path}: the 'foldpitch' entry has no model_config; {expected}")
    info = dict(info)
    version = info.setdefault("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: unknown checkpoint format_version {version!r}")
    if version > CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {version}, newer than this foldpitch reads "
            f"(format {CHECKPOINT_FORMAT}); upgrade foldpitch to load it"
        )
    try:
        model = PitchNet(**info["model_config"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: its model_config does not build this version's PitchNet ({error})"
        ) from error
    prefix = "model."
    weights = {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise ValueError(
            f"{path}: its weights do not fit the network its model_config describes "
            f"({' '.join(line.strip() for line in first[:3])[:300]})"
        ) from error
    threshold = info.get("voicing_threshold", DEFAULT_VOICING_THRESHOLD)
    try:
        model.voicing_threshold = check_voicing_threshold(threshold)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: voicing_threshold must be a float in (0, 1), got {threshold!r}"
        ) from error
    info["global_step"] = state.get("global_step")
    return model.eval(), info


def export_pitchnet(
    checkpoint: str | os.PathLike,
    destination: str | os.PathLike,
    voicing_threshold: float | None = None,
) -> None:
    """Write a small inference checkpoint: weights and foldpitch's entry, no optimiser.

    The result loads with :func:`load_pitchnet` like the training checkpoint it came
    from (about a third of its size: AdamW keeps two more tensors per weight).
    ``voicing_threshold`` (in ``(0, 1)``), when given, is stored in it and becomes the
    loaded network's ``voicing_threshold``, the default of
    :func:`foldpitch.predict.predict`; ``None`` keeps the source's.
    """
    model, info = load_pitchnet(checkpoint)
    if voicing_threshold is not None:
        info["voicing_threshold"] = check_voicing_threshold(voicing_threshold)
    _save_pitchnet(model, info, destination)


def _save_pitchnet(model: PitchNet, info: dict, destination: str | os.PathLike) -> None:
    """Write ``model``'s weights with ``info`` (:func:`load_pitchnet`'s, ``global_step``
    included) as a checkpoint that :func:`load_pitchnet` reads."""
    info = dict(info)
    global_step = info.pop("global_step")
    state = {
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "foldpitch": info,
        "global_step": global_step,
    }
    torch.save(state, os.fspath(destination))


def add_short_stft(
    checkpoint: str | os.PathLike,
    destination: str | os.PathLike,
    n_fft_short: int,
    n_short_bins: int | None = None,
) -> PitchNet:
    """Write a copy of a trained network that also reads a short STFT, for fine-tuning.

    The copy's stem takes the short STFT's bins too, with zero weights on them, so its
    outputs equal the source's until training moves those weights; the rest of the
    weights and the checkpoint's foldpitch entry (voicing threshold, training config)
    are the source's. Start a run from it with ``init_from=destination``.

    Returns:
        The widened network (eval mode).

    Raises:
        ValueError: the source already reads a short STFT, or the arguments are refused
            by :class:`PitchNet`; what :func:`load_pitchnet` raises for the source.
    """
    source, info = load_pitchnet(checkpoint)
    if source.frontend_short is not None:
        raise ValueError(f"{os.fspath(checkpoint)} already reads a short STFT")
    config = dict(source.config(), n_fft_short=n_fft_short, n_short_bins=n_short_bins)
    widened = PitchNet(**config)
    stem = torch.zeros_like(widened.stem[0].weight)
    stem[:, : source.frontend.n_bins] = source.stem[0].weight
    return _save_with_new_stem(widened, stem, source, info, destination)


def zero_pad_stft(
    checkpoint: str | os.PathLike, destination: str | os.PathLike, factor: int = 2
) -> PitchNet:
    """Write a copy of a trained network whose main STFT is zero-padded ``factor`` times
    (same window, its spectrum sampled ``factor`` times more finely), for fine-tuning.

    Every ``factor``-th bin of the padded STFT is a bin of the source's, with the same
    magnitude; the copy's stem takes the source's weights on those bins and zero on the
    bins between them. So its outputs equal the source's wherever each frame's largest
    magnitude lies on the coarse grid (the features are relative to it, see
    ``_relative_log``), and are close elsewhere, until training moves the new weights.
    The short STFT, the rest of the weights and the checkpoint's foldpitch entry are
    the source's. Start a run from it with ``init_from=destination``.

    Returns:
        The padded network (eval mode).

    Raises:
        ValueError: ``factor`` is not an integer ``>= 2``, or the source is already
            zero-padded; what :func:`load_pitchnet` raises for the source.
    """
    factor = _checks.positive_int("factor", factor, minimum=2)
    source, info = load_pitchnet(checkpoint)
    frontend = source.frontend
    if frontend.win_length != frontend.n_fft:
        raise ValueError(f"{os.fspath(checkpoint)} already has a zero-padded STFT")
    config = dict(
        source.config(),
        n_fft=frontend.n_fft * factor,
        win_length=frontend.n_fft,
        n_input_bins=frontend.n_bins * factor,
    )
    if source.frontend_short is not None:  # keep its bins: the default follows n_input_bins
        config["n_short_bins"] = source.frontend_short.n_bins
    padded = PitchNet(**config)
    old = source.stem[0].weight  # (channels, features, 1): the main bins, then the short
    stem = torch.zeros_like(padded.stem[0].weight)
    stem[:, : frontend.n_bins * factor : factor] = old[:, : frontend.n_bins]
    stem[:, padded.frontend.n_bins :] = old[:, frontend.n_bins :]
    return _save_with_new_stem(padded, stem, source, info, destination)


def add_frequency_offsets(
    checkpoint: str | os.PathLike, destination: str | os.PathLike
) -> PitchNet:
    """Write a copy of a trained network that also reads each bin's frequency offset
    (``PitchNet(frequency_offsets=True)``), for fine-tuning.

    The copy's stem takes the source's weights on the magnitudes and zero on the new
    inputs, so its outputs equal the source's until training moves them. The rest of
    the weights and the checkpoint's foldpitch entry are the source's. Start a run from
    it with ``init_from=destination``.

    Returns:
        The new network (eval mode).

    Raises:
        ValueError: the source already reads frequency offsets; what
            :func:`load_pitchnet` raises for the source.
    """
    source, info = load_pitchnet(checkpoint)
    if source.frequency_offsets:
        raise ValueError(f"{os.fspath(checkpoint)} already reads frequency offsets")
    extended = PitchNet(**dict(source.config(), frequency_offsets=True))
    old = source.stem[0].weight  # (channels, features, 1): the offsets come last
    stem = torch.cat([old, old.new_zeros(old.shape[0], source.frontend.n_bins, 1)], dim=1)
    return _save_with_new_stem(extended, stem, source, info, destination)


def _save_with_new_stem(
    net: PitchNet, stem: Tensor, source: PitchNet, info: dict, destination
) -> PitchNet:
    """The conversions' last step: ``net`` takes ``source``'s weights except the stem's
    (``stem``, for ``net``'s inputs) and its voicing threshold, and is written with the
    source's checkpoint entry ``info`` and its own config. Returns ``net`` (eval mode)."""
    state = dict(source.state_dict(), **{"stem.0.weight": stem.detach()})
    net.load_state_dict(state)
    net.voicing_threshold = source.voicing_threshold
    _save_pitchnet(net, dict(info, model_config=net.config()), destination)
    return net.eval()
