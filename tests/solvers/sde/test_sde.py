"""solve_sde: noise layout, rung agreement, exact discrete laws, errors."""
import math

import numba
import numpy as np
import pytest
import sympy as sp
from scipy import stats

import probspace
from probspace.random import Stream
from probspace.testing import xp_assert_close
from solvers import BrownianPath, solve_sde

t_, x_, y_ = sp.symbols("t x y")


def test_noise_is_the_per_path_child_stream():
    """Path p, step n uses draws n*m .. n*m+m-1 of Stream(seed).child(p)."""
    y0 = np.zeros((5, 2))
    r = solve_sde(lambda t, y: 0.0 * y, lambda t, y: 1.0 + 0.0 * y, (0.0, 1.0), y0, dt=0.125,
                  seed=77, noise="additive")
    inc = np.diff(r.y, axis=1)
    for p in range(5):
        z = Stream(77).child(p).normal((8, 2))
        np.testing.assert_allclose(inc[p], math.sqrt(0.125) * z, rtol=0, atol=1e-15)

    @numba.njit
    def f0(t, y, out):
        out[0] = 0.0
        out[1] = 0.0

    @numba.njit
    def g1(t, y, out):
        out[0] = 1.0
        out[1] = 1.0

    rf = solve_sde(f0, g1, (0.0, 1.0), y0, dt=0.125, seed=77, noise="additive")
    assert rf.backend == "numba"
    assert np.array_equal(rf.y, r.y)
    # a chunk starting at path 3 reproduces paths 3, 4
    rc = solve_sde(f0, g1, (0.0, 1.0), y0[:2], dt=0.125, seed=77, noise="additive", path_offset=3)
    assert np.array_equal(rc.y, r.y[3:])


CASES = {
    # method, noise, calculus, drift, diffusion, y0
    "em_diag": ("euler_maruyama", "diagonal", "ito", [0.5 * x_, -0.3 * y_ + sp.sin(t_)],
                [0.4 * x_, 0.2 * sp.cos(y_)], [1.0, 0.5]),
    "milstein_strat_scalar": ("milstein", "scalar", "stratonovich", [0.5 * x_, -0.3 * y_],
                              [0.4 * x_, 0.2 * y_], [1.0, 0.5]),
    "heun_general": ("heun", "general", "stratonovich", [0.5 * x_, -0.3 * y_],
                     sp.Matrix([[0.4 * x_, 0.1], [0.2 * y_, 0.3 * x_]]), [1.0, 0.5]),
    "sra1": ("sra1", "additive", "ito", [-x_ + sp.sin(t_), -0.3 * y_ ** 3],
             [0.5 + 0 * t_, 0.2 * sp.cos(t_)], [1.0, 0.5]),
    "sri_diag": ("sri", "diagonal", "ito", [0.5 * x_, -0.3 * y_ + sp.sin(t_)],
                 [0.4 * x_, 0.2 * sp.cos(y_)], [1.0, 0.5]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_kernel_equals_generic_rung(case):
    method, noise, calc, f, g, y0 = CASES[case]
    Y0 = np.tile(np.array(y0), (40, 1))
    kw = dict(method=method, noise=noise, calculus=calc, dt=0.05, seed=5, symbols=(t_, [x_, y_]))
    fused = solve_sde(f, g, (0.0, 1.0), Y0, **kw)
    assert fused.backend == "numba"
    with probspace.use_backend("generic"):
        gen = solve_sde(f, g, (0.0, 1.0), Y0, **kw)
    assert gen.backend == "generic"
    assert fused.y.shape == gen.y.shape == (40, 21, 2)
    assert np.all(np.isfinite(fused.y))
    np.testing.assert_allclose(fused.y, gen.y, rtol=1e-12, atol=1e-12)
    # different paths got different noise
    assert not np.allclose(fused.y[0], fused.y[1])


def test_namespaces_and_batch_shapes(xp):
    f = lambda t, y: 0.5 * y
    g = lambda t, y: 0.3 * y
    y0 = np.ones((3, 4, 1))
    ref = solve_sde(f, g, (0.0, 1.0), y0, dt=0.1, seed=1, t_eval=[0.0, 0.5, 1.0])
    r = solve_sde(f, g, (0.0, 1.0), xp.asarray(y0), dt=0.1, seed=1, t_eval=[0.0, 0.5, 1.0])
    assert r.y.shape == (3, 4, 3, 1)
    xp_assert_close(r.y, xp.asarray(ref.y), rtol=1e-13, atol=1e-13)
    xp_assert_close(r.t, xp.asarray([0.0, 0.5, 1.0]), rtol=1e-15, atol=0)
    r32 = solve_sde(f, g, (0.0, 1.0), xp.asarray(y0, dtype=xp.float32), dt=0.1, seed=1)
    assert r32.y.dtype == xp.float32


def test_saving_every_step_vs_t_eval_same_path():
    f = lambda t, y: -y
    g = lambda t, y: 0.5 + 0.0 * y
    full = solve_sde(f, g, (0.0, 2.0), np.ones((6, 1)), dt=0.01, seed=3, noise="additive")
    part = solve_sde(f, g, (0.0, 2.0), np.ones((6, 1)), dt=0.01, seed=3, noise="additive",
                     t_eval=[0.5, 1.27, 2.0])
    assert full.y.shape == (6, 201, 1)
    np.testing.assert_array_equal(part.y, full.y[:, [50, 127, 200]])


def test_euler_maruyama_exact_discrete_moments_gbm():
    """E X_n = X0 (1 + mu h)^n and E X_n^2 = X0^2 ((1 + mu h)^2 + sigma^2 h)^n exactly for EM."""
    mu, sig, h, n, P = 0.8, 0.6, 0.1, 10, 200_000
    r = solve_sde([mu * x_], [sig * x_], (0.0, n * h), np.ones((P, 1)), dt=h, seed=2,
                  symbols=(t_, [x_]), t_eval=[n * h])
    x = r.y[:, 0, 0]
    m1, m2 = (1 + mu * h) ** n, ((1 + mu * h) ** 2 + sig ** 2 * h) ** n
    # z-tests at 4.5 standard errors (two-sided alpha ~ 7e-6 each, fixed seed)
    assert abs(x.mean() - m1) < 4.5 * x.std() / math.sqrt(P)
    assert abs((x ** 2).mean() - m2) < 4.5 * (x ** 2).std() / math.sqrt(P)
    # the test has power: the continuous-time mean exp(mu t) is ~23 standard errors away
    assert abs(x.mean() - math.exp(mu * n * h)) > 10 * x.std() / math.sqrt(P)


def test_ou_law_of_euler_maruyama_iterates():
    """EM on OU is a Gaussian AR(1): X_n ~ N(m + (x0-m) a^n, sigma^2 h (1-a^2n)/(1-a^2)), a = 1 - theta h."""
    th, mean, sig, x0, h, n, P = 1.5, 0.7, 0.4, -1.0, 0.02, 50, 20_000
    f = lambda t, y: th * (mean - y)
    g = lambda t, y: sig + 0.0 * y
    r = solve_sde(f, g, (0.0, n * h), np.full((P, 1), x0), dt=h, seed=4, noise="additive",
                  t_eval=[n * h])
    x = r.y[:, 0, 0]
    a = 1 - th * h
    mu_n = mean + (x0 - mean) * a ** n
    var_n = sig ** 2 * h * (1 - a ** (2 * n)) / (1 - a ** 2)
    assert abs(x.mean() - mu_n) < 4.5 * math.sqrt(var_n / P)
    s = float(np.sum((x - mu_n) ** 2) / var_n)
    lo, hi = stats.chi2.ppf([5e-5, 1 - 5e-5], P)
    assert lo < s < hi
    assert stats.kstest((x - mu_n) / math.sqrt(var_n), "norm").pvalue > 1e-4
    # the continuous OU law at t = 1 (h -> 0 limit) is close: sanity on the model itself
    var_c = sig ** 2 / (2 * th) * (1 - math.exp(-2 * th * n * h))
    assert abs(var_n - var_c) / var_c < 0.05


@pytest.mark.parametrize("kw, exc, word", [
    (dict(method="rk4"), ValueError, "method"),
    (dict(noise="colored"), ValueError, "noise"),
    (dict(calculus="x"), ValueError, "calculus"),
    (dict(dt=-0.1), ValueError, "dt"),
    (dict(t_eval=[0.05]), ValueError, "t_eval"),
    (dict(method="heun"), ValueError, "stratonovich"),
    (dict(method="euler_maruyama", calculus="stratonovich"), ValueError, "stratonovich"),
    (dict(method="sra1"), ValueError, "additive"),
    (dict(method="milstein", noise="general"), ValueError, "general"),
    (dict(brownian=BrownianPath((4, 2), 0.0, 1.0, seed=1)), ValueError, "shape"),
    (dict(path_offset=-1), ValueError, "path_offset"),
])
def test_bad_arguments(kw, exc, word):
    args = dict(dt=0.1, seed=1)
    args.update(kw)
    with pytest.raises(exc, match=word):
        solve_sde(lambda t, y: y, lambda t, y: y, (0.0, 1.0), np.ones((3, 1)), **args)


def test_bad_inputs():
    with pytest.raises(ValueError, match="y0"):
        solve_sde(lambda t, y: y, lambda t, y: y, (0.0, 1.0), np.array([np.nan]), dt=0.1)
    with pytest.raises(ValueError, match="t_span"):
        solve_sde(lambda t, y: y, lambda t, y: y, (1.0, 0.0), np.ones(1), dt=0.1)
    with pytest.raises(TypeError, match="drift"):
        solve_sde(3, lambda t, y: y, (0.0, 1.0), np.ones(1), dt=0.1)
    with pytest.raises(ValueError, match="symbols"):
        solve_sde([x_], [x_], (0.0, 1.0), np.ones(1), dt=0.1)


def test_njit_functions_with_a_brownian_path_use_the_batch_rung():
    @numba.njit
    def f(t, y, out):
        out[0] = 0.5 * y[0]

    @numba.njit
    def g(t, y, out):
        out[0] = 0.3 * y[0]

    bm = BrownianPath((6, 1), 0.0, 1.0, seed=2)
    a = solve_sde(f, g, (0.0, 1.0), np.ones((6, 1)), dt=1 / 16, brownian=bm, method="milstein")
    b = solve_sde(lambda t, y: 0.5 * y, lambda t, y: 0.3 * y, (0.0, 1.0), np.ones((6, 1)),
                  dt=1 / 16, brownian=bm, method="milstein")
    assert a.backend == b.backend == "generic"
    np.testing.assert_allclose(a.y, b.y, rtol=1e-14, atol=1e-14)


def test_args_reach_njit_and_batch_functions():
    @numba.njit
    def f(t, y, out, mu, sig):
        out[0] = mu * y[0]

    @numba.njit
    def g(t, y, out, mu, sig):
        out[0] = sig * y[0]

    a = solve_sde(f, g, (0.0, 1.0), np.ones((9, 1)), dt=0.1, seed=4, args=(0.7, 0.2), method="heun",
                  calculus="stratonovich")
    b = solve_sde(lambda t, y, mu, sig: mu * y, lambda t, y, mu, sig: sig * y, (0.0, 1.0),
                  np.ones((9, 1)), dt=0.1, seed=4, args=(0.7, 0.2), method="heun", calculus="stratonovich")
    assert a.backend == "numba" and b.backend == "generic"
    np.testing.assert_allclose(a.y, b.y, rtol=1e-13, atol=1e-13)
