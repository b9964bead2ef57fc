"""Chang–Cooper Fokker–Planck solvers against closed forms (OU, heat, Gibbs), conservation laws."""
from __future__ import annotations

import numpy as np
import pytest

from probspace.testing import xp_assert_close
from solvers import fokker_planck_1d, fokker_planck_2d


def gauss(x, m, v):
    return np.exp(-(x - m) ** 2 / (2 * v)) / np.sqrt(2 * np.pi * v)


def ou_law(t, x0, s0, theta, mu, sigma):
    e = np.exp(-theta * t)
    return mu + (x0 - mu) * e, s0 * e ** 2 + sigma ** 2 / (2 * theta) * (1 - e ** 2)


@pytest.mark.parametrize("time_scheme", ["crank_nicolson", "bdf2"])
def test_ou_transient_matches_exact_law(time_scheme):
    theta, mu, sigma, x0, s0 = 1.5, -0.5, 0.8, 2.0, 0.05
    x = np.linspace(-4, 5, 721)
    t = np.array([0.0, 0.1, 0.4, 1.0, 3.0])
    r = fokker_planck_1d(lambda z: theta * (mu - z), sigma, x, gauss(x, x0, s0), t,
                         time_scheme=time_scheme, dt=2e-3)
    m, v = ou_law(t, x0, s0, theta, mu, sigma)
    exact = gauss(x[None, :], m[:, None], v[:, None])
    dx = x[1] - x[0]
    l1 = np.sum(np.abs(r.p - exact), axis=1) * dx
    # O(dx^2 + dt^2) scheme: dx = 0.0125 and peak curvature ~ 1/s0 give L1 errors ~1e-4
    assert np.all(l1 < 5e-4), l1
    np.testing.assert_allclose(r.mass, 1.0, atol=1e-12)


def test_spatial_order_two():
    theta, sigma = 1.0, 1.0
    errs = []
    for n in (101, 201, 401):
        x = np.linspace(-5, 5, n)
        r = fokker_planck_1d(lambda z: -theta * z, sigma, x, gauss(x, 1.0, 0.3), [0.5],
                             time_scheme="crank_nicolson", dt=1e-3)
        m, v = ou_law(0.5, 1.0, 0.3, theta, 0.0, sigma)
        errs.append(np.max(np.abs(r.p[0] - gauss(x, m, v))))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.8), orders


def test_heat_equation_variance_grows_2t():
    # drift 0, g = sqrt(2): dp/dt = p'' -> N(m, s0 + 2 t)
    x = np.linspace(-12, 12, 961)
    t = np.array([0.25, 1.0, 2.0])
    r = fokker_planck_1d(lambda z: 0 * z, np.sqrt(2.0), x, gauss(x, 1.0, 0.5), t,
                         time_scheme="bdf2", dt=5e-3)
    dx = x[1] - x[0]
    mean = r.p @ x * dx
    var = r.p @ x ** 2 * dx - mean ** 2
    np.testing.assert_allclose(mean, 1.0, atol=1e-10)
    np.testing.assert_allclose(var, 0.5 + 2 * t, rtol=2e-4)
    exact = gauss(x[None, :], 1.0, 0.5 + 2 * t[:, None])
    assert np.max(np.abs(r.p - exact)) < 1e-4


def test_exact_discrete_gibbs_equilibrium():
    # double well, D = g^2/2 = 0.35: the scheme's fixed point is exp(-V/D) at the nodes
    D = 0.35
    V = lambda z: z ** 4 / 4 - z ** 2  # noqa: E731
    x = np.linspace(-3, 3, 121)  # coarse on purpose: exactness does not need resolution
    gibbs = np.exp(-V(x) / D)
    gibbs /= gibbs.sum() * (x[1] - x[0])
    r = fokker_planck_1d(lambda z: -(z ** 3 - 2 * z), np.sqrt(2 * D), x, gibbs, [0.0, 1.0, 10.0],
                         dt=0.01)
    np.testing.assert_allclose(r.equilibrium, gibbs, rtol=1e-11)
    np.testing.assert_allclose(r.p[-1], gibbs, rtol=1e-9)   # stays put
    np.testing.assert_allclose(r.free_energy, 0.0, atol=1e-12)


def test_relaxation_to_equilibrium_free_energy_monotone_positive():
    x = np.linspace(-3, 3, 201)
    p0 = np.where(np.abs(x - 1.5) < 0.3, 1.0, 0.0)
    t = np.linspace(0, 8, 41)
    r = fokker_planck_1d(lambda z: -(z ** 3 - 2 * z), 1.0, x, p0, t, dt=0.01)
    assert np.all(r.p >= 0)
    assert np.all(np.diff(r.free_energy) <= 1e-13)
    assert r.free_energy[0] > 0.5 and r.free_energy[-1] < 0.1 * r.free_energy[0]
    np.testing.assert_allclose(r.mass, r.mass[0], rtol=1e-12)  # round-off, 800 solves


def test_positivity_large_peclet_vs_central():
    # strong drift on a coarse grid (cell Peclet ~ 40): Chang-Cooper + backward Euler stays
    # positive, the centred flux does not
    x = np.linspace(-1, 1, 41)
    p0 = np.exp(-(x - 0.8) ** 2 / 0.01)
    drift = lambda z: -40 * z  # noqa: E731
    good = fokker_planck_1d(drift, 0.1, x, p0, [0.05, 0.5], dt=0.05)
    assert np.all(good.p >= 0)
    bad = fokker_planck_1d(drift, 0.1, x, p0, [0.05, 0.5], scheme="central", dt=0.05)
    assert np.min(bad.p) < -1e-3


def test_state_dependent_diffusion_equilibrium():
    # g(x) = sqrt(1 + x^2), drift -x: p_inf ∝ exp(∫ drift/D) / D = 1 / (1 + x^2)^2
    x = np.linspace(-4, 4, 401)
    r = fokker_planck_1d(lambda z: -z, lambda z: np.sqrt(1 + z ** 2), x, gauss(x, 1, 0.1),
                         [30.0], dt=0.05)
    want = 1 / (1 + x ** 2) ** 2
    want /= np.sum(want) * (x[1] - x[0])
    np.testing.assert_allclose(r.equilibrium, want, rtol=5e-5)   # 4-point Gauss, non-polynomial
    np.testing.assert_allclose(r.p[0], want, rtol=1e-3)


def test_nonuniform_grid_ou_stationary():
    x = np.sort(np.concatenate([np.linspace(-5, 5, 151), np.linspace(-1, 1, 60)[1:-1] + 1e-3]))
    r = fokker_planck_1d(lambda z: -z, np.sqrt(2.0), x, gauss(x, 2, 0.2), [20.0], dt=0.05)
    np.testing.assert_allclose(r.p[0], r.equilibrium, rtol=1e-6)
    np.testing.assert_allclose(r.equilibrium / gauss(x, 0, 1), r.equilibrium[0] / gauss(x[0], 0, 1),
                               rtol=1e-10)   # Gibbs shape on the nodes
    assert float(r.mass[0]) == pytest.approx(float(np.sum(r.cell_volumes * gauss(x, 2, 0.2))),
                                             rel=1e-11)   # round-off over 400 solves


def test_namespaces_and_dtype(xp):
    x = np.linspace(-4, 4, 81)
    want = fokker_planck_1d(lambda z: -z, 1.0, x, gauss(x, 1, 0.3), [0.5], dt=0.01)
    got = fokker_planck_1d(lambda z: -z, 1.0, xp.asarray(x), xp.asarray(gauss(x, 1, 0.3)),
                           xp.asarray([0.5]), dt=0.01)
    xp_assert_close(got.p, xp.asarray(want.p), rtol=1e-12)
    got32 = fokker_planck_1d(lambda z: -z, 1.0, xp.asarray(x, dtype=xp.float32),
                             xp.asarray(gauss(x, 1, 0.3), dtype=xp.float32), [0.5], dt=0.01)
    assert got32.p.dtype == xp.float32


def test_errors():
    x = np.linspace(0, 1, 11)
    p = np.ones(11)
    with pytest.raises(ValueError, match="grid"):
        fokker_planck_1d(lambda z: z, 1.0, x[::-1], p, [1.0])
    with pytest.raises(ValueError, match="p0"):
        fokker_planck_1d(lambda z: z, 1.0, x, -p, [1.0])
    with pytest.raises(ValueError, match="p0"):
        fokker_planck_1d(lambda z: z, 1.0, x, p[:-1], [1.0])
    with pytest.raises(ValueError, match="scheme"):
        fokker_planck_1d(lambda z: z, 1.0, x, p, [1.0], scheme="upwind3")
    with pytest.raises(ValueError, match="diffusion"):
        fokker_planck_1d(lambda z: z, 0.0, x, p, [1.0])
    with pytest.raises(ValueError, match="t_eval"):
        fokker_planck_1d(lambda z: z, 1.0, x, p, [1.0, 0.5])
    with pytest.raises(TypeError, match="drift"):
        fokker_planck_1d(1.0, 1.0, x, p, [1.0])


# ----------------------------------------------------------------------------------- 2-D
def test_2d_ou_exact_law_mass_positivity():
    x, y = np.linspace(-5, 5, 101), np.linspace(-4, 6, 91)
    X, Y = np.meshgrid(x, y, indexing="ij")
    th = (1.0, 0.5)
    p0 = gauss(X, 1.5, 0.1) * gauss(Y, 2.0, 0.1)
    t = np.array([0.5, 2.0])
    r = fokker_planck_2d(lambda a, b: (-th[0] * a, -th[1] * (b - 1)), 1.0, x, y, p0, t,
                         time_scheme="bdf2", dt=5e-3)
    for k, tk in enumerate(t):
        mx, vx = ou_law(tk, 1.5, 0.1, th[0], 0.0, 1.0)
        my, vy = ou_law(tk, 2.0, 0.1, th[1], 1.0, 1.0)
        exact = gauss(X, mx, vx) * gauss(Y, my, vy)
        l1 = np.sum(np.abs(r.p[k] - exact)) * (x[1] - x[0]) * (y[1] - y[0])
        assert l1 < 6e-3, l1   # O(h^2), h = 0.1
    np.testing.assert_allclose(r.mass, np.sum(p0 * r.cell_volumes), rtol=1e-12)
    rbe = fokker_planck_2d(lambda a, b: (-a, -b), 1.0, x, y, p0, t, dt=0.05)
    assert np.all(rbe.p >= 0) and np.all(np.diff(rbe.free_energy) <= 1e-13)


def test_2d_gradient_drift_exact_gibbs():
    x, y = np.linspace(-3, 3, 41), np.linspace(-2.5, 2.5, 37)
    X, Y = np.meshgrid(x, y, indexing="ij")
    D = 0.5
    V = 0.5 * X ** 2 + 0.25 * Y ** 4 - Y ** 2 + 0.3 * X * Y
    gibbs = np.exp(-V / D)
    gibbs /= gibbs.sum() * (x[1] - x[0]) * (y[1] - y[0])
    r = fokker_planck_2d(lambda a, b: (-(a + 0.3 * b), -(b ** 3 - 2 * b + 0.3 * a)), 1.0, x, y,
                         np.ones_like(X) / (41 * 37 * (x[1] - x[0]) * (y[1] - y[0])), [40.0],
                         dt=0.5)   # mass 1
    np.testing.assert_allclose(r.equilibrium, gibbs, rtol=1e-10)
    np.testing.assert_allclose(r.p[0], gibbs, rtol=1e-6)


def test_2d_namespaces(xp):
    x = np.linspace(-3, 3, 21)
    X, Y = np.meshgrid(x, x, indexing="ij")
    p0 = gauss(X, 0.5, 0.3) * gauss(Y, 0, 0.3)
    want = fokker_planck_2d(lambda a, b: (-a, -b), 1.0, x, x, p0, [0.3], dt=0.05)
    got = fokker_planck_2d(lambda a, b: (-a, -b), 1.0, xp.asarray(x), xp.asarray(x),
                           xp.asarray(p0), [0.3], dt=0.05)
    xp_assert_close(got.p, xp.asarray(want.p), rtol=1e-12)
    with pytest.raises(ValueError, match="p0"):
        fokker_planck_2d(lambda a, b: (-a, -b), 1.0, x, x, p0[:-1], [0.3])


# ------------------------------------------------------------------ nonlinear (porous medium)
def _barenblatt2(t, x):
    """Mass-1 Barenblatt solution of u_t = (u^2)_xx: t^-1/3 (C - x^2 t^-2/3 / 12)_+."""
    C = (3 / (4 * np.sqrt(12))) ** (2 / 3)
    return t ** (-1 / 3) * np.maximum(C - x ** 2 * t ** (-2 / 3) / 12, 0.0)


def test_porous_medium_barenblatt_finite_volume():
    from solvers import porous_medium_1d
    x = np.linspace(-3, 3, 601)
    r = porous_medium_1d(x, _barenblatt2(1.0, x), [1.5, 2.0], m=2, t0=1.0, dt=2e-3)
    assert r.success and np.all(r.p >= 0)
    dx = x[1] - x[0]
    for k, tk in enumerate((1.5, 2.0)):
        exact = _barenblatt2(tk, x)
        assert np.sum(np.abs(r.p[k] - exact)) * dx < 5e-4     # first order in dt = 2e-3
        # compact support: zero beyond the front radius sqrt(12 C) t^(1/3) (+ 2 cells)
        radius = np.sqrt(12 * (3 / (4 * np.sqrt(12))) ** (2 / 3)) * tk ** (1 / 3)
        assert np.all(r.p[k][np.abs(x) > radius + 2 * dx] < 1e-6)
    np.testing.assert_allclose(r.mass, np.sum(r.cell_volumes * _barenblatt2(1.0, x)), rtol=1e-12)
    assert np.all(np.diff(r.free_energy) < 0)


def test_porous_medium_with_confinement_energy_decreases(xp):
    from solvers import porous_medium_1d
    x = np.linspace(-3, 3, 121)
    r = porous_medium_1d(xp.asarray(x), xp.asarray(_barenblatt2(1.0, x)), [0.5, 1.0, 2.0], m=3,
                         potential=lambda z: z ** 2 / 2, grad_potential=lambda z: z, dt=0.01)
    fe = np.asarray(r.free_energy)
    assert np.all(np.diff(fe) < 0)
    assert r.p.shape == (3, 121)
    with pytest.raises(ValueError, match="m"):
        porous_medium_1d(x, _barenblatt2(1.0, x), [1.0], m=1.0)


def test_potential_option_exact_gibbs_for_any_potential():
    V = lambda z: np.sin(3 * z) + z ** 2 / 2  # noqa: E731
    dV = lambda z: 3 * np.cos(3 * z) + z  # noqa: E731
    x = np.linspace(-4, 4, 81)                 # coarse: dx = 0.1
    gibbs = np.exp(-V(x) / 0.5)
    gibbs /= gibbs.sum() * (x[1] - x[0])
    p0 = np.ones_like(x) / (81 * 0.1)
    exact = fokker_planck_1d(lambda z: -dV(z), 1.0, x, p0, [0.0], potential=V)
    np.testing.assert_allclose(exact.equilibrium, gibbs, rtol=1e-12)
    quad = fokker_planck_1d(lambda z: -dV(z), 1.0, x, p0, [0.0])   # 4-point Gauss on the drift
    np.testing.assert_allclose(quad.equilibrium, gibbs, rtol=1e-6)
    with pytest.raises(ValueError, match="potential"):
        fokker_planck_1d(lambda z: -dV(z), lambda z: 1 + 0 * z, x, p0, [0.0], potential=V)
