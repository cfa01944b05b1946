"""Argument checks shared by the whole package: one function per concept, one rule each.

Every check takes the argument's ``name`` and ``value``, returns the value in its
canonical type (``int``, ``float``, a tuple of floats, ...) and raises with one message
form everywhere::

    {name} must be {what}, got {value!r}

* ``TypeError`` when the value is not of an accepted type (a string where a number is
  expected, a float where an integer is, a bool where a number is: ``True`` is an
  ``int`` to Python but never a sensible rate or count). The ``repr`` tells the type
  apart where it matters: ``got '16000'`` is a string, ``got 64.0`` a float.
* ``ValueError`` when the type is right and the value is not (zero, negative, not
  finite, not whole, outside a range, not among the choices).
* ``IndexError`` for a dataset index out of range (what ``Sequence`` indexing raises).

Private to foldpitch (the leading underscore); only the standard library is imported, so
importing it costs nothing.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "flag",
    "index",
    "non_negative_int",
    "non_negative_real",
    "one_of",
    "positive_int",
    "positive_real",
    "probability",
    "real_range",
    "sample_rate",
]


def _type_error(name: str, what: str, value) -> TypeError:
    return TypeError(f"{name} must be {what}, got {value!r}")


def _value_error(name: str, what: str, value) -> ValueError:
    return ValueError(f"{name} must be {what}, got {value!r}")


def _is_real(value) -> bool:
    """A real number that is not a bool (numpy scalars count; tensors do not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def sample_rate(name: str, value) -> int:
    """A sample rate in Hz: a positive whole number, given as an int or as an integral
    float (``16000.0``, numpy scalars too); bools are refused. Returns it as an ``int``.

    Example:
        >>> sample_rate("sample_rate", 16000.0)
        16000
    """
    what = "a positive integer number of Hz"
    if not _is_real(value):
        raise _type_error(name, what, value)
    if not (math.isfinite(value) and value == int(value) and value > 0):
        raise _value_error(name, what, value)
    return int(value)


def positive_int(name: str, value, minimum: int = 1, unit: str | None = None) -> int:
    """An integer ``>= minimum`` (``int`` or numpy integer, not bool; a float, even a
    whole one, is a ``TypeError``). ``unit`` names what it counts, for the message.

    Example:
        >>> positive_int("n_fft", 64, minimum=2)
        64
    """
    what = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, "an integer")
    if unit:
        what += f" number of {unit}"
    if minimum not in (0, 1):
        what += f" >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(name, what, value)
    if value < minimum:
        raise _value_error(name, what, value)
    return int(value)


def non_negative_int(name: str, value, unit: str | None = None) -> int:
    """An integer ``>= 0`` (a seed, a count of workers); see :func:`positive_int`."""
    return positive_int(name, value, minimum=0, unit=unit)


def positive_real(name: str, value, unit: str | None = None) -> float:
    """A finite real number ``> 0`` (not bool), as a ``float``; ``unit`` for the message.

    Example:
        >>> positive_real("seconds", 2)
        2.0
    """
    return _real(name, value, unit, strict=True)


def non_negative_real(name: str, value, unit: str | None = None) -> float:
    """A finite real number ``>= 0`` (not bool), as a ``float``."""
    return _real(name, value, unit, strict=False)


def _real(name: str, value, unit: str | None, strict: bool) -> float:
    what = ("a positive" if strict else "a non-negative") + " finite number"
    if unit:
        what += f" of {unit}"
    if not _is_real(value):
        raise _type_error(name, what, value)
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise _value_error(name, what, value)
    return float(value)


def probability(name: str, value) -> float:
    """A real number in ``[0, 1]`` (not bool), as a ``float``."""
    what = "a probability in [0, 1]"
    if not _is_real(value):
        raise _type_error(name, what, value)
    if not 0 <= value <= 1:  # also refuses NaN
        raise _value_error(name, what, value)
    return float(value)


def real_range(
    name: str, value, *, positive: bool = False, unit: str | None = None
) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite real numbers with ``low <= high`` (and
    ``0 < low`` if ``positive``), as a tuple of floats.

    Example:
        >>> real_range("snr_db", [0, 40], unit="dB")
        (0.0, 40.0)
    """
    what = "a (low, high) pair of finite numbers"
    if unit:
        what += f" in {unit}"
    what += " with " + ("0 < low <= high" if positive else "low <= high")
    try:
        pair = tuple(value)
    except TypeError:
        raise _type_error(name, what, value) from None
    if len(pair) != 2 or not all(_is_real(v) for v in pair):
        raise _type_error(name, what, value)
    low, high = float(pair[0]), float(pair[1])
    if not (math.isfinite(low) and math.isfinite(high) and low <= high) or (
        positive and not low > 0
    ):
        raise _value_error(name, what, value)
    return low, high


def one_of(name: str, value, choices):
    """``value`` itself if it is one of ``choices`` (a tuple of allowed values, usually
    strings), else ``ValueError`` listing them."""
    try:
        allowed = value in choices
    except TypeError:  # an unhashable value tested against a set or a dict
        allowed = False
    if not allowed:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """``True`` or ``False`` (not ``0``/``1``, which are usually a misplaced argument)."""
    if not isinstance(value, bool):
        raise _type_error(name, "True or False", value)
    return value


def index(name: str, value, length: int) -> int:
    """An index into ``length`` items, negative ones counting from the end like a list's;
    returns it in ``[0, length)``. ``TypeError`` for a non-integer, ``IndexError`` out of
    range."""
    what = f"an integer in [-{length}, {length})"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(name, what, value)
    position = int(value) + (length if value < 0 else 0)
    if not 0 <= position < length:
        raise IndexError(f"{name} must be {what}, got {value!r}")
    return position
