"""Numba kernel of wasserstein_1d: linear merges of the two sorted samples per row."""
from __future__ import annotations

import numba as nb


@nb.njit(cache=True, nogil=True, fastmath=False)
def _merge(xs, cx, ys, cy, r, p, uniform, scale):
    """One merge of row ``r``: with ``scale`` 0, the largest ``|F^-1 - G^-1|`` over pieces of
    positive length; otherwise ``sum (s - prev) (d / scale)^p``."""
    n = xs.shape[1]
    m = ys.shape[1]
    i = 0
    j = 0
    prev = 0.0
    acc = 0.0
    while i < n and j < m:
        lx = (i + 1) / n if uniform else cx[r, i]
        ly = (j + 1) / m if uniform else cy[r, j]
        s = lx if lx <= ly else ly
        d = abs(xs[r, i] - ys[r, j])
        if scale == 0.0:
            if s > prev and d > acc:
                acc = d
        else:
            q = d / scale
            if p == 1.0:
                acc += (s - prev) * q
            elif p == 2.0:
                acc += (s - prev) * q * q
            else:
                acc += (s - prev) * q ** p
        prev = s
        if lx <= ly:
            i += 1
        else:
            j += 1
    return acc


@nb.njit(cache=True, nogil=True, fastmath=False)
def wpp_rows(xs, cx, ys, cy, p, uniform, out, scale):
    """``W_p = scale * out**(1/p)`` per row from sorted values and cumulative weights.

    Rows of ``xs`` (n) and ``ys`` (m) are sorted; ``cx``/``cy`` their cumulative normalized
    weights (ignored when ``uniform``: then level ``i`` is ``(i+1)/n``).  On each piece of
    ``(0, 1]`` between consecutive merged levels the quantile functions are constant.  The
    distances are divided by their largest value ``scale`` before the power, so ``|d|**p``
    neither overflows nor underflows for large ``p`` (``out`` is then in ``[0, 1]``).
    """
    for r in range(xs.shape[0]):
        s = _merge(xs, cx, ys, cy, r, p, uniform, 0.0)
        scale[r] = s
        out[r] = _merge(xs, cx, ys, cy, r, p, uniform, s) if s > 0.0 else 0.0
