"""ONNX export of the network, and running it with onnxruntime.

:func:`export_onnx` writes a :class:`~foldpitch.model.PitchNet` as an ONNX file that a
C++, mobile or browser application loads with onnxruntime. The file computes, per
frame, what :meth:`PitchNet.forward <foldpitch.model.PitchNet.forward>` computes:

* input ``audio``: float32 ``(batch, time)``, mono at the network's sample rate (16 kHz
  for the shipped model), DC removed; any ``time >= 1`` and any batch size. Frame ``f``
  is centred on sample ``f * hop_length``; there are ``ceil(time / hop_length)`` frames
  (see :mod:`foldpitch.frontend`). The STFT is inside the graph (ONNX ``STFT``, opset 17).
* or, with ``from_audio=False``, input ``magnitude``: float32 ``(batch, n_input_bins,
  frames)``, the STFT magnitudes ``|X[f, k]|`` of the lowest ``n_input_bins`` bins, framed
  as above: ``n_fft``-point DFT of the audio zero-padded by ``n_fft // 2`` on both sides,
  frame ``f`` starting at padded sample ``f * hop_length``, times a Hann window
  (periodic for even ``n_fft``), no normalisation. For runtimes without an STFT; not for
  a network that also reads a short STFT (``n_fft_short``) or frequency offsets
  (``frequency_offsets``), which export from audio.
* outputs ``logits`` ``(batch, frames, n_period_bins)`` (scores of the period bins),
  ``offsets`` ``(batch, frames, n_period_bins)`` in ``(0, 1)`` (where in each bin the
  period lies) and ``periodicity_logits`` ``(batch, frames)`` (``sigmoid`` gives the
  periodicity).

Bin ``k`` covers log2 periods (in samples) from ``log2_period_min + k * w`` to
``log2_period_min + (k + 1) * w`` with ``w = (log2_period_max - log2_period_min) /
n_period_bins``; bin ``k`` says a period of ``2 ** (log2_period_min + (k + offsets[k]) *
w)`` samples, and the f0 is ``sample_rate / period`` Hz. :func:`foldpitch.predict.predict`
reports, for the bin ``k`` it chooses, the probability-weighted mean of these log2
periods over the bins within ``local_mean_bins`` of ``k``. These numbers,
the voicing threshold and the decoder's settings are in the file's metadata
(``metadata_props``, see :func:`onnx_metadata`).

The graph is traced with PyTorch's TorchScript-based exporter (``dynamo=False``): it
needs only the ``onnx`` package, where the ``torch.export`` path also needs
``onnxscript``. onnxruntime's outputs equal PyTorch's within :data:`ONNX_TOLERANCE`
(``tests/test_export.py``).

:func:`onnx_forward` is what ``predict(..., backend="onnx")`` runs: the network exported
in memory once per network (and again if its weights change) and run by onnxruntime on
the CPU, with ``torch.get_num_threads()`` threads.
"""

from __future__ import annotations

import copy
import importlib
import io
import os
import warnings
import weakref
from pathlib import Path

import torch
from torch import Tensor, nn

from . import _checks
from .frontend import _hann_derivative, _reassigned_offsets, _work_dtype_and_window
from .model import PitchNet, PitchNetOutput, _offset_features, _relative_log

__all__ = ["ONNX_OPSET", "ONNX_TOLERANCE", "export_onnx", "onnx_forward", "onnx_metadata"]

ONNX_OPSET = 17
"""Default ONNX opset: 17 is the first with an ``STFT`` operator."""

ONNX_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
"""How far onnxruntime's outputs (logits, offsets, periodicity logits) may differ from
PyTorch's (``torch.testing.assert_close``); float32 rounding only (measured: under 1e-5
on the shipped model)."""

OUTPUT_NAMES = ("logits", "offsets", "periodicity_logits")

_EXTRA = "pip install 'foldpitch[onnx]'"


def _require(module: str, purpose: str):
    """Import an optional dependency, or ``ModuleNotFoundError`` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{purpose} needs the {module!r} package, which is not installed: {_EXTRA}"
        ) from error


class _OnnxGraph(nn.Module):
    """The traceable network: audio (or STFT magnitudes) to the three outputs as a tuple.

    :class:`PitchNet` checks its input with Python ints and ``padding="same"`` convolutions,
    which the tracer cannot follow (a dilated ``same`` convolution becomes an ``auto_pad``
    that onnxruntime refuses); this copy pads explicitly and frames the audio with
    ``torch.stft(center=False)`` after the same zero padding, which exports to ``STFT``.
    """

    def __init__(self, net: PitchNet, from_audio: bool):
        super().__init__()
        self.net = copy.deepcopy(net).float().cpu().eval()
        for conv in self.net.modules():
            if isinstance(conv, nn.Conv1d) and conv.padding == "same":
                total = conv.dilation[0] * (conv.kernel_size[0] - 1)
                if total % 2:  # torch pads the odd sample on the right: no symmetric form
                    raise ValueError(
                        f"cannot export a convolution with kernel_size={conv.kernel_size[0]} "
                        f"and dilation={conv.dilation[0]}: its 'same' padding is asymmetric"
                    )
                conv.padding = (total // 2,)
        self.from_audio = from_audio

    def spectrum(self, audio: Tensor, frontend=None, window=None) -> Tensor:
        """``(batch, time)`` -> ``(batch, n_bins, n_frames, 2)`` (real and imaginary
        parts), as ``frontend`` (default: the network's main STFT) with its window or
        ``window``."""
        frontend = self.net.frontend if frontend is None else frontend
        n_fft, hop = frontend.n_fft, frontend.hop_length
        n_frames = (audio.shape[-1] - 1) // hop + 1
        padded = nn.functional.pad(audio, (n_fft // 2, n_fft // 2))
        if window is None:
            _, window = _work_dtype_and_window(audio, n_fft, frontend.win_length)
        spectrum = torch.stft(
            padded, n_fft, hop, window=window, center=False, onesided=True, return_complex=False
        )  # (batch, n_fft // 2 + 1, frames + extra, 2)
        return spectrum[:, : frontend.n_bins, :n_frames]

    def magnitude(self, audio: Tensor, frontend=None) -> Tensor:
        """``(batch, time)`` -> ``(batch, n_bins, n_frames)``, as ``frontend``."""
        return self.spectrum(audio, frontend).square().sum(-1).sqrt()

    def offset_features(self, audio: Tensor) -> Tensor:
        """``PitchNet.features``' frequency offsets of the main STFT (as
        :func:`foldpitch.frontend.frequency_offsets`, in real arithmetic)."""
        frontend = self.net.frontend
        spectrum = self.spectrum(audio)
        derivative = _hann_derivative(
            frontend.win_length, frontend.n_fft, audio.dtype, audio.device
        )
        spectrum_dw = self.spectrum(audio, window=derivative)
        offsets, power = _reassigned_offsets(
            *spectrum.unbind(-1), *spectrum_dw.unbind(-1), frontend.n_fft
        )
        return _offset_features(offsets, power.sqrt())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        net = self.net
        magnitude = self.magnitude(x) if self.from_audio else x
        # PitchNet.features after its frontends, and PitchNet.forward after its features.
        features = _relative_log(magnitude)
        if net.frontend_short is not None:  # (export_onnx allows these only from audio)
            short = self.magnitude(x, net.frontend_short)
            features = torch.cat([features, _relative_log(short)], dim=-2)
        if net.frequency_offsets:
            features = torch.cat([features, self.offset_features(x)], dim=-2)
        out = net.head(net.blocks(net.stem(features))).transpose(1, 2)
        k = net.n_period_bins
        return out[..., :k], torch.sigmoid(out[..., k : 2 * k]), out[..., 2 * k]


def onnx_metadata(net: PitchNet, from_audio: bool = True) -> dict[str, str]:
    """What an application needs to feed the file and decode its outputs (strings, as
    ONNX ``metadata_props`` hold them): rates and framing, the period bins, the voicing
    threshold, the silence gate and the Viterbi decoder's cost."""
    from .predict import LOCAL_MEAN_BINS, SILENCE_TOP_DB, VITERBI_FREE_BINS, VITERBI_OCTAVE_COST

    edges = net.log2_period_edges
    config = net.config()
    values = {
        "producer": "foldpitch",
        "input": "audio (batch, time)" if from_audio else "magnitude (batch, n_input_bins, frames)",
        "sample_rate": config["sample_rate"],
        "hop_length": config["hop_length"],
        "n_fft": config["n_fft"],
        "n_input_bins": config["n_input_bins"],
        **{key: config[key] for key in ("n_fft_short", "n_short_bins") if key in config},
        "window": "hann, periodic" if config["n_fft"] % 2 == 0 else "hann, symmetric",
        **{key: config[key] for key in ("win_length", "frequency_offsets") if key in config},
        "fmin": config["fmin"],
        "fmax": config["fmax"],
        "n_period_bins": config["n_period_bins"],
        "log2_period_min": repr(float(edges[0])),
        "log2_period_max": repr(float(edges[-1])),
        "voicing_threshold": net.voicing_threshold,
        "silence_top_db": SILENCE_TOP_DB,
        "viterbi_octave_cost": VITERBI_OCTAVE_COST,
        "viterbi_free_bins": VITERBI_FREE_BINS,
        "local_mean_bins": LOCAL_MEAN_BINS,
    }
    return {key: str(value) for key, value in values.items()}


def _onnx_bytes(net: PitchNet, from_audio: bool, opset: int) -> bytes:
    """The serialised ONNX model of ``net``, with :func:`onnx_metadata`."""
    onnx = _require("onnx", "ONNX export")
    graph = _OnnxGraph(net, from_audio)
    if from_audio:
        name, example, axes = "audio", torch.zeros(1, 4 * net.hop_length), {0: "batch", 1: "time"}
    else:
        example = torch.ones(1, net.frontend.n_bins, 4)
        name, axes = "magnitude", {0: "batch", 2: "frames"}
    dynamic_axes = {name: axes, "logits": {0: "batch", 1: "frames"}}
    dynamic_axes["offsets"] = {0: "batch", 1: "frames"}
    dynamic_axes["periodicity_logits"] = {0: "batch", 1: "frames"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation; the tracer warns about
        # shapes read as Python numbers, which the dynamic axes keep symbolic.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[name],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, onnx_metadata(net, from_audio))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export_onnx(
    path: str | os.PathLike,
    checkpoint: str | os.PathLike | PitchNet | None = None,
    *,
    from_audio: bool = True,
    opset: int = ONNX_OPSET,
) -> Path:
    """Write the network as an ONNX file (see the module's docstring for its inputs,
    outputs and metadata).

    Args:
        path: the ``.onnx`` file to write (replaced if it exists).
        checkpoint: a ``.ckpt`` path, a loaded :class:`~foldpitch.model.PitchNet`, or
            ``None`` for the shipped model (as in :func:`foldpitch.predict.predict`).
        from_audio: ``True``: the file takes audio ``(batch, time)`` and computes the
            STFT itself; ``False``: it takes STFT magnitudes ``(batch, n_input_bins,
            frames)``. Batch and time (frames) are dynamic either way.
        opset: ONNX opset, at least 17 (the first with ``STFT``).

    Returns:
        The path written.

    Raises:
        ModuleNotFoundError: ``onnx`` is not installed (``pip install 'foldpitch[onnx]'``).
        TypeError, ValueError: bad ``from_audio`` or ``opset``; a checkpoint as
            :func:`foldpitch.predict.predict` refuses it.
        FileNotFoundError: the checkpoint does not exist.

    Example:
        >>> import tempfile, onnxruntime, numpy as np
        >>> net = PitchNet(channels=16, n_blocks=2, n_period_bins=32)
        >>> file = export_onnx(Path(tempfile.mkdtemp()) / "net.onnx", net)
        >>> session = onnxruntime.InferenceSession(file, providers=["CPUExecutionProvider"])
        >>> logits, offsets, periodicity_logits = session.run(
        ...     None, {"audio": np.zeros((2, 16000), np.float32)}
        ... )
        >>> logits.shape, periodicity_logits.shape
        ((2, 100, 32), (2, 100))
    """
    from .predict import _resolve_model  # predict owns checkpoint resolution

    _checks.flag("from_audio", from_audio)
    _checks.positive_int("opset", opset, minimum=ONNX_OPSET)  # the first with STFT
    net = _resolve_model(checkpoint, torch.device("cpu"))
    if not from_audio and net.frontend_short is not None:
        raise ValueError(
            "from_audio=False exports a network of one STFT; this one also reads a short "
            f"STFT (n_fft_short={net.frontend_short.n_fft}): export it with from_audio=True"
        )
    if not from_audio and net.frequency_offsets:
        raise ValueError(
            "from_audio=False exports a network of STFT magnitudes; this one also reads"
            " their frequency offsets (frequency_offsets=True): export it with from_audio=True"
        )
    data = _onnx_bytes(net, from_audio, opset)
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)  # never a half-written file under the final name
    return path


# --- onnxruntime as predict's backend ------------------------------------------------

# Sessions per network, by (thread count); dropped with the network. A session is
# rebuilt when the weights change (in-place updates bump each tensor's version).
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fingerprint(net: PitchNet) -> tuple:
    return tuple((t.data_ptr(), t._version) for t in net.state_dict().values())


def onnx_forward(net: PitchNet):
    """A function ``audio (batch, time) -> PitchNetOutput`` that runs ``net`` through
    onnxruntime on the CPU (``torch.get_num_threads()`` intra-op threads), like
    ``net(audio)`` within :data:`ONNX_TOLERANCE`. The export happens in memory on the
    first call for a network (about a second) and is cached with it; the function's
    ``session`` attribute is the ``onnxruntime.InferenceSession``.

    Raises:
        ModuleNotFoundError: ``onnxruntime`` or ``onnx`` is not installed.
    """
    ort = _require("onnxruntime", "backend='onnx'")
    threads = torch.get_num_threads()
    fingerprint = _fingerprint(net)
    sessions = _SESSIONS.get(net)
    if sessions is None or sessions[0] != fingerprint:
        sessions = (fingerprint, {}, _onnx_bytes(net, True, ONNX_OPSET))
        _SESSIONS[net] = sessions
    _, by_threads, data = sessions
    if threads not in by_threads:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        by_threads[threads] = ort.InferenceSession(
            data, options, providers=["CPUExecutionProvider"]
        )
    session = by_threads[threads]

    def forward(audio: Tensor) -> PitchNetOutput:
        array = audio.detach().to("cpu", torch.float32).contiguous().numpy()
        logits, offsets, periodicity_logits = session.run(None, {"audio": array})
        return PitchNetOutput(
            logits=torch.from_numpy(logits),
            offsets=torch.from_numpy(offsets),
            periodicity_logits=torch.from_numpy(periodicity_logits),
        )

    forward.session = session  # for inspection (its options, inputs, metadata)
    return forward
