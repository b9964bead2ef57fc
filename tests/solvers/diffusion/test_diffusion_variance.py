"""Gamma estimation and the optimal reverse variances against closed forms, quadrature, sympy and CIs."""
import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from probspace.testing import xp_assert_close
from solvers.diffusion import (GaussianMixture, NoiseSchedule, NPRVariance, PointSet, SNVariance, analytic_variance,
                               baseline_variances, estimate_eps_mse, estimate_gamma, even_trajectory, npr_variance,
                               paper_sampling_clip, sn_variance, step_coefficients)

SCH = NoiseSchedule.linear(50, 1e-3, 0.2)
Z = 4.5   # two-sided z bound; with <= 50 simultaneous checks the family-wise false alarm rate is < 4e-4


def _gauss(d=3, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    L = A @ A.T / d + 0.2 * np.eye(d)
    mu = rng.standard_normal(d)
    return GaussianMixture([1.0], [mu], [L]), mu, L


def _exact_ms_gauss(L, sch):
    d = L.shape[0]
    ms = np.zeros(sch.N + 1)
    for n in range(1, sch.N + 1):
        C = sch.alpha_bar[n] * L + sch.beta_bar[n] * np.eye(d)
        ms[n] = sch.beta_bar[n] * np.trace(np.linalg.inv(C)) / d
    return ms


def _best_isotropic_variance(mu, L, sch, s, t, eta):
    """argmin_sigma2 E_q KL for Gaussian data, from the explicit linear-Gaussian joint (no library formulas).

    x_s - mu_p(x_t) is linear in (u, eps, z) ~ N(0, I) with x0 = mu + L^{1/2} u; the optimal isotropic
    variance is E||x_s - mu_p(x_t)||^2 / d.
    """
    d = L.shape[0]
    I = np.eye(d)
    ab_s, ab_t, bb_s, bb_t = sch.alpha_bar[s], sch.alpha_bar[t], sch.beta_bar[s], sch.beta_bar[t]
    lam2 = eta ** 2 * (1 - ab_t / ab_s) * bb_s / bb_t
    a, b = np.sqrt(ab_t), np.sqrt(bb_t)
    R = np.linalg.cholesky(L)
    C = ab_t * L + bb_t * I
    G = a * L @ np.linalg.inv(C)                     # E[x0|x_t] = mu + G (x_t - a mu)
    c_x = np.sqrt(bb_s - lam2) / b
    gam = np.sqrt(ab_s) - c_x * a
    Mu = np.sqrt(ab_s) * R - c_x * a * R - gam * G @ (a * R)
    Me = np.sqrt(bb_s - lam2) * I - c_x * b * I - gam * b * G
    Mz = np.sqrt(lam2) * I
    return (np.sum(Mu ** 2) + np.sum(Me ** 2) + np.sum(Mz ** 2)) / d


@pytest.mark.parametrize("eta", [1.0, 0.5, 0.0])
def test_analytic_variance_is_exact_optimum_on_gaussian_data(eta):
    gm, mu, L = _gauss()
    ms = _exact_ms_gauss(L, SCH)
    tr = np.array([0, 1, 4, 9, 20, 33, 50])
    v = analytic_variance(SCH, ms, tr, eta=eta)
    want = [_best_isotropic_variance(mu, L, SCH, s, t, eta) for s, t in zip(tr[:-1], tr[1:])]
    np.testing.assert_allclose(v, want, rtol=1e-9)


def test_estimate_gamma_gaussian_ci_and_jensen():
    gm, mu, L = _gauss(d=4, seed=1)
    ms = _exact_ms_gauss(L, SCH)
    x0 = gm.sample(4000, 7)
    r = estimate_gamma(gm.noise_predictor(SCH), x0, SCH, seed=3, return_stderr=True)
    z = (r.ms_eps[1:] - ms[1:]) / r.stderr[1:]
    assert np.all(np.abs(z) < Z), np.abs(z).max()
    assert np.all(ms[1:] <= 1)
    assert np.all(r.ms_eps[1:] <= 1 + Z * r.stderr[1:])          # Jensen, up to Monte Carlo error
    assert r.ms_eps[0] == 0 and r.n_samples == 4000
    # batching steps into one call, or a subset of steps, does not change the numbers
    r2 = estimate_gamma(gm.noise_predictor(SCH), x0, SCH, seed=3, steps_per_call=7)
    np.testing.assert_allclose(r2, r.ms_eps, rtol=1e-13)
    r3 = estimate_gamma(gm.noise_predictor(SCH), x0, SCH, seed=3, steps=[5, 17])
    np.testing.assert_allclose(r3[[5, 17]], r.ms_eps[[5, 17]], rtol=1e-13)
    assert np.isnan(r3[6])


def test_gamma_namespaces(xp):
    gm, mu, L = _gauss(d=2, seed=2)
    x0n = gm.sample(64, 1)
    ms_np = estimate_gamma(gm.noise_predictor(SCH), x0n, SCH, seed=5)
    ms = estimate_gamma(gm.noise_predictor(SCH), xp.asarray(x0n), SCH, seed=5)
    xp_assert_close(ms, xp.asarray(ms_np), rtol=1e-12)
    v = analytic_variance(SCH, ms, even_trajectory(SCH, 5))
    xp_assert_close(v, xp.asarray(analytic_variance(SCH, ms_np, even_trajectory(SCH, 5))), rtol=1e-12)


def _gm2():
    covs = np.array([[[0.3, 0.1], [0.1, 0.2]], [[1.0, -0.4], [-0.4, 0.5]]])
    return GaussianMixture([0.35, 0.65], [[0.0, 1.5], [2.0, -1.0]], covs)


@pytest.mark.parametrize("n", [3, 15, 30, 45])
def test_mixture_mean_posterior_variance_equals_analytic_estimate(n):
    """Law of total variance on average: E tr Cov[x0|x_n]/d = (b^2/a^2)(1 - E|eps*|^2/d) (CI test)."""
    gm = _gm2()
    x0, eps, xn = gm.sample_noisy(20000, n, SCH, seed=n)
    a2, b2 = SCH.alpha_bar[n], SCH.beta_bar[n]
    lhs = gm.posterior_var(xn, n, SCH).mean(axis=1)
    rhs = (b2 / a2) * (1 - (gm.eps(xn, n, SCH) ** 2).mean(axis=1))
    diff = lhs - rhs
    assert abs(diff.mean()) < Z * diff.std(ddof=1) / math.sqrt(diff.size)
    # and the same through the public estimators
    ms = estimate_gamma(gm.noise_predictor(SCH), x0, SCH, seed=1, steps=[n], return_stderr=True)
    est = (b2 / a2) * (1 - ms.ms_eps[n])
    se = (b2 / a2) * ms.stderr[n] + lhs.std(ddof=1) / math.sqrt(lhs.size)
    assert abs(est - lhs.mean()) < Z * se


def test_one_dimensional_quadrature():
    """1-D mixture: E eps*^2 and E Var[x0|x] by quadrature from scipy densities (x0 integrated on a grid)."""
    w, m, sd = np.array([0.4, 0.6]), np.array([-1.0, 1.5]), np.array([0.3, 0.6])
    gm = GaussianMixture(w, m[:, None], (sd ** 2)[:, None, None])
    for n in (5, 25, 45):
        a, b = math.sqrt(SCH.alpha_bar[n]), math.sqrt(SCH.beta_bar[n])
        pt = lambda x: float(np.sum(w * stats.norm.pdf(x, a * m, np.sqrt(a * a * sd ** 2 + b * b))))
        # posterior moments of x0 by direct integration over x0 (Bayes, no mixture algebra)
        p0 = lambda y: float(np.sum(w * stats.norm.pdf(y, m, sd)))

        def post(x, k):
            f = lambda y: y ** k * p0(y) * stats.norm.pdf(x, a * y, b)
            return integrate.quad(f, -6, 7, points=[x / a], limit=200)[0] / pt(x)

        xs = np.linspace(-3, 3, 7)
        e1 = np.array([post(x, 1) for x in xs])
        var = np.array([post(x, 2) for x in xs]) - e1 ** 2
        np.testing.assert_allclose(gm.posterior_var(xs[:, None], n, SCH)[:, 0], var, rtol=1e-6, atol=1e-10)
        eps_star = lambda x: (x - a * gm.posterior_mean(np.array([[x]]), n, SCH)[0, 0]) / b
        ms = integrate.quad(lambda x: eps_star(x) ** 2 * pt(x), -12, 12, limit=200)[0]
        evar = integrate.quad(lambda x: gm.posterior_var(np.array([[x]]), n, SCH)[0, 0] * pt(x), -12, 12, limit=200)[0]
        assert ms <= 1
        assert evar == pytest.approx((b * b / (a * a)) * (1 - ms), rel=1e-7)
        r = estimate_gamma(gm.noise_predictor(SCH), gm.sample(20000, n), SCH, seed=n, steps=[n], return_stderr=True)
        assert abs(r.ms_eps[n] - ms) < Z * r.stderr[n]


def _sym():
    A, r, m, lam2 = sp.symbols("A r m lam2", positive=True)
    ab_s, ab_t = A, A * r                   # 0 < r < 1: alpha_bar_t < alpha_bar_s
    bb_s, bb_t = 1 - ab_s, 1 - ab_t
    a_ts, b_ts = r, 1 - r
    tilde = b_ts * bb_s / bb_t
    eq7 = lam2 + (sp.sqrt(bb_t / a_ts) - sp.sqrt(bb_s - lam2)) ** 2 * (1 - m)      # Theorem 1 (7), ms = beta_bar Gamma
    return A, r, m, lam2, ab_s, ab_t, bb_s, bb_t, a_ts, b_ts, tilde, eq7


def test_sympy_corollaries_and_library_agree():
    A, r, m, lam2, ab_s, ab_t, bb_s, bb_t, a_ts, b_ts, tilde, eq7 = _sym()
    # DDPM (lambda^2 = tilde beta): Corollary 2 and the upper bound of Corollary 3
    ddpm = eq7.subs(lam2, tilde)
    cor2 = (b_ts / a_ts) * (1 - b_ts * m / bb_t)
    vals = {A: sp.Rational(7, 10), r: sp.Rational(3, 5), m: sp.Rational(1, 3)}
    assert sp.simplify(ddpm - cor2) == 0 or abs(float((ddpm - cor2).subs(vals))) < 1e-15
    ub = (lam2 + (sp.sqrt(bb_t / a_ts) - sp.sqrt(bb_s - lam2)) ** 2).subs(lam2, tilde)
    assert abs(float((ub - b_ts / a_ts).subs(vals))) < 1e-15
    # Lemma 13 form: lam2 + gamma^2 (bb_t/ab_t)(1 - m) with gamma = sqrt(ab_s) - sqrt((bb_s - lam2) ab_t / bb_t)
    gamma = sp.sqrt(ab_s) - sp.sqrt((bb_s - lam2) * ab_t / bb_t)
    lemma = lam2 + gamma ** 2 * (bb_t / ab_t) * (1 - m)
    for l2 in (0, tilde / 4, tilde):
        assert abs(float((lemma - eq7).subs(lam2, l2).subs(vals))) < 1e-14
    # the library against the lambdified corollaries (DDPM: Cor. 2; DDIM: (7) with lambda = 0)
    f_ddpm = sp.lambdify((A, r, m), cor2)
    f_ddim = sp.lambdify((A, r, m), eq7.subs(lam2, 0))
    sch = NoiseSchedule.cosine(40)
    rng = np.random.default_rng(0)
    ms = np.concatenate([[0.0], rng.uniform(0.05, 0.95, 40)])
    tr = np.array([0, 1, 3, 8, 15, 27, 40])
    s, t = tr[1:-1], tr[2:]                          # skip the decoder entry (lambda = 0 there)
    args = (sch.alpha_bar[s], sch.alpha_bar[t] / sch.alpha_bar[s], ms[t])
    np.testing.assert_allclose(analytic_variance(sch, ms, tr, eta=1.0)[1:], f_ddpm(*args), rtol=1e-10)
    np.testing.assert_allclose(analytic_variance(sch, ms, tr, eta=0.0)[1:], f_ddim(*args), rtol=1e-9)


def test_step_coefficients_match_definitions():
    sch = NoiseSchedule.linear(100)
    for eta in (0.0, 0.3, 1.0):
        for s, t in ((0, 5), (3, 4), (10, 90), (99, 100)):
            lam2, c_x, gam = step_coefficients(sch, s, t, eta)
            ab_s, ab_t, bb_s, bb_t = sch.alpha_bar[s], sch.alpha_bar[t], sch.beta_bar[s], sch.beta_bar[t]
            want_l = eta ** 2 * (1 - ab_t / ab_s) * bb_s / bb_t
            assert lam2 == pytest.approx(want_l, rel=1e-10, abs=1e-300)
            assert c_x == pytest.approx(math.sqrt(bb_s - want_l) / math.sqrt(bb_t), rel=1e-9, abs=1e-300)
            assert gam == pytest.approx(math.sqrt(ab_s) - c_x * math.sqrt(ab_t), rel=1e-7)
            if eta == 1.0:      # DDPM: gamma^2 = alpha_bar_s beta_{t|s}^2 / beta_bar_t^2
                assert gam ** 2 == pytest.approx(ab_s * (1 - ab_t / ab_s) ** 2 / bb_t ** 2, rel=1e-9)


def test_bounds_and_clipping_engage():
    sch = NoiseSchedule.linear(100)
    ps = PointSet(np.random.default_rng(0).uniform(-1, 1, size=(30, 2)))
    x0 = ps.sample(3000, 1)
    exact = ps.noise_predictor(sch)
    tr = even_trajectory(sch, 10)
    ms = estimate_gamma(exact, x0, sch, seed=2)
    # exact predictor on point data: the data-range bound (12) never cuts much; lower bound not violated
    res = analytic_variance(sch, ms, tr, data_range=(-1, 1), full_output=True)
    assert np.all(res.variances >= res.lower) and np.all(res.variances <= np.minimum(res.upper_general, res.upper_range))
    # a perturbed predictor with too much energy: ms_eps > 1 -> clipped up to the lower bound lambda^2
    big = lambda x, n: 1.5 * exact(x, n) + 0.5
    res_big = analytic_variance(sch, estimate_gamma(big, x0, sch, seed=2), tr, data_range=(-1, 1), full_output=True)
    assert res_big.clipped_low.any()
    np.testing.assert_allclose(res_big.variances[res_big.clipped_low], res_big.lower[res_big.clipped_low])
    # too little energy (eps_hat = 0): Cov estimate = beta_bar/alpha_bar, cut by the data-range bound (12)
    zero = lambda x, n: 0.0 * x
    res_0 = analytic_variance(sch, estimate_gamma(zero, x0, sch, seed=2), tr, data_range=(-1, 1), full_output=True)
    wide = sch.beta_bar[tr[1:]] / sch.alpha_bar[tr[1:]] > 1.0      # where (12) is the tighter bound
    assert wide.sum() >= 2
    assert res_0.clipped_high[wide].all() and not res_0.clipped_high[~wide].any()
    np.testing.assert_allclose(res_0.variances[wide], res_0.upper_range[wide])
    # without a data range only (11) applies, and it is attained exactly at ms_eps = 0
    res_0b = analytic_variance(sch, np.zeros(101), tr, full_output=True)
    np.testing.assert_allclose(res_0b.variances, res_0b.upper_general, rtol=1e-12)
    # DDPM bounds of Corollary 3 in closed form
    s, t = tr[1:-1], tr[2:]
    np.testing.assert_allclose(res_0b.upper_general[1:], sch.beta_ts(s, t) / sch.alpha_ts(s, t), rtol=1e-10)
    np.testing.assert_allclose(res_0b.lower[1:], sch.tilde_beta(s, t), rtol=1e-10)


def test_sampling_clip_of_last_noisy_step():
    assert paper_sampling_clip(2) == pytest.approx(3.87e-4, rel=2e-3)
    assert paper_sampling_clip(1) == pytest.approx(9.66e-5, rel=2e-3)
    sch = NoiseSchedule.linear(100)
    tr = even_trajectory(sch, 5)
    ms = np.full(101, 0.2)
    v = analytic_variance(sch, ms, tr)
    vc = analytic_variance(sch, ms, tr, last_step_max=1e-6, full_output=True)
    assert vc.variances[1] == 1e-6 and vc.clipped_sampling[1] and not vc.clipped_sampling[[0, 2, 3, 4]].any()
    np.testing.assert_array_equal(np.delete(vc.variances, 1), np.delete(v, 1))


def test_mse_moment_for_imperfect_predictor():
    gm = _gm2()
    exact = gm.noise_predictor(SCH)
    bad = lambda x, n: 0.8 * exact(x, n) + 0.1
    x0 = gm.sample(5000, 2)
    mse = estimate_eps_mse(bad, x0, SCH, seed=4, return_stderr=True)
    # E(eps - eps_hat)^2 = E g(x_t) (NPR's target, in expectation) -- CI test at a few steps
    g = gm.npr_second_moment(SCH, bad)
    for n in (5, 25, 45):
        _, _, xn = gm.sample_noisy(20000, n, SCH, seed=n + 100)
        gv = g(xn, n).mean(axis=1)
        se = gv.std(ddof=1) / math.sqrt(gv.size) + mse.stderr[n]
        assert abs(gv.mean() - mse.ms_eps[n]) < Z * se
    tr = even_trajectory(SCH, 5)
    v = analytic_variance(SCH, mse.ms_eps, tr, moment="mse")
    lam2, _, gam = step_coefficients(SCH, tr[:-1], tr[1:], 1.0)
    t = tr[1:]
    np.testing.assert_allclose(v, lam2 + gam ** 2 * SCH.beta_bar[t] / SCH.alpha_bar[t] * mse.ms_eps[t], rtol=1e-12)


def test_sn_npr_exact_equal_tweedie_per_point():
    gm = _gm2()
    sch = SCH
    x = gm.sample(50, 3) * 0.7 + 0.3
    exact = gm.noise_predictor(sch)
    h = gm.eps_second_moment(sch)
    g = gm.npr_second_moment(sch, exact)
    for s, t in ((0, 4), (10, 20), (30, 50)):
        lam2, _, gam = step_coefficients(sch, s, t, 1.0)
        want = lam2 + gam ** 2 * gm.posterior_var(x, t, sch)
        np.testing.assert_allclose(sn_variance(sch, s, t, exact(x, t), h(x, t)), want, rtol=1e-8)
        np.testing.assert_allclose(npr_variance(sch, s, t, g(x, t)), want, rtol=1e-8)
        np.testing.assert_allclose(SNVariance(h, sch)(x, exact(x, t), s, t), want, rtol=1e-8)
        np.testing.assert_allclose(NPRVariance(g, sch)(x, exact(x, t), s, t), want, rtol=1e-8)
    # the data-range clip of the per-point Cov estimate
    out = sn_variance(sch, 10, 20, np.zeros((3, 2)), np.full((3, 2), 50.0), data_range=(-1, 1))
    lam2, _, gam = step_coefficients(sch, 10, 20, 1.0)
    np.testing.assert_allclose(out, lam2 + gam ** 2 * 1.0)
    out = sn_variance(sch, 10, 20, np.ones((3, 2)), np.zeros((3, 2)))
    np.testing.assert_allclose(out, lam2)
    with pytest.raises(ValueError, match="g must be non-negative"):
        npr_variance(sch, 1, 2, -np.ones((2, 2)))


def test_baselines_and_errors():
    sch = NoiseSchedule.linear(100)
    tr = even_trajectory(sch, 4)
    bt = baseline_variances(sch, tr, "beta_tilde")
    bb = baseline_variances(sch, tr, "beta")
    assert bt[0] == bb[0] == pytest.approx(sch.tilde_beta(1, 2))
    np.testing.assert_allclose(bt[1:], sch.tilde_beta(tr[1:-1], tr[2:]))
    np.testing.assert_allclose(bb[1:], sch.beta_ts(tr[1:-1], tr[2:]))
    assert baseline_variances(sch, [0, 7, 100], "beta")[0] == pytest.approx(sch.beta_bar[7])   # tau_1 > 1
    assert baseline_variances(sch, tr, "beta", decoder_variance=0.5)[0] == 0.5
    with pytest.raises(ValueError, match="kind"):
        baseline_variances(sch, tr, "big")
    with pytest.raises(ValueError, match="trajectory"):
        analytic_variance(sch, np.zeros(101), [0, 5, 3, 100])
    with pytest.raises(ValueError, match="trajectory"):
        analytic_variance(sch, np.zeros(101), [1, 5, 100])
    with pytest.raises(ValueError, match="ms_eps"):
        analytic_variance(sch, np.zeros(100), tr)
    with pytest.raises(ValueError, match="eta"):
        analytic_variance(sch, np.zeros(101), tr, eta=-1)
    with pytest.raises(ValueError, match="data_range"):
        analytic_variance(sch, np.zeros(101), tr, data_range=(1, -1))
    with pytest.raises(ValueError, match="moment"):
        analytic_variance(sch, np.zeros(101), tr, moment="x")
    with pytest.raises(TypeError, match="eps_fn"):
        estimate_gamma(None, np.zeros((3, 2)), sch)
    with pytest.raises(ValueError, match="eps_fn returned shape"):
        estimate_gamma(lambda x, n: x[:, :1], np.zeros((3, 2)), sch)


@pytest.mark.parametrize("limit,spc", [(7 * 2 * 40, 25), (3 * 2 * 40, 4), (2 * 40, 1), (1, 3)])
def test_gamma_noise_layout_independent_of_fill_size(monkeypatch, limit, spc):
    """Noise per step is the same however many steps one Philox fill covers or one call stacks."""
    from solvers.diffusion import _gamma, _sampling
    gm, mu, L = _gauss(d=2, seed=3)
    x0 = gm.sample(40, 1)
    eps = gm.noise_predictor(SCH)
    ref = estimate_gamma(eps, x0, SCH, seed=9, with_mse=True)
    tr = even_trajectory(SCH, 9)
    var = baseline_variances(SCH, tr, "beta")
    from solvers.diffusion import nelbo
    ref_nelbo = nelbo(eps, x0, SCH, tr, var, seed=4)
    monkeypatch.setattr(_gamma, "_FILL_LIMIT", limit)
    monkeypatch.setattr(_sampling, "_FILL_LIMIT", limit)
    got = estimate_gamma(eps, x0, SCH, seed=9, steps_per_call=spc, with_mse=True)
    np.testing.assert_allclose(got.ms_eps, ref.ms_eps, rtol=1e-13)
    np.testing.assert_allclose(got.mse, ref.mse, rtol=1e-13)
    sub = estimate_gamma(eps, x0, SCH, seed=9, steps=[3, 4, 17, 40, 41], steps_per_call=spc)
    np.testing.assert_allclose(sub[[3, 4, 17, 40, 41]], ref.ms_eps[[3, 4, 17, 40, 41]], rtol=1e-13)
    np.testing.assert_allclose(nelbo(eps, x0, SCH, tr, var, seed=4).terms, ref_nelbo.terms, rtol=1e-13)


def test_per_point_variances_namespaces(xp):
    gm = _gm2()
    xn = gm.sample(10, 1)
    x = xp.asarray(xn)
    h = gm.eps_second_moment(SCH)(x, 20)
    e = gm.eps(x, 20, SCH)
    out = sn_variance(SCH, 10, 20, e, h, data_range=(-3, 3))
    xp_assert_close(out, xp.asarray(sn_variance(SCH, 10, 20, gm.eps(xn, 20, SCH), gm.eps_second_moment(SCH)(xn, 20),
                                                data_range=(-3, 3))), rtol=1e-12)
    g = gm.npr_second_moment(SCH, gm.noise_predictor(SCH))(x, 20)
    xp_assert_close(npr_variance(SCH, 10, 20, g), out, rtol=1e-8)
