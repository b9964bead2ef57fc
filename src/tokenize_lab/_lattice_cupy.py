"""CuPy batch sampler: one CUDA thread per text, same algorithms and random draws as Numba.

Imported lazily (only :func:`encode_gpu` needs CuPy).  Text ``t`` uses child stream ``t`` of
the seed and consumes uniforms in the same order as the Numba kernel, so results agree with
the CPU except where a decision falls within a rounding error of the device ``exp``/``log``.
Methods: Viterbi, "perfect" (reservoir) and "gumbel".
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["encode_gpu"]

_SRC = r"""
#define NEG_INF (-1.0/0.0)
__device__ int tl_gather(const int* sym, long long a, int e, const int* base, const int* check,
                         const int* piece, int size, int* cs, int* cp) {
    int m = 0, pos = e - 1, x = sym[a + pos], t = -1;
    if (x >= 0) { t = base[0] + x; if (t >= size || check[t] != 0) t = -1; }
    if (t < 0 || piece[t] < 0) { cs[0] = pos; cp[0] = -1; m = 1; }
    while (t >= 0) {
        int node = t, p = piece[node];
        if (p >= 0) { cs[m] = pos; cp[m] = p; ++m; }
        if (pos == 0) break;
        --pos;
        x = sym[a + pos];
        if (x < 0) break;
        t = base[node] + x;
        if (t >= size || check[t] != node) break;
    }
    return m;
}
extern "C" __global__ void tl_encode(const int* sym, const long long* off, int nt,
    const int* base, const int* check, const int* piece, int size,
    const double* score, double unk_score, double alpha, int method, u64 key, const u64* ids,
    double* Zb, int* routeb, int* rpidb, int* out_pid, int* out_end, long long* out_count) {
    int t = blockDim.x * blockIdx.x + threadIdx.x;
    if (t >= nt) return;
    long long a = off[t];
    int n = (int)(off[t + 1] - a);
    out_count[t] = 0;
    if (n == 0) return;
    double* Z = Zb + a + t; int* route = routeb + a + t; int* rpid = rpidb + a + t;
    int cs[MAXL + 1], cp[MAXL + 1];
    u64 k0 = key & 0xFFFFFFFFULL, k1 = key >> 32, s0 = ids[t] & 0xFFFFFFFFULL, s1 = ids[t] >> 32;
    u64 blk = 0; int slot = 0; double u = 0.0, u0, u1 = 0.0;
    Z[0] = 0.0;
    for (int e = 1; e <= n; ++e) {
        int m = tl_gather(sym, a, e, base, check, piece, size, cs, cp);
        int bj = 0;
        if (method == 0) {
            double best = NEG_INF;
            for (int j = 0; j < m; ++j) {
                double v = cp[j] < 0 ? unk_score : score[cp[j]];
                double c = Z[cs[j]] + v;
                if (c >= best) { best = c; bj = j; }
            }
            Z[e] = best;
        } else {
            double mx = NEG_INF, W = 0.0, gbest = NEG_INF;
            for (int j = 0; j < m; ++j) {
                double v = cp[j] < 0 ? unk_score : score[cp[j]];
                double c = Z[cs[j]] + alpha * v, w;
                if (c > mx) { W = W * exp(mx - c) + 1.0; mx = c; w = 1.0; }
                else { w = exp(c - mx); W += w; }
                bool draw = (method == 1) ? (j > 0) : (m > 1);
                if (draw) {
                    if (slot == 0) { ps_uniform_pair(k0, k1, s0, s1, blk, u0, u1); u = u0; slot = 1; }
                    else { u = u1; slot = 0; blk += 1; }
                    if (method == 1) { if (u * W < w) bj = j; }
                    else {
                        double g = u > 0.0 ? c - log(-log(u)) : NEG_INF;
                        if (g > gbest) { gbest = g; bj = j; }
                    }
                }
            }
            Z[e] = mx + log(W);
        }
        route[e] = cs[bj]; rpid[e] = cp[bj];
    }
    int k = 0, e = n;
    while (e > 0) { out_pid[a + k] = rpid[e]; out_end[a + k] = e; ++k; e = route[e]; }
    for (int i = 0; i < k / 2; ++i) {
        int tp = out_pid[a + i]; out_pid[a + i] = out_pid[a + k - 1 - i]; out_pid[a + k - 1 - i] = tp;
        int te = out_end[a + i]; out_end[a + i] = out_end[a + k - 1 - i]; out_end[a + k - 1 - i] = te;
    }
    out_count[t] = k;
}
"""

_CODES = {None: 0, "perfect": 1, "gumbel": 3}


@functools.lru_cache(maxsize=16)
def _kernel(maxlen):
    import cupy as cp
    from probspace.random._cupy import CUDA_SOURCE, NVCC_OPTIONS
    src = CUDA_SOURCE + f"#define MAXL {int(maxlen)}\n" + _SRC
    return cp.RawKernel(src, "tl_encode", options=NVCC_OPTIONS)


def encode_gpu(model, texts, /, *, alpha=None, method="perfect", seed=None, out="ids"):
    """Encode a batch of texts on the GPU (CuPy): one CUDA thread per text.

    Same contract as :meth:`UnigramModel.encode` for a list, with ``method`` in
    ``{"perfect", "gumbel"}`` (and Viterbi for ``alpha=None``).
    """
    import cupy as cp
    from probspace.random import as_stream
    from ._model import _check_alpha
    alpha = _check_alpha(alpha)
    if alpha is not None and method not in ("perfect", "gumbel"):
        raise ValueError(f"method must be 'perfect' or 'gumbel' on the GPU, got {method!r}")
    if out not in ("pieces", "ids"):
        raise ValueError(f"out must be 'pieces' or 'ids', got {out!r}")
    if isinstance(texts, str):
        raise TypeError("texts must be a list of str")
    texts = list(texts)
    stream = as_stream(seed)
    units, sym, offsets = model._prepare(texts)
    nt = len(texts)
    total = int(offsets[-1])
    d_sym = cp.asarray(sym if sym.size else np.zeros(1, np.int32))
    d_off = cp.asarray(offsets)
    arrs = [cp.asarray(x) for x in model._trie_arrays]
    d_score = cp.asarray(model._scores)
    ids = cp.asarray(stream.child_ids(0, nt).astype(np.uint64)) if nt else cp.zeros(1, cp.uint64)
    Z = cp.empty(total + nt + 1, dtype=cp.float64)
    route = cp.empty(total + nt + 1, dtype=cp.int32)
    rpid = cp.empty(total + nt + 1, dtype=cp.int32)
    out_pid = cp.empty(max(total, 1), dtype=cp.int32)
    out_end = cp.empty(max(total, 1), dtype=cp.int32)
    out_count = cp.zeros(max(nt, 1), dtype=cp.int64)
    threads = 128
    blocks = max(1, (nt + threads - 1) // threads)
    code = 0 if alpha is None else _CODES[method]
    _kernel(model._maxlen)((blocks,), (threads,), (
        d_sym, d_off, cp.int32(nt), *arrs, cp.int32(model._trie_arrays[0].shape[0]), d_score, cp.float64(model.unk_score),
        cp.float64(0.0 if alpha is None else alpha), cp.int32(code), cp.uint64(stream.seed), ids,
        Z, route, rpid, out_pid, out_end, out_count))
    return model._collect(units, offsets, cp.asnumpy(out_pid), cp.asnumpy(out_end),
                          cp.asnumpy(out_count)[:nt], out)
