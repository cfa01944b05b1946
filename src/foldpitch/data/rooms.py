"""Rooms and noise: degradations of another source's audio, the clean excerpt kept for the loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ._util import _check_index, _check_int, _check_probability, _check_snr_range


def _coloured_noise(rng: np.random.Generator, n: int, white_only: bool = False) -> np.ndarray:
    """Unit-power Gaussian noise with a ``1/f**beta`` power spectrum, beta in [0, 2]
    (half the time 0: white), or always white with ``white_only``."""
    white = rng.standard_normal(n)
    beta = rng.uniform(0.0, 2.0) if rng.random() < 0.5 else 0.0
    beta = 0.0 if white_only else beta  # the draws above keep the random stream aligned
    if beta > 0:
        spectrum = np.fft.rfft(white)
        frequency = np.fft.rfftfreq(n)
        frequency[0] = frequency[1] if n > 1 else 1.0
        white = np.fft.irfft(spectrum * frequency ** (-beta / 2), n=n)
    return white / max(np.sqrt(np.mean(white**2)), 1e-12)


class AddNoise(Dataset):
    """Noise added to another dataset's audio, with the audio before it kept as the
    training target: the network hears ``"audio"``, the fold loss is computed on
    ``"clean"``.

    Trained on noisy audio alone, the periodicity output learns whether the *mixture*
    cancels one period later, so weak voiced frames under noise are trained to be
    unvoiced, and the period target carries the noise's bias. With the clean excerpt as
    the loss's signal the network learns to report the periodicity and period of the
    source it hears through the noise. No label is involved: ``"clean"`` is the same
    unlabelled excerpt (the user's recording, an espeak-ng utterance) before this
    augmentation, and it may itself hold noise.

    The noise is :func:`_coloured_noise` (white to brown) at an SNR drawn uniformly from
    ``snr_db`` (or none at all with probability ``p_clean``); the signal power is
    measured over the excerpt's active blocks (256-sample blocks within 20 dB of the
    loudest), so pauses do not lower the SNR. Digital silence stays silent. The noise of
    item ``i`` comes from ``numpy.random.default_rng([seed, i, 1])``, a stream apart
    from the wrapped dataset's.

    Args:
        dataset: a dataset whose items hold ``"audio"``, float32 ``(n_samples,)``.
        snr_db: ``(low, high)`` in dB, or one number.
        p_clean: probability that an item gets no noise.
        seed: non-negative int.
        white_noise: always white noise (default: white to brown).

    Items:
        ``{"audio": float32 (n_samples,), "clean": float32 (n_samples,)}``: the mixture
        and the wrapped item's audio.

    Example:
        >>> from foldpitch.data import SyntheticCorpus
        >>> noisy = AddNoise(SyntheticCorpus(length=2, seconds=0.1, snr_db=None), 10.0, 0.0)
        >>> item = noisy[0]
        >>> sorted(item), item["audio"].shape
        (['audio', 'clean'], torch.Size([1600]))
    """

    _BLOCK = 256  # samples per block of the signal-power measurement
    _ACTIVE_DB = -20.0  # blocks this far below the loudest are pauses

    def __init__(
        self,
        dataset: Dataset,
        snr_db: float | Sequence[float] = (0.0, 40.0),
        p_clean: float = 0.2,
        seed: int = 0,
        white_noise: bool = False,
    ) -> None:
        if isinstance(snr_db, (int, float)) and not isinstance(snr_db, bool):
            snr_db = (float(snr_db), float(snr_db))
        self.dataset = dataset
        self.snr_db = _check_snr_range(snr_db, "a number")
        self.p_clean = _check_probability("p_clean", p_clean)
        self.seed = _check_int("seed", seed, 0)
        self.white_noise = bool(white_noise)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _check_index(index, len(self))
        item = self.dataset[index]
        if not isinstance(item, dict) or "audio" not in item:
            raise TypeError(
                f"AddNoise needs items with an 'audio' tensor, got {type(item).__name__}"
                + (f" with keys {sorted(item)}" if isinstance(item, dict) else "")
            )
        clean = item["audio"]
        rng = np.random.default_rng([self.seed, index, 1])
        snr = rng.uniform(*self.snr_db)
        if rng.random() < self.p_clean:
            return {"audio": clean, "clean": clean}
        signal = clean.numpy().astype(np.float64)
        noise = _coloured_noise(rng, len(signal), self.white_noise)
        noisy = signal + noise * np.sqrt(self._active_power(signal) * 10 ** (-snr / 10))
        return {"audio": torch.from_numpy(noisy.astype(np.float32)), "clean": clean}

    @classmethod
    def _active_power(cls, signal: np.ndarray) -> float:
        """Mean square over the blocks within 20 dB of the loudest block (0 for silence)."""
        n_blocks = max(1, len(signal) // cls._BLOCK)
        blocks = np.array_split(signal**2, n_blocks)
        size = np.array([len(block) for block in blocks])
        energy = np.array([block.sum() for block in blocks]) / size
        active = energy >= energy.max() * 10 ** (cls._ACTIVE_DB / 10)
        return float((energy * size)[active].sum() / size[active].sum())
