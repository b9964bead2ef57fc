"""Backend ladder, results, argument helpers, testing helpers, sympy bridge."""
import numpy as np
import pytest
import sympy as sp

import probspace
from probspace import Result, use_backend, backend_for, as_float_array
from probspace.sym import lambdify
from probspace.testing import chisquare_gof, xp_assert_close


def test_backend_ladder(xp):
    import array_api_compat.numpy as cnp
    want = "numba" if xp is cnp else "generic"
    assert backend_for(xp) == want
    with use_backend("generic"):
        assert backend_for(xp) == "generic"
        with use_backend("auto"):
            assert backend_for(xp) == want
    assert probspace.get_backend() == "auto"


def test_forced_rung_mismatch():
    import array_api_strict
    with use_backend("numba"):
        with pytest.raises(TypeError, match="numba"):
            backend_for(array_api_strict)
    with use_backend("cupy"):
        with pytest.raises(TypeError, match="cupy"):
            backend_for(np)
    with pytest.raises(ValueError, match="name"):
        with use_backend("fortran"):
            pass


def test_result_object():
    r = Result(x=np.arange(3), success=True, message="ok")
    assert r.x is r["x"] and r.success
    r.nit = 4
    assert r["nit"] == 4 and "nit" in dir(r)
    assert "message" in repr(r)
    with pytest.raises(AttributeError):
        r.missing


def test_as_float_array(xp):
    x = as_float_array(xp.asarray([1, 2, 3]), "v", xp)
    assert x.dtype == xp.float64
    y = as_float_array(xp.asarray([1.0], dtype=xp.float32), "v", xp)
    assert y.dtype == xp.float32
    with pytest.raises(ValueError, match="v contains NaN"):
        as_float_array(xp.asarray([1.0, float("nan")]), "v", xp)
    with pytest.raises(ValueError, match="w contains infinite"):
        as_float_array(xp.asarray([float("inf")]), "w", xp)


def test_xp_assert_close_checks_namespace_and_dtype(xp):
    a = xp.asarray([1.0, 2.0])
    xp_assert_close(a, xp.asarray([1.0, 2.0 + 1e-12]))
    with pytest.raises(AssertionError, match="dtype"):
        xp_assert_close(xp.astype(a, xp.float32), a)
    with pytest.raises(AssertionError):
        xp_assert_close(a, xp.asarray([1.0, 2.1]))


def test_xp_assert_close_namespace_mismatch():
    import array_api_strict
    with pytest.raises(AssertionError, match="namespace"):
        xp_assert_close(np.asarray([1.0]), array_api_strict.asarray([1.0]))


def test_chisquare_gof_accepts_true_law_rejects_wrong():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    counts = np.bincount(rng.choice(4, size=20_000, p=p), minlength=4)
    res = chisquare_gof(counts, p, alpha=1e-3)
    assert res.df == 3 and 0 <= res.pvalue <= 1
    with pytest.raises(AssertionError, match="rejected"):
        chisquare_gof(counts, np.array([0.45, 0.35, 0.15, 0.05]), alpha=1e-3)
    with pytest.raises(ValueError, match="sum to 1"):
        chisquare_gof(counts, np.array([0.5, 0.5, 0.5, 0.5]))


def test_chisquare_pools_small_bins():
    res = chisquare_gof([990, 9, 1, 0], [0.99, 0.009, 0.0009, 0.0001])
    assert res.merged_bins == 2 and res.df == 2  # expected 990, 9 | 0.9 + 0.1 pooled


def test_sympy_bridge(xp):
    x, y = sp.symbols("x y")
    expr = sp.exp(-x**2 / 2) * sp.cos(y) + sp.sqrt(sp.Abs(x))
    f = lambdify((x, y), expr, xp)
    a = xp.asarray([0.5, -1.0, 2.0])
    b = xp.asarray([0.1, 0.2, 0.3])
    out = f(a, b)
    an, bn = np.asarray([0.5, -1.0, 2.0]), np.asarray([0.1, 0.2, 0.3])
    xp_assert_close(out, xp.asarray(np.exp(-an**2 / 2) * np.cos(bn) + np.sqrt(np.abs(an))), rtol=1e-14)


def test_sympy_bridge_numba_scalar():
    x = sp.symbols("x")
    f = lambdify(x, x**3 - sp.sin(x), backend="numba")
    assert f(0.7) == pytest.approx(0.7**3 - np.sin(0.7), rel=1e-15)


def test_run_isolated_reports_a_crash_instead_of_dying():
    from probspace.testing import run_isolated
    ok = run_isolated("import probspace; print('hello')")
    assert ok.returncode == 0 and "hello" in ok.stdout
    bad = run_isolated("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", expect_ok=False)
    assert bad.crashed and "SIGSEGV" in bad.describe()
    with pytest.raises(AssertionError, match="exited with code 3"):
        run_isolated("raise SystemExit(3)")


def test_numba_boundscheck_env_is_honoured_in_a_fresh_cache(tmp_path):
    # CI's bounds-checked run relies on NUMBA_BOUNDSCHECK=1 with a fresh NUMBA_CACHE_DIR turning
    # an out-of-bounds read into IndexError; check that mechanism itself.
    from probspace.testing import run_isolated
    (tmp_path / "oob_mod.py").write_text(
        "import numba\n@numba.njit(cache=True)\ndef get(a, i):\n    return a[i]\n")
    code = f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, oob_mod
        try:
            oob_mod.get(np.zeros(3), 7)
        except IndexError:
            print("IndexError")
        """
    res = run_isolated(code, env={"NUMBA_BOUNDSCHECK": "1",
                                  "NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert "IndexError" in res.stdout
