"""Numba kernel (NumPy rung) for the multiclass EXACT loss: per row, the Gauss-Hermite
quadrature of the one-factor integral and its gradient (see ``_exact.py``), in float64.

Rows are independent; large batches are cut into row ranges and run on ``_threads``' pool
(no spinning workers).  Results are checked against the generic array-API implementation.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI = 0.5 * math.log(math.pi)
_LOG2 = math.log(2.0)
_SATURATE = 38.5
_jit = numba.njit(cache=True, nogil=True)


@_jit
def log_ndtr(x):
    """log Phi(x) to double precision for every finite x."""
    if x >= 0.0:
        return math.log1p(-0.5 * math.erfc(x * _INV_SQRT2))
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x * _INV_SQRT2))
    v = -x * _INV_SQRT2          # >= 14.1: Laplace's continued fraction for erfcx converges fast
    f = v
    for k in range(40, 0, -1):
        f = v + 0.5 * k / f
    return -math.log(f) - _HALF_LOG_PI - v * v - _LOG2


@_jit
def _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i, a, lphi, dp):
    """EXACT loss of row i by Gauss-Hermite quadrature of the one-factor integral (see
    ``_exact.py``); gradient (scaled by ``scale``) from the same nodes.  ``a``, ``lphi``,
    ``dp`` are scratch rows (C,)."""
    C = z.shape[1]
    K = nodes.shape[0]
    yi = y[i]
    zy = z[i, yi]
    for j in range(C):
        dp[j] = 0.0
    for j in range(C):
        a[j] = (zy - z[i, j]) / sigma
    total = 0.0
    for k in range(K):
        x = nodes[k]
        s = 0.0
        for j in range(C):
            if j != yi:
                u = a[j] + x
                # Phi(u) = 1 - O(1e-316) beyond 38: log Phi(u) and phi(u) are 0 in double.
                lp = log_ndtr(u) if u < _SATURATE else 0.0
                lphi[j] = lp
                s += lp
        total += weights[k] * (-math.expm1(s))
        if want_grad and s > -800.0:   # below, every gradient term underflows to 0
            for j in range(C):
                if j != yi:
                    u = a[j] + x
                    if u < _SATURATE:
                        dp[j] += weights[k] * math.exp(s - 0.5 * u * u - _LOG_SQRT_2PI
                                                       - lphi[j])
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
    """Rows [r0, r1) (run on ``_threads``' pool for large batches)."""
    C = z.shape[1]
    a = np.empty(C)
    lphi = np.empty(C)
    dp = np.empty(C)
    for i in range(r0, r1):
        _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i, a, lphi, dp)
    return 0
