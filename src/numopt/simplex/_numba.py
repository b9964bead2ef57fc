"""Numba rung of the simplex projection: Condat's algorithm (Math. Program. 158, 2016).

Expected linear time: one Gauss–Seidel pass over the input that keeps a running threshold,
then a short clean-up over the few candidates.  Rows are independent and run in parallel.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _condat_core(y, radius, aux):
    """Condat's threshold for ``y``; returns (tau, vstart, vend) with aux[vstart:vend] = {y > tau}.

    -inf entries are allowed (skipped); callers guarantee a finite entry.
    """
    n = y.shape[0]
    first = 0
    while first < n and y[first] == -np.inf:
        first += 1
    # y[first] exists: callers guarantee a finite entry.
    vstart = 0        # aux[0:vstart] holds the set v-tilde, aux[vstart:vend] the set v
    vend = 1
    aux[0] = y[first]
    rho = float(y[first]) - radius
    for i in range(first + 1, n):
        yi = float(y[i])
        if yi > rho:
            rho += (yi - rho) / (vend - vstart + 1)
            if rho > yi - radius:
                aux[vend] = yi
                vend += 1
            else:
                # v joins v-tilde (it already sits right before), v restarts at y_i
                vstart = vend
                aux[vend] = yi
                vend += 1
                rho = yi - radius
    # Step 3: revisit v-tilde, moving entries above the threshold into v.
    for i in range(vstart - 1, -1, -1):
        yi = aux[i]
        if yi > rho:
            vstart -= 1
            aux[vstart] = yi
            rho += (yi - rho) / (vend - vstart)
    # Step 4: drop entries of v at or below the threshold until nothing changes.
    count = vend - vstart
    changed = True
    while changed:
        changed = False
        k = vstart
        for j in range(vstart, vend):
            yj = aux[j]
            if yj > rho:
                aux[k] = yj
                k += 1
            else:
                count -= 1
                rho += (rho - yj) / count
                changed = True
        vend = k
    return rho, vstart, vend


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _condat_threshold(y, radius, aux):
    """The threshold tau with sum(max(y - tau, 0)) == radius."""
    return _condat_core(y, radius, aux)[0]


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
    tau = _condat_threshold(row, radius, w)
    return _shift_clip(row, tau, o)


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _shift_clip(row, tau, o):
    """o = max(row - tau, 0); returns 1 if row holds NaN or +-inf (x - x is NaN exactly then).

    The integer OR keeps the loop vectorizable, so clean input pays no separate validation
    sweep.  (Kept as its own function on slices: inlined into a prange body the loop does not
    vectorize.)
    """
    flag = 0
    for i in range(row.shape[0]):
        x = row[i]
        flag |= (x - x) != 0.0
        d = x - tau
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
def project_rows_parallel(v, radius, out, aux):
    bad = 0
    for r in nb.prange(v.shape[0]):
        bad += _project_row(v[r], radius, aux[nb.get_thread_id()], out[r])
    return bad


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
    global threshold; the output pass is parallel too.  Returns the non-finite flag.
    """
    n = row.shape[0]
    size = (n + nchunks - 1) // nchunks
    starts = np.empty(nchunks, dtype=np.int64)
    stops = np.empty(nchunks, dtype=np.int64)
    finite_chunk = np.zeros(nchunks, dtype=np.int64)
    for c in nb.prange(nchunks):
        lo = c * size
        hi = min(n, lo + size)
        w = aux[c]
        seg = row[lo:hi]
        has = False
        for i in range(seg.shape[0]):
            if seg[i] != -np.inf:
                has = True
                break
        if has:
            _, vs, ve = _condat_core(seg, radius, w)
            starts[c] = vs
            stops[c] = ve
            finite_chunk[c] = 1
        else:
            starts[c] = 0
            stops[c] = 0
    m = 0
    for c in range(nchunks):
        for j in range(starts[c], stops[c]):
            merged[m] = aux[c, j]
            m += 1
    if m == 0:
        return 1  # every entry is -inf (or the row is empty)
    tau = _condat_threshold(merged[:m], radius, aux[0])
    flags = np.zeros(nchunks, dtype=np.int64)
    for c in nb.prange(nchunks):
        lo = c * size
        hi = min(n, lo + size)
        flags[c] = _shift_clip(row[lo:hi], tau, o[lo:hi])
    return 1 if flags.sum() > 0 else 0
