"""Numba kernels for Langevin particles: the fused ULA update.

Noise is drawn with the same counter layout as ``probspace.random.Stream.normal`` (draw ``i`` of
a call at counter ``c`` comes from Philox block ``c + i // 2``), so this rung reproduces the
generic rung's numbers exactly.  Serial on purpose: per step the work is a few microseconds per
thousand particles, less than a thread-pool launch on a small shared machine.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random._numba import normal_pair, split_key


@nb.njit(cache=True, nogil=True)
def ula_update(x, g, h, sq, key, sid, start):
    """In place: ``x += h * g + sq * z`` for flat float64 ``x``, ``g``; z from the stream."""
    k0, k1 = split_key(key)
    s0, s1 = split_key(sid)
    n = x.shape[0]
    for j in range((n + 1) // 2):
        z0, z1 = normal_pair(k0, k1, s0, s1, start + np.uint64(j))
        i = 2 * j
        x[i] += h * g[i] + sq * z0
        if i + 1 < n:
            x[i + 1] += h * g[i + 1] + sq * z1


