"""EXACT: closed forms, scipy's multivariate normal CDF, the face-density gradient formula,
finite differences, sympy, the integration-error estimate, stability, array-API genericity."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sc
import scipy.stats as st
import sympy as sp

import probspace
from numopt.losses import exact
from numopt.losses._special import log_ndtr, ndtr
from probspace.testing import finite_difference_grad, xp_assert_close


def sympy_value_grad(expr, syms, values):
    """Value and gradient of sympy ``expr`` at ``values`` (high-precision evalf)."""
    subs = {s: sp.Float(float(v), 30) for s, v in zip(syms, values)}
    val = float(expr.evalf(30, subs=subs))
    grad = np.array([float(sp.diff(expr, s).evalf(30, subs=subs)) for s in syms])
    return val, grad


def fd_grad(loss, z, *args, **kw):
    """Central differences of the scalar ``loss(z, *args, **kw)`` (float64)."""
    return finite_difference_grad(lambda zz: float(loss(zz, *args, **kw)), np.array(z, float))


def _orthant_scipy(a):
    """P(Z < a), Z ~ N(0, I + 11^T), by scipy's Genz integrator (independent of our code)."""
    d = len(a)
    cov = np.eye(d) + np.ones((d, d))
    return st.multivariate_normal(np.zeros(d), cov, abseps=1e-10, releps=1e-10,
                                  maxpts=2_000_000, seed=0).cdf(a)


def test_binary_closed_form():
    # Delta = 1, sigma = .5 -> P(correct) = Phi(1 / (0.5 sqrt 2)) = 0.92135.
    p = 1 - float(exact(np.array([1.0]), np.array([1]), sigma=0.5))
    assert abs(p - 0.92135) < 5e-6
    assert abs(p - sc.ndtr(math.sqrt(2))) < 1e-15
    # label 0 mirrors; soft labels interpolate linearly.
    z = np.array([0.7, -1.3])
    v0 = exact(z, np.array([0, 0]), reduction="none")
    np.testing.assert_allclose(v0, sc.ndtr(z / math.sqrt(2)), rtol=1e-15)
    vt = exact(z, np.array([0.3, 0.3]), reduction="none")
    v1 = exact(z, np.array([1, 1]), reduction="none")
    np.testing.assert_allclose(vt, 0.3 * v1 + 0.7 * v0, rtol=1e-15)


def test_binary_sympy_gradient():
    zs = sp.symbols("z0:3")
    t = [1.0, 0.0, 0.4]
    sigma = 0.8
    Phi = lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2  # noqa: E731
    expr = sum(ti * Phi(-zi / (sigma * sp.sqrt(2))) + (1 - ti) * Phi(zi / (sigma * sp.sqrt(2)))
               for zi, ti in zip(zs, t)) / 3
    z = np.array([0.4, -1.1, 2.0])
    val, g_sym = sympy_value_grad(expr, zs, z)
    v, g = exact(z, np.array(t), sigma=sigma, return_grad=True)
    assert abs(float(v) - val) < 1e-14
    np.testing.assert_allclose(g, g_sym, rtol=1e-12)


@pytest.mark.parametrize("C", [2, 3, 5])
def test_equal_logits_give_one_over_C(C):
    v = exact(np.zeros((2, C)), np.array([0, C - 1]), n_points=64, reduction="none")
    np.testing.assert_allclose(1 - v, 1 / C, rtol=0, atol=1e-12)


def test_three_class_oracle_and_scipy():
    v, err = exact(np.array([[1.0, 0.0, -1.0]]), np.array([0]), return_error=True)
    assert abs((1 - float(v)) - 0.72875) < 5e-6
    assert abs((1 - float(v)) - _orthant_scipy(np.array([1.0, 2.0]))) < 1e-8
    assert float(err) < 1e-9


def test_two_classes_equal_binary():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 2)) * 2
    y = rng.integers(0, 2, size=6)
    multi = exact(z, y, sigma=0.7, reduction="none")
    binary = exact(z[:, 1] - z[:, 0], y.astype(float), sigma=0.7, reduction="none")
    np.testing.assert_allclose(multi, binary, rtol=1e-12, atol=1e-15)


def test_multiclass_vs_scipy_random():
    rng = np.random.default_rng(1)
    for C in (3, 4, 5):
        z = rng.normal(size=(3, C)) * 1.5
        y = rng.integers(0, C, size=3)
        sigma = 0.9
        v = exact(z, y, sigma=sigma, n_points=64, reduction="none")
        for i in range(3):
            a = (z[i, y[i]] - np.delete(z[i], y[i])) / sigma
            assert abs((1 - v[i]) - _orthant_scipy(a)) < 2e-7


def test_gradient_face_formula_and_fd():
    # dP/da_i = phi(a_i / sqrt 2) / sqrt 2 * P(Z' < a_{-i} - a_i / 2), Z' ~ N(0, I + 11^T / 2):
    # the density on the face Z_i = a_i times the conditional orthant probability (scipy).
    z = np.array([[0.8, 0.1, -0.4, 0.3]])
    y = np.array([0])
    sigma = 1.3
    _, g = exact(z, y, sigma=sigma, n_points=64, return_grad=True)
    a = (z[0, 0] - z[0, 1:]) / sigma
    dP = []
    for i in range(3):
        rest = np.delete(a, i) - a[i] / 2
        cov = np.eye(2) + 0.5 * np.ones((2, 2))
        cond = st.multivariate_normal(np.zeros(2), cov, abseps=1e-11, releps=1e-11,
                                      seed=0).cdf(rest)
        dP.append(st.norm.pdf(a[i] / math.sqrt(2)) / math.sqrt(2) * cond)
    dP = np.array(dP)
    expect = np.concatenate([[-dP.sum()], dP]) / sigma
    np.testing.assert_allclose(g[0], expect, rtol=1e-6, atol=1e-9)
    rng = np.random.default_rng(2)
    zz = rng.normal(size=(4, 5)) * 2
    yy = np.array([0, 4, 2, 1])
    g2 = exact(zz, yy, sigma=0.6, reduction="sum", return_grad=True)[1]
    np.testing.assert_allclose(g2, fd_grad(exact, zz, yy, sigma=0.6, reduction="sum"),
                               rtol=1e-6, atol=1e-9)


def test_error_estimate_is_honest():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(20, 8)) * 3
    y = rng.integers(0, 8, size=20)
    ref = exact(z, y, n_points=256, reduction="none")
    prev = np.inf
    for n in (8, 16, 32, 64):
        v, err = exact(z, y, n_points=n, reduction="none", return_error=True)
        true_err = np.abs(v - ref)
        # The 2n-rule comparison estimates the n-rule error: never far below the truth.
        assert np.all(true_err <= 2 * err + 1e-13)
        assert true_err.max() < prev
        prev = true_err.max()
    assert prev < 1e-10


def test_huge_logits_and_float32():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, -5.0], [3.0, 3.0, -1e4]])
    y = np.array([0, 0, 1])
    v, g = exact(z, y, reduction="none", return_grad=True)
    np.testing.assert_allclose(v, [0.0, 1.0, 0.5], atol=1e-12)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[:2], 0.0, atol=1e-300)
    v32, g32 = exact(z.astype(np.float32), y, reduction="none", return_grad=True)
    assert v32.dtype == np.float32 and g32.dtype == np.float32
    np.testing.assert_allclose(v32, v, atol=1e-6)
    # tiny losses keep relative accuracy (1 - P computed without cancellation)
    vs = exact(np.array([[12.0, 0.0, 0.0]]), np.array([0]), reduction="none")
    expect = _orthant_complement_small(12.0)
    assert abs(vs[0] / expect - 1) < 1e-6


def _orthant_complement_small(a):
    # 1 - P(Z1 < a, Z2 < a) = 2 Phi(-a/sqrt2) - P(Z1 > a, Z2 > a); the last term is ~1e-33 here.
    return 2 * sc.ndtr(-a / math.sqrt(2))


def test_toy_problem_exact_finds_accuracy_region():
    # On the 9098 toy data the EXACT minimiser (small sigma) lies inside (0, 0.25), where
    # accuracy is 100%, unlike cross-entropy (0.70009) and hinge ([0.75, 1]).
    X = np.array([-0.25, 0.0, 0.25])
    t = np.array([0, 0, 1])
    r = so.minimize_scalar(lambda b: float(exact(X - b, t, sigma=0.05, reduction="sum")),
                           bounds=(-1, 1), method="bounded", options={"xatol": 1e-10})
    assert 0 < r.x < 0.25
    assert abs(r.x - 0.125) < 1e-6  # the symmetric midpoint for symmetric Gaussian noise


def test_special_functions_generic_rung():
    x = np.concatenate([np.linspace(-40, 40, 4001), [-1e4, -300.0, 1e4, 0.0]])
    with probspace.use_backend("generic"):
        import array_api_compat.numpy as cnp
        lg = log_ndtr(cnp.asarray(x), cnp)
        nd = ndtr(cnp.asarray(x), cnp)
    # log Phi(x) ~ -Phi(-x) for large x inherits the conditioning of exp(-x^2/2): rtol 1e-12.
    np.testing.assert_allclose(lg, sc.log_ndtr(x), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(nd, sc.ndtr(x), rtol=1e-12, atol=1e-300)


def test_argument_errors():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="sigma"):
        exact(z, np.array([0, 1]), sigma=0.0)
    with pytest.raises(ValueError, match="n_points"):
        exact(z, np.array([0, 1]), n_points=1)
    with pytest.raises(ValueError, match="targets"):
        exact(z, np.array([0, 5]))
    with pytest.raises(ValueError, match="targets"):
        exact(z, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="return_error"):
        exact(z, np.array([0, 1]), return_error="yes")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xp_generic(xp, dtype):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, 4)) * 2
    y = rng.integers(0, 4, size=5)
    zb, tb = rng.normal(size=5), rng.integers(0, 2, size=5)
    dt = getattr(xp, dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for args, np_args in [((xp.asarray(z, dtype=dt), xp.asarray(y)), (z, y)),
                          ((xp.asarray(zb, dtype=dt), xp.asarray(tb)), (zb, tb))]:
        for red in ("mean", "none"):
            v, g, e = exact(*args, reduction=red, return_grad=True, return_error=True)
            v0, g0, e0 = exact(*np_args, reduction=red, return_grad=True, return_error=True)
            xp_assert_close(v, xp.asarray(np.asarray(v0), dtype=dt), rtol=rtol, atol=1e-7, xp=xp)
            xp_assert_close(g, xp.asarray(g0, dtype=dt), rtol=rtol, atol=1e-7, xp=xp)
            assert e.dtype == dt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_rung_matches_generic(dtype):
    rng = np.random.default_rng(6)
    z = (rng.normal(size=(2, 5, 7)) * 3).astype(dtype)
    z[0, 0, 0] = 1e4
    y = rng.integers(0, 7, size=(2, 5))
    for red in ("mean", "sum", "none"):
        fast = exact(z, y, reduction=red, return_grad=True, return_error=True)
        with probspace.use_backend("generic"):
            ref = exact(z, y, reduction=red, return_grad=True, return_error=True)
        for a, b in zip(fast, ref):
            assert a.dtype == b.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=1e-12 if dtype == np.float64 else 1e-6,
                                       atol=1e-15 if dtype == np.float64 else 1e-7)


def test_parallel_drivers_match_serial(monkeypatch):
    # Force the thread pool (normally only for large batches) and compare with one thread.
    from numopt.losses import _threads, softmax_cross_entropy
    rng = np.random.default_rng(8)
    z = rng.normal(size=(64, 9)) * 2
    y = rng.integers(0, 9, size=64)
    tp = rng.dirichlet(np.ones(9), size=64)
    calls = [lambda: exact(z, y, reduction="none", return_grad=True, return_error=True),
             lambda: softmax_cross_entropy(z, y, reduction="none", return_grad=True),
             lambda: softmax_cross_entropy(z, tp, reduction="none", return_grad=True)]
    serial = [c() for c in calls]
    monkeypatch.setattr(_threads, "threads_for", lambda gate, work: 3)
    for c, ref in zip(calls, serial):
        for a, b in zip(c(), ref):
            np.testing.assert_array_equal(a, b)


def test_qmc_method_agrees_with_quadrature():
    # Genz/Sobol route (the paper's): unbiased up to its reported standard error.
    rng = np.random.default_rng(9)
    z = rng.normal(size=(40, 5)) * 1.5
    y = rng.integers(0, 5, size=40)
    ref_v, ref_g = exact(z, y, n_points=128, reduction="none", return_grad=True)
    for seed in (2, 1, 0):
        v, g, se = exact(z, y, method="qmc", n_points=1024, seed=seed, reduction="none",
                         return_grad=True, return_error=True)
        # All samples share the same 8 scramblings, so their errors are correlated: compare
        # the RMS error with the RMS reported standard error (8 replicates: the t_7 ratio
        # exceeds 4 with probability ~0.5%).
        rms_err = np.sqrt(np.mean((v - ref_v) ** 2))
        rms_se = np.sqrt(np.mean(se ** 2))
        assert rms_err <= 4 * rms_se
        assert rms_se < 3e-4
        np.testing.assert_allclose(g, ref_g, atol=2e-3)
    again = exact(z, y, method="qmc", n_points=1024, reduction="none")
    np.testing.assert_array_equal(again, v)            # fixed scrambling seed
    other = exact(z, y, method="qmc", n_points=1024, seed=1, reduction="none")
    assert np.any(other != v)
    # 3 classes: the conditional orthants are one-dimensional, so the gradient is exact.
    g3 = exact(np.array([[1.0, 0.0, -1.0]]), np.array([0]), method="qmc", n_points=64,
               return_grad=True)[1]
    g3_ref = exact(np.array([[1.0, 0.0, -1.0]]), np.array([0]), n_points=64, return_grad=True)[1]
    np.testing.assert_allclose(g3, g3_ref, rtol=1e-12)
    with pytest.raises(ValueError, match="n_points"):
        exact(z, y, method="qmc", n_points=48)
    with pytest.raises(ValueError, match="method"):
        exact(z, y, method="genz")


def test_qmc_method_xp(xp):
    rng = np.random.default_rng(10)
    z = rng.normal(size=(3, 4))
    y = rng.integers(0, 4, size=3)
    v, g = exact(xp.asarray(z), xp.asarray(y), method="qmc", n_points=64, return_grad=True)
    v0, g0 = exact(z, y, method="qmc", n_points=64, return_grad=True)
    xp_assert_close(v, xp.asarray(np.asarray(v0)), rtol=1e-14, xp=xp)
    xp_assert_close(g, xp.asarray(g0), rtol=1e-14, xp=xp)
