"""Numba kernels (NumPy rung) for the two hot losses: softmax cross-entropy and EXACT.

Each kernel works row by row, fusing the max-shift, exponentials, sums and the gradient in one
pass over a row; results are checked against the generic array-API implementation in the tests.
Every row kernel has a serial driver (small batches, where waking threads costs more than it
saves) and a ``prange`` driver (large batches); ``pick`` chooses by the amount of work.
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
PARALLEL_MIN_WORK = 1 << 18   # elementary steps per call before threads pay off

_jit = numba.njit(cache=True, nogil=True)
_pjit = numba.njit(cache=True, nogil=True, parallel=True)


@_jit
def _ce_index_row(z, y, scale, want_grad, loss, grad, i):
    C = z.shape[1]
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


@_jit
def _ce_prob_row(z, t, scale, want_grad, loss, grad, i):
    C = z.shape[1]
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
    loss[i] = st * math.log(s) - stz      # sum(t) * lse - sum(t * (z - m))
    if want_grad:
        r = st / s
        for j in range(C):
            grad[i, j] = scale * (grad[i, j] * r - t[i, j])


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
def _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i):
    """EXACT loss of row i by Gauss-Hermite quadrature of the one-factor integral (see
    ``_exact.py``); gradient (scaled by ``scale``) from the same nodes."""
    C = z.shape[1]
    K = nodes.shape[0]
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
def _ce_index_serial(z, y, scale, want_grad, loss, grad):
    for i in range(z.shape[0]):
        _ce_index_row(z, y, scale, want_grad, loss, grad, i)


@_pjit
def _ce_index_parallel(z, y, scale, want_grad, loss, grad):
    for i in numba.prange(z.shape[0]):
        _ce_index_row(z, y, scale, want_grad, loss, grad, i)


@_jit
def _ce_prob_serial(z, t, scale, want_grad, loss, grad):
    for i in range(z.shape[0]):
        _ce_prob_row(z, t, scale, want_grad, loss, grad, i)


@_pjit
def _ce_prob_parallel(z, t, scale, want_grad, loss, grad):
    for i in numba.prange(z.shape[0]):
        _ce_prob_row(z, t, scale, want_grad, loss, grad, i)


@_jit
def _exact_serial(z, y, sigma, nodes, weights, scale, want_grad, loss, grad):
    for i in range(z.shape[0]):
        _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i)


@_pjit
def _exact_parallel(z, y, sigma, nodes, weights, scale, want_grad, loss, grad):
    for i in numba.prange(z.shape[0]):
        _exact_row(z, y, sigma, nodes, weights, scale, want_grad, loss, grad, i)


_KERNELS = {
    "softmax_ce_index": (_ce_index_serial, _ce_index_parallel),
    "softmax_ce_prob": (_ce_prob_serial, _ce_prob_parallel),
    "exact_multiclass": (_exact_serial, _exact_parallel),
}


def pick(name, work):
    """The serial or the parallel driver of kernel ``name`` for ``work`` elementary steps."""
    serial, parallel = _KERNELS[name]
    return parallel if work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1 else serial
