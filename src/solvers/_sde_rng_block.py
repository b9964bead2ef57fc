"""Philox4x32-10 + Box-Muller for a block of lanes (paths) at one counter, written so that LLVM
vectorizes it across lanes -- and bit-identical to ``probspace.random._numba.normal_pair``.

The per-lane scalar ``normal_pair`` does not vectorize (data-dependent loops in its log), so a
fused kernel that draws one path at a time spends most of its time in scalar transcendental
code.  Here every stage is a straight loop over lanes: Philox on integer arrays, the 53-bit
uniforms, the logarithm with its exponent and mantissa read from the IEEE bits of the exact
``float(n)`` (``n <= 2**53``, so ``float(n) = 2**e * m`` exactly with the same ``e`` and ``m`` as
the shift search of the reference), then the same polynomials and the same operation order.
The numbers are the same; only the evaluation is batched.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from probspace.random import _constants as C

_M0 = np.uint64(C.PHILOX_M0)
_M1 = np.uint64(C.PHILOX_M1)
_W0 = np.uint64(C.PHILOX_W0)
_W1 = np.uint64(C.PHILOX_W1)
_MASK = np.uint64(C.MASK32)
_S32 = np.uint64(32)
_LC = np.array(C.LOG_COEFFS)
_SC = np.array(C.SIN_COEFFS)
_CC = np.array(C.COS_COEFFS)
_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.uint64(0x3FF0000000000000)
_SQRT2 = C.SQRT2
_LN2_HI = C.LN2_HI
_LN2_LO = C.LN2_LO
_PI_4 = C.PI_4
_TWO_M53 = C.TWO_M53



@nb.njit(nogil=True)
def alloc_block(B):
    W = np.empty((4, B), dtype=np.uint64)
    NF = np.empty(B, dtype=np.float64)
    MB = np.empty(B, dtype=np.uint64)
    return W, NF, MB


@nb.njit(nogil=True, error_model="numpy")
def normal_pairs_block(k0, k1, S0, S1, idx, Z0, Z1, W, NF, MB):
    """Z0[l], Z1[l] = normal_pair(k0, k1, S0[l], S1[l], idx) for every lane l."""
    B = S0.shape[0]
    i = np.uint64(idx)
    ci0 = i & _MASK
    ci1 = i >> _S32
    for l in range(B):
        c0 = ci0
        c1 = ci1
        c2 = np.uint64(S0[l])
        c3 = np.uint64(S1[l])
        kk0 = np.uint64(k0)
        kk1 = np.uint64(k1)
        for r in range(C.PHILOX_ROUNDS):
            p0 = c0 * _M0
            p1 = c2 * _M1
            n0 = (p1 >> _S32) ^ c1 ^ kk0
            n2 = (p0 >> _S32) ^ c3 ^ kk1
            c1 = p1 & _MASK
            c3 = p0 & _MASK
            c0 = n0
            c2 = n2
            if r + 1 < C.PHILOX_ROUNDS:
                kk0 = (kk0 + _W0) & _MASK
                kk1 = (kk1 + _W1) & _MASK
        W[0, l] = c0
        W[1, l] = c1
        W[2, l] = c2
        W[3, l] = c3
    for l in range(B):
        n = (((W[0, l] >> np.uint64(5)) << np.uint64(26)) | (W[1, l] >> np.uint64(6))) + np.uint64(1)
        NF[l] = float(n)
    bits = NF.view(np.uint64)
    for l in range(B):
        MB[l] = (bits[l] & _MANT) | _ONE_BITS
    mant = MB.view(np.float64)
    for l in range(B):
        # selects instead of branches so the loop vectorizes; x * 1.0 and e + 0.0 are exact
        big = mant[l] > _SQRT2
        m = mant[l] * (0.5 if big else 1.0)
        ef = (float(np.int64(bits[l] >> np.uint64(52)) - 1023) + (1.0 if big else 0.0)) - 53.0
        f = (m - 1.0) / (m + 1.0)
        s2 = f * f
        p = _LC[11]
        for j in range(10, -1, -1):
            p = p * s2 + _LC[j]
        logm = 2.0 * f * p
        NF[l] = np.sqrt(-2.0 * (ef * _LN2_HI + (ef * _LN2_LO + logm)))
    for l in range(B):
        v = float(((W[2, l] >> np.uint64(5)) << np.uint64(26)) | (W[3, l] >> np.uint64(6))) * _TWO_M53
        t = v * 8.0
        o = np.floor(t)
        r = t - o
        oi = int(o)
        a = ((1.0 - r) if (oi & 1) == 1 else r) * _PI_4
        a2 = a * a
        ps = _SC[9]
        for j in range(8, -1, -1):
            ps = ps * a2 + _SC[j]
        sa = a * ps
        pc = _CC[9]
        for j in range(8, -1, -1):
            pc = pc * a2 + _CC[j]
        ca = pc
        swap = (((oi + 1) >> 1) & 1) == 1  # octants 1, 2, 5, 6
        sv = ca if swap else sa
        cv = sa if swap else ca
        sv = -sv if oi >= 4 else sv
        cv = -cv if (oi >= 2) & (oi <= 5) else cv
        rad = NF[l]
        Z0[l] = rad * cv
        Z1[l] = rad * sv
