"""Numba rung of the simplex projection: Condat's algorithm (Math. Program. 158, 2016).

Expected linear time: one Gauss–Seidel pass over the input that keeps a running threshold,
then a short clean-up over the few candidates.  Rows are independent and run in parallel.
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def _condat_threshold(y, radius, aux):
    """The threshold tau with sum(max(y - tau, 0)) == radius; -inf entries are allowed."""
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
    return rho


@nb.njit(cache=True, nogil=True)
def project_rows_serial(v, radius, out, aux):
    for r in range(v.shape[0]):
        tau = _condat_threshold(v[r], radius, aux[0])
        row = v[r]
        o = out[r]
        for i in range(row.shape[0]):
            d = row[i] - tau
            o[i] = d if d > 0.0 else 0.0


@nb.njit(cache=True, nogil=True, parallel=True)
def project_rows_parallel(v, radius, out, aux):
    for r in nb.prange(v.shape[0]):
        w = aux[nb.get_thread_id()]
        tau = _condat_threshold(v[r], radius, w)
        row = v[r]
        o = out[r]
        for i in range(row.shape[0]):
            d = row[i] - tau
            o[i] = d if d > 0.0 else 0.0


@nb.njit(cache=True, nogil=True)
def validate_rows(v):
    """0 if fine, 1 if a NaN, 2 if +inf, 3 if a row is entirely -inf."""
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
