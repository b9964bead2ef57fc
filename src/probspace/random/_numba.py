"""Philox4x32-10 and its transforms as Numba scalar functions and fill kernels.

The scalar functions (``philox4x32``, ``normal_pair``, ``uniform_pair``) are meant to be
called from other ``@njit`` kernels, e.g. an SDE loop that draws its noise inside the loop.
Each reproduces the generic rung (``_generic.py``) bit for bit.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from . import _constants as C

_M0 = np.uint64(C.PHILOX_M0)
_M1 = np.uint64(C.PHILOX_M1)
_W0 = np.uint64(C.PHILOX_W0)
_W1 = np.uint64(C.PHILOX_W1)
_MASK = np.uint64(C.MASK32)
_S32 = np.uint64(32)
_LC = np.array(C.LOG_COEFFS)
_SC = np.array(C.SIN_COEFFS)
_CC = np.array(C.COS_COEFFS)

_jit = nb.njit(cache=True, nogil=True, inline="always")


@_jit
def philox4x32(c0, c1, c2, c3, k0, k1):
    for r in range(C.PHILOX_ROUNDS):
        p0 = c0 * _M0
        p1 = c2 * _M1
        hi0 = p0 >> _S32
        lo0 = p0 & _MASK
        hi1 = p1 >> _S32
        lo1 = p1 & _MASK
        n0 = hi1 ^ c1 ^ k0
        n2 = hi0 ^ c3 ^ k1
        c0 = n0
        c1 = lo1
        c2 = n2
        c3 = lo0
        if r + 1 < C.PHILOX_ROUNDS:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@_jit
def _u53(hi, lo):
    return ((hi >> np.uint64(5)) << np.uint64(26)) | (lo >> np.uint64(6))


@_jit
def log_of_int53(n):
    e = 0
    x = n
    for s in (32, 16, 8, 4, 2, 1):
        if x >= (np.uint64(1) << np.uint64(s)):
            e += s
            x = x >> np.uint64(s)
    ef = float(e)
    m = float(n) / float(np.uint64(1) << np.uint64(e))
    if m > C.SQRT2:
        m = m * 0.5
        ef = ef + 1.0
    ef = ef - 53.0
    f = (m - 1.0) / (m + 1.0)
    s2 = f * f
    p = _LC[11]
    for i in range(10, -1, -1):
        p = p * s2 + _LC[i]
    logm = 2.0 * f * p
    return ef * C.LN2_HI + (ef * C.LN2_LO + logm)


@_jit
def sincos_2pi(v):
    t = v * 8.0
    o = np.floor(t)
    r = t - o
    oi = int(o)
    if oi & 1:
        a = (1.0 - r) * C.PI_4
    else:
        a = r * C.PI_4
    a2 = a * a
    ps = _SC[9]
    for i in range(8, -1, -1):
        ps = ps * a2 + _SC[i]
    sa = a * ps
    pc = _CC[9]
    for i in range(8, -1, -1):
        pc = pc * a2 + _CC[i]
    ca = pc
    if oi == 1 or oi == 2 or oi == 5 or oi == 6:
        s_val = ca
        c_val = sa
    else:
        s_val = sa
        c_val = ca
    if oi >= 4:
        s_val = -s_val
    if oi >= 2 and oi <= 5:
        c_val = -c_val
    return s_val, c_val


@_jit
def split_key(key):
    k = np.uint64(key)
    return k & _MASK, k >> _S32


@_jit
def uniform_pair(k0, k1, s0, s1, idx):
    """Two U[0,1) doubles at counter ``idx`` of the stream (key words k0,k1; id words s0,s1)."""
    i = np.uint64(idx)
    w0, w1, w2, w3 = philox4x32(i & _MASK, i >> _S32, s0, s1, k0, k1)
    return float(_u53(w0, w1)) * C.TWO_M53, float(_u53(w2, w3)) * C.TWO_M53


@_jit
def uniform_pairs_ahead(U, k0, k1, s0, s1, start):
    """``U[2l], U[2l+1] = uniform_pair(k0, k1, s0, s1, start + l)`` for ``l < U.shape[0] // 2``.

    Straight loop over consecutive counters (it vectorizes); for kernels that draw their
    uniforms a block ahead.  Bit-identical to ``uniform_pair``.
    """
    for l in range(U.shape[0] // 2):
        i = np.uint64(start) + np.uint64(l)
        w0, w1, w2, w3 = philox4x32(i & _MASK, i >> _S32, s0, s1, k0, k1)
        U[2 * l] = float(_u53(w0, w1)) * C.TWO_M53
        U[2 * l + 1] = float(_u53(w2, w3)) * C.TWO_M53


@_jit
def normal_pair(k0, k1, s0, s1, idx):
    """Two standard normals at counter ``idx`` of the stream (Box-Muller)."""
    i = np.uint64(idx)
    w0, w1, w2, w3 = philox4x32(i & _MASK, i >> _S32, s0, s1, k0, k1)
    n = _u53(w0, w1) + np.uint64(1)
    rad = np.sqrt(-2.0 * log_of_int53(n))
    v = float(_u53(w2, w3)) * C.TWO_M53
    s, c = sincos_2pi(v)
    return rad * c, rad * s


_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.uint64(0x3FF0000000000000)
LANES = 64  # counters per vectorized block


def _normal_pairs_lanes(k0, k1, C0, C1, S0, S1, Z0, Z1, W, NF, MB):
    """``Z0[l], Z1[l] = normal_pair`` at counter (C0[l], C1[l]) of stream (S0[l], S1[l]).

    The same numbers as the scalar ``normal_pair``, evaluated lane by lane in straight loops
    that LLVM vectorizes: Philox on integer arrays, then the logarithm with exponent and
    mantissa read from the IEEE bits of the exact ``float(n)`` (``n <= 2**53``: the same
    ``e`` and ``m`` as the shift search of the scalar version), then the same polynomials in
    the same order, with selects instead of branches.  ``W`` (4, B) uint64, ``NF`` (B,)
    float64 and ``MB`` (B,) uint64 are work buffers.
    """
    B = Z0.shape[0]
    for l in range(B):
        c0 = C0[l]
        c1 = C1[l]
        c2 = S0[l]
        c3 = S1[l]
        kk0 = k0
        kk1 = k1
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
        NF[l] = float(_u53(W[0, l], W[1, l]) + np.uint64(1))
    bits = NF.view(np.uint64)
    for l in range(B):
        MB[l] = (bits[l] & _MANT) | _ONE_BITS
    mant = MB.view(np.float64)
    for l in range(B):
        big = mant[l] > C.SQRT2
        m = mant[l] * (0.5 if big else 1.0)  # x * 1.0 and e + 0.0 are exact: same as branching
        ef = (float(np.int64(bits[l] >> np.uint64(52)) - 1023) + (1.0 if big else 0.0)) - 53.0
        f = (m - 1.0) / (m + 1.0)
        s2 = f * f
        p = _LC[11]
        for j in range(10, -1, -1):
            p = p * s2 + _LC[j]
        logm = 2.0 * f * p
        NF[l] = np.sqrt(-2.0 * (ef * C.LN2_HI + (ef * C.LN2_LO + logm)))
    for l in range(B):
        v = float(_u53(W[2, l], W[3, l])) * C.TWO_M53
        t = v * 8.0
        o = np.floor(t)
        r = t - o
        oi = int(o)
        a = ((1.0 - r) if (oi & 1) == 1 else r) * C.PI_4
        a2 = a * a
        ps = _SC[9]
        for j in range(8, -1, -1):
            ps = ps * a2 + _SC[j]
        sa = a * ps
        pc = _CC[9]
        for j in range(8, -1, -1):
            pc = pc * a2 + _CC[j]
        swap = (((oi + 1) >> 1) & 1) == 1  # octants 1, 2, 5, 6
        sv = pc if swap else sa
        cv = sa if swap else pc
        sv = -sv if oi >= 4 else sv
        cv = -cv if (oi >= 2) & (oi <= 5) else cv
        rad = NF[l]
        Z0[l] = rad * cv
        Z1[l] = rad * sv


# Two dispatchers over one definition: fills call the compiled function (inlining it into the
# fill loop made that loop 2x slower), kernels that draw one block per step inline it (a call
# per small block was 1.7x slower there).
normal_pairs_lanes = nb.njit(cache=True, nogil=True, error_model="numpy")(_normal_pairs_lanes)
normal_pairs_lanes_inline = nb.njit(nogil=True, error_model="numpy", inline="always")(
    _normal_pairs_lanes)


@nb.njit(cache=True, nogil=True, inline="always")
def _fill_normal_range(out, k0, k1, s0, s1, start, jlo, jhi):
    """Normals of counter blocks jlo..jhi-1 (relative to ``start``) into ``out``, by lanes."""
    n = out.shape[0]
    C0 = np.empty(LANES, dtype=np.uint64)
    C1 = np.empty(LANES, dtype=np.uint64)
    S0 = np.full(LANES, s0, dtype=np.uint64)
    S1 = np.full(LANES, s1, dtype=np.uint64)
    Z0 = np.empty(LANES)
    Z1 = np.empty(LANES)
    W = np.empty((4, LANES), dtype=np.uint64)
    NF = np.empty(LANES)
    MB = np.empty(LANES, dtype=np.uint64)
    j = jlo
    while j < jhi:
        # Always a full block (contiguous buffers keep the lanes vectorized); a short tail
        # computes a few counters it does not write.
        B = min(LANES, jhi - j)
        for l in range(LANES):
            c = np.uint64(start) + np.uint64(j + l)
            C0[l] = c & _MASK
            C1[l] = c >> _S32
        normal_pairs_lanes(k0, k1, C0, C1, S0, S1, Z0, Z1, W, NF, MB)
        for l in range(B):
            i = 2 * (j + l)
            out[i] = Z0[l]
            if i + 1 < n:
                out[i + 1] = Z1[l]
        j += B


@nb.njit(cache=True, nogil=True)
def fill_normal_blocks(out, key, stream_id, start, jlo, jhi):
    """Normals of counter blocks ``start + jlo .. start + jhi - 1`` into ``out[2 jlo : 2 jhi]``
    (element i from counter start + i//2, slot i%2), by lanes.  Serial and ``nogil``: the
    Stream runs ranges of blocks on ``probspace._pool``; every number depends only on its
    counter, so the result does not depend on the split."""
    k0, k1 = split_key(key)
    s0, s1 = split_key(stream_id)
    _fill_normal_range(out, k0, k1, s0, s1, start, jlo, jhi)
    return 0


@nb.njit(cache=True, nogil=True)
def fill_normal_serial(out, key, stream_id, start):
    """Fill 1-D float64 ``out``: element i from counter start + i//2, slot i%2 (one thread)."""
    return fill_normal_blocks(out, key, stream_id, start, 0, (out.shape[0] + 1) // 2)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _uniform_pairs_lanes(k0, k1, c, s0, s1, U0, U1):
    """``U0[l], U1[l] = uniform_pair`` at counter ``c + l`` (straight loop: it vectorizes)."""
    for l in range(U0.shape[0]):
        i = c + np.uint64(l)
        c0 = i & _MASK
        c1 = i >> _S32
        c2 = s0
        c3 = s1
        kk0 = k0
        kk1 = k1
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
        U0[l] = float(_u53(c0, c1)) * C.TWO_M53
        U1[l] = float(_u53(c2, c3)) * C.TWO_M53


@nb.njit(cache=True, nogil=True)
def fill_uniform_blocks(out, key, stream_id, start, jlo, jhi):
    """Uniforms of counter blocks ``start + jlo .. start + jhi - 1`` into ``out[2 jlo : 2 jhi]``
    (the last block writes one number when ``out`` has odd length), by lanes like the normals."""
    k0, k1 = split_key(key)
    s0, s1 = split_key(stream_id)
    n = out.shape[0]
    U0 = np.empty(LANES)
    U1 = np.empty(LANES)
    j = jlo
    while j < jhi:
        B = min(LANES, jhi - j)
        _uniform_pairs_lanes(k0, k1, np.uint64(start) + np.uint64(j), s0, s1, U0, U1)
        for l in range(B):
            i = 2 * (j + l)
            out[i] = U0[l]
            if i + 1 < n:
                out[i + 1] = U1[l]
        j += B
    return 0


@nb.njit(cache=True, nogil=True)
def fill_uniform_serial(out, key, stream_id, start):
    return fill_uniform_blocks(out, key, stream_id, start, 0, (out.shape[0] + 1) // 2)


@nb.njit(cache=True, nogil=True)
def raw_block(key, stream_id, idx):
    """The four raw 32-bit words at counter ``idx`` (for tests against known answers)."""
    k0, k1 = split_key(key)
    s0, s1 = split_key(stream_id)
    i = np.uint64(idx)
    return philox4x32(i & _MASK, i >> _S32, s0, s1, k0, k1)
