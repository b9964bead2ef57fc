"""The fused SDE kernels' noise: one Philox/Box-Muller normal pair for each of a block of paths.

A thin adapter over ``probspace.random._numba.normal_pairs_lanes_inline`` (the lane-vectorized form of
``normal_pair``): here every lane is a path (its own stream id) at the same counter.  The
numbers are exactly ``normal_pair(k0, k1, S0[l], S1[l], idx)``.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random._numba import normal_pairs_lanes_inline

_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@nb.njit(nogil=True)
def alloc_block(B):
    """Work buffers for ``normal_pairs_block``: W = (Philox words (4, B), counter words (2, B))."""
    W = (np.empty((4, B), dtype=np.uint64), np.empty((2, B), dtype=np.uint64))
    NF = np.empty(B, dtype=np.float64)
    MB = np.empty(B, dtype=np.uint64)
    return W, NF, MB


@nb.njit(nogil=True, error_model="numpy")
def normal_pairs_block(k0, k1, S0, S1, idx, Z0, Z1, W, NF, MB):
    """Z0[l], Z1[l] = normal_pair(k0, k1, S0[l], S1[l], idx) for every lane l."""
    i = np.uint64(idx)
    words, ctr = W
    C0 = ctr[0]
    C1 = ctr[1]
    for l in range(S0.shape[0]):
        C0[l] = i & _MASK
        C1[l] = i >> _S32
    normal_pairs_lanes_inline(np.uint64(k0), np.uint64(k1), C0, C1, S0, S1, Z0, Z1, words, NF, MB)
