"""Pitch trackers under test, behind one signature.

Every method is a callable ::

    method(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track

``audio`` is a mono float numpy array, ``fmin``/``fmax`` the f0 search range in Hz (the
same for every method in a run), ``hop_seconds`` the requested frame hop. A method
returns a :class:`Track` on its own time grid (frame centres in seconds); the metrics
resample it to the reference grid.

Convention: ``Track.f0_hz`` is in Hz and exactly **0 where the method says unvoiced**
(never NaN, never negative); ``Track.voiced == (Track.f0_hz > 0)``. Methods that report a
pitch guess on unvoiced frames (pyin, torchcrepe, PESTO, SwiftF0, FCPE) have it discarded
from ``f0_hz`` (kept as ``guess_hz``), so in the metrics a voicing miss is also a pitch
miss for every method alike.

Each wrapper imports its package inside the function and raises
:class:`MethodUnavailable` (with the reason) when the package is missing or cannot be
loaded, so that a run reports the method instead of silently dropping it. Apart from
the shared f0 range and hop, every method runs with its documented defaults; the few
choices a method leaves to its user (a voicing threshold, the input scale) are stated
in its wrapper.

Extension point: add a method with :func:`register` (see the end of this module, where
foldpitch's own estimators go); :mod:`benchmarks.accuracy.run` runs every entry of
:data:`METHODS`. Put the PyPI distribution(s) a method needs in ``packages=`` so that
the results list their versions.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "METHODS",
    "METHOD_PACKAGES",
    "Method",
    "MethodUnavailable",
    "Track",
    "make_track",
    "package_versions",
    "register",
]


@dataclass(frozen=True, eq=False)
class Track:
    """An f0 track on the method's own time grid.

    Attributes:
        times: float64 ``(T,)``, frame centres in seconds.
        f0_hz: float64 ``(T,)``, f0 in Hz, 0 where unvoiced.
        voiced: bool ``(T,)``, ``f0_hz > 0``.
        guess_hz: float64 ``(T,)`` or None: the method's pitch guess on every frame,
            whatever its voicing decision, for methods that make one (scored as
            mir_eval's usual raw pitch accuracy, which ignores voicing).
    """

    times: np.ndarray
    f0_hz: np.ndarray
    voiced: np.ndarray
    guess_hz: np.ndarray | None = None


def make_track(times, f0_hz, voiced=None, guess_hz=None) -> Track:
    """A :class:`Track` in the convention above.

    ``f0_hz`` may hold NaN, zeros or negative values for unvoiced frames; ``voiced``
    (optional) further masks frames as unvoiced. Everything not voiced becomes 0.
    ``guess_hz`` (optional): a pitch guess on every frame.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    f0 = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
    if times.shape != f0.shape:
        raise ValueError(f"times {times.shape} and f0 {f0.shape} differ in length")
    keep = np.isfinite(f0) & (f0 > 0)
    if voiced is not None:
        keep &= np.asarray(voiced, dtype=bool).reshape(-1)
    f0 = np.where(keep, f0, 0.0)
    if guess_hz is not None:
        guess_hz = np.asarray(guess_hz, dtype=np.float64).reshape(-1)
        if guess_hz.shape != f0.shape:
            raise ValueError(f"guess_hz {guess_hz.shape} and f0 {f0.shape} differ in length")
    return Track(times, f0, keep, guess_hz)


class MethodUnavailable(RuntimeError):
    """A method's package is missing or cannot be loaded."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class Method(Protocol):
    def __call__(
        self,
        audio: np.ndarray,
        sample_rate: int,
        fmin: float,
        fmax: float,
        hop_seconds: float = 0.01,
    ) -> Track: ...


METHODS: dict[str, Method] = {}
METHOD_PACKAGES: dict[str, tuple[str, ...]] = {}


def register(name: str, packages: tuple[str, ...] = ()) -> Callable[[Method], Method]:
    """Decorator: add a method to :data:`METHODS` under ``name``.

    ``packages``: the PyPI distributions it needs (their versions go into the results).
    """

    def decorate(function: Method) -> Method:
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = function
        METHOD_PACKAGES[name] = tuple(packages)
        return function

    return decorate


def package_versions(name: str) -> str:
    """``"dist version, ..."`` for a registered method's packages (``"-"`` if none)."""
    parts = []
    for dist in METHOD_PACKAGES.get(name, ()):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts) or "-"


# ----------------------------------------------------------------------------- helpers


def _import(method: str, module: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, or a broken binary extension
        raise MethodUnavailable(
            method, f"cannot import {module}: {type(error).__name__}: {error}"
        ) from error


class _StubModule(types.ModuleType):
    """Placeholder for a module that a package imports at top level but we never use."""

    def __init__(self, name: str, why: str):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)
        self._why = why

    def __getattr__(self, attribute: str):
        raise AttributeError(f"{self.__name__}.{attribute}: {self._why}")


class _UnavailableResample:
    """Stand-in for ``torchaudio.transforms.Resample``: constructing it raises."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            "torchaudio is unavailable; the benchmark resamples with soxr before the call"
        )


def _guard_torchaudio() -> None:
    """Let torchcrepe / PESTO / torchfcpe import without torchaudio.

    torchcrepe and PESTO import torchaudio at top level only to read audio files, which
    this harness never does (it passes tensors); torchfcpe imports
    ``torchaudio.transforms.Resample`` at top level and uses it only when the input rate
    differs from its own 16 kHz, and the harness resamples before the call. If
    torchaudio is missing or does not load (it does not load against every torch
    version), a stub package stands in for it; using it raises.
    """
    if "torchaudio" in sys.modules:
        return
    try:
        import torchaudio  # noqa: F401
    except Exception:
        for key in [k for k in sys.modules if k == "torchaudio" or k.startswith("torchaudio.")]:
            del sys.modules[key]
        why = "torchaudio is unavailable; the benchmark passes arrays instead"
        stub = _StubModule("torchaudio", why)
        stub.__path__ = []  # a package, so that ``torchaudio.transforms`` can be imported
        transforms = _StubModule("torchaudio.transforms", why)
        transforms.Resample = _UnavailableResample
        stub.transforms = transforms
        sys.modules["torchaudio"] = stub
        sys.modules["torchaudio.transforms"] = transforms


def _guard_pkg_resources() -> None:
    """Let pysptk and pyworld import where setuptools no longer ships ``pkg_resources``.

    pysptk (1.0.1) uses it only for ``resource_filename`` (to find its example audio file)
    and pyworld (0.3.5) only for ``get_distribution(...).version``; a minimal stand-in
    based on ``importlib.resources`` / ``importlib.metadata`` provides both.
    """
    if "pkg_resources" in sys.modules:
        return
    try:
        import pkg_resources  # noqa: F401
    except Exception:
        import importlib.resources

        shim = types.ModuleType("pkg_resources")
        shim.__spec__ = importlib.machinery.ModuleSpec("pkg_resources", None)

        def resource_filename(package: str, resource: str) -> str:
            # like pkg_resources: relative to the package, or to a module's directory
            module = importlib.import_module(package)
            if not hasattr(module, "__path__"):
                package = package.rpartition(".")[0] or package
            return str(importlib.resources.files(package).joinpath(resource))

        def get_distribution(name: str) -> types.SimpleNamespace:
            return types.SimpleNamespace(
                project_name=name, version=importlib.metadata.version(name)
            )

        shim.resource_filename = resource_filename
        shim.get_distribution = get_distribution
        sys.modules["pkg_resources"] = shim


def _resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr (high quality), else librosa; unchanged when the rates match."""
    if sample_rate == target_rate:
        return audio
    try:
        import soxr
    except ImportError:
        import librosa

        return librosa.resample(audio, orig_sr=sample_rate, target_sr=target_rate)
    return soxr.resample(audio, sample_rate, target_rate)


def _frames(n: int, hop_samples: int, sample_rate: int) -> np.ndarray:
    return np.arange(n) * hop_samples / sample_rate


# ----------------------------------------------------------------------------- methods


@register("pyin", packages=("librosa",))
def pyin(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """``librosa.pyin`` with its defaults (frame 2048 samples, centred frames).

    Voicing: pyin's own Viterbi voicing decision. Its pitch guess on unvoiced frames
    (``fill_na=None``) is kept as ``guess_hz``.
    """
    librosa = _import("pyin", "librosa")
    hop = int(round(hop_seconds * sample_rate))
    f0, voiced, _ = librosa.pyin(
        np.asarray(audio, dtype=np.float32),
        fmin=fmin,
        fmax=fmax,
        sr=sample_rate,
        hop_length=hop,
        fill_na=None,
    )
    times = librosa.times_like(f0, sr=sample_rate, hop_length=hop)
    return make_track(times, f0, voiced, guess_hz=f0)


@register("praat", packages=("praat-parselmouth",))
def praat(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """Praat's autocorrelation method (``To Pitch (ac)``) via parselmouth, defaults
    except ``time_step``, ``pitch_floor`` and ``pitch_ceiling``."""
    parselmouth = _import("praat", "parselmouth")
    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sample_rate)
    pitch = sound.to_pitch_ac(time_step=hop_seconds, pitch_floor=fmin, pitch_ceiling=fmax)
    return make_track(pitch.xs(), pitch.selected_array["frequency"])


CREPE_SAMPLE_RATE = 16000
CREPE_PERIODICITY_THRESHOLD = 0.21  # the value torchcrepe's README suggests


def _torchcrepe(name: str, capacity: str, audio, sample_rate, fmin, fmax, hop_seconds):
    _import(name, "torch")
    _guard_torchaudio()
    torchcrepe = _import(name, "torchcrepe")
    import torch

    x = _resample(np.asarray(audio, dtype=np.float32), sample_rate, CREPE_SAMPLE_RATE)
    hop = int(round(hop_seconds * CREPE_SAMPLE_RATE))
    pitch, periodicity = torchcrepe.predict(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None],
        CREPE_SAMPLE_RATE,
        hop_length=hop,
        fmin=fmin,
        fmax=fmax,
        model=capacity,
        return_periodicity=True,
        device="cpu",
    )
    pitch = pitch[0].numpy()
    periodicity = periodicity[0].numpy()
    return make_track(
        _frames(len(pitch), hop, CREPE_SAMPLE_RATE),
        pitch,
        periodicity >= CREPE_PERIODICITY_THRESHOLD,
        guess_hz=pitch,
    )


@register("torchcrepe-full", packages=("torchcrepe",))
def torchcrepe_full(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """torchcrepe, ``full`` model, default Viterbi decoder, input resampled to 16 kHz.

    Voicing: periodicity >= 0.21 (the threshold torchcrepe's README suggests; no
    filtering). Note that the default decoder returns 20-cent bins plus a random
    triangular dither of +-20 cents (drawn from numpy's global generator), so its fine
    pitch error cannot go much below ~10 cents, and results vary unless numpy is seeded.
    """
    return _torchcrepe("torchcrepe-full", "full", audio, sample_rate, fmin, fmax, hop_seconds)


@register("torchcrepe-tiny", packages=("torchcrepe",))
def torchcrepe_tiny(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """torchcrepe, ``tiny`` model; otherwise as ``torchcrepe-full``."""
    return _torchcrepe("torchcrepe-tiny", "tiny", audio, sample_rate, fmin, fmax, hop_seconds)


PESTO_MODEL = "mir-1k_g7"  # PESTO's default checkpoint (ships inside the package)
PESTO_CONFIDENCE_THRESHOLD = 0.5
_PESTO_MODELS: dict[tuple[int, float], object] = {}


@register("pesto", packages=("pesto-pitch",))
def pesto(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """PESTO (``pesto.load_model``, default checkpoint and reduction) at the input rate.

    The model is loaded once per (sample rate, hop) and reused, as PESTO's README
    recommends, so the timing excludes loading. PESTO has no f0 range and no voicing
    decision of its own: a frame is voiced when its confidence is >= 0.5 and its f0 is
    within ``[fmin, fmax]``.
    """
    _import("pesto", "torch")
    _guard_torchaudio()
    pesto_module = _import("pesto", "pesto")
    import torch

    step_ms = 1000.0 * hop_seconds
    key = (int(sample_rate), step_ms)
    if key not in _PESTO_MODELS:
        _PESTO_MODELS[key] = pesto_module.load_model(
            PESTO_MODEL, step_size=step_ms, sampling_rate=sample_rate
        )
    model = _PESTO_MODELS[key]
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    with torch.inference_mode():
        f0, confidence, _ = model(x, sr=sample_rate, convert_to_freq=True, return_activations=False)
    f0 = f0.reshape(-1).double().numpy()
    confidence = confidence.reshape(-1).double().numpy()
    voiced = (confidence >= PESTO_CONFIDENCE_THRESHOLD) & (f0 >= fmin) & (f0 <= fmax)
    return make_track(np.arange(len(f0)) * hop_seconds, f0, voiced, guess_hz=f0)


INT16_SCALE = 32768.0  # SPTK's examples feed 16-bit sample values


@register("swipe", packages=("pysptk",))
def swipe(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """SWIPE' via ``pysptk.swipe``, default voicing threshold 0.3; input scaled to the
    16-bit range as in pysptk's examples."""
    _guard_pkg_resources()
    pysptk = _import("swipe", "pysptk")
    hop = int(round(hop_seconds * sample_rate))
    f0 = pysptk.swipe(
        np.asarray(audio, dtype=np.float64) * INT16_SCALE,
        fs=sample_rate,
        hopsize=hop,
        min=fmin,
        max=fmax,
        otype="f0",
    )
    return make_track(_frames(len(f0), hop, sample_rate), f0)


@register("rapt", packages=("pysptk",))
def rapt(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """RAPT via ``pysptk.rapt``, default voice bias 0; input scaled to the 16-bit range
    as in pysptk's examples."""
    _guard_pkg_resources()
    pysptk = _import("rapt", "pysptk")
    hop = int(round(hop_seconds * sample_rate))
    f0 = pysptk.rapt(
        np.asarray(audio, dtype=np.float32) * np.float32(INT16_SCALE),
        fs=sample_rate,
        hopsize=hop,
        min=fmin,
        max=fmax,
        otype="f0",
    )
    return make_track(_frames(len(f0), hop, sample_rate), f0)


@register("harvest", packages=("pyworld",))
def harvest(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """WORLD Harvest via ``pyworld.harvest`` (frame period = the hop; default 5 ms)."""
    _guard_pkg_resources()
    pyworld = _import("harvest", "pyworld")
    f0, times = pyworld.harvest(
        np.ascontiguousarray(audio, dtype=np.float64),
        sample_rate,
        f0_floor=fmin,
        f0_ceil=fmax,
        frame_period=1000.0 * hop_seconds,
    )
    return make_track(times, f0)


SWIFT_F0_CONFIDENCE_THRESHOLD = 0.5  # "voiced when its confidence is at least 0.5" (README)
_SWIFT_F0: list = []


@register("swift-f0", packages=("swift-f0",))
def swift_f0(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """SwiftF0 (``swift_f0.SwiftF0().detect(audio, sample_rate, fmin, fmax)``), its
    ONNX model at 16 kHz (it resamples with soxr itself) and its fixed 16 ms hop.

    The detector is built once and reused (the timing excludes loading). Voicing:
    confidence >= 0.5, as its README and ``PitchResult`` say; its pitch on every frame
    is the pitch guess. ``fmin``/``fmax`` are clipped by SwiftF0 to its model range
    (46.875-2093.75 Hz), which covers the harness's.
    """
    module = _import("swift-f0", "swift_f0")
    if not _SWIFT_F0:
        _SWIFT_F0.append(module.SwiftF0())
    result = _SWIFT_F0[0].detect(np.asarray(audio, dtype=np.float32), sample_rate, fmin, fmax)
    voiced = result.confidence >= SWIFT_F0_CONFIDENCE_THRESHOLD
    return make_track(result.timestamps, result.pitch_hz, voiced, guess_hz=result.pitch_hz)


FCPE_SAMPLE_RATE = 16000
FCPE_DECODER = "local_argmax"  # torchfcpe's README
FCPE_THRESHOLD = 0.006  # torchfcpe's README and default
_FCPE_MODELS: list = []


def _fcpe_model(name: str):
    _import(name, "torch")
    _guard_torchaudio()
    torchfcpe = _import(name, "torchfcpe")
    if not _FCPE_MODELS:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):  # it prints notes while loading
            _FCPE_MODELS.append(torchfcpe.spawn_bundled_infer_model(device="cpu"))
    return _FCPE_MODELS[0]


@register("fcpe", packages=("torchfcpe",))
def fcpe(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """FCPE (torchfcpe's bundled model, ``spawn_bundled_infer_model()``), input
    resampled to 16 kHz with soxr, its ``local_argmax`` decoder and threshold 0.006
    (its README's call ``.infer(audio, sr, decoder_mode="local_argmax",
    threshold=0.006)``).

    To have both the voicing decision and a pitch guess on every frame from one pass of
    the network, this runs the steps of ``.infer`` itself: mel spectrogram, network, then
    the local-argmax decoding masked at the threshold (unvoiced where the largest
    activation is <= 0.006: exactly ``.infer``'s output, which a test checks) and
    unmasked (the guess). Frames outside ``[fmin, fmax]`` are unvoiced. Its hop is 10 ms
    (160 samples); frame ``i`` is centred at ``(i + 1/2) * 10 ms`` (its STFT pads
    ``(win - hop) / 2`` on the left, uncentred). Input scaled down to peak 1 where
    it exceeds it (torchfcpe complains about samples beyond +-1).
    """
    import torch

    model = _fcpe_model("fcpe")
    x = _resample(np.asarray(audio, dtype=np.float32), sample_rate, FCPE_SAMPLE_RATE)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > 1.0:
        x = x / peak
    wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, :, None]
    net = model.model
    with torch.inference_mode():
        latent = net(model.wav2mel(wav, FCPE_SAMPLE_RATE))
        decode = net.latent2cents_local_decoder
        f0 = net.cent_to_f0(decode(latent, threshold=FCPE_THRESHOLD, mask=True))
        guess = net.cent_to_f0(decode(latent, threshold=FCPE_THRESHOLD, mask=False))
    f0 = f0.reshape(-1).double().numpy()
    guess = guess.reshape(-1).double().numpy()
    hop = model.get_hop_size()
    times = (np.arange(len(f0)) + 0.5) * hop / FCPE_SAMPLE_RATE
    voiced = (f0 >= fmin) & (f0 <= fmax)
    return make_track(times, f0, voiced, guess_hz=guess)


# ------------------------------------------------------------- foldpitch's own methods
#
# Extension point: foldpitch's estimators are added here, with the same signature, e.g.
#
#     @register("foldpitch-dense", packages=("foldpitch",))
#     def foldpitch_dense(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
#         ...
#         return make_track(times, f0_hz, voiced)
#
# benchmarks/accuracy/run.py runs every entry of METHODS; nothing else needs to change.


FOLDPITCH_CHECKPOINT_ENV = "FOLDPITCH_CHECKPOINT"
_NETWORKS: dict[str, object] = {}


def _foldpitch_network():
    """The network from ``$FOLDPITCH_CHECKPOINT`` or else the shipped checkpoint."""
    import os

    try:
        from foldpitch.model import load_pitchnet
        from foldpitch.predict import DEFAULT_CHECKPOINT
    except ImportError as error:
        raise MethodUnavailable("foldpitch", f"cannot import foldpitch: {error}") from error
    path = os.environ.get(FOLDPITCH_CHECKPOINT_ENV) or str(DEFAULT_CHECKPOINT)
    if path not in _NETWORKS:
        if not os.path.isfile(path):
            raise MethodUnavailable("foldpitch", f"no checkpoint at {path}")
        _NETWORKS[path] = load_pitchnet(path)[0]
    return _NETWORKS[path]


def _foldpitch_predict(audio, sample_rate, fmin, fmax, **options) -> Track:
    """:func:`foldpitch.predict.predict` with the network of :func:`_foldpitch_network`;
    its f0 on every frame is the pitch guess."""
    from foldpitch.predict import predict

    net = _foldpitch_network()
    result = predict(audio, sample_rate, net, fmin=fmin, fmax=fmax, device="cpu", **options)
    f0 = result.f0.numpy().astype(np.float64)
    return make_track(result.times.numpy(), f0, result.voiced.numpy(), guess_hz=f0)


@register("foldpitch", packages=("foldpitch",))
def foldpitch_network(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """foldpitch's network (checkpoint: ``$FOLDPITCH_CHECKPOINT`` or the shipped one)
    through :func:`foldpitch.predict.predict` with its defaults: the Viterbi path through
    the period bins plus the chosen bin's offset; voiced where the periodicity output is
    above the checkpoint's voicing threshold (0.7 for the shipped one) in a frame no
    more than 42 dB below the clip's loudest (``predict``'s silence gate). Bins outside
    ``[fmin, fmax]`` are ignored. Its hop is the network's (10 ms)."""
    return _foldpitch_predict(audio, sample_rate, fmin, fmax)


@register("foldpitch-argmax", packages=("foldpitch",))
def foldpitch_argmax(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """foldpitch's network with ``decoder="argmax"``: each frame's most probable bin on
    its own, no Viterbi path (what the decoder adds)."""
    return _foldpitch_predict(audio, sample_rate, fmin, fmax, decoder="argmax")


@register("foldpitch-refined", packages=("foldpitch",))
def foldpitch_refined(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """foldpitch's network, then ``refine=True``: the direct fit of the envelope (dense
    fold loss, 30 Adam steps) started from the network's f0; voicing is the network's."""
    return _foldpitch_predict(audio, sample_rate, fmin, fmax, refine=True)


@register("foldpitch-fit", packages=("foldpitch",))
def foldpitch_fit(audio, sample_rate, fmin, fmax, hop_seconds=0.01) -> Track:
    """The direct envelope fit, no network: :func:`foldpitch.fit.fit_envelope` with its
    defaults (YIN-style search with sub-multiple penalty and Viterbi path, then 60 Adam
    steps on low-passed audio and 100 with a sinc kernel) at the harness's f0 range
    and hop, at the input sample rate.

    Voicing: the fit's own, ``periodicity >= 0.5`` (1 - the energy-normalised fold loss
    of each frame); its f0 on every frame is kept as ``guess_hz``. Cost: per second of
    audio about a fifth of torchcrepe-full's on one thread (it runs ~160 passes of
    the dense loss and its gradient over the whole clip).
    """
    _import("foldpitch-fit", "torch")
    fit = _import("foldpitch-fit", "foldpitch.fit")
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    track = fit.fit_envelope(x, int(sample_rate), fmin, fmax, hop_seconds)
    f0 = track.f0.detach().double().numpy()
    return make_track(track.times.double().numpy(), f0, track.voiced.numpy(), guess_hz=f0)
