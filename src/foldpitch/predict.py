"""Pitch of audio with a trained :class:`~foldpitch.model.PitchNet`: the inference entry point.

:func:`predict` takes audio at any sample rate (numpy or torch, float or integer PCM,
mono ``(time,)`` or a batch ``(batch, time)``) and returns a :class:`PitchResult`: frame
times, f0, periodicity and a voicing decision per frame. :func:`pyin_like` returns the
same as ``librosa.pyin`` does, so code written for librosa switches in one line::

    f0, voiced_flag, voiced_prob = librosa.pyin(y, sr=sr, fmin=65.0, fmax=1000.0)
    f0, voiced_flag, voiced_prob = foldpitch.pyin_like(y, sr, fmin=65.0, fmax=1000.0)

Conventions:

* **Frames.** Frame ``k`` is centred at ``k * hop`` seconds (``hop`` in seconds, as at
  every public edge of foldpitch); there is one frame for every such time inside the
  audio, ``k * hop * sample_rate <= time - 1``, i.e. ``ceil(time / (hop * sample_rate))``
  frames (see :func:`foldpitch.frontend.n_frames_for`). By default the hop is the
  network's own (10 ms for the shipped model), on the network's grid
  ``f * model.hop_length / model.sample_rate``; any other hop reads the network's frames
  at the requested times by linear interpolation of the log2 period and of the
  periodicity (held at the last frame past the network's last frame).
* **Decoding.** The network gives each frame a distribution over period bins. By
  default (``decoder="viterbi"``) the bins are chosen together, as the most probable
  path through the whole signal, where moving the f0 between frames costs
  :data:`VITERBI_OCTAVE_COST` nats per octave beyond a free move to a neighbouring bin
  (:data:`VITERBI_FREE_BINS`): frames whose distribution is flat (onsets,
  noise bursts) stay on their neighbours' pitch, while a real note change is followed
  within a frame. ``decoder="argmax"`` takes each frame's most probable bin on its own.
  Either way the f0 is the probability-weighted mean of the values (bin plus the
  network's offset within it) of the bins within :data:`LOCAL_MEAN_BINS` of the chosen
  one.
* **Voicing.** A frame is voiced where the network's periodicity is above the
  checkpoint's voicing threshold and its power
  (:func:`~foldpitch.frontend.frame_power_db`) is no more than ``top_db`` below the
  loudest frame of the signal. The network reads each frame's spectrum at its own
  scale, so a faint hum in a pause looks as periodic to it as a vowel; the gate
  (:data:`SILENCE_TOP_DB`, 42 dB) is what tells them apart.
* **Unvoiced frames.** ``f0`` is an estimate in every frame, also where ``voiced`` is
  ``False``: mask it with ``voiced`` (:func:`pyin_like` puts NaN there, as librosa does).
* **Sample rates.** Audio at another rate than the network's is resampled with ``soxr``
  (high quality, no delay) before the network sees it.
* **The model cache.** The shipped model and any checkpoint given by path are loaded
  once per (file, device) by :func:`load` and shared by every later call, from any
  thread (loading is serialised by a lock; running a network in inference mode writes
  nothing into it). :func:`clear_cache` empties the cache; ``load(..., cache=False)``
  gives a private copy.
* **Long audio** is processed in chunks of ``chunk_seconds`` that read 0.5 s of extra
  context on each side (more if the network's receptive field needs it) and keep only
  their own frames; a frame's output depends only on the audio around it, so the result
  equals processing the whole signal at once up to float rounding, in every frame
  (chunk edges included): f0 within 1e-4 relative, periodicity within 1e-4 absolute
  (:data:`CHUNK_TOLERANCE`, checked in ``tests/test_predict.py``). The network never
  sees more than ``batch_size`` chunks of ``chunk_seconds`` plus context at once; what
  grows with the duration besides the audio is the decoder's record of every frame (its
  :data:`VITERBI_CANDIDATES` most probable bins and one back-pointer per bin, about
  0.6 kB per frame, 210 MB per hour at 10 ms frames; 14 bytes per frame with
  ``decoder="argmax"``).
* **Audio types.** numpy arrays and torch tensors are taken alike
  (:func:`foldpitch.audio.as_float_tensor`, shared with :func:`foldpitch.fit.fit_envelope`).
* **Input checks.** Audio must be finite (NaN or infinite samples are an error that
  counts them). Its mean (a DC offset) is removed per row before the network sees it,
  since the per-frame spectrum normalisation would let a strong offset mask the
  harmonics. Clipped audio needs no special care. Digital silence gives finite f0 and
  unvoiced frames with the trained model. Audio shorter than one hop gives one frame.
  ``(time, channels)`` arrays (as ``soundfile.read`` returns them) are refused with a
  hint: downmix first (``foldpitch predict`` averages the channels of a file).
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import _checks
from .audio import as_float_tensor, check_hop
from .decode import ViterbiDecoder
from .frontend import frame_power_db, n_frames_for
from .model import PitchNet, PitchNetOutput, check_voicing_threshold, load_pitchnet

__all__ = ["DEFAULT_CHECKPOINT", "PitchResult", "clear_cache", "load", "predict", "pyin_like"]

DEFAULT_CHECKPOINT = Path(resources.files(__package__).joinpath("weights", "foldpitch-16k.ckpt"))
"""The shipped model, used when no ``checkpoint`` is given: package data, found the same
way in a checkout (``src/foldpitch/weights/``) and in an installed wheel."""

DECODERS = ("viterbi", "argmax")
"""How the period bin of each frame is chosen (see :func:`predict`)."""

BACKENDS = ("torch", "onnx")
"""What runs the network (see :func:`predict`)."""

ONNX_BACKEND_TOLERANCE = {"f0_rtol": 1e-4, "periodicity_atol": 1e-4}
"""How far ``backend="onnx"`` may differ from ``backend="torch"`` (float rounding of the
network's outputs, :data:`foldpitch.export.ONNX_TOLERANCE`): f0 relative, periodicity
absolute; the voicing decisions agree except where the periodicity is this close to the
threshold, and a frame whose two best period bins tie within rounding may take the
other one."""

VITERBI_OCTAVE_COST = 10.0
"""Viterbi decoding: the cost, in nats of log-probability, of the f0 moving one octave
between consecutive frames of the network (proportionally less for smaller moves).
Chosen on the held-out speech sets ``speech-dev`` and ``speech-dev-lively`` (the same
clips with each f0 contour's excursions doubled, as fast as recorded speech glides),
by the sum of their means of RPA and OA, 5 to 35 tried: 35 held the path back on the
fast glides (0.789 there, 0.800 at 10), and 5 to 10 scored within 0.0015 of each
other; 10 keeps the most smoothing of those. It still bridges a 100 ms noise burst in
a tone (``tests/test_predict.py``)."""

VITERBI_FREE_BINS = 1
"""Viterbi decoding: a move to a neighbouring period bin (20.9 cents for the shipped
network) costs nothing; a longer move costs :data:`VITERBI_OCTAVE_COST` per octave
beyond the first bin. A glide's f0 lies between bins and crosses them every frame or
two; paying for each crossing held the path back on fast speech glides, where the
per-frame argmax did better than the path. Chosen on the dev sets (session 20,
``benchmarks/decoder_settings.py``, ``benchmarks/results/decoder_settings.md``; 0, 1
and 2 tried, and 1 to 12 with 5 to 30 nats per octave in a throwaway script): with
:data:`LOCAL_MEAN_BINS` at 0, mean RPA* 0.8736 -> 0.8760, ``festival-dev`` 0.848 ->
0.858 clean, ``speech-dev`` 0.896 -> 0.903, the instruments within 0.3 points; on 36
more clips of the dev voices (``festival-dev-more``) 0.831 -> 0.834 clean, 0.803 ->
0.808 at 10 dB."""

LOCAL_MEAN_BINS = 5
"""A frame's f0 is not its chosen bin's value alone (bin plus the network's offset) but
the mean of the values of the bins within this many bins of it (+-105 cents for the
shipped network), weighted by their probabilities: CREPE's local weighted average, over
the network's per-bin values. Chosen on the dev sets (session 20,
``benchmarks/decoder_settings.py``; 0, 3, 5 and 7 tried): with
:data:`VITERBI_FREE_BINS` at 1, mean RPA* 0.8760 -> 0.8783, ``festival-dev-more``
0.7833 -> 0.7869 (the mean of clean, 10 dB and both in rooms), ``speech-dev`` -0.1 and
-0.4 points; fine error on the dev tones 7.0 -> 5.8 cents clean."""

VITERBI_CANDIDATES = 32
"""Viterbi decoding keeps this many most probable bins per frame; the other bins share
the remaining probability equally. This bounds the memory on long audio (the path
matched the all-bins decoding within 0.01 RPA on speech at 10 dB)."""

SILENCE_TOP_DB = 42.0
"""Frames more than this many dB below the loudest frame of their signal are unvoiced,
whatever their periodicity. The network sees each frame's spectrum at its own scale,
so it cannot tell a faint periodic hum in a pause from a voiced frame; a level gate
can. 42 dB was the best of 30 to 70 dB on the held-out speech set (``speech-dev``):
on its clean half the voicing false alarms fell from 0.124 to 0.106 and no voiced
frame was lost; 38 dB and less cut quiet voiced frames."""

CONTEXT_SECONDS = 0.5
"""Extra audio read on each side of a chunk (at least; more if the network needs it)."""

CHUNK_TOLERANCE = {"f0_rtol": 1e-4, "periodicity_atol": 1e-4}
"""How far a chunked result may differ from the unchunked one (float rounding only)."""

SHORT_SECONDS = 10.0
"""Audio shorter than this (all rows together, in seconds) runs on one thread by default
(``threads=None`` in :func:`predict`): there is too little work per operation for a
second thread to pay, and most to lose when the cores are busy
(``benchmarks/results/threads.md``)."""

_BLOCK = 1 << 20  # samples per row converted at once: bounds the temporaries on long audio

_CACHE: OrderedDict[tuple, PitchNet] = OrderedDict()  # least recently used first
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


@dataclass
class PitchResult:
    """What :func:`predict` returns (CPU tensors).

    Attributes:
        times: frame times in seconds, float64 ``(n_frames,)``; frame ``k`` is at
            ``k * hop`` (the network's hop for ``hop=None``).
        f0: fundamental frequency in Hz, float32 ``(n_frames,)`` for mono input or
            ``(batch, n_frames)``; an estimate in every frame (mask it with ``voiced``),
            always inside ``[fmin, fmax]`` (up to float32 rounding).
        periodicity: the network's voicing confidence in ``[0, 1]``, float32, same
            shape as ``f0``.
        voiced: bool, same shape as ``f0``: ``periodicity`` above the voicing threshold,
            in a frame no more than ``top_db`` below the signal's loudest (see
            :func:`predict`).
    """

    times: Tensor
    f0: Tensor
    periodicity: Tensor
    voiced: Tensor


def predict(
    audio,
    sample_rate: int,
    checkpoint: str | os.PathLike | PitchNet | None = None,
    *,
    hop: float | None = None,
    fmin: float | None = None,
    fmax: float | None = None,
    device: str | torch.device | None = None,
    chunk_seconds: float = 60.0,
    batch_size: int = 8,
    decoder: str = "viterbi",
    refine: bool = False,
    refine_steps: int = 30,
    voicing_threshold: float | None = None,
    top_db: float | None = SILENCE_TOP_DB,
    backend: str = "torch",
    threads: int | None = None,
) -> PitchResult:
    """Estimate the f0 and periodicity of audio with a trained network.

    Args:
        audio: waveform, a numpy array or torch tensor ``(time,)`` or ``(batch, time)``
            (a 2-row array is a batch of two signals, e.g. the channels of a stereo file,
            each with its own result). float32; float16, bfloat16 and float64 are
            computed in float32; int16 and int32 PCM are scaled to ``[-1, 1)``
            (divided by ``2 ** 15`` or ``2 ** 31``, :func:`foldpitch.audio.as_float_tensor`).
            Finite; each row's mean (DC offset) is removed. Never modified.
        sample_rate: of ``audio`` in Hz, a positive integer. Other rates than the
            network's are resampled with ``soxr``.
        checkpoint: a ``.ckpt`` path (loaded once per path and device by :func:`load`,
            then cached), an already loaded :class:`~foldpitch.model.PitchNet`, or
            ``None`` for the shipped model :data:`DEFAULT_CHECKPOINT`.
        hop: seconds between frames, at least one sample (``1 / sample_rate``); frame
            ``k`` is at ``k * hop`` seconds. ``None`` gives the network's own frames
            (10 ms for the shipped model).
        fmin, fmax: restrict the answer to ``[fmin, fmax]`` Hz, a sub-range of the
            network's (``model.fmin``, ``model.fmax``, the defaults): period bins outside
            it are ignored and the f0 is clamped to it.
        device: ``"cpu"``, ``"cuda"`` (or a :class:`torch.device`); ``None`` uses CUDA if
            it is available, else the CPU.
        chunk_seconds: audio is processed in chunks of this many seconds (plus context),
            which bounds the memory used; the result does not depend on it.
        batch_size: chunks run through the network together.
        decoder: how the period bin of each frame is chosen from the network's
            distribution. ``"viterbi"`` (default): the most probable path over the whole
            signal, where moving the f0 between frames costs
            :data:`VITERBI_OCTAVE_COST` nats per octave (a move to a neighbouring bin is
            free, :data:`VITERBI_FREE_BINS`); it keeps a frame whose
            distribution is flat (a voicing onset, a noisy frame) on its neighbours'
            pitch instead of a stray bin. ``"argmax"``: each frame's most probable bin
            on its own (cheaper; frames independent).
        refine: start a direct fit of the envelope (:func:`foldpitch.fit.fit_envelope`,
            the dense fold loss, ``refine_steps`` Adam steps) from the network's f0 and
            return the fitted f0: finer where the signal allows it, about 1 s of CPU
            per second of audio at the default steps; periodicity and voicing stay the
            network's. A frame keeps the network's f0 unless the fold loss prefers the
            fitted one and is clearly periodic there, and moves no further from it
            than that periodicity allows (12, 25 or 50 cents, :data:`REFINE_BOUNDS`); the fit's
            smoothness prior is cut at note changes and voicing edges (see
            ``_refinement_proposals``). Each row is fitted whole (meant for clips, not
            hours).
        refine_steps: Adam steps of the refinement.
        voicing_threshold: a frame is voiced where its periodicity is above this, in
            ``(0, 1)``; ``None`` uses the network's own (``net.voicing_threshold``, kept
            in its checkpoint; 0.5 where it names none). Lower finds more voiced frames
            in noise and calls more unvoiced ones voiced.
        top_db: silence gate, in dB, as in ``librosa.effects.split``: a frame whose
            power is more than ``top_db`` below the loudest frame of its signal (each
            row of a batch on its own, over the whole signal) is unvoiced, whatever its
            periodicity. Default :data:`SILENCE_TOP_DB`; ``None`` turns the gate off
            (for audio whose loudest moment is a click far above the voice).
        backend: what runs the network: ``"torch"`` (default), or ``"onnx"``: the network
            exported to ONNX (in memory, once per network; :mod:`foldpitch.export`) and
            run by onnxruntime on the CPU with ``torch.get_num_threads()`` threads, the
            file a C++, mobile or browser application would load. Decoding is the same;
            the result equals the torch backend's within :data:`ONNX_BACKEND_TOLERANCE`.
            Needs ``onnx`` and ``onnxruntime`` (``pip install 'foldpitch[onnx]'``) and
            ``device`` ``None`` or ``"cpu"``.
        threads: CPU threads for the call (``torch.set_num_threads``, also what the ONNX
            backend gives onnxruntime), a positive integer; torch's setting is restored
            afterwards. ``None`` (default): 1 for audio shorter than
            :data:`SHORT_SECONDS` (all rows together), else half the CPU cores this
            process may use (at least 1, at most ``torch.get_num_threads()``): 1 on a
            2-core machine. Why not every core: torch's threads wait for each other at
            every operation, so when other work holds a core the call stalls. On a
            busy 2-core machine (load average 4-7), 2 threads were never faster than 1
            and up to 1.9x slower on 60 s, 10x on 3 s (``benchmarks/threads.py``);
            on a quiet one a second thread can speed up only the network, about a
            third of the time on one thread. On a quiet machine with many cores, pass
            ``threads=torch.get_num_threads()`` for long audio. The result does not
            depend on it.

    Returns:
        A :class:`PitchResult` of CPU tensors.

    Shape:
        - audio: ``(time,)`` or ``(batch, time)``
        - times: ``(n_frames,)`` with ``n_frames = ceil(time / (hop * sample_rate))`` (with
          ``hop=None``, of the audio resampled to the network's rate over its hop)
        - f0, periodicity, voiced: ``(n_frames,)`` or ``(batch, n_frames)``

    Raises:
        TypeError: ``audio`` is not an array or tensor of a supported dtype;
            ``sample_rate`` or ``batch_size`` is not an integer, ``hop`` not a number.
        ValueError: empty or 3-D audio, ``(time, channels)``-shaped audio, NaN or
            infinite samples, a non-positive value, ``hop`` under one sample,
            ``sample_rate`` not a whole number, ``fmin``/``fmax`` outside the network's
            range or ``fmin >= fmax``, an unknown ``backend`` or ``backend="onnx"`` with a
            CUDA ``device``, ``threads`` below 1 (``TypeError``: not an integer).
        ModuleNotFoundError: ``backend="onnx"`` without onnxruntime or onnx installed.
        FileNotFoundError: the checkpoint (or, with ``checkpoint=None``, the shipped
            model) does not exist.

    Example:
        >>> net = PitchNet(channels=16, n_blocks=2, n_period_bins=32).eval()
        >>> tone = torch.sin(2 * torch.pi * 220 * torch.arange(44100) / 44100)
        >>> result = predict(tone, 44100, net, hop=0.01, device="cpu")
        >>> result.f0.shape, result.times[:3].tolist()
        (torch.Size([100]), [0.0, 0.01, 0.02])
        >>> bool(((result.f0 >= 50) & (result.f0 <= 1100)).all())
        True
    """
    sample_rate, hop, batch_size, chunk_seconds, voicing_threshold, top_db, threads = (
        _check_options(
            sample_rate,
            hop,
            batch_size,
            chunk_seconds,
            decoder,
            refine_steps if refine else None,
            voicing_threshold,
            top_db,
            backend,
            threads,
        )
    )
    waveform = _as_float32(audio)  # (batch, time), CPU float32, a copy
    mono = audio.ndim == 1
    threads = _resolve_threads(threads, waveform.numel() / sample_rate)
    net, target = _resolve_backend_model(checkpoint, device, backend)
    fmin, fmax = _check_range(net, fmin, fmax)
    if voicing_threshold is None:
        voicing_threshold = net.voicing_threshold
    with _torch_threads(threads):
        log2_period, periodicity, power_db = _estimate(
            net,
            waveform,
            sample_rate,
            backend,
            target,
            (fmin, fmax),
            chunk_seconds=chunk_seconds,
            batch_size=batch_size,
            decoder=decoder,
            refine_steps=refine_steps if refine else None,
            voicing_threshold=voicing_threshold,
        )
    result = _finish(
        net,
        (log2_period, periodicity, power_db),
        waveform.shape[-1],
        sample_rate,
        hop,
        (fmin, fmax),
        voicing_threshold,
        top_db,
    )
    if mono:
        result = PitchResult(result.times, result.f0[0], result.periodicity[0], result.voiced[0])
    return result


def _check_options(
    sample_rate,
    hop,
    batch_size,
    chunk_seconds,
    decoder,
    refine_steps,
    voicing_threshold,
    top_db,
    backend,
    threads,
):
    """Checks the options of :func:`predict` (``refine_steps`` is ``None`` without
    refinement); returns ``(sample_rate, hop, batch_size, chunk_seconds,
    voicing_threshold, top_db, threads)`` in their working types."""
    sample_rate = _checks.sample_rate("sample_rate", sample_rate)
    if hop is not None:
        hop = check_hop(hop, sample_rate)
    batch_size = _checks.positive_int("batch_size", batch_size, unit="chunks per network call")
    chunk_seconds = _checks.positive_real("chunk_seconds", chunk_seconds, unit="seconds")
    _checks.one_of("decoder", decoder, DECODERS)
    if refine_steps is not None:
        _checks.positive_int("refine_steps", refine_steps, unit="Adam steps")
    if voicing_threshold is not None:
        voicing_threshold = check_voicing_threshold(voicing_threshold)
    if top_db is not None:
        top_db = _checks.positive_real("top_db", top_db, unit="dB below the loudest frame")
    _checks.one_of("backend", backend, BACKENDS)
    if threads is not None:
        threads = _checks.positive_int("threads", threads, unit="CPU threads")
    return sample_rate, hop, batch_size, chunk_seconds, voicing_threshold, top_db, threads


def _resolve_backend_model(checkpoint, device, backend: str) -> tuple[PitchNet, torch.device]:
    """The network on its device; the ONNX backend runs on the CPU only."""
    if backend == "onnx":
        target = _resolve_device("cpu" if device is None else device)
        if target.type != "cpu":
            raise ValueError(f"backend='onnx' runs on the CPU; got device={device!r}")
    else:
        target = _resolve_device(device)
    return _resolve_model(checkpoint, target), target


def _estimate(
    net: PitchNet,
    waveform: Tensor,
    sample_rate: int,
    backend: str,
    target: torch.device,
    f0_range: tuple[float, float],
    *,
    chunk_seconds: float,
    batch_size: int,
    decoder: str,
    refine_steps: int | None,
    voicing_threshold: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """The network's tracks of ``waveform`` ``(batch, time)``, decoded (and refined if
    ``refine_steps``): ``(log2_period, periodicity, power_db)`` at the network's frames."""
    fmin, fmax = f0_range
    forward = net
    if backend == "onnx":
        from .export import onnx_forward  # onnx and onnxruntime only when asked

        forward = onnx_forward(net)  # reads torch's thread count

    with torch.inference_mode():
        native_audio = _remove_dc(_resample(waveform, sample_rate, net.sample_rate))
        n_candidates = VITERBI_CANDIDATES if decoder == "viterbi" else 1
        candidates, periodicity, power_db = _run_network(
            net,
            native_audio,
            fmin,
            fmax,
            target,
            chunk_seconds,
            batch_size,
            n_candidates,
            forward,
        )
        log2_period = _decode(candidates, net, decoder)
    if refine_steps is not None:
        network_voiced = periodicity > voicing_threshold
        log2_period = _refine(
            net, native_audio, log2_period, fmin, fmax, refine_steps, network_voiced
        )
    return log2_period, periodicity, power_db


def _finish(
    net: PitchNet,
    tracks: tuple[Tensor, Tensor, Tensor],
    n_samples: int,
    sample_rate: int,
    hop: Fraction | None,
    f0_range: tuple[float, float],
    voicing_threshold: float | None,
    top_db: float | None,
) -> PitchResult:
    """The result of ``(rows, network frames)`` tracks (decoded log2 period, periodicity,
    frame power in dB) of audio that had ``n_samples`` at ``sample_rate``: read on the
    requested frames, f0 clamped to ``f0_range``, voicing by threshold and silence gate.
    Every tensor of the result keeps its row axis."""
    fmin, fmax = f0_range
    log2_period, periodicity, power_db = tracks
    with torch.inference_mode():
        model_rate = net.sample_rate
        if hop is None:
            times = torch.arange(log2_period.shape[-1], dtype=torch.float64)
            times = times * net.hop_length / model_rate
        else:
            # Frames k with k * hop * sample_rate <= n_samples - 1, in exact arithmetic.
            hop_samples = hop * sample_rate
            n_frames = (n_samples - 1) * hop_samples.denominator // hop_samples.numerator + 1
            log2_period, periodicity, power_db = _interpolate(
                (log2_period, periodicity, power_db), n_frames, hop, net
            )
            # k * hop rounded once (0.01 s gives exactly the floats k / 100).
            times = torch.arange(n_frames, dtype=torch.float64) * hop.numerator / hop.denominator
        f0 = _to_f0(log2_period, model_rate, fmin, fmax)
        periodicity = periodicity.float()
    # Clone outside inference mode: callers may modify the result in place.
    f0, periodicity, times = f0.clone(), periodicity.clone(), times.clone()
    if voicing_threshold is None:
        voicing_threshold = net.voicing_threshold
    voiced = periodicity > voicing_threshold
    if top_db is not None:
        voiced &= power_db > power_db.amax(-1, keepdim=True) - top_db
    return PitchResult(times=times, f0=f0, periodicity=periodicity, voiced=voiced)


def pyin_like(
    audio,
    sample_rate: int,
    checkpoint: str | os.PathLike | PitchNet | None = None,
    **options,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`predict` with the outputs of ``librosa.pyin``.

    Args:
        audio, sample_rate, checkpoint: as in :func:`predict`.
        **options: keyword options of :func:`predict` (``hop`` in seconds, ``fmin``,
            ``fmax``, ``device``, ``chunk_seconds``, ``batch_size``, ``decoder``,
            ``voicing_threshold``, ``top_db``, ``backend``).

    Returns:
        ``(f0, voiced_flag, voiced_prob)`` numpy arrays of shape ``(n_frames,)`` or
        ``(batch, n_frames)``: f0 in Hz (float64, NaN where unvoiced), the voicing
        decision (bool) and the periodicity (float64, in ``[0, 1]``). Frame ``k`` is at
        ``k * hop`` seconds, as with ``librosa.times_like`` for
        ``hop_length = hop * sr``; librosa has one more frame when the length is a
        multiple of the hop.

    Example:
        >>> net = PitchNet(channels=16, n_blocks=2, n_period_bins=32).eval()
        >>> f0, voiced_flag, voiced_prob = pyin_like(np.zeros(16000), 16000, net, device="cpu")
        >>> f0.shape, voiced_flag.dtype, bool((np.isnan(f0) == ~voiced_flag).all())
        ((100,), dtype('bool'), True)
    """
    result = predict(audio, sample_rate, checkpoint, **options)
    voiced = result.voiced.numpy()
    f0 = np.where(voiced, result.f0.numpy().astype(np.float64), np.nan)
    return f0, voiced, result.periodicity.numpy().astype(np.float64)


# --- the network over chunks --------------------------------------------------------


@dataclass
class _Candidates:
    """The most probable period bins of every frame, ``(rows, n_frames, k)`` each, most
    probable first, and which bins of the network ``[fmin, fmax]`` allows ``(n_bins,)``."""

    bins: Tensor  # int16 (int64 for networks of more than 32767 bins)
    log_probs: Tensor  # float32, log-softmax over the allowed bins
    log2_periods: Tensor  # float32, local mean (LOCAL_MEAN_BINS), log2 samples at the net's rate
    allowed: Tensor


def _run_network(
    net: PitchNet,
    audio: Tensor,
    fmin: float,
    fmax: float,
    device: torch.device,
    chunk_seconds: float,
    batch_size: int,
    n_candidates: int,
    forward=None,
) -> tuple[_Candidates, Tensor, Tensor]:
    """The ``n_candidates`` most probable bins of every frame, the periodicity and the
    frame power in dB (:func:`~foldpitch.frontend.frame_power_db`), ``(rows,
    n_frames)`` each, on the network's frame grid, computed chunk by chunk.
    ``forward`` runs the network (default: ``net`` itself; the ONNX backend's session)."""
    n_rows, n_samples = audio.shape
    windows = _chunk_windows(net, n_samples, chunk_seconds)
    # Chunks of equal length share a network call (unpadded: no lengths to mask).
    jobs = sorted(
        ((row, *window) for window in windows for row in range(n_rows)),
        key=lambda job: job[4] - job[3],
    )
    n_frames = n_frames_for(n_samples, net.hop_length)
    tracks = _empty_tracks(net, n_rows, n_frames, fmin, fmax, n_candidates)
    k = tracks[0].bins.shape[-1]
    position = 0
    while position < len(jobs):
        length = jobs[position][4] - jobs[position][3]
        group = [jobs[position]]
        position += 1
        while (
            position < len(jobs)
            and len(group) < batch_size
            and jobs[position][4] - jobs[position][3] == length
        ):
            group.append(jobs[position])
            position += 1
        batch = torch.stack([audio[row, start:stop] for row, _, _, start, stop in group])
        outputs = _call_network(net, batch, None, tracks[0].allowed, k, device, forward)
        for item, (row, first, end, start, _) in enumerate(group):
            _store(tracks, row, first, end, start // net.hop_length, outputs, item)
    return tracks


def _chunk_windows(net: PitchNet, n_samples: int, chunk_seconds: float) -> list[tuple]:
    """``(first frame, end frame, first sample, end sample)`` of each chunk of a signal of
    ``n_samples`` at the network's rate: ``chunk_seconds`` of frames plus the context
    (:func:`_context_frames`) on each side, cut at the signal's ends; one window for the
    whole signal when it fits in one chunk."""
    hop = net.hop_length
    n_frames = n_frames_for(n_samples, hop)
    chunk_frames = max(1, round(chunk_seconds * net.sample_rate / hop))
    margin = _context_frames(net)
    windows = []
    for first in range(0, n_frames, chunk_frames):
        end = min(first + chunk_frames, n_frames)
        if first == 0 and end == n_frames:
            windows.append((0, n_frames, 0, n_samples))
        else:
            start = max(0, (first - margin) * hop)
            stop = min(n_samples, (end + margin) * hop)
            windows.append((first, end, start, stop))
    return windows


def _empty_tracks(
    net: PitchNet, n_rows: int, n_frames: int, fmin: float, fmax: float, n_candidates: int
) -> tuple[_Candidates, Tensor, Tensor]:
    """Room for :func:`_run_network`'s outputs ``(rows, n_frames[, k])``, filled chunk
    by chunk by :func:`_store`; ``k`` is ``n_candidates`` or the allowed bins if fewer."""
    allowed = _allowed_bins(net, fmin, fmax)
    k = min(n_candidates, int(allowed.sum()))
    candidates = _Candidates(
        bins=torch.empty(n_rows, n_frames, k, dtype=_index_dtype(net)),
        log_probs=torch.empty(n_rows, n_frames, k),
        log2_periods=torch.empty(n_rows, n_frames, k),
        allowed=allowed,
    )
    return candidates, torch.empty(n_rows, n_frames), torch.empty(n_rows, n_frames)


def _call_network(
    net: PitchNet,
    batch: Tensor,
    lengths: Tensor | None,
    allowed: Tensor,
    k: int,
    device: torch.device,
    forward=None,
) -> dict[str, Tensor]:
    """One network call on a CPU batch of chunks ``(items, time)`` (zero padded past
    ``lengths`` if given): the ``k`` best bins, their log-probabilities and log2
    periods ``(items, frames, k)``, periodicity and frame power in dB ``(items,
    frames)``, on the CPU. ``forward`` runs the network on unpadded batches (default:
    ``net``; the ONNX backend's session)."""
    audio = batch.to(device)
    if lengths is None:
        out = (net if forward is None else forward)(audio)
    else:
        out = net(audio, lengths.to(device))
    outputs, periodicity = _frame_candidates(net, out, allowed, k)
    outputs["periodicity"] = periodicity
    # The zero padding is framed as the spectrogram frames it: real frames are unchanged.
    outputs["power_db"] = frame_power_db(batch, net.frontend.win_length, net.hop_length)
    return outputs


def _store(
    tracks: tuple[_Candidates, Tensor, Tensor],
    row: int,
    first: int,
    end: int,
    offset: int,
    outputs: dict[str, Tensor],
    item: int,
) -> None:
    """Copy frames ``first:end`` of a signal's row from item ``item`` of
    :func:`_call_network`'s outputs, whose chunk starts at frame ``offset``."""
    candidates, periodicity, power_db = tracks
    frames = slice(first - offset, end - offset)
    for name in ("bins", "log_probs", "log2_periods"):
        getattr(candidates, name)[row, first:end] = outputs[name][item, frames]
    periodicity[row, first:end] = outputs["periodicity"][item, frames]
    power_db[row, first:end] = outputs["power_db"][item, frames]


def _decode(
    candidates: _Candidates, net: PitchNet, decoder: str, lengths: np.ndarray | None = None
) -> Tensor:
    """log2 period (samples at the network's rate) per frame ``(rows, n_frames)``; rows
    of several signals zero padded past ``lengths`` (frames) are decoded together."""
    if decoder == "argmax":
        return candidates.log2_periods[..., 0]
    path = viterbi_bins(
        candidates.bins.numpy(),
        candidates.log_probs.numpy(),
        candidates.allowed.numpy(),
        _jump_cost(net),
        lengths,
        VITERBI_FREE_BINS,
    )
    log2_period = _path_log2_period(
        candidates.bins.numpy(), candidates.log2_periods.numpy(), path, _bin_middles(net)
    )
    return torch.from_numpy(log2_period)


def _frame_candidates(
    net: PitchNet, out: PitchNetOutput, allowed: Tensor, k: int
) -> tuple[dict[str, Tensor], Tensor]:
    """The fields of :class:`_Candidates` (``bins``, ``log_probs``, ``log2_periods``,
    ``(batch, n_frames, k)`` each) and the periodicity ``(batch, n_frames)`` of the
    network's output, on the CPU (shared with :mod:`foldpitch.stream`)."""
    logits = out.logits.float().masked_fill(~allowed.to(out.logits.device), float("-inf"))
    all_log_probs = torch.log_softmax(logits, -1)
    log_probs, bins = all_log_probs.topk(k, -1)
    fields = {
        "bins": bins.to(_index_dtype(net)),
        "log_probs": log_probs,
        "log2_periods": _local_mean_log2_period(net, out, all_log_probs.exp(), bins),
    }
    fields = {name: value.cpu() for name, value in fields.items()}
    return fields, torch.sigmoid(out.periodicity_logits.float()).cpu()


def _local_mean_log2_period(
    net: PitchNet, out: PitchNetOutput, probs: Tensor, bins: Tensor
) -> Tensor:
    """float32 ``(batch, n_frames, k)``: for each bin of ``bins`` ``(batch, n_frames,
    k)``, the mean of the log2 periods (bin plus offset) of the bins within
    :data:`LOCAL_MEAN_BINS` of it, weighted by their probabilities ``probs (batch,
    n_frames, n_bins)``; the bin's own log2 period where those weights are all zero."""
    n_bins = probs.shape[-1]
    edges = net.log2_period_edges[:n_bins].to(probs)
    values = edges + out.offsets.to(probs) * net.bin_width  # (batch, n_frames, n_bins)
    # Window sums of the weights and of weight times value at every bin: a sum of shifted
    # copies (faster on the CPU than a pooling or a convolution over the bins).
    padded = F.pad(torch.stack([probs, probs * values]), (LOCAL_MEAN_BINS, LOCAL_MEAN_BINS))
    sums = padded[..., :n_bins].clone()
    for shift in range(1, 2 * LOCAL_MEAN_BINS + 1):
        sums += padded[..., shift : shift + n_bins]
    weight, weighted = sums[0].gather(-1, bins), sums[1].gather(-1, bins)
    mean = weighted / weight.clamp_min(torch.finfo(weight.dtype).tiny)
    return torch.where(weight > 0, mean, values.gather(-1, bins))


def _index_dtype(net: PitchNet) -> torch.dtype:
    return torch.int16 if net.n_period_bins <= torch.iinfo(torch.int16).max else torch.int64


def _jump_cost(net: PitchNet) -> float:
    """:data:`VITERBI_OCTAVE_COST` per bin of the network, in nats."""
    return VITERBI_OCTAVE_COST * net.bin_width


def _path_log2_period(
    bins: np.ndarray, log2_periods: np.ndarray, path: np.ndarray, middles: np.ndarray
) -> np.ndarray:
    """log2 period (float32) of each frame's chosen bin ``path (rows, n_frames)``: the
    bin's own offset when it is one of the frame's candidates ``bins``/``log2_periods``
    ``(rows, n_frames, k)``, else the middle of the bin, ``middles`` (:func:`_bin_middles`).
    In numpy: a stream calls it on a few frames per push."""
    match = bins == path.astype(bins.dtype)[..., None]
    found = np.take_along_axis(log2_periods, match.argmax(-1)[..., None], -1)[..., 0]
    return np.where(match.any(-1), found, middles[path]).astype(np.float32, copy=False)


def _bin_middles(net: PitchNet) -> np.ndarray:
    """log2 period at the middle of each of the network's bins, float32 ``(n_bins + 1,)``
    (the last, past the top edge, unused)."""
    return (net.log2_period_edges.cpu() + 0.5 * net.bin_width).float().numpy()


def _to_f0(log2_period: Tensor, model_rate: int, fmin: float, fmax: float) -> Tensor:
    """f0 in Hz, float32, from log2 periods in samples at ``model_rate``, inside
    ``[fmin, fmax]``."""
    low = math.log2(model_rate / fmax)
    high = math.log2(model_rate / fmin)
    log2_period = log2_period.double().clamp(low, high)
    return (model_rate / torch.exp2(log2_period)).clamp(fmin, fmax).float()


def viterbi_bins(
    bins: np.ndarray,
    log_probs: np.ndarray,
    allowed: np.ndarray,
    jump_cost: float,
    lengths: np.ndarray | None = None,
    free_bins: int = 0,
) -> np.ndarray:
    """Most probable sequence of bins, one per frame, given each frame's most probable
    bins; moving ``d`` bins between consecutive frames costs ``jump_cost * max(0, |d| -
    free_bins)`` nats.

    A frame's bins outside ``bins`` share the probability that its candidates leave
    (``1 - sum(exp(log_probs))``) equally; bins where ``allowed`` is false are
    impossible. Decoded by :class:`foldpitch.decode.ViterbiDecoder` (a distance
    transform: ``O(n_bins)`` per frame, not ``O(n_bins ** 2)``). Rows are independent:
    decoding several signals at once (``lengths``) gives each the path it has on its own,
    with less Python per frame.

    Args:
        bins: int ``(rows, n_frames, k)``, candidate bins of each frame.
        log_probs: float ``(rows, n_frames, k)``, their log-probabilities.
        allowed: bool ``(n_bins,)``.
        jump_cost: nats per bin, ``>= 0`` (0 gives each frame's most probable bin).
        lengths: int ``(rows,)``, frames of each row (the rest is padding, finite
            values); ``None``: every row has ``n_frames``.
        free_bins: moves of up to this many bins cost nothing (an integer ``>= 0``).

    Returns:
        int64 ``(rows, n_frames)``: the chosen bin of every frame (meaningless past a
        row's length).
    """
    n_frames = bins.shape[1]
    decoder = ViterbiDecoder(jump_cost, None, np.arange(allowed.shape[0]), free_bins)
    block = 1024  # frames whose full log-probabilities are built at once
    for start in range(0, n_frames, block):
        stop = min(start + block, n_frames)
        frames = _frame_log_probs(bins[:, start:stop], log_probs[:, start:stop], allowed)
        if lengths is not None:
            # Past its end a row's frames score 0 in every bin: its path stays on the bin
            # it ends on (a move costs, staying does not), so it is the row's own path.
            padding = np.arange(start, stop) >= np.asarray(lengths)[:, None]
            frames[padding] = 0.0
        decoder.push(frames)
    return decoder.flush()


def _frame_log_probs(bins: np.ndarray, log_probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Every bin's log-probability ``(rows, n_frames, n_bins)`` from each frame's
    candidates ``(rows, n_frames, k)``: the bins outside the candidates share what the
    candidates leave equally; bins not ``allowed`` are ``-inf``."""
    k = bins.shape[-1]
    n_others = int(allowed.sum()) - k
    with np.errstate(divide="ignore"):  # log(0): candidates hold all the probability
        others = np.log(np.maximum(1 - np.exp(log_probs).sum(-1), 0) / max(n_others, 1))
    if n_others <= 0:
        others = np.full_like(others, -np.inf)
    frames = np.where(allowed, others[..., None], -np.inf)
    # frames[r, t, bins[r, t, j]] = log_probs[r, t, j] (put_along_axis, without its overhead)
    rows, times = np.indices(bins.shape[:-1], sparse=True)
    frames[rows[..., None], times[..., None], bins] = log_probs
    return frames


REFINE_BOUNDS = ((0.92, 12.0), (0.96, 25.0), (0.99, 50.0))
"""``refine=True`` takes a frame's fitted f0 only where the fitted envelope's periodicity
(1 - the frame's energy-normalised fold loss) is at least the first floor here, and
moves it no further from the network's than the cents paired with the highest floor
that periodicity reaches: ``((floor, cents), ...)``, floors rising.

Why a floor: where the fold loss is not clearly periodic it does not say clearly where
the period is: in a room the reverberant tail of the previous pitch shifts its minimum
towards the past (a throwaway dev analysis: on the dev voices in rooms, 73 % of the
frames the refinement turned wrong had moved against the pitch's slope, 41 % of those
it turned right). Why a bound: a frame the network had within ``50 - cents`` of the
truth stays right (for RPA) whatever the fit does.

Chosen on the dev sets (``benchmarks/refine_bound.py``,
``benchmarks/results/refine_bound.md``). 12 cents from 0.92: the smallest floor with
which no dev set lost more frames than it gained for the network of session 20 (0.9:
the dev voices in rooms, clean, 50 lost / 40 gained) and the smallest bound that kept
the fine error on the dev tones below Praat's then. The session 22 network's own f0 is
coarser, and 12 cents left 3.2 cents of fine error on the clean dev tones against
Praat's 2.1; 25 cents from 0.96 brings it to 2.0 while turning 27 frames of all the dev
sets wrong and 48 right, but 0.96 alone leaves the noisy frames unrefined (dev tones at
10 dB: 9.4 cents against 5.0 with 12 cents from 0.92), hence both tiers. 50 cents from
0.99 (session 25): the network reads some pure tones 40-45 cents off (150-180 Hz) where
the fit is within 2 cents at a periodicity of 1.000; on the dev sets with pure tones the
third tier moved only the dev tones (fine error clean 3.10 -> 2.71 cents, 6 more frames
turned right, none wrong), every other dev set's frames stayed as they were."""

REFINE_BREAK_CENTS = 100.0
"""``refine=True`` cuts the fit's smoothness prior (and the curvature correction of
:func:`foldpitch.fit.instantaneous_f0`) between two frames whose network f0 differs by
more than this (cents; a 7 Hz, +-150 cent vibrato moves at most 66 cents per 10 ms
frame, a note change at least 100), and at every edge of the network's voicing."""


REFINE_EDGE_FRAMES = 3
"""``refine=True`` keeps the network's value on this many frames on each side of a
break (:data:`REFINE_BREAK_CENTS`, or an edge of the network's voicing). There a
frame's window holds two notes, or a note and silence, and a rendered note's pitch is
still settling: on the dev instruments (soundfont notes, labelled with their nominal
pitch) the refinement turned 29 right frames wrong, almost all within 3 frames of a note
change or voicing edge, against 6 with this rule (and 1-3 gained)."""


def _near(breaks: Tensor, frames: int) -> Tensor:
    """The ``frames`` frames on each side of every break (``breaks[t]``: a break between
    frames ``t - 1`` and ``t``), bool like ``breaks``."""
    near = torch.zeros_like(breaks)
    n = len(breaks)
    for shift in range(frames):
        near[: max(n - shift - 1, 0)] |= breaks[shift + 1 :]  # frames t - 1 - shift
        near[shift:] |= breaks[: n - shift]  # frames t + shift
    return near


def _refine(
    net: PitchNet,
    audio: Tensor,
    log2_period: Tensor,
    fmin: float,
    fmax: float,
    steps: int,
    voiced: Tensor | None = None,
) -> Tensor:
    """Fit each row's envelope from the network's periods (log2 samples, ``(rows, F)``)
    and keep the fitted value where it may be trusted
    (:func:`_refinement_proposals`, then :func:`_accept_refinement` with
    :data:`REFINE_BOUNDS`)."""
    proposals = _refinement_proposals(net, audio, log2_period, fmin, fmax, steps, voiced)
    return _accept_refinement(proposals, REFINE_BOUNDS)


class _RefinementProposal(NamedTuple):
    """One row's refinement before the acceptance rules (all ``(F,)``): the network's
    log2 period (``start``), the fitted one, the frames where the fitted value may be
    taken at all, and the fitted envelope's periodicity (1 - the frame's
    energy-normalised fold loss)."""

    start: Tensor
    fitted: Tensor
    allowed: Tensor
    periodicity: Tensor


def _refinement_proposals(
    net: PitchNet,
    audio: Tensor,
    log2_period: Tensor,
    fmin: float,
    fmax: float,
    steps: int,
    voiced: Tensor | None = None,
) -> list[_RefinementProposal]:
    """The direct fit of each row's envelope from the network's periods, one
    :class:`_RefinementProposal` per row.

    Why the plain fit lost frames the network had right (measured on the benchmark's
    tones): its smoothness prior is strongest where the fold loss is poor, so it pulled
    the frames beside a note change into a smooth curve across the jump (each moving
    50-60 cents, as far as 30 Adam steps go), the curvature correction of the fold's f0
    blew up beside a jump (moves of 180 cents at 245 Hz), and frames at onsets moved
    with their unvoiced neighbours. So here

    1. the prior is cut at note changes and voicing edges (``voiced``, bool
       ``(rows, F)``, the network's voicing; None: every frame voiced), see
       :data:`REFINE_BREAK_CENTS`, and so is the curvature correction;
    2. a frame is allowed the fitted value only where the network calls it voiced and
       the fold loss prefers it: the fitted envelope's periodicity above the network
       envelope's, measured the same way (onset frames, which the network calls
       unvoiced, moved the wrong way: 40 cents off became 65 on the vibrato tones);
    3. the frames beside a break keep the network's value (:data:`REFINE_EDGE_FRAMES`).

    :func:`_accept_refinement` then bounds the move and asks for a clear periodicity.
    """
    from .fit import fit_envelope, instantaneous_f0  # the fit imports the loss stack

    rate, hop = net.sample_rate, net.hop_length
    proposals = []
    for index, (row, start) in enumerate(zip(audio, log2_period, strict=True)):
        row, start = row.clone(), start.clone().double()  # normal tensors: autograd
        breaks = torch.zeros(start.shape[-1], dtype=torch.bool)
        breaks[1:] = (start[1:] - start[:-1]).abs() > REFINE_BREAK_CENTS / 1200
        if voiced is not None:
            edge = voiced[index].cpu()
            breaks[1:] |= edge[1:] != edge[:-1]
        init_f0 = rate / torch.exp2(start.float())
        options = dict(init_f0=init_f0, coarse_steps=0, prior_breaks=breaks)
        track = fit_envelope(row, rate, fmin, fmax, hop / rate, fine_steps=steps, **options)
        # the network's envelope through the same measurement, no step taken
        as_is = fit_envelope(row, rate, fmin, fmax, hop / rate, fine_steps=0, **options)
        fold_f0 = rate / torch.exp2(track.log2_period.double())
        f0 = instantaneous_f0(fold_f0, hop / rate)
        smooth = torch.zeros_like(breaks)  # frames whose two neighbours are unbroken
        smooth[1:-1] = ~(breaks[1:-1] | breaks[2:])
        f0 = torch.where(smooth, f0, fold_f0)
        fitted = torch.log2(rate / f0.clamp(fmin, fmax))
        periodicity = track.periodicity.double()
        allowed = periodicity > as_is.periodicity.double()
        if voiced is not None:
            allowed &= voiced[index].cpu()
        allowed &= ~_near(breaks, REFINE_EDGE_FRAMES)
        proposals.append(_RefinementProposal(start, fitted, allowed, periodicity))
    return proposals


def _accept_refinement(
    proposals: list[_RefinementProposal], bounds: tuple[tuple[float, float], ...]
) -> Tensor:
    """The refined log2 periods ``(rows, F)``: each allowed frame whose fitted
    periodicity reaches the lowest floor of ``bounds`` (``((floor, cents), ...)``, see
    :data:`REFINE_BOUNDS`) takes the fitted value, moved no further from the network's
    than the cents of the highest floor it reaches; every other frame keeps the
    network's."""
    floors = sorted(bounds)
    refined = []
    for start, fitted, allowed, periodicity in proposals:
        limit = torch.zeros_like(start)  # log2 units; 0 keeps the network's value
        for floor, cents in floors:
            limit = torch.where(allowed & (periodicity >= floor), cents / 1200, limit)
        refined.append(torch.minimum(torch.maximum(fitted, start - limit), start + limit))
    return torch.stack(refined)


def _context_frames(net: PitchNet) -> int:
    """Frames of context read on each side of a chunk: :data:`CONTEXT_SECONDS`, or more
    if the network's receptive field (convolutions plus the STFT window) is wider."""
    config = net.config()
    half_field = (config["kernel_size"] - 1) * (2 ** config["n_blocks"] - 1) // 2
    needed = half_field + math.ceil((config["n_fft"] // 2 + 1) / net.hop_length) + 1
    return max(needed, math.ceil(CONTEXT_SECONDS * net.sample_rate / net.hop_length))


def _allowed_bins(net: PitchNet, fmin: float, fmax: float) -> Tensor:
    """Bins whose period range overlaps ``[fmin, fmax]``, bool ``(n_bins,)``."""
    edges = net.log2_period_edges.double().cpu()
    low = math.log2(net.sample_rate / fmax)
    high = math.log2(net.sample_rate / fmin)
    return (edges[1:] > low) & (edges[:-1] < high)  # never empty when fmin < fmax


def _interpolate(
    tracks: tuple[Tensor, ...], n_frames: int, hop: Fraction, net: PitchNet
) -> tuple[Tensor, ...]:
    """Read each ``(rows, network frames)`` track at ``k * hop`` seconds, linearly."""
    frames = torch.arange(n_frames, dtype=torch.int64)
    below, fraction = _network_position(frames, hop, net)
    last = tracks[0].shape[-1] - 1
    fraction = torch.where(below >= last, torch.zeros_like(fraction), fraction)
    below = below.clamp_max(last)
    above = (below + 1).clamp_max(last)

    def read(values: Tensor) -> Tensor:
        values = values.double()
        return values[:, below] * (1 - fraction) + values[:, above] * fraction

    return tuple(read(track) for track in tracks)


def _network_position(frames: Tensor, hop: Fraction, net: PitchNet) -> tuple[Tensor, Tensor]:
    """Where frames ``frames`` (int64) ``hop`` seconds apart fall on the network's
    frames: the frame below (int64) and the fraction of the way to the next (float64).
    Exact integer arithmetic, so that times on the network's grid read it exactly."""
    numerator = frames * (hop.numerator * net.sample_rate)
    denominator = hop.denominator * net.hop_length
    below = torch.div(numerator, denominator, rounding_mode="floor")
    return below, (numerator - below * denominator).double() / denominator


def _resample(audio: Tensor, sample_rate: int, target_rate: int) -> Tensor:
    """``(batch, time)`` float32 from ``sample_rate`` to ``target_rate`` with soxr; at least
    one sample (a single sample at 44.1 kHz would otherwise become none at 16 kHz)."""
    if sample_rate == target_rate:
        return audio
    import soxr

    resampled = soxr.resample(audio.numpy().T, sample_rate, target_rate, quality="HQ")
    resampled = torch.from_numpy(np.ascontiguousarray(resampled.T, dtype=np.float32))
    if resampled.shape[-1] == 0:
        resampled = audio.new_zeros(audio.shape[0], 1)
    return resampled


def _remove_dc(audio: Tensor) -> Tensor:
    """Subtract each row's mean, in float64 block by block, from a float32 ``(batch, time)``
    tensor this module owns (in place). A DC offset is no pitch, but the network's
    per-frame spectrum normalisation would let a strong one mask the harmonics."""
    total = torch.zeros(audio.shape[0], dtype=torch.float64)
    for start in range(0, audio.shape[-1], _BLOCK):
        total += audio[:, start : start + _BLOCK].sum(-1, dtype=torch.float64)
    mean = total / audio.shape[-1]
    for start in range(0, audio.shape[-1], _BLOCK):
        block = audio[:, start : start + _BLOCK]
        block.copy_(block.double() - mean[:, None])
    return audio


# --- checks and conversions ---------------------------------------------------------


def _as_float32(audio) -> Tensor:
    """A float32 CPU copy ``(batch, time)`` of numpy or torch audio, checked."""
    array = as_float_tensor(audio).to("cpu", torch.float32)
    if array.ndim not in (1, 2):
        raise ValueError(
            f"audio must be mono (time,) or a batch (batch, time), got shape {tuple(array.shape)}"
        )
    if array.ndim == 1:
        array = array[None]
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"audio is empty: shape {tuple(audio.shape)}, need at least one sample")
    rows, time = array.shape
    if time <= 8 < rows:
        raise ValueError(
            f"audio of shape {tuple(array.shape)} looks like (time, channels), as "
            "soundfile.read returns it; predict takes (time,) or (batch, time) with time "
            "last: downmix it (audio.mean(axis=1)) or transpose it (audio.T, one result "
            "per channel)"
        )
    finite = torch.isfinite(array)
    if not bool(finite.all()):
        n_nan = int(torch.isnan(array).sum())
        raise ValueError(
            f"audio contains NaN or infinite samples ({n_nan} NaN, "
            f"{int((~finite).sum()) - n_nan} infinite); expected finite values"
        )
    if array.data_ptr() == _data_pointer(audio):
        array = array.clone()  # never hand the caller's memory on
    return array.contiguous()


def _data_pointer(audio) -> int:
    if isinstance(audio, np.ndarray):
        return audio.__array_interface__["data"][0]
    return audio.data_ptr()


def _resolve_threads(threads: int | None, seconds: float) -> int:
    """``threads`` (already checked), or for ``None`` the default of :func:`predict`
    for ``seconds`` of audio."""
    if threads is not None:
        return threads
    if seconds < SHORT_SECONDS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(torch.get_num_threads(), (cores or 1) // 2))


@contextlib.contextmanager
def _torch_threads(threads: int):
    """Run the block with ``torch.set_num_threads(threads)``, then restore the count that
    was set before. With torch's OpenMP builds (the usual ones) the count is kept per
    Python thread once that thread has used torch, so calls from several threads
    restore each their own."""
    saved = torch.get_num_threads()
    if saved == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _check_range(net: PitchNet, fmin, fmax) -> tuple[float, float]:
    """``fmin``/``fmax`` resolved to the network's range and checked against it."""
    resolved = []
    for name, value, default in (("fmin", fmin, net.fmin), ("fmax", fmax, net.fmax)):
        if value is None:
            resolved.append(default)
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number in Hz or None, got {value!r}")
        value = float(value)
        if not net.fmin <= value <= net.fmax:
            raise ValueError(
                f"{name}={value:g} Hz is outside the model's range [{net.fmin:g}, {net.fmax:g}] Hz"
            )
        resolved.append(value)
    low, high = resolved
    if low >= high:
        raise ValueError(f"fmin must be below fmax, got fmin={low:g} Hz, fmax={high:g} Hz")
    return low, high


def _resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    return resolved


def _resolve_model(checkpoint, device: torch.device) -> PitchNet:
    """The network in eval mode on ``device``; never changes a network passed in."""
    if isinstance(checkpoint, PitchNet):
        parameter = next(checkpoint.parameters(), None)
        on_device = parameter is None or _same_device(parameter.device, device)
        if checkpoint.training or not on_device:
            checkpoint = copy.deepcopy(checkpoint).eval().to(device)
        return checkpoint
    return _load(checkpoint, device, cache=True)


def load(
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    cache: bool = True,
) -> PitchNet:
    """The network of a checkpoint, in eval mode on ``device``: what :func:`predict` runs.

    Loaded once per (file, modification time, size, device) and kept in a cache of the
    last four; later calls, from any thread, return the same module. Running it in
    inference mode, as :func:`predict` does, is safe from several threads at once; do
    not train or move it (``.train()``, ``.to()``, changing its weights): that would
    change every later :func:`predict` with the same checkpoint. For a network of your
    own, pass ``cache=False``; :func:`clear_cache` empties the cache (after a checkpoint
    file was replaced in place within the file system's timestamp resolution, or to free
    the memory).

    Args:
        checkpoint: a ``.ckpt`` path, or ``None`` for the shipped model
            :data:`DEFAULT_CHECKPOINT`.
        device: ``"cpu"``, ``"cuda"`` or a :class:`torch.device`; ``None`` uses CUDA if it
            is available, else the CPU.
        cache: ``False`` loads a new copy, neither taken from nor put in the cache.

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: not a foldpitch checkpoint (see :func:`foldpitch.model.load_pitchnet`).
        TypeError: ``checkpoint`` not a path or ``None``.

    Example:
        >>> net = load(device="cpu")
        >>> net is load(device="cpu"), net.sample_rate, net.training
        (True, 16000, False)
    """
    return _load(checkpoint, _resolve_device(device), cache=cache)


def clear_cache() -> None:
    """Forget every network :func:`load` (and so :func:`predict`) has cached."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load(checkpoint, device: torch.device, *, cache: bool) -> PitchNet:
    if checkpoint is None:
        path = Path(DEFAULT_CHECKPOINT)
        if not path.is_file():
            raise FileNotFoundError(
                f"the default checkpoint {path} does not exist; pass checkpoint=PATH "
                "(a .ckpt written by scripts/train.py) or a loaded PitchNet"
            )
    elif isinstance(checkpoint, (str, os.PathLike)):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
    else:
        raise TypeError(
            "checkpoint must be a path, a PitchNet or None, got " + type(checkpoint).__name__
        )
    if not cache:
        return load_pitchnet(path)[0].to(device).eval()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(device))
    # One lock around look-up and load: two threads asking for the same file load it
    # once, and nobody sees the dict while another thread changes it.
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
        else:
            _CACHE[key] = load_pitchnet(path)[0].to(device).eval()
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return _CACHE[key]


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    first = current if a.index is None else a.index
    second = current if b.index is None else b.index
    return first == second
