"""CuPy rung of the simplex projection.

Many rows: one thread per row runs Condat's algorithm (the same steps as the Numba rung) in a
RawKernel with a per-row workspace.  Few long rows: the sort-based formula on CuPy arrays,
where CuPy's device sort is efficient.
"""
from __future__ import annotations

import functools
from typing import Any

from probspace.typing import Array

_SOURCE = r"""
// Condat's threshold carried as base + off (base: an input value, |off| < 2 radius), as in
// the Numba rung: exact at any magnitude of the input.  aux holds raw input values.
template<typename T>
__device__ void condat_row(const T* y, long long n, double radius, double* aux, T* out) {
    long long first = 0;
    while (first < n - 1 && isinf((double)y[first]) && y[first] < 0) ++first;
    long long vstart = 0, vend = 1;
    double base = (double)y[first];
    aux[0] = base;
    double off = -radius;
    for (long long i = first + 1; i < n; ++i) {
        double yi = (double)y[i];
        double d = yi - base;
        if (d > off) {
            off += (d - off) / (double)(vend - vstart + 1);
            if (off > d - radius) { aux[vend++] = yi; }
            else { vstart = vend; aux[vend++] = yi; base = yi; off = -radius; }
        }
    }
    for (long long i = vstart - 1; i >= 0; --i) {
        double yi = aux[i];
        double d = yi - base;
        if (d > off) { aux[--vstart] = yi; off += (d - off) / (double)(vend - vstart); }
    }
    long long count = vend - vstart;
    bool changed = true;
    while (changed) {
        changed = false;
        long long k = vstart;
        for (long long j = vstart; j < vend; ++j) {
            double yj = aux[j];
            double d = yj - base;
            if (d > off) aux[k++] = yj;
            else { --count; if (count > 0) off += (off - d) / (double)count; changed = true; }
        }
        vend = k;
    }
    // Michelot's fixed point on the candidates with a Neumaier sum (the Numba rung's polish).
    while (vend > vstart) {
        double s = 0.0, c = 0.0;
        for (long long j = vstart; j < vend; ++j) {
            double x = aux[j] - base;
            double t = s + x;
            c += (fabs(s) >= fabs(x)) ? ((s - t) + x) : ((x - t) + s);
            s = t;
        }
        off = ((s + c) - radius) / (double)(vend - vstart);
        long long m = vstart;
        for (long long j = vstart; j < vend; ++j) if (aux[j] - base > off) aux[m++] = aux[j];
        if (m == vend || m == vstart) break;
        vend = m;
    }
    for (long long i = 0; i < n; ++i) {
        double d = ((double)y[i] - base) - off;
        out[i] = (T)(d > 0.0 ? d : 0.0);
    }
}
extern "C" __global__ void condat_f64(const double* v, long long rows, long long n, double radius,
                                      double* aux, double* out) {
    long long r = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (r < rows) condat_row<double>(v + r * n, n, radius, aux + r * n, out + r * n);
}
extern "C" __global__ void condat_f32(const float* v, long long rows, long long n, double radius,
                                      double* aux, float* out) {
    long long r = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (r < rows) condat_row<float>(v + r * n, n, radius, aux + r * n, out + r * n);
}
"""

ROWS_FOR_KERNEL = 256


@functools.lru_cache(maxsize=None)
def _module() -> Any:
    import cupy as cp
    return cp.RawModule(code=_SOURCE, options=("-std=c++14",),
                        name_expressions=("condat_f64", "condat_f32"))


def project_rows(v2d: Array, radius: float, out2d: Array) -> Array:
    """Project each row of C-contiguous 2-D CuPy array ``v2d`` into ``out2d``."""
    import cupy as cp
    rows, n = v2d.shape
    aux = cp.empty((rows, n), dtype=cp.float64)
    name = "condat_f64" if v2d.dtype == cp.float64 else "condat_f32"
    kern = _module().get_function(name)
    threads = 128
    blocks = (rows + threads - 1) // threads
    kern((blocks,), (threads,), (v2d, cp.int64(rows), cp.int64(n), cp.float64(radius), aux, out2d))
    return out2d
