"""Langevin (ULA/MALA), SVGD and the KDE probability-flow ODE against closed forms, brute force
and the Fokker–Planck density.  Statistical checks use fixed seeds and 4-standard-error bands
(two-sided false-alarm rate ~6e-5 per check)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st

from probspace.random import Stream
from probspace.testing import xp_assert_close
from solvers import fokker_planck_1d, kde_probability_flow, langevin, svgd, wasserstein_1d
from solvers.flows._svgd import kde_score, svgd_direction


def _var_band(var_true, n):
    """4 standard errors of the sample variance of n iid normals."""
    return 4 * var_true * math.sqrt(2 / (n - 1))


def test_ula_biased_stationary_variance():
    s, h, n = 1.0, 0.2, 20000
    # burn-in: the AR(1) factor 1 - h/s = 0.8 per step leaves 0.8^80 ~ 2e-8 of the start
    r = langevin(lambda x: -x / s, np.zeros((n, 1)), step=h, n_steps=80, seed=11)
    v = float(np.var(r.x, ddof=1))
    biased = s / (1 - h / (2 * s))          # 1.111...
    assert abs(v - biased) < _var_band(biased, n)
    assert abs(v - s) > _var_band(s, n)      # ULA really is biased at this step
    assert r.acceptance_rate == 1.0


def test_mala_unbiased_stationary_variance_and_acceptance():
    s, h, n = 1.0, 0.2, 20000
    r = langevin(lambda x: -x / s, np.zeros((n, 1)), step=h, n_steps=100, method="mala",
                 log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1) / s, seed=12)
    v = float(np.var(r.x, ddof=1))
    assert abs(v - s) < _var_band(s, n)
    assert abs(v - s / (1 - h / (2 * s))) > _var_band(s, n)
    assert 0.9 < r.acceptance_rate < 1.0
    assert r.acceptance.shape == (n,)


def test_mala_non_gaussian_target_chisquare():
    # double well exp(-(x^4/4 - x^2)): MALA is exact, so binned counts pass a chi-square test
    from probspace.testing import chisquare_gof
    logp = lambda x: -(x[..., 0] ** 4 / 4 - x[..., 0] ** 2)  # noqa: E731
    grad = lambda x: -(x ** 3 - 2 * x)  # noqa: E731
    n = 8000
    x0 = Stream(5).normal((n, 1))
    r = langevin(grad, x0, step=0.15, n_steps=150, method="mala", log_density=logp, seed=13)
    edges = np.linspace(-2.5, 2.5, 16)
    grid = np.linspace(-6, 6, 200001)
    dens = np.exp(-(grid ** 4 / 4 - grid ** 2))
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(grid))])
    cdf /= cdf[-1]
    cuts = np.interp(edges, grid, cdf)
    probs = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
    counts = np.bincount(np.searchsorted(edges, r.x[:, 0]), minlength=len(probs))
    chisquare_gof(counts, probs)


def test_ula_ou_transient_exact_discrete_law():
    # ULA on N(0, 1) from x0 = 2 is the AR(1) x <- (1-h) x + sqrt(2h) z: exact Gaussian law
    h, k, n = 0.05, 20, 40000
    r = langevin(lambda x: -x, np.full((n, 1), 2.0), step=h, n_steps=k, seed=21)
    a = 1 - h
    mean, var = 2 * a ** k, 2 * h * (1 - a ** (2 * k)) / (1 - a ** 2)
    assert abs(float(np.mean(r.x)) - mean) < 4 * math.sqrt(var / n)
    assert abs(float(np.var(r.x, ddof=1)) - var) < _var_band(var, n)


def test_particles_and_density_agree_in_law():
    # OU dX = -X dt + sqrt(2) dW from N(2, 0.1): ULA cloud vs Chang-Cooper density at t = 0.5
    n, h, T = 20000, 0.005, 0.5
    x0 = 2.0 + math.sqrt(0.1) * Stream(7).normal((n, 1))
    r = langevin(lambda x: -x, x0, step=h, n_steps=int(round(T / h)), seed=8)
    grid = np.linspace(-4, 6, 1001)
    p0 = st.norm.pdf(grid, 2.0, math.sqrt(0.1))
    fp = fokker_planck_1d(lambda x: -x, math.sqrt(2.0), grid, p0, [0.3, T],
                          time_scheme="crank_nicolson", dt=1e-3)
    w = fp.p * fp.cell_volumes
    w1 = float(wasserstein_1d(r.x[:, 0], grid, p=1, y_weights=w[1]))
    w1_wrong = float(wasserstein_1d(r.x[:, 0], grid, p=1, y_weights=w[0]))
    # sampling error of W1 for 2e4 draws ~ 0.006, ULA bias O(h) ~ 0.003
    assert w1 < 0.02
    assert w1_wrong > 5 * w1


def test_free_energy_diagnostic_decreases_to_minus_log_z():
    n = 3000
    x0 = 3.0 + 0.1 * Stream(1).normal((n, 1))
    r = langevin(lambda x: -x, x0, step=0.1, n_steps=100, method="mala",
                 log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1), seed=2, thin=10)
    fe = np.asarray(r.free_energy)
    assert r.trace.shape == (11, n, 1) and fe.shape == (11,)
    # F = KL(p || pi) - log Z, Z = sqrt(2 pi); k-NN entropy estimate error ~ 0.03 at n = 3000
    assert fe[0] > fe[-1] + 3
    assert abs(fe[-1] + 0.5 * math.log(2 * math.pi)) < 0.06
    assert np.all(np.diff(fe[:3]) < 0)   # strictly decreasing while far from equilibrium


def test_reproducible_and_namespaces(xp):
    x0 = np.linspace(-1, 1, 12).reshape(6, 2)
    a = langevin(lambda x: -x, x0, step=0.1, n_steps=5, seed=3)
    b = langevin(lambda x: -x, x0, step=0.1, n_steps=5, seed=Stream(3))
    np.testing.assert_array_equal(a.x, b.x)
    c = langevin(lambda x: -x, x0, step=0.1, n_steps=5, seed=4)
    assert not np.allclose(a.x, c.x)
    # the counter-based stream gives the same noise on every backend
    got = langevin(lambda x: -x, xp.asarray(x0), step=0.1, n_steps=5, seed=3)
    xp_assert_close(got.x, xp.asarray(a.x), rtol=1e-12)
    lp = lambda x: -0.5 * xp.sum(x ** 2, axis=-1)  # noqa: E731
    m_np = langevin(lambda x: -x, x0, step=0.3, n_steps=5, method="mala",
                    log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1), seed=3)
    m_xp = langevin(lambda x: -x, xp.asarray(x0), step=0.3, n_steps=5, method="mala",
                    log_density=lp, seed=3)
    xp_assert_close(m_xp.x, xp.asarray(m_np.x), rtol=1e-12)
    x32 = langevin(lambda x: -x, xp.asarray(x0, dtype=xp.float32), step=0.1, n_steps=2, seed=3)
    assert x32.x.dtype == xp.float32


def test_langevin_errors():
    x0 = np.zeros((3, 1))
    with pytest.raises(ValueError, match="log_density"):
        langevin(lambda x: -x, x0, step=0.1, n_steps=1, method="mala")
    with pytest.raises(ValueError, match="step"):
        langevin(lambda x: -x, x0, step=-0.1, n_steps=1)
    with pytest.raises(ValueError, match="method"):
        langevin(lambda x: -x, x0, step=0.1, n_steps=1, method="hmc")
    with pytest.raises(ValueError, match="grad_log_density"):
        langevin(lambda x: x[..., 0], x0, step=0.1, n_steps=1)


# ----------------------------------------------------------------------------------- SVGD
def _svgd_brute(grad, x, h):
    n = len(x)
    phi = np.zeros_like(x)
    for i in range(n):
        for j in range(n):
            k = math.exp(-np.sum((x[j] - x[i]) ** 2) / h)
            phi[i] += k * grad(x[j]) + 2 * (x[i] - x[j]) / h * k   # ∇_{x_j} k(x_j, x_i)
    return phi / n


def test_svgd_direction_matches_brute_force_and_median_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3))
    grad = lambda z: -(z - 1.0)  # noqa: E731
    phi, h = svgd_direction(grad, x)
    d2 = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    assert float(h) == pytest.approx(np.median(d2) / math.log(8), rel=1e-13)
    np.testing.assert_allclose(phi, _svgd_brute(grad, x, float(h)), rtol=1e-12)
    phi2, _ = svgd_direction(grad, x, 0.7)
    np.testing.assert_allclose(phi2, _svgd_brute(grad, x, 0.7), rtol=1e-12)


def test_svgd_converges_to_gaussian_and_batches():
    x0 = Stream(0).normal((2, 100, 1)) - 3.0
    r = svgd(lambda x: -(x - 2.0) / 0.25, x0, step=0.05, n_steps=1500)
    m, s = np.mean(r.x, axis=(1, 2)), np.std(r.x, axis=(1, 2))
    # deterministic fixed point of 100 particles: mean exact to O(1e-3), spread within 5 %
    np.testing.assert_allclose(m, 2.0, atol=5e-3)
    np.testing.assert_allclose(s, 0.5, rtol=0.05)
    one = svgd(lambda x: -(x - 2.0) / 0.25, x0[1], step=0.05, n_steps=20)
    both = svgd(lambda x: -(x - 2.0) / 0.25, x0, step=0.05, n_steps=20)
    np.testing.assert_allclose(both.x[1], one.x, rtol=1e-12)


def test_svgd_namespaces(xp):
    x0 = np.random.default_rng(1).normal(size=(10, 2))
    want = svgd(lambda x: -x, x0, step=0.1, n_steps=3, thin=1)
    got = svgd(lambda x: -x, xp.asarray(x0), step=0.1, n_steps=3, thin=1)
    xp_assert_close(got.x, xp.asarray(want.x), rtol=1e-12)
    assert got.trace.shape == (4, 10, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        svgd(lambda x: -x, x0, step=0.1, n_steps=1, bandwidth="scott")


# ----------------------------------------------------------------- KDE probability-flow ODE
def test_kde_score_brute_force():
    rng = np.random.default_rng(2)
    x, s = rng.normal(size=(9, 2)), 0.6
    want = np.zeros_like(x)
    for i in range(9):
        w = np.array([math.exp(-np.sum((x[i] - x[j]) ** 2) / (2 * s * s)) for j in range(9)])
        want[i] = np.sum(w[:, None] * (x - x[i]), axis=0) / (s * s * w.sum())
    np.testing.assert_allclose(kde_score(x, s), want, rtol=1e-12)


def test_kde_flow_heat_equation():
    # ∇log π = 0: particles follow the heat flow of the smoothed density. For a Gaussian of
    # variance v, p~ has variance v + σ², so dv/dt = 2v/(v + σ²) (-> N(0, s0 + 2t) as σ -> 0)
    from scipy.integrate import solve_ivp
    n, s0, sig, T = 400, 0.5, 0.1, 0.5
    x0 = st.norm.ppf((np.arange(n) + 0.5) / n)[:, None] * math.sqrt(s0)
    r = kde_probability_flow(lambda x: 0 * x, x0, step=1e-3, n_steps=500, bandwidth=sig)
    v0 = float(np.var(x0))
    v = solve_ivp(lambda t, v: 2 * v / (v + sig ** 2), (0, T), [v0], rtol=1e-10).y[0, -1]
    # 400 particles: tail discretization costs ~2-3 % of the variance growth
    assert float(np.var(r.x)) == pytest.approx(v, rel=0.03)
    w1 = float(wasserstein_1d(r.x[:, 0], st.norm.ppf((np.arange(n) + 0.5) / n) * math.sqrt(v),
                              p=1))
    assert w1 < 0.02


def test_kde_flow_to_target():
    # drift to N(1, 0.5) from N(-2, 0.1): the flow's stationary state is the target smoothed
    n = 300
    x0 = -2.0 + 0.3 * st.norm.ppf((np.arange(n) + 0.5) / n)[:, None]
    r = kde_probability_flow(lambda x: -(x - 1.0) / 0.5, x0, step=0.01, n_steps=800)
    assert float(np.mean(r.x)) == pytest.approx(1.0, abs=1e-3)
    # fixed point: the smoothed density (variance var + σ²) is the target
    assert float(np.var(r.x)) + float(r.bandwidth) ** 2 == pytest.approx(0.5, rel=0.03)


def test_langevin_rungs_identical():
    # the fused Numba rung draws the same Philox numbers as the generic array-API rung
    import probspace
    x0 = np.linspace(-1, 1, 30).reshape(10, 3)
    fast = langevin(lambda x: -x, x0, step=0.1, n_steps=7, seed=9, thin=3)
    with probspace.use_backend("generic"):
        ref = langevin(lambda x: -x, x0, step=0.1, n_steps=7, seed=9, thin=3)
    np.testing.assert_allclose(fast.x, ref.x, rtol=1e-12, atol=1e-14)   # fused multiply-add order
    np.testing.assert_allclose(fast.trace, ref.trace, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(fast.trace[0], x0)      # recorded states are not overwritten
    mf = langevin(lambda x: -x, x0, step=0.4, n_steps=7, seed=9, method="mala",
                  log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1))
    with probspace.use_backend("generic"):
        mr = langevin(lambda x: -x, x0, step=0.4, n_steps=7, seed=9, method="mala",
                      log_density=lambda x: -0.5 * np.sum(x ** 2, axis=-1))
    np.testing.assert_allclose(mf.x, mr.x, rtol=1e-14)
    assert mf.acceptance_rate == mr.acceptance_rate


def test_svgd_and_kde_numba_rung_match_generic():
    import probspace
    x0 = Stream(4).normal((2, 40, 3))
    grad = lambda x: -(x - 1.0)  # noqa: E731
    fast = svgd(grad, x0, step=0.1, n_steps=5)
    kfast = kde_probability_flow(grad, x0, step=0.05, n_steps=5)
    kfix = kde_probability_flow(grad, x0[0], step=0.05, n_steps=5, bandwidth=0.4)
    with probspace.use_backend("generic"):
        ref = svgd(grad, x0, step=0.1, n_steps=5)
        kref = kde_probability_flow(grad, x0, step=0.05, n_steps=5)
        kfix_ref = kde_probability_flow(grad, x0[0], step=0.05, n_steps=5, bandwidth=0.4)
    np.testing.assert_allclose(fast.x, ref.x, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fast.bandwidth, ref.bandwidth, rtol=1e-12)
    np.testing.assert_allclose(kfast.x, kref.x, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(kfix.x, kfix_ref.x, rtol=1e-11, atol=1e-13)
