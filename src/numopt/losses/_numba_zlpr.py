"""Numba kernels (NumPy rung) for ZLPR: hard labels (threshold 0 or a threshold class), soft
labels, and the fixed-``k`` combinatorial softmax.

Hard and soft ZLPR are two log-sum-exps per row with the constant term ``e^0``:
``log(e^0 + sum_neg e^{s})`` and ``log(e^0 + sum_pos e^{-s})``.  Every element belongs to
exactly one of the two sums in the hard case, so one exponential per element suffices
(``e^{+-s - shift}`` with the shift of its own sum); the soft case needs two.  Precision as in
``_numba_crossentropy`` (elementwise in the logits' precision, sums in float64).  Soft labels
enter as the factors ``t`` and ``1 - t`` of the max-shifted exponentials (shifted by the largest
exponent among the terms with a non-zero factor): exact for float64, and for float32 exact
unless a label is below float32's smallest normal number (1.2e-38).

The fixed-``k`` recursion works in float64 whatever the input precision: its log-domain
``logaddexp`` chain has ``C k`` steps whose rounding errors add up, which float32 would turn
into a visible error for C in the thousands.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._fastmath import _nnan, fexp, fmax, like, log1p01, range_max, range_min
from ._numba_crossentropy import BAD_LOGITS, BAD_SUM, BAD_TARGETS, FM

_kjit = numba.njit(cache=True, nogil=True, fastmath=FM, error_model="numpy")
BAD_ZK = 8     # Newton's identities lost all precision (Z_k <= 0)


@_nnan
def _zlpr_shifts(z, t, i, s0, thr):
    """m_neg = max(0, max over negatives of s), m_pos = max(0, max over positives of -s),
    s = z - s0, the threshold column excluded (0 is the constant term e^0)."""
    zero = like(0.0, s0)
    m_neg = zero
    m_pos = zero
    for j in range(z.shape[1]):
        s = z[i, j] - s0
        pos = t[i, j] == 1
        valid = j != thr
        m_neg = fmax(m_neg, s if (valid and not pos) else zero)
        m_pos = fmax(m_pos, -s if (valid and pos) else zero)
    return m_neg, m_pos


@_nnan
def _zlpr_soft_shifts(z, t, i, lo, hi):
    """m1 = max(0, max over t > 0 of -z), m2 = max(0, max over t < 1 of z), labels below
    ``lo`` counting as 0 and above ``hi`` as 1."""
    zero = like(0.0, z[0, 0])
    one = like(1.0, z[0, 0])
    m1 = zero
    m2 = zero
    for j in range(z.shape[1]):
        x = z[i, j]
        tk = like(t[i, j], x)
        if lo > 0:
            tk = zero if tk < lo else (one if tk > hi else tk)
        m1 = fmax(m1, -x if tk > zero else zero)
        m2 = fmax(m2, x if tk < one else zero)
    return m1, m2


@_kjit
def zlpr_rows(z, t, thr, scale, want_grad, loss, grad, work, r0, r1):
    """Hard ZLPR on rows [r0, r1); ``thr`` is the threshold column or -1 (threshold 0).
    ``work`` is a scratch row (C,) used when no gradient is wanted."""
    C = z.shape[1]
    zero = like(0.0, z[0, 0])
    status = 0
    for i in range(r0, r1):
        s0 = z[i, thr] if thr >= 0 else zero
        m_neg, m_pos = _zlpr_shifts(z, t, i, s0, thr)
        chk = zero
        tbad = 0
        e_row = grad[i] if want_grad else work
        for j in range(C):
            x = z[i, j]
            tv = t[i, j]
            s = x - s0
            pos = tv == 1
            e = fexp(-s - m_pos) if pos else fexp(s - m_neg)
            e_row[j] = e if j != thr else zero
            chk += x * zero
            tbad += 0 if (tv == 0 or tv == 1) else 1
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
        s_neg = 0.0
        s_pos = 0.0
        for j in range(C):      # store-free sums (see _numba_crossentropy)
            e = e_row[j]
            pos = t[i, j] == 1
            s_pos += e if pos else zero
            s_neg += zero if pos else e
        mn = np.float64(m_neg)
        mp = np.float64(m_pos)
        s_neg += math.exp(-mn)
        s_pos += math.exp(-mp)
        loss[i] = mn + math.log(s_neg) + mp + math.log(s_pos)
        if want_grad:
            wn = like(scale / s_neg, zero)
            wp = like(-scale / s_pos, zero)
            for j in range(C):
                grad[i, j] = grad[i, j] * (wp if t[i, j] == 1 else wn)
            if thr >= 0:
                acc = 0.0
                for j in range(C):
                    acc += grad[i, j]
                grad[i, thr] = like(-acc, zero)
    return status


@_kjit
def zlpr_soft_rows(z, t, eps, scale, want_grad, loss, grad, work, r0, r1):
    """log(1 + sum t e^{-s}) + log(1 + sum (1 - t) e^{s}) on rows [r0, r1); labels below
    ``eps`` count as 0 and above ``1 - eps`` as 1.  ``work`` is a scratch (2, C)."""
    C = z.shape[1]
    zero = like(0.0, z[0, 0])
    one = like(1.0, z[0, 0])
    lo = like(eps, zero)
    hi = one - lo
    status = 0
    for i in range(r0, r1):
        m1, m2 = _zlpr_soft_shifts(z, t, i, lo, hi)
        chk = zero
        tbad = 0
        a_row = grad[i] if want_grad else work[0]
        b_row = work[1]
        for j in range(C):
            x = z[i, j]
            tv = t[i, j]
            tk = like(tv, x)
            if lo > 0:
                tk = zero if tk < lo else (one if tk > hi else tk)
            # a zero weight masks its term: 0 * e^(huge) would be NaN (m1, m2 shift only the
            # terms with positive weight, so the others may overflow)
            a_row[j] = tk * fexp(-x - m1) if tk > zero else zero
            b_row[j] = (one - tk) * fexp(x - m2) if tk < one else zero
            chk += x * zero
            tbad += 0 if (tv >= 0 and tv <= 1) else 1
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
        s1 = 0.0
        s2 = 0.0
        for j in range(C):      # store-free sums (see _numba_crossentropy)
            s1 += a_row[j]
            s2 += b_row[j]
        m1d = np.float64(m1)
        m2d = np.float64(m2)
        s1 += math.exp(-m1d)
        s2 += math.exp(-m2d)
        loss[i] = m1d + math.log(s1) + m2d + math.log(s2)
        if want_grad:
            w1 = like(scale / s1, zero)
            w2 = like(scale / s2, zero)
            for j in range(C):
                grad[i, j] = b_row[j] * w2 - a_row[j] * w1
    return status


# ---- fixed k: log e_k(exp(z)) by the elementary-symmetric recursion ---------------------------
# Fast path (linear domain): with x = exp(z - max z) every term of e_m(x), m <= k, lies in
# [exp(-k (max z - min z)), 1] and the sums are at most binom(C, k); when both bounds stay
# inside [e^-600, e^600] the recursion runs on plain float64 numbers (positive sums: no
# cancellation, relative error ~ C k eps).  Otherwise the row takes the log-domain recursion,
# which is exact for logits of any size but costs an exp and a log1p per step.
LINEAR_RANGE = 600.0


@_kjit
def _logaddexp(a, b):
    m = max(a, b)
    if m == -np.inf:
        return m
    return m + log1p01(fexp(-abs(a - b)))


@_kjit
def _topk_row_log(z, t, i, k, scale, want_grad, grad, fwd, bwd):
    C = z.shape[1]
    ninf = -np.inf
    fwd[0, 0] = 0.0
    for m in range(1, k + 1):
        fwd[0, m] = ninf
    for j in range(C):
        xj = np.float64(z[i, j])
        fwd[j + 1, 0] = 0.0
        for m in range(1, k + 1):
            fwd[j + 1, m] = _logaddexp(fwd[j, m], xj + fwd[j, m - 1])
    logz = fwd[C, k]
    if want_grad:
        bwd[C, 0] = 0.0
        for m in range(1, k + 1):
            bwd[C, m] = ninf
        for j in range(C - 1, -1, -1):
            xj = np.float64(z[i, j])
            bwd[j, 0] = 0.0
            for m in range(1, k + 1):
                bwd[j, m] = _logaddexp(bwd[j + 1, m], xj + bwd[j + 1, m - 1])
        for j in range(C):
            # log sum_{q=0}^{k-1} e_q(x_<j) e_{k-1-q}(x_>j)
            mq = ninf
            for q in range(k):
                mq = max(mq, fwd[j, q] + bwd[j + 1, k - 1 - q])
            acc = 0.0
            if mq > ninf:
                for q in range(k):
                    acc += math.exp(fwd[j, q] + bwd[j + 1, k - 1 - q] - mq)
            incl = math.exp(np.float64(z[i, j]) + mq + math.log(acc) - logz) if acc > 0 else 0.0
            grad[i, j] = scale * (incl - (1.0 if t[i, j] == 1 else 0.0))
    return logz


@_kjit
def _topk_check_row(z, t, i, k):
    """(status, sum of the positives' logits, max z, min z) of row i."""
    C = z.shape[1]
    chk = 0.0
    npos = 0
    tbad = 0
    sp = 0.0
    for j in range(C):
        x = np.float64(z[i, j])
        tv = t[i, j]
        chk += x * 0.0
        tbad += 0 if (tv == 0 or tv == 1) else 1
        npos += 1 if tv == 1 else 0
        sp += x if tv == 1 else 0.0
    mx = np.float64(range_max(z, i, 0, C))
    mn = np.float64(range_min(z, i, 0, C))
    status = 0
    if chk != 0:
        status |= BAD_LOGITS
    if tbad:
        status |= BAD_TARGETS
    if npos != k:
        status |= BAD_SUM
    return status, sp, mx, mn


LANES = 8     # rows recursed side by side (one SIMD lane each)


@_kjit
def zlpr_topk_rows(z, t, k, log_binom, scale, want_grad, loss, grad, x, fwd, bwd, r0, r1):
    """log Z_k - sum_pos z on rows [r0, r1) (float64 inside); gradient = inclusion
    probabilities - t.  ``log_binom`` = log C(C, k); scratch (float64): ``x`` (C, LANES),
    ``fwd``, ``bwd`` (C + 1, k + 1, LANES).

    Rows on the linear fast path are recursed ``LANES`` at a time, the row index innermost, so
    that the recursion -- a chain of C dependent multiply-adds per order m -- runs in SIMD lanes
    instead of one row at a time; rows that need the log domain are done one by one after."""
    C = z.shape[1]
    status = 0
    mxs = np.empty(LANES)
    sps = np.empty(LANES)
    acc_r = np.empty(LANES)
    row = np.empty(C)
    lin = np.zeros(LANES, np.bool_)
    for g0 in range(r0, r1, LANES):
        nr = min(LANES, r1 - g0)
        for r in range(LANES):
            lin[r] = False
        for r in range(nr):
            i = g0 + r
            st, sp, mx, mn = _topk_check_row(z, t, i, k)
            status |= st
            lin[r] = st == 0 and k * (mx - mn) < LINEAR_RANGE and log_binom < LINEAR_RANGE
            mxs[r] = mx
            sps[r] = sp
        for r in range(LANES):          # x[j, r] = exp(z - max z); 0 in unused lanes
            if lin[r]:
                i = g0 + r
                m = mxs[r]
                for j in range(C):      # contiguous, vectorized; then one strided copy
                    row[j] = fexp(np.float64(z[i, j]) - m)
                for j in range(C):
                    x[j, r] = row[j]
            else:
                for j in range(C):
                    x[j, r] = 0.0
        for r in range(LANES):
            fwd[0, 0, r] = 1.0
        for m in range(1, k + 1):
            for r in range(LANES):
                fwd[0, m, r] = 0.0
        for j in range(C):
            for r in range(LANES):
                fwd[j + 1, 0, r] = 1.0
            for m in range(1, k + 1):
                for r in range(LANES):
                    fwd[j + 1, m, r] = fwd[j, m, r] + x[j, r] * fwd[j, m - 1, r]
        for r in range(nr):
            if lin[r]:
                loss[g0 + r] = math.log(fwd[C, k, r]) + k * mxs[r] - sps[r]
        if want_grad:
            for r in range(LANES):
                bwd[C, 0, r] = 1.0
            for m in range(1, k + 1):
                for r in range(LANES):
                    bwd[C, m, r] = 0.0
            for j in range(C - 1, -1, -1):
                for r in range(LANES):
                    bwd[j, 0, r] = 1.0
                for m in range(1, k + 1):
                    for r in range(LANES):
                        bwd[j, m, r] = bwd[j + 1, m, r] + x[j, r] * bwd[j + 1, m - 1, r]
            # inclusion weights sum_q e_q(x_<j) e_{k-1-q}(x_>j), lanes innermost, into bwd[j]
            # (bwd[j] is no longer needed once row j is done: j ascends, bwd[j + 1] is read)
            for j in range(C):
                for r in range(LANES):
                    acc_r[r] = 0.0
                for q in range(k):
                    for r in range(LANES):
                        acc_r[r] += fwd[j, q, r] * bwd[j + 1, k - 1 - q, r]
                for r in range(LANES):
                    bwd[j, 0, r] = acc_r[r] * x[j, r]
            for r in range(nr):
                if not lin[r]:
                    continue
                i = g0 + r
                inv = scale / fwd[C, k, r]
                for j in range(C):
                    grad[i, j] = bwd[j, 0, r] * inv - (scale if t[i, j] == 1 else 0.0)
        for r in range(nr):             # rows with a wide spread: log domain, one by one
            if lin[r] or status:
                continue
            i = g0 + r
            logz = _topk_row_log(z, t, i, k, scale, want_grad, grad, fwd[:, :, 0].copy(),
                                 bwd[:, :, 0].copy())
            loss[i] = logz - sps[r]
    return status


@_kjit
def zlpr_topk_newton_rows(z, t, k, scale, want_grad, loss, grad, x, xq, zz, r0, r1):
    """Fixed k by Newton's identities on x = exp(z - max z) (float64 inside); scratch: ``x``,
    ``xq`` (C,) and ``zz`` (2 k + 1,) float64 (Z_0..Z_k, then the power sums S_1..S_k).
    Status BAD_ZK when Z_k <= 0 (all precision lost)."""
    C = z.shape[1]
    status = 0
    for i in range(r0, r1):
        st, sp, mx, mn = _topk_check_row(z, t, i, k)
        status |= st
        if st:
            continue
        for j in range(C):
            x[j] = fexp(np.float64(z[i, j]) - mx)
            xq[j] = x[j]
        for q in range(1, k + 1):    # power sums S_q = sum_j x_j^q into zz[k + q]
            if q > 1:
                for j in range(C):
                    xq[j] *= x[j]
            acc = 0.0
            for j in range(C):
                acc += xq[j]
            zz[k + q] = acc
        zz[0] = 1.0
        for mm in range(1, k + 1):
            acc = 0.0
            sign = 1.0
            for q in range(1, mm + 1):
                acc += sign * zz[mm - q] * zz[k + q]
                sign = -sign
            zz[mm] = acc / mm
        if not zz[k] > 0:
            status |= BAD_ZK
            continue
        loss[i] = math.log(zz[k]) + k * mx - sp
        if want_grad:
            inv = 1.0 / zz[k]
            for j in range(C):
                xj = x[j]
                e = 0.0
                p = 1.0
                for q in range(k):
                    e += p * zz[k - 1 - q]
                    p *= -xj
                grad[i, j] = scale * (xj * e * inv - (1.0 if t[i, j] == 1 else 0.0))
    return status
