"""Result checks for the contract harness: what a valid result of each family looks like."""
from __future__ import annotations

from typing import Any

import numpy as np

from probspace import to_numpy


def arr(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x))


def float_dtype_of(*xs: Any) -> np.dtype:
    """The float dtype a result computed from inputs ``xs`` should have: float32 when every
    floating input is float32 (integers promote to float64), else float64."""
    kinds = [np.asarray(x).dtype for x in xs]
    return np.dtype(np.float32) if all(k == np.float32 for k in kinds) else np.dtype(np.float64)


def finite(x: Any, what: str = "result") -> np.ndarray:
    a = arr(x)
    assert a.dtype.kind in "fiub", f"{what} has dtype {a.dtype}"
    assert np.all(np.isfinite(a)), f"{what} is not finite: {a.ravel()[:8]}"
    return a


def on_simplex(p: Any, axis: int, radius: float = 1.0, *, dtype: np.dtype | None = None,
               shape: tuple[int, ...] | None = None) -> None:
    a = finite(p)
    if shape is not None:
        assert a.shape == shape, f"result shape {a.shape}, input shape {shape}"
    if dtype is not None:
        assert a.dtype == dtype, f"result dtype {a.dtype}, expected {dtype}"
    assert np.all(a >= 0), f"negative entries: {a[a < 0][:5]}"
    if a.size:
        eps = np.finfo(a.dtype).eps
        n = a.shape[axis]
        s = np.sum(a.astype(np.float64), axis=axis)
        assert np.all(np.abs(s - radius) <= 8 * n * eps * radius), \
            f"slices sum to {s.ravel()[:5]}, not {radius}"


def shape_and_dtype(res: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    a = arr(res)
    assert a.shape == shape, f"result shape {a.shape}, expected {shape}"
    assert a.dtype == dtype, f"result dtype {a.dtype}, expected {dtype}"
    return a
