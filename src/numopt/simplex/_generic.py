"""Generic array-API rung of the simplex projection: the sort-based formula.

This is the reference the Numba (``_numba.py``) and CuPy (``_cupy.py``) rungs are tested against.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sort_projection"]


def sort_projection(xp, v, radius):
    """Held–Wolfe–Crowder / Duchi et al.: sort, cumulative sums, threshold. ``v`` rows last."""
    n = v.shape[-1]
    u = xp.sort(v, axis=-1, descending=True)
    css = xp.cumulative_sum(u, axis=-1) - radius
    k = xp.arange(1, n + 1, dtype=v.dtype)
    with np.errstate(invalid="ignore"):  # -inf - (-inf) is NaN and compares False, as wanted
        cond = (u - css / k) > 0
    rho = xp.sum(xp.astype(cond, v.dtype), axis=-1, keepdims=True)
    theta = xp.sum(xp.where(k == rho, css / k, xp.zeros_like(css)), axis=-1, keepdims=True)
    return xp.maximum(v - theta, xp.zeros_like(v))
