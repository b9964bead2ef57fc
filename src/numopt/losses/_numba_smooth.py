"""Numba kernels (NumPy rung) for the binary smoothed accuracy and the smoothed F1 scores.

Binary smoothed accuracy is elementwise (``sigmoid(z / T)``, one exponential for ``p`` and
``q = 1 - p`` both).  Smoothed F1 is a batch-level ratio, so it takes two passes: the first
computes ``p`` (kept in the gradient buffer) and per-block partial sums of ``t p``, ``p`` and
``t``; the second, once the totals are known, writes the gradient.  Partial sums are taken
over fixed blocks (independent of the number of threads) in float64, so results do not depend
on the threading.  Precision as in ``_numba_crossentropy``.
"""
from __future__ import annotations

import numba
import numpy as np

from ._fastmath import fexp, like, row_max
from ._numba_crossentropy import BAD_LOGITS, BAD_SUM, BAD_TARGETS, BLOCK, FM

_kjit = numba.njit(cache=True, nogil=True, fastmath=FM, error_model="numpy")

ROW_BLOCK = 64     # rows per partial sum of the multiclass F1


@_kjit
def binary_smoothed_accuracy_blocks(z, t, inv_t, scale, want_grad, per, per_off, grad,
                                    partial, b0, b1):
    """t q + (1 - t) p with p = sigmoid(z / T), q = 1 - p (see ``sigmoid_ce_blocks``)."""
    n = z.shape[0]
    zero = like(0.0, z[0])
    one = like(1.0, z[0])
    two = like(2.0, z[0])
    it = like(inv_t, z[0])
    sc = like(scale * inv_t, z[0])
    status = 0
    for b in range(b0, b1):
        k0 = b * BLOCK
        k1 = min(k0 + BLOCK, n)
        off = k0 if per_off else 0
        acc = 0.0
        chk = zero
        tbad = 0
        if want_grad:
            for k in range(k0, k1):
                x = z[k]
                tv = t[k]
                tk = like(tv, x)
                u = x * it
                e = fexp(-abs(u))
                r = one / (one + e)
                p = r if u >= zero else e * r
                q = e * r if u >= zero else r
                per[k - off] = tk * q + (one - tk) * p
                chk += x * zero
                tbad += 0 if (tv >= 0 and tv <= 1) else 1
                grad[k] = (one - two * tk) * p * q * sc
        else:
            for k in range(k0, k1):
                x = z[k]
                tv = t[k]
                tk = like(tv, x)
                u = x * it
                e = fexp(-abs(u))
                r = one / (one + e)
                p = r if u >= zero else e * r
                q = e * r if u >= zero else r
                per[k - off] = tk * q + (one - tk) * p
                chk += x * zero
                tbad += 0 if (tv >= 0 and tv <= 1) else 1
        for k in range(k0, k1):     # store-free sum (see _numba_crossentropy)
            acc += per[k - off]
        partial[b] = acc
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
    return status


# ---- binary smoothed F1 ------------------------------------------------------------------------
@_kjit
def binary_f1_pass1(z, t, inv_t, want_grad, pq, pbuf, partial, b0, b1):
    """partial[b] = (sum t p, sum p, sum t) over block b; pq[k] = p q (for the gradient);
    ``pbuf`` is a scratch block for p."""
    n = z.shape[0]
    zero = like(0.0, z[0])
    one = like(1.0, z[0])
    it = like(inv_t, z[0])
    status = 0
    for b in range(b0, b1):
        k0 = b * BLOCK
        k1 = min(k0 + BLOCK, n)
        chk = zero
        tbad = 0
        for k in range(k0, k1):
            x = z[k]
            tv = t[k]
            u = x * it
            e = fexp(-abs(u))
            r = one / (one + e)
            p = r if u >= zero else e * r
            pbuf[k - k0] = p
            chk += x * zero
            tbad += 0 if (tv >= 0 and tv <= 1) else 1
        if want_grad:
            for k in range(k0, k1):
                u = z[k] * it
                e = fexp(-abs(u))
                r = one / (one + e)
                pq[k] = e * r * r          # p q = e / (1 + e)^2 for either sign of u
        a = 0.0
        sp = 0.0
        st = 0.0
        for k in range(k0, k1):      # store-free sums (see _numba_crossentropy)
            tv = t[k]
            a += tv * pbuf[k - k0]
            sp += pbuf[k - k0]
            st += tv
        partial[b, 0] = a
        partial[b, 1] = sp
        partial[b, 2] = st
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
    return status


@_kjit
def binary_f1_pass2(t, alpha, beta, inv_t, grad, b0, b1):
    """grad = (beta - alpha t) p q / T in place of p q."""
    n = grad.shape[0]
    al = like(alpha, grad[0])
    be = like(beta, grad[0])
    it = like(inv_t, grad[0])
    for b in range(b0, b1):
        for k in range(b * BLOCK, min((b + 1) * BLOCK, n)):
            grad[k] = (be - al * like(t[k], grad[0])) * grad[k] * it
    return 0


# ---- multiclass smoothed F1 --------------------------------------------------------------------
@_kjit
def multiclass_f1_pass1(z, y, t, inv_t, tol, p, partial, b0, b1):
    """Row blocks [b0, b1): p = softmax(z / T) (into ``p``), and per block the class sums
    partial[b, 0] = sum t p, partial[b, 1] = sum p, partial[b, 2] = sum t."""
    n, C = z.shape
    zero = like(0.0, z[0, 0])
    it = like(inv_t, z[0, 0])
    by_index = y.shape[0] > 0
    status = 0
    for b in range(b0, b1):
        for c in range(C):
            partial[b, 0, c] = 0.0
            partial[b, 1, c] = 0.0
            partial[b, 2, c] = 0.0
        for i in range(b * ROW_BLOCK, min((b + 1) * ROW_BLOCK, n)):
            m = row_max(z, i)
            chk = zero
            for j in range(C):
                x = z[i, j]
                p[i, j] = fexp((x - m) * it)
                chk += x * zero
            s = 0.0
            for j in range(C):      # store-free sum (see _numba_crossentropy)
                s += p[i, j]
            if chk != 0:
                status |= BAD_LOGITS
            r = like(1.0 / s, m)
            for j in range(C):
                pj = p[i, j] * r
                p[i, j] = pj
                partial[b, 1, j] += pj
            if by_index:
                yi = y[i]
                partial[b, 0, yi] += p[i, yi]
                partial[b, 2, yi] += 1.0
            else:
                st = 0.0
                tbad = 0
                for j in range(C):
                    tv = t[i, j]
                    partial[b, 0, j] += tv * p[i, j]
                    partial[b, 2, j] += tv
                    st += tv
                    tbad += 0 if (tv >= 0 and tv <= 1) else 1
                if tbad:
                    status |= BAD_TARGETS
                if abs(st - 1.0) > tol:
                    status |= BAD_SUM
    return status


@_kjit
def multiclass_f1_pass2(y, t, alpha, beta, inv_t, p, r0, r1):
    """In place of p: grad_j = p_j (g_j - <p, g>) / T, g_j = beta_j - alpha_j t_j (per class
    constants already scaled by the reduction)."""
    C = p.shape[1]
    by_index = y.shape[0] > 0
    for i in range(r0, r1):
        pg = 0.0
        if by_index:
            yi = y[i]
            for j in range(C):
                pg += p[i, j] * beta[j]
            pg -= p[i, yi] * alpha[yi]
            w = like(inv_t, p[i, 0])
            d = like(pg, p[i, 0])
            py = p[i, yi]
            for j in range(C):
                p[i, j] = p[i, j] * (like(beta[j], d) - d) * w
            p[i, yi] = py * (like(beta[yi] - alpha[yi], d) - d) * w
        else:
            for j in range(C):
                pg += p[i, j] * (beta[j] - alpha[j] * t[i, j])
            w = like(inv_t, p[i, 0])
            d = like(pg, p[i, 0])
            for j in range(C):
                g = like(beta[j] - alpha[j] * t[i, j], d)
                p[i, j] = p[i, j] * (g - d) * w
    return 0
