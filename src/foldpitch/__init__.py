"""foldpitch: self-supervised pitch estimation with a differentiable fold-alignment loss.

The names people type::

    import foldpitch

    result = foldpitch.predict(audio, sample_rate)  # f0, periodicity, voicing per frame
    f0, voiced_flag, voiced_prob = foldpitch.pyin_like(audio, sample_rate)  # as librosa.pyin
    net = foldpitch.load()  # the shipped network (cached; foldpitch.predict.clear_cache)
    track = foldpitch.fit(audio, sample_rate)  # direct fit of one recording's envelope
    live = foldpitch.stream(sample_rate=sample_rate)  # a PitchStream: audio as it arrives
    loss = foldpitch.dense_fold_loss(log2_period_envelope, audio, hop_length)

Conventions at these edges: audio is a numpy array or a torch tensor, float or int16/int32
PCM, time last; frame spacing is ``hop``, in seconds; frequencies in Hz. (The losses work
inside the signal, in samples: their ``hop_length`` counts samples between control points.)

``foldpitch.predict``, ``foldpitch.fit`` and ``foldpitch.stream`` are the functions; their
modules stay importable by name (``from foldpitch.predict import DEFAULT_CHECKPOINT``,
``import foldpitch.fit``), but ``import foldpitch.predict as m`` binds the function, as
the attribute wins: use ``importlib.import_module("foldpitch.predict")`` for the module.
Importing foldpitch loads torch and numpy, never Lightning, Hydra or matplotlib.
"""

__version__ = "0.1.0"

# The submodules are imported here, before the names below replace them as attributes of
# the package: a later `import foldpitch.predict` finds the module in sys.modules and
# leaves the attribute (the function) alone.
from .fit import PitchTrack  # noqa: E402
from .fit import fit_envelope as fit  # noqa: E402
from .loss import (  # noqa: E402
    DenseFoldLoss,
    FoldAlignmentLoss,
    SelfSupervisedFoldLoss,
    dense_fold_loss,
    fold_alignment_loss,
)
from .predict import PitchResult, load, predict, pyin_like  # noqa: E402
from .stream import PitchStream, stream  # noqa: E402

__all__ = [
    "DenseFoldLoss",
    "FoldAlignmentLoss",
    "PitchResult",
    "PitchStream",
    "PitchTrack",
    "SelfSupervisedFoldLoss",
    "__version__",
    "dense_fold_loss",
    "fit",
    "fold_alignment_loss",
    "load",
    "predict",
    "pyin_like",
    "stream",
]
