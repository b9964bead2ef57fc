"""Hypothesis strategies for adversarial inputs: extreme values, shapes, dtypes and layouts."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Reproducible and CI-sized: derandomized (the same examples every run), no deadline (Numba
#: may compile on a first call), ``PROBSPACE_ADV_EXAMPLES`` examples per test (default 40).
SETTINGS = settings(max_examples=int(os.environ.get("PROBSPACE_ADV_EXAMPLES", "40")),
                    deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

EXTREMES = (0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-300, 1.0, -1.0,
            1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308)
NONFINITE = (np.nan, np.inf, -np.inf)


def extreme_floats(*, allow_nonfinite: bool = False, width: int = 64) -> st.SearchStrategy[float]:
    """Finite floats of every magnitude, weighted towards the edges: +-0, subnormals, the
    smallest normal, 1e+-300 and the largest finite values (and NaN/+-inf on request)."""
    top = float(np.finfo(np.float32 if width == 32 else np.float64).max)
    edges = st.sampled_from([x for x in EXTREMES if abs(x) <= top and (
        width == 64 or x == 0 or abs(x) >= 1e-45)] + list(NONFINITE if allow_nonfinite else ()))
    any_float = st.floats(allow_nan=allow_nonfinite, allow_infinity=allow_nonfinite,
                          allow_subnormal=True, width=width)
    return st.one_of(edges, any_float, st.floats(-10, 10, width=width))


def shapes(*, min_dims: int = 1, max_dims: int = 3, min_side: int = 0,
           max_side: int = 6) -> st.SearchStrategy[tuple[int, ...]]:
    """Small shapes, including 0-size axes and single elements."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def float_arrays(shape: Any = None, *, dtype: Any = np.float64,
                 allow_nonfinite: bool = False) -> st.SearchStrategy[np.ndarray]:
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return hnp.arrays(dtype, shape if shape is not None else shapes(),
                      elements=extreme_floats(allow_nonfinite=allow_nonfinite, width=width))


def huge_but_cheap(shape: tuple[int, ...] = (1, 10**6)) -> np.ndarray:
    """A large array that costs no memory: a broadcast view (stride 0, read-only)."""
    return np.broadcast_to(np.float64(0.5), shape)


@st.composite
def layouts(draw: Any, a: np.ndarray) -> np.ndarray:
    """The same values in another memory layout: C, Fortran, non-contiguous (stride 2),
    negative strides, or read-only."""
    kind = draw(st.sampled_from(["c", "fortran", "strided", "reversed", "readonly"]))
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim and a.size:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "reversed" and a.ndim:
        return np.ascontiguousarray(a[::-1])[::-1]
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    return np.ascontiguousarray(a)


#: Values that are not arrays of real numbers: each must give TypeError/ValueError.
WRONG_TYPES = ("abc", b"abc", {}, {"a": 1}, object(), None, [1.0, "x"], [[1.0, 2.0], [3.0]],
               1 + 2j, np.array([1 + 1j]), np.array(["a", "b"]))
#: dtypes an array argument may arrive in.
DTYPES = (np.bool_, np.int8, np.int64, np.uint64, np.float16, np.float32, np.float64,
          np.complex64, np.complex128, object)
