"""Philox4x32-10 fill kernels for CuPy (imported lazily, only when a CuPy array is used).

The device code mirrors the generic rung operation for operation and is compiled with
``--fmad=false`` so that no multiply-add is contracted: the numbers equal the CPU ones bit
for bit.  ``CUDA_SOURCE`` is also prepended to kernels of other packages that draw noise
inside a fused per-trajectory loop.
"""
from __future__ import annotations

import functools

from . import _constants as C


def _coeffs(name, values):
    body = ", ".join(repr(float(v)) for v in values)
    return f"__device__ __constant__ double {name}[{len(values)}] = {{{body}}};\n"


CUDA_SOURCE = (
    "typedef unsigned long long u64;\n"
    + _coeffs("PS_LC", C.LOG_COEFFS) + _coeffs("PS_SC", C.SIN_COEFFS) + _coeffs("PS_CC", C.COS_COEFFS)
    + f"""
__device__ __forceinline__ void ps_philox(u64 &c0, u64 &c1, u64 &c2, u64 &c3, u64 k0, u64 k1) {{
    for (int r = 0; r < {C.PHILOX_ROUNDS}; ++r) {{
        u64 p0 = c0 * {C.PHILOX_M0}ULL, p1 = c2 * {C.PHILOX_M1}ULL;
        u64 n0 = (p1 >> 32) ^ c1 ^ k0, n2 = (p0 >> 32) ^ c3 ^ k1;
        c1 = p1 & 0xFFFFFFFFULL; c3 = p0 & 0xFFFFFFFFULL; c0 = n0; c2 = n2;
        if (r + 1 < {C.PHILOX_ROUNDS}) {{
            k0 = (k0 + {C.PHILOX_W0}ULL) & 0xFFFFFFFFULL; k1 = (k1 + {C.PHILOX_W1}ULL) & 0xFFFFFFFFULL;
        }}
    }}
}}
__device__ __forceinline__ u64 ps_u53(u64 hi, u64 lo) {{ return ((hi >> 5) << 26) | (lo >> 6); }}
__device__ __forceinline__ double ps_log53(u64 n) {{
    int e = 0; u64 x = n;
    for (int s = 32; s >= 1; s >>= 1) {{ if (x >= (1ULL << s)) {{ e += s; x >>= s; }} }}
    double ef = (double)e;
    double m = (double)n / (double)(1ULL << e);
    if (m > {C.SQRT2!r}) {{ m = m * 0.5; ef = ef + 1.0; }}
    ef = ef - 53.0;
    double f = (m - 1.0) / (m + 1.0), s2 = f * f, p = PS_LC[11];
    for (int i = 10; i >= 0; --i) p = p * s2 + PS_LC[i];
    double logm = 2.0 * f * p;
    return ef * {C.LN2_HI!r} + (ef * {C.LN2_LO!r} + logm);
}}
__device__ __forceinline__ void ps_sincos2pi(double v, double &s_out, double &c_out) {{
    double t = v * 8.0, o = floor(t), r = t - o; int oi = (int)o;
    double a = ((oi & 1) ? (1.0 - r) : r) * {C.PI_4!r}, a2 = a * a;
    double ps = PS_SC[9]; for (int i = 8; i >= 0; --i) ps = ps * a2 + PS_SC[i];
    double sa = a * ps;
    double pc = PS_CC[9]; for (int i = 8; i >= 0; --i) pc = pc * a2 + PS_CC[i];
    double ca = pc, sv, cv;
    if (oi == 1 || oi == 2 || oi == 5 || oi == 6) {{ sv = ca; cv = sa; }} else {{ sv = sa; cv = ca; }}
    if (oi >= 4) sv = -sv;
    if (oi >= 2 && oi <= 5) cv = -cv;
    s_out = sv; c_out = cv;
}}
__device__ __forceinline__ void ps_normal_pair(u64 k0, u64 k1, u64 s0, u64 s1, u64 idx, double &z0, double &z1) {{
    u64 c0 = idx & 0xFFFFFFFFULL, c1 = idx >> 32, c2 = s0, c3 = s1;
    ps_philox(c0, c1, c2, c3, k0, k1);
    double rad = sqrt(-2.0 * ps_log53(ps_u53(c0, c1) + 1ULL));
    double sv, cv; ps_sincos2pi((double)ps_u53(c2, c3) * {C.TWO_M53!r}, sv, cv);
    z0 = rad * cv; z1 = rad * sv;
}}
__device__ __forceinline__ void ps_uniform_pair(u64 k0, u64 k1, u64 s0, u64 s1, u64 idx, double &u0, double &u1) {{
    u64 c0 = idx & 0xFFFFFFFFULL, c1 = idx >> 32, c2 = s0, c3 = s1;
    ps_philox(c0, c1, c2, c3, k0, k1);
    u0 = (double)ps_u53(c0, c1) * {C.TWO_M53!r}; u1 = (double)ps_u53(c2, c3) * {C.TWO_M53!r};
}}
"""
)

_FILL = CUDA_SOURCE + r"""
extern "C" __global__ void ps_fill(double* out, long long n, u64 key, u64 sid, u64 start, int normal) {
    long long j = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long npairs = (n + 1) / 2;
    if (j >= npairs) return;
    u64 k0 = key & 0xFFFFFFFFULL, k1 = key >> 32, s0 = sid & 0xFFFFFFFFULL, s1 = sid >> 32;
    double a, b;
    if (normal) ps_normal_pair(k0, k1, s0, s1, start + (u64)j, a, b);
    else ps_uniform_pair(k0, k1, s0, s1, start + (u64)j, a, b);
    out[2 * j] = a;
    if (2 * j + 1 < n) out[2 * j + 1] = b;
}
"""

NVCC_OPTIONS = ("--fmad=false",)


@functools.lru_cache(maxsize=None)
def _kernel():
    import cupy as cp
    return cp.RawKernel(_FILL, "ps_fill", options=NVCC_OPTIONS)


def fill(out, key, stream_id, start, normal):
    import cupy as cp
    n = out.size
    npairs = (n + 1) // 2
    threads = 256
    blocks = max(1, (npairs + threads - 1) // threads)
    _kernel()((blocks,), (threads,), (out, cp.int64(n), cp.uint64(key), cp.uint64(stream_id),
                                       cp.uint64(start), cp.int32(1 if normal else 0)))
    return out
