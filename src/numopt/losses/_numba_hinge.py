"""Numba kernels (NumPy rung) for the hinge losses: binary, Crammer-Singer, Weston-Watkins.

Margins are formed exactly as the generic rung forms them, ``(m + z_j) - z_y`` in the logits'
precision, so the active set, the Crammer-Singer arg-max (lowest index among equal margins)
and the subgradient agree with it bit for bit; only the per-row sums are accumulated in
float64.  No transcendental functions: the kernels are bound by memory traffic, in float32
and float64 alike.  Status bits as in ``_numba_crossentropy``.
"""
from __future__ import annotations

import numba
import numpy as np

from ._fastmath import fmax, like, range_max
from ._numba_crossentropy import BAD_LOGITS, BAD_TARGETS, BLOCK, FM

_kjit = numba.njit(cache=True, nogil=True, fastmath=FM, error_model="numpy")


@_kjit
def binary_hinge_blocks(z, t, margin, scale, want_grad, per, per_off, grad, partial, b0, b1):
    """max(0, m - t z) on blocks [b0, b1) of the flat arrays (see ``sigmoid_ce_blocks``)."""
    n = z.shape[0]
    zero = like(0.0, z[0])
    mm = like(margin, z[0])
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
                viol = mm - tk * x
                per[k - off] = max(viol, zero)
                chk += x * zero
                tbad += 0 if (tv == 1 or tv == -1) else 1
                grad[k] = -tk * sc if viol > zero else zero
        else:
            for k in range(k0, k1):
                x = z[k]
                tv = t[k]
                per[k - off] = max(mm - like(tv, x) * x, zero)
                chk += x * zero
                tbad += 0 if (tv == 1 or tv == -1) else 1
        for k in range(k0, k1):     # store-free: the same summation order on every call
            acc += per[k - off]
        partial[b] = acc
        if chk != 0:
            status |= BAD_LOGITS
        if tbad:
            status |= BAD_TARGETS
    return status


@_kjit
def crammer_singer_rows(z, y, margin, scale, want_grad, loss, grad, r0, r1):
    """max(0, max_{j != y} (m + z_j) - z_y); gradient +1 at the first arg-max, -1 at y."""
    C = z.shape[1]
    mm = like(margin, z[0, 0])
    zero = like(0.0, z[0, 0])
    status = 0
    for i in range(r0, r1):
        yi = y[i]
        zy = z[i, yi]
        # max over j != y of z_j in two vectorized halves (with the finiteness check); the
        # margin (m + .) - zy is monotone, so the largest margin is that of the largest logit
        best = fmax(range_max(z, i, 0, yi), range_max(z, i, yi + 1, C))
        chk = zero
        for j in range(C):
            chk += z[i, j] * zero
        if chk != 0:
            status |= BAD_LOGITS
        if C == 1:                      # a single class: nothing to violate
            loss[i] = 0.0
            if want_grad:
                grad[i, 0] = zero
            continue
        worst = (mm + best) - zy
        loss[i] = max(np.float64(worst), 0.0)
        if want_grad:
            # first index whose margin equals the largest (as the generic arg-max picks it):
            # a vectorized min-reduction instead of a scalar search
            first = C
            for j in range(C):
                hit = (mm + z[i, j]) - zy == worst and j != yi
                first = min(first, j if hit else C)
            for j in range(C):
                grad[i, j] = zero
            if worst > zero:
                grad[i, first] = like(scale, zy)
                grad[i, yi] = like(-scale, zy)
    return status


@_kjit
def weston_watkins_rows(z, y, margin, scale, want_grad, loss, grad, r0, r1):
    """sum_{j != y} max(0, (m + z_j) - z_y); gradient 1 on the active j, minus their count at y."""
    C = z.shape[1]
    mm = like(margin, z[0, 0])
    zero = like(0.0, z[0, 0])
    one = like(scale, z[0, 0])
    status = 0
    for i in range(r0, r1):
        yi = y[i]
        zy = z[i, yi]
        cnt = 0
        if want_grad:
            for j in range(yi):
                act = (mm + z[i, j]) - zy > zero
                cnt += 1 if act else 0
                grad[i, j] = one if act else zero
            for j in range(yi + 1, C):
                act = (mm + z[i, j]) - zy > zero
                cnt += 1 if act else 0
                grad[i, j] = one if act else zero
            grad[i, yi] = like(-scale * cnt, zy)
        acc = 0.0
        chk = zy * zero
        for j in range(yi):
            acc += max((mm + z[i, j]) - zy, zero)
            chk += z[i, j] * zero
        for j in range(yi + 1, C):
            acc += max((mm + z[i, j]) - zy, zero)
            chk += z[i, j] * zero
        if chk != 0:
            status |= BAD_LOGITS
        loss[i] = acc
    return status
