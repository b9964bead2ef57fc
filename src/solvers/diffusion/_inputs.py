"""Conversion of array arguments to NumPy float64 / int64 with errors that name the argument.

``np.asarray(x, dtype=np.float64)`` would drop the imaginary part of complex input (a
warning, not an error), truncate fractional time indices and report strings or dicts without
saying which argument they came from; these helpers refuse all of that at the boundary.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from probspace import to_numpy


def _numpy(x: Any, name: str) -> np.ndarray:
    if x is None or isinstance(x, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    try:
        a = np.asarray(to_numpy(x))
    except (TypeError, ValueError) as e:   # ragged nested sequences, foreign objects
        raise TypeError(f"{name} must be a numeric array: {e}") from None
    if a.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {a.dtype}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a


def as_float64(x: Any, name: str) -> np.ndarray:
    """``x`` as a NumPy float64 array (bool, integer and float input; NaN/inf left to the
    caller's own checks)."""
    return _numpy(x, name).astype(np.float64, copy=False)


def as_int64(x: Any, name: str) -> np.ndarray:
    """Integer time indices as int64: integer input, or floats holding integers (a
    fractional or non-finite value is refused, never truncated)."""
    a = _numpy(x, name)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise TypeError(f"{name} must contain integers, got {a.ravel()[:4]}")
        if a.size and np.max(np.abs(a)) >= 2.0**62:
            raise ValueError(f"{name} has entries too large for a time index")
    elif a.dtype.kind == "b":
        raise TypeError(f"{name} must contain integers, got booleans")
    elif a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has entries too large for a time index")
    return a.astype(np.int64)
