"""Fused CuPy SDE kernel generated from sympy expressions: one CUDA thread per trajectory.

The thread integrates its path over all steps, drawing normals in-kernel with
``ps_normal_pair`` (``probspace.random._cupy.CUDA_SOURCE``) at the same (path, step) address
as the CPU rungs, so the noise is the same numbers; compiled with ``--fmad=false``.
Imported lazily (only for CuPy input).
"""
from __future__ import annotations

import functools

from probspace.random import _cupy as rc

from ._tableaus import SRA1, SRIW1


def _arr(name, vals):
    return f"__device__ __constant__ double {name}[{len(vals)}] = {{{', '.join(repr(float(v)) for v in vals)}}};\n"


_STEPS = {
    "euler_maruyama": r"""
    sde_f(t, y, F[0]); sde_g(t, y, G[0]);
    for (int j = 0; j < M; ++j) v1[j] = sq * z[j];
    for (int i = 0; i < D; ++i) y[i] = y[i] + F[0][i] * h + gd(G[0], v1, i);
""",
    "heun": r"""
    for (int j = 0; j < M; ++j) v1[j] = sq * z[j];
    sde_f(t, y, F[0]); sde_g(t, y, G[0]);
    for (int i = 0; i < D; ++i) ya[i] = y[i] + F[0][i] * h + gd(G[0], v1, i);
    sde_f(t + h, ya, F[1]); sde_g(t + h, ya, G[1]);
    for (int i = 0; i < D; ++i)
        y[i] = y[i] + (0.5 * h) * (F[0][i] + F[1][i]) + 0.5 * (gd(G[0], v1, i) + gd(G[1], v1, i));
""",
    "milstein": r"""
    for (int j = 0; j < M; ++j) v1[j] = sq * z[j];
    sde_f(t, y, F[0]); sde_g(t, y, G[0]);
#if ITO
    for (int i = 0; i < D; ++i) ya[i] = y[i] + F[0][i] * h + G[0][i] * sq;
    sde_g(t, ya, G[1]);
    for (int i = 0; i < D; ++i) G[2][i] = (G[1][i] - G[0][i]) / sq;
#else
    for (int i = 0; i < D; ++i) { ya[i] = y[i] + G[0][i] * sq; yb[i] = y[i] - G[0][i] * sq; }
    sde_g(t, ya, G[1]); sde_g(t, yb, G[3]);
    for (int i = 0; i < D; ++i) G[2][i] = (G[1][i] - G[3][i]) / (2.0 * sq);
#endif
    for (int i = 0; i < D; ++i) {
        double w = v1[COMP(i)];
        double corr = ITO ? w * w - h : w * w;
        y[i] = y[i] + F[0][i] * h + gd(G[0], v1, i) + 0.5 * G[2][i] * corr;
    }
""",
    "sra1": r"""
    {
    double sh = sqrt(h / 12.0);
    for (int j = 0; j < M; ++j) {
        v1[j] = sq * z[j];
        v2[j] = 0.5 * v1[j] + sh * z[M + j];
        v3[j] = RA_B1[0] * v1[j] + RA_B2[0] * v2[j];
        v4[j] = RA_B1[1] * v1[j] + RA_B2[1] * v2[j];
    }
    sde_f(t, y, F[0]); sde_g(t + RA_C1[0] * h, y, G[0]); sde_g(t + RA_C1[1] * h, y, G[1]);
    for (int i = 0; i < D; ++i) ya[i] = y[i] + (RA_A21 * h) * F[0][i] + RA_B21 * gd(G[0], v2, i);
    sde_f(t + RA_C02 * h, ya, F[1]);
    for (int i = 0; i < D; ++i)
        y[i] = y[i] + h * (RA_AL[0] * F[0][i] + RA_AL[1] * F[1][i]) + gd(G[0], v3, i) + gd(G[1], v4, i);
    }
""",
    "sri": r"""
    {
    double sh = sqrt(h / 12.0);
    for (int j = 0; j < M; ++j) {
        double w = sq * z[j];
        v1[j] = w; v2[j] = (w * w - h) / (2.0 * sq);
        v3[j] = 0.5 * w + sh * z[M + j]; v4[j] = (w * w * w - 3.0 * h * w) / (6.0 * h);
    }
    for (int s = 0; s < 4; ++s) {
        for (int i = 0; i < D; ++i) {
            double x0 = y[i], x1 = y[i]; int c = COMP(i);
            for (int j = 0; j < s; ++j) {
                x0 += SR_A0[s * 4 + j] * h * F[j][i] + SR_B0[s * 4 + j] * v3[c] * G[j][i];
                x1 += SR_A1[s * 4 + j] * h * F[j][i] + SR_B1[s * 4 + j] * sq * G[j][i];
            }
            ya[i] = x0; yb[i] = x1;
        }
        sde_f(t + SR_C0[s] * h, ya, F[s]); sde_g(t + SR_C1[s] * h, yb, G[s]);
    }
    for (int i = 0; i < D; ++i) {
        int c = COMP(i); double acc = y[i];
        for (int s = 0; s < 4; ++s) {
            acc += SR_AL[s] * h * F[s][i];
            acc += (SR_BE1[s] * v1[c] + SR_BE2[s] * v2[c] + SR_BE3[s] * v3[c] + SR_BE4[s] * v4[c]) * G[s][i];
        }
        y[i] = acc;
    }
    }
""",
}

_TEMPLATE = r"""
#define D {D}
#define M {M}
#define K {K}
#define GMAT {GMAT}
#define SCALAR {SCALAR}
#define ITO {ITO}
#define GSZ (GMAT ? D * M : D)
#if SCALAR
#define COMP(i) 0
#else
#define COMP(i) (i)
#endif
{RNG}
{TABLEAUS}
{FUNCS}
__device__ __forceinline__ double gd(const double* g, const double* v, int i) {{
#if GMAT
    double s = 0.0; for (int j = 0; j < M; ++j) s += g[i * M + j] * v[j]; return s;
#elif SCALAR
    return g[i] * v[0];
#else
    return g[i] * v[i];
#endif
}}
extern "C" __global__ void sde_run(const double* y0, double* out, const u64* sids, long long P, u64 key,
                                   double t0, double dt, long long N, double t_end,
                                   const long long* save_idx, int nsave) {{
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= P) return;
    u64 k0 = key & 0xFFFFFFFFULL, k1 = key >> 32, s0 = sids[p] & 0xFFFFFFFFULL, s1 = sids[p] >> 32;
    double y[D], ya[D], yb[D], F[4][D], G[4][GSZ], v1[M], v2[M], v3[M], v4[M], z[K];
    for (int i = 0; i < D; ++i) y[i] = y0[p * D + i];
    int si = 0;
    while (si < nsave && save_idx[si] == 0) {{ for (int i = 0; i < D; ++i) out[(p * nsave + si) * D + i] = y[i]; ++si; }}
    u64 q = ~0ULL; double z0 = 0.0, z1 = 0.0;
    for (long long n = 0; n < N; ++n) {{
        double t = t0 + n * dt;
        double tn = (n + 1 < N) ? t0 + (n + 1) * dt : t_end;
        double h = tn - t, sq = sqrt(h);
        u64 base = (u64)n * (u64)K;
        for (int j = 0; j < K; ++j) {{
            u64 ij = base + (u64)j, qi = ij >> 1;
            if (qi != q) {{ ps_normal_pair(k0, k1, s0, s1, qi, z0, z1); q = qi; }}
            z[j] = (ij & 1ULL) ? z1 : z0;
        }}
        {STEP}
        while (si < nsave && save_idx[si] == n + 1) {{ for (int i = 0; i < D; ++i) out[(p * nsave + si) * D + i] = y[i]; ++si; }}
    }}
}}
"""


def kernel_source(ssde, method, noise, calculus, m, k):
    tab = (_arr("SR_A0", [v for r in SRIW1["A0"] for v in r]) + _arr("SR_A1", [v for r in SRIW1["A1"] for v in r])
           + _arr("SR_B0", [v for r in SRIW1["B0"] for v in r]) + _arr("SR_B1", [v for r in SRIW1["B1"] for v in r])
           + _arr("SR_C0", SRIW1["c0"]) + _arr("SR_C1", SRIW1["c1"]) + _arr("SR_AL", SRIW1["alpha"])
           + _arr("SR_BE1", SRIW1["beta1"]) + _arr("SR_BE2", SRIW1["beta2"]) + _arr("SR_BE3", SRIW1["beta3"])
           + _arr("SR_BE4", SRIW1["beta4"]) + _arr("RA_C1", SRA1["c1"]) + _arr("RA_AL", SRA1["alpha"])
           + _arr("RA_B1", SRA1["beta1"]) + _arr("RA_B2", SRA1["beta2"])
           + f"#define RA_A21 {SRA1['A0'][1][0]!r}\n#define RA_B21 {SRA1['B0'][1][0]!r}\n"
           + f"#define RA_C02 {SRA1['c0'][1]!r}\n")
    return _TEMPLATE.format(D=ssde.d, M=m, K=k, GMAT=int(ssde.gmat), SCALAR=int(noise == "scalar"),
                            ITO=int(calculus == "ito"), RNG=rc.CUDA_SOURCE, TABLEAUS=tab,
                            FUNCS=ssde.cuda_source(), STEP=_STEPS[method])


@functools.lru_cache(maxsize=64)
def _compile(src):
    import cupy as cp
    return cp.RawKernel(src, "sde_run", options=rc.NVCC_OPTIONS)


def run_cupy(ssde, method, noise, calculus, y0a, m, k, sids, key, t0, dt, N, t1, save):
    import cupy as cp
    import numpy as np
    kern = _compile(kernel_source(ssde, method, noise, calculus, m, k))
    d = ssde.d
    Y0 = cp.ascontiguousarray(cp.reshape(cp.asarray(y0a, dtype=cp.float64), (-1, d)))
    P = Y0.shape[0]
    out = cp.empty((P, save.shape[0], d), dtype=cp.float64)
    threads = 128
    blocks = max(1, (P + threads - 1) // threads)
    kern((blocks,), (threads,), (Y0, out, cp.asarray(np.asarray(sids, dtype=np.uint64)), cp.int64(P),
                                 cp.uint64(key), cp.float64(t0), cp.float64(dt), cp.int64(N),
                                 cp.float64(t1), cp.asarray(np.asarray(save, dtype=np.int64)),
                                 cp.int32(save.shape[0])))
    return out
