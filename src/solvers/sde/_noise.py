"""Per-path Gaussian noise addressed by (path, draw) on the counter-based Philox stream.

Layout (shared by every rung and by the fused kernels): path ``p`` of a solve seeded with
stream ``S`` uses the child stream ``S.child(path_offset + p)``; the normals of step ``n``
are draws ``n*k .. n*k+k-1`` of that child (``k`` numbers per step), i.e. draw ``i`` comes
from counter block ``i // 2``, slot ``i % 2``, exactly as ``Stream.normal`` lays them out.
So ``stream.child(p).normal((n_steps, k))[n]`` are the normals of step ``n`` of path ``p``.

Nothing here depends on how paths are grouped into batches, chunks or workers.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random import _generic as G
from probspace.random import _constants as C
from probspace.random._numba import normal_pairs_lanes, split_key

_MASK = C.MASK32
_MASK64 = np.uint64(C.MASK32)


def path_ids(stream, first, n):
    """uint64 stream ids of the per-path child streams ``first .. first+n-1`` (NumPy)."""
    return np.asarray(stream.child_ids(int(first), int(n)), dtype=np.uint64)


def pairs_at(xp, key, sids, counters):
    """Normal pairs ``(z0, z1)`` at Philox counter ``counters`` of streams ``sids`` (broadcast).

    ``sids`` and ``counters`` are uint64 arrays of namespace ``xp``; the result equals
    ``normal_pair`` of the Numba rung bit for bit (same operations as ``_generic``).
    """
    c0 = counters & _MASK
    c1 = counters >> 32
    c2 = sids & _MASK
    c3 = sids >> 32
    k0 = xp.asarray(key & _MASK, dtype=xp.uint64)
    k1 = xp.asarray(key >> 32, dtype=xp.uint64)
    # broadcast all four words to one shape before Philox mixes them
    shape = np.broadcast_shapes(tuple(c0.shape), tuple(c2.shape))
    c0, c1 = xp.broadcast_to(c0, shape), xp.broadcast_to(c1, shape)
    c2, c3 = xp.broadcast_to(c2, shape), xp.broadcast_to(c3, shape)
    w0, w1, w2, w3 = G.philox4x32(xp, c0, c1, c2, c3, k0, k1)
    n = G._u53(w0, w1) + 1
    rad = xp.sqrt(-2.0 * G.log_of_int53(xp, n))
    v = xp.astype(G._u53(w2, w3), xp.float64) * C.TWO_M53
    s, c = G.sincos_2pi(xp, v)
    return rad * c, rad * s


def normals_generic(xp, key, sids_np, first_draw, count, device=None):
    """``(P, count)`` float64 normals: draws ``first_draw ..`` of each path stream (generic rung)."""
    q0 = first_draw // 2
    q1 = (first_draw + count - 1) // 2
    nq = q1 - q0 + 1
    sids = xp.asarray(np.asarray(sids_np, dtype=np.uint64)[:, None], device=device)
    counters = xp.arange(nq, dtype=xp.uint64, device=device)[None, :] + q0
    z0, z1 = pairs_at(xp, key, sids, counters)
    z = xp.reshape(xp.stack([z0, z1], axis=2), (z0.shape[0], 2 * nq))
    off = first_draw - 2 * q0
    return z[:, off:off + count]


_LANES = 64


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _fill_paths(out, key, sids, first_draw, lo, hi, scale):
    """Columns ``lo .. hi-1`` of ``out`` (count, P): row ``j`` holds draw ``first_draw + j`` of
    each path's stream (step-major, so one step's normals are contiguous).

    Lane-vectorized across paths: for each counter block the normal pairs of ``_LANES`` paths
    come from ``normal_pairs_lanes`` (bit-identical to ``normal_pair``) in one pass.  Row
    ``j`` is multiplied by ``scale[j]`` (the same product the caller would form after)."""
    k0, k1 = split_key(key)
    count = out.shape[0]
    q0 = np.uint64(first_draw) >> np.uint64(1)
    q1 = (np.uint64(first_draw + count - 1) >> np.uint64(1)) + np.uint64(1)
    S0 = np.empty(_LANES, dtype=np.uint64)
    S1 = np.empty(_LANES, dtype=np.uint64)
    C0 = np.empty(_LANES, dtype=np.uint64)
    C1 = np.empty(_LANES, dtype=np.uint64)
    Z0 = np.empty(_LANES)
    Z1 = np.empty(_LANES)
    W = np.empty((4, _LANES), dtype=np.uint64)
    NF = np.empty(_LANES)
    MB = np.empty(_LANES, dtype=np.uint64)
    for b0 in range(lo, hi, _LANES):
        nl = min(_LANES, hi - b0)
        for l in range(_LANES):
            s0, s1 = split_key(sids[b0 + min(l, nl - 1)])
            S0[l] = s0
            S1[l] = s1
        for q in range(q0, q1):
            for l in range(_LANES):
                C0[l] = q & _MASK64
                C1[l] = q >> np.uint64(32)
            normal_pairs_lanes(k0, k1, C0, C1, S0, S1, Z0, Z1, W, NF, MB)
            j0 = np.int64(2 * q) - first_draw
            if 0 <= j0 < count:
                c = scale[j0]
                for l in range(nl):
                    out[j0, b0 + l] = c * Z0[l]
            if 0 <= j0 + 1 < count:
                c = scale[j0 + 1]
                for l in range(nl):
                    out[j0 + 1, b0 + l] = c * Z1[l]
    return 0


def normals_numpy(key, sids, first_draw, count, out=None, scale=None):
    """``(count, P)`` normals (draw-major) computed by the Numba rung (the numbers of
    ``normals_generic``, transposed; row ``j`` times ``scale[j]`` when given), path ranges on
    the shared non-spinning pool (``probspace._pool``) when that pays."""
    from probspace._pool import run
    sids = np.asarray(sids, dtype=np.uint64)
    P = sids.shape[0]
    if out is None:
        out = np.empty((count, P), dtype=np.float64)
    if P == 0 or count == 0:
        return out
    k = np.uint64(key)
    fd = np.int64(first_draw)
    sc = np.ones(count) if scale is None else np.ascontiguousarray(scale, dtype=np.float64)
    run(lambda lo, hi: _fill_paths(out, k, sids, fd, lo, hi, sc), P, float(count),
        "solvers.sde.noise", align=_LANES)
    return out
