"""The public edges' conventions: audio in, frame spacing.

:func:`as_float_tensor` is the one conversion of audio behind :func:`foldpitch.predict`
and :func:`foldpitch.fit` (numpy or torch, float or integer PCM); each entry point then
checks the shape it needs. :func:`check_hop` is the one rule for ``hop``, the frame
spacing in seconds.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

__all__ = ["PCM_SCALE", "as_float_tensor", "check_hop"]

PCM_SCALE = {torch.int16: 32768.0, torch.int32: 2147483648.0}
"""Integer PCM is divided by these (``2 ** 15``, ``2 ** 31``): full scale is ``[-1, 1)``."""

_FLOAT_DTYPES = "float16, bfloat16 (torch), float32, float64"


def as_float_tensor(audio, name: str = "audio") -> Tensor:
    """``audio`` as a floating-point tensor, without copying what need not be copied.

    * a torch tensor stays on its device, detached; float16, bfloat16, float32 and
      float64 keep their dtype;
    * a numpy array becomes a CPU tensor (sharing its memory where the dtype allows);
      float16, float32 and float64 keep their dtype;
    * int16 and int32 PCM, numpy or torch, become float32 divided by ``2 ** 15`` or
      ``2 ** 31`` (:data:`PCM_SCALE`), so full scale is ``[-1, 1)``.

    The result may share memory with ``audio``: copy it before writing into it.

    Args:
        audio: a numpy array or torch tensor of any shape.
        name: the argument's name in the errors.

    Raises:
        TypeError: neither an array nor a tensor, or a dtype other than the above
            (int8, uint8, int64, bool, complex, ...).

    Example:
        >>> as_float_tensor(np.array([-32768, 0, 16384], dtype=np.int16))
        tensor([-1.0000,  0.0000,  0.5000])
    """
    if isinstance(audio, np.ndarray):
        if audio.dtype.kind not in "fi" or (audio.dtype.kind == "f" and audio.itemsize > 8):
            raise TypeError(_dtype_error(name, f"a numpy array of dtype {audio.dtype}"))
        if (
            not (audio.flags.writeable and audio.dtype.isnative)
            or min(audio.strides, default=0) < 0
        ):
            # torch.from_numpy refuses (or warns about) these: a native, positive-stride copy.
            audio = np.array(audio, dtype=audio.dtype.newbyteorder("="))
        audio = torch.from_numpy(audio)
    elif not isinstance(audio, Tensor):
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(audio).__name__}"
        )
    audio = audio.detach()
    if audio.dtype in PCM_SCALE:
        # int16 is exact in float32; int32 rounds once, as float64 then float32 would.
        return audio.to(torch.float32) / PCM_SCALE[audio.dtype]
    if not audio.is_floating_point():
        raise TypeError(_dtype_error(name, f"dtype {audio.dtype}"))
    return audio


def _dtype_error(name: str, got: str) -> str:
    return f"{name} must be floating point ({_FLOAT_DTYPES}) or int16/int32 PCM, got {got}"


MAX_HOP_DENOMINATOR = 10**6
"""``hop`` is read as the nearest fraction with at most this denominator: 0.01 is 1/100."""


def check_hop(hop, sample_rate: int) -> Fraction:
    """``hop`` (seconds between frames) checked: a finite number, at least one sample.

    Returns it as an exact fraction (``0.01`` gives ``1/100``), so that frame times and
    positions on another grid can be computed without rounding.

    Raises:
        TypeError: not a real number.
        ValueError: not finite, or under one sample (``1 / sample_rate`` seconds).

    Example:
        >>> check_hop(0.01, 16000)
        Fraction(1, 100)
    """
    if isinstance(hop, bool) or not isinstance(hop, numbers.Real):
        raise TypeError(f"hop must be a number of seconds between frames, got {hop!r}")
    if not (math.isfinite(hop) and hop * sample_rate >= 1):
        raise ValueError(
            f"hop must be at least one sample (in seconds: 1 / sample_rate = "
            f"{1 / sample_rate:.3g} s or more), got {hop!r}"
        )
    return Fraction(hop).limit_denominator(MAX_HOP_DENOMINATOR)
