"""solvers.symbolic: Fokker–Planck residuals zero for true solutions and nonzero for wrong ones,
the probability-flow ODE (symbolic -> numeric) against the exact OU law, and the symbolic view
against the finite-volume density view."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import sympy as sp

from solvers import fokker_planck_1d, solve_ode
from solvers.symbolic import (continuity_residual, diffusion_matrix, fokker_planck_residual,
                              is_stationary, probability_flow_drift, probability_flow_ode)

x, t = sp.symbols("x t", real=True)
# OU dX = theta (m - X) dt + sigma dW from N(x0, s0), with exact rationals (fast simplification)
TH, M, SG, X0, S0 = sp.Integer(1), sp.Rational(1, 2), sp.Integer(1), sp.Integer(2), sp.Rational(1, 10)
MU = M + (X0 - M) * sp.exp(-TH * t)
VAR = S0 * sp.exp(-2 * TH * t) + SG ** 2 / (2 * TH) * (1 - sp.exp(-2 * TH * t))


def gauss(mu, var):
    return sp.exp(-(x - mu) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def test_ou_transient_density_solves_fokker_planck():
    assert fokker_planck_residual(TH * (M - x), SG, gauss(MU, VAR), x, t) == 0
    # wrong: diffusion doubled, variance law of the wrong equation, or no time symbol
    assert fokker_planck_residual(TH * (M - x), 2 * SG, gauss(MU, VAR), x, t) != 0
    assert fokker_planck_residual(TH * (M - x), SG, gauss(MU, VAR + t), x, t) != 0
    assert fokker_planck_residual(TH * (M - x), SG, gauss(MU, VAR), x) != 0


def test_symbolic_ou_parameters():
    th, m, sg = sp.symbols("theta m sigma", positive=True)
    p = gauss(m, sg ** 2 / (2 * th))
    assert fokker_planck_residual(th * (m - x), sg, p, x) == 0
    assert is_stationary(th * (m - x), sg, p, x)
    assert not is_stationary(th * (m - x), sg, gauss(m, sg ** 2 / th), x)


def test_gibbs_stationary_and_state_dependent_noise():
    V = x ** 4 / 4 - x ** 2
    assert is_stationary(-sp.diff(V, x), sp.sqrt(2), sp.exp(-V), x)
    assert not is_stationary(-sp.diff(V, x), 1, sp.exp(-V), x)      # needs exp(-2V)
    assert is_stationary(-sp.diff(V, x), 1, sp.exp(-2 * V), x)
    # g(x) = sqrt(1 + x^2), drift -x: p ∝ exp(∫ drift/D) / D = (1 + x^2)^-2
    assert is_stationary(-x, sp.sqrt(1 + x ** 2), (1 + x ** 2) ** -2, x)
    assert not is_stationary(-x, sp.sqrt(1 + x ** 2), (1 + x ** 2) ** -1, x)


def test_multivariate_matrix_diffusion():
    y1, y2 = sp.symbols("y1 y2", real=True)
    G = sp.Matrix([[1, 0], [sp.Rational(1, 2), 1]])
    B = sp.Matrix([[1, 0], [0, 2]])
    a, b, c = sp.symbols("a b c")
    S = sp.Matrix([[a, b], [b, c]])
    # stationary covariance of dY = -B Y dt + G dW solves B S + S B^T = G G^T
    S = S.subs(sp.solve(list(B * S + S * B.T - G * G.T), [a, b, c]))
    Y = sp.Matrix([y1, y2])
    p = sp.exp(-(Y.T * S.inv() * Y)[0] / 2)
    assert fokker_planck_residual(list(-B * Y), G, p, [y1, y2]) == 0
    assert fokker_planck_residual(list(-B * Y), sp.eye(2), p, [y1, y2]) != 0
    assert diffusion_matrix(G, 2) == G * G.T
    assert diffusion_matrix(sp.sqrt(2), 2) == 2 * sp.eye(2)


def test_probability_flow_drift_satisfies_continuity():
    v = probability_flow_drift(TH * (M - x), SG, gauss(MU, VAR), x)
    assert continuity_residual(v, gauss(MU, VAR), x, t) == 0
    # the SDE drift alone does not transport the density
    assert continuity_residual(TH * (M - x), gauss(MU, VAR), x, t) != 0
    # stationary Gibbs density: the probability-flow velocity vanishes
    V = x ** 4 / 4 - x ** 2
    assert sp.simplify(probability_flow_drift(-sp.diff(V, x), sp.sqrt(2), sp.exp(-V), x)) == 0


def test_probability_flow_ode_numeric_transports_quantiles():
    # the deterministic flow maps the quantiles of N(2, 0.1) to those of the OU law at T
    rhs = probability_flow_ode(TH * (M - x), SG, gauss(MU, VAR), x, t)
    n, T = 200, 1.5
    lv = (np.arange(n) + 0.5) / n
    y0 = (2.0 + math.sqrt(0.1) * st.norm.ppf(lv))[:, None]
    r = solve_ode(rhs, (0.0, T), y0, rtol=1e-10, atol=1e-12, vectorized=True)
    mu = 0.5 + 1.5 * math.exp(-T)
    var = 0.1 * math.exp(-2 * T) + 0.5 * (1 - math.exp(-2 * T))
    np.testing.assert_allclose(r.y[:, -1, 0], mu + math.sqrt(var) * st.norm.ppf(lv), atol=1e-8)


def test_symbolic_stationary_density_matches_finite_volume_equilibrium():
    V = x ** 4 / 4 - x ** 2 + x / 3
    drift = -sp.diff(V, x)
    g = sp.Rational(6, 5)
    p = sp.exp(-2 * V / g ** 2)
    assert is_stationary(drift, g, p, x)
    grid = np.linspace(-3, 3, 161)
    dens = sp.lambdify(x, p, "numpy")(grid)
    dens /= dens.sum() * (grid[1] - grid[0])
    r = fokker_planck_1d(sp.lambdify(x, drift, "numpy"), float(g), grid, np.ones_like(grid) / 6.0375,
                         [0.0])
    np.testing.assert_allclose(r.equilibrium, dens, rtol=1e-10)


def test_symbolic_errors():
    with pytest.raises(TypeError, match="x"):
        fokker_planck_residual(-x, 1, sp.exp(-x ** 2), "x")
    y = sp.Symbol("y")
    with pytest.raises(ValueError, match="drift"):
        fokker_planck_residual([-x], 1, sp.exp(-x ** 2 - y ** 2), [x, y])
    with pytest.raises(ValueError, match="diffusion"):
        fokker_planck_residual([-x, -y], sp.eye(3), sp.exp(-x ** 2 - y ** 2), [x, y])
