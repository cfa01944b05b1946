"""Pitch of audio as it arrives: :func:`stream` returns a :class:`PitchStream` that takes
chunks of any size (``push``) and returns the frames that became final.

The network is local in time: its output for a frame depends on the STFT frames within
its receptive field (``(kernel_size - 1) * (2 ** n_blocks - 1) / 2`` frames each side, 30
for the shipped model), each of which reads half its window (``win_length / 2``
samples) on each side of its centre. So a stream can give exactly what
:func:`foldpitch.predict.predict` gives on the whole signal once it has seen that far
ahead, and nearly that earlier:

* **Network look-ahead** (``lookahead_ms``): a frame is computed once the STFT frames
  that far ahead are complete; the frames past them count as absent (the network's zero
  padding, as at the end of a signal, which it was trained to handle). ``None`` waits
  for the whole receptive field: the result then equals ``predict``'s. Each frame is
  the network's output on its own window of STFT frames, so the result never depends
  on how the audio was chunked; each layer's frames that no later truncation changes
  are computed once and kept, so a push costs about one frame's few unsettled values
  per new frame (:class:`_NetworkCache`).
* **Decoding with a fixed lag** (``lag_ms``): the Viterbi path of ``predict`` (the same
  decoder, :class:`foldpitch.decode.ViterbiDecoder`, the same octave cost), with each
  frame decided once ``lag_ms`` of later frames are in (fixed-lag smoothing); ``None``
  decides nothing before :meth:`PitchStream.flush` (the offline path exactly);
  ``lag_ms=0`` takes each frame's most probable bin (``decoder="argmax"``).
* **Latency**: from the moment a frame's centre sample arrives to the moment the frame
  is final, half the STFT window (``win_length / 2`` samples, 32 ms) plus the
  look-ahead plus the lag, :attr:`PitchStream.latency` (plus the resampler's few
  samples at other input rates); computing it comes on top.
* **Silence gate**: offline, a frame more than ``top_db`` below the loudest frame of the
  whole signal is unvoiced. A stream cannot see the future, so its reference is the
  loudest frame so far (up to the latest frame the decision waits for): a quiet passage
  after a loud one is gated as offline, but the quiet start of a stream is measured
  against itself and stays voiced until something louder comes. With ``lag_ms=None``
  the decisions wait for the end, and so does the reference: a stream with
  ``lookahead_ms=None, lag_ms=None`` equals ``predict``, gate included. On the held-out
  speech (``speech-dev``, clean) this running reference costs nothing measurable: no
  frame that the stream voices and ``predict`` does not is one the offline gate would
  gate (each clip has a frame within ``top_db`` of its loudest in its first 20 ms); the
  voicing differences come from the network's periodicity seen with a short look-ahead
  (with the whole receptive field's, the voicing figures are within 0.003 of
  ``predict``'s).
* **Other differences from predict**: the audio's mean (DC offset) is not removed, since
  it is not known in advance (remove an offset upstream); the stream is mono.

Only the audio, each layer's frames and the decoder state that later frames still need
are kept: memory stays bounded whatever the length, except with ``lag_ms=None`` (the
decoder keeps a back-pointer per bin and frame, as offline).
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from . import _checks
from .decode import ViterbiDecoder
from .frontend import _frame_power_db, n_frames_for
from .model import PitchNet, PitchNetOutput, check_voicing_threshold
from .predict import (
    SILENCE_TOP_DB,
    VITERBI_CANDIDATES,
    VITERBI_FREE_BINS,
    PitchResult,
    _allowed_bins,
    _as_float32,
    _bin_middles,
    _check_range,
    _frame_candidates,
    _frame_log_probs,
    _index_dtype,
    _jump_cost,
    _network_position,
    _path_log2_period,
    _resolve_device,
    _resolve_model,
    _to_f0,
)

__all__ = ["DEFAULT_LAG_MS", "DEFAULT_LOOKAHEAD_MS", "PitchStream", "stream"]

DEFAULT_LOOKAHEAD_MS = 50.0
"""Network look-ahead of :func:`stream` by default (see the README's "Live audio")."""

DEFAULT_LAG_MS = 50.0
"""Viterbi lag of :func:`stream` by default (see the README's "Live audio")."""


def stream(
    checkpoint: str | os.PathLike | PitchNet | None = None,
    *,
    sample_rate: int,
    lag_ms: float | None = DEFAULT_LAG_MS,
    lookahead_ms: float | None = DEFAULT_LOOKAHEAD_MS,
    fmin: float | None = None,
    fmax: float | None = None,
    hop: float = 0.01,
    voicing_threshold: float | None = None,
    top_db: float | None = SILENCE_TOP_DB,
    device: str | torch.device | None = "cpu",
) -> PitchStream:
    """A stream that estimates the f0 of audio pushed to it chunk by chunk.

    Args:
        checkpoint: as in :func:`foldpitch.predict.predict` (``None``: the shipped model).
        sample_rate: of the audio pushed, in Hz, a positive integer; other rates than
            the network's are resampled with ``soxr.ResampleStream`` (the same
            resampler as ``predict``, same output).
        lag_ms: how long the Viterbi decoder waits for later frames before deciding a
            frame, in ms, ``>= 0`` (rounded to whole network frames); 0 takes each
            frame's most probable bin; ``None`` decides at :meth:`PitchStream.flush`.
        lookahead_ms: how far past a frame the network sees, in ms, ``>= 0`` (rounded
            to whole network frames; more than the receptive field is the receptive
            field); ``None`` is the whole receptive field (300 ms for the shipped
            model), where the network's output equals ``predict``'s.
        fmin, fmax: the f0 range in Hz, as in ``predict``.
        hop: seconds between the frames returned, frame ``k`` at ``k * hop``; other
            values than the network's hop (10 ms) read its frames by linear
            interpolation, as ``predict`` does.
        voicing_threshold: as in ``predict`` (``None``: the network's own).
        top_db: silence gate in dB below the loudest frame so far (see the module
            docstring); ``None`` turns it off.
        device: where the network runs (``None``: CUDA if available).

    Returns:
        A :class:`PitchStream`.

    Example:
        >>> net = PitchNet(channels=16, n_blocks=2, n_period_bins=32).eval()
        >>> live = stream(net, sample_rate=16000, lag_ms=0, lookahead_ms=0)
        >>> tone = np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
        >>> sizes = [len(live.push(chunk).f0) for chunk in np.split(tone, 10)]
        >>> sizes, len(live.flush().f0)
        ([7, 10, 10, 10, 10, 10, 10, 10, 10, 10], 3)
    """
    return PitchStream(
        checkpoint,
        sample_rate=sample_rate,
        lag_ms=lag_ms,
        lookahead_ms=lookahead_ms,
        fmin=fmin,
        fmax=fmax,
        hop=hop,
        voicing_threshold=voicing_threshold,
        top_db=top_db,
        device=device,
    )


class PitchStream:
    """Pitch of audio pushed chunk by chunk; made by :func:`stream` (same arguments).

    Attributes:
        latency: seconds from a frame's centre sample arriving to the frame being final
            (half the STFT window, the network look-ahead and the decoder's lag).
        hop: seconds between frames.
    """

    def __init__(
        self,
        checkpoint=None,
        *,
        sample_rate,
        lag_ms=DEFAULT_LAG_MS,
        lookahead_ms=DEFAULT_LOOKAHEAD_MS,
        fmin=None,
        fmax=None,
        hop=0.01,
        voicing_threshold=None,
        top_db=SILENCE_TOP_DB,
        device="cpu",
    ) -> None:
        self.sample_rate = _checks.sample_rate("sample_rate", sample_rate)
        hop = _checks.positive_real("hop", hop, unit="seconds between frames")
        if voicing_threshold is not None:
            voicing_threshold = check_voicing_threshold(voicing_threshold)
        if top_db is not None:
            top_db = _checks.positive_real("top_db", top_db, unit="dB below the loudest frame")
        self._net = net = _resolve_model(checkpoint, _resolve_device(device))
        self._device = next(net.parameters()).device
        self._fmin, self._fmax = _check_range(net, fmin, fmax)
        self._threshold = net.voicing_threshold if voicing_threshold is None else voicing_threshold
        self._top_db = top_db
        rate, step = net.sample_rate, net.hop_length
        frame_ms = 1000 * step / rate
        config = net.config()
        self._field = (config["kernel_size"] - 1) * (2 ** config["n_blocks"] - 1) // 2
        self._half = net.frontend.win_length // 2  # a zero-padded window reads no further
        self._margin = math.ceil(self._half / step)  # STFT frames that touch a sample
        self._lookahead = self._field
        if lookahead_ms is not None:
            frames = _frames(lookahead_ms, "lookahead_ms", frame_ms)
            self._lookahead = min(frames, self._field)
        self._argmax = lag_ms == 0
        lag = None if lag_ms is None else _frames(lag_ms, "lag_ms", frame_ms)
        # Frames the decision (and the gate's reference) waits for; None: the end.
        self._lag = math.inf if lag is None else lag
        self._hop = Fraction(hop).limit_denominator(1_000_000)
        self.hop = float(self._hop)
        self._native = self._hop == Fraction(step, rate)
        self.latency = (self._half + (self._lookahead + self._lag) * step) / rate
        self._allowed = _allowed_bins(net, self._fmin, self._fmax)
        self._k = 1 if self._argmax else min(VITERBI_CANDIDATES, int(self._allowed.sum()))
        self._decoder = None
        self._middles = _bin_middles(net)
        if not self._argmax:
            grid = np.arange(net.n_period_bins, dtype=np.float64)
            self._decoder = ViterbiDecoder(_jump_cost(net), lag, grid, VITERBI_FREE_BINS)
        self._resampler = None
        if self.sample_rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(
                self.sample_rate, rate, 1, dtype="float32", quality="HQ"
            )
        self._n_input = 0  # samples pushed, at the input's rate
        self._audio = np.zeros(0, np.float32)  # network-rate samples from _audio_start
        self._audio_start = 0
        self._n_samples = 0  # network-rate samples received
        self._network = _NetworkCache(net, self._lookahead)  # the layers of the STFT frames
        self._n_features = 0  # STFT frames computed
        self._levels = deque()  # (power, loudest so far) in dB of frames from _levels_start
        self._levels_start = 0
        self._n_network = 0  # frames through the network (and the decoder)
        # Candidates of the undecided frames: bins, log2_periods (1, frames, k), periodicity.
        self._pending = {
            "bins": torch.zeros(1, 0, self._k, dtype=_index_dtype(net)).numpy(),
            "log2_periods": np.zeros((1, 0, self._k), np.float32),
            "periodicity": np.zeros((1, 0), np.float32),
        }
        self._tracks = {"log2_period": [], "periodicity": [], "power": [], "reference": []}
        self._tracks_start = 0  # network frame of the first kept decided frame
        self._n_decided = 0  # network frames decided
        self._n_out = 0  # frames returned
        self._closed = False

    # --- the public part ---------------------------------------------------------------

    def push(self, chunk) -> PitchResult:
        """Add audio; return the frames that became final (possibly none).

        Args:
            chunk: mono audio ``(time,)`` at the stream's ``sample_rate``, any length
                (also 0 or 1 sample), numpy or torch, float or int16/int32 PCM (as in
                :func:`foldpitch.predict.predict`).

        Returns:
            A :class:`~foldpitch.predict.PitchResult` of the new final frames, ``(n,)``
            each, following the frames returned before.
        """
        if self._closed:
            raise RuntimeError("push: the stream has been flushed; make a new one")
        audio = self._as_mono(chunk)
        with torch.inference_mode():
            if self._resampler is not None:
                audio = self._resampler.resample_chunk(audio)
            self._append(audio)
            return self._advance(final=False)

    def flush(self) -> PitchResult:
        """End the stream: return every frame not returned yet (as ``predict`` ends a
        signal: zero padding past the last sample). The stream takes no more audio."""
        if self._closed:
            raise RuntimeError("flush: the stream has been flushed already")
        with torch.inference_mode():
            if self._resampler is not None:
                self._append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            if self._n_input and not self._n_samples:  # as predict: at least one sample
                self._append(np.zeros(1, np.float32))
            result = self._advance(final=True)
        self._closed = True
        return result

    # --- the steps -------------------------------------------------------------------

    def _as_mono(self, chunk) -> np.ndarray:
        """``chunk`` as float32 numpy ``(time,)``, checked as ``predict`` checks audio."""
        if not isinstance(chunk, (np.ndarray, Tensor)):
            raise TypeError(
                f"chunk must be a numpy array or a torch tensor, got {type(chunk).__name__}"
            )
        if chunk.ndim != 1:
            raise ValueError(
                f"chunk must be mono audio (time,), got shape {tuple(chunk.shape)}; "
                "downmix channels first (e.g. chunk.mean(axis=-1) for (time, channels))"
            )
        if chunk.shape[0] == 0:  # nothing to add, but the dtype is checked all the same
            one = chunk.new_zeros(1) if isinstance(chunk, Tensor) else np.zeros(1, chunk.dtype)
            _as_float32(one)
            return np.zeros(0, np.float32)
        self._n_input += chunk.shape[0]
        if isinstance(chunk, np.ndarray) and chunk.dtype in (np.float32, np.float64):
            audio = chunk.astype(np.float32, copy=False)  # the common case, checked cheaply
            if np.isfinite(audio).all():
                return audio  # only read: _append copies it
        return _as_float32(chunk)[0].numpy()

    def _append(self, audio: np.ndarray) -> None:
        if len(audio):
            self._audio = np.concatenate([self._audio, audio.astype(np.float32, copy=False)])
            self._n_samples += len(audio)

    def _advance(self, final: bool) -> PitchResult:
        """Everything the audio received so far makes final (everything, at the end)."""
        step = self._net.hop_length
        total = None
        if final:
            total = n_frames_for(self._n_samples, step) if self._n_samples else 0
            ready = total
        else:  # frame f is complete once sample f * step + half - 1 is in
            ready = max(0, (self._n_samples - self._half) // step + 1)
        if ready > self._n_features:
            self._compute_features(self._n_features, ready, final)
        network_ready = total if final else max(0, self._n_features - self._lookahead)
        if network_ready > self._n_network:
            self._run_network(self._n_network, network_ready)
        if final and self._decoder is not None:
            self._accept(self._decoder.flush())
        result = self._emit(final)
        self._trim()
        return result

    def _compute_features(self, first: int, end: int, final: bool) -> None:
        """STFT features and power of frames ``first .. end - 1``."""
        net, step = self._net, self._net.hop_length
        start = max(0, (first - self._margin) * step)  # a frame boundary: the grid holds
        stop = self._n_samples if final else (end - 1) * step + self._half
        audio = torch.from_numpy(self._audio[start - self._audio_start : stop - self._audio_start])
        rows = slice(first - start // step, end - start // step)
        self._network.extend(net.features(audio[None].to(self._device))[0, :, rows])
        power = _frame_power_db(audio, net.frontend.win_length, step)[rows]
        self._n_features = end
        loudest = self._levels[-1][1] if self._levels else -math.inf
        for value in power.tolist():
            loudest = max(loudest, value)
            self._levels.append((value, loudest))

    def _run_network(self, first: int, end: int) -> None:
        """Network frames ``first .. end - 1`` (their STFT frames computed) into the
        decoder."""
        out = self._network.outputs(first, end)
        candidates, periodicity = _frame_candidates(self._net, out, self._allowed, self._k)
        candidates = {name: value.numpy() for name, value in candidates.items()}
        candidates["periodicity"] = periodicity.numpy()
        self._n_network = end
        if self._argmax:
            self._record(candidates["log2_periods"][0, :, 0], candidates["periodicity"][0])
            return
        for name, value in self._pending.items():  # (1, frames, k) or (1, frames)
            self._pending[name] = np.concatenate([value, candidates[name]], 1)
        table = _frame_log_probs(candidates["bins"], candidates["log_probs"], self._allowed.numpy())
        self._accept(self._decoder.push(table))

    def _accept(self, path: np.ndarray) -> None:
        """The decoder decided bins ``path (1, n)`` for the oldest pending frames."""
        n = path.shape[-1]
        if n == 0:
            return
        pending = {name: value[:, :n] for name, value in self._pending.items()}
        self._pending = {name: value[:, n:] for name, value in self._pending.items()}
        log2_period = _path_log2_period(
            pending["bins"], pending["log2_periods"], path, self._middles
        )
        self._record(log2_period[0], pending["periodicity"][0])

    def _record(self, log2_period: np.ndarray, periodicity: np.ndarray) -> None:
        """Network frames ``_n_decided ..`` are decided: keep their tracks and levels."""
        tracks = self._tracks
        for t in range(log2_period.shape[0]):
            frame = self._n_decided + t
            # The gate's reference: the loudest frame up to the latest one waited for.
            horizon = int(min(frame + self._lookahead + self._lag, self._n_features - 1))
            tracks["reference"].append(self._levels[horizon - self._levels_start][1])
            tracks["power"].append(self._levels[frame - self._levels_start][0])
        tracks["log2_period"].extend(log2_period.tolist())
        tracks["periodicity"].extend(periodicity.tolist())
        self._n_decided += log2_period.shape[0]

    def _emit(self, final: bool) -> PitchResult:
        """The frames (``hop`` apart) whose network frames are all decided."""
        net = self._net
        if self._native:
            end = self._n_decided
        elif final:  # one frame per hop inside the audio, as predict counts them
            if self._n_input == 0:
                end = 0
            else:
                numerator = (self._n_input - 1) * self._hop.denominator
                end = numerator // (self._hop.numerator * self.sample_rate) + 1
        else:
            end = self._n_out
            while _network_position(torch.tensor([end]), self._hop, net)[0] + 1 < self._n_decided:
                end += 1
        if end == self._n_out:
            empty = torch.zeros(0)
            return PitchResult(empty.double(), empty, empty, empty.bool())
        frames = np.arange(self._n_out, end, dtype=np.int64)
        times = torch.from_numpy(frames * float(self._hop.numerator) / self._hop.denominator)
        tracks = {name: np.array(v, dtype=np.float64) for name, v in self._tracks.items()}
        if self._native:
            rows = slice(self._n_out - self._tracks_start, end - self._tracks_start)
            values = {name: track[rows] for name, track in tracks.items()}
        else:
            below, fraction = _network_position(torch.from_numpy(frames), self._hop, net)
            below, fraction = below.numpy(), fraction.numpy()
            last = self._n_decided - 1
            fraction = np.where(below >= last, 0.0, fraction)
            below = np.minimum(below, last) - self._tracks_start
            above = np.minimum(below + 1, last - self._tracks_start)
            values = {
                name: track[below] * (1 - fraction) + track[above] * fraction
                for name, track in tracks.items()
            }
        log2_period = torch.from_numpy(values["log2_period"])
        f0 = _to_f0(log2_period, net.sample_rate, self._fmin, self._fmax)
        periodicity = torch.from_numpy(values["periodicity"].astype(np.float32))
        voiced = periodicity > self._threshold
        if self._top_db is not None:
            voiced &= torch.from_numpy(values["power"] > values["reference"] - self._top_db)
        self._n_out = end
        return PitchResult(times=times, f0=f0, periodicity=periodicity, voiced=voiced)

    def _trim(self) -> None:
        """Drop what no later frame needs."""
        step = self._net.hop_length
        keep = max(0, (self._n_features - self._margin) * step)  # the next STFT frames' audio
        if keep > self._audio_start:
            self._audio = self._audio[keep - self._audio_start :]
            self._audio_start = keep
        while self._levels_start < self._n_decided and len(self._levels) > 1:
            self._levels.popleft()
            self._levels_start += 1
        keep = self._n_out
        if not self._native:
            keep = int(_network_position(torch.tensor([self._n_out]), self._hop, self._net)[0][0])
        keep = min(keep, self._n_decided)
        drop = keep - self._tracks_start
        if drop > 0:
            for track in self._tracks.values():
                del track[:drop]
            self._tracks_start = keep


def _frames(ms, name: str, frame_ms: float) -> int:
    """``ms`` (>= 0) in whole network frames."""
    return round(_checks.non_negative_real(name, ms, unit="milliseconds") / frame_ms)


class _NetworkCache:
    """The network's output frame by frame, frame ``t`` computed as if the STFT frames
    from ``end_t = t + ahead + 1`` on (and before frame 0) were absent, without
    recomputing the network over each frame's window.

    Every layer of :class:`~foldpitch.model.PitchNet` works frame by frame except the
    blocks' dilated convolutions, which read a few frames around each frame
    (:attr:`~foldpitch.model._ResidualBlock.taps`, up to ``after`` frames later) and see
    zeros where frames are absent. So layer ``l``'s value at frame ``s`` reads the STFT
    frames up to ``s + reach[l]`` (the sum of the blocks' ``after`` up to it), no later:

    * **Settled** values: once the STFT frames up to ``s + reach[l]`` are in, the value
      at ``s`` is the same for every truncation past ``s + reach[l]``, hence for every
      later frame that reads it. Each layer's settled values are computed once and kept
      while a later frame may read them: in a steady stream, each frame's computation
      below also computes the frame of each layer that has just settled (``_plan``);
      otherwise (the start, the end, a look-ahead past the receptive field)
      ``_settle`` computes them over a run of frames.
    * **Unsettled** values, ``s >= end_t - reach[l]``: depend on the truncation, so are
      computed for frame ``t`` alone, layer by layer, from the layer below (its settled
      values, its unsettled values for ``t``, zeros from ``end_t`` on and before frame
      0, as at the ends of a signal); only those that ``t``'s output reads through the
      taps: for the shipped network at a 50 ms look-ahead 6 frame-layers, plus 3 just
      settled, where the window of the frame was 36 frames through 4 blocks.

    Each frame is thus computed with the same weights on the same inputs as
    ``net.from_features`` on its own window ``[0, end_t)`` of STFT frames: the same
    output up to float rounding (the sums grouped differently; ``tests/test_stream.py``
    checks 1e-10 in float64), so it never depends on how the audio was chunked. The
    frames of one push truncated at the same offset (all but the last few at the end)
    run as one batch, one row per frame, one gather and one matrix product per block.
    """

    def __init__(self, net: PitchNet, ahead: int) -> None:
        self._net = net
        self._blocks = list(net.blocks)
        contexts = [block.context for block in self._blocks]
        n = len(self._blocks)
        self._before = [0] + [c[0] for c in contexts]  # block l reads before[l] frames...
        self._after = [0] + [c[1] for c in contexts]  # ... and after[l] frames
        self._reach = list(itertools.accumulate(self._after))  # layer l's right reach
        # Truncation: end_t = t + ahead + 1 (frames past t + reach[n] never matter).
        self._ahead = min(ahead, self._reach[n])
        back = list(itertools.accumulate(self._before))
        # Frames before t that frame t's output reads at layer l.
        self._behind = [back[n] - back[i] for i in range(n + 1)]
        weight = net.stem[0].weight
        # Layer l (0: the stem, l: block l) at frames start[l] .., (frames, channels):
        # settled values, and zeros before frame 0 (the padding at a signal's start).
        self._start = [-behind for behind in self._behind]
        self._layers = [weight.new_zeros(behind, weight.shape[0]) for behind in self._behind]
        self._zero = weight.new_zeros(1, weight.shape[0])  # an absent frame
        # Frames of the layer below (relative) that a block reads: its taps, then the
        # frame itself (the residual).
        self._reads = [[]] + [block.taps + [0] for block in self._blocks]
        self._plans = {}  # see _plan
        self._indices = {}  # see _index
        self._n_features = 0

    def extend(self, features: Tensor) -> None:
        """Add the next STFT frames' features ``(n_input_bins, n)``."""
        stem = self._net.stem(features[None])[0].T
        self._layers[0] = torch.cat([self._layers[0], stem])
        self._n_features += features.shape[-1]

    def outputs(self, first: int, end: int) -> PitchNetOutput:
        """The network's output at frames ``first .. end - 1`` (continuing the last
        call's), frame ``t`` truncated at ``min(t + ahead + 1, STFT frames added)``;
        ``(1, end - first, ...)`` each."""
        hidden = []
        t = first
        while t < end:  # frames truncated at the same offset run together
            offset = min(self._ahead + 1, self._n_features - t)
            stop = min(end, self._n_features - self._ahead) if offset == self._ahead + 1 else t + 1
            stop = min(stop, t + _BATCH_FRAMES)  # bounds the memory of a long push
            hidden.append(self._last_layer(t, stop - t, offset))
            t = stop
        self._trim(end)
        return self._net.head_output(torch.cat(hidden).T[None])

    def _last_layer(self, first: int, count: int, offset: int) -> Tensor:
        """The last block's values ``(count, channels)`` at frames ``t = first ..
        first + count - 1``, each truncated at ``t + offset``."""
        if offset not in self._plans:
            self._plans[offset] = self._plan(offset)
        plan = self._plans[offset]
        tail = None  # the layer below's frames plan[layer - 1] of every row
        for layer, block in enumerate(self._blocks, 1):
            frames, settles = plan[layer]
            if settles:  # the rows continue the cache: it must reach their first
                self._settle(layer, first + frames[0])
            if not frames:
                tail = None
                continue
            # The settled frames of the layer below that the rows read.
            reads = min(frames[-1] + self._after[layer] + 1, offset - self._reach[layer - 1])
            self._settle(layer - 1, first + count - 1 + reads)
            below = self._layers[layer - 1]
            parts = [below, self._zero] if tail is None else [below, tail.flatten(0, 1), self._zero]
            inputs = torch.cat(parts)[self._index(layer, first, count, offset)]
            # (count, frames, kernel + 1, channels): the taps, then the frame itself.
            tail = block.at_taps(inputs[..., :-1, :].transpose(-1, -2), inputs[..., -1, :])
            if settles:  # row t's first frame is t + offset - reach - 1, now settled
                known = self._start[layer] + len(self._layers[layer]) - (first + frames[0])
                if known < count:
                    self._layers[layer] = torch.cat([self._layers[layer], tail[known:, 0]])
        frames = plan[-1][0]
        if 0 in frames:  # frame t itself
            return tail[:, frames.index(0)]
        n = len(self._blocks)
        self._settle(n, first + count)
        return self._layers[n][first - self._start[n] : first + count - self._start[n]]

    def _plan(self, offset: int) -> list[tuple[list[int], bool]]:
        """For each block (from 1): the frames relative to ``t`` that each row computes
        at that block's output for a truncation at ``t + offset``, and whether the first
        of them is the frame that has just settled (for the cache, when ``t`` reads it).
        The others are the unsettled frames that ``t``'s output reads through the
        dilated taps: a few of them (for the shipped network, 1 + 2 + 2 + 1 of the 23
        unsettled frames it could read at offset 6)."""
        plan = [([], False)] * (len(self._blocks) + 1)
        wanted = {0}  # frames of this layer that frame t's output reads
        for layer in range(len(self._blocks), 0, -1):
            unsettled = offset - self._reach[layer]
            frames = sorted(j for j in wanted if unsettled <= j < offset)
            settles = unsettled - 1 >= -self._behind[layer]
            if settles:
                frames.insert(0, unsettled - 1)
            plan[layer] = (frames, settles)
            wanted = {j + read for j in frames for read in self._reads[layer]}
        return plan

    def _index(self, layer: int, first: int, count: int, offset: int) -> Tensor:
        """Where the inputs of ``layer``'s rows lie, ``(count, frames, kernel + 1)`` (each
        frame's taps, then the frame itself), in: the settled values of the layer below,
        then its rows' frames (``_plan``), then a zero frame. Frame ``t + j`` (row ``r``,
        ``t = first + r``) is settled below ``j < offset - reach[layer - 1]``, computed
        by the row below ``offset``, and a zero from ``offset`` on and before frame 0.
        The same in every push of a steady stream: kept."""
        start, settled = self._start[layer - 1], len(self._layers[layer - 1])
        key = (layer, first - start, count, offset, settled, min(first, self._behind[0]))
        if key not in self._indices:
            if len(self._indices) > 256:  # from other push sizes, the ends of streams
                self._indices.clear()
            plan = self._plans[offset]
            below = plan[layer - 1][0]
            j = np.add.outer(plan[layer][0], self._reads[layer])  # (frames, kernel + 1)
            row = np.arange(count)[:, None, None]
            zero = settled + count * len(below)
            column = np.searchsorted(below, j) if below else np.zeros_like(j)
            index = np.where(j < offset, settled + row * len(below) + column, zero)
            index = np.where(j < offset - self._reach[layer - 1], first + row + j - start, index)
            index = np.where(first + row + j < 0, zero, index)
            self._indices[key] = torch.from_numpy(index).to(self._zero.device)
        return self._indices[key]

    def _settle(self, layer: int, end: int) -> None:
        """Compute the settled values of ``layer`` up to frame ``end - 1`` (the STFT
        frames up to ``end - 1 + reach[layer]`` are in)."""
        done = self._start[layer] + len(self._layers[layer])
        if layer == 0 or end <= done:  # the stem: computed as the features come
            return
        self._settle(layer - 1, end + self._after[layer])
        start = self._start[layer - 1]
        below = self._layers[layer - 1][
            done - self._before[layer] - start : end + self._after[layer] - start
        ]
        new = self._blocks[layer - 1].unpadded(below[None])[0]
        self._layers[layer] = torch.cat([self._layers[layer], new])

    def _trim(self, next_frame: int) -> None:
        """Drop the settled values that neither frame ``next_frame`` onwards nor the next
        settled frames of the layer above read."""
        for layer in range(len(self._layers)):
            keep = next_frame - self._behind[layer]
            if layer + 1 < len(self._layers):
                above = self._start[layer + 1] + len(self._layers[layer + 1])
                keep = min(keep, above - self._before[layer + 1])
            if keep > self._start[layer]:
                self._layers[layer] = self._layers[layer][keep - self._start[layer] :]
                self._start[layer] = keep


_BATCH_FRAMES = 256
"""Frames of one push computed in one batch at most (a long push runs in several)."""
