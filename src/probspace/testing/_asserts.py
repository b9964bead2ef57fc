"""Closeness checks that also check the array namespace, dtype and shape."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._array import array_namespace, to_numpy

__all__ = ["xp_assert_close", "xp_assert_equal"]


def _check_meta(actual: Any, desired: Any, xp: Any, check_namespace: bool, check_dtype: bool,
                check_shape: bool) -> None:
    if check_namespace and xp is not None:
        got = array_namespace(actual)
        want = array_namespace(xp.empty(0)) if hasattr(xp, "empty") else xp
        if got.__name__ != want.__name__:
            raise AssertionError(f"namespace mismatch: got {got.__name__}, expected {want.__name__}")
    if check_dtype and hasattr(desired, "dtype") and hasattr(actual, "dtype"):
        if str(actual.dtype) != str(desired.dtype):
            raise AssertionError(f"dtype mismatch: got {actual.dtype}, expected {desired.dtype}")
    if check_shape and hasattr(desired, "shape") and hasattr(actual, "shape"):
        if tuple(actual.shape) != tuple(desired.shape):
            raise AssertionError(f"shape mismatch: got {actual.shape}, expected {desired.shape}")


def xp_assert_close(actual: Any, desired: Any, *, rtol: float | None = None, atol: float = 0.0,
                    xp: Any = None, check_namespace: bool = True, check_dtype: bool = True,
                    check_shape: bool = True, err_msg: str = "") -> None:
    """Assert ``actual`` is close to ``desired`` and lives in namespace ``xp`` with the same dtype.

    ``desired`` may be a NumPy array or any array; ``xp`` defaults to the namespace of
    ``desired``.  ``rtol`` defaults to ``4 * eps`` of the dtype's precision ** 0.5-ish
    (1e-7 for float64, 1e-3 for float32), like scipy's helpers.

    Raises
    ------
    AssertionError
        On a namespace, dtype or shape mismatch, or when the values differ by more than
        ``atol + rtol * |desired|`` (NaNs compare equal to NaNs).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from probspace.testing import xp_assert_close
    >>> xp_assert_close(xp.asarray([1.0, 2.0]) + 1e-12, xp.asarray([1.0, 2.0]))
    >>> xp_assert_close(xp.asarray([1.0], dtype=xp.float32), xp.asarray([1.0]))
    Traceback (most recent call last):
    ...
    AssertionError: dtype mismatch: got array_api_strict.float32, expected array_api_strict.float64
    """
    if xp is None and hasattr(desired, "__array_namespace__"):
        xp = array_namespace(desired)
    if not hasattr(desired, "dtype") and hasattr(actual, "dtype"):
        check_dtype = False
    _check_meta(actual, desired, xp, check_namespace, check_dtype, check_shape)
    a = to_numpy(actual)
    d = to_numpy(desired) if hasattr(desired, "shape") else np.asarray(desired)
    if rtol is None:
        rtol = 1e-3 if a.dtype == np.float32 else 1e-7
    np.testing.assert_allclose(a, d, rtol=rtol, atol=atol, err_msg=err_msg)


def xp_assert_equal(actual: Any, desired: Any, *, xp: Any = None, check_namespace: bool = True,
                    check_dtype: bool = True, check_shape: bool = True, err_msg: str = "") -> None:
    """Exact equality (bit-for-bit for floats, NaNs equal) with the namespace/dtype checks."""
    if xp is None and hasattr(desired, "__array_namespace__"):
        xp = array_namespace(desired)
    _check_meta(actual, desired, xp, check_namespace, check_dtype, check_shape)
    np.testing.assert_array_equal(to_numpy(actual), to_numpy(desired) if hasattr(desired, "shape")
                                  else np.asarray(desired), err_msg=err_msg)
