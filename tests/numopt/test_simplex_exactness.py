"""Issue 14 regressions for the simplex toolkit: exact projection at any magnitude (against an
exact rational reference), out= aliasing rules, float16 / zero-width inputs, entropic_argmin at
tiny temperatures, and minimize_simplex never claiming success without a valid certificate.

Before the fix, ``project_simplex`` at magnitudes around 1e16 returned all zeros (Numba rung)
or the unprojected input (generic rung), and ``minimize_simplex`` reported success at the
uniform point for objectives whose gradients were offset by 1e15 or more.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import probspace
from numopt import (eg_step, entropic_argmin, minimize_simplex, optimality_gap, project_simplex,
                    sparsemax)
from numopt.simplex import _project
from probspace import to_numpy
from probspace.testing import run_isolated

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def exact_projection(v, radius):
    """The projection of the exact values of ``v`` (floats are rationals), in rationals:
    Held–Wolfe–Crowder's sort-based threshold; only the final rounding to float is inexact."""
    finite = sorted((Fraction(float(x)) for x in v if x != -np.inf), reverse=True)
    css, tau = Fraction(0), None
    for j, u in enumerate(finite, 1):
        css += u
        t = (css - Fraction(radius)) / j
        if u > t:
            tau = t
    return np.array([0.0 if x == -np.inf else float(max(Fraction(float(x)) - tau, Fraction(0)))
                     for x in v])


def _cases(rng, count):
    out = []
    for _ in range(count):
        n = int(rng.integers(1, 40))
        mag = float(rng.choice([0.0, 1.0, 1e8, 1e15, 1e16, 1e17, 1e100, 1e300, -1e300, -1e16]))
        scale = 10.0 ** rng.uniform(-3, 3)
        radius = float(rng.choice([1.0, 0.5, 3.0, 1e-3, 1e3]))
        v = mag + scale * rng.normal(size=n)
        if n > 1 and rng.random() < 0.2:
            v[rng.integers(0, n)] = -np.inf
        if n > 3 and rng.random() < 0.2:
            v[:3] = np.max(v)            # ties at the maximum
        out.append((v, radius))
    return out


def _force(monkeypatch, threads):
    for gate in (_project._LONG_ROW_GATE, _project._ROWS_GATE):
        monkeypatch.setattr(gate, "threads", lambda work, max_threads=None: threads)


@pytest.mark.parametrize("path", ["serial", "threads"])
def test_projection_is_exact_at_any_magnitude_numba(monkeypatch, path):
    # Per entry |p - p*| <= 4 eps radius: the kernels work relative to an input value near the
    # maximum, so only O(1) roundings of size eps*radius enter (observed max 0.5 eps radius).
    _force(monkeypatch, 1 if path == "serial" else 2)
    rng = np.random.default_rng(11)
    for v, r in _cases(rng, 150):
        want = exact_projection(v, r)
        got = project_simplex(v, radius=r)
        np.testing.assert_allclose(got, want, rtol=0, atol=4 * EPS64 * r)
        # one long row (parallel chunks when forced) and many rows (row blocks)
        lo = np.min(v[np.isfinite(v)])
        long_v = np.concatenate([v, np.full(3000, lo - (10 * r + 1e-6 * abs(lo)))])
        got = project_simplex(long_v, radius=r)
        np.testing.assert_allclose(got[:v.size], want, rtol=0, atol=4 * EPS64 * r)
        assert np.all(got[v.size:] == 0)
        rows = np.tile(v, (8, 1))
        np.testing.assert_allclose(project_simplex(rows, radius=r), np.tile(want, (8, 1)),
                                   rtol=0, atol=4 * EPS64 * r)


def test_projection_is_exact_at_any_magnitude_generic(xp):
    rng = np.random.default_rng(12)
    with probspace.use_backend("generic"):
        for v, r in _cases(rng, 120):
            want = exact_projection(v, r)
            got = to_numpy(project_simplex(xp.asarray(v), radius=r))
            np.testing.assert_allclose(got, want, rtol=0, atol=4 * EPS64 * r)


@pytest.mark.parametrize("backend", ["auto", "generic"])
def test_projection_float32_is_exact_for_its_inputs(backend):
    rng = np.random.default_rng(13)
    with probspace.use_backend(backend):
        for v, r in _cases(rng, 80):
            with np.errstate(over="ignore"):
                v32 = v.astype(np.float32)
            if not np.any(np.isfinite(v32)) or np.any(v32 == np.inf):
                continue   # out of float32's range
            want = exact_projection(v32.astype(np.float64), r)
            got = project_simplex(v32, radius=r)
            assert got.dtype == np.float32
            np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=4 * EPS32 * r)


def test_huge_magnitudes_regression_examples():
    # Before: all zeros (Numba) or the input itself (generic) from about 1e16 on.
    for s in (1e16, 1e17, 1e300, -1e300):
        v = np.array([0.2, 0.5, 0.1, -1.0]) + s
        want = exact_projection(v, 1.0)
        for backend in ("auto", "generic"):
            with probspace.use_backend(backend):
                got = project_simplex(v)
            np.testing.assert_allclose(got, want, atol=4 * EPS64)
            assert abs(got.sum() - 1.0) <= 4 * EPS64
    # entries far apart at the top of the float range (differences overflow) are fine
    v = np.array([1.7e308, -1.7e308, 1.7e308 * (1 - 2 ** -52)])
    np.testing.assert_array_equal(project_simplex(v), [1.0, 0.0, 0.0])
    with probspace.use_backend("generic"):
        np.testing.assert_array_equal(project_simplex(v), [1.0, 0.0, 0.0])


# ---- out=, dtypes, shapes ---------------------------------------------------------------------

def test_out_may_be_v_itself_for_in_place_projection():
    rng = np.random.default_rng(0)
    for shape, axis in [((50,), -1), ((7, 30), -1), ((7, 30), 0), ((300_000,), -1)]:
        v = rng.normal(size=shape)
        want = project_simplex(v.copy(), axis=axis)
        res = project_simplex(v, axis=axis, out=v)
        assert res is v
        np.testing.assert_array_equal(v, want)


def test_out_partially_overlapping_v_is_refused():
    buf = np.random.default_rng(1).normal(size=11)
    with pytest.raises(ValueError, match="overlaps"):
        project_simplex(buf[:10], out=buf[1:])
    m = np.random.default_rng(2).normal(size=(4, 4))
    with pytest.raises(ValueError, match="overlaps"):
        project_simplex(m, out=m.T)          # same memory, other layout
    assert np.isfinite(buf).all()


def test_out_read_only_wrong_dtype_or_namespace_is_refused():
    v = np.array([0.1, 0.7, 0.2])
    ro = np.empty(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        project_simplex(v, out=ro)
    with pytest.raises(ValueError, match="dtype float64"):
        project_simplex(v, out=np.empty(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        project_simplex(v, out=np.empty(4))


def test_float16_is_refused_with_a_type_error():
    h = np.array([0.1, 0.7, 0.2], dtype=np.float16)
    for backend in ("auto", "generic"):
        with probspace.use_backend(backend):
            with pytest.raises(TypeError, match="v has dtype float16"):
                project_simplex(h)
            with pytest.raises(TypeError, match="c has dtype float16"):
                entropic_argmin(h, 1.0)
            with pytest.raises(TypeError, match="p has dtype float16"):
                eg_step(h, np.ones(3), 0.1)
            with pytest.raises(TypeError, match="float16"):
                sparsemax(h)


def test_zero_width_inputs(xp):
    for backend in ("auto", "generic"):
        with probspace.use_backend(backend):
            empty_batch = xp.ones((0, 5))
            assert tuple(project_simplex(empty_batch).shape) == (0, 5)
            assert tuple(project_simplex(xp.ones((5, 0)), axis=0).shape) == (5, 0)
            assert tuple(entropic_argmin(empty_batch, 0.3).shape) == (0, 5)
            assert tuple(eg_step(empty_batch, empty_batch, 0.1).shape) == (0, 5)
            for fn in (lambda a: project_simplex(a), lambda a: entropic_argmin(a, 1.0),
                       lambda a: eg_step(a, a, 0.1), lambda a: optimality_gap(a, a)):
                with pytest.raises(ValueError, match="length 0 along axis"):
                    fn(xp.ones((3, 0)))
                with pytest.raises(ValueError, match="length 0 along axis"):
                    fn(xp.ones((0,)))


# ---- entropic_argmin at tiny temperature ------------------------------------------------------

def test_entropic_argmin_tends_to_uniform_on_the_argmin_set(xp):
    c = xp.asarray([-1.0, 0.3, -1.0, 2.0, float("inf"), -1.0 + 1e-12])
    for tau in (1e-15, 1e-100, 1e-300, 5e-324):
        p = to_numpy(entropic_argmin(c, tau))
        assert not np.any(np.isnan(p))
        np.testing.assert_array_equal(p, [0.5, 0, 0.5, 0, 0, 0])
    # mid temperature: the closed form softmax(-c/tau), checked in high precision
    import mpmath as mp
    mp.mp.dps = 50
    cs = [-1.0, 0.3, -1.0, 2.0, -1.0 + 1e-12]
    for tau in (1e-12, 0.01, 1.0):
        z = [mp.e ** (-mp.mpf(x) / tau) for x in cs]
        want = np.array([float(zi / sum(z)) for zi in z])
        got = to_numpy(entropic_argmin(xp.asarray(cs), tau))
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    # costs of either sign at the top of the range: no overflow to NaN
    got = to_numpy(entropic_argmin(xp.asarray([1e308, -1e308, -1e308]), 1e-300))
    np.testing.assert_array_equal(got, [0.0, 0.5, 0.5])


# ---- minimize_simplex's certificate ------------------------------------------------------------

@pytest.mark.parametrize("method", ["eg", "pgd", "frank_wolfe"])
def test_minimize_simplex_never_reports_success_without_a_certificate(method):
    q = np.array([0.1, 0.7, 0.2, 0.0])
    for shift in (0.0, 1e6, 1e15, 1e16, 1e20):
        f = (lambda s: lambda p: float(s * p.sum() + np.sum((p - q) ** 2)))(shift)
        g = (lambda s: lambda p: s + 2 * (p - q))(shift)
        res = minimize_simplex(f, g, np.ones(4) / 4, method=method, maxiter=3000, tol=1e-9)
        assert res.gap >= 0
        if res.success:
            # a success is a true certificate: on the simplex and near the minimizer q
            assert np.all(res.x >= 0) and abs(res.x.sum() - 1) <= 64 * EPS64
            assert np.sum((res.x - q) ** 2) <= 1e-8
        if shift >= 1e15:
            # gradients rounded to 0.125 or coarser cannot certify a gap of 1e-9
            assert not res.success and res.status in (1, 6), (shift, res.message)
        if shift == 0.0 and method != "eg":
            assert res.success


def test_optimality_gap_has_no_cancellation_at_large_gradients():
    p = np.array([0.25, 0.25, 0.5])
    g = 1e16 + np.array([0.0, 4.0, 8.0])          # exactly representable
    assert optimality_gap(p, g) == 0.25 * 4.0 + 0.5 * 8.0
    # off the simplex the definition <p, g> - min g still holds
    p2 = np.array([0.5, 0.5, 0.5])
    np.testing.assert_allclose(optimality_gap(p2, np.array([1.0, 2.0, 3.0])), 3.0 - 1.0)


# ---- memory safety under bounds checking (subprocess) ------------------------------------------

@pytest.mark.slow   # compiles every projection kernel with bounds checks (about a minute)
def test_projection_kernels_stay_in_bounds_on_adversarial_rows(tmp_path):
    code = """
        import numpy as np
        from numopt import project_simplex
        from numopt.simplex import _project
        rng = np.random.default_rng(0)
        bad = [np.array([np.nan, 1.0]), np.array([np.inf, 0.0]), np.array([-np.inf, -np.inf]),
               np.array([1e308, -1e308, np.nan]), np.array([-np.inf, 5.0, np.inf])]
        good = [np.array([-np.inf, 1e300, -1e300]), np.full(7, 1e16), np.array([5e-324, 0.0]),
                rng.normal(size=1000) * 1e200, np.array([-1e308, 1e308])]
        for threads in (1, 2):
            for gate in (_project._LONG_ROW_GATE, _project._ROWS_GATE):
                gate.threads = lambda work, max_threads=None, t=threads: t
            for v in bad:
                long = [np.concatenate([v, np.zeros(400_000)])] if np.any(np.isnan(v) | (v == np.inf)) else []
                for arr in [v, np.tile(v, (5, 1))] + long:
                    try:
                        project_simplex(arr)
                    except ValueError:
                        pass
                    else:
                        raise SystemExit("accepted a bad row")
            for v in good:
                for arr in (v, np.tile(v, (5, 1))):
                    p = project_simplex(arr)
                    assert np.allclose(p.sum(axis=-1), 1.0), p
        print("OK")
    """
    # Numba's cache does not key on NUMBA_BOUNDSCHECK: a fresh cache forces checked kernels
    res = run_isolated(code, timeout=900, env={"NUMBA_BOUNDSCHECK": "1",
                                              "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")})
    assert "OK" in res.stdout, res.describe()


# ---- property test over extreme values (hypothesis) -------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
@hypothesis.given(
    v=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64),
                         st.floats(min_value=-1e3, max_value=1e3),
                         st.just(float("-inf"))), min_size=1, max_size=30),
    radius=st.sampled_from([1.0, 1e-300, 1e-3, 7.5, 1e300]))
def test_projection_matches_the_rational_reference_on_extreme_values(v, radius):
    v = np.array(v)
    hypothesis.assume(np.any(np.isfinite(v)))
    want = exact_projection(v, radius)
    for backend in ("auto", "generic"):
        with probspace.use_backend(backend):
            got = project_simplex(v, radius=radius)
        np.testing.assert_allclose(got, want, rtol=0, atol=4 * EPS64 * radius)


@pytest.mark.gpu
def test_cupy_condat_kernel_is_exact_at_any_magnitude():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(14)
    cases = _cases(rng, 60)
    for v, r in cases:
        want = exact_projection(v, r)
        rows = np.tile(v, (300, 1))          # >= ROWS_FOR_KERNEL rows: the RawKernel
        got = cp.asnumpy(project_simplex(cp.asarray(rows), radius=r, method="condat"))
        np.testing.assert_allclose(got, np.tile(want, (300, 1)), rtol=0, atol=4 * EPS64 * r)
        got1 = cp.asnumpy(project_simplex(cp.asarray(v), radius=r))   # few rows: sort rung
        np.testing.assert_allclose(got1, want, rtol=0, atol=4 * EPS64 * r)
