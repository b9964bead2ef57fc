"""Fused single-pass Numba kernels for the NumPy rung of adam, lion and tiger.

Each kernel reads the parameter, gradient and moment buffers once and writes the update and
the new moments once; the generic array-API path needs about a dozen full passes.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_step(p, g, m, v, u, m_out, v_out, b1, b2, c1, c2, lr, eps, wd):
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m_out[i] = mi
        v_out[i] = vi
        u[i] = -lr * ((mi / c1) / (math.sqrt(vi / c2) + eps) + wd * p[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lion_step(p, g, m, u, m_out, b1, b2, lr, wd):
    for i in range(p.size):
        gi = g[i]
        c = b1 * m[i] + (1.0 - b1) * gi
        s = 1.0 if c > 0 else (-1.0 if c < 0 else 0.0)
        u[i] = -lr * (s + wd * p[i])
        m_out[i] = b2 * m[i] + (1.0 - b2) * gi


@numba.njit(cache=True, nogil=True, error_model="numpy")
def tiger_step(p, g, m, u, m_out, keep, gain, lr, wd):
    # m_t = keep * m + gain * g;  u = -lr (sign(m_t) + wd p)   (lr = 0 between accumulation ends)
    for i in range(p.size):
        mi = keep * m[i] + gain * g[i]
        m_out[i] = mi
        s = 1.0 if mi > 0 else (-1.0 if mi < 0 else 0.0)
        u[i] = -lr * (s + wd * p[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def mean_square(p):
    acc = 0.0
    for i in range(p.size):
        acc += p[i] * p[i]
    return acc / max(p.size, 1)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def has_nan(g):
    for i in range(g.size):
        if g[i] != g[i]:
            return True
    return False


def usable(*arrays):
    """True when every array is a C-contiguous NumPy float array of one dtype."""
    dt = arrays[0].dtype
    return all(isinstance(a, np.ndarray) and a.dtype == dt and a.flags.c_contiguous
               and dt in (np.float32, np.float64) for a in arrays)


def flat(a):
    return a.reshape(-1)
