"""Serial Philox fill for the NumPy rung.

Bit-identical to ``Stream.normal`` (element ``i`` from counter block ``start + i // 2``, slot
``i % 2``), but without a parallel region: for the per-step sizes used here a ``prange`` fill
pays a thread wake-up per call that dominates on a busy machine.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random._numba import normal_pair, split_key


@nb.njit(cache=True, nogil=True)
def fill_normal_serial(out, key, stream_id, start):
    k0, k1 = split_key(key)
    s0, s1 = split_key(stream_id)
    n = out.shape[0]
    for j in range((n + 1) // 2):
        z0, z1 = normal_pair(k0, k1, s0, s1, np.uint64(start) + np.uint64(j))
        out[2 * j] = z0
        if 2 * j + 1 < n:
            out[2 * j + 1] = z1
