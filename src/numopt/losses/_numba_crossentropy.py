"""Numba kernels (NumPy rung) for sigmoid and softmax cross-entropy.

Loss and gradient in one pass over each row (softmax) or block of elements (sigmoid), in the
precision of the logits: float32 logits are exponentiated in float32 (16 SIMD lanes), while
every sum (the softmax normaliser, target sums, per-block loss sums) and every per-row scalar
(log-sum-exp, the loss itself) is accumulated in float64.  Accuracy in float32 is therefore
that of the elementwise terms (a few ulp each, as in the float32 generic rung) without the
O(C) growth of a float32 running sum.

Float sums are taken in loops that store nothing.  A loop that both stores and sums is
vectorized behind LLVM's run-time overlap checks, and which version runs (hence the summation
order, hence the last bits) was seen to change from call to call with the addresses of fresh
arrays; store-free reductions run the same code every time, so results are reproducible and
do not depend on the number of threads.

Every kernel returns a status (0 = fine; bit 1 = a non-finite logit, bit 2 = a target outside
its range, bit 4 = a probability row not summing to one).  Non-finite logits and bad target
values are detected in the same pass -- they only produce garbage numbers, never an
out-of-range access -- and the public function raises before returning anything.  Class
indices, which are used as addresses, are checked before any kernel runs.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._fastmath import fexp, like, log1p01, row_max

FM = {"contract", "reassoc", "nsz"}   # sums may be reordered (SIMD); no finite-math assumptions
BLOCK = 4096                           # elements per partial sum of the elementwise kernels

_kjit = numba.njit(cache=True, nogil=True, fastmath=FM, error_model="numpy")

BAD_LOGITS, BAD_TARGETS, BAD_SUM = 1, 2, 4


# ---- sigmoid cross-entropy: elementwise, any shape (flattened) ----------------------------------
# The loops below store unconditionally (a disabled output points at a one-block scratch array,
# ``off`` shifts the index into it): a store under a run-time flag would stop vectorization.
# Float sums are always taken in a separate loop that stores nothing (see the module notes).
@_kjit
def sigmoid_ce_blocks(z, t, scale, want_grad, per, per_off, grad, partial, b0, b1):
    """Blocks [b0, b1) of the flat arrays; partial[b] = float64 sum of the block's losses.
    ``per_off`` is 0 when ``per`` holds every element, else ``per`` is a scratch block."""
    n = z.shape[0]
    zero = like(0.0, z[0])
    one = like(1.0, z[0])
    sc = like(scale, z[0])
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
                e = fexp(-abs(x))
                per[k - off] = max(x, zero) - tk * x + log1p01(e)
                chk += x * zero
                tbad += 0 if (tv >= 0 and tv <= 1) else 1
                r = one / (one + e)
                grad[k] = ((r if x >= zero else e * r) - tk) * sc
        else:
            for k in range(k0, k1):
                x = z[k]
                tv = t[k]
                per[k - off] = max(x, zero) - like(tv, x) * x + log1p01(fexp(-abs(x)))
                chk += x * zero
                tbad += 0 if (tv >= 0 and tv <= 1) else 1
        for k in range(k0, k1):
            acc += per[k - off]
        partial[b] = acc
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
    return status


# ---- softmax cross-entropy, integer class indices (optionally label-smoothed) --------------------
@_kjit
def softmax_ce_index_rows(z, y, eps, scale, want_grad, loss, grad, work, r0, r1):
    """Rows [r0, r1); ``work`` is a scratch row (C,) used when no gradient is wanted."""
    C = z.shape[1]
    zero = like(0.0, z[0, 0])
    status = 0
    for i in range(r0, r1):
        m = row_max(z, i)
        m64 = np.float64(m)
        e_row = grad[i] if want_grad else work
        chk = zero
        for j in range(C):
            x = z[i, j]
            e_row[j] = fexp(x - m)
            chk += x * zero
        s = 0.0
        for j in range(C):
            s += e_row[j]
        sz = 0.0
        if eps > 0:
            for j in range(C):
                sz += np.float64(z[i, j]) - m64
        if chk != 0:
            status |= BAD_LOGITS
        yi = y[i]
        loss[i] = math.log(s) - (1.0 - eps) * (np.float64(z[i, yi]) - m64) - (eps / C) * sz
        if want_grad:
            r = like(scale / s, m)
            c0 = like(scale * eps / C, m)
            for j in range(C):
                grad[i, j] = grad[i, j] * r - c0
            grad[i, yi] -= like(scale * (1.0 - eps), m)
    return status


# ---- softmax cross-entropy, class probabilities (optionally label-smoothed) ----------------------
@_kjit
def softmax_ce_prob_rows(z, t, eps, tol, scale, want_grad, loss, grad, work, r0, r1):
    """Rows [r0, r1); ``work`` is a scratch row (C,) used when no gradient is wanted."""
    C = z.shape[1]
    zero = like(0.0, z[0, 0])
    status = 0
    for i in range(r0, r1):
        m = row_max(z, i)
        m64 = np.float64(m)
        e_row = grad[i] if want_grad else work
        chk = zero
        for j in range(C):
            x = z[i, j]
            e_row[j] = fexp(x - m)
            chk += x * zero
        s = 0.0
        st = 0.0
        stz = 0.0
        sz = 0.0
        tbad = 0
        for j in range(C):
            tv = t[i, j]
            d = np.float64(z[i, j]) - m64
            s += e_row[j]
            st += tv
            stz += tv * d
            sz += d
            tbad += 0 if (tv >= 0 and tv <= 1) else 1
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
        if abs(st - 1.0) > tol:
            status |= BAD_SUM
        # t' = (1 - eps) t + eps / C:  sum t' and sum t' (z - m)
        st2 = (1.0 - eps) * st + eps
        stz2 = (1.0 - eps) * stz + (eps / C) * sz
        loss[i] = st2 * math.log(s) - stz2
        if want_grad:
            r = like(scale * st2 / s, m)
            a = like(scale * (1.0 - eps), m)
            c0 = like(scale * eps / C, m)
            for j in range(C):
                grad[i, j] = grad[i, j] * r - (a * t[i, j] + c0)
    return status
