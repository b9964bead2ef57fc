"""Numba kernels of the trajectory dynamic program (NumPy rung).

The step costs are a matrix ``F[s, t]`` with row ``s`` contiguous in ``t``.  Rows of the cost
matrix are independent, so ``cost_rows`` fills a range of (pairs of) them and ``_trajectory``
runs it on ``probspace._pool`` (non-spinning threads, only when its ThreadGate says they pay;
every entry is computed by the same scalar code whatever the split).

The DP relaxes one layer (node count ``k``) at a time.  Its inner loop runs over the end
points ``n`` for a fixed predecessor ``s`` -- ``cur[n] = min(cur[n], prev[s] + F[s, n])`` with
selects, no loop-carried dependence -- so it runs on SIMD lanes, and taking ``s`` in increasing
order with a strict ``<`` keeps the smallest minimizing predecessor: the same path and cost
bit for bit as the straightforward scan over ``s`` for each ``n``.  It is serial on purpose: a
threaded layer needs a barrier per layer, and a layer at N = 1000 is ~50 us of work, below
what a thread hand-off costs on a busy machine.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def _cost_row(F, log_ab, ms, bb, n1, s):
    las = log_ab[s]
    for t in range(s + 1, n1 + 1):
        F[s, t] = np.log1p(np.expm1(log_ab[t] - las) * (ms[t] / bb[t]))


@nb.njit(cache=True, nogil=True)
def cost_rows(F, log_ab, ms, bb, n1, i0, i1):
    """F[s, t] = log(1 - beta_{t|s} ms[t] / beta_bar[t]) for 1 <= s < t <= n1, where
    ``beta_{t|s} = -expm1(log_ab[t] - log_ab[s])``, for the rows of items ``i0 .. i1 - 1``:
    item i is rows i and n1 - i (a long and a short row: every item is about n1 entries of
    work, so equal item ranges balance threads).  There are ``n1 // 2 + 1`` items; other
    entries of F are not written."""
    for i in range(i0, i1):
        if i >= 1:
            _cost_row(F, log_ab, ms, bb, n1, i)
        if n1 - i != i and n1 - i >= 1:
            _cost_row(F, log_ab, ms, bb, n1, n1 - i)
    return 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _relax(p, s, row, cur, arg):
    """cur[j], arg[j] = p + row[j], s where that is smaller (a straight loop over slices: it
    vectorizes, which it did not inlined into the layer loop)."""
    for j in range(row.shape[0]):
        v = p + row[j]
        c = cur[j]
        better = v < c
        cur[j] = v if better else c
        arg[j] = s if better else arg[j]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def dp(F, start, n1, k1):
    """Least-cost path start = tau_1 < ... < tau_{k1} = n1 with step costs F[s, n] (read only
    for start <= s < n <= n1); returns (path, cost)."""
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
        ak = arg[k]
        for s in range(start + k - 2, hi):
            p = prev[s]
            if p == inf:               # p + F[s, n] would never be < cur[n]
                continue
            n0 = max(s + 1, lo)
            _relax(p, s, F[s, n0:hi + 1], cur[n0:hi + 1], ak[n0:hi + 1])
        for n in range(0, n1 + 1):
            prev[n] = cur[n]
    path = np.empty(k1, dtype=np.int64)
    n = n1
    for k in range(k1, 0, -1):
        path[k - 1] = n
        if k > 1:
            n = arg[k, n]
    return path, prev[n1]
