"""Numba kernels for SVGD and the KDE score: O(n^2 d) loops without (n, n, d) temporaries."""
from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def sqdist(x, out):
    """``out[i, j] = |x_i - x_j|^2`` for ``x`` of shape (n, d)."""
    n, d = x.shape
    for i in range(n):
        out[i, i] = 0.0
        for j in range(i + 1, n):
            s = 0.0
            for k in range(d):
                t = x[i, k] - x[j, k]
                s += t * t
            out[i, j] = s
            out[j, i] = s


@nb.njit(cache=True, nogil=True)
def svgd_phi(x, g, d2, h, out):
    """SVGD direction with RBF kernel exp(-d2/h) from precomputed squared distances."""
    n, d = x.shape
    acc = np.empty(d)
    for i in range(n):
        for k in range(d):
            acc[k] = 0.0
        ksum = 0.0
        for j in range(n):
            kij = math.exp(-d2[i, j] / h)
            ksum += kij
            for k in range(d):
                acc[k] += kij * (g[j, k] - (2.0 / h) * x[j, k])
        for k in range(d):
            out[i, k] = (acc[k] + (2.0 / h) * x[i, k] * ksum) / n


@nb.njit(cache=True, nogil=True)
def kde_score(x, sigma, out):
    """``∇ log p~`` at the particles for the Gaussian KDE of bandwidth sigma (stable softmax)."""
    n, d = x.shape
    inv = 1.0 / (2.0 * sigma * sigma)
    logits = np.empty(n)
    for i in range(n):
        mx = -np.inf
        for j in range(n):
            s = 0.0
            for k in range(d):
                t = x[i, k] - x[j, k]
                s += t * t
            logits[j] = -s * inv
            if logits[j] > mx:
                mx = logits[j]
        wsum = 0.0
        for k in range(d):
            out[i, k] = 0.0
        for j in range(n):
            w = math.exp(logits[j] - mx)
            wsum += w
            for k in range(d):
                out[i, k] += w * x[j, k]
        for k in range(d):
            out[i, k] = (out[i, k] / wsum - x[i, k]) / (sigma * sigma)
