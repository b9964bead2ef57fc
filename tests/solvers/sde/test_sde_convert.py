"""Ito <-> Stratonovich drift conversion against closed forms and sympy."""
import math

import numpy as np
import pytest
import sympy as sp

from solvers import (BrownianPath, ito_to_stratonovich_drift, solve_sde,
                     stratonovich_to_ito_drift)

t_, x_, y_ = sp.symbols("t x y")


def test_gbm_closed_form_and_round_trip():
    mu, sig = 0.7, 0.9
    f = lambda t, y: mu * y
    g = lambda t, y: sig * y
    y = np.linspace(-2, 3, 11).reshape(-1, 1)
    fs = ito_to_stratonovich_drift(f, g)
    # Ito GBM = Stratonovich SDE with drift (mu - sig^2/2) y
    np.testing.assert_allclose(fs(0.0, y), (mu - sig ** 2 / 2) * y, rtol=1e-8, atol=1e-10)
    exact = ito_to_stratonovich_drift(f, g, diffusion_derivative=lambda t, y: sig + 0 * y)
    np.testing.assert_allclose(exact(0.0, y), (mu - sig ** 2 / 2) * y, rtol=1e-14, atol=1e-14)
    back = stratonovich_to_ito_drift(fs, g)
    np.testing.assert_allclose(back(0.0, y), mu * y, rtol=1e-8, atol=1e-10)


def test_diagonal_fd_matches_sympy_with_cross_dependence():
    f = [sp.sin(x_) * y_, -x_]
    g = [x_ ** 2 + y_, sp.cos(y_) * x_]
    sym = ito_to_stratonovich_drift(f, g, symbols=(t_, [x_, y_]))
    # by hand: L_i = g_i d g_i / d y_i
    want = sp.Matrix([sp.sin(x_) * y_ - (x_ ** 2 + y_) * x_, -x_ + sp.cos(y_) * x_ * sp.sin(y_) * x_ / 2])
    assert sp.simplify(sym - want) == sp.zeros(2, 1)
    F = lambda t, Y: np.stack([np.sin(Y[..., 0]) * Y[..., 1], -Y[..., 0]], axis=-1)
    G = lambda t, Y: np.stack([Y[..., 0] ** 2 + Y[..., 1], np.cos(Y[..., 1]) * Y[..., 0]], axis=-1)
    fd = ito_to_stratonovich_drift(F, G)
    Y = np.random.default_rng(0).normal(size=(20, 2))
    ref = sp.lambdify([x_, y_], sym, "numpy")
    want_num = np.stack([np.asarray(ref(a, b), dtype=float).ravel() for a, b in Y])
    np.testing.assert_allclose(fd(0.0, Y), want_num, rtol=1e-7, atol=1e-8)


def test_scalar_noise_uses_directional_derivative():
    # scalar noise: L_i = sum_k g_k d g_i / d y_k
    f = [0 * x_, 0 * y_]
    g = [y_, x_]
    sym = ito_to_stratonovich_drift(f, g, noise="scalar", symbols=(t_, [x_, y_]))
    assert sp.simplify(sym - sp.Matrix([-x_ / 2, -y_ / 2])) == sp.zeros(2, 1)
    G = lambda t, Y: Y[..., ::-1]
    fd = ito_to_stratonovich_drift(lambda t, Y: 0 * Y, G, noise="scalar")
    Y = np.array([[1.0, 2.0], [-3.0, 0.5]])
    np.testing.assert_allclose(fd(0.0, Y), -Y / 2, rtol=1e-8)


def test_converted_drift_solves_the_same_sde():
    """Heun on the converted Stratonovich SDE converges (order 1) to the Ito GBM solution."""
    mu, sig, T = 1.0, 0.5, 1.0
    f = lambda t, y: mu * y
    g = lambda t, y: sig * y
    fs = ito_to_stratonovich_drift(f, g)
    bm = BrownianPath((500, 1), 0.0, T, seed=3)
    exact = np.exp((mu - sig ** 2 / 2) * T + sig * bm.value(T))
    errs = []
    for lv in (3, 5, 7):
        r = solve_sde(fs, g, (0.0, T), np.ones((500, 1)), dt=T / 2 ** lv, brownian=bm,
                      method="heun", calculus="stratonovich", t_eval=[T])
        errs.append(np.mean(np.abs(r.y[:, -1] - exact)))
    slope = math.log(errs[0] / errs[-1]) / math.log(2 ** 4)
    assert abs(slope - 1.0) < 0.15, (slope, errs)


def test_errors():
    with pytest.raises(ValueError, match="noise"):
        ito_to_stratonovich_drift(lambda t, y: y, lambda t, y: y, noise="general")
    with pytest.raises(TypeError, match="callables"):
        ito_to_stratonovich_drift(1.0, lambda t, y: y)
    with pytest.raises(ValueError, match="eps"):
        ito_to_stratonovich_drift(lambda t, y: y, lambda t, y: y, eps=2.0)
