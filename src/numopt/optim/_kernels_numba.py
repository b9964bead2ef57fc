"""Fused single-pass Numba kernels for the NumPy rung of adam, lion and tiger.

Each kernel reads the parameter, gradient and moment buffers once and writes the update and
the new moments once; the generic array-API path needs about a dozen full passes.  The
``*_inplace`` variants update the moments in their own buffer: passing one array as both input
and output of the two-buffer kernels defeats LLVM's vectorizer (possible aliasing), which costs
3-20x.  The sign is computed without branches (random signs would mispredict).  The weight
decay term is skipped when ``wd == 0`` (a loop-invariant test), so that ``update`` without
``params`` (which passes the gradient in their place) cannot turn ``0 * inf`` into NaN.
The kernels are serial: an elementwise pass is memory-bound, so extra threads buy little and
would stall on a busy machine.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from probspace.typing import Array

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _direction(m_hat, denom):
    """m_hat / denom; with eps = 0 a zero denominator (v underflowed or never saw a gradient)
    gives the limit sign(m_hat), 0 for m_hat = 0, instead of 0/0 = NaN."""
    if denom > 0.0:
        return m_hat / denom
    return 0.0 if m_hat == 0.0 else math.copysign(1.0, m_hat)


@_jit
def adam_step(p, g, m, v, u, m_out, v_out, b1, b2, c1, c2, lr, eps, wd):
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m_out[i] = mi
        v_out[i] = vi
        u[i] = -lr * (_direction(mi / c1, math.sqrt(vi / c2) + eps)
                      + (wd * p[i] if wd != 0.0 else 0.0))


@_jit
def adam_step_inplace(p, g, m, v, u, b1, b2, c1, c2, lr, eps, wd):
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        u[i] = -lr * (_direction(mi / c1, math.sqrt(vi / c2) + eps)
                      + (wd * p[i] if wd != 0.0 else 0.0))


@_jit
def lion_step(p, g, m, u, m_out, b1, b2, lr, wd):
    for i in range(p.size):
        gi = g[i]
        mi = m[i]
        c = b1 * mi + (1.0 - b1) * gi
        s = np.float64(c > 0) - np.float64(c < 0)
        u[i] = -lr * (s + (wd * p[i] if wd != 0.0 else 0.0))
        m_out[i] = b2 * mi + (1.0 - b2) * gi


@_jit
def lion_step_inplace(p, g, m, u, b1, b2, lr, wd):
    for i in range(p.size):
        gi = g[i]
        mi = m[i]
        c = b1 * mi + (1.0 - b1) * gi
        s = np.float64(c > 0) - np.float64(c < 0)
        u[i] = -lr * (s + (wd * p[i] if wd != 0.0 else 0.0))
        m[i] = b2 * mi + (1.0 - b2) * gi


@_jit
def tiger_step(p, g, m, u, m_out, keep, gain, lr, wd):
    # m_t = keep * m + gain * g;  u = -lr (sign(m_t) + wd p)   (lr = 0 between accumulation ends)
    for i in range(p.size):
        mi = keep * m[i] + gain * g[i]
        m_out[i] = mi
        s = np.float64(mi > 0) - np.float64(mi < 0)
        u[i] = -lr * (s + (wd * p[i] if wd != 0.0 else 0.0))


@_jit
def tiger_step_inplace(p, g, m, u, keep, gain, lr, wd):
    for i in range(p.size):
        mi = keep * m[i] + gain * g[i]
        m[i] = mi
        s = np.float64(mi > 0) - np.float64(mi < 0)
        u[i] = -lr * (s + (wd * p[i] if wd != 0.0 else 0.0))


@_jit
def mean_square(p):
    acc = 0.0
    for i in range(p.size):
        acc += p[i] * p[i]
    return acc / max(p.size, 1)


@_jit
def has_nan(g):
    for i in range(g.size):
        if g[i] != g[i]:
            return True
    return False


def usable(*arrays: Array) -> bool:
    """True when every array is a C-contiguous NumPy float array of one dtype and one shape.

    (The update checks shapes against the parameters before this; the shape test here is a
    second line of defence, since the kernels index every buffer with the first one's size.)
    """
    a0 = arrays[0]
    dt, shape = a0.dtype, a0.shape
    return all(isinstance(a, np.ndarray) and a.dtype == dt and a.shape == shape
               and a.flags.c_contiguous and dt in (np.float32, np.float64) for a in arrays)


def flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)
