"""Numba kernel (NumPy rung) for the multiclass EXACT loss: per row, the Gauss-Hermite
quadrature of the one-factor integral and its gradient (see ``_exact.py``), in float64.

Per row and node the ``C`` values ``log Phi(a_j + x_k)`` are one straight loop over a
branch-free ``log Phi`` (``_numba_log_ndtr``), so it runs on SIMD lanes; the target's own entry
is computed like the others and then replaced by 0.  Their sum is a separate reduction
compiled with reassociation (so it vectorizes too; its order depends only on ``C``), and the
gradient's ``exp`` is the vectorizable ``_fastmath.exp64`` (it flushes results below 2.2e-308
to 0, where every gradient term is negligible anyway).

Rows are independent; large batches are cut into row ranges and run on ``probspace._pool``
(no spinning workers).  Results are checked against the generic array-API implementation.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._fastmath import exp64
from ._numba_log_ndtr import log_ndtr64

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_jit = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _sum(v, n):
    s = 0.0
    for j in range(n):
        s += v[j]
    return s


@_jit
def log_ndtr(x):
    """log Phi(x) to a few ulp for every x (scalar entry; see ``_numba_log_ndtr``)."""
    return log_ndtr64(x)


@_jit
def _log_ndtr_shifted(a, x, out):
    """out[j] = log Phi(a[j] + x) (vectorized)."""
    for j in range(a.shape[0]):
        out[j] = log_ndtr64(a[j] + x)


@_jit
def _grad_terms(a, x, s, w, lphi, dp):
    """dp[j] += w phi(a_j + x) prod_{i != j} Phi(a_i + x) = w exp(s + log phi - log Phi)."""
    for j in range(a.shape[0]):
        u = a[j] + x
        dp[j] += w * exp64(s - 0.5 * u * u - _LOG_SQRT_2PI - lphi[j])


@_jit
def _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i, a, lphi, dp):
    """EXACT loss of row i by Gauss-Hermite quadrature of the one-factor integral (see
    ``_exact.py``); gradient (scaled by ``scale``) from the same nodes.  ``a``, ``lphi``,
    ``dp`` are scratch rows of length ``C`` rounded up to a multiple of 8 (so the SIMD loops
    have no scalar remainder); ``a`` is 0 beyond ``C``."""
    C = z.shape[1]
    K = nodes.shape[0]
    yi = y[i]
    zy = z[i, yi]
    for j in range(dp.shape[0]):
        dp[j] = 0.0
    for j in range(C):
        a[j] = (zy - z[i, j]) / sigma
    total = 0.0
    for k in range(K):
        x = nodes[k]
        _log_ndtr_shifted(a, x, lphi)
        lphi[yi] = 0.0
        s = _sum(lphi, C)                # log prod_{j != y} Phi(a_j + x)
        total += weights[k] * (-math.expm1(s))
        if want_grad and s > -800.0:   # below, every gradient term underflows to 0
            _grad_terms(a, x, s, weights[k], lphi, dp)
    loss[i] = total
    if want_grad:
        acc = 0.0
        for j in range(C):
            if j != yi:
                g = scale * dp[j] / sigma
                grad[i, j] = g
                acc += g
        grad[i, yi] = -acc


@_jit
def exact_rows(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, r0, r1):
    """Rows [r0, r1) (run on ``probspace._pool`` for large batches)."""
    C = z.shape[1]
    cp = (C + 7) // 8 * 8
    a = np.zeros(cp)
    lphi = np.empty(cp)
    dp = np.zeros(cp)
    for i in range(r0, r1):
        _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i, a, lphi, dp)
    return 0
