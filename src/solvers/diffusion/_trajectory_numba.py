"""Numba kernels of the trajectory dynamic program."""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def cost_matrix_t(log_ab, ms, bb, n1):
    """FT[t, s] = log(1 - beta_{t|s} ms[t] / beta_bar[t]) for 1 <= s < t <= n1 (row t contiguous in s)."""
    FT = np.full((n1 + 1, n1 + 1), np.inf)
    for t in range(2, n1 + 1):
        c = ms[t] / bb[t]
        for s in range(1, t):
            FT[t, s] = np.log1p(np.expm1(log_ab[t] - log_ab[s]) * c)   # 1 - beta_{t|s} c, beta = -expm1
    return FT


@nb.njit(cache=True, nogil=True)
def dp(FT, start, n1, k1):
    """Least-cost path start = tau_1 < ... < tau_{k1} = n1 with edge costs FT[t, s]; returns (path, cost)."""
    inf = np.inf
    prev = np.full(n1 + 1, inf)
    prev[start] = 0.0
    arg = np.full((k1 + 1, n1 + 1), -1, dtype=np.int64)
    cur = np.full(n1 + 1, inf)
    for k in range(2, k1 + 1):
        # a k-node path ends at n >= start + k - 1, and must leave room for the k1 - k remaining nodes
        lo = start + k - 1
        hi = n1 - (k1 - k)
        for n in range(0, n1 + 1):
            cur[n] = inf
        # serial on purpose: a prange over n needs a barrier per layer, which costs more than the
        # work on a busy 2-core machine
        for n in range(lo, hi + 1):
            best = inf
            bi = -1
            row = FT[n]
            for s in range(start + k - 2, n):
                v = prev[s] + row[s]
                if v < best:
                    best = v
                    bi = s
            cur[n] = best
            arg[k, n] = bi
        for n in range(0, n1 + 1):
            prev[n] = cur[n]
    path = np.empty(k1, dtype=np.int64)
    n = n1
    for k in range(k1, 0, -1):
        path[k - 1] = n
        if k > 1:
            n = arg[k, n]
    return path, prev[n1]
