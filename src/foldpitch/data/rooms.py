"""Rooms and noise: degradations of another source's audio, the clean excerpt kept for the
loss.

- :class:`AddNoise`: coloured noise (white to brown), or with ``backgrounds`` an excerpt
  of other audio (babble from :class:`Babble`, music from
  :class:`~foldpitch.data.soundfont.SoundfontMelodies`), at a drawn SNR;
- :class:`Reverb`: the audio convolved with the impulse response of a simulated
  shoebox room (pyroomacoustics' image-source model), one of a seeded pool of rooms;
- :class:`Babble`: several excerpts of a speech dataset summed (a crowd of talkers).

The wrappers keep the excerpt before them as ``"clean"`` (or pass on the ``"clean"`` of a
wrapped wrapper), so the fold loss reads the dry, noiseless source while the network
hears the degraded one. No label is involved.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import _checks


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
        backgrounds: datasets of ``{"audio"}`` items (babble, music) that noise may be
            drawn from instead: with probability ``p_background`` the noise is an item
            of one of them (dataset and index drawn per item), scaled like the coloured
            noise; silent backgrounds fall back to coloured noise.
        p_background: see ``backgrounds`` (ignored without them).

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
        backgrounds: Sequence[Dataset] = (),
        p_background: float = 0.5,
    ) -> None:
        if isinstance(snr_db, (int, float)) and not isinstance(snr_db, bool):
            snr_db = (float(snr_db), float(snr_db))
        self.dataset = dataset
        self.snr_db = _checks.real_range("snr_db", snr_db, unit="dB")
        self.p_clean = _checks.probability("p_clean", p_clean)
        self.seed = _checks.non_negative_int("seed", seed)
        self.white_noise = bool(white_noise)
        self.backgrounds = list(backgrounds)
        self.p_background = _checks.probability("p_background", p_background)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, len(self))
        item = self.dataset[index]
        if not isinstance(item, dict) or "audio" not in item:
            raise TypeError(
                f"AddNoise needs items with an 'audio' tensor, got {type(item).__name__}"
                + (f" with keys {sorted(item)}" if isinstance(item, dict) else "")
            )
        heard, clean = item["audio"], item.get("clean", item["audio"])
        rng = np.random.default_rng([self.seed, index, 1])
        snr = rng.uniform(*self.snr_db)
        if rng.random() < self.p_clean:
            return {"audio": heard, "clean": clean}
        signal = heard.numpy().astype(np.float64)
        noise = None
        # Drawn only with backgrounds, so that plain AddNoise keeps its random stream.
        if self.backgrounds and rng.random() < self.p_background:
            background = self.backgrounds[rng.integers(len(self.backgrounds))]
            noise = background[int(rng.integers(len(background)))]["audio"].numpy()
            noise = noise.astype(np.float64)[: len(signal)]
            noise = np.pad(noise, (0, len(signal) - len(noise)))
            power = np.mean(noise**2)
            noise = noise / np.sqrt(power) if power > 1e-12 else None
        if noise is None:
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


class Babble(Dataset):
    """A crowd of talkers: ``talkers`` excerpts of a speech dataset, each scaled to unit
    power, summed (items of other datasets too: music from several instruments).

    Item ``i`` draws the count (uniform in ``talkers``) and the items (with replacement)
    from ``numpy.random.default_rng([seed, i, 5])``.

    Args:
        dataset: a dataset of ``{"audio"}`` items (e.g. :class:`~foldpitch.data.speech.
            FestivalSpeech` with another seed than the training speech).
        talkers: ``(low, high)`` number of excerpts summed, inclusive.
        seed: non-negative int.
        length: number of items; default ``len(dataset)``.

    Items:
        ``{"audio": float32 tensor (n_samples,)}`` with unit power (0 if all are silent).
    """

    def __init__(
        self,
        dataset: Dataset,
        talkers: Sequence[int] = (3, 7),
        seed: int = 0,
        length: int | None = None,
    ) -> None:
        self.dataset = dataset
        low, high = (int(v) for v in talkers)
        if not 1 <= low <= high:
            raise ValueError(f"talkers must be (low, high) with 1 <= low <= high, got {talkers}")
        self.talkers = (low, high)
        self.seed = _checks.non_negative_int("seed", seed)
        self.length = _checks.positive_int("length", len(dataset) if length is None else length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, self.length)
        rng = np.random.default_rng([self.seed, index, 5])
        count = int(rng.integers(self.talkers[0], self.talkers[1] + 1))
        total = None
        for j in rng.integers(len(self.dataset), size=count):
            audio = self.dataset[int(j)]["audio"].numpy().astype(np.float64)
            power = np.mean(audio**2)
            audio = audio / np.sqrt(power) if power > 1e-12 else audio
            total = audio if total is None else total + audio
        power = np.mean(total**2)
        total = total / np.sqrt(power) if power > 1e-12 else total
        return {"audio": torch.from_numpy(total.astype(np.float32))}


_SABINE_FACTOR = 0.8  # see Reverb


class Reverb(Dataset):
    """The audio of another dataset heard in a simulated room, the dry audio kept as
    ``"clean"`` for the loss.

    Rooms are shoeboxes simulated with pyroomacoustics' image-source model: room ``r``
    of the pool draws its size (3-12 x 3-10 x 2.4-4.5 m), a target RT60 uniform in
    ``rt60``, and a source and a microphone at least 0.5 m from the walls and from each
    other, from ``numpy.random.default_rng([seed, r, 6])``. The wall absorption comes
    from Sabine's formula for ``0.8 * RT60``; as the image-source responses decay
    0.9-1.7 times slower than Sabine predicts, depending on the room's shape, each
    response's decay is then corrected to the target: its RT60 is measured
    (``pyroomacoustics.experimental.measure_rt60``) and it is multiplied by
    ``exp(-ln(1000) (1/target - 1/measured) t)``. The impulse response is cut to start
    8 samples before its strongest tap (the direct sound), so the reverberant audio stays
    aligned with the dry audio the loss reads; the result is scaled to the dry audio's
    power. Responses are cached in ``cache_dir`` (``room-<key>-<r>.npy``). With
    probability ``1 - p_reverb`` an item stays dry. The excerpt is convolved alone: the
    reverberation of what came before it is missing.

    Item ``i`` draws from ``numpy.random.default_rng([seed, i, 2])``.

    Args:
        dataset: a dataset of ``{"audio"}`` (or ``{"audio", "clean"}``) items.
        p_reverb: probability of a room.
        rt60: ``(low, high)`` target reverberation times in seconds.
        n_rooms: size of the pool of rooms.
        seed: non-negative int (rooms of the labelled dev/test sets use other seeds).
        sample_rate: of the dataset's audio, in Hz.
        cache_dir: default ``<tmp>/foldpitch-rooms``.

    Items:
        ``{"audio": float32 (n_samples,), "clean": float32 (n_samples,)}``.

    Raises:
        RuntimeError: pyroomacoustics is not installed (``pip install pyroomacoustics``).
    """

    _LEAD = 8  # samples kept before the direct sound (its fractional-delay filter)

    def __init__(
        self,
        dataset: Dataset,
        p_reverb: float = 0.5,
        rt60: Sequence[float] = (0.2, 1.0),
        n_rooms: int = 64,
        seed: int = 0,
        sample_rate: int = 16000,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        try:
            import pyroomacoustics  # noqa: F401
        except ImportError as error:
            raise RuntimeError(
                "Reverb needs pyroomacoustics: pip install pyroomacoustics (or foldpitch[corpus])"
            ) from error
        self.dataset = dataset
        self.p_reverb = _checks.probability("p_reverb", p_reverb)
        self.rt60 = _checks.real_range("rt60", rt60, positive=True, unit="seconds")
        self.n_rooms = _checks.positive_int("n_rooms", n_rooms)
        self.seed = _checks.non_negative_int("seed", seed)
        self.sample_rate = _checks.sample_rate("sample_rate", sample_rate)
        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "foldpitch-rooms"
        self.cache_dir = Path(cache_dir)
        key = repr((self.seed, self.rt60, self.sample_rate, self._LEAD, _SABINE_FACTOR, 2))
        self._key = hashlib.sha1(key.encode()).hexdigest()[:12]

    def __len__(self) -> int:
        return len(self.dataset)

    def room(self, r: int) -> dict:
        """Room ``r``'s draw: ``size`` (m), ``rt60`` (s, the target), ``source`` and
        ``microphone`` positions (m)."""
        rng = np.random.default_rng([self.seed, _checks.index("index", r, self.n_rooms), 6])
        size = rng.uniform([3.0, 3.0, 2.4], [12.0, 10.0, 4.5])
        rt60 = float(rng.uniform(*self.rt60))
        while True:
            source, microphone = rng.uniform(0.5, size - 0.5, (2, 3))
            if np.linalg.norm(source - microphone) >= 0.5:
                break
        return {"size": size, "rt60": rt60, "source": source, "microphone": microphone}

    def impulse_response(self, r: int) -> np.ndarray:
        """Room ``r``'s impulse response, float32, starting just before the direct sound
        (cached)."""
        path = self.cache_dir / f"room-{self._key}-{r}.npy"
        if path.exists():
            return np.load(path)
        import pyroomacoustics as pra

        room = self.room(r)
        absorption, max_order = pra.inverse_sabine(_SABINE_FACTOR * room["rt60"], room["size"])
        shoebox = pra.ShoeBox(
            room["size"],
            fs=self.sample_rate,
            materials=pra.Material(absorption),
            max_order=max_order,
        )
        shoebox.add_source(room["source"])
        shoebox.add_microphone(room["microphone"])
        shoebox.compute_rir()
        response = np.asarray(shoebox.rir[0][0], np.float64)
        # Correct the decay rate to the target RT60 (image sources in a shoebox depart
        # from Sabine's formula by a factor that depends on the room's shape).
        measured = pra.experimental.measure_rt60(response, fs=self.sample_rate)
        if np.isfinite(measured) and measured > 0:
            t = np.arange(response.size) / self.sample_rate
            response *= np.exp(-np.log(1e3) * (1 / room["rt60"] - 1 / measured) * t)
        start = max(int(np.argmax(np.abs(response))) - self._LEAD, 0)
        response = (response[start:] / np.abs(response).max()).astype(np.float32)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(partial, response)
        os.replace(partial, path)
        return response

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = _checks.index("index", index, len(self))
        item = self.dataset[index]
        heard, clean = item["audio"], item.get("clean", item["audio"])
        rng = np.random.default_rng([self.seed, index, 2])
        r = int(rng.integers(self.n_rooms))
        if rng.random() >= self.p_reverb:
            return {"audio": heard, "clean": clean}
        dry = heard.numpy().astype(np.float64)
        response = self.impulse_response(r).astype(np.float64)
        size = len(dry) + len(response) - 1
        n_fft = 1 << (size - 1).bit_length()
        wet = np.fft.irfft(np.fft.rfft(dry, n_fft) * np.fft.rfft(response, n_fft), n_fft)
        wet = wet[: len(dry)]
        dry_power, wet_power = np.mean(dry**2), np.mean(wet**2)
        if wet_power > 1e-20:
            wet *= np.sqrt(dry_power / wet_power)
        return {"audio": torch.from_numpy(wet.astype(np.float32)), "clean": clean}
