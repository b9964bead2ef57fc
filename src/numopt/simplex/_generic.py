"""Generic array-API rung of the simplex projection: the sort-based formula.

This is the reference the Numba (``_numba.py``) and CuPy (``_cupy.py``) rungs are tested against.
"""
from __future__ import annotations

import numpy as np

from probspace.typing import Array, Namespace

__all__ = ["sort_projection"]


def sort_projection(xp: Namespace, v: Array, radius: float) -> Array:
    """Held–Wolfe–Crowder / Duchi et al.: sort, cumulative sums, threshold. ``v`` rows last.

    Computed on ``d = v - max(v)``: the entries that can be in the support lie within
    ``radius`` of the maximum, so their ``d`` is exact (Sterbenz) or off by ``eps * radius``,
    and the output ``max(d - theta, 0)`` is accurate to a few ulps of ``radius`` at any
    magnitude of ``v`` (``v - theta`` loses everything once ``|v| eps > radius``).  Entries
    with ``d <= -radius`` are never in the support; clamping them to ``-1.5 radius`` keeps the
    cumulative sums finite (``-inf`` entries, differences that overflow) without changing the
    support or the threshold.
    """
    n = v.shape[-1]
    m = xp.max(v, axis=-1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        d = v - m
    floor = -1.5 * radius
    w = xp.maximum(d, xp.full_like(d, floor))
    u = xp.sort(w, axis=-1, descending=True)
    css = xp.cumulative_sum(u, axis=-1) - radius
    k = xp.arange(1, n + 1, dtype=v.dtype)
    cond = (u - css / k) > 0
    rho = xp.sum(xp.astype(cond, v.dtype), axis=-1, keepdims=True)
    theta = xp.sum(xp.where(k == rho, css / k, xp.zeros_like(css)), axis=-1, keepdims=True)
    return xp.maximum(d - theta, xp.zeros_like(d))
