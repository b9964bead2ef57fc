"""Philox4x32-10 and its uniform/normal transforms in pure array-API code.

This is the reference rung: every other rung must reproduce it bit for bit.
All integer work is done in uint64 arrays holding 32-bit values.
"""
from __future__ import annotations

from . import _constants as C


def philox4x32(xp, c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding 32-bit words; returns four such arrays."""
    m = C.MASK32
    for r in range(C.PHILOX_ROUNDS):
        p0 = c0 * C.PHILOX_M0
        p1 = c2 * C.PHILOX_M1
        hi0, lo0 = p0 >> 32, p0 & m
        hi1, lo1 = p1 >> 32, p1 & m
        c0, c1, c2, c3 = (hi1 ^ c1 ^ k0), lo1, (hi0 ^ c3 ^ k1), lo0
        if r + 1 < C.PHILOX_ROUNDS:
            k0 = (k0 + C.PHILOX_W0) & m
            k1 = (k1 + C.PHILOX_W1) & m
    return c0, c1, c2, c3


def _bit_length_minus_one(xp, n):
    """floor(log2 n) for uint64 n >= 1, by binary search on shifts."""
    e = xp.zeros(n.shape, dtype=xp.uint64)
    x = n
    for s in (32, 16, 8, 4, 2, 1):
        big = x >= (1 << s)
        e = xp.where(big, e + s, e)
        x = xp.where(big, x >> s, x)
    return e


def log_of_int53(xp, n):
    """log(n * 2**-53) in float64 for uint64 n in [1, 2**53], deterministic arithmetic only."""
    e = _bit_length_minus_one(xp, n)
    ef = xp.astype(e, xp.float64)
    scale = xp.astype(xp.asarray(1, dtype=xp.uint64) << e, xp.float64)
    m = xp.astype(n, xp.float64) / scale  # exact, in [1, 2)
    big = m > C.SQRT2
    m = xp.where(big, m * 0.5, m)
    ef = xp.where(big, ef + 1.0, ef) - 53.0
    f = (m - 1.0) / (m + 1.0)
    s = f * f
    p = xp.full(s.shape, C.LOG_COEFFS[-1], dtype=xp.float64)
    for c in C.LOG_COEFFS[-2::-1]:
        p = p * s + c
    logm = 2.0 * f * p
    return ef * C.LN2_HI + (ef * C.LN2_LO + logm)


def sincos_2pi(xp, v):
    """(sin 2 pi v, cos 2 pi v) for float64 v in [0, 1), deterministic arithmetic only."""
    t = v * 8.0
    o = xp.floor(t)
    r = t - o
    odd = (o == 1.0) | (o == 3.0) | (o == 5.0) | (o == 7.0)
    a = xp.where(odd, 1.0 - r, r) * C.PI_4
    a2 = a * a
    ps = xp.full(a.shape, C.SIN_COEFFS[-1], dtype=xp.float64)
    for c in C.SIN_COEFFS[-2::-1]:
        ps = ps * a2 + c
    sa = a * ps
    pc = xp.full(a.shape, C.COS_COEFFS[-1], dtype=xp.float64)
    for c in C.COS_COEFFS[-2::-1]:
        pc = pc * a2 + c
    ca = pc
    swap = (o == 1.0) | (o == 2.0) | (o == 5.0) | (o == 6.0)
    s_val = xp.where(swap, ca, sa)
    c_val = xp.where(swap, sa, ca)
    s_val = xp.where(o >= 4.0, -s_val, s_val)
    c_val = xp.where((o >= 2.0) & (o <= 5.0), -c_val, c_val)
    return s_val, c_val


def _words(xp, key, stream_id, start, npairs, device=None):
    idx = xp.arange(npairs, dtype=xp.uint64, device=device) + start
    c0 = idx & C.MASK32
    c1 = idx >> 32
    c2 = xp.full(idx.shape, stream_id & C.MASK32, dtype=xp.uint64, device=device)
    c3 = xp.full(idx.shape, stream_id >> 32, dtype=xp.uint64, device=device)
    k0 = xp.asarray(key & C.MASK32, dtype=xp.uint64, device=device)
    k1 = xp.asarray(key >> 32, dtype=xp.uint64, device=device)
    return philox4x32(xp, c0, c1, c2, c3, k0, k1)


def _u53(w_hi, w_lo):
    return ((w_hi >> 5) << 26) | (w_lo >> 6)


def uniform_pairs(xp, key, stream_id, start, npairs, device=None):
    """2*npairs float64 uniforms in [0, 1): pair j = counter start+j, words (0,1) and (2,3)."""
    w0, w1, w2, w3 = _words(xp, key, stream_id, start, npairs, device)
    u0 = xp.astype(_u53(w0, w1), xp.float64) * C.TWO_M53
    u1 = xp.astype(_u53(w2, w3), xp.float64) * C.TWO_M53
    return xp.reshape(xp.stack([u0, u1], axis=1), (-1,))


def normal_pairs(xp, key, stream_id, start, npairs, device=None):
    """2*npairs standard normals by Box-Muller: radius from words (0,1), angle from (2,3)."""
    w0, w1, w2, w3 = _words(xp, key, stream_id, start, npairs, device)
    n = _u53(w0, w1) + 1  # in [1, 2**53]: log is finite
    rad = xp.sqrt(-2.0 * log_of_int53(xp, n))
    v = xp.astype(_u53(w2, w3), xp.float64) * C.TWO_M53
    s, c = sincos_2pi(xp, v)
    return xp.reshape(xp.stack([rad * c, rad * s], axis=1), (-1,))


def spawn_ids(xp, key, stream_id, first, n):
    """Stream ids of children ``first .. first+n-1`` (64-bit, derived by Philox itself)."""
    idx = xp.arange(n, dtype=xp.uint64) + first
    c0 = idx & C.MASK32
    c1 = xp.full(idx.shape, C.SPAWN_TAG, dtype=xp.uint64)
    c2 = xp.full(idx.shape, stream_id & C.MASK32, dtype=xp.uint64)
    c3 = xp.full(idx.shape, stream_id >> 32, dtype=xp.uint64)
    k0 = xp.asarray(key & C.MASK32, dtype=xp.uint64)
    k1 = xp.asarray(key >> 32, dtype=xp.uint64)
    w0, w1, _, _ = philox4x32(xp, c0, c1, c2, c3, k0, k1)
    return (w1 << 32) | w0
