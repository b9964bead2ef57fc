"""entropic_argmin, eg_step, optimality_gap and minimize_simplex against independent truth."""
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from numopt import (entropic_argmin, eg_step, minimize_simplex, optimality_gap, project_simplex,
                    sparsemax)
from probspace.testing import xp_assert_close


def test_entropic_argmin_oracle(xp):
    # reference numopt.md: c=[.3,-.2,1,0], tau=.5 -> [0.17280,0.46972,0.04261,0.31486]
    p = entropic_argmin(xp.asarray([0.3, -0.2, 1.0, 0.0]), 0.5)
    xp_assert_close(p, xp.asarray([0.17280, 0.46972, 0.04261, 0.31486]), atol=6e-6)


def test_entropic_argmin_is_the_minimizer():
    rng = np.random.default_rng(0)
    c, tau = rng.normal(size=5), 0.7
    obj = lambda p: c @ p + tau * np.sum(p * np.log(np.maximum(p, 1e-300)))
    res = minimize(obj, np.ones(5) / 5, bounds=[(1e-12, 1)] * 5, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1}], options={"ftol": 1e-15})
    np.testing.assert_allclose(entropic_argmin(c, tau), res.x, atol=1e-6)


def test_entropic_argmin_stability_and_errors():
    p = entropic_argmin(np.array([1e300, 0.0, np.inf]), 1e-300)
    np.testing.assert_array_equal(p, [0.0, 1.0, 0.0])
    p32 = entropic_argmin(np.array([[1.0, 2.0], [3.0, 1e30]], dtype=np.float32), 0.1, axis=1)
    assert p32.dtype == np.float32 and np.all(np.isfinite(p32))
    with pytest.raises(ValueError, match="tau"):
        entropic_argmin(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        entropic_argmin(np.array([np.nan, 1.0]), 1.0)
    with pytest.raises(ValueError, match="entirely"):
        entropic_argmin(np.array([np.inf, np.inf]), 1.0)


def test_eg_step_formula(xp):
    p = np.array([0.2, 0.3, 0.5])
    g = np.array([1.0, -2.0, 0.5])
    want = p * np.exp(-0.1 * g)
    want /= want.sum()
    xp_assert_close(eg_step(xp.asarray(p), xp.asarray(g), 0.1), xp.asarray(want), rtol=1e-14)


def test_eg_step_huge_gradients_stay_finite():
    p = np.array([0.25, 0.25, 0.5, 0.0])
    g = np.array([1e300, -1e300, 0.0, 5.0])
    q = eg_step(p, g, 1e10)
    np.testing.assert_array_equal(q, [0.0, 1.0, 0.0, 0.0])
    q2 = eg_step(p, np.array([1e308, 1e308, 1e308, 0.0]), 1e300)  # zero coordinate stays zero
    np.testing.assert_allclose(q2, [0.25, 0.25, 0.5, 0.0])
    with pytest.raises(ValueError, match="grad must be finite"):
        eg_step(p, np.array([np.inf, 0, 0, 0]), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        eg_step(np.array([-0.1, 1.1]), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="lr"):
        eg_step(p, g, -1.0)


def test_eg_fixed_point_is_entropic_argmin():
    rng = np.random.default_rng(1)
    c, tau = rng.normal(size=6), 0.5
    p = np.ones(6) / 6
    for _ in range(400):
        p = eg_step(p, c + tau * (np.log(p) + 1), 0.5)
    np.testing.assert_allclose(p, entropic_argmin(c, tau), atol=1e-12)


def test_optimality_gap_certificate():
    rng = np.random.default_rng(2)
    x = rng.normal(size=8)
    p = sparsemax(x)           # minimizer of |p - x|^2 over the simplex
    assert abs(optimality_gap(p, 2 * (p - x))) < 1e-12
    q = np.ones(8) / 8
    gap = optimality_gap(q, 2 * (q - x))
    assert gap > 0
    # gap bounds the suboptimality
    assert np.sum((q - x) ** 2) - np.sum((p - x) ** 2) <= gap + 1e-12


def _random_qp(rng, n, face=False):
    a = rng.normal(size=(n, n))
    q = a @ a.T / n + 0.05 * np.eye(n)
    c = rng.normal(size=n) * (3 if face else 1)
    return q, c


def _slsqp(q, c):
    n = len(c)
    res = minimize(lambda p: 0.5 * p @ q @ p + c @ p, np.ones(n) / n, jac=lambda p: q @ p + c,
                   bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1,
                                                       "jac": lambda p: np.ones(n)}],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return res


@pytest.mark.parametrize("method", ["eg", "pgd", "frank_wolfe"])
def test_minimize_simplex_against_slsqp(method):
    rng = np.random.default_rng(3)
    for n in (3, 10, 30):
        q, c = _random_qp(rng, n, face=True)
        ref = _slsqp(q, c)
        res = minimize_simplex(lambda p: 0.5 * p @ q @ p + c @ p, lambda p: q @ p + c, np.ones(n) / n,
                               method=method, maxiter=20_000, tol=1e-10)
        assert res.success and res.status == 0, res.message
        assert res.gap <= 1e-10
        assert res.fun <= ref.fun + 1e-9         # at least as good as SLSQP
        assert res.fun - ref.fun >= -res.gap - 1e-12  # the certificate holds against SLSQP's point
        np.testing.assert_allclose(res.x, ref.x, atol=2e-4)
        assert np.all(res.x >= 0) and abs(res.x.sum() - 1) < 1e-12


def test_minimize_simplex_generic_namespace(xp):
    q = xp.asarray([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 3.0]])
    c = xp.asarray([0.1, -0.3, 0.2])
    for method in ("eg", "pgd", "frank_wolfe"):
        res = minimize_simplex(lambda p: float(0.5 * xp.sum(p * (q @ p)) + xp.sum(c * p)),
                               lambda p: q @ p + c, xp.ones(3) / 3, method=method, tol=1e-10)
        assert res.success
        assert tuple(res.x.shape) == (3,)


def test_frank_wolfe_away_steps_converge_linearly():
    # optimum in the relative interior of a face: vanilla FW zig-zags at O(1/k); away steps give
    # linear convergence.  Fit log(gap) ~ k: the per-iteration contraction must be < 1 clearly.
    rng = np.random.default_rng(4)
    n = 20
    target = np.zeros(n)
    target[:5] = rng.dirichlet(np.ones(5))
    x = target + 0.0
    x[5:] = -0.5
    fun = lambda p: np.sum((p - x) ** 2)
    grad = lambda p: 2 * (p - x)
    res = minimize_simplex(fun, grad, np.ones(n) / n, method="frank_wolfe", tol=1e-12, maxiter=5000)
    assert res.success and res.nit < 500
    np.testing.assert_allclose(res.x, project_simplex(x), atol=1e-6)
    gaps = np.array(res.history["gap"])
    k = np.arange(len(gaps))
    slope = np.polyfit(k[gaps > 0], np.log(gaps[gaps > 0]), 1)[0]
    assert slope < -0.02
    # the O(1/k) rate would need ~ C/1e-12 iterations


def test_mirror_descent_rate_on_linear_objectives():
    # Beck & Teboulle 2003: step sqrt(2 ln n)/(L_inf sqrt k) gives
    # min_{s<=k} f(x^s) - f* <= sqrt(2 ln n) L_inf / sqrt(k).
    rng = np.random.default_rng(5)
    for n in (10, 100, 1000):
        c = rng.normal(size=n)
        linf = np.abs(c).max()
        fstar = c.min()
        res = minimize_simplex(lambda p: float(c @ p), lambda p: c, np.ones(n) / n, method="eg",
                               lr=lambda k: math.sqrt(2 * math.log(n)) / (linf * math.sqrt(k)),
                               maxiter=300, tol=0.0)
        f = np.minimum.accumulate(np.array(res.history["fun"][1:]))
        k = np.arange(1, len(f) + 1)
        bound = math.sqrt(2 * math.log(n)) * linf / np.sqrt(k)
        assert np.all(f - fstar <= bound + 1e-12)
        assert res.status == 1  # tol=0 never met on a linear objective with interior iterates


def test_minimize_simplex_errors_and_callback():
    f, g = (lambda p: float(p @ p)), (lambda p: 2 * p)
    with pytest.raises(ValueError, match="sum to 1"):
        minimize_simplex(f, g, np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="method"):
        minimize_simplex(f, g, np.array([0.5, 0.5]), method="newton")
    with pytest.raises(ValueError, match="lr"):
        minimize_simplex(f, g, np.array([0.5, 0.5]), lr=-1.0)
    with pytest.raises(ValueError, match="1-D"):
        minimize_simplex(f, g, np.ones((2, 2)) / 4)
    with pytest.raises(TypeError, match="callable"):
        minimize_simplex(1.0, g, np.array([0.5, 0.5]))
    seen = []
    res = minimize_simplex(f, g, np.array([0.9, 0.1]), method="pgd",
                           callback=lambda r: seen.append(r.nit) or len(seen) >= 1)
    assert res.status == 3 and seen == [1]
    res = minimize_simplex(lambda p: float("nan"), g, np.array([0.9, 0.1]))
    assert res.status == 2 and not res.success
