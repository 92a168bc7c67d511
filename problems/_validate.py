"""Small validators shared by the problem families and by ``testbed``.

Each raises :class:`~problems.errors.UserInputError` naming the field, what is
allowed and what was given, in the style of scikit-learn's parameter checks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from problems.errors import UserInputError

__all__ = ["check_bool", "check_choice", "check_float", "check_int", "check_vector"]


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise UserInputError(f"{name}: must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise UserInputError(f"{name}: must be >= {low}, got {value}")
    if high is not None and value > high:
        raise UserInputError(f"{name}: must be <= {high}, got {value}")
    return value


def check_float(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Return ``value`` as a finite float within the stated bounds or raise naming ``name``.

    ``low_open``/``high_open`` make the bound strict (``> low`` instead of ``>= low``).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserInputError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise UserInputError(f"{name}: must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise UserInputError(f"{name}: must be {'>' if low_open else '>='} {low}, got {value:g}")
    if high is not None and (value >= high if high_open else value > high):
        raise UserInputError(f"{name}: must be {'<' if high_open else '<='} {high}, got {value:g}")
    return value


def check_choice(name: str, value: object, choices: Iterable[object]) -> object:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    choices = list(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise UserInputError(f"{name}: must be one of {allowed}, got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (numpy bools included), else raise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise UserInputError(f"{name}: must be true or false, got {value!r}")


def check_vector(name: str, x: object, dim: int) -> np.ndarray:
    """Check that ``x`` is a float64 vector of length ``dim`` and return it (no copy).

    Integer or float32 input is refused rather than silently cast: the project's
    arrays are float64 so that results are reproducible bit for bit.
    """
    if not isinstance(x, np.ndarray):
        raise UserInputError(f"{name}: must be a numpy float64 array of shape ({dim},), got {type(x).__name__}")
    if x.dtype != np.float64:
        raise UserInputError(f"{name}: must have dtype float64, got {x.dtype}")
    if x.shape != (dim,):
        raise UserInputError(f"{name}: must have shape ({dim},), got {x.shape}")
    return x
