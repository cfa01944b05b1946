"""Unlabelled audio datasets for self-supervised training (plain ``torch.utils.data``).

foldpitch trains without pitch labels, so every *training* dataset here returns items
``{"audio": Tensor (n_samples,)}`` and no label of any kind:

- :class:`SyntheticCorpus`: a built-in generated corpus (harmonic sounds with steady,
  vibrato, gliding and jumping f0, random spectral envelopes, noise, silences, and with
  ``p_speech`` speech-like excerpts), so that training runs out of the box;
- :class:`AudioFolder`: random excerpts of the user's own audio files;
- :class:`EspeakSpeech`: short synthetic utterances from ``espeak-ng`` when it is
  installed (see :func:`espeak_available`);
- :class:`FestivalSpeech`: Festival voices built from real speakers' recordings;
- :class:`SoundfontMelodies`: monophonic instrument lines rendered from soundfonts;
- :class:`AddNoise` (coloured noise, babble from :class:`Babble`, music) and
  :class:`Reverb` (simulated rooms): degradations of any of these, keeping the excerpt
  before them as the loss's signal (items ``{"audio", "clean"}``);
- :func:`foldpitch.data.corpus.realistic_corpus`: all of them mixed, in rooms and noise
  (``configs/data/realistic.yaml``; ``python scripts/prepare_corpus.py`` renders its
  pools beforehand).

One module per source: :mod:`~foldpitch.data.tones` (generated tones),
:mod:`~foldpitch.data.speech` (espeak-ng and Festival voices of real speakers,
:func:`render_festival`), :mod:`~foldpitch.data.soundfont` (instrument samples through
fluidsynth, :func:`render_soundfont`), :mod:`~foldpitch.data.rooms` (rooms and noise),
:mod:`~foldpitch.data.folder` (the user's audio); :mod:`~foldpitch.data.splits` assigns
every voice and instrument to train, dev or test. Voices and soundfonts are taken only from
allow-lists (:func:`check_festival_voice`, :func:`check_soundfont` refuse anything else).

:class:`LabelledSyntheticSet` is the only labelled set: the same generator as
:class:`SyntheticCorpus` (one code path, :func:`synthesize_excerpt`) with the exact
synthesis f0 on a frame grid, for *monitoring* training only.

Every item is deterministic given ``(seed, index)``: the random stream of item ``i`` is
``numpy.random.default_rng([seed, i])``, so a dataset is reproducible and DataLoader
workers agree whatever the worker count or order.

Frame convention of the labels: the envelope's, frame ``f`` at sample ``f * hop_length``
and ``n_frames = foldpitch.frontend.n_frames_for(n_samples, hop_length)`` (one frame per
control point inside the signal); unvoiced frames have ``f0 == 0`` and
``voiced == False``.
"""

from .folder import AudioFolder
from .rooms import AddNoise, Babble, Reverb
from .soundfont import (
    Note,
    SoundfontMelodies,
    check_soundfont,
    find_soundfonts,
    fluidsynth_available,
    render_soundfont,
)
from .speech import (
    EspeakSpeech,
    FestivalSpeech,
    check_festival_voice,
    espeak_available,
    festival_available,
    render_festival,
)
from .splits import SPLITS, split_of
from .tones import (
    CONTOURS,
    VOICING_THRESHOLD,
    LabelledSyntheticSet,
    SyntheticCorpus,
    synthesize_excerpt,
)

__all__ = [
    "CONTOURS",
    "SPLITS",
    "Note",
    "Reverb",
    "SoundfontMelodies",
    "AddNoise",
    "AudioFolder",
    "Babble",
    "EspeakSpeech",
    "FestivalSpeech",
    "LabelledSyntheticSet",
    "SyntheticCorpus",
    "VOICING_THRESHOLD",
    "check_festival_voice",
    "check_soundfont",
    "espeak_available",
    "festival_available",
    "find_soundfonts",
    "fluidsynth_available",
    "render_festival",
    "render_soundfont",
    "split_of",
    "synthesize_excerpt",
]
