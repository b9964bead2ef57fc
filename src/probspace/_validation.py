"""Small argument checks that give errors naming the argument."""
from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

__all__ = ["check_positive", "check_nonnegative", "check_int", "check_choice", "check_probability"]


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return value


def check_positive(value: Any, name: str, *, allow_inf: bool = False) -> float:
    v = _real(value, name)
    if not v > 0 or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def check_nonnegative(value: Any, name: str) -> float:
    v = _real(value, name)
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return v


def check_probability(value: Any, name: str, *, open_left: bool = False, open_right: bool = False) -> float:
    v = _real(value, name)
    lo_ok = v > 0 if open_left else v >= 0
    hi_ok = v < 1 if open_right else v <= 1
    if not (lo_ok and hi_ok):
        raise ValueError(f"{name} must lie in {'(' if open_left else '['}0, 1{')' if open_right else ']'}, got {value!r}")
    return v


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Collection[Any]) -> Any:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value
