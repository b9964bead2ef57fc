"""JKO steps (exact 1-D quantile JKO and entropic JKO) against the heat equation, OU and the
porous-medium Barenblatt solution."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

from probspace.testing import xp_assert_close
from solvers import (EntropicBlurWarning, entropic_jko, jko_1d, quantiles_from_density,
                     wasserstein_1d)

N = 400
LEVELS = (np.arange(N) + 0.5) / N


def barenblatt(m):
    """(quantile function at time t, density at (t, x)) of the mass-1 Barenblatt solution of
    u_t = (u^m)_xx in 1-D: u = t^-a (C - k x^2 t^-2a)_+^(1/(m-1)), a = 1/(m+1), k = (m-1)a/(2m)."""
    a = 1 / (m + 1)
    k = (m - 1) * a / (2 * m)
    e = 1 / (m - 1)
    # mass = C^(e + 1/2) k^(-1/2) B(1/2, e + 1) = 1
    C = (math.sqrt(k) / sps.beta(0.5, e + 1)) ** (1 / (e + 0.5))

    def quantiles(t, s=LEVELS):
        R = math.sqrt(C / k) * t ** a
        z2 = st.beta.ppf(np.abs(2 * s - 1), 0.5, e + 1)   # z^2 ~ Beta(1/2, e + 1)
        return np.sign(s - 0.5) * np.sqrt(z2) * R

    def density(t, x):
        return t ** (-a) * np.maximum(C - k * x ** 2 * t ** (-2 * a), 0.0) ** e

    return quantiles, density


def test_barenblatt_oracle_is_consistent():
    q, d = barenblatt(2.0)
    x = np.linspace(-3, 3, 60001)
    assert np.trapezoid(d(1.3, x), x) == pytest.approx(1.0, rel=1e-6)
    cdf = np.cumsum(d(1.3, x)) * (x[1] - x[0])
    np.testing.assert_allclose(np.interp(q(1.3), x, cdf), LEVELS, atol=1e-4)


@pytest.mark.parametrize("m", [2.0, 3.0])
def test_porous_medium_barenblatt(m):
    q, _ = barenblatt(m)
    errs = []
    for tau in (0.04, 0.02):
        r = jko_1d(q(1.0), tau=tau, n_steps=int(round(1 / tau)), energy="porous", m=m)
        assert r.success and np.all(np.diff(r.free_energy) <= 1e-14)
        errs.append(np.max(np.abs(r.x[-1] - q(2.0))))
    # support radius at t=2 is ~1.6; first-order in tau plus an O(1/N) floor
    assert errs[-1] < 6e-3 and errs[-1] < errs[0]


def test_heat_equation_first_order_in_tau():
    s0, T = 0.5, 0.5
    x0 = st.norm.ppf(LEVELS) * math.sqrt(s0)
    exact = st.norm.ppf(LEVELS) * math.sqrt(s0 + 2 * T)
    errs = []
    for tau in (0.04, 0.02, 0.01):
        r = jko_1d(x0, tau=tau, n_steps=int(round(T / tau)))
        assert np.all(np.diff(r.free_energy) <= 1e-14)
        errs.append(np.max(np.abs(r.x[-1] - exact)[20:-20]))   # interior quantiles
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > 0.9), (errs, rates)
    assert errs[-1] < 5e-3


def test_fokker_planck_ou_through_potential():
    # F = ∫ x²/2 ρ + ∫ ρ log ρ: OU dX = -X dt + sqrt(2) dW from N(2, 0.09)
    T, tau = 1.0, 0.005
    r = jko_1d(2 + 0.3 * st.norm.ppf(LEVELS), tau=tau, n_steps=int(T / tau),
               potential=lambda x: x ** 2 / 2, grad_potential=lambda x: x,
               hess_potential=lambda x: np.ones_like(x))
    m = 2 * math.exp(-T)
    v = 0.09 * math.exp(-2 * T) + 1 - math.exp(-2 * T)
    w2 = float(wasserstein_1d(r.x[-1], m + math.sqrt(v) * st.norm.ppf(LEVELS)))
    assert w2 < 5e-3
    # default Hessian (finite difference of grad) gives the same steps
    r2 = jko_1d(2 + 0.3 * st.norm.ppf(LEVELS), tau=tau, n_steps=10,
                potential=lambda x: x ** 2 / 2, grad_potential=lambda x: x)
    np.testing.assert_allclose(r2.x[-1], r.x[10], rtol=1e-9)


def test_quantiles_from_density_and_namespaces(xp):
    grid = np.linspace(-8, 8, 4001)
    qs = quantiles_from_density(xp.asarray(grid), xp.asarray(st.norm.pdf(grid, 1, 1.5)), 50)
    lv = (np.arange(50) + 0.5) / 50
    # trapezoid CDF on a grid truncated at 4.7 sd: tail quantiles off by < 1e-4
    xp_assert_close(qs, xp.asarray(st.norm.ppf(lv, 1, 1.5)), rtol=0, atol=1e-4)
    r = jko_1d(qs, tau=0.05, n_steps=2)
    assert r.x.shape == (3, 50)
    xp_assert_close(r.x[0, :], qs, rtol=0, atol=0)


def test_jko_errors():
    x0 = np.linspace(-1, 1, 10)
    with pytest.raises(ValueError, match="x0"):
        jko_1d(x0[::-1], tau=0.1, n_steps=1)
    with pytest.raises(ValueError, match="m"):
        jko_1d(x0, tau=0.1, n_steps=1, energy="porous", m=1.0)
    with pytest.raises(ValueError, match="grad_potential"):
        jko_1d(x0, tau=0.1, n_steps=1, potential=lambda x: x ** 2)
    with pytest.raises(ValueError, match="energy"):
        jko_1d(x0, tau=0.1, n_steps=1, energy="renyi")
    with pytest.raises(ValueError, match="tau"):
        jko_1d(x0, tau=0.0, n_steps=1)


# --------------------------------------------------------------------------- entropic JKO
def test_entropic_pure_blur_is_exact():
    # D = 0, V = 0: every step convolves with a Gaussian of variance eps/2 (the artificial
    # diffusion eps/(4 tau) that the blur check is about)
    x = np.linspace(-6, 6, 241)
    p0 = st.norm.pdf(x, 0, math.sqrt(0.5))
    with pytest.warns(EntropicBlurWarning):
        r = entropic_jko(x, p0, tau=0.05, n_steps=10, epsilon=0.02, diffusion=0.0)
    dx = x[1] - x[0]
    var = np.sum(r.p * x ** 2, axis=1) * dx
    np.testing.assert_allclose(var, 0.5 + 0.01 * np.arange(11), rtol=1e-6)


def test_entropic_heat_small_blur_and_warning():
    x = np.linspace(-5, 5, 161)
    s0, T, tau = 0.5, 0.5, 0.05
    p0 = st.norm.pdf(x, 0, math.sqrt(s0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", EntropicBlurWarning)   # eps/(4 tau) = 0.025 < 0.1 D
        r = entropic_jko(x, p0, tau=tau, n_steps=int(T / tau), epsilon=5e-3)
    assert r.success
    assert np.all(np.diff(r.free_energy) <= 1e-12)
    dx = x[1] - x[0]
    np.testing.assert_allclose(np.sum(r.p, axis=1) * dx, 1.0, rtol=1e-12)
    var = float(np.sum(r.p[-1] * x ** 2) * dx)
    # exact 1.5; the implicit step loses O(tau) (-0.026 for the quantile JKO, see above), the blur
    # adds 2 T eps/(4 tau) = 0.025
    assert var == pytest.approx(s0 + 2 * T, abs=0.02)
    # same step through the exact quantile JKO: the two densities agree in law
    jx = jko_1d(quantiles_from_density(x, p0, 400), tau=tau, n_steps=int(T / tau))
    w1 = float(wasserstein_1d(jx.x[-1], x, p=1, y_weights=r.p[-1]))
    assert w1 < 0.02
    with pytest.warns(EntropicBlurWarning, match="epsilon"):
        entropic_jko(x, p0, tau=tau, n_steps=1, epsilon=0.05)


def test_entropic_compensation_and_porous():
    x = np.linspace(-5, 5, 161)
    p0 = st.norm.pdf(x, 0, math.sqrt(0.5))
    dx = x[1] - x[0]
    with pytest.warns(EntropicBlurWarning):
        raw = entropic_jko(x, p0, tau=0.05, n_steps=10, epsilon=0.04)
        comp = entropic_jko(x, p0, tau=0.05, n_steps=10, epsilon=0.04, compensate=True)
    v_raw, v_comp = (float(np.sum(r.p[-1] * x ** 2) * dx) for r in (raw, comp))
    assert abs(v_comp - 1.5) < abs(v_raw - 1.5) / 3
    q, dens = barenblatt(2.0)
    xb = np.linspace(-3, 3, 121)
    r = entropic_jko(xb, dens(1.0, xb), tau=0.05, n_steps=20, epsilon=5e-3, energy="porous", m=2)
    assert r.success and np.all(np.diff(r.free_energy) <= 1e-12)
    # peak 0.29; grid 0.05, first-order steps: max error ~0.015
    assert np.max(np.abs(r.p[-1] - dens(2.0, xb))) < 0.025


def test_entropic_errors():
    x = np.linspace(-1, 1, 11)
    with pytest.raises(ValueError, match="epsilon"):
        entropic_jko(x, np.ones(11), tau=0.1, n_steps=1, epsilon=0.0)
    with pytest.raises(ValueError, match="p0"):
        entropic_jko(x, np.ones(10), tau=0.1, n_steps=1, epsilon=1e-3)
    with pytest.raises(ValueError, match="compensate"):
        entropic_jko(x, np.ones(11), tau=0.1, n_steps=1, epsilon=1e-3, energy="porous",
                     compensate=True)
