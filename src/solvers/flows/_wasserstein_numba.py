"""Numba kernel of wasserstein_1d: one linear merge of the two sorted samples per row."""
from __future__ import annotations

import numba as nb


@nb.njit(cache=True, nogil=True, fastmath=False)
def wpp_rows(xs, cx, ys, cy, p, uniform, out):
    """``W_p^p`` per row from sorted values and cumulative weights (two-pointer merge).

    Rows of ``xs`` (n) and ``ys`` (m) are sorted; ``cx``/``cy`` their cumulative normalized
    weights (ignored when ``uniform``: then level ``i`` is ``(i+1)/n``).  On each piece of
    ``(0, 1]`` between consecutive merged levels the quantile functions are constant.
    """
    rows, n = xs.shape
    m = ys.shape[1]
    for r in range(rows):
        i = 0
        j = 0
        prev = 0.0
        acc = 0.0
        while i < n and j < m:
            lx = (i + 1) / n if uniform else cx[r, i]
            ly = (j + 1) / m if uniform else cy[r, j]
            s = lx if lx <= ly else ly
            d = abs(xs[r, i] - ys[r, j])
            if p == 1.0:
                acc += (s - prev) * d
            elif p == 2.0:
                acc += (s - prev) * d * d
            else:
                acc += (s - prev) * d ** p
            prev = s
            if lx <= ly:
                i += 1
            else:
                j += 1
        out[r] = acc
