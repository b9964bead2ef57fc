"""The fused CuPy kernel of solve_ode (sympy right-hand sides).

On a GPU: the CuPy rung against the generic rung on CuPy arrays and the Numba rung.  Without
one: the generated CUDA source must compile with nvcc, and the same member routine, compiled
as C++ on the host, must reproduce the Numba kernel (it mirrors it step for step)."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

from probspace import use_backend  # noqa: E402
from solvers import ode_from_sympy, per_member, solve_ode  # noqa: E402
from solvers.ode._common import Controller  # noqa: E402
from solvers.ode._cupy import cuda_source, host_source  # noqa: E402
from solvers.ode._generic import fixed_grid  # noqa: E402
from solvers.ode._tableaus import TABLEAUS  # noqa: E402

_x, _y, _z, _rho, _t = sp.symbols("x y z rho t")
# Lorenz with a small time-dependent forcing, so that t, a per-member parameter, sin and pi
# all go through the code generators
LORENZ = ode_from_sympy([10 * (_y - _x), _x * (_rho - _z) - _y + sp.Rational(1, 10) * sp.sin(sp.pi * _t),
                         _x * _y - sp.Rational(8, 3) * _z], [_x, _y, _z], _t, [_rho])


def _problem(B=16):
    rho = np.linspace(10.0, 40.0, B)
    y0 = np.tile([1.0, 1.0, 1.0], (B, 1)) + 0.1 * np.arange(B)[:, None]
    return y0, rho


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_cuda_source_compiles(tmp_path):
    for method in ("dopri5", "rk4"):
        src = tmp_path / f"k_{method}.cu"
        src.write_text(cuda_source(LORENZ, TABLEAUS[method]))
        r = subprocess.run(["nvcc", "-ptx", "-arch=sm_80", "--fmad=false", str(src), "-o",
                            str(tmp_path / f"k_{method}.ptx")], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        ptx = (tmp_path / f"k_{method}.ptx").read_text()
        assert "ps_ode_adaptive" in ptx and "ps_ode_fixed" in ptx


def _compile_host(tmp_path, method):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / f"h_{method}.cpp"
    src.write_text(host_source(LORENZ, TABLEAUS[method]))
    lib = tmp_path / f"h_{method}.so"
    # -ffp-contract=off: no fused multiply-add, like the Numba kernel and nvcc --fmad=false
    r = subprocess.run([cxx, "-O2", "-shared", "-fPIC", "-ffp-contract=off", str(src), "-o",
                        str(lib)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return ctypes.CDLL(str(lib))


def _p(a):
    return a.ctypes.data_as(ctypes.c_void_p)


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_host_emulation_adaptive_matches_numba(tmp_path, method):
    lib = _compile_host(tmp_path, method)
    y0, rho = _problem()
    B, d = y0.shape
    te = np.linspace(0.0, 3.0, 31)
    ref = solve_ode(LORENZ, (0.0, 3.0), y0, args=(per_member(rho),), t_eval=te, rtol=1e-8, atol=1e-10,
                    method=method)
    assert ref.backend == "numba"
    yout = np.full((B, te.size, d), np.nan)
    status = np.zeros(B, dtype=np.int32)
    nfev, nsteps, nrej = (np.zeros(B, dtype=np.int64) for _ in range(3))
    t_final, y_final = np.zeros(B), np.zeros((B, d))
    params = np.ascontiguousarray(rho[None, :])
    D, LL = ctypes.c_double, ctypes.c_longlong
    lib.host_adaptive(_p(np.ascontiguousarray(y0)), _p(params), LL(B), D(0.0), D(3.0), _p(te),
                      LL(te.size), LL(1), D(1e-8), D(1e-10), D(-1.0), D(3.0), LL(100_000),
                      D(Controller(4).expo1), _p(yout), _p(status), _p(nfev), _p(nsteps),
                      _p(nrej), _p(t_final), _p(y_final))
    np.testing.assert_array_equal(status, ref.status)
    np.testing.assert_array_equal(nsteps, ref.nsteps)
    np.testing.assert_array_equal(nrej, ref.nreject)
    np.testing.assert_array_equal(nfev, ref.nfev)
    np.testing.assert_allclose(yout, ref.y, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(y_final, ref.y_final, rtol=1e-9, atol=1e-9)


def test_host_emulation_fixed_matches_numba(tmp_path):
    lib = _compile_host(tmp_path, "rk4")
    y0, rho = _problem(5)
    B, d = y0.shape
    t_out = np.linspace(0.0, 1.0, 11)
    ref = solve_ode(LORENZ, (0.0, 1.0), y0, args=(per_member(rho),), method="rk4", dt0=0.01, t_eval=t_out)
    assert ref.backend == "numba"
    ts, hs, ks, n_start = fixed_grid(0.0, t_out, 0.01)
    yout = np.full((B, t_out.size, d), np.nan)
    status = np.zeros(B, dtype=np.int32)
    nfev, nsteps = np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64)
    t_final, y_final = np.zeros(B), np.zeros((B, d))
    LL = ctypes.c_longlong
    lib.host_fixed(_p(np.ascontiguousarray(y0)), _p(np.ascontiguousarray(rho[None, :])), LL(B),
                   _p(ts), _p(hs), _p(ks), LL(ts.size), LL(n_start), LL(t_out.size),
                   ctypes.c_int(0), _p(yout), _p(status), _p(nfev), _p(nsteps), _p(t_final),
                   _p(y_final))
    np.testing.assert_array_equal(status, 0)
    np.testing.assert_array_equal(nsteps, ref.nsteps)
    np.testing.assert_allclose(yout, ref.y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_sympy_rungs_agree_numpy(method):
    y0, rho = _problem(6)
    te = np.linspace(0.0, 2.0, 5)
    kw = dict(t_eval=te, rtol=1e-9, atol=1e-11, method=method)
    r = solve_ode(LORENZ, (0.0, 2.0), y0, args=(per_member(rho),), **kw)
    with use_backend("generic"):
        g = solve_ode(LORENZ, (0.0, 2.0), y0, args=(per_member(rho),), **kw)
    assert r.backend == "numba" and g.backend == "generic"
    np.testing.assert_array_equal(r.nsteps, g.nsteps)
    np.testing.assert_allclose(r.y, g.y, rtol=1e-9, atol=1e-9)


def test_sympy_backward_in_time():
    # run forward to t = 1, then back to 0 on each rung: recovers y0 (time-dependent forcing)
    y0, rho = _problem(4)
    fwd = solve_ode(LORENZ, (0.0, 1.0), y0, args=(per_member(rho),), rtol=1e-11, atol=1e-12)
    y1 = np.asarray(fwd.y[:, -1])
    back = solve_ode(LORENZ, (1.0, 0.0), y1, args=(per_member(rho),), rtol=1e-11, atol=1e-12)
    with use_backend("generic"):
        back_g = solve_ode(LORENZ, (1.0, 0.0), y1, args=(per_member(rho),), rtol=1e-11, atol=1e-12)
    assert back.backend == "numba" and back_g.backend == "generic"
    # the Lorenz flow contracts volume at rate 13.7 forward, so backward it amplifies the
    # forward error (~1e-11) by up to ~e^13.7: recovery to ~1e-4 is the expected accuracy
    np.testing.assert_allclose(back.y[:, -1], y0, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(back.nsteps, back_g.nsteps)
    # rungs differ by rounding only, amplified backward by the same factor
    np.testing.assert_allclose(back.y, back_g.y, rtol=1e-6, atol=1e-6)


def test_sympy_bad_symbols():
    with pytest.raises(ValueError, match="neither"):
        ode_from_sympy([_x * _rho], [_x])
    with pytest.raises(ValueError, match="state_symbols"):
        ode_from_sympy([_x, _y], [_x])


@pytest.mark.gpu
def test_cupy_kernel_matches_generic_and_numba():
    import array_api_compat.cupy as ccp
    cp = pytest.importorskip("cupy")
    y0, rho = _problem(256)
    te = np.linspace(0.0, 2.0, 21)
    ref = solve_ode(LORENZ, (0.0, 2.0), y0, args=(per_member(rho),), t_eval=te, rtol=1e-8, atol=1e-10)
    yc = ccp.asarray(y0)
    r = solve_ode(LORENZ, (0.0, 2.0), yc, args=(per_member(ccp.asarray(rho)),), t_eval=te, rtol=1e-8,
                  atol=1e-10)
    assert r.backend == "cupy" and isinstance(r.y, cp.ndarray)
    with use_backend("generic"):
        g = solve_ode(LORENZ, (0.0, 2.0), yc, args=(per_member(ccp.asarray(rho)),), t_eval=te, rtol=1e-8,
                      atol=1e-10)
    np.testing.assert_array_equal(cp.asnumpy(r.nsteps), ref.nsteps)
    np.testing.assert_allclose(cp.asnumpy(r.y), ref.y, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(cp.asnumpy(r.y), cp.asnumpy(g.y), rtol=1e-8, atol=1e-8)
    rf = solve_ode(LORENZ, (0.0, 1.0), yc, args=(per_member(ccp.asarray(rho)),), method="rk4", dt0=0.01)
    ref_f = solve_ode(LORENZ, (0.0, 1.0), y0, args=(per_member(rho),), method="rk4", dt0=0.01)
    np.testing.assert_allclose(cp.asnumpy(rf.y), ref_f.y, rtol=1e-10, atol=1e-10)
