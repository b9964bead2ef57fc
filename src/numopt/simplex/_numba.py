"""Numba rung of the simplex projection: Condat's algorithm (Math. Program. 158, 2016).

Expected linear time: one Gauss–Seidel pass over the input that keeps a running threshold,
then a short clean-up over the few candidates.

Exact at any magnitude: the threshold is carried as ``base + offset``, where ``base`` is an
input value (the element at which Condat's pass last restarted) and ``offset`` is small
(``|offset| < 2 radius``: every candidate lies within about ``2 radius`` of ``base``).  Every
difference ``y - base`` that matters is then exact (Sterbenz) or has an error ``eps *
radius``, and the output is ``(y - base) - offset``, so the result is accurate to a few ulps
of ``radius`` whether the input is of size 1 or 1e300.  (``y - tau`` with ``tau`` itself
stored would lose everything once ``|y| * eps > radius``, around 1e16 for radius 1.)  The
threshold is finally re-derived from the support with a compensated (Neumaier) sum.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _condat_core(y, radius, aux):
    """Condat's threshold for ``y`` as ``(base, offset, vstart, vend)``: the threshold is
    ``base + offset`` and ``aux[vstart:vend]`` holds (raw) the entries above it.

    -inf entries are skipped; callers guarantee an entry that is not -inf.  NaN or +inf give
    garbage (the caller's finiteness flag reports them) but never leave the bounds.
    """
    n = y.shape[0]
    first = 0
    while first < n - 1 and y[first] == -np.inf:
        first += 1
    vstart = 0        # aux[0:vstart] holds the set v-tilde, aux[vstart:vend] the set v
    vend = 1
    base = float(y[first])
    aux[0] = base
    off = -radius     # threshold rho = base + off
    for i in range(first + 1, n):
        d = float(y[i]) - base
        if d > off:
            off += (d - off) / (vend - vstart + 1)
            if off > d - radius:
                aux[vend] = y[i]
                vend += 1
            else:
                # v joins v-tilde (it already sits right before), v restarts at y_i
                vstart = vend
                aux[vend] = y[i]
                vend += 1
                base = float(y[i])
                off = -radius
    # Step 3: revisit v-tilde, moving entries above the threshold into v.
    for i in range(vstart - 1, -1, -1):
        yi = aux[i]
        d = yi - base
        if d > off:
            vstart -= 1
            aux[vstart] = yi
            off += (d - off) / (vend - vstart)
    # Step 4: drop entries of v at or below the threshold until nothing changes.
    count = vend - vstart
    changed = True
    while changed:
        changed = False
        k = vstart
        for j in range(vstart, vend):
            yj = aux[j]
            d = yj - base
            if d > off:
                aux[k] = yj
                k += 1
            else:
                count -= 1
                if count > 0:   # 0 only for NaN/+inf input (flagged by the caller)
                    off += (off - d) / count
                changed = True
        vend = k
    return base, off, vstart, vend


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _polish(aux, vstart, vend, base, radius):
    """Michelot's fixed point on the candidates, with a compensated sum: the offset
    ``(sum(y - base) - radius) / k`` over the entries above it.  Returns the offset."""
    off = 0.0
    while True:
        s = 0.0
        c = 0.0
        for j in range(vstart, vend):
            x = aux[j] - base
            t = s + x
            if abs(s) >= abs(x):
                c += (s - t) + x
            else:
                c += (x - t) + s
            s = t
        k = vend - vstart
        off = ((s + c) - radius) / k
        m = vstart
        for j in range(vstart, vend):
            if aux[j] - base > off:
                aux[m] = aux[j]
                m += 1
        if m == vend or m == vstart:
            return off
        vend = m


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _threshold(y, radius, aux):
    """(base, offset) of the threshold of ``y``."""
    base, off, vs, ve = _condat_core(y, radius, aux)
    if ve > vs:
        off = _polish(aux, vs, ve, base, radius)
    return base, off


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _project_row(row, radius, w, o):
    """Project one row into ``o``; returns 1 if the row holds a non-finite entry (NaN, +-inf).

    The finiteness flag rides along the output pass (see ``_shift_clip``).
    """
    n = row.shape[0]
    allneg = True
    for i in range(n):
        if row[i] != -np.inf:
            allneg = False
            break
    if allneg:
        return 1
    base, off = _threshold(row, radius, w)
    return _shift_clip(row, base, off, o)


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _shift_clip(row, base, off, o):
    """o = max((row - base) - off, 0); returns 1 if row holds NaN or +-inf (x - x is NaN
    exactly then).

    The integer OR keeps the loop vectorizable, so clean input pays no separate validation
    sweep.  (Kept as its own function on slices: inlined into a prange body the loop does not
    vectorize.)  Reading ``row[i]`` before writing ``o[i]`` makes ``o is row`` safe.
    """
    flag = 0
    for i in range(row.shape[0]):
        x = row[i]
        flag |= (x - x) != 0.0
        d = (x - base) - off
        o[i] = d if d > 0.0 else 0.0
    return flag


@nb.njit(cache=True, nogil=True, error_model="numpy")
def project_rows_serial(v, radius, out, aux):
    """Project every row of ``v`` into ``out``; returns the number of rows with non-finite entries."""
    bad = 0
    for r in range(v.shape[0]):
        bad += _project_row(v[r], radius, aux[0], out[r])
    return bad


@nb.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def project_rows_parallel(v, radius, out, aux, nblocks):
    """Rows in ``nblocks`` contiguous blocks (one workspace row per block), blocks spread over
    the threads.  More blocks than threads: a thread that the OS deschedules holds back only
    its block, not a fixed share of the rows."""
    nrows = v.shape[0]
    size = (nrows + nblocks - 1) // nblocks
    bad = np.zeros(nblocks, dtype=np.int64)
    for b in nb.prange(nblocks):
        lo = b * size
        hi = min(nrows, lo + size)
        acc = 0
        for r in range(lo, hi):
            acc += _project_row(v[r], radius, aux[b], out[r])
        bad[b] = acc
    return bad.sum()


@nb.njit(cache=True, nogil=True, error_model="numpy")
def validate_rows(v):
    """Classify non-finite input (slow path): 0 fine, 1 NaN, 2 +inf, 3 a row entirely -inf."""
    for r in range(v.shape[0]):
        row = v[r]
        finite = False
        for i in range(row.shape[0]):
            x = row[i]
            if x != x:
                return 1
            if x == np.inf:
                return 2
            if x != -np.inf:
                finite = True
        if not finite:
            return 3
    return 0


@nb.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def project_long_row(row, radius, o, aux, merged, nchunks):
    """One long row on several threads (after Dai & Chen's distributed projection).

    Each chunk's threshold is a lower bound of the global one (fewer entries, smaller
    threshold), so the entries above their chunk threshold -- left by Condat in the chunk's
    workspace -- contain the global support.  Condat on that small merged set gives the
    global threshold; the output pass is parallel too.  ``nchunks`` is several times the
    thread count so that a descheduled thread delays only a small chunk.  ``aux`` is one
    workspace row per chunk; ``merged`` is ``(2, n)``: the merged candidates and the workspace
    of their Condat pass (the candidates may outnumber a chunk).  Returns the non-finite flag.
    """
    n = row.shape[0]
    size = (n + nchunks - 1) // nchunks
    starts = np.zeros(nchunks, dtype=np.int64)
    stops = np.zeros(nchunks, dtype=np.int64)
    for c in nb.prange(nchunks):
        lo = c * size
        hi = min(n, lo + size)
        if hi <= lo:
            continue
        seg = row[lo:hi]
        has = False
        for i in range(seg.shape[0]):
            if seg[i] != -np.inf:
                has = True
                break
        if has:
            _, _, vs, ve = _condat_core(seg, radius, aux[c])
            starts[c] = vs
            stops[c] = ve
    m = 0
    cand = merged[0]
    for c in range(nchunks):
        for j in range(starts[c], stops[c]):
            cand[m] = aux[c, j]
            m += 1
    if m == 0:
        return 1  # every entry is -inf (or the row is empty)
    base, off = _threshold(cand[:m], radius, merged[1])
    flags = np.zeros(nchunks, dtype=np.int64)
    for c in nb.prange(nchunks):
        lo = c * size
        hi = min(n, lo + size)
        if hi > lo:
            flags[c] = _shift_clip(row[lo:hi], base, off, o[lo:hi])
    return 1 if flags.sum() > 0 else 0
