"""Numba kernels (NumPy rung) for losses that are an expected cost under ``p = softmax(z / T)``:
smoothed accuracy (``1 - <tau, p>``, temperature ``T``) and EMO (``<p, G>`` with ``G`` the
transport cost of each class to the target, optionally mixed with cross-entropy).

One pass per row computes the max-shifted exponentials (stored in the gradient buffer), their
sum, the expected cost and, for EMO's mixtures, the cross-entropy; a second pass over the row
(still in cache) writes the gradient ``A p (G - <p, G>) / T + B (p - tau)``.  Precision as in
``_numba_crossentropy``: elementwise work in the logits' precision, sums and per-row scalars in
float64.

The cost row ``G_i`` (``i`` the sample) comes in one of three forms (``kind``):

* 0 -- the 0/1 cost, ``G = 1 - tau`` (smoothed accuracy; EMO without a cost): computed as
  ``c - tau_j`` with ``c = <p, tau>`` so that nothing cancels;
* 1 -- a row of a class-by-class table picked by the target class, ``G_i = table[y_i]``
  (EMO with class indices: ``table`` is the transposed cost matrix);
* 2 -- a precomputed row per sample, ``G_i = table[i]`` (EMO with class probabilities:
  ``tau @ cost.T``, or ``1 - (tau @ E) @ E.T`` for embeddings).

Targets are class indices ``y`` (when ``y`` is not empty) or probability rows ``t``.
``mode``: 0 pure expected cost, 1 and 2 the EMO paper's mixtures with cross-entropy (see
``emo``); the ratio ``r`` is a constant in the gradient.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._fastmath import fexp, like, row_max
from ._numba_crossentropy import BAD_LOGITS, BAD_SUM, BAD_TARGETS, FM

_kjit = numba.njit(cache=True, nogil=True, fastmath=FM, error_model="numpy")


@_kjit
def expected_cost_rows(z, y, t, table, kind, inv_t, mode, cap, tol, scale, want_grad, loss,
                       grad, work, r0, r1):
    """Rows [r0, r1); ``work`` is a scratch row (C,) of the logits' dtype."""
    C = z.shape[1]
    zero = like(0.0, z[0, 0])
    it = like(inv_t, z[0, 0])
    by_index = y.shape[0] > 0
    status = 0
    for i in range(r0, r1):
        m = row_max(z, i)
        m64 = np.float64(m)
        e_row = grad[i] if want_grad else work
        chk = zero
        for j in range(C):
            x = z[i, j]
            e_row[j] = fexp((x - m) * it)
            chk += x * zero
        s = 0.0
        for j in range(C):      # store-free sums (see _numba_crossentropy)
            s += e_row[j]
        if chk != 0:
            status |= BAD_LOGITS
        # <e, tau>, sum(tau), and <tau, z - m> for the cross-entropy
        yi = 0
        if by_index:
            yi = y[i]
            et = np.float64(e_row[yi])
            tz = np.float64(z[i, yi]) - m64
        else:
            et = 0.0
            st = 0.0
            tz = 0.0
            tbad = 0
            for j in range(C):
                tv = t[i, j]
                et += tv * e_row[j]
                st += tv
                tz += tv * (np.float64(z[i, j]) - m64)
                tbad += 0 if (tv >= 0 and tv <= 1) else 1
            if tbad:
                status |= BAD_TARGETS
            if abs(st - 1.0) > tol:
                status |= BAD_SUM
        c = et / s                      # <p, tau>
        if kind == 0:
            value = 1.0 - c
        else:
            g_row = table[yi] if kind == 1 else table[i]
            eg = 0.0
            for j in range(C):
                eg += e_row[j] * g_row[j]
            value = eg / s
        a_coef = 1.0
        b_coef = 0.0
        total = value
        if mode != 0:
            ce = math.log(s) - tz
            if mode == 1:
                r = cap
                if value > 0:
                    r = ce / value
                    if cap > 0:
                        r = min(r, cap)
                total = 0.5 * (r * value + ce)
                a_coef = 0.5 * r
                b_coef = 0.5
            else:
                r = value / ce if ce > 0 else 0.0
                total = r * ce + value
                b_coef = r
        loss[i] = total
        if not want_grad:
            continue
        # grad_j = A p_j (G_j - value) / T + B (p_j - tau_j), scaled; p_j = e_j / s
        inv_s = 1.0 / s
        pa = like(scale * a_coef * inv_t * inv_s, m)
        pb = like(scale * b_coef * inv_s, m)
        tb = like(scale * b_coef, m)
        if kind == 0:
            # G_j - value = c - tau_j
            cc = like(c, m)
            if by_index:
                ey = grad[i, yi]
                for j in range(C):
                    e = grad[i, j]
                    grad[i, j] = pa * e * cc + pb * e
                grad[i, yi] = pa * ey * (cc - like(1.0, m)) + pb * ey - tb
            else:
                for j in range(C):
                    e = grad[i, j]
                    tv = like(t[i, j], m)
                    grad[i, j] = pa * e * (cc - tv) + pb * e - tb * tv
        else:
            vv = like(value, m)
            g_row = table[yi] if kind == 1 else table[i]
            if by_index:
                for j in range(C):
                    e = grad[i, j]
                    grad[i, j] = pa * e * (like(g_row[j], m) - vv) + pb * e
                grad[i, yi] -= tb
            else:
                for j in range(C):
                    e = grad[i, j]
                    tv = like(t[i, j], m)
                    grad[i, j] = pa * e * (like(g_row[j], m) - vv) + pb * e - tb * tv
    return status


@_kjit
def cosine_cost_table(eh, out):
    """out[a, b] = 1 - <eh_a, eh_b> for unit rows ``eh`` (C, d); serial, for small C^2 d (a
    BLAS product would wake its threads, which on a busy machine costs more than it saves)."""
    C, d = eh.shape
    for a in range(C):
        for b in range(C):
            acc = 0.0
            for q in range(d):
                acc += eh[a, q] * eh[b, q]
            out[a, b] = 1.0 - acc
    return out
