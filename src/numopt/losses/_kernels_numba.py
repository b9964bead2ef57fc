"""Numba kernels (NumPy rung) for the two hot losses: softmax cross-entropy and EXACT.

Each kernel works row by row (``prange`` over samples), fusing the max-shift, exponentials,
sums and the gradient in one pass over a row; results are checked against the generic
array-API implementation in the tests.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI = 0.5 * math.log(math.pi)
_LOG2 = math.log(2.0)


@numba.njit(cache=True, nogil=True, parallel=True)
def softmax_ce_index(z, y, scale, want_grad, loss, grad):
    """Per-row CE for integer targets; grad (if wanted) scaled by ``scale``."""
    n, C = z.shape
    for i in numba.prange(n):
        m = z[i, 0]
        for j in range(1, C):
            if z[i, j] > m:
                m = z[i, j]
        s = 0.0
        if want_grad:
            for j in range(C):
                e = math.exp(z[i, j] - m)
                grad[i, j] = e
                s += e
        else:
            for j in range(C):
                s += math.exp(z[i, j] - m)
        loss[i] = math.log(s) - (z[i, y[i]] - m)
        if want_grad:
            r = scale / s
            for j in range(C):
                grad[i, j] *= r
            grad[i, y[i]] -= scale


@numba.njit(cache=True, nogil=True, parallel=True)
def softmax_ce_prob(z, t, scale, want_grad, loss, grad):
    """Per-row CE for probability targets: sum(t) * lse - sum(t * (z - m))."""
    n, C = z.shape
    for i in numba.prange(n):
        m = z[i, 0]
        for j in range(1, C):
            if z[i, j] > m:
                m = z[i, j]
        s = 0.0
        st = 0.0
        stz = 0.0
        for j in range(C):
            e = math.exp(z[i, j] - m)
            if want_grad:
                grad[i, j] = e
            s += e
            st += t[i, j]
            stz += t[i, j] * (z[i, j] - m)
        loss[i] = st * math.log(s) - stz
        if want_grad:
            r = st / s
            for j in range(C):
                grad[i, j] = scale * (grad[i, j] * r - t[i, j])


@numba.njit(cache=True, nogil=True, inline="always")
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


@numba.njit(cache=True, nogil=True, parallel=True)
def exact_multiclass(z, y, sigma, nodes, weights, scale, want_grad, loss, grad):
    """EXACT loss per row by Gauss-Hermite quadrature of the one-factor integral (see
    ``_exact.py``); gradient (scaled by ``scale``) from the same nodes."""
    n, C = z.shape
    K = nodes.shape[0]
    for i in numba.prange(n):
        yi = y[i]
        zy = z[i, yi]
        a = np.empty(C)
        lphi = np.empty(C)
        dp = np.zeros(C)
        for j in range(C):
            a[j] = (zy - z[i, j]) / sigma
        total = 0.0
        for k in range(K):
            x = nodes[k]
            s = 0.0
            for j in range(C):
                if j != yi:
                    lp = log_ndtr(a[j] + x)
                    lphi[j] = lp
                    s += lp
            total += weights[k] * (-math.expm1(s))
            if want_grad:
                for j in range(C):
                    if j != yi:
                        u = a[j] + x
                        dp[j] += weights[k] * math.exp(s - 0.5 * u * u - _LOG_SQRT_2PI - lphi[j])
        loss[i] = total
        if want_grad:
            acc = 0.0
            for j in range(C):
                if j != yi:
                    g = scale * dp[j] / sigma
                    grad[i, j] = g
                    acc += g
            grad[i, yi] = -acc
