"""The fused CUDA kernel generated from sympy: run on a GPU (gpu marker) and, everywhere, its
exact source compiled as host C++ (g++, no contraction) against the generic rung."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp

import probspace

from solvers import solve_sde
from solvers.sde._noise import path_ids
from solvers.sde._sympy import SymbolicSDE
from probspace.random import Stream

t_, x_, y_ = sp.symbols("t x y")

CASES = {
    "em_diag": ("euler_maruyama", "diagonal", "ito", [0.5 * x_, -0.3 * y_ + sp.sin(t_)],
                [0.4 * x_, 0.2 * sp.cos(y_)]),
    "heun_general": ("heun", "general", "stratonovich", [0.5 * x_, -0.3 * y_],
                     sp.Matrix([[0.4 * x_, 0.1], [0.2 * y_, 0.3 * x_]])),
    "milstein_strat_scalar": ("milstein", "scalar", "stratonovich", [0.5 * x_, -0.3 * y_],
                              [0.4 * x_, 0.2 * y_]),
    "sra1": ("sra1", "additive", "ito", [-x_ + sp.sin(t_), -0.3 * y_ ** 3],
             [0.5 + 0 * t_, 0.2 * sp.cos(t_)]),
    "sri_diag": ("sri", "diagonal", "ito", [0.5 * x_, -0.3 * y_ + sp.sin(t_)],
                 [0.4 * x_, 0.2 * sp.cos(y_)]),
}

_SHIM = r"""
#include <math.h>
#define __device__
#define __forceinline__ inline
#define __constant__
#define __global__
struct ps_dim3 { long long x; };
static ps_dim3 blockDim = {1}, blockIdx = {0}, threadIdx = {0};
"""

_DRIVER = r"""
extern "C" void host_run(const double* y0, double* out, const u64* sids, long long P, u64 key,
                         double t0, double dt, long long N, double t_end, const long long* save_idx, int nsave) {
    for (long long p = 0; p < P; ++p) { blockIdx.x = p; sde_run(y0, out, sids, P, key, t0, dt, N, t_end, save_idx, nsave); }
}
"""


def _host_kernel(tmp_path, src):
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("g++ not available")
    cu = tmp_path / "k.cpp"
    cu.write_text(_SHIM + src + _DRIVER)
    so = tmp_path / "k.so"
    r = subprocess.run([cxx, "-O1", "-ffp-contract=off", "-fPIC", "-shared", str(cu), "-o", str(so)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    lib = ctypes.CDLL(str(so))
    f = lib.host_run
    P = ctypes.c_void_p
    f.argtypes = [P, P, P, ctypes.c_longlong, ctypes.c_uint64, ctypes.c_double, ctypes.c_double,
                  ctypes.c_longlong, ctypes.c_double, P, ctypes.c_int]
    return f


@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_source_on_host_equals_generic_rung(case, tmp_path):
    from solvers.sde._cupy import kernel_source
    method, noise, calc, f, g = CASES[case]
    ssde = SymbolicSDE(f, g, (t_, [x_, y_]), noise)
    m = ssde.m
    k = 2 * m if method in ("sra1", "sri") else m
    run = _host_kernel(tmp_path, kernel_source(ssde, method, noise, calc, m, k))
    Pn, N, dt = 24, 20, 0.05
    Y0 = np.ascontiguousarray(np.tile([1.0, 0.5], (Pn, 1)))
    save = np.arange(N + 1, dtype=np.int64)
    out = np.empty((Pn, N + 1, 2))
    sids = path_ids(Stream(5), 0, Pn)
    run(Y0.ctypes.data, out.ctypes.data, sids.ctypes.data, Pn, 5, 0.0, dt, N, 1.0,
        save.ctypes.data, N + 1)
    # against the generic rung (itself checked against the Numba fused kernel in test_sde.py)
    with probspace.use_backend("generic"):
        ref = solve_sde(f, g, (0.0, 1.0), Y0, method=method, noise=noise, calculus=calc, dt=dt,
                        seed=5, symbols=(t_, [x_, y_]))
    np.testing.assert_allclose(out, ref.y, rtol=1e-12, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_cupy_fused_kernel_equals_numba_fused(case):
    cp = pytest.importorskip("cupy")
    method, noise, calc, f, g = CASES[case]
    Y0 = np.tile([1.0, 0.5], (300, 1))
    kw = dict(method=method, noise=noise, calculus=calc, dt=0.05, seed=5, symbols=(t_, [x_, y_]))
    ref = solve_sde(f, g, (0.0, 1.0), Y0, **kw)
    r = solve_sde(f, g, (0.0, 1.0), cp.asarray(Y0), **kw)
    assert r.backend == "cupy"
    assert isinstance(r.y, cp.ndarray)
    # GPU and CPU libm differ by an ulp in sin/cos/exp; everything else is the same arithmetic
    np.testing.assert_allclose(cp.asnumpy(r.y), ref.y, rtol=1e-11, atol=1e-12)
